"""Plural forms by CLDR's rules (through Babel), for the words that follow a number in an
answer: "1 вопрос, 2 вопроса, 5 вопросов, 21 вопрос", "1 question, 2 questions".

The forms are given in gettext's order for the language, the order a translator's tools
show them in: kk and en one|other, ru one|few|many. CLDR's Russian "other" is for fractions
only and takes the genitive singular, which is the few form ("1,5 года")."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from babel import Locale

FORM_ORDER = {"kk": ("one", "other"), "en": ("one", "other"), "ru": ("one", "few", "many")}
# A CLDR category with no form of its own in gettext's order, and the form it takes.
BORROWED = {"ru": {"other": "few"}}


@cache
def _rule(lang: str) -> Callable[[float], str]:
    return Locale.parse(lang).plural_form  # type: ignore[return-value]


def plural_category(lang: str, count: float) -> str:
    """CLDR's category for `count` in `lang`: "one", "few", "many" or "other"."""
    return _rule(lang)(abs(count))


def plural_form(lang: str, count: float, forms: str) -> str:
    """The form of `forms` ("вопрос|вопроса|вопросов") that `count` takes in `lang`; a single
    form is a word that does not change."""
    options = forms.split("|")
    if len(options) == 1:
        return options[0]
    order = FORM_ORDER[lang]
    if len(options) != len(order):
        raise ValueError(f"{lang} has {len(order)} plural forms ({'|'.join(order)}): {forms!r}")
    category = plural_category(lang, count)
    category = BORROWED.get(lang, {}).get(category, category)
    return options[order.index(category)]
