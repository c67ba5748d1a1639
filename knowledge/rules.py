"""Admission rules as pure functions over a KnowledgeBase. No Telegram, no I/O: each returns a
verdict that carries the facts it used, so every answer can cite its sources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from knowledge.base import KnowledgeBase
from knowledge.facts import Fact, Provenance
from knowledge.schema import ProgrammeGroup, Quota, Sitting, University

PART_IDS = ("history", "math_literacy", "reading_literacy", "profile1", "profile2")
FIELDS = ("general", "national", "pedagogy", "law", "healthcare", "agriculture")
FIRST_YEAR_WITH_RULES = 2023


def admission_year(today: date) -> int:
    """The admission campaign people are preparing for: from September on, next year's."""
    return today.year + 1 if today.month >= 9 else today.year


class RuleInputError(ValueError):
    """Input a rule cannot work with. `code` says which kind; `params` fill the message."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(f"{code}: {params}")
        self.code = code
        self.params = params


@dataclass(frozen=True)
class PartResult:
    part: str
    score: int
    max_points: int
    minimum: Fact[int]

    @property
    def met(self) -> bool:
        return self.score >= self.minimum.value


@dataclass(frozen=True)
class UntVerdict:
    requested_year: int
    rules_year: int
    total: int
    total_max: int
    parts: tuple[PartResult, ...]
    pair: tuple[str, ...] | None
    group: ProgrammeGroup | None
    category: str
    threshold: Fact[int] | None  # None: no total threshold applies (kandas)
    pair_fits_group: bool | None
    open_groups: tuple[ProgrammeGroup, ...]
    grant_sittings: tuple[Sitting, ...]
    paid_sittings: tuple[Sitting, ...]
    facts: tuple[Provenance, ...] = field(repr=False)

    @property
    def minimums_met(self) -> bool | None:
        """None when only a total was given: the per-subject minimums cannot be checked."""
        return all(p.met for p in self.parts) if self.parts else None

    @property
    def threshold_met(self) -> bool | None:
        return None if self.threshold is None else self.total >= self.threshold.value

    @property
    def failed_parts(self) -> tuple[PartResult, ...]:
        return tuple(p for p in self.parts if not p.met)

    @property
    def can_compete(self) -> bool:
        """May take part in the grant competition (and enrol on a paid basis) with this
        certificate, as far as the given facts tell. Winning a grant is another matter."""
        return (
            self.minimums_met is not False
            and self.threshold_met is not False
            and self.pair_fits_group is not False
        )

    @property
    def needs_check(self) -> bool:
        return any(f.confidence.needs_check for f in self.facts)

    @property
    def years_differ(self) -> bool:
        return self.rules_year != self.requested_year


def _subject_pair(kb: KnowledgeBase, pair: Sequence[str] | None) -> tuple[str, ...] | None:
    if pair is None:
        return None
    pair = tuple(pair)
    for subject in pair:
        if kb.subject(subject) is None:
            raise RuleInputError("unknown_subject", subject=subject)
    if pair == ("creative_exam",):
        return pair
    if len(pair) != 2 or "creative_exam" in pair:
        raise RuleInputError("pair_size", count=len(pair))
    if pair[0] == pair[1]:
        raise RuleInputError("same_subject", subject=pair[0])
    return pair


def _scores(kb: KnowledgeBase, scores: Mapping[str, int] | Sequence[int]) -> dict[str, int]:
    if not isinstance(scores, Mapping):
        values = list(scores)
        if len(values) != len(PART_IDS):
            raise RuleInputError("wrong_count", count=len(values), expected=len(PART_IDS))
        scores = dict(zip(PART_IDS, values, strict=True))
    maxima = {p.id: p.max_points.value for p in kb.unt.parts}
    result: dict[str, int] = {}
    for part in PART_IDS:
        if part not in scores:
            raise RuleInputError("missing_part", part=part)
        value = scores[part]
        if isinstance(value, bool) or not isinstance(value, int):
            raise RuleInputError("not_a_number", part=part, value=value)
        if value < 0:
            raise RuleInputError("negative", part=part, value=value)
        if value > maxima[part]:
            raise RuleInputError("part_above_max", part=part, value=value, max=maxima[part])
        result[part] = value
    return result


def check_unt(
    kb: KnowledgeBase,
    *,
    scores: Mapping[str, int] | Sequence[int] | None = None,
    total: int | None = None,
    pair: Sequence[str] | None = None,
    group: str | None = None,
    field_: str | None = None,
    national_university: bool = False,
    kandas: bool = False,
    year: int,
) -> UntVerdict:
    """Whether a UNT result clears the minimums for a field, group or university.

    Give either the five part scores (history, math literacy, reading literacy, profile 1,
    profile 2) or just a total. With a group the threshold category and the accepted subject
    pairs come from the group; `field_` names a category directly. At a national university
    the higher of the field's and the national threshold applies."""
    if year < FIRST_YEAR_WITH_RULES:
        raise RuleInputError("year_too_early", year=year, first=FIRST_YEAR_WITH_RULES)
    total_max = kb.unt.total_max.value
    facts: list[Provenance] = [kb.unt.total_max]
    parts: tuple[PartResult, ...] = ()
    if scores is not None:
        checked = _scores(kb, scores)
        minimums = kb.minimums(year)
        maxima = {p.id: p.max_points.value for p in kb.unt.parts}
        parts = tuple(PartResult(p, checked[p], maxima[p], minimums[p]) for p in PART_IDS)
        facts += [m for m in minimums.values()]
        computed = sum(checked.values())
        if total is not None and total != computed:
            raise RuleInputError("total_mismatch", total=total, computed=computed)
        total = computed
    if total is None:
        raise RuleInputError("no_score")
    if isinstance(total, bool) or not isinstance(total, int):
        raise RuleInputError("not_a_number", part="total", value=total)
    if total < 0:
        raise RuleInputError("negative", part="total", value=total)
    if total > total_max:
        raise RuleInputError("total_above_max", value=total, max=total_max)

    checked_pair = _subject_pair(kb, pair)
    programme_group = None
    if group is not None:
        programme_group = kb.group(group)
        if programme_group is None:
            raise RuleInputError("unknown_group", group=group)
        facts.append(programme_group.pairs)
    if field_ is not None and field_ not in FIELDS:
        raise RuleInputError("unknown_field", field=field_)
    category = programme_group.threshold if programme_group else (field_ or "general")

    threshold: Fact[int] | None = None
    if kandas:
        facts.append(kb.thresholds.kandas_no_threshold)
    else:
        threshold = kb.threshold(category, year)
        if national_university or category == "national":
            national = kb.threshold("national", year)
            if national.value > threshold.value:
                threshold, category = national, "national"
        facts.append(threshold)

    pair_fits = None
    if programme_group is not None and checked_pair is not None:
        pair_fits = any(sorted(p) == sorted(checked_pair) for p in programme_group.pairs.value)
    open_groups = tuple(kb.groups_for_pair(checked_pair)) if checked_pair else ()
    rules_year = max(
        f.as_of
        for f in [*(p.minimum for p in parts), *([threshold] if threshold else [])]
        or [kb.unt.total_max]
    )
    grant_sittings = tuple(s for s in kb.unt.sittings if s.for_grant.value)
    paid_sittings = tuple(s for s in kb.unt.sittings if not s.for_grant.value)
    facts += [s.for_grant for s in kb.unt.sittings]
    return UntVerdict(
        requested_year=year,
        rules_year=min(rules_year, year),
        total=total,
        total_max=total_max,
        parts=parts,
        pair=checked_pair,
        group=programme_group,
        category=category,
        threshold=threshold,
        pair_fits_group=pair_fits,
        open_groups=open_groups,
        grant_sittings=grant_sittings,
        paid_sittings=paid_sittings,
        facts=tuple(facts),
    )


# ---------------------------------------------------------------------------- grant outlook
@dataclass(frozen=True)
class GrantOutlook:
    total: int
    group: ProgrammeGroup | None
    threshold: Fact[int]
    above_threshold: bool
    national_average: Fact[float] | None
    share_reaching_threshold: Fact[float] | None
    bachelor_grants: Fact[float]
    competition_ratio: int | None
    competition_fact: Fact[dict[str, int]] | None
    per_group_scores_known: bool
    facts: tuple[Provenance, ...] = field(repr=False)


def _stat(kb: KnowledgeBase, stat_id: str) -> Fact[float] | None:
    return next((s for s in kb.unt.statistics if s.id == stat_id), None)


def grant_outlook(kb: KnowledgeBase, *, total: int, group: str | None, year: int) -> GrantOutlook:
    """What can honestly be said about grant chances: no probability, only facts. Per-group
    passing scores are not in the data, and the outlook says so."""
    verdict = check_unt(kb, total=total, group=group, year=year)
    assert verdict.threshold is not None
    volumes = sorted(
        (v for v in kb.grants.volumes if v.id.startswith("bachelor_")), key=lambda v: v.as_of
    )
    bachelor = volumes[-1]
    ratio = None
    competition = None
    if verdict.group is not None and verdict.group.code in kb.grants.competition_2023.value:
        competition = kb.grants.competition_2023
        ratio = competition.value[verdict.group.code]
    average = _stat(kb, "average_2025")
    share = _stat(kb, "share_threshold_2025")
    facts: list[Provenance] = [*verdict.facts, bachelor, kb.grants.per_group_passing_scores]
    facts += [f for f in (average, share, competition) if f is not None]
    return GrantOutlook(
        total=verdict.total,
        group=verdict.group,
        threshold=verdict.threshold,
        above_threshold=bool(verdict.threshold_met),
        national_average=average,
        share_reaching_threshold=share,
        bachelor_grants=bachelor,
        competition_ratio=ratio,
        competition_fact=competition,
        per_group_scores_known=kb.grants.per_group_passing_scores.value is not None,
        facts=tuple(facts),
    )


# ---------------------------------------------------------------------------- quotas
QUOTA_QUESTIONS = (
    "rural",
    "serpin",
    "single_parent",
    "large_family",
    "disabled_child_family",
    "kandas",
    "disability",
    "orphans",
    "veterans",
)


@dataclass(frozen=True)
class QuotaVerdict:
    quotas: tuple[Quota, ...]
    also_general: Fact[bool]
    common_documents: Fact[list[Any]]
    facts: tuple[Provenance, ...] = field(repr=False)


def quota_eligibility(kb: KnowledgeBase, answers: Mapping[str, bool]) -> QuotaVerdict:
    """The quotas whose condition the applicant says yes to (answers keyed by quota id)."""
    unknown = set(answers) - {q.id for q in kb.quotas.quotas}
    if unknown:
        raise RuleInputError("unknown_quota", quota=sorted(unknown)[0])
    matched = tuple(q for q in kb.quotas.quotas if answers.get(q.id))
    facts: list[Provenance] = [kb.quotas.also_general_competition, kb.quotas.common_documents]
    for quota in matched:
        facts.append(quota.share_percent)
        if quota.documents is not None:
            facts.append(quota.documents)
    return QuotaVerdict(
        quotas=matched,
        also_general=kb.quotas.also_general_competition,
        common_documents=kb.quotas.common_documents,
        facts=tuple(facts),
    )


# ---------------------------------------------------------------------------- Serpin
@dataclass(frozen=True)
class SerpinVerdict:
    eligible: bool | None  # None: the data cannot tell (a region whose status was not found)
    reason: str
    home_region: str
    receiving_regions: tuple[str, ...]
    universities: tuple[University, ...]
    facts: tuple[Provenance, ...] = field(repr=False)


UNKNOWN_SENDING_STATUS = ("shymkent", "zhetysu")


def serpin_eligibility(
    kb: KnowledgeBase, home_region: str, settlement: str | None
) -> SerpinVerdict:
    """Whether a school leaver from `home_region` (city or rural) fits the Serpin programme,
    and where one could study under it."""
    if kb.region(home_region) is None:
        raise RuleInputError("unknown_region", region=home_region)
    if settlement not in (None, "city", "rural"):
        raise RuleInputError("unknown_settlement", settlement=settlement)
    serpin = kb.serpin
    receiving = tuple(serpin.receiving_regions.value)
    universities = tuple(
        u for u in kb.universities.universities if u.region in receiving and not u.departmental
    )
    facts: list[Provenance] = [
        serpin.sending_regions,
        serpin.receiving_regions,
        serpin.for_rural_graduates,
        serpin.work_obligation_years,
        serpin.quota_percent,
    ]
    if home_region in serpin.sending_regions.value:
        if settlement == "rural":
            eligible, reason = True, "rural_in_sending_region"
        elif settlement == "city":
            eligible, reason = False, "city_in_sending_region"
        else:
            eligible, reason = None, "settlement_unknown"
    elif home_region in receiving:
        eligible, reason = False, "lives_in_receiving_region"
    elif home_region in UNKNOWN_SENDING_STATUS:
        eligible, reason = None, "sending_status_unknown"
    else:
        eligible, reason = False, "not_a_sending_region"
    return SerpinVerdict(
        eligible=eligible,
        reason=reason,
        home_region=home_region,
        receiving_regions=receiving,
        universities=universities,
        facts=tuple(facts),
    )
