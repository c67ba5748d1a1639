"""Routing + rendering speed of the knowledge base, one question at a time on one core.

    python bench/kb.py [--rounds 5]

Runs every question of tests/data/questions.tsv through Router.route and AnswerRenderer.answer,
several rounds, and prints percentiles of the per-question time, with a baseline alongside:
the same loop doing only the text normalisation (skeleton), so the ratio shows what routing
and rendering cost on top of reading the text. Last line:
route_p50_ms=<x> route_p99_ms=<y>
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
from knowledge.router import Router  # noqa: E402
from knowledge.text import skeleton  # noqa: E402


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


if __name__ == "__main__":
    main()
