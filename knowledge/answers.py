"""Routed question → answer text, rendered from Jinja2 templates in knowledge/templates/.

Templates read facts through `f(fact)`, which records the fact: the answer then lists its
sources, and if any fact it used is not confirmed, it ends with a note to check with
testcenter.kz or the university. Numbers computed from facts (a sum of part scores, a
difference to a threshold) go through `derived(value)` so a test can tell every number in an
answer where it came from."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import (
    BytecodeCache,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    select_autoescape,
)
from jinja2.bccache import Bucket

from knowledge.base import KnowledgeBase
from knowledge.facts import Fact, Localized, Provenance
from knowledge.lru import LruCache
from knowledge.plurals import plural_form
from knowledge.router import Route
from knowledge.rules import (
    RuleInputError,
    admission_year,
    check_unt,
    grant_outlook,
    quota_eligibility,
    serpin_eligibility,
)
from knowledge.schema import TOPICS, PublicSource
from knowledge.scores import CLOSE_MARGIN, GROUP_ALIASES, ScoreRow
from knowledge.scores_answer import (
    Outlook,
    OutlookQuery,
    build_outlook,
    groups_asked,
    pair_token,
)
from knowledge.text import skeleton

TEMPLATES_DIR = Path(__file__).parent / "templates"
MAX_SOURCES_SHOWN = 3
MAX_CACHED_FOOTERS = 4096
# Rendered answers kept per renderer (a new one comes with each reload of the data).
ANSWER_CACHE_SIZE = 2048  # about 2 KB each
_TAG = re.compile(r"<[^>]+>")


class _CompiledTemplates(BytecodeCache):
    """Compiled templates kept for the process: a renderer made again (a knowledge reload, a
    second bot in one process) compiles only the templates whose text changed. Jinja checks
    each template's checksum, so an edited template is compiled afresh."""

    def __init__(self) -> None:
        self._compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        compiled = self._compiled.get(bucket.key)
        if compiled is not None:
            bucket.bytecode_from_string(compiled)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._compiled[bucket.key] = bucket.bytecode_to_string()


_COMPILED_TEMPLATES = _CompiledTemplates()
MONTHS = {
    "kk": [
        "қаңтар",
        "ақпан",
        "наурыз",
        "сәуір",
        "мамыр",
        "маусым",
        "шілде",
        "тамыз",
        "қыркүйек",
        "қазан",
        "қараша",
        "желтоқсан",
    ],
    "ru": [
        "января",
        "февраля",
        "марта",
        "апреля",
        "мая",
        "июня",
        "июля",
        "августа",
        "сентября",
        "октября",
        "ноября",
        "декабря",
    ],
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
}
# "In June 2025": the month in the case a sentence needs after "credited" (kk locative, ru
# prepositional), so a past month reads as a phrase, not as a date stamp.
IN_MONTH = {
    "kk": [
        "қаңтарда",
        "ақпанда",
        "наурызда",
        "сәуірде",
        "мамырда",
        "маусымда",
        "шілдеде",
        "тамызда",
        "қыркүйекте",
        "қазанда",
        "қарашада",
        "желтоқсанда",
    ],
    "ru": [
        "январе",
        "феврале",
        "марте",
        "апреле",
        "мае",
        "июне",
        "июле",
        "августе",
        "сентябре",
        "октябре",
        "ноябре",
        "декабре",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}
IN_MONTH_FORMAT = {
    "kk": "{year} жылғы {month}",
    "ru": "в {month} {year} года",
    "en": "in {month} {year}",
}
FIELD_GROUP = {"it": "B057"}
GROUP_CLASSIFIER_CODES = {new: old for old, new in GROUP_ALIASES.items()}
FIELD_CATEGORY = {
    "pedagogy": "pedagogy",
    "law": "law",
    "healthcare": "healthcare",
    "agriculture": "agriculture",
}


@dataclass
class Answer:
    topic: str
    lang: str
    html: str
    facts: list[Provenance]
    derived: list[float]
    user_numbers: list[int]
    labels: list[str] = field(default_factory=list)
    # The passing-score outlook the answer shows (what a "show all" button rebuilds), and
    # whether lines were left out.
    scores_query: OutlookQuery | None = None
    scores_truncated: bool = False

    # Pages a reader can open, in the order the answer used them; the footer shows the first
    # MAX_SOURCES_SHOWN, the rest are behind a "sources" button.
    public_sources: list[PublicSource] = field(default_factory=list)

    @property
    def hidden_sources(self) -> int:
        return max(0, len(self.public_sources) - MAX_SOURCES_SHOWN)

    @property
    def needs_check(self) -> bool:
        return any(f.confidence.needs_check for f in self.facts)

    @property
    def text(self) -> str:
        """Plain text for terminals and JSON."""
        return html.unescape(_TAG.sub("", self.html))

    def public_sources_json(self) -> list[dict[str, Any]]:
        return [source_json(source) for source in self.public_sources]

    def sources(self) -> list[dict[str, Any]]:
        """The internal notes, for staff and `ask --json`; never shown under an answer."""
        seen: dict[tuple[str, int], dict[str, Any]] = {}
        for fact in self.facts:
            key = (fact.source, fact.as_of)
            if key not in seen:
                seen[key] = {
                    "source": fact.source,
                    "as_of": fact.as_of,
                    "confidence": fact.confidence.value,
                }
        return list(seen.values())


@dataclass
class _Tracker:
    lang: str
    facts: list[Provenance] = field(default_factory=list)
    derived: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    # Facts are loaded once per knowledge base, so identity is enough; `in self.facts` ran
    # pydantic's field-by-field __eq__ against every fact used so far, dozens per answer.
    _used: set[int] = field(default_factory=set)

    def label(self, text: str) -> str:
        """A name from the data shown as is (it may hold digits: "Profile subject 1")."""
        self.labels.append(text)
        return text

    def use(self, fact: Provenance) -> Any:
        """Record a fact and return its value for the template."""
        if id(fact) not in self._used:
            self._used.add(id(fact))
            self.facts.append(fact)
        return fact.value if isinstance(fact, Fact) else fact

    def example(self, text: str) -> str:
        """Sample input shown to the user ("95 points"): not a fact, so not a sourced number."""
        return self.label(text)

    def use_silently(self, fact: Provenance) -> str:
        """Record a fact a sentence relies on without printing its value."""
        self.use(fact)
        return ""

    def derive(self, value: float) -> float:
        self.derived.append(value)
        return value

    def cell(self, row: ScoreRow, value: float) -> float:
        """A number of a grant-score row: its source and year go to the footer."""
        self.use(row.provenance)
        return self.derive(value)

    def tr(self, kk: str, ru: str, en: str) -> str:
        return {"kk": kk, "ru": ru, "en": en}[self.lang]

    def plural(self, count: float, kk: str, ru: str, en: str) -> str:
        """The words that follow `count` in the answer's language, in the form CLDR's plural
        rules (through Babel) give for the number. Each language lists its forms joined by
        "|": kk and en one|other, ru one|few|many; a word that never changes (Kazakh after a
        number) is given once."""
        return plural_form(self.lang, count, {"kk": kk, "ru": ru, "en": en}[self.lang])

    def loc(self, text: Localized | None) -> str:
        return self.label(text.get(self.lang)) if text is not None else ""

    def num(self, value: float) -> str:
        """Thousands grouped the way each language writes them (77 000 / 77,000)."""
        if isinstance(value, float) and not value.is_integer():
            text = f"{value:,.2f}".rstrip("0").rstrip(".")
        else:
            text = f"{int(value):,}"
        return text if self.lang == "en" else text.replace(",", "\u202f").replace(".", ",")


class AnswerRenderer:
    def __init__(self, kb: KnowledgeBase, templates_dir: Path = TEMPLATES_DIR) -> None:
        self.kb = kb
        self.env = Environment(
            loader=FileSystemLoader(templates_dir),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            bytecode_cache=_COMPILED_TEMPLATES,
        )
        self.templates = {topic: self.env.get_template(f"{topic}.j2") for topic in TOPICS}
        self.footer = self.env.get_template("_footer.j2")
        self._footers: dict[tuple[bool, str, tuple[str, ...]], str] = {}
        self._answers: LruCache[Hashable, Answer] = LruCache(ANSWER_CACHE_SIZE)

    def _names(self, tracker: _Tracker) -> dict[str, Callable[..., str]]:
        """Helpers that turn ids into names in the answer's language."""
        kb, loc, tr = self.kb, tracker.loc, tracker.tr
        parts = {p.id: p.name for p in kb.unt.parts}
        categories = {c.id: c.name for c in kb.thresholds.categories}

        def subject_name(subject_id: str) -> str:
            subject = kb.subject(subject_id)
            return loc(subject.name) if subject else subject_id

        def region_name(code: str | None) -> str:
            region = kb.region(code)
            return (
                loc(region.name)
                if region
                else tr("белгісіз өңір", "регион не указан", "unknown region")
            )

        def university_name(university_id: str) -> str:
            university = kb.university(university_id)
            return tracker.label(university.name if university else university_id)

        def date_label(day: date, precision: str = "day") -> str:
            months = MONTHS[tracker.lang]
            if tracker.lang == "kk":
                if precision == "month":
                    return f"{day.year} ж. {months[day.month - 1]}"
                return f"{day.year} ж. {day.day} {months[day.month - 1]}"
            if precision == "month":
                return f"{months[day.month - 1]} {day.year}"
            return f"{day.day} {months[day.month - 1]} {day.year}"

        def score_group(code: str, fallback: str) -> str:
            """A grant-score group in the answer's language when the classifier has it
            (BM086 is the classifier's B086), else the Russian name from the lists."""
            group = kb.group(GROUP_CLASSIFIER_CODES.get(code, code))
            return tracker.label(f"{code} {loc(group.name) if group else fallback}")

        def in_month(year: int, month: int) -> str:
            lang = tracker.lang if tracker.lang in IN_MONTH else "en"
            return IN_MONTH_FORMAT[lang].format(year=year, month=IN_MONTH[lang][month - 1])

        return {
            "score_group": score_group,
            "part_name": lambda part: loc(parts[part]) if part in parts else part,
            "in_month": in_month,
            "category_name": lambda cat: loc(categories.get(cat)),
            "subject_name": subject_name,
            "pair_label": lambda pair: " + ".join(subject_name(s) for s in pair),
            "group_label": lambda group: tracker.label(f"{group.code} {loc(group.name)}"),
            "region_name": region_name,
            "university_name": university_name,
            "date_label": date_label,
        }

    def _helpers(self, tracker: _Tracker) -> dict[str, Any]:
        return {
            "kb": self.kb,
            "f": tracker.use,
            "use": tracker.use_silently,
            "example": tracker.example,
            "derived": tracker.derive,
            "cell": tracker.cell,
            "label": tracker.label,
            "close_margin": CLOSE_MARGIN,
            "tr": tracker.tr,
            "plural": tracker.plural,
            "loc": tracker.loc,
            "num": tracker.num,
            **self._names(tracker),
        }

    def _finish(
        self, topic: str, lang: str, body: str, tracker: _Tracker, user_numbers: list[int]
    ) -> Answer:
        public: list[PublicSource] = []
        seen: set[str] = set()
        for fact in tracker.facts:
            for source in self.kb.public_sources(fact):
                if source.key not in seen:
                    seen.add(source.key)
                    public.append(source)
        needs_check = any(f.confidence.needs_check for f in tracker.facts)
        # The footer depends on nothing else, and most answers share a few dozen footers.
        footer_key = (needs_check, lang, tuple(source.key for source in public))
        footer = self._footers.get(footer_key)
        if footer is None:
            footer = self.footer.render(
                needs_check=needs_check,
                sources=[
                    {"url": s.url, "site": s.site, "when": self.source_date(s, lang)}
                    for s in public[:MAX_SOURCES_SHOWN]
                ],
                more=max(0, len(public) - MAX_SOURCES_SHOWN),
                tr=tracker.tr,
                lang=lang,
            )
            if len(self._footers) < MAX_CACHED_FOOTERS:
                self._footers[footer_key] = footer
        text = _tidy(body) + ("\n\n" + _tidy(footer) if footer.strip() else "")
        return Answer(
            topic,
            lang,
            text,
            tracker.facts,
            tracker.derived,
            user_numbers,
            tracker.labels,
            public_sources=public,
        )

    @staticmethod
    def source_date(source: PublicSource, lang: str) -> str:
        """The page's date in the reader's language ("12 Nov 2025"), or its year."""
        if source.published is None:
            return str(source.year) if source.year else ""
        day = source.published
        months = MONTHS.get(lang, MONTHS["en"])
        if lang == "kk":
            return f"{day.year} ж. {day.day} {months[day.month - 1]}"
        return f"{day.day} {months[day.month - 1]} {day.year}"

    def sources_list(self, sources: list[PublicSource], lang: str) -> str:
        """Public sources one per line with title and date, for the "sources" button."""
        lines = []
        for number, source in enumerate(sources, 1):
            when = self.source_date(source, lang)
            title = f" — {html.escape(source.title)}" if source.title else ""
            lines.append(
                f'{number}. <a href="{html.escape(source.url)}">{html.escape(source.site)}</a>'
                + (f", {when}" if when else "")
                + title
            )
        return "\n".join(lines)

    def answer(
        self,
        route: Route,
        today: date,
        *,
        lang: str | None = None,
        profile: Mapping[str, str | None] | None = None,
    ) -> Answer:
        """Render the answer to a routed question. `profile` (home region, settlement) fills
        in what the question leaves out, e.g. for Serpin.

        An answer depends on the route's topic and entities, the language, the day and the
        profile (and, for a few topics, on the question's words): the same question asked in
        other words gets the answer rendered for the first one. Callers must not change it."""
        lang = lang or route.lang
        key = _answer_key(route, lang, today, profile)
        cached = self._answers.get(key)
        if cached is not None:
            return cached
        answer = self._render_answer(route, lang, today, profile)
        self._answers.put(key, answer)
        return answer

    def _render_answer(
        self, route: Route, lang: str, today: date, profile: Mapping[str, str | None] | None
    ) -> Answer:
        tracker = _Tracker(lang)
        year = admission_year(today)
        builder = _CONTEXT.get(route.topic, _no_context)
        context = builder(self.kb, route, year, today, profile or {})
        # Templates see the entities, not the route: what they show must be in the cache key.
        body = self.templates[route.topic].render(
            e=route.entities,
            year=year,
            today=today,
            lang=lang,
            **self._helpers(tracker),
            **context,
        )
        answer = self._finish(route.topic, lang, body, tracker, route.entities.numbers)
        outlook = context.get("scores")
        if isinstance(outlook, Outlook):
            answer.scores_query = outlook.query
            answer.scores_truncated = bool(outlook.hidden_lines or outlook.hidden_groups)
        return answer

    def render(self, template: str, lang: str, today: date, **context: Any) -> Answer:
        """Render a wizard's result template with the same helpers, tracking and footer as a
        topic answer."""
        tracker = _Tracker(lang)
        body = self.env.get_template(f"{template}.j2").render(
            year=admission_year(today), today=today, lang=lang, **self._helpers(tracker), **context
        )
        return self._finish(template, lang, body, tracker, [])


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out)


def source_json(source: PublicSource) -> dict[str, Any]:
    return {
        "id": source.id,
        "url": source.url,
        "site": source.site,
        "published": source.published.isoformat() if source.published else source.year,
    }


# ------------------------------------------------------------------------ context builders
Context = dict[str, Any]
Profile = Mapping[str, str | None]


def _no_context(
    kb: KnowledgeBase, route: Route, year: int, today: date, profile: Profile
) -> Context:
    return {}


def _target(kb: KnowledgeBase, route: Route) -> dict[str, Any]:
    """Group, field and national flag from what the question names."""
    e = route.entities
    group = next((c for c in e.group_codes if kb.group(c)), None)
    field_ = None
    for name in e.fields:
        if group is None and name in FIELD_GROUP:
            group = FIELD_GROUP[name]
        if name in FIELD_CATEGORY:
            field_ = FIELD_CATEGORY[name]
    return {
        "group": group,
        "field_": None if group else field_,
        "national_university": "national" in e.fields,
    }


def _pair(route: Route) -> list[str] | None:
    subjects = [s for s in route.entities.subjects if s != "creative_exam"]
    if "creative_exam" in route.entities.subjects and not subjects:
        return ["creative_exam"]
    return subjects[:2] if len(subjects) >= 2 else None


def _score_input(route: Route) -> dict[str, Any]:
    numbers = [n for n in route.entities.numbers if n not in route.entities.years]
    if len(numbers) == 5:
        return {"scores": numbers}
    candidates = [n for n in numbers if n >= 10] or numbers
    return {"total": max(candidates)} if candidates else {}


def _check(kb: KnowledgeBase, route: Route, year: int) -> Context:
    score = _score_input(route)
    target = _target(kb, route)
    context: Context = {"verdict": None, "error": None, "target": target, "pair": _pair(route)}
    if not score:
        return context
    try:
        context["verdict"] = check_unt(kb, **score, pair=context["pair"], year=year, **target)
    except RuleInputError as exc:
        context["error"] = exc
    return context


def _threshold(
    kb: KnowledgeBase, route: Route, year: int, today: date, profile: Profile
) -> Context:
    context = _check(kb, route, year)
    target = context["target"]
    group = kb.group(target["group"]) if target["group"] else None
    focus = (group.threshold if group else None) or target["field_"]
    if target["national_university"] and focus in (None, "general"):
        focus = "national"
    context["focus"] = next((c for c in kb.thresholds.categories if c.id == focus), None)
    context["focus_group"] = group
    context["categories"] = [
        (c, kb.threshold(c.id, year)) for c in kb.thresholds.categories if c.id != focus
    ]
    context["minimums"] = kb.minimums(year)
    return context


def _grant_chance(
    kb: KnowledgeBase, route: Route, year: int, today: date, profile: Profile
) -> Context:
    context = _check(kb, route, year)
    context["outlook"] = None
    verdict = context["verdict"]
    if verdict is not None:
        context["outlook"] = grant_outlook(
            kb, total=verdict.total, group=context["target"]["group"], year=year
        )
    context["scores"] = _scores_outlook(kb, route, profile, verdict.total if verdict else None)
    return context


def _scores_target(kb: KnowledgeBase, route: Route) -> str | None:
    """What a question's passing scores are about: a named group, a field, or a pair's groups."""
    e = route.entities
    named = [c for c in e.group_codes if groups_asked(kb, group_codes=[c])]
    if named:
        return f"group={named[0]}"
    pair = _pair(route)
    by_pair = f"pair={pair_token(kb, pair)}" if pair and len(pair) == 2 else None
    for name in e.fields:
        if name in FIELD_GROUP:
            return f"group={FIELD_GROUP[name]}"
        if groups_asked(kb, fields=[name]):
            return f"field={name}" + (f",{by_pair}" if by_pair else "")
    return by_pair


def _scores_outlook(
    kb: KnowledgeBase, route: Route, profile: Profile, total: int | None
) -> Outlook | None:
    target = _scores_target(kb, route)
    if target is None:
        return None
    years = [y for y in route.entities.years if y in kb.grant_scores.years]
    return build_outlook(
        kb,
        target,
        total=total,
        quotas=route.entities.quotas,
        profile=profile,
        year=years[0] if years else (route.entities.years[0] if route.entities.years else None),
        universities=kb.grant_scores.universities_in_text(route.text) if route.text else (),
    )


def _subject_pairs(
    kb: KnowledgeBase, route: Route, year: int, today: date, profile: Profile
) -> Context:
    target = _target(kb, route)
    pair = _pair(route)
    return {
        "group": kb.group(target["group"]) if target["group"] else None,
        "pair": pair,
        "open_groups": kb.groups_for_pair(pair) if pair else [],
    }


def _quotas(kb: KnowledgeBase, route: Route, year: int, today: date, profile: Profile) -> Context:
    named = [q for q in route.entities.quotas if q != "serpin"]
    verdict = quota_eligibility(kb, dict.fromkeys(named, True)) if named else None
    # "ауыл квотасы B001 қанша балл": a quota question naming a group gets its passing scores.
    scores = _scores_outlook(kb, route, profile, None) if route.entities.group_codes else None
    return {"named": verdict, "scores": scores}


def _serpin(kb: KnowledgeBase, route: Route, year: int, today: date, profile: Profile) -> Context:
    """The region named in the question, else the user's stored home region."""
    named = route.entities.regions[0] if route.entities.regions else None
    region = named or profile.get("region")
    if "rural" in route.entities.quotas:
        settlement = "rural"
    elif named is None:
        settlement = profile.get("settlement")
    else:
        settlement = None
    verdict = serpin_eligibility(kb, region, settlement) if region else None
    return {"verdict": verdict}


def _deadlines(
    kb: KnowledgeBase, route: Route, year: int, today: date, profile: Profile
) -> Context:
    events = sorted(kb.calendar.events, key=lambda ev: ev.start)
    upcoming = [ev for ev in events if (ev.end or ev.start) >= today]
    # Last complete campaign: the newest year whose grant results are confirmed.
    confirmed = [ev for ev in events if not ev.confidence.needs_check]
    result_years = [ev.as_of for ev in confirmed if ev.type == "results"]
    reference_year = max(result_years, default=None)
    reference = [
        ev
        for ev in confirmed
        if ev.as_of == reference_year and ev.type != "savings" and ev not in upcoming
    ]
    return {"upcoming": upcoming[:6], "reference": reference[:6]}


def _universities(
    kb: KnowledgeBase, route: Route, year: int, today: date, profile: Profile
) -> Context:
    regions = [kb.region(code) for code in route.entities.regions]
    listed = [
        (region, [u for u in kb.universities.universities if u.region == region.code])
        for region in regions
        if region is not None
    ]
    national = [u for u in kb.universities.universities if u.national]
    return {"listed": listed, "national": national, "count": len(kb.universities.universities)}


def _programs(kb: KnowledgeBase, route: Route, year: int, today: date, profile: Profile) -> Context:
    codes = set(route.entities.programme_codes)
    cards = kb.programmes.programmes
    chosen = [c for c in cards if c.code in codes]
    if not chosen:
        text = skeleton(route.text)
        chosen = [c for c in cards if any(word in text for word in _card_words(c.id))]
    return {"cards": chosen or cards}


def _card_words(card_id: str) -> list[str]:
    """Words that pick one card out of several when the question names no code."""
    return [skeleton(w) for w in card_id.split("_") if len(w) >= 4] + {
        "dual_automation_robotics": ["dual", "robot", "avtomat"],
        "7m06102": ["mashin", "machine", "magistr", "master", "data"],
    }.get(card_id, [])


def _stipend(kb: KnowledgeBase, route: Route, year: int, today: date, profile: Profile) -> Context:
    latest: dict[str, Any] = {}
    for stipend in kb.finance.stipends:
        if stipend.id not in latest or stipend.since > latest[stipend.id].since:
            latest[stipend.id] = stipend
    return {"latest_stipends": list(latest.values())}


# The topics whose context reads the question's own words (university names for the passing
# scores, a programme card's words), not only its entities: their answers are kept per text.
_READS_TEXT = frozenset({"grant_chance", "quotas", "programs"})


def _answer_key(
    route: Route, lang: str, today: date, profile: Mapping[str, str | None] | None
) -> Hashable:
    entities = tuple(tuple(values) for values in vars(route.entities).values())
    return (
        route.topic,
        lang,
        entities,
        today,
        tuple(sorted(profile.items())) if profile else (),
        route.text if route.topic in _READS_TEXT else None,
    )


_CONTEXT: dict[str, Callable[[KnowledgeBase, Route, int, date], Context]] = {
    "threshold": _threshold,
    "grant_chance": _grant_chance,
    "subject_pairs": _subject_pairs,
    "quotas": _quotas,
    "serpin": _serpin,
    "deadlines": _deadlines,
    "universities": _universities,
    "programs": _programs,
    "stipend": _stipend,
}
