"""Text normalisation and entity extraction for questions in Kazakh, Russian and English.

Everything is folded into one Latin "skeleton": Cyrillic (with the Kazakh letters), the Kazakh
Latin alphabet and everyday Russian transliteration all map to the same ASCII letters, so
"ұбт", "ubt", "ЕНТ" and "ent" meet, and so do "квота", "kvota" and "qouta"-like typos after
fuzzy matching. Words are then compared by prefix: Kazakh adds suffixes (грант-қа, грант-тар)
and Russian endings change (квот-а, квот-ы), but the stem stays in front."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

_CYRILLIC = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "е": "e",
    "ё": "e",
    "ж": "zh",
    "з": "z",
    "и": "i",
    "й": "i",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "х": "h",
    "ц": "ts",
    "ч": "ch",
    "ш": "sh",
    "щ": "sh",
    "ъ": "",
    "ы": "y",
    "ь": "",
    "э": "e",
    "ю": "yu",
    "я": "ya",
    # Kazakh letters fold onto their nearest Russian-keyboard spelling.
    "ә": "a",
    "ғ": "g",
    "қ": "k",
    "ң": "n",
    "ө": "o",
    "ұ": "u",
    "ү": "u",
    "һ": "h",
    "і": "i",
}
_LATIN = {
    # Kazakh Latin (2017–2021 variants) and Uzbek-style spellings people type.
    "á": "a",
    "ä": "a",
    "ǵ": "g",
    "ğ": "g",
    "ń": "n",
    "ñ": "n",
    "ó": "o",
    "ö": "o",
    "ú": "u",
    "ü": "u",
    "ı": "i",
    "ş": "sh",
    "ç": "ch",
    "q": "k",
    "x": "h",
    "j": "zh",
    "w": "v",
}
_WORD = re.compile(r"[a-z0-9]+")
_REPEATS = re.compile(r"(.)\1+")


@lru_cache(maxsize=4096)  # data labels are matched against over and over
def skeleton(text: str) -> str:
    """Lower-case ASCII skeleton of any text (see the module docstring)."""
    out = []
    for char in text.lower():
        if char in _CYRILLIC:
            out.append(_CYRILLIC[char])
        elif char in _LATIN:
            out.append(_LATIN[char])
        elif char.isascii():
            out.append(char)
        else:
            # Other accented Latin letters lose their accent; anything else is a separator.
            base = unicodedata.normalize("NFKD", char)[0]
            out.append(base if base.isascii() and base.isalpha() else " ")
    # Doubled letters are the commonest typo and Kazakh doubles consonants at suffixes.
    return _REPEATS.sub(r"\1", "".join(out))


def words(text: str) -> list[str]:
    return _WORD.findall(skeleton(text))


# One spelling for words people write several ways (after the skeleton): the test is ЕНТ in
# Russian, ҰБТ in Kazakh, UNT or ENT in English; chat shortens and misspells the rest.
_SYNONYMS = {
    "ubt": "ent",
    "unt": "ent",
    "skoka": "skolko",
    "skolka": "skolko",
    "shto": "chto",
    "sho": "chto",
    "che": "chto",
    "nado": "nuzhno",
    "kanca": "kansha",
    "pls": "please",
    "plz": "please",
    "pozhalusta": "pozhaluista",
    "grand": "grant",
    "granty": "grant",
    "balov": "bal",
    "bala": "bal",
    "baly": "bal",
    "points": "bal",
    "score": "bal",
}


def match_text(text: str) -> str:
    """The folded words of a text with one spelling per synonym, for example matching."""
    return " ".join(_SYNONYMS.get(word, word) for word in words(text))


# ------------------------------------------------------------------------------ entities
_NUMBER = re.compile(r"(?<![\w.])(\d{1,4})(?![\d.,]\d)")
_GROUP_CODE = re.compile(r"(?<![A-Za-zА-Яа-я0-9])[BbВв]\s?-?\s?(\d{3})(?!\d)")
_PROGRAMME_CODE = re.compile(r"(?<![A-Za-z0-9])([6-8][MmМмBbВвDd]\d{5})(?!\d)")
_YEAR = re.compile(r"(?<!\d)(20[2-3]\d)(?!\d)")


@dataclass
class Entities:
    numbers: list[int] = field(default_factory=list)
    scores: list[int] = field(default_factory=list)
    years: list[int] = field(default_factory=list)
    group_codes: list[str] = field(default_factory=list)
    programme_codes: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    quotas: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[int] | list[str]]:
        return {k: v for k, v in self.__dict__.items() if v}


def group_codes(text: str) -> list[str]:
    """Programme-group codes in raw text, normalised: "в 057", "B-057" and "b057" are B057."""
    return [f"B{m}" for m in _GROUP_CODE.findall(text)]


def extract_numbers(text: str) -> tuple[list[int], list[int], list[str], list[str]]:
    """Numbers, years, group codes (B057) and programme codes (7M06102) in raw text."""
    codes = group_codes(text)
    programme_codes = [
        code[0] + "M" + code[2:] if code[1] in "Мм" else code.upper()
        for code in _PROGRAMME_CODE.findall(text)
    ]
    stripped = _PROGRAMME_CODE.sub(" ", _GROUP_CODE.sub(" ", text))
    # "086" (a medical form) and "3×4" (a photo size) are not scores: drop leading zeros
    # and numbers glued to ×/x.
    stripped = re.sub(r"\d+\s*[×x]\s*\d+", " ", stripped)
    years = [int(y) for y in _YEAR.findall(stripped)]
    numbers = [int(n) for n in _NUMBER.findall(_YEAR.sub(" ", stripped)) if not n.startswith("0")]
    return numbers, years, codes, programme_codes
