"""Things a user sees that are not tied to one conversation: long answers, charts."""

from __future__ import annotations

from datetime import date

from charts.keleshek import comparison_chart, projection_chart
from handlers.common import split_message
from knowledge.base import load_knowledge
from knowledge.keleshek import keleshek_projection

PNG = b"\x89PNG\r\n\x1a\n"


def test_long_answers_are_split_at_line_breaks_under_the_telegram_limit() -> None:
    text = "\n".join(f"line {i} " + "x" * 90 for i in range(200))  # about 20,000 characters
    chunks = split_message(text)
    assert len(chunks) > 1 and all(len(c) <= 4000 for c in chunks)
    assert "\n".join(chunks) == text  # nothing lost, nothing cut mid-line
    one_huge_line = "y" * 9000
    assert "".join(split_message(one_huge_line)) == one_huge_line


def test_charts_are_png_pictures_in_every_language() -> None:
    kb = load_knowledge()
    runs = {
        n: keleshek_projection(kb, birth=date(2024, 5, 1), as_of=date(2026, 11, 25), monthly_mci=n)
        for n in (1, 2, 3)
    }
    for lang in ("kk", "ru", "en"):
        for picture in (projection_chart(runs[1], lang), comparison_chart(runs, lang)):
            assert picture.startswith(PNG) and len(picture) > 10_000
