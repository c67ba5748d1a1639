"""The rule engine, table-driven: every threshold category, every quota, every invalid input."""

from __future__ import annotations

from datetime import date

import pytest

from knowledge.base import KnowledgeBase, load_knowledge
from knowledge.rules import (
    QUOTA_QUESTIONS,
    RuleInputError,
    admission_year,
    check_unt,
    grant_outlook,
    quota_eligibility,
    serpin_eligibility,
)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge()


# --------------------------------------------------------------------------- thresholds
@pytest.mark.parametrize(
    ("kwargs", "category", "threshold"),
    [
        ({"field_": "general"}, "general", 50),
        ({"field_": "national"}, "national", 65),
        ({"national_university": True}, "national", 65),
        ({"group": "B009"}, "pedagogy", 75),  # teacher training: pedagogy
        ({"group": "B049"}, "law", 75),
        ({"group": "B086"}, "healthcare", 70),
        ({"group": "B083"}, "agriculture", 60),  # veterinary
        ({"group": "B057"}, "general", 50),
        ({"group": "B057", "national_university": True}, "national", 65),
        ({"group": "B086", "national_university": True}, "healthcare", 70),  # the higher one
        ({"group": "B001", "national_university": True}, "pedagogy", 75),
    ],
)
@pytest.mark.parametrize("year", [2023, 2025, 2026])
def test_threshold_for_each_category(
    kb: KnowledgeBase, kwargs: dict, category: str, threshold: int, year: int
) -> None:
    at = check_unt(kb, total=threshold, year=year, **kwargs)
    below = check_unt(kb, total=threshold - 1, year=year, **kwargs)
    assert (at.category, at.threshold and at.threshold.value) == (category, threshold)
    assert at.threshold_met is True and at.can_compete
    assert below.threshold_met is False and not below.can_compete


def test_threshold_confidence_follows_the_year(kb: KnowledgeBase) -> None:
    assert check_unt(kb, total=80, field_="law", year=2025).needs_check is False
    later = check_unt(kb, total=80, field_="law", year=2027)
    assert later.needs_check and later.rules_year == 2026 and later.years_differ
    assert check_unt(kb, total=80, field_="agriculture", year=2025).needs_check  # [U] after 2023


def test_kandas_have_no_total_threshold(kb: KnowledgeBase) -> None:
    verdict = check_unt(kb, total=20, group="B057", kandas=True, year=2026)
    assert verdict.threshold is None and verdict.threshold_met is None and verdict.can_compete


# --------------------------------------------------------------------------- minimums
@pytest.mark.parametrize(
    ("scores", "failed"),
    [
        ([5, 3, 3, 5, 5], []),
        ([4, 3, 3, 5, 5], ["history"]),
        ([5, 2, 3, 5, 5], ["math_literacy"]),
        ([5, 3, 2, 5, 5], ["reading_literacy"]),
        ([5, 3, 3, 4, 5], ["profile1"]),
        ([5, 3, 3, 5, 4], ["profile2"]),
        ([20, 10, 10, 4, 50], ["profile1"]),  # 94 points and still out: one minimum missed
    ],
)
def test_per_subject_minimums_2026(kb: KnowledgeBase, scores: list[int], failed: list[str]) -> None:
    verdict = check_unt(kb, scores=scores, year=2026)
    assert [p.part for p in verdict.failed_parts] == failed
    assert verdict.minimums_met is (not failed)
    if failed:
        assert not verdict.can_compete


def test_2023_minimums_were_five_everywhere(kb: KnowledgeBase) -> None:
    verdict = check_unt(
        kb,
        scores={
            "history": 5,
            "math_literacy": 4,
            "reading_literacy": 5,
            "profile1": 20,
            "profile2": 20,
        },
        year=2023,
    )
    assert [p.part for p in verdict.failed_parts] == ["math_literacy"]


def test_total_only_cannot_check_minimums(kb: KnowledgeBase) -> None:
    verdict = check_unt(kb, total=100, year=2026)
    assert verdict.minimums_met is None and verdict.parts == ()


# --------------------------------------------------------------------------- pairs and groups
def test_pair_fits_group_and_lists_the_groups_it_opens(kb: KnowledgeBase) -> None:
    fits = check_unt(kb, total=90, pair=["informatics", "mathematics"], group="b057", year=2026)
    assert fits.pair_fits_group is True
    assert {g.code for g in fits.open_groups} == {"B011", "B057", "B058"}
    wrong = check_unt(kb, total=120, pair=["mathematics", "physics"], group="B057", year=2026)
    assert wrong.pair_fits_group is False and not wrong.can_compete
    assert "B057" not in {g.code for g in wrong.open_groups}


def test_creative_exam_is_a_single_subject(kb: KnowledgeBase) -> None:
    verdict = check_unt(kb, total=60, pair=["creative_exam"], group="B073", year=2026)
    assert verdict.pair_fits_group is True


# --------------------------------------------------------------------------- invalid input
@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"scores": [21, 8, 7, 42, 39]}, "part_above_max"),
        ({"scores": [18, 8, 7, 55, 39]}, "part_above_max"),
        ({"scores": [18, 11, 7, 42, 39]}, "part_above_max"),
        ({"scores": [18, -1, 7, 42, 39]}, "negative"),
        ({"scores": [18, 8, 7, 42]}, "wrong_count"),
        ({"scores": [18, 8, 7, 42, 39, 1]}, "wrong_count"),
        ({"scores": {"history": 18}}, "missing_part"),
        ({"scores": [18, 8, 7, 42, 39.5]}, "not_a_number"),
        ({"scores": [18, 8, 7, 42, 39], "total": 100}, "total_mismatch"),
        ({"total": 141}, "total_above_max"),
        ({"total": 300}, "total_above_max"),
        ({"total": -5}, "negative"),
        ({}, "no_score"),
        ({"total": 90, "pair": ["mathematics", "alchemy"]}, "unknown_subject"),
        ({"total": 90, "pair": ["mathematics"]}, "pair_size"),
        ({"total": 90, "pair": ["mathematics", "physics", "chemistry"]}, "pair_size"),
        ({"total": 90, "pair": ["physics", "physics"]}, "same_subject"),
        ({"total": 90, "group": "B999"}, "unknown_group"),
        ({"total": 90, "field_": "astrology"}, "unknown_field"),
    ],
)
def test_invalid_input_is_a_specific_error(kb: KnowledgeBase, kwargs: dict, code: str) -> None:
    with pytest.raises(RuleInputError) as error:
        check_unt(kb, year=2026, **kwargs)
    assert error.value.code == code


def test_years_before_the_data_are_refused(kb: KnowledgeBase) -> None:
    with pytest.raises(RuleInputError, match="year_too_early"):
        check_unt(kb, total=90, year=2019)


@pytest.mark.parametrize(
    ("today", "year"),
    [(date(2026, 11, 25), 2027), (date(2026, 7, 1), 2026), (date(2026, 1, 5), 2026)],
)
def test_admission_year(today: date, year: int) -> None:
    assert admission_year(today) == year


# --------------------------------------------------------------------------- quotas
@pytest.mark.parametrize(
    ("quota", "share"),
    [
        ("rural", 35),
        ("serpin", 3),
        ("single_parent", 3),
        ("large_family", 5),
        ("disabled_child_family", 1),
        ("kandas", 4),
        ("disability", 1),
        ("orphans", 1),
        ("veterans", 0.5),
    ],
)
def test_each_quota_alone(kb: KnowledgeBase, quota: str, share: float) -> None:
    verdict = quota_eligibility(kb, {quota: True})
    assert [q.id for q in verdict.quotas] == [quota]
    assert verdict.quotas[0].share_percent.value == share
    assert verdict.also_general.value is True  # quota applicants also compete generally


def test_several_quotas_and_none(kb: KnowledgeBase) -> None:
    verdict = quota_eligibility(kb, {"large_family": True, "rural": True, "orphans": False})
    assert [q.id for q in verdict.quotas] == ["rural", "large_family"]
    assert quota_eligibility(kb, dict.fromkeys(QUOTA_QUESTIONS, False)).quotas == ()
    assert set(QUOTA_QUESTIONS) == {q.id for q in kb.quotas.quotas}


def test_documents_come_with_their_source(kb: KnowledgeBase) -> None:
    verdict = quota_eligibility(kb, {"large_family": True})
    docs = verdict.quotas[0].documents
    assert docs is not None and "large-family allowance" in docs.value[0].en
    assert docs.source.startswith("asu.edu.kz")


def test_unknown_quota_is_refused(kb: KnowledgeBase) -> None:
    with pytest.raises(RuleInputError, match="unknown_quota"):
        quota_eligibility(kb, {"millionaire": True})


# --------------------------------------------------------------------------- Serpin
@pytest.mark.parametrize(
    ("region", "settlement", "eligible", "reason"),
    [
        ("turkistan", "rural", True, "rural_in_sending_region"),
        ("mangystau", "rural", True, "rural_in_sending_region"),
        ("zhambyl", "city", False, "city_in_sending_region"),
        ("kyzylorda", None, None, "settlement_unknown"),
        ("pavlodar", "rural", False, "lives_in_receiving_region"),
        ("shymkent", "city", None, "sending_status_unknown"),
        ("atyrau", "rural", False, "not_a_sending_region"),
    ],
)
def test_serpin_eligibility(
    kb: KnowledgeBase, region: str, settlement: str | None, eligible: bool | None, reason: str
) -> None:
    verdict = serpin_eligibility(kb, region, settlement)
    assert (verdict.eligible, verdict.reason) == (eligible, reason)
    assert len(verdict.receiving_regions) == 8
    assert verdict.universities and all(
        u.region in verdict.receiving_regions for u in verdict.universities
    )


def test_serpin_bad_input(kb: KnowledgeBase) -> None:
    with pytest.raises(RuleInputError, match="unknown_region"):
        serpin_eligibility(kb, "atlantis", "rural")
    with pytest.raises(RuleInputError, match="unknown_settlement"):
        serpin_eligibility(kb, "turkistan", "moon")


# --------------------------------------------------------------------------- grant outlook
def test_grant_outlook_gives_facts_not_probabilities(kb: KnowledgeBase) -> None:
    outlook = grant_outlook(kb, total=95, group="B087", year=2026)
    assert outlook.above_threshold is True  # dentistry: healthcare threshold 70
    assert outlook.competition_ratio == 22  # applicants per grant in 2023
    assert outlook.per_group_scores_known is False
    assert outlook.national_average is not None and outlook.national_average.value == 69
    assert not hasattr(outlook, "probability")


# --------------------------------------------------------------------------- group search
@pytest.mark.parametrize(
    ("query", "codes"),
    [
        ("B057", ["B057"]),
        ("в 057", ["B057"]),  # a Cyrillic В and a space, as people type it
        ("Ақпараттық технология", ["B057"]),
        ("информационные технологии", ["B057"]),
        ("information technolog", ["B057"]),
        ("ab", []),  # too short to search
        ("B999", []),
    ],
)
def test_groups_are_found_by_code_or_by_name_in_any_language(
    kb: KnowledgeBase, query: str, codes: list[str]
) -> None:
    assert [group.code for group in kb.find_groups(query)] == codes
