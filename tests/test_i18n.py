"""Every user-facing string exists in kk, ru and en, and renders."""

from __future__ import annotations

import re

import pytest

from i18n import I18n

PLACEHOLDER = re.compile(r"{{\s*(\w+)")


@pytest.fixture(scope="module")
def i18n() -> I18n:
    return I18n()


def test_every_key_exists_in_every_language(i18n: I18n) -> None:
    keys = {lang: set(catalogue) for lang, catalogue in i18n.catalogues.items()}
    union = set().union(*keys.values())
    missing = {lang: sorted(union - have) for lang, have in keys.items() if union - have}
    assert not missing, f"missing translations: {missing}"


def test_translations_use_the_same_placeholders_and_are_not_empty(i18n: I18n) -> None:
    for key, english in i18n.catalogues["en"].items():
        expected = set(PLACEHOLDER.findall(english))
        for lang in i18n.languages:
            text = i18n.catalogues[lang][key]
            assert text.strip(), f"{lang}:{key} is empty"
            assert set(PLACEHOLDER.findall(text)) == expected, f"{lang}:{key} placeholders differ"


def test_every_string_renders_and_escapes_user_values(i18n: I18n) -> None:
    for lang in i18n.languages:
        for key, text in i18n.catalogues[lang].items():
            params = {name: "<script>&" for name in PLACEHOLDER.findall(text)}
            rendered = i18n.t(lang, key, **params)
            assert "<script>" not in rendered
            if params:
                assert "&lt;script&gt;&amp;" in rendered


def test_kazakh_strings_are_kazakh(i18n: I18n) -> None:
    """A crude guard against a Russian string pasted into kk.yaml: Kazakh-specific letters."""
    kazakh_letters = set("әғқңөұүһі")
    texts = {k: re.sub(r"{{.*?}}|<[^>]+>", "", v) for k, v in i18n.catalogues["kk"].items()}
    prose = [v for k, v in texts.items() if len(v) > 40 and k != "language.prompt"]
    without = [v for v in prose if not kazakh_letters & set(v.lower())]
    assert not without, without


def test_a_missing_key_fails_loudly(i18n: I18n) -> None:
    with pytest.raises(KeyError, match=r"no\.such\.key"):
        i18n.t("en", "no.such.key")
