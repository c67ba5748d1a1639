"""Routing + rendering speed of the knowledge base, one question at a time on one core.

    python bench/kb.py [--rounds 5]

Runs every question of tests/data/questions.tsv through Router.route and AnswerRenderer.answer,
several rounds, and prints percentiles of the per-question time, with a baseline alongside:
the same loop doing only the text normalisation (skeleton), so the ratio shows what routing
and rendering cost on top of reading the text. Then the passing-score answers alone (the
issue-15 questions and UNT-check outlooks over every common pair, the widest lists).

Then the whole chain as the bot runs it (knowledge.service.Knowledge: rules, and the example
index with multilingual-e5-small when the rules are unsure) over the dev set, the fresh set and
the calibration set and the two held-out fresh sets, with the match and embedding caches emptied
before every question so each semantic match pays for its embedding (a question worded exactly
as an example has its vector shipped: those are counted apart): percentiles for rule hits and
semantic matches separately, and
the peak RSS of the process with the model loaded. Last lines:
scores_p50_ms=<x> scores_p99_ms=<y>
route_p50_ms=<x> route_p99_ms=<y> rule_p99_ms=<r> semantic_p50_ms=<s> semantic_p99_ms=<t>
peak_rss_mb=<m>
"""

from __future__ import annotations

import argparse
import csv
import resource
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from knowledge.answers import AnswerRenderer  # noqa: E402
from knowledge.base import load_knowledge  # noqa: E402
from knowledge.router import Route, Router  # noqa: E402
from knowledge.service import Knowledge  # noqa: E402
from knowledge.text import Entities, skeleton  # noqa: E402

SCORE_QUESTIONS = [
    "проходной балл на B057 в КазНУ",
    "какой балл нужен на грант на медицину",
    "passing score for B057 in 2025",
    "ауыл квотасы B001 қанша балл",
    "куда я прохожу с 98 баллами на педагогику",
    "у меня 95 баллов мат-инфо, пройду на грант по IT?",
]
OUTLOOK_PAIRS = [
    ["mathematics", "physics"],
    ["biology", "chemistry"],
    ["mathematics", "geography"],
    ["world_history", "geography"],
    ["mathematics", "informatics"],
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with (ROOT / "tests" / "data" / "questions.tsv").open(encoding="utf-8") as handle:
        questions = [row["question"] for row in csv.DictReader(handle, delimiter="\t")]

    started = time.perf_counter()
    kb = load_knowledge()
    router, renderer = Router(kb), AnswerRenderer(kb)
    load_ms = (time.perf_counter() - started) * 1000
    today = date(2026, 11, 25)

    for question in questions:  # warm-up: template compilation, token cache
        renderer.answer(router.route(question), today)

    full: list[float] = []
    baseline: list[float] = []
    for _ in range(args.rounds):
        for question in questions:
            t0 = time.perf_counter()
            skeleton(question)
            t1 = time.perf_counter()
            renderer.answer(router.route(question), today)
            t2 = time.perf_counter()
            baseline.append((t1 - t0) * 1000)
            full.append((t2 - t1) * 1000)

    p50, p99 = statistics.median(full), percentile(full, 0.99)
    base50 = statistics.median(baseline)
    print(f"questions: {len(questions)} x {args.rounds} rounds; knowledge load {load_ms:.0f} ms")
    p90, slowest, ratio = percentile(full, 0.9), max(full), p50 / base50
    print(
        f"route+render p50 {p50:.3f} ms, p90 {p90:.3f} ms, p99 {p99:.3f} ms, max {slowest:.3f} ms"
    )
    print(f"baseline (text normalisation only) p50 {base50:.4f} ms; ratio {ratio:.0f}x")

    # The UNT check's outlook: a total and a pair, every group the pair opens, rural too.
    outlooks = [
        Route("grant_chance", 1.0, "ru", Entities(numbers=[total], subjects=pair))
        for pair in OUTLOOK_PAIRS
        for total in (70, 98, 125)
    ]
    scores: list[float] = []
    for _ in range(args.rounds):
        for question in SCORE_QUESTIONS:
            t0 = time.perf_counter()
            renderer.answer(router.route(question), today)
            scores.append((time.perf_counter() - t0) * 1000)
        for route in outlooks:
            t0 = time.perf_counter()
            renderer.answer(route, today, profile={"settlement": "rural"})
            scores.append((time.perf_counter() - t0) * 1000)
    s50, s99 = statistics.median(scores), percentile(scores, 0.99)
    print(f"passing-score answers: {len(scores)}; p50 {s50:.3f} ms, p99 {s99:.3f} ms")
    print(f"scores_p50_ms={s50:.3f} scores_p99_ms={s99:.3f}")

    chain_questions = list(questions)
    for name in ("fresh_1.tsv", "calibration.tsv", "fresh_2.tsv", "fresh_3.tsv"):
        with (ROOT / "tests" / "data" / name).open(encoding="utf-8") as handle:
            chain_questions += [row["question"] for row in csv.DictReader(handle, delimiter="\t")]
    started = time.perf_counter()
    knowledge = Knowledge()
    chain_load_ms = (time.perf_counter() - started) * 1000
    by_layer: dict[str, list[float]] = {"rule": [], "semantic": [], "known": []}
    for _ in range(max(1, args.rounds // 2)):
        for question in chain_questions:
            # Every question is new to the process: no cached match, no cached embedding.
            knowledge.embedder._cache.clear()
            knowledge.semantic.forget_matches()
            t0 = time.perf_counter()
            route, _ = knowledge.ask(question, today, default_lang="ru")
            elapsed = (time.perf_counter() - t0) * 1000
            # A similarity means the examples were asked (whoever answered in the end); a
            # question worded as an example has its vector shipped and embeds nothing.
            if route.similarity is None:
                by_layer["rule"].append(elapsed)
            elif knowledge.semantic.knows_vector(question):
                by_layer["known"].append(elapsed)
            else:
                by_layer["semantic"].append(elapsed)
    rule, semantic, known = by_layer["rule"], by_layer["semantic"], by_layer["known"]
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"whole chain: {len(chain_questions)} questions; "
        f"knowledge + model load {chain_load_ms:.0f} ms"
    )
    print(
        f"rule hits: {len(rule)}, p50 {statistics.median(rule):.3f} ms, "
        f"p99 {percentile(rule, 0.99):.3f} ms"
    )
    print(
        f"semantic matches that embed the question: {len(semantic)}, "
        f"p50 {statistics.median(semantic):.2f} ms, p99 {percentile(semantic, 0.99):.2f} ms"
    )
    if known:
        print(
            f"semantic matches of questions worded as an example (vector shipped): "
            f"{len(known)}, p50 {statistics.median(known):.2f} ms, "
            f"p99 {percentile(known, 0.99):.2f} ms"
        )
    print(f"peak RSS with the model loaded: {rss_mb:.0f} MB")
    print(
        f"route_p50_ms={p50:.3f} route_p99_ms={p99:.3f} rule_p99_ms={percentile(rule, 0.99):.3f} "
        f"semantic_p50_ms={statistics.median(semantic):.2f} "
        f"semantic_p99_ms={percentile(semantic, 0.99):.2f} peak_rss_mb={rss_mb:.0f}"
    )


if __name__ == "__main__":
    main()
