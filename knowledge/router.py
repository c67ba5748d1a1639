"""Free-text question → topic, entities and confidence. Deterministic keyword scoring over the
text skeleton (see knowledge/text.py), with rapidfuzz for typos; no model, no network."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from knowledge.base import KnowledgeBase
from knowledge.schema import TOPICS
from knowledge.text import Entities, extract_numbers, words

# Below this the bot says it is unsure and offers the closest topics as buttons.
LOW_CONFIDENCE = 0.45
MIN_SCORE = 1.0
FUZZY_MIN_LENGTH = 5
FUZZY_CUTOFF = 85
# Quota entities that make a question sensitive (see Router.is_sensitive).
SENSITIVE_QUOTAS = {"orphans", "disability"}

_KAZAKH_LETTERS = set("әғқңөұүһі")
_KK_WORDS = {
    "kansha",
    "neshe",
    "kandai",
    "kalai",
    "degen",
    "bar",
    "ma",
    "me",
    "ba",
    "be",
    "pe",
    "bola",
    "kerek",
    "uchin",
    "ushin",
    "men",
    "kai",
    "kashan",
    "turaly",
    "kimge",
    "ne",
    "rahmet",
    "sau",
}
_RU_WORDS = {
    "chto",
    "kak",
    "skolko",
    "eto",
    "dlya",
    "mozhno",
    "kakoi",
    "kakaya",
    "kakie",
    "kogda",
    "est",
    "li",
    "po",
    "na",
    "ne",
    "ya",
    "u",
    "menya",
    "kto",
    "gde",
    "pri",
    "takoe",
}
_EN_WORDS = {
    "the",
    "what",
    "how",
    "is",
    "can",
    "i",
    "my",
    "do",
    "does",
    "which",
    "when",
    "for",
    "are",
    "a",
    "an",
    "of",
    "to",
    "will",
    "get",
    "with",
    "in",
    "there",
    "much",
    "many",
}
# "IT" in capitals, or in any case inside a Cyrillic sentence ("хочу на it"); in English
# "it" is a pronoun. "айти" only as a word's start ("найти" is "find").
_IT = re.compile(r"(?<![A-Za-z])IT(?![A-Za-z])|(?<!\w)(?i:айти)")
_IT_ANY_CASE = re.compile(r"(?<![A-Za-z])(?i:it)(?![A-Za-z])")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
# Words that ask for a date.
_WHEN = frozenset(words("когда қашан when qashan"))


def detect_language(text: str, default: str = "ru") -> str:
    lowered = text.lower()
    if _KAZAKH_LETTERS & set(lowered):
        return "kk"
    tokens = words(text)
    if any("а" <= c <= "я" or c == "ё" for c in lowered):
        kk = sum(t in _KK_WORDS for t in tokens)
        ru = sum(t in _RU_WORDS for t in tokens)
        return "kk" if kk > ru else "ru"
    if not any(c.isalpha() for c in lowered):
        return default
    # Latin script: English unless Kazakh or Russian words written in Latin letters show.
    kk = sum(t in _KK_WORDS for t in tokens)
    ru = sum(t in _RU_WORDS for t in tokens)
    en = sum(t in _EN_WORDS for t in tokens)
    if max(kk, ru) > en:
        return "kk" if kk > ru else "ru"
    return "en"


# Small talk that often opens or closes a real question; the question wins.
_POLITENESS = ("greeting", "thanks", "goodbye", "acknowledgement")


@dataclass(frozen=True)
class Route:
    topic: str
    confidence: float
    lang: str
    entities: Entities
    scores: dict[str, float] = field(default_factory=dict)
    text: str = ""
    # Which layer decided: "rule" (keywords), "semantic" (examples, knowledge/semantic.py) or
    # "none" (neither is sure: the bot says so and offers `alternatives`).
    layer: str = "rule"
    # Cosine similarity to the nearest example of the topic, when the examples were consulted.
    similarity: float | None = None

    @property
    def is_confident(self) -> bool:
        if self.layer != "rule":
            return self.layer == "semantic"
        return self.confidence >= LOW_CONFIDENCE

    def alternatives(self, count: int = 3) -> list[str]:
        ranked = sorted(self.scores, key=lambda t: -self.scores[t])
        return [t for t in ranked if t not in (self.topic, "out_of_scope") and self.scores[t] > 0][
            :count
        ]


def _compile(phrases: Iterable[str]) -> list[tuple[str, ...]]:
    """Keywords to word tuples. A trailing "=" (e.g. `aqyl=`) asks for the exact word only,
    for stems that would otherwise swallow other words (AQYL the deposit vs ақылы, "paid").
    A trailing "*" (e.g. `информатик*`) asks for words that begin with the stem, without typo
    matching, for stems one letter away from a common word (информатик, информаци)."""
    compiled = []
    for phrase in phrases:
        marker = phrase[-1] if phrase.endswith(("=", "*")) else ""
        parts = words(phrase.rstrip("=*"))
        if parts:
            parts[-1] += marker
            compiled.append(tuple(parts))
    return compiled


def _word_matches(token: str, key: str) -> bool:
    if key.endswith("="):
        return token == key[:-1]
    if key.endswith("*"):
        return token.startswith(key[:-1])
    if token == key:
        return True
    if len(key) >= 3 and token.startswith(key):
        return True
    # A typo: same first letter, close enough, and not much shorter than the stem (a long
    # stem may lose one letter: "treshold").
    return (
        len(key) >= FUZZY_MIN_LENGTH
        and len(token) >= len(key) - (1 if len(key) >= 7 else 0)
        and token[0] == key[0]
        and fuzz.ratio(token[: len(key)], key) >= FUZZY_CUTOFF
    )


class _Matcher:
    """Which keyword words each token matches, computed once per distinct token. Only
    keywords with the token's first letter can match (prefix, exact and fuzzy all need it)."""

    def __init__(self, phrases: Iterable[tuple[str, ...]]) -> None:
        by_letter: dict[str, set[str]] = {}
        for phrase in phrases:
            for word in phrase:
                by_letter.setdefault(word[0], set()).add(word)
        self._by_letter = {k: tuple(sorted(v)) for k, v in by_letter.items()}
        self._cache: dict[str, frozenset[str]] = {}

    def keys_for(self, token: str) -> frozenset[str]:
        keys = self._cache.get(token)
        if keys is None:
            candidates = self._by_letter.get(token[:1], ())
            keys = frozenset(k for k in candidates if _word_matches(token, k))
            if len(self._cache) < 100_000:
                self._cache[token] = keys
        return keys


def _position(candidate: tuple[int, tuple[str, ...], float]) -> int:
    return candidate[0]


def _phrase_in(sets: list[frozenset[str]], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(all(phrase[j] in sets[i + j] for j in range(n)) for i in range(len(sets) - n + 1))


class Router:
    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.keywords = {
            topic: [
                (phrase, weight) for text, weight in table.items() for phrase in _compile([text])
            ]
            for topic, table in kb.router.topics.items()
        }
        self.fields = {name: _compile(aliases) for name, aliases in kb.router.fields.items()}
        self.regions = {code: _compile(aliases) for code, aliases in kb.router.regions.items()}
        self.subjects = {s.id: _compile(s.aliases) for s in kb.subjects.subjects}
        self.quota_words = {
            "rural": _compile(["сельск", "ауыл", "rural", "село", "village", "деревн"]),
            "large_family": _compile(["многодетн", "көпбалалы", "large family"]),
            "single_parent": _compile(["неполн", "толық емес", "single parent"]),
            "orphans": _compile(["сирот", "жетім", "orphan"]),
            "disability": _compile(["инвалид", "мүгедек", "disabilit"]),
            "kandas": _compile(["кандас", "kandas"]),
            "serpin": _compile(["серпин", "серпін"]),
        }
        # A complaint goes to a person at once (with disability and orphan status, below).
        self.complaint_words = _compile(
            ["жалоб", "пожаловат", "жалуюсь", "шағым", "complain", "complaint"]
        )
        every_phrase = [p for phrases in self.keywords.values() for p, _ in phrases]
        every_phrase += self.complaint_words
        # Each table's phrases by their first word, for `entities`.
        self._by_first_word: dict[str, dict[str, list[tuple[str, tuple[str, ...]]]]] = {}
        tables = {
            "fields": self.fields,
            "regions": self.regions,
            "subjects": self.subjects,
            "quotas": self.quota_words,
        }
        for kind, table in tables.items():
            every_phrase += [p for phrases in table.values() for p in phrases]
            index: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
            for name, phrases in table.items():
                for phrase in phrases:
                    if phrase:
                        index.setdefault(phrase[0], []).append((name, phrase))
            self._by_first_word[kind] = index
        self.matcher = _Matcher(every_phrase)
        self._keywords_by_first_word: dict[str, list[tuple[str, int, tuple[str, ...], float]]] = {}
        for topic, phrases in self.keywords.items():
            for position, (phrase, weight) in enumerate(phrases):
                self._keywords_by_first_word.setdefault(phrase[0], []).append(
                    (topic, position, phrase, weight)
                )

    def entities(self, text: str, sets: list[frozenset[str]]) -> Entities:
        numbers, years, groups, programmes = extract_numbers(text)
        present = frozenset().union(*sets)

        def found(kind: str, table: dict[str, list[tuple[str, ...]]]) -> list[str]:
            # Only phrases whose first word the text has are worth the positional scan.
            index = self._by_first_word[kind]
            hits = {
                name
                for word in present
                for name, phrase in index.get(word, ())
                if present.issuperset(phrase) and _phrase_in(sets, phrase)
            }
            return [name for name in table if name in hits] if hits else []

        fields = found("fields", self.fields)
        if "it" not in fields and (
            _IT.search(text) or (_IT_ANY_CASE.search(text) and _CYRILLIC.search(text))
        ):
            fields.append("it")
        regions = found("regions", self.regions)
        if "almaty_region" in regions and "almaty" in regions:
            regions.remove("almaty")
        scores = [n for n in numbers if 0 <= n <= 300 and (len(numbers) >= 5 or n >= 10)]
        return Entities(
            numbers=numbers,
            scores=scores,
            years=years,
            group_codes=groups,
            programme_codes=programmes,
            subjects=found("subjects", self.subjects),
            regions=regions,
            fields=fields,
            quotas=found("quotas", self.quota_words),
        )

    def is_sensitive(self, text: str, entities: Entities) -> bool:
        """Disability, orphan status or a complaint: the bot offers a person at once."""
        if SENSITIVE_QUOTAS & set(entities.quotas):
            return True
        sets = [self.matcher.keys_for(t) for t in words(text)]
        return any(_phrase_in(sets, phrase) for phrase in self.complaint_words)

    def find_entities(self, text: str) -> Entities:
        """Subjects, scores, groups, regions… in a text, without routing it."""
        return self.entities(text, [self.matcher.keys_for(t) for t in words(text)])

    def route(self, text: str, lang: str | None = None, *, default_lang: str = "ru") -> Route:
        """`lang` forces the answer language; otherwise it is detected from the text, falling
        back to `default_lang` (the user's language) when the text gives no clue."""
        tokens = words(text)
        sets = [self.matcher.keys_for(token) for token in tokens]
        present = frozenset().union(*sets)
        entities = self.entities(text, sets)
        detected = lang or detect_language(text, default=default_lang)
        scores = dict.fromkeys(TOPICS, 0.0)
        strongest = dict.fromkeys(TOPICS, 0.0)
        # The keywords whose first word the text has, per topic, in the order they are listed.
        candidates: dict[str, list[tuple[int, tuple[str, ...], float]]] = {}
        for word in present:
            for topic, position, phrase, weight in self._keywords_by_first_word.get(word, ()):
                candidates.setdefault(topic, []).append((position, phrase, weight))
        for topic, listed in candidates.items():
            listed.sort(key=_position)
            # A word counts once per topic, with its strongest keyword ("университетке" is
            # both `университет` and a typo of `universities`: one word all the same), and a
            # keyword counts once however often it is written.
            by_word: dict[int, tuple[float, tuple[str, ...]]] = {}
            matched: dict[tuple[str, ...], float] = {}
            for _, phrase, weight in listed:
                if len(phrase) > 1:
                    if _phrase_in(sets, phrase):
                        matched[phrase] = weight
                    continue
                for index, keys in enumerate(sets):
                    if phrase[0] in keys and by_word.get(index, (0.0,))[0] < weight:
                        by_word[index] = (weight, phrase)
            matched.update((phrase, weight) for weight, phrase in by_word.values())
            scores[topic] = sum(matched.values())
            strongest[topic] = max(matched.values(), default=0.0)
        self._apply_entity_rules(scores, strongest, entities, tokens)
        if any(scores[topic] > 0 for topic in scores if topic not in _POLITENESS):
            # "Привет, сколько баллов нужно на грант?": the greeting is manners, the question
            # is what the person wants answered.
            for topic in _POLITENESS:
                scores[topic] = 0.0
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        (best, s1), (_, s2) = ranked[0], ranked[1]
        if s1 < MIN_SCORE:
            return Route("out_of_scope", 0.0, detected, entities, scores, text)
        confidence = round(s1 / (s1 + s2) * min(1.0, s1 / 3.0), 3)
        return Route(best, confidence, detected, entities, scores, text)

    @staticmethod
    def _apply_entity_rules(
        scores: dict[str, float], strongest: dict[str, float], e: Entities, tokens: list[str]
    ) -> None:
        """Signals that keywords alone miss: a score next to "grant", a group code, a year."""
        has_grant = any(t.startswith("grant") for t in tokens)
        plausible_score = any(10 <= n <= 140 for n in e.scores)
        if has_grant:
            scores["grant_chance"] += 1.0
            scores["grant_process"] += 1.0
            if strongest["threshold"] < 3:
                # "How many points do I need for a grant" is about the grant, not the threshold.
                scores["grant_chance"] += scores["threshold"]
                scores["threshold"] = 0.0
        if has_grant and plausible_score:
            scores["grant_chance"] += 2.5
        elif plausible_score and scores["threshold"] == 0:
            scores["threshold"] += 1.0
        if len(e.subjects) >= 2 and not plausible_score:
            scores["subject_pairs"] += 1.5
        if e.group_codes:
            scores["subject_pairs"] += 2.0
        if e.programme_codes:
            scores["programs"] += 4.0
        if e.regions and (scores["universities"] > 0):
            scores["universities"] += 2.0
        if scores["grant_process"] and any(t in _WHEN for t in tokens):
            # "When do grant applications open?" asks for a date, not for the procedure: the
            # date wins over the procedure words however many there are.
            scores["deadlines"] = max(
                scores["deadlines"] + 1.5, scores["grant_process"] + 1.0
            )
        if e.years and scores["deadlines"] > 0:
            scores["deadlines"] += 1.0
        if strongest["paid_admission"] >= 3 and strongest["stipend"] < 4:
            # "Missed the threshold, can I study on a paid basis?" asks about the paid route.
            scores["paid_admission"] += 1.5
