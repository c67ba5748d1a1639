"""The knowledge data files: valid, cross-referenced, sourced; bad edits are caught precisely."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from knowledge.base import KnowledgeError, load_knowledge
from knowledge.facts import Confidence
from knowledge.service import Knowledge
from tests.conftest import edit_data_file

TALAPKER = str(Path(sys.executable).with_name("talapker"))


def test_shipped_data_is_valid_and_every_fact_is_sourced() -> None:
    kb = load_knowledge()
    facts = list(kb.facts())
    assert len(facts) > 250
    for path, fact in facts:
        assert fact.source.strip(), path
        assert 2000 <= fact.as_of <= 2100, path
        assert fact.confidence in Confidence, path


def test_facts_sheet_numbers_are_in_the_data() -> None:
    kb = load_knowledge()
    assert kb.unt.total_max.value == 140
    assert [p.max_points.value for p in kb.unt.parts] == [20, 10, 10, 50, 50]
    assert {k: v.value for k, v in kb.minimums(2026).items()} == {
        "history": 5,
        "math_literacy": 3,
        "reading_literacy": 3,
        "profile1": 5,
        "profile2": 5,
    }
    assert kb.known_mci() == {2024: 3692, 2025: 3932, 2026: 4325}
    assert len(kb.programme_groups.groups) > 90
    assert len(kb.serpin.receiving_regions.value) == 8
    assert {q.id: q.share_percent.value for q in kb.quotas.quotas}["rural"] == 35
    it_rows = {
        g.code: g.pairs.confidence
        for g in kb.programme_groups.groups
        if g.code in {"B011", "B057", "B058"}
    }
    assert set(it_rows.values()) == {Confidence.CONFIRMED}
    # A recalled pair that programs.csv confirms is a second source's word, still to be checked;
    # one where the two disagree stays unconfirmed (grant_scores/README.md lists them).
    assert kb.group("B086").pairs.confidence is Confidence.SECONDARY
    assert "programs.csv" in (kb.group("B086").pairs.note or "")
    assert kb.group("B094").pairs.confidence is Confidence.UNCONFIRMED


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("unt.yaml", "max_points: {value: 50,", "max_points: {value: fifty,", "unt.yaml:"),
        ("thresholds.yaml", "confidence: confirmed}", "confidence: certain}", "confidence"),
        (
            "programme_groups.yaml",
            "- [mathematics, informatics]",
            "- [mathematics, alchemy]",
            "unknown subject 'alchemy'",
        ),
        (
            "programme_groups.yaml",
            "threshold: law",
            "threshold: lawyers",
            "unknown threshold category",
        ),
        (
            "serpin.yaml",
            "[almaty_region, zhambyl,",
            "[almaty_oblast, zhambyl,",
            "unknown region 'almaty_oblast'",
        ),
        ("quotas.yaml", 'en: "Rural youth quota"', 'en: ""', "must not be empty"),
        (
            "calendar.yaml",
            "start: 2026-03-01",
            "start: 2026-05-01",
            "ends (2026-04-06) before it starts",
        ),
        ("savings.yaml", 'source: "ddn.kz', 'source_: "ddn.kz', "savings.yaml:"),
        (
            "universities.yaml",
            "region: pavlodar",
            "region: pavlograd",
            "unknown region 'pavlograd'",
        ),
        ("regions.yaml", "code: abai", "code: akmola", "region 'akmola' appears twice"),
        (
            "sources.yaml",
            "url: https://fastnews.kz/archives/5954",
            "url: https://fastnews.kz/archives/5954\n    title: FACTS.md §5",
            "must not cite an internal note",
        ),
        ("sources.yaml", "url: https://fastnews.kz/archives/5954", "url: fastnews.kz", "url"),
        (
            "savings.yaml",
            "start_capital_age: {value: 5,",
            "start_capital_age: {public: [no-such-page], value: 5,",
            "unknown source 'no-such-page'",
        ),
        (
            "calendar.yaml",
            "    as_of: 2027\n    confidence: unconfirmed",
            "    as_of: 2027\n    confidence: confirmed",
            "an expected date (with a basis) cannot be confirmed",
        ),
    ],
)
def test_bad_edits_are_rejected_with_a_precise_message(
    data_copy: Path, file: str, old: str, new: str, expected: str
) -> None:
    edit_data_file(data_copy / file, old, new)
    with pytest.raises(KnowledgeError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_knowledge(data_copy)


def test_error_points_at_the_line(data_copy: Path) -> None:
    path = data_copy / "thresholds.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    line_no = next(i for i, line in enumerate(lines, 1) if "value: 75, as_of: 2024" in line)
    edit_data_file(path, "value: 75, as_of: 2024", "value: seventy, as_of: 2024")
    with pytest.raises(KnowledgeError) as error:
        load_knowledge(data_copy)
    assert str(error.value).startswith(f"thresholds.yaml:{line_no}:")


def test_a_failed_reload_keeps_serving_the_old_data(data_copy: Path) -> None:
    knowledge = Knowledge(data_copy)
    edit_data_file(
        data_copy / "unt.yaml", "duration_minutes: {value: 240,", "duration_minutes: {value: 250,"
    )
    assert knowledge.reload().unt.duration_minutes.value == 250  # a good edit takes effect
    edit_data_file(
        data_copy / "unt.yaml", "duration_minutes: {value: 250,", "duration_minutes: {value: [,"
    )
    with pytest.raises(KnowledgeError, match=r"unt\.yaml"):
        knowledge.reload()
    assert knowledge.kb.unt.duration_minutes.value == 250
    _, answer = knowledge.ask("how long is the UNT", date(2026, 5, 1), default_lang="en")
    assert "250 minutes" in answer.text  # the old, valid data keeps answering


def test_kb_check_command(data_copy: Path) -> None:
    ok = subprocess.run(
        [TALAPKER, "kb", "check", "--data", str(data_copy)], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert "facts" in ok.stdout
    edit_data_file(data_copy / "grants.yaml", "max_groups: {value: 4,", "max_groups: {value: many,")
    bad = subprocess.run(
        [TALAPKER, "kb", "check", "--data", str(data_copy)], capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("grants.yaml:")
    assert "Traceback" not in bad.stderr
