"""User-facing strings in Kazakh, Russian and English.

Each language is one YAML file in `i18n/locales/`; nested keys are joined with dots and every
value is a Jinja2 template. Messages are sent in HTML parse mode, so `t()` escapes the values
it is given (user text can never inject markup); `t.plain()` is for button labels and other
places where Telegram shows text as is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from jinja2 import Environment, StrictUndefined, Template

Language = Literal["kk", "ru", "en"]
LANGUAGES: tuple[Language, ...] = ("kk", "ru", "en")

LOCALES_DIR = Path(__file__).parent / "locales"
LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= _flatten(value, f"{full}.")
        else:
            flat[full] = str(value).rstrip("\n")
    return flat


class I18n:
    def __init__(self, locales_dir: Path = LOCALES_DIR, languages: Iterable[str] = LANGUAGES):
        self.languages = tuple(languages)
        self._html = Environment(
            autoescape=True, undefined=StrictUndefined, keep_trailing_newline=False
        )
        self._plain = Environment(autoescape=False, undefined=StrictUndefined)
        self.catalogues: dict[str, dict[str, str]] = {}
        for lang in self.languages:
            raw = yaml.safe_load((locales_dir / f"{lang}.yaml").read_text(encoding="utf-8"))
            self.catalogues[lang] = _flatten(raw or {})
        self._compiled: dict[tuple[str, str, bool], Template] = {}

    def _template(self, lang: str, key: str, html: bool) -> Template:
        cache_key = (lang, key, html)
        template = self._compiled.get(cache_key)
        if template is None:
            catalogue = self.catalogues.get(lang) or self.catalogues[self.languages[0]]
            source = catalogue.get(key)
            if source is None:
                raise KeyError(f"missing translation {key!r} for language {lang!r}")
            template = (self._html if html else self._plain).from_string(source)
            self._compiled[cache_key] = template
        return template

    def t(self, lang: str, key: str, /, **params: Any) -> str:
        return self._template(lang, key, html=True).render(**params)

    def plain(self, lang: str, key: str, /, **params: Any) -> str:
        return self._template(lang, key, html=False).render(**params)

    def translator(self, lang: str) -> Translator:
        return Translator(self, lang if lang in self.catalogues else self.languages[0])


@dataclass(frozen=True, slots=True)
class Translator:
    """The catalogue bound to one user's language; handlers receive it as `t`."""

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
