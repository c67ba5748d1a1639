"""Keleshek education savings projection: a pure function over the savings data.

The model (the README states it for parents and staff):
- Months run from the first month after `as_of` up to and including the month before the
  18th birthday. Each month the contribution is added at the start (contributions given in
  MCI use that calendar year's MCI), then interest `balance × rate / 12`.
- After December's interest the state bonus is added: `min(bonus_rate × balance, 100 MCI)`,
  5% a year, 7% for socially vulnerable children and orphans.
- Start capital: 60 MCI (120 for orphans) at that year's MCI, added at the start of the month
  of the 5th birthday, only if the child turns 5 in 2025 or later and that year's
  contributions reach 12 MCI. If that month is already past, it is part of the opening balance:
  when the parent gave a balance, inside it; when no balance was given, the opening balance is
  the start capital credited then (at that year's MCI, without the unknown interest and
  contributions since), so a five-year-old's projection does not silently drop it.
- A year with contributions below 12 MCI gets a warning (it would forfeit the start capital).
- MCI: known values from the data; later years grow by `mci_growth` (default 5%).
- Tax benefit (insurance contract only): 10% of `min(contributions in the year, 320 MCI)`,
  reported beside the account, not added to it.
- The final balance is also given in today's tenge, deflated by the MCI growth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from knowledge.base import KnowledgeBase
from knowledge.facts import Provenance
from knowledge.rules import RuleInputError

MAX_RATE = 0.5
DEFAULT_RATE = 0.08
DEFAULT_MCI_GROWTH = 0.05


@dataclass
class YearRow:
    year: int
    age: int
    months: int
    contributed: float = 0.0
    interest: float = 0.0
    bonus: float = 0.0
    start_capital: float = 0.0
    tax_benefit: float = 0.0
    balance: float = 0.0
    mci: int = 0
    below_minimum: bool = False


@dataclass
class Projection:
    rows: list[YearRow]
    opening_balance: float
    assumptions: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    facts: list[Provenance] = field(default_factory=list, repr=False)

    @property
    def totals(self) -> dict[str, float]:
        def total(name: str) -> float:
            return round(sum(getattr(r, name) for r in self.rows), 2)

        final = self.rows[-1].balance if self.rows else self.opening_balance
        deflator = self.assumptions["mci_by_year"]
        first_year, last_year = self.rows[0].year, self.rows[-1].year
        today_factor = deflator[first_year] / deflator[last_year]
        return {
            "contributed": total("contributed"),
            "interest": total("interest"),
            "bonus": total("bonus"),
            "start_capital": total("start_capital"),
            "tax_benefit": total("tax_benefit"),
            "final_balance": round(final, 2),
            "final_balance_today": round(final * today_factor, 2),
        }

    def as_json(self) -> dict[str, Any]:
        rows = [
            {k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(r).items()}
            for r in self.rows
        ]
        assumptions = dict(self.assumptions)
        assumptions["mci_by_year"] = {str(k): v for k, v in assumptions["mci_by_year"].items()}
        return {
            "rows": rows,
            "totals": self.totals,
            "assumptions": assumptions,
            "warnings": self.warnings,
        }


def _mci_table(kb: KnowledgeBase, first: int, last: int, growth: float) -> dict[int, int]:
    known = kb.known_mci()
    latest_year = max(known)
    table: dict[int, int] = {}
    for year in range(min(first, min(known)), last + 1):
        if year in known:
            table[year] = known[year]
        elif year > latest_year:
            table[year] = round(known[latest_year] * (1 + growth) ** (year - latest_year))
        else:
            table[year] = known[min(known)]
    return table


def keleshek_projection(
    kb: KnowledgeBase,
    *,
    birth: date,
    as_of: date,
    monthly_mci: float | None = None,
    monthly_kzt: float | None = None,
    orphan: bool = False,
    vulnerable: bool = False,
    insurance: bool = False,
    rate: float | None = None,
    balance: float | None = None,
    mci_growth: float = DEFAULT_MCI_GROWTH,
) -> Projection:
    """`balance=None` means the parent did not say; 0 means the account is empty."""
    k = kb.savings.keleshek
    rate = k.guaranteed_rate_percent.value / 100 if rate is None else rate
    if (monthly_mci is None) == (monthly_kzt is None):
        raise RuleInputError("contribution_choice")
    if (monthly_mci or 0) < 0 or (monthly_kzt or 0) < 0:
        raise RuleInputError("negative", part="contribution", value=monthly_mci or monthly_kzt)
    if not 0 <= rate <= MAX_RATE:
        raise RuleInputError("rate_out_of_range", value=rate, max=MAX_RATE)
    if balance is not None and balance < 0:
        raise RuleInputError("negative", part="balance", value=balance)
    if not -0.5 < mci_growth < 0.5:
        raise RuleInputError("growth_out_of_range", value=mci_growth)
    if birth > as_of:
        raise RuleInputError("born_in_future", birth=birth.isoformat())
    adult = date(birth.year + 18, birth.month, 1)
    first_month = (as_of.year, as_of.month + 1) if as_of.month < 12 else (as_of.year + 1, 1)
    if (first_month[0], first_month[1]) >= (adult.year, adult.month):
        raise RuleInputError("already_adult", birth=birth.isoformat())

    mci = _mci_table(kb, first_month[0], adult.year, mci_growth)
    bonus_rate = (
        k.bonus_rate_percent_vulnerable.value
        if (vulnerable or orphan)
        else k.bonus_rate_percent.value
    ) / 100
    capital_mci = k.start_capital_mci_orphans.value if orphan else k.start_capital_mci.value
    fifth = (birth.year + k.start_capital_age.value, birth.month)
    eligible = fifth[0] >= k.start_capital_first_cohort.value
    capital_due = eligible and fifth >= first_month
    capital_past = eligible and not capital_due
    # Credited in the past and no balance given: the capital is the one amount we do know.
    assumed_capital = capital_mci * mci[fifth[0]] if balance is None and capital_past else None
    opening = float(balance) if balance is not None else float(assumed_capital or 0.0)

    def contribution(year: int) -> float:
        return monthly_mci * mci[year] if monthly_mci is not None else float(monthly_kzt or 0)

    def meets_minimum(year: int, months: int) -> bool:
        # Judged on the whole year's pace, so a partial first or last year is not penalised.
        return contribution(year) * 12 >= k.min_yearly_contribution_mci.value * mci[year] - 1e-9

    rows: dict[int, YearRow] = {}
    money = opening
    year, month = first_month
    while (year, month) < (adult.year, adult.month):
        row = rows.get(year)
        if row is None:
            row = rows[year] = YearRow(year=year, age=year - birth.year, months=0, mci=mci[year])
        row.months += 1
        paid = contribution(year)
        money += paid
        row.contributed += paid
        if capital_due and (year, month) == fifth and meets_minimum(year, 12):
            capital = capital_mci * mci[year]
            money += capital
            row.start_capital += capital
        interest = money * rate / 12
        money += interest
        row.interest += interest
        if month == 12:
            bonus = min(bonus_rate * money, k.bonus_cap_mci.value * mci[year])
            money += bonus
            row.bonus += bonus
        row.balance = money
        year, month = (year, month + 1) if month < 12 else (year + 1, 1)

    warnings: list[str] = []
    for row in rows.values():
        row.below_minimum = not meets_minimum(row.year, row.months)
        if insurance:
            cap = k.tax_benefit_cap_mci.value * mci[row.year]
            row.tax_benefit = k.tax_benefit_percent.value / 100 * min(row.contributed, cap)
    low_years = [r.year for r in rows.values() if r.below_minimum]
    if low_years:
        warnings.append("below_minimum")
    if capital_due and fifth[0] in low_years:
        warnings.append("start_capital_forfeited")

    facts: list[Provenance] = [
        k.guaranteed_rate_percent,
        k.bonus_rate_percent,
        k.bonus_rate_percent_vulnerable,
        k.bonus_cap_mci,
        k.start_capital_mci,
        k.start_capital_mci_orphans,
        k.start_capital_age,
        k.start_capital_first_cohort,
        k.min_yearly_contribution_mci,
        *kb.savings.mci,
    ]
    if insurance:
        facts += [k.tax_benefit_percent, k.tax_benefit_cap_mci]
    return Projection(
        rows=list(rows.values()),
        opening_balance=opening,
        assumptions={
            "birth": birth.isoformat(),
            "as_of": as_of.isoformat(),
            "monthly_mci": monthly_mci,
            "monthly_kzt": monthly_kzt,
            "rate": rate,
            "mci_growth": mci_growth,
            "bonus_rate": bonus_rate,
            "orphan": orphan,
            "vulnerable": vulnerable,
            "insurance": insurance,
            "start_capital_mci": capital_mci if capital_due else 0,
            "start_capital_in_opening_balance": capital_past,
            "balance_given": balance is not None,
            # Set when the opening balance is only the start capital we assumed was credited.
            "assumed_start_capital": (
                {
                    "amount": round(assumed_capital, 2),
                    "mci": capital_mci,
                    "year": fifth[0],
                    "month": fifth[1],
                }
                if assumed_capital is not None
                else None
            ),
            "mci_by_year": mci,
            "known_mci_years": sorted(kb.known_mci()),
        },
        warnings=warnings,
        facts=facts,
    )
