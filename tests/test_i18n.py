"""Every user-facing string exists in kk, ru and en, and renders; counts take the plural form
CLDR gives for the number in each language."""

from __future__ import annotations

import re

import pytest
from babel import Locale
from babel.messages.plurals import get_plural
from jinja2 import Template

from i18n import LANGUAGES, I18n, Text

PLACEHOLDER = re.compile(r"{{\s*(\w+)")
COUNTS = (1, 2, 5, 11, 21, 22, 101)
# CLDR's categories in gettext's order of forms (the order of msgstr[0], msgstr[1], ...).
CATEGORY_ORDER = ("zero", "one", "two", "few", "many", "other")


@pytest.fixture(scope="module")
def i18n() -> I18n:
    return I18n()


def forms(text: Text) -> tuple[str, ...]:
    return text if isinstance(text, tuple) else (text,)


def test_every_key_exists_in_every_language(i18n: I18n) -> None:
    keys = {lang: set(catalogue) for lang, catalogue in i18n.catalogues.items()}
    union = set().union(*keys.values())
    missing = {lang: sorted(union - have) for lang, have in keys.items() if union - have}
    assert not missing, f"missing translations: {missing}"


def test_translations_use_the_same_placeholders_and_are_not_empty(i18n: I18n) -> None:
    for key, english in i18n.catalogues["en"].items():
        expected = set(PLACEHOLDER.findall(forms(english)[0]))
        for lang in i18n.languages:
            for text in forms(i18n.catalogues[lang][key]):
                assert text.strip(), f"{lang}:{key} is empty"
                assert set(PLACEHOLDER.findall(text)) == expected, (
                    f"{lang}:{key} placeholders differ"
                )


def test_every_string_renders_and_escapes_user_values(i18n: I18n) -> None:
    for lang in i18n.languages:
        for key, text in i18n.catalogues[lang].items():
            names = {name for form in forms(text) for name in PLACEHOLDER.findall(form)}
            params: dict[str, object] = {name: "<script>&" for name in names - {"count"}}
            if "count" in names:
                params["count"] = 3
            rendered = i18n.t(lang, key, **params)
            assert "<script>" not in rendered
            if len(params) > ("count" in params):
                assert "&lt;script&gt;&amp;" in rendered


def test_kazakh_strings_are_kazakh(i18n: I18n) -> None:
    """A crude guard against a Russian string pasted into kk.po: Kazakh-specific letters."""
    kazakh_letters = set("әғқңөұүһі")
    texts = {
        f"{k}[{i}]": re.sub(r"{{.*?}}|<[^>]+>", "", form)
        for k, v in i18n.catalogues["kk"].items()
        for i, form in enumerate(forms(v))
    }
    prose = [v for k, v in texts.items() if len(v) > 40 and k != "language.prompt[0]"]
    without = [v for v in prose if not kazakh_letters & set(v.lower())]
    assert not without, without


def test_a_missing_key_fails_loudly(i18n: I18n) -> None:
    with pytest.raises(KeyError, match=r"no\.such\.key"):
        i18n.t("en", "no.such.key")


def test_each_catalogue_has_its_languages_plural_forms(i18n: I18n) -> None:
    """The Plural-Forms header is the one gettext tools expect for the language, and its rule
    picks the same form as CLDR's rules (through Babel) for every whole number."""
    for lang in LANGUAGES:
        expected = get_plural(lang)
        assert i18n.po[lang].plural_forms == expected.plural_forms
        locale = Locale.parse(lang)
        categories = [c for c in CATEGORY_ORDER if c in {*locale.plural_form.tags, "other"}]
        for n in range(0, 1201):
            cldr = locale.plural_form(n)
            assert i18n.form_index(lang, n) == categories.index(cldr), (lang, n, cldr)


def test_plural_entries_are_plural_in_every_language_with_all_their_forms(i18n: I18n) -> None:
    for key, english in i18n.catalogues["en"].items():
        plural = isinstance(english, tuple)
        for lang in LANGUAGES:
            text = i18n.catalogues[lang][key]
            assert isinstance(text, tuple) == plural, f"{lang}:{key} plural in some languages only"
            if plural:
                assert len(text) == get_plural(lang).num_plurals, f"{lang}:{key} forms"


def test_every_count_is_a_plural_entry(i18n: I18n) -> None:
    """A string that counts something (a `count` placeholder) has its forms written out, not
    one hand-made form for every number."""
    for lang in LANGUAGES:
        for key, text in i18n.catalogues[lang].items():
            if "count" in PLACEHOLDER.findall(forms(text)[0]):
                assert isinstance(text, tuple), f"{lang}:{key} counts with one form"


def test_every_counted_phrase_takes_the_form_of_its_number(i18n: I18n) -> None:
    """1, 2, 5, 11, 21, 22 and 101 of each counted phrase in each language: the rendered text
    is the form of the number's CLDR category (ru: one, few, many, many, one, few, one)."""
    for lang in LANGUAGES:
        locale = Locale.parse(lang)
        categories = [c for c in CATEGORY_ORDER if c in {*locale.plural_form.tags, "other"}]
        for key, text in i18n.catalogues[lang].items():
            if not isinstance(text, tuple):
                continue
            names = {name for form in text for name in PLACEHOLDER.findall(form)} - {"count"}
            params = {name: "X" for name in names}
            for n in COUNTS:
                form = text[categories.index(locale.plural_form(n))]
                expected = Template(form).render(count=n, **params)
                assert i18n.plain(lang, key, count=n, **params) == expected, (lang, key, n)


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("ru", ["1 число", "2 числа", "5 чисел", "11 чисел", "21 число", "22 числа", "101 число"]),
        ("kk", ["1 сан", "2 сан", "5 сан", "11 сан", "21 сан", "22 сан", "101 сан"]),
        (
            "en",
            [
                "1 number",
                "2 numbers",
                "5 numbers",
                "11 numbers",
                "21 numbers",
                "22 numbers",
                "101 numbers",
            ],
        ),
    ],
)
def test_the_unt_count_message_in_words(i18n: I18n, lang: str, expected: list[str]) -> None:
    rendered = [i18n.t(lang, "unt.wrong_count", count=n) for n in COUNTS]
    assert [phrase in text for phrase, text in zip(expected, rendered, strict=True)] == [True] * 7


def test_russian_recipients_and_points(i18n: I18n) -> None:
    scheduled = {
        n: i18n.t("ru", "broadcast.scheduled", when="01.06.2026 10:00", tz="Asia/Almaty", count=n)
        for n in COUNTS
    }
    endings = ("ь.", "я.", "ей.", "ей.", "ь.", "я.", "ь.")
    found = [f"{n} получател{e}" in scheduled[n] for n, e in zip(COUNTS, endings, strict=True)]
    assert found == [True] * 7
    above = i18n.t("ru", "unt.part_above_max", part="Математика", count=21, value=25)
    assert "максимум 21 балл," in above
    assert "максимум 10 баллов," in i18n.t("ru", "unt.part_above_max", part="М", count=10, value=12)


def test_a_plural_entry_needs_its_count(i18n: I18n) -> None:
    with pytest.raises(TypeError, match="count"):
        i18n.t("ru", "unt.wrong_count")
