"""Counted phrases in the answer templates take the plural form of their number by CLDR's
rules: 1, 2, 5, 11, 21, 22 and 101 of each, in each language. (The catalogue's counted
messages are checked the same way in test_i18n.py.)"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from knowledge.answers import TEMPLATES_DIR, AnswerRenderer
from knowledge.base import load_knowledge
from knowledge.plurals import plural_form
from tests.conftest import edit_data_file

COUNTS = (1, 2, 5, 11, 21, 22, 101)
# The form each of COUNTS takes, written out rather than computed: Russian one, few, many,
# many (11 is not "one"), one (21), few (22), one (101); Kazakh and English one, then other.
EXPECTED_FORM = {
    "ru": (0, 1, 2, 2, 0, 1, 0),
    "kk": (0, 1, 1, 1, 1, 1, 1),
    "en": (0, 1, 1, 1, 1, 1, 1),
}
NUMBER_OF_FORMS = {"ru": 3, "kk": 2, "en": 2}
STRING = r'"((?:[^"\\]|\\.)*)"'
PLURAL_CALL = re.compile(rf"plural\([^,]+,\s*{STRING},\s*{STRING},\s*{STRING}\)")


def counted_phrases() -> list[tuple[str, dict[str, str]]]:
    found = []
    for path in sorted(TEMPLATES_DIR.glob("*.j2")):
        for kk, ru, en in PLURAL_CALL.findall(path.read_text(encoding="utf-8")):
            found.append((path.name, {"kk": kk, "ru": ru, "en": en}))
    return found


def test_the_templates_count_with_plural_forms() -> None:
    phrases = counted_phrases()
    assert len(phrases) >= 15  # every counted phrase in the answers goes through plural()
    for name, _ in phrases:
        assert name != "_footer.j2"


@pytest.mark.parametrize(("template", "forms"), counted_phrases())
def test_each_counted_phrase_for_1_2_5_11_21_22_101(template: str, forms: dict[str, str]) -> None:
    for lang, joined in forms.items():
        options = joined.split("|")
        if len(options) == 1:  # words that do not change (Kazakh after a number), or none
            continue
        assert len(options) == NUMBER_OF_FORMS[lang], (template, lang, joined)
        got = [plural_form(lang, n, joined) for n in COUNTS]
        assert got == [options[i] for i in EXPECTED_FORM[lang]], (template, lang)


def test_russian_questions_in_words() -> None:
    forms = "вопрос|вопроса|вопросов"
    words = [f"{n} {plural_form('ru', n, forms)}" for n in COUNTS]
    assert words == [
        "1 вопрос",
        "2 вопроса",
        "5 вопросов",
        "11 вопросов",
        "21 вопрос",
        "22 вопроса",
        "101 вопрос",
    ]


def test_a_fraction_takes_the_form_cldr_gives_it() -> None:
    assert plural_form("ru", 1.5, "год|года|лет") == "года"  # «1,5 года обучения»
    assert plural_form("en", 1.5, "year|years") == "years"
    assert plural_form("en", 1, "year|years") == "year"


def test_a_wrong_number_of_forms_is_refused() -> None:
    with pytest.raises(ValueError, match="3 plural forms"):
        plural_form("ru", 2, "вопрос|вопросов")


@pytest.mark.parametrize(
    ("lang", "total", "sittings", "attempts"),
    [
        ("ru", "Всего: 101 вопрос, 140 баллов.", "В год проходит 1 тестирование:", "21 раз;"),
        ("kk", "Барлығы: 101 сұрақ, 140 балл.", "Жылына 1 тестілеу өтеді:", "21 рет тапсыруға"),
        ("en", "In total: 101 questions, 140 points.", "held 1 time a year:", "21 times;"),
    ],
)
def test_answers_render_counts_from_the_data_in_the_right_form(
    data_copy: Path, lang: str, total: str, sittings: str, attempts: str
) -> None:
    """Numbers other than today's data: the words follow them."""
    unt = data_copy / "unt.yaml"
    edit_data_file(unt, "total_questions: {value: 120", "total_questions: {value: 101")
    edit_data_file(unt, "main_attempts: {value: 2", "main_attempts: {value: 21")
    edit_data_file(unt, "sittings_per_year: {value: 5", "sittings_per_year: {value: 1")
    renderer = AnswerRenderer(load_knowledge(data_copy))
    today = date(2026, 11, 25)
    assert total in renderer.render("unt_format", lang, today).html
    sittings_answer = renderer.render("unt_sittings", lang, today).html
    assert sittings in sittings_answer and attempts in sittings_answer
