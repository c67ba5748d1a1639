"""Routing accuracy on a labelled question file (TSV: lang, topic, question)."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.router import Route
from knowledge.schema import TOPICS

RouteFn = Callable[[str], Route]


@dataclass
class Report:
    total: Counter[str] = field(default_factory=Counter)
    correct: Counter[str] = field(default_factory=Counter)
    by_topic_total: Counter[str] = field(default_factory=Counter)
    by_topic_correct: Counter[str] = field(default_factory=Counter)
    language_correct: int = 0
    errors: list[tuple[str, str, str, str]] = field(default_factory=list)
    layers: Counter[str] = field(default_factory=Counter)
    off_topic: int = 0
    off_topic_declined: int = 0
    in_scope_declined: int = 0

    def accuracy(self, lang: str | None = None) -> float:
        if lang is None:
            return sum(self.correct.values()) / max(1, sum(self.total.values()))
        return self.correct[lang] / max(1, self.total[lang])


def evaluate(route_question: RouteFn, path: Path) -> Report:
    """`route_question` is the rules alone (`Router.route`) or the whole chain
    (`Knowledge.route`)."""
    report = Report()
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            lang, topic, question = row["lang"], row["topic"], row["question"]
            if topic not in TOPICS:
                raise ValueError(f"{path.name}: unknown topic {topic!r} for {question!r}")
            route = route_question(question)
            report.total[lang] += 1
            report.layers[route.layer] += 1
            declined = route.topic == "out_of_scope"
            if topic == "out_of_scope":
                report.off_topic += 1
                report.off_topic_declined += declined
            else:
                report.in_scope_declined += declined
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
    in_scope = sum(report.total.values()) - report.off_topic
    lines.append(f"off-topic declined: {report.off_topic_declined}/{report.off_topic}")
    lines.append(
        f"in-scope wrongly declined: {report.in_scope_declined}/{in_scope}"
        f" ({report.in_scope_declined / max(1, in_scope):.1%})"
    )
    lines.append("answered by: " + ", ".join(f"{k} {v}" for k, v in sorted(report.layers.items())))
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
