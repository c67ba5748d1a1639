"""User-facing strings in Kazakh, Russian and English.

Each language is one gettext catalogue, `i18n/locales/{kk,ru,en}.po`, read at start-up with
Babel (nothing to compile). An entry's msgctxt is the dotted key the code asks for
(`t("unt.wrong_count", count=3)`), its msgid the English text and its msgstr the translation;
every msgstr is a Jinja2 template. A plural entry (msgid_plural, msgstr[0], msgstr[1], ...)
picks its form by the `count` parameter with the catalogue's Plural-Forms rule, which is
CLDR's for the language (kk and en: one, other; ru: one, few, many), so "1 вопрос, 2 вопроса,
5 вопросов, 21 вопрос" comes out right without any form written by hand.

Messages are sent in HTML parse mode, so `t()` escapes the values it is given (user text can
never inject markup); `t.plain()` is for button labels and other places where Telegram shows
text as is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from gettext import c2py
from pathlib import Path
from typing import Any, Literal

from babel.messages.pofile import read_po
from jinja2 import Environment, StrictUndefined, Template

Language = Literal["kk", "ru", "en"]
LANGUAGES: tuple[Language, ...] = ("kk", "ru", "en")

LOCALES_DIR = Path(__file__).parent / "locales"
LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}

Forms = tuple[str, ...]
"""A plural entry's texts, in the order of the catalogue's Plural-Forms."""
Text = str | Forms


@dataclass(frozen=True)
class Catalogue:
    entries: dict[str, Text]
    plural: Callable[[int], int]
    """gettext's form index for a whole count (the Plural-Forms expression)."""
    plural_forms: str


def read_catalogue(path: Path, lang: str) -> Catalogue:
    with path.open("rb") as fp:
        catalog = read_po(fp, locale=lang)
    entries: dict[str, Text] = {}
    for message in catalog:
        if not message.context:
            continue  # the header
        if message.pluralizable:
            ids = message.id
            # An untranslated form falls back to the English one, as gettext does.
            entries[message.context] = tuple(
                (form or ids[min(i, 1)]).rstrip("\n") for i, form in enumerate(message.string)
            )
        else:
            entries[message.context] = (message.string or message.id).rstrip("\n")
    return Catalogue(entries, c2py(catalog.plural_expr), catalog.plural_forms)


class I18n:
    def __init__(self, locales_dir: Path = LOCALES_DIR, languages: Iterable[str] = LANGUAGES):
        self.languages = tuple(languages)
        self._html = Environment(
            autoescape=True, undefined=StrictUndefined, keep_trailing_newline=False
        )
        self._plain = Environment(autoescape=False, undefined=StrictUndefined)
        self.po: dict[str, Catalogue] = {
            lang: read_catalogue(locales_dir / f"{lang}.po", lang) for lang in self.languages
        }
        self.catalogues: dict[str, dict[str, Text]] = {
            lang: catalogue.entries for lang, catalogue in self.po.items()
        }
        self._compiled: dict[tuple[str, str, bool, int], Template] = {}

    def form_index(self, lang: str, count: Any) -> int:
        """Which of a plural entry's forms `count` takes in `lang`."""
        return self.po[lang].plural(abs(int(count)))

    def _template(self, lang: str, key: str, html: bool, params: dict[str, Any]) -> Template:
        lang = lang if lang in self.po else self.languages[0]
        source = self.po[lang].entries.get(key)
        if source is None:
            raise KeyError(f"missing translation {key!r} for language {lang!r}")
        index = -1
        if isinstance(source, tuple):
            if "count" not in params:
                raise TypeError(f"{key!r} is a plural entry: pass count=")
            index = min(self.form_index(lang, params["count"]), len(source) - 1)
        cache_key = (lang, key, html, index)
        template = self._compiled.get(cache_key)
        if template is None:
            text = source[index] if isinstance(source, tuple) else source
            template = (self._html if html else self._plain).from_string(text)
            self._compiled[cache_key] = template
        return template

    def t(self, lang: str, key: str, /, **params: Any) -> str:
        return self._template(lang, key, True, params).render(**params)

    def plain(self, lang: str, key: str, /, **params: Any) -> str:
        return self._template(lang, key, False, params).render(**params)

    def translator(self, lang: str) -> Translator:
        return Translator(self, lang if lang in self.catalogues else self.languages[0])


@dataclass(frozen=True, slots=True)
class Translator:
    """The catalogue bound to one user's language; handlers receive it as `t`. A plural
    entry takes its form from `count`: `t("unt.wrong_count", count=3)`."""

    i18n: I18n
    lang: str

    def __call__(self, key: str, /, **params: Any) -> str:
        return self.i18n.t(self.lang, key, **params)

    def plain(self, key: str, /, **params: Any) -> str:
        return self.i18n.plain(self.lang, key, **params)


def telegram_language(language_code: str | None, default: str) -> str:
    """The bot language for what the Telegram app reports ("en-US" → "en"), else `default`."""
    code = (language_code or "")[:2]
    return code if code in LANGUAGES else default
