"""The Keleshek projection: the cases parents ask about, and properties that must always hold."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge.base import KnowledgeBase, load_knowledge
from knowledge.keleshek import keleshek_projection
from knowledge.rules import RuleInputError

AS_OF = date(2026, 11, 25)
KB = load_knowledge()


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KB


def test_newborn_runs_to_the_month_before_the_18th_birthday(kb: KnowledgeBase) -> None:
    p = keleshek_projection(kb, birth=date(2026, 10, 3), as_of=AS_OF, monthly_mci=1)
    assert p.rows[0].year == 2026 and p.rows[0].months == 1  # December 2026 only
    assert p.rows[-1].year == 2044 and p.rows[-1].months == 9  # Jan–Sep 2044, birthday in October
    assert sum(r.months for r in p.rows) == 12 * 17 + 10
    # December 2026 contribution at the 2026 MCI, then one month of 8% interest and the bonus.
    first = p.rows[0]
    assert first.contributed == 4325
    assert first.interest == pytest.approx(4325 * 0.08 / 12)
    assert first.bonus == pytest.approx(0.05 * (4325 + 4325 * 0.08 / 12))
    # Turns 5 in October 2031: 60 MCI at that year's (projected) MCI.
    capital_row = next(r for r in p.rows if r.start_capital)
    assert capital_row.year == 2031 and capital_row.start_capital == 60 * capital_row.mci
    assert p.totals["start_capital"] == capital_row.start_capital


def test_child_turning_five_this_year_gets_it_at_the_birthday_month(kb: KnowledgeBase) -> None:
    p = keleshek_projection(kb, birth=date(2021, 12, 20), as_of=AS_OF, monthly_mci=2)
    assert p.rows[0].year == 2026 and p.rows[0].start_capital == 60 * 4325


def test_birthday_month_already_past_means_it_is_in_the_opening_balance(kb: KnowledgeBase) -> None:
    p = keleshek_projection(kb, birth=date(2021, 6, 1), as_of=AS_OF, monthly_mci=1, balance=300_000)
    assert p.totals["start_capital"] == 0
    assert p.assumptions["start_capital_in_opening_balance"] is True


def test_no_balance_given_counts_the_start_capital_credited_in_june_2025(
    kb: KnowledgeBase,
) -> None:
    """Issue 17's example: born 2020-06-10, from 2026-01-01, 2 MCI a month."""
    common = {"birth": date(2020, 6, 10), "as_of": date(2026, 1, 1), "monthly_mci": 2}
    unknown = keleshek_projection(kb, **common)
    empty = keleshek_projection(kb, **common, balance=0)
    # 60 MCI at the 2025 MCI (3,932 ₸) = 235,920 ₸, the amount FACTS.md §7.2 gives for 2025.
    assert unknown.opening_balance == 235_920
    assert unknown.assumptions["assumed_start_capital"] == {
        "amount": 235_920,
        "mci": 60,
        "year": 2025,
        "month": 6,
    }
    assert round(empty.totals["final_balance"]) == 3_925_447  # what the issue saw
    assert unknown.totals["final_balance"] == pytest.approx(5_058_191, rel=1e-4)
    assert empty.assumptions["assumed_start_capital"] is None
    # A balance the parent gives is taken as is: the capital is inside it.
    given = keleshek_projection(kb, **common, balance=300_000)
    assert given.opening_balance == 300_000 and not given.assumptions["assumed_start_capital"]


def test_no_balance_and_capital_still_ahead_or_never_due_assumes_nothing(
    kb: KnowledgeBase,
) -> None:
    ahead = keleshek_projection(kb, birth=date(2023, 4, 1), as_of=AS_OF, monthly_mci=1)
    too_old = keleshek_projection(kb, birth=date(2014, 5, 1), as_of=AS_OF, monthly_mci=1)
    for p in (ahead, too_old):
        assert p.opening_balance == 0 and p.assumptions["assumed_start_capital"] is None
    assert ahead.totals["start_capital"] > 0  # credited in the projection instead


def test_orphan_without_a_balance_counts_120_mci(kb: KnowledgeBase) -> None:
    p = keleshek_projection(
        kb, birth=date(2020, 6, 10), as_of=date(2026, 1, 1), monthly_mci=2, orphan=True
    )
    assert p.opening_balance == 120 * 3932


def test_twelve_year_old_gets_no_start_capital(kb: KnowledgeBase) -> None:
    p = keleshek_projection(kb, birth=date(2014, 5, 1), as_of=AS_OF, monthly_mci=3)
    assert p.totals["start_capital"] == 0
    assert p.assumptions["start_capital_in_opening_balance"] is False  # turned 5 in 2019
    assert p.rows[-1].year == 2032 and p.rows[-1].months == 4


def test_orphan_gets_double_capital_and_the_higher_bonus(kb: KnowledgeBase) -> None:
    base = keleshek_projection(kb, birth=date(2024, 2, 1), as_of=AS_OF, monthly_mci=1)
    orphan = keleshek_projection(
        kb, birth=date(2024, 2, 1), as_of=AS_OF, monthly_mci=1, orphan=True
    )
    assert orphan.totals["start_capital"] == 2 * base.totals["start_capital"]
    assert orphan.assumptions["bonus_rate"] == 0.07 and base.assumptions["bonus_rate"] == 0.05
    assert orphan.totals["final_balance"] > base.totals["final_balance"]


def test_bonus_is_capped_at_100_mci(kb: KnowledgeBase) -> None:
    p = keleshek_projection(
        kb, birth=date(2020, 1, 1), as_of=AS_OF, monthly_kzt=0, balance=50_000_000
    )
    december = p.rows[0]
    assert december.bonus == 100 * 4325


def test_tenge_contribution_and_the_twelve_mci_warning(kb: KnowledgeBase) -> None:
    p = keleshek_projection(kb, birth=date(2023, 4, 1), as_of=AS_OF, monthly_kzt=4000)
    assert all(r.contributed == 4000 * r.months for r in p.rows)
    # 4,000 ₸ a month is below 1 MCI (4,325 in 2026): below the 12 MCI a year minimum.
    assert "below_minimum" in p.warnings and "start_capital_forfeited" in p.warnings
    assert p.totals["start_capital"] == 0
    enough = keleshek_projection(kb, birth=date(2023, 4, 1), as_of=AS_OF, monthly_kzt=10_000)
    assert enough.totals["start_capital"] > 0


def test_zero_rate_only_adds_contributions_bonus_and_capital(kb: KnowledgeBase) -> None:
    p = keleshek_projection(kb, birth=date(2015, 1, 1), as_of=AS_OF, monthly_mci=1, rate=0.0)
    t = p.totals
    assert t["interest"] == 0
    assert t["final_balance"] == pytest.approx(t["contributed"] + t["bonus"] + t["start_capital"])


def test_insurance_reports_a_tax_benefit_beside_the_account(kb: KnowledgeBase) -> None:
    plain = keleshek_projection(kb, birth=date(2020, 1, 1), as_of=AS_OF, monthly_mci=3)
    insured = keleshek_projection(
        kb, birth=date(2020, 1, 1), as_of=AS_OF, monthly_mci=3, insurance=True
    )
    full_year = next(r for r in insured.rows if r.months == 12)
    assert full_year.tax_benefit == pytest.approx(0.10 * full_year.contributed)  # below 320 MCI
    assert insured.totals["final_balance"] == plain.totals["final_balance"]  # not added


def test_mci_grows_by_the_assumption_after_the_known_years(kb: KnowledgeBase) -> None:
    p = keleshek_projection(kb, birth=date(2020, 1, 1), as_of=AS_OF, monthly_mci=1, mci_growth=0.1)
    mci = p.assumptions["mci_by_year"]
    assert mci[2026] == 4325 and mci[2027] == round(4325 * 1.1)
    assert p.totals["final_balance_today"] < p.totals["final_balance"]


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"monthly_mci": 1, "monthly_kzt": 1000}, "contribution_choice"),
        ({}, "contribution_choice"),
        ({"monthly_mci": -1}, "negative"),
        ({"monthly_mci": 1, "rate": 0.9}, "rate_out_of_range"),
        ({"monthly_mci": 1, "balance": -5}, "negative"),
        ({"monthly_mci": 1, "birth": date(2027, 1, 1)}, "born_in_future"),
        ({"monthly_mci": 1, "birth": date(2008, 11, 1)}, "already_adult"),
    ],
)
def test_invalid_input(kb: KnowledgeBase, kwargs: dict, code: str) -> None:
    kwargs = {"birth": date(2020, 1, 1)} | kwargs
    with pytest.raises(RuleInputError) as error:
        keleshek_projection(kb, as_of=AS_OF, **kwargs)
    assert error.value.code == code


births = st.dates(min_value=date(2009, 1, 1), max_value=AS_OF)
rates = st.floats(min_value=0, max_value=0.2, allow_nan=False)
amounts = st.floats(min_value=0, max_value=200_000, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(birth=births, rate=rates, monthly=amounts, balance=amounts, orphan=st.booleans())
def test_balance_never_decreases(
    birth: date, rate: float, monthly: float, balance: float, orphan: bool
) -> None:
    p = keleshek_projection(
        KB, birth=birth, as_of=AS_OF, monthly_kzt=monthly, rate=rate, balance=balance, orphan=orphan
    )
    balances = [p.opening_balance] + [r.balance for r in p.rows]
    assert all(b2 >= b1 for b1, b2 in itertools.pairwise(balances))


@settings(max_examples=60, deadline=None)
@given(birth=births, rate=rates, low=amounts, extra=amounts, mci=st.sampled_from([1, 2, 3]))
def test_more_contribution_never_gives_less(
    birth: date, rate: float, low: float, extra: float, mci: int
) -> None:
    less = keleshek_projection(KB, birth=birth, as_of=AS_OF, monthly_kzt=low, rate=rate)
    more = keleshek_projection(KB, birth=birth, as_of=AS_OF, monthly_kzt=low + extra, rate=rate)
    assert more.totals["final_balance"] >= less.totals["final_balance"] - 1e-6
    smaller = keleshek_projection(KB, birth=birth, as_of=AS_OF, monthly_mci=mci, rate=rate)
    larger = keleshek_projection(KB, birth=birth, as_of=AS_OF, monthly_mci=mci + 1, rate=rate)
    assert larger.totals["final_balance"] >= smaller.totals["final_balance"]
