"""The schema of the knowledge data files (`knowledge/data/*.yaml`). Pydantic validates every
file; `KnowledgeBase.cross_check` then checks references between files."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Literal, get_args

from pydantic import Field, model_validator

from knowledge.facts import Confidence, Fact, Localized, Provenance, Strict

Audience = Literal["applicants", "parents", "everyone"]


class Region(Strict):
    """One of the 17 oblasts or 3 cities of republican significance."""

    code: str
    kind: Literal["oblast", "city"]
    short: Localized
    name: Localized


class IdFact(Fact[float]):
    id: str


class UntPart(Strict):
    id: Literal["history", "math_literacy", "reading_literacy", "profile1", "profile2"]
    name: Localized
    questions: Fact[int]
    max_points: Fact[int]
    min_points: list[Fact[int]] = Field(min_length=1)


class Sitting(Strict):
    id: str
    name: Localized
    for_grant: Fact[bool]
    dates: list[Fact[Localized]] = Field(min_length=1)


class PaidRoute(Strict):
    conditional_enrolment: Fact[Localized]
    after_military_service: Fact[Localized]
    military_years: Fact[int]
    tuition_fees: Fact[None]
    paid_enrolment_window: Fact[Localized]


class UntData(Strict):
    parts: list[UntPart] = Field(min_length=5, max_length=5)
    total_questions: Fact[int]
    total_max: Fact[int]
    duration_minutes: Fact[int]
    extra_minutes_special_needs: Fact[int]
    appeal_window_minutes: Fact[int]
    sittings_per_year: Fact[int]
    main_attempts: Fact[int]
    same_pair_both_attempts: Fact[bool]
    registration: Fact[str]
    fee_note: Fact[Localized]
    missed_test: Fact[Localized]
    creative_exam_max: Fact[int]
    tools_on_screen: Fact[list[Localized]]
    test_day_documents: Fact[list[Localized]]
    paid_route: PaidRoute
    sittings: list[Sitting]
    statistics: list[IdFact]

    @model_validator(mode="after")
    def _parts_add_up(self) -> UntData:
        total = sum(p.max_points.value for p in self.parts)
        if total != self.total_max.value:
            raise ValueError(
                f"part maxima add up to {total}, total_max says {self.total_max.value}"
            )
        return self


class ThresholdCategory(Strict):
    id: str
    name: Localized
    values: list[Fact[int]] = Field(min_length=1)


class ThresholdData(Strict):
    categories: list[ThresholdCategory]
    kandas_no_threshold: Fact[bool]
    universities_may_set_higher: Fact[bool]
    unified_threshold_reform: Fact[Localized]


class Subject(Strict):
    id: str
    name: Localized
    aliases: list[str] = Field(min_length=1)


class SubjectData(Provenance):
    subjects: list[Subject]


class ProgrammeGroup(Strict):
    code: str = Field(pattern=r"^B\d{3}$")
    name: Localized
    pairs: Fact[list[list[str]]]
    threshold: str
    # Part of the rural-youth quota (programmes for rural development)? None: not known yet.
    rural_quota: Fact[bool] | None = None


class ProgrammeGroupData(Strict):
    names: Provenance
    threshold_categories: Provenance
    max_groups_per_application: Fact[int]
    groups: list[ProgrammeGroup]


class Quota(Strict):
    id: str
    name: Localized
    who: Localized
    share_percent: Fact[float]
    share_of: Localized | None = None
    only_designated_groups: bool = False
    documents: Fact[list[Localized]] | None = None


class QuotaData(Strict):
    applies_to_all_chosen_groups_except_rural: Fact[bool]
    also_general_competition: Fact[bool]
    quotas: list[Quota]
    common_documents: Fact[list[Localized]]
    medical_certificate_note: Fact[Localized]
    results_2024: Fact[dict[str, int]]


class GrantData(Strict):
    apply_via: Fact[Localized]
    awarded_by: Fact[Localized]
    max_groups: Fact[int]
    priority_order_decides: Fact[bool]
    only_main_unt_counts: Fact[bool]
    second_round: Fact[Localized]
    declined_per_year: Fact[str]
    certificate_electronic: Fact[bool]
    volumes: list[IdFact]
    differentiated: Fact[Localized]
    differentiated_count: Fact[int]
    per_group_passing_scores: Fact[None]
    competition_2023: Fact[dict[str, int]]
    pedagogy_average_score_2024: Fact[int]
    work_off: Fact[Localized]
    work_off_years: Fact[int]
    non_state_grants: Fact[int]
    tie_break: Fact[list[Localized]]


class SerpinData(Strict):
    started: Fact[int]
    sending_regions: Fact[list[str]]
    for_rural_graduates: Fact[bool]
    receiving_regions: Fact[list[str]]
    receiving_universities_count: Fact[int]
    priority_fields: Fact[list[Localized]]
    it_also_priority: Fact[bool]
    benefits: Fact[list[Localized]]
    older_benefits: Fact[Localized]
    work_obligation_years: Fact[int]
    quota_percent: Fact[float]
    grants_2023: Fact[int]
    grants_2024_2025: Fact[None]
    targeted_grants: Fact[int]
    targeted_grants_regions: Fact[list[str]]


class BankRate(Strict):
    bank: str
    rate_percent: float
    term_months: int


class KeleshekData(Strict):
    law_signed: Fact[Localized]
    start_capital_mci: Fact[int]
    start_capital_mci_orphans: Fact[int]
    start_capital_first_cohort: Fact[int]
    start_capital_age: Fact[int]
    min_yearly_contribution_mci: Fact[int]
    monthly_contribution_mci: Fact[str]
    initial_deposit_mci: Fact[int]
    deposit_product: Fact[Localized]
    guaranteed_rate_percent: Fact[float]
    bonus_rate_percent: Fact[float]
    bonus_rate_percent_vulnerable: Fact[float]
    bonus_cap_mci: Fact[int]
    bonus_basis: Fact[Localized]
    tax_benefit_percent: Fact[float]
    tax_benefit_cap_mci: Fact[int]
    target_by_18: Fact[Localized]
    bank_rates_2025: Fact[list[BankRate]]
    uses: Fact[Localized]
    first_payout: Fact[Localized]


class NationalFundData(Strict):
    share_of_income_percent: Fact[float]
    since: Fact[Localized]
    accrual_usd: list[Fact[float]]
    use_after_18: Fact[Localized]
    operator: Fact[Localized]


class GonsData(Strict):
    bonus_percent: Fact[float]
    bonus_percent_vulnerable: Fact[float]
    note: Fact[Localized]


class SavingsData(Strict):
    mci: list[Fact[int]] = Field(min_length=1)
    keleshek: KeleshekData
    national_fund_for_children: NationalFundData
    gons: GonsData


class LoanData(Strict):
    rules: Fact[Localized]
    eligibility: Fact[list[Localized]]
    min_savings_percent: Fact[int]
    term_years: Fact[int]
    interest_percent: Fact[float]
    repayment_start: Fact[Localized]
    operator: Fact[Localized]


class Stipend(IdFact):
    since: date


class FinanceData(Strict):
    loan: LoanData
    stipends: list[Stipend]
    stipend_partial_grants: Fact[bool]


EventType = Literal[
    "unt_registration",
    "unt_sitting",
    "grant_application",
    "results",
    "documents",
    "second_round",
    "savings",
    "serpin",
    "other",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)


class CalendarEvent(Provenance):
    id: str
    type: EventType
    start: date
    end: date | None = None
    precision: Literal["day", "month"] = "day"
    title: Localized
    description: Localized | None = None
    audience: Audience
    # An expected date, not yet announced: the pattern of past years it is derived from.
    basis: Localized | None = None

    @property
    def expected(self) -> bool:
        return self.basis is not None

    @model_validator(mode="after")
    def _ordered(self) -> CalendarEvent:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"ends ({self.end}) before it starts ({self.start})")
        if self.basis is not None and self.confidence is Confidence.CONFIRMED:
            raise ValueError("an expected date (with a basis) cannot be confirmed")
        return self


class CalendarData(Strict):
    events: list[CalendarEvent]


class University(Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str
    region: str | None = None
    region_confidence: Confidence | None = None
    national: bool = False
    departmental: bool = False


class UniversityData(Strict):
    names: Provenance
    regions: Provenance
    national_status: Provenance
    universities: list[University]


class ProgrammeCard(Strict):
    id: str
    code: str | None
    level: Literal["bachelor", "master", "doctoral"]
    title: Localized
    group: Localized
    city: str | None
    degree: Localized
    credits: Fact[dict[str, int]] | None = None
    internships: Fact[list[Localized]] | None = None
    positions: Fact[list[Localized]] | None = None
    competencies: Fact[list[Localized]] | None = None
    dual_education: Fact[Localized] | None = None
    partner_universities: Fact[list[str]] | None = None
    production_exam_commission: Fact[Localized] | None = None


class ProgrammeData(Strict):
    programmes: list[ProgrammeCard]


class RegionData(Provenance):
    regions: list[Region]


TOPICS = (
    "unt_format",
    "unt_sittings",
    "threshold",
    "subject_pairs",
    "grant_chance",
    "grant_process",
    "quotas",
    "serpin",
    "keleshek",
    "loans",
    "deadlines",
    "documents",
    "stipend",
    "universities",
    "programs",
    "paid_admission",
    "greeting",
    # Everyday chat: short replies of their own, never the out-of-scope refusal.
    "thanks",
    "goodbye",
    "acknowledgement",
    "about_bot",
    "human",
    "out_of_scope",
)
FIELD_NAMES = ("pedagogy", "law", "healthcare", "agriculture", "it", "national")


class RouterData(Strict):
    """Keywords of the question router (knowledge/data/router.yaml): not facts, no sources."""

    topics: dict[str, dict[str, float]]
    fields: dict[str, list[str]]
    regions: dict[str, list[str]]

    @model_validator(mode="after")
    def _known_names(self) -> RouterData:
        for topic in self.topics:
            if topic not in TOPICS:
                raise ValueError(f"unknown topic {topic!r}; topics are {', '.join(TOPICS)}")
        for name in self.fields:
            if name not in FIELD_NAMES:
                raise ValueError(f"unknown field {name!r}; fields are {', '.join(FIELD_NAMES)}")
        return self


# Internal notes a reader cannot open; a public source must never carry one.
INTERNAL_MARKERS = ("FACTS.md", "NR2024", "seed ", "§")


class PublicSource(Strict):
    """A page a reader can open, cited under answers instead of the internal note."""

    id: str = Field(pattern=r"^[a-z0-9-]+$")
    url: str = Field(pattern=r"^https://[a-z0-9.-]+\.[a-z]{2,}(/\S*)?$")
    site: str = Field(min_length=3)
    title: str | None = None
    published: date | None = None
    year: int | None = Field(default=None, ge=2000, le=2100)  # when only the year is known
    # How the data's internal notes name this page; any of them in a fact's `source` cites it.
    cited_as: list[str] = Field(default_factory=list)

    @property
    def key(self) -> str:
        """Short and stable: fits several into one Telegram button's 64 bytes."""
        return hashlib.sha1(self.id.encode()).hexdigest()[:6]

    @model_validator(mode="after")
    def _public(self) -> PublicSource:
        for text in (self.url, self.site, self.title or ""):
            if any(marker in text for marker in INTERNAL_MARKERS):
                raise ValueError(f"a public source must not cite an internal note: {text!r}")
        return self


class SourceData(Strict):
    sources: list[PublicSource]


# File name → the model that validates it. `kb check` reads exactly these files.
FILES: dict[str, type[Strict]] = {
    "regions.yaml": RegionData,
    "unt.yaml": UntData,
    "thresholds.yaml": ThresholdData,
    "subjects.yaml": SubjectData,
    "programme_groups.yaml": ProgrammeGroupData,
    "quotas.yaml": QuotaData,
    "grants.yaml": GrantData,
    "serpin.yaml": SerpinData,
    "savings.yaml": SavingsData,
    "finance.yaml": FinanceData,
    "calendar.yaml": CalendarData,
    "universities.yaml": UniversityData,
    "programmes.yaml": ProgrammeData,
    "router.yaml": RouterData,
    "sources.yaml": SourceData,
}
