"""Routing accuracy on a labelled question file (TSV: lang, topic, question)."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.base import KnowledgeBase
from knowledge.router import Router
from knowledge.schema import TOPICS


@dataclass
class Report:
    total: Counter[str] = field(default_factory=Counter)
    correct: Counter[str] = field(default_factory=Counter)
    by_topic_total: Counter[str] = field(default_factory=Counter)
    by_topic_correct: Counter[str] = field(default_factory=Counter)
    language_correct: int = 0
    errors: list[tuple[str, str, str, str]] = field(default_factory=list)

    def accuracy(self, lang: str | None = None) -> float:
        if lang is None:
            return sum(self.correct.values()) / max(1, sum(self.total.values()))
        return self.correct[lang] / max(1, self.total[lang])


def evaluate(kb: KnowledgeBase, path: Path) -> Report:
    router = Router(kb)
    report = Report()
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            lang, topic, question = row["lang"], row["topic"], row["question"]
            if topic not in TOPICS:
                raise ValueError(f"{path.name}: unknown topic {topic!r} for {question!r}")
            route = router.route(question)
            report.total[lang] += 1
            report.by_topic_total[topic] += 1
            report.language_correct += route.lang == lang
            if route.topic == topic:
                report.correct[lang] += 1
                report.by_topic_correct[topic] += 1
            else:
                report.errors.append((lang, topic, route.topic, question))
    return report


def format_report(report: Report, *, show_errors: bool = False) -> str:
    lines = [f"questions: {sum(report.total.values())}"]
    lines += [
        f"{lang}: {report.accuracy(lang):.1%} ({report.correct[lang]}/{report.total[lang]})"
        for lang in sorted(report.total)
    ]
    lines.append(f"overall: {report.accuracy():.1%}")
    detected = report.language_correct / max(1, sum(report.total.values()))
    lines.append(f"language detected correctly: {detected:.1%}")
    lines.append("per topic:")
    for topic in TOPICS:
        if report.by_topic_total[topic]:
            ok, n = report.by_topic_correct[topic], report.by_topic_total[topic]
            lines.append(f"  {topic:<15} {ok / n:6.1%} ({ok}/{n})")
    if show_errors:
        lines.append("misrouted:")
        lines += [
            f"  [{lang}] expected {want}, got {got}: {q}" for lang, want, got, q in report.errors
        ]
    return "\n".join(lines)
