"""Routing + rendering speed of the knowledge base, one question at a time on one core.

    python bench/kb.py [--rounds 5]

Runs every question of tests/data/questions.tsv through Router.route and AnswerRenderer.answer,
several rounds, and prints percentiles of the per-question time, with a baseline alongside:
the same loop doing only the text normalisation (skeleton), so the ratio shows what routing
and rendering cost on top of reading the text. Then the passing-score answers alone (the
issue-15 questions and UNT-check outlooks over every common pair, the widest lists). Last lines:
route_p50_ms=<x> route_p99_ms=<y>
scores_p50_ms=<x> scores_p99_ms=<y>
"""

from __future__ import annotations

import argparse
import csv
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
    print(f"route_p50_ms={p50:.3f} route_p99_ms={p99:.3f}")

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


if __name__ == "__main__":
    main()
