"""Grant passing scores: the lowest total UNT score that won a state grant, per programme group,
university and competition list, for past admissions (knowledge/data/grant_scores/).

The data is aggregates only (min, max, average and count per cell), loaded once per knowledge
base and indexed by (group, year), so an answer filters a few dozen rows, never the whole table.

A "list" is what an applicant competes in: the general competition or the rural quota of the
group's own order (GENERAL, or HEALTH_MINISTRY for medicine), or one of the separate orders
(social quotas, regional and university-placed orders). Shortened programmes (form SHORT) are
kept in the data but never compared with a UNT total: their test is another one."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import yaml
from pydantic import ValidationError
from rapidfuzz import fuzz, process

from knowledge.facts import Confidence, Localized, Provenance, Strict
from knowledge.lru import LruCache
from knowledge.text import skeleton

SCORES_DIR = "grant_scores"
RESULT_COLUMNS = (
    "year",
    "section",
    "form",
    "group",
    "tag",
    "university",
    "quota",
    "min",
    "max",
    "avg",
    "grants",
    "source",
    "confidence",
)
SECTIONS = (
    "GENERAL",
    "HEALTH_MINISTRY",
    "SOCIAL_QUOTA",
    "UNIVERSITY_PEDAGOGICAL",
    "UNIVERSITY_TECHNICAL",
    "WESTERN_REGIONS",
    "RURAL_RELOCATION",
    "FOREIGN_BRANCH",
    "STRATEGIC_PARTNERSHIP",
    "DOUBLE_DEGREE",
)
QUOTAS = ("GENERAL", "RURAL", "EMERGENCY_REGIONS")
FORMS = ("FULL", "SHORT")
# The group's own order: the Ministry of Health awards medicine, the general order the rest.
MAIN_SECTIONS = ("GENERAL", "HEALTH_MINISTRY")
# Competition lists by the name staff and answers use → (section, quota). "general" and "rural"
# mean the group's own order; the others are orders of their own.
LISTS: dict[str, tuple[str | None, str]] = {
    "general": (None, "GENERAL"),
    "rural": (None, "RURAL"),
    "emergency": (None, "EMERGENCY_REGIONS"),
    "social": ("SOCIAL_QUOTA", "GENERAL"),
    "pedagogical": ("UNIVERSITY_PEDAGOGICAL", "GENERAL"),
    "pedagogical_rural": ("UNIVERSITY_PEDAGOGICAL", "RURAL"),
    "technical": ("UNIVERSITY_TECHNICAL", "GENERAL"),
    "technical_rural": ("UNIVERSITY_TECHNICAL", "RURAL"),
    "western": ("WESTERN_REGIONS", "GENERAL"),
    "western_rural": ("WESTERN_REGIONS", "RURAL"),
    "relocation": ("RURAL_RELOCATION", "GENERAL"),
    "foreign_branch": ("FOREIGN_BRANCH", "GENERAL"),
    "strategic": ("STRATEGIC_PARTNERSHIP", "GENERAL"),
    "double_degree": ("DOUBLE_DEGREE", "GENERAL"),
}
# Medicine's new codes (BM086…) stand for the classifier's B086…; the names match.
GROUP_ALIASES = {"B086": "BM086", "B087": "BM087", "B088": "BM088"}
# "Close": up to this many points below last year's minimum.
CLOSE_MARGIN = 5
_GROUP_ARG = re.compile(r"^\s*[BbВв]\s?-?\s?([Mm]|[Мм])?\s?(\d{3})\s*$")


class ScoresError(ValueError):
    """Grant-score data or a query it cannot answer; the message is for people."""


class ScoreRow(NamedTuple):
    """One cell of the grant lists. A NamedTuple: 13k of them cost about 2 MB."""

    year: int
    section: str
    form: str
    group: str
    tag: str
    university: int
    quota: str
    min: int
    max: int | None
    avg: float | None
    grants: int | None
    provenance: Provenance


class SourceInfo(Strict):
    name: str  # the rows' provenance; the answer's footer finds its public page by it
    title: Localized  # what a reader is shown under a scores answer, in their language
    compiled_by: str | None = None  # internal: who turned the lists into these rows


class ScoresSources(Strict):
    sources: dict[str, SourceInfo]
    universities: Provenance


@dataclass(frozen=True)
class UniversityInfo:
    code: int
    name: str
    short: str


@dataclass
class GrantScores:
    rows: tuple[ScoreRow, ...] = ()
    universities: dict[int, UniversityInfo] = field(default_factory=dict)
    group_names: dict[str, str] = field(default_factory=dict)
    universities_provenance: Provenance | None = None
    source_titles: dict[str, Localized] = field(default_factory=dict)  # by provenance source
    _by_group_year: dict[tuple[str, int], list[ScoreRow]] = field(default_factory=dict, init=False)
    _university_keys: dict[str, int] = field(default_factory=dict, init=False)
    _groups: frozenset[str] = field(default=frozenset(), init=False)
    _short_keys: list[tuple[str, int]] = field(default_factory=list, init=False)
    # Answers ask the same few lists again and again; the rows never change once loaded.
    _lists: dict[tuple[str, int, str, int | None], list[ScoreRow]] = field(
        default_factory=dict, init=False
    )
    _latest: dict[tuple[str | None, int | None], int | None] = field(
        default_factory=dict, init=False
    )

    def __post_init__(self) -> None:
        for row in self.rows:
            self._by_group_year.setdefault((row.group, row.year), []).append(row)
        self._groups = frozenset(group for group, _ in self._by_group_year)
        for info in self.universities.values():
            for name in (info.short, info.name):
                self._university_keys.setdefault(skeleton(name).strip(), info.code)
        # Longest first, so "КазНУИ" is not read as "КазНУ".
        keys = [(skeleton(u.short).strip(), u.code) for u in self.universities.values()]
        self._short_keys = sorted((k for k in keys if k), key=lambda kc: -len(kc[0]))

    # ------------------------------------------------------------------ lookups
    @property
    def years(self) -> list[int]:
        return sorted({year for _, year in self._by_group_year})

    @property
    def groups(self) -> list[str]:
        return sorted(self._groups)

    def source_title(self, provenance: Provenance, lang: str) -> str:
        title = self.source_titles.get(provenance.source)
        return title.get(lang) if title is not None else provenance.source

    def has_group(self, code: str) -> bool:
        return code in self._groups

    def canonical_group(self, text: str) -> str | None:
        """ "B057", "в057", "BM086" or "B086" (medicine's new code) → the code in the data."""
        match = _GROUP_ARG.match(text)
        if match is None:
            return None
        code = ("BM" if match.group(1) else "B") + match.group(2)
        if not self.has_group(code) and code in GROUP_ALIASES:
            code = GROUP_ALIASES[code]
        return code if self.has_group(code) else None

    def nearest_groups(self, text: str, limit: int = 5) -> list[str]:
        choices = {code: f"{code} {self.group_names.get(code, '')}" for code in self.groups}
        found = process.extract(text, choices, scorer=fuzz.WRatio, limit=limit)
        return [code for _, _, code in found]

    def university(self, code: int) -> UniversityInfo | None:
        return self.universities.get(code)

    def find_university(self, text: str) -> UniversityInfo | None:
        """A university by national code ("27"), short name ("КазНУ") or full name."""
        text = text.strip()
        if text.isdigit():
            return self.universities.get(int(text))
        code = self._university_keys.get(skeleton(text).strip())
        return self.universities.get(code) if code is not None else None

    def nearest_universities(self, text: str, limit: int = 5) -> list[UniversityInfo]:
        # A short name is compared with short names, a longer text with the full names.
        key = skeleton(text).strip()
        short = len(key) <= 12
        choices = {
            code: skeleton(u.short if short else u.name) for code, u in self.universities.items()
        }
        scorer = fuzz.ratio if short else fuzz.WRatio
        found = process.extract(key, choices, scorer=scorer, limit=limit)
        return [self.universities[code] for _, _, code in found]

    def universities_in_text(self, text: str) -> list[UniversityInfo]:
        """Universities a question names by short name ("в КазНУ", "ЕНУ-ге"): a word of the
        question that starts with a short name of four letters or more, or equals a shorter one."""
        found: list[UniversityInfo] = []
        for word in re.findall(r"[\w-]+", text):
            key = skeleton(word.split("-")[0]).strip()
            if len(key) < 3:
                continue
            for short_key, code in self._short_keys:
                if key == short_key or (len(short_key) >= 4 and key.startswith(short_key)):
                    info = self.universities[code]
                    if info not in found:
                        found.append(info)
                    break
        return found

    def rows_for(self, group: str, year: int) -> list[ScoreRow]:
        return self._by_group_year.get((group, year), [])

    def main_section(self, group: str, year: int) -> str:
        """Medicine is awarded under the Ministry of Health's order, the rest under GENERAL."""
        rows = self.rows_for(group, year)
        return "HEALTH_MINISTRY" if any(r.section == "HEALTH_MINISTRY" for r in rows) else "GENERAL"

    def list_rows(
        self, group: str, year: int, list_id: str, university: int | None = None
    ) -> list[ScoreRow]:
        """The FULL-programme cells of one competition list, lowest minimum first."""
        key = (group, year, list_id, university)
        cached = self._lists.get(key)
        if cached is None:
            cached = self._lists[key] = self._list_rows(group, year, list_id, university)
        return list(cached)

    def _list_rows(
        self, group: str, year: int, list_id: str, university: int | None
    ) -> list[ScoreRow]:
        section, quota = LISTS[list_id]
        wanted = section or self.main_section(group, year)
        rows = [
            r
            for r in self.rows_for(group, year)
            if r.section == wanted
            and r.quota == quota
            and r.form == "FULL"
            and (university is None or r.university == university)
        ]
        return sorted(rows, key=lambda r: (r.min, r.university, r.tag))

    def lists_of(self, group: str, year: int) -> list[str]:
        """The competition lists a group had that year, in LISTS order."""
        return [name for name in LISTS if self.list_rows(group, year, name)]

    def national_minimum(self, group: str, year: int, list_id: str) -> ScoreRow | None:
        rows = self.list_rows(group, year, list_id)
        return rows[0] if rows else None

    def latest_year(self, group: str | None = None, up_to: int | None = None) -> int | None:
        key = (group, up_to)
        if key not in self._latest:
            self._latest[key] = self._latest_year(group, up_to)
        return self._latest[key]

    def _latest_year(self, group: str | None, up_to: int | None) -> int | None:
        years = [
            y
            for g, y in self._by_group_year
            if (group is None or g == group) and (up_to is None or y <= up_to)
        ]
        return max(years) if years else None


# ------------------------------------------------------------------------ the outlook
@dataclass(frozen=True)
class UniversityLine:
    university: UniversityInfo
    row: ScoreRow
    status: str  # "fits" (at or above last year's minimum), "close" (≤5 below), "below"
    # The same university's minimums in the years before (newest first), when one is asked.
    history: tuple[ScoreRow, ...] = ()


@dataclass(frozen=True)
class ListView:
    list_id: str
    national: ScoreRow
    trend: tuple[ScoreRow | None, ...]  # the years before, newest first
    lines: tuple[UniversityLine, ...]  # fits, then close, most likely first


@dataclass(frozen=True)
class GroupView:
    group: str
    name: str
    year: int
    lists: tuple[ListView, ...]


@dataclass(frozen=True)
class ScoresView:
    year: int
    total: int | None
    university: UniversityInfo | None
    groups: tuple[GroupView, ...]
    missing_groups: tuple[str, ...]
    facts: tuple[Provenance, ...]

    @property
    def line_count(self) -> int:
        return sum(len(lst.lines) for g in self.groups for lst in g.lists)


def status_of(total: int, minimum: int) -> str:
    if total >= minimum:
        return "fits"
    return "close" if minimum - total <= CLOSE_MARGIN else "below"


def likelihood(line: UniversityLine, total: int) -> tuple[int, int, int]:
    # Fits before close; the larger the margin and the more grants, the likelier.
    margin = total - line.row.min
    return (0 if line.status == "fits" else 1, -margin, -(line.row.grants or 0))


def scores_view(
    scores: GrantScores,
    groups: Sequence[str],
    *,
    year: int | None = None,
    lists: Sequence[str] = ("general",),
    total: int | None = None,
    university: int | None = None,
    trend_years: int = 2,
) -> ScoresView:
    """Passing scores for `groups` in `year` (default: the newest year with data), one block
    per competition list. With `total`, each list keeps the universities where the score fits or
    is close, most likely first; without it, every university. With `university`, only that one
    (and the national minimum beside it)."""
    facts: dict[int, Provenance] = {}
    views: list[GroupView] = []
    missing: list[str] = []
    latest = None
    for group in groups:
        group_year = year if year is not None else scores.latest_year(group)
        if group_year is None or not scores.rows_for(group, group_year):
            missing.append(group)
            continue
        latest = max(latest or group_year, group_year)
        list_views: list[ListView] = []
        for list_id in lists:
            national = scores.national_minimum(group, group_year, list_id)
            if national is None:
                continue
            trend = tuple(
                scores.national_minimum(group, group_year - back, list_id)
                for back in range(1, trend_years + 1)
            )
            lines = []
            for row in scores.list_rows(group, group_year, list_id, university):
                info = scores.university(row.university) or UniversityInfo(
                    row.university, str(row.university), str(row.university)
                )
                status = status_of(total, row.min) if total is not None else "fits"
                if total is None or status != "below" or university is not None:
                    history = ()
                    if university is not None:
                        history = tuple(
                            earlier
                            for back in range(1, trend_years + 1)
                            for earlier in scores.list_rows(
                                group, group_year - back, list_id, university
                            )[:1]
                        )
                    lines.append(UniversityLine(info, row, status, history))
            if university is not None and not lines:
                continue  # that university had no such list
            if total is not None:
                lines.sort(key=lambda line: likelihood(line, total))
            history_rows = [r for line in lines for r in line.history]
            for row in (national, *trend, *(line.row for line in lines), *history_rows):
                if row is not None:
                    facts.setdefault(id(row.provenance), row.provenance)
            list_views.append(ListView(list_id, national, trend, tuple(lines)))
        if list_views:
            views.append(
                GroupView(
                    group, scores.group_names.get(group, group), group_year, tuple(list_views)
                )
            )
        else:
            missing.append(group)
    if scores.universities_provenance is not None and university is not None:
        facts.setdefault(id(scores.universities_provenance), scores.universities_provenance)
    return ScoresView(
        year=latest if latest is not None else (year or 0),
        total=total,
        university=scores.university(university) if university is not None else None,
        groups=tuple(views),
        missing_groups=tuple(missing),
        facts=tuple(facts.values()),
    )


# ------------------------------------------------------------------------ loading
def _int(value: str, what: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ScoresError(f"{where}: {what} must be a whole number, not {value!r}") from None


def _optional(value: str, kind: type[int] | type[float], what: str, where: str) -> float | None:
    if value == "":
        return None
    try:
        return kind(value)
    except ValueError:
        raise ScoresError(f"{where}: {what} must be a number, not {value!r}") from None


def parse_result_rows(
    lines: Iterable[dict[str, str]],
    file_name: str,
    provenance_for: dict[tuple[str, int, str], Provenance],
    sources: dict[str, SourceInfo],
) -> list[ScoreRow]:
    """Rows of a shipped results file; a bad row raises ScoresError naming file and line."""
    rows: list[ScoreRow] = []
    for number, line in enumerate(lines, start=2):
        where = f"{file_name}:{number}"
        try:
            year = _int(line["year"], "year", where)
            section, form, quota = line["section"], line["form"], line["quota"]
            source, confidence = line["source"], line["confidence"]
            group = line["group"].strip()
            minimum = _int(line["min"], "min", where)
            maximum = _optional(line["max"], int, "max", where)
            avg = _optional(line["avg"], float, "avg", where)
            grants = _optional(line["grants"], int, "grants", where)
            university = _int(line["university"], "university", where)
        except KeyError as exc:
            raise ScoresError(f"{where}: missing column {exc.args[0]!r}") from None
        if section not in SECTIONS:
            raise ScoresError(f"{where}: unknown section {section!r}")
        if form not in FORMS:
            raise ScoresError(f"{where}: unknown form {form!r}")
        if quota not in QUOTAS:
            raise ScoresError(f"{where}: unknown quota {quota!r}")
        if not re.fullmatch(r"BM?\d{3}", group):
            raise ScoresError(f"{where}: {group!r} is not a programme-group code")
        if source not in sources:
            raise ScoresError(f"{where}: unknown source {source!r} (see sources.yaml)")
        if not 0 <= minimum <= 140 or (maximum is not None and maximum < minimum):
            raise ScoresError(f"{where}: min {minimum} / max {maximum} are not UNT totals")
        key = (source, year, confidence)
        if key not in provenance_for:
            try:
                provenance_for[key] = Provenance(
                    source=sources[source].name,
                    as_of=year,
                    confidence=Confidence(confidence),
                    note=sources[source].compiled_by,
                )
            except (ValueError, ValidationError):
                raise ScoresError(f"{where}: bad year or confidence {confidence!r}") from None
        rows.append(
            ScoreRow(
                year,
                section,
                form,
                group,
                line.get("tag") or "",
                university,
                quota,
                minimum,
                None if maximum is None else int(maximum),
                avg,
                None if grants is None else int(grants),
                provenance_for[key],
            )
        )
    return rows


def result_files(directory: Path) -> list[Path]:
    return sorted((directory / SCORES_DIR).glob("results-*.csv"))


# The last scores read, by their files' paths, sizes and modification times: a knowledge
# reload after an edit elsewhere (a fact, a date) reads no CSV again.
_READ: LruCache[tuple[tuple[str, int, int], ...], GrantScores] = LruCache(2)


def load_grant_scores(directory: Path) -> GrantScores:
    """Everything under `directory`/grant_scores/. No such folder: no scores (an installation
    with its own KNOWLEDGE_DIR may not have them yet)."""
    folder = directory / SCORES_DIR
    if not folder.is_dir():
        return GrantScores()
    stamps = []
    for path in sorted(folder.iterdir()):
        stat = path.stat()
        stamps.append((str(path.resolve()), stat.st_size, stat.st_mtime_ns))
    key = tuple(stamps)
    scores = _READ.get(key)
    if scores is None:
        scores = _read_grant_scores(directory)
        _READ.put(key, scores)
    return scores


def _read_grant_scores(directory: Path) -> GrantScores:
    folder = directory / SCORES_DIR
    try:
        meta = ScoresSources.model_validate(
            yaml.safe_load((folder / "sources.yaml").read_text(encoding="utf-8"))
        )
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ScoresError(f"{SCORES_DIR}/sources.yaml: {str(exc).splitlines()[0]}") from None
    provenance_for: dict[tuple[str, int, str], Provenance] = {}
    rows: list[ScoreRow] = []
    for path in result_files(directory):
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != RESULT_COLUMNS:
                raise ScoresError(f"{path.name}: columns must be {','.join(RESULT_COLUMNS)}")
            rows += parse_result_rows(reader, path.name, provenance_for, meta.sources)
    universities: dict[int, UniversityInfo] = {}
    with (folder / "universities.csv").open(encoding="utf-8", newline="") as handle:
        for line in csv.DictReader(handle):
            code = int(line["code"])
            universities[code] = UniversityInfo(code, line["name"], line["short"])
    names: dict[str, str] = {}
    with (folder / "groups.csv").open(encoding="utf-8", newline="") as handle:
        for line in csv.DictReader(handle):
            names.setdefault(line["code"], line["name"])
    titles = {info.name: info.title for info in meta.sources.values()}
    return GrantScores(tuple(rows), universities, names, meta.universities, titles)
