"""PNG charts for the Keleshek projection, sized to be read on a phone."""

from __future__ import annotations

import io
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

from knowledge.keleshek import Projection

LABELS = {
    "kk": {
        "own": "Жарналар",
        "interest": "Пайыз",
        "bonus": "Мемлекет сыйақысы",
        "capital": "Бастапқы капитал",
        "opening": "Қазіргі қалдық",
        "opening_assumed": "Бастапқы капитал, {when} (болжам)",
        "title": "«Келешек» жинағы",
        "compare": "1, 2 және 3 АЕК салсаңыз",
        "age": "жас",
        "million": "млн ₸",
        "mci": "АЕК/ай",
    },
    "ru": {
        "own": "Взносы",
        "interest": "Проценты",
        "bonus": "Премия государства",
        "capital": "Стартовый капитал",
        "opening": "Текущий остаток",
        "opening_assumed": "Стартовый капитал, {when} (допущение)",
        "title": "Накопления «Келешек»",
        "compare": "Если вносить 1, 2 или 3 МРП",
        "age": "лет",
        "million": "млн ₸",
        "mci": "МРП/мес",
    },
    "en": {
        "own": "Contributions",
        "interest": "Interest",
        "bonus": "State bonus",
        "capital": "Start capital",
        "opening": "Current balance",
        "opening_assumed": "Start capital, {when} (assumed)",
        "title": "Keleshek savings",
        "compare": "Paying 1, 2 or 3 MCI a month",
        "age": "age",
        "million": "M ₸",
        "mci": "MCI/month",
    },
}
COLOURS = {
    "opening": "#9e9e9e",
    "own": "#1e88e5",
    "interest": "#43a047",
    "bonus": "#fb8c00",
    "capital": "#8e24aa",
}


def _millions(lang: str) -> FuncFormatter:
    unit = LABELS[lang]["million"]

    def fmt(value: float, _pos: int) -> str:
        text = f"{value / 1e6:.1f}"
        return f"{text if lang == 'en' else text.replace('.', ',')} {unit}"

    return FuncFormatter(fmt)


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def projection_chart(projection: Projection, lang: str) -> bytes:
    """Stacked bars: what the balance at the end of each year is made of."""
    labels = LABELS[lang]
    years = [r.year for r in projection.rows]
    cumulative = {"own": 0.0, "interest": 0.0, "bonus": 0.0, "capital": 0.0}
    series: dict[str, list[float]] = {key: [] for key in ("opening", *cumulative)}
    for row in projection.rows:
        cumulative["own"] += row.contributed
        cumulative["interest"] += row.interest
        cumulative["bonus"] += row.bonus
        cumulative["capital"] += row.start_capital
        series["opening"].append(projection.opening_balance)
        for key, value in cumulative.items():
            series[key].append(value)
    fig, ax = plt.subplots(figsize=(8, 6))
    bottom = [0.0] * len(years)
    legend = dict(labels)
    assumed = projection.assumptions.get("assumed_start_capital")
    if assumed:
        # No balance was given: the grey base is the start capital credited in the past.
        when = f"{assumed['month']:02d}.{assumed['year']}"
        legend["opening"] = labels["opening_assumed"].format(when=when)
    for key in ("opening", "own", "capital", "interest", "bonus"):
        values = series[key]
        if not any(values):
            continue
        ax.bar(years, values, bottom=bottom, color=COLOURS[key], label=legend[key], width=0.8)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_title(labels["title"], fontsize=18, pad=12)
    ax.yaxis.set_major_formatter(_millions(lang))
    ax.tick_params(labelsize=13)
    ax.legend(fontsize=13, loc="upper left", frameon=False)
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def comparison_chart(projections: Mapping[int, Projection], lang: str) -> bytes:
    """Balance over time for several monthly contributions (in MCI), one line each."""
    labels = LABELS[lang]
    fig, ax = plt.subplots(figsize=(8, 6))
    for mci, projection in projections.items():
        years = [r.year for r in projection.rows]
        balances = [r.balance for r in projection.rows]
        ax.plot(
            years, balances, linewidth=3, marker="o", markersize=4, label=f"{mci} {labels['mci']}"
        )
        ax.annotate(
            _millions(lang)(balances[-1], 0),
            (years[-1], balances[-1]),
            fontsize=12,
            textcoords="offset points",
            xytext=(-10, 8),
            ha="right",
        )
    ax.set_title(labels["compare"], fontsize=18, pad=12)
    ax.yaxis.set_major_formatter(_millions(lang))
    ax.tick_params(labelsize=13)
    ax.legend(fontsize=13, frameon=False)
    ax.grid(alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)
