"""Loading, checking and querying the knowledge data.

`load_knowledge(directory)` reads every file named in `knowledge.schema.FILES`, validates it,
checks the references between files and returns a `KnowledgeBase`. A problem raises
`KnowledgeError` whose message starts with `file:line:` so staff can find the bad entry."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from knowledge.facts import Fact, Provenance
from knowledge.schema import (
    FILES,
    CalendarData,
    FinanceData,
    GrantData,
    ProgrammeData,
    ProgrammeGroup,
    ProgrammeGroupData,
    PublicSource,
    QuotaData,
    Region,
    RegionData,
    RouterData,
    SavingsData,
    SerpinData,
    SourceData,
    Subject,
    SubjectData,
    ThresholdData,
    University,
    UniversityData,
    UntData,
)
from knowledge.scores import GrantScores, ScoresError, load_grant_scores
from knowledge.text import group_codes, skeleton

DEFAULT_DATA_DIR = Path(__file__).parent / "data"
# libyaml's parser when PyYAML was built with it (the wheels are): about ten times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class KnowledgeError(Exception):
    """Invalid knowledge data; the message names the file and line."""


def data_dir() -> Path:
    """KNOWLEDGE_DIR lets an installation keep its corrected data outside the code."""
    return Path(os.environ.get("KNOWLEDGE_DIR") or DEFAULT_DATA_DIR)


def _line_of(node: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    """The line (1-based) of the YAML node at `loc`, or of its deepest existing parent."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _load_file(path: Path, model: type[BaseModel]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KnowledgeError(f"{path.name}: cannot read: {exc.strerror}") from None
    try:
        raw = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path.name}:{mark.line + 1}" if mark else path.name
        raise KnowledgeError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [part for part in error["loc"] if not (isinstance(part, str) and "[" in part)]
        # Only a failing file pays for the node tree that maps the error to its line.
        line = _line_of(yaml.compose(text, Loader=_LOADER), loc)
        path_text = ".".join(str(p) for p in loc) or "(top level)"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise KnowledgeError(f"{path.name}:{line}: {path_text}: {message}") from None


def _latest(facts: Sequence[Fact[Any]], year: int) -> Fact[Any]:
    """The fact for `year`: the newest one not after it (or the oldest if all are later)."""
    candidates = [f for f in facts if f.as_of <= year]
    if candidates:
        return max(candidates, key=lambda f: f.as_of)
    return min(facts, key=lambda f: f.as_of)


@dataclass(frozen=True)
class KnowledgeBase:
    regions: RegionData
    unt: UntData
    thresholds: ThresholdData
    subjects: SubjectData
    programme_groups: ProgrammeGroupData
    quotas: QuotaData
    grants: GrantData
    serpin: SerpinData
    savings: SavingsData
    finance: FinanceData
    calendar: CalendarData
    universities: UniversityData
    programmes: ProgrammeData
    router: RouterData
    sources: SourceData
    source_dir: Path = field(default=DEFAULT_DATA_DIR)
    # Past passing scores (grant_scores/*.csv), indexed at load: see knowledge/scores.py.
    grant_scores: GrantScores = field(default_factory=GrantScores)

    # ------------------------------------------------------------------ lookups
    def region(self, code: str | None) -> Region | None:
        return next((r for r in self.regions.regions if r.code == code), None)

    def subject(self, subject_id: str) -> Subject | None:
        return next((s for s in self.subjects.subjects if s.id == subject_id), None)

    def group(self, code: str) -> ProgrammeGroup | None:
        code = code.upper()
        return next((g for g in self.programme_groups.groups if g.code == code), None)

    def university(self, university_id: str) -> University | None:
        return next((u for u in self.universities.universities if u.id == university_id), None)

    def threshold(self, category: str, year: int) -> Fact[int]:
        cat = next((c for c in self.thresholds.categories if c.id == category), None)
        if cat is None:
            raise KeyError(f"unknown threshold category {category!r}")
        return _latest(cat.values, year)

    def minimums(self, year: int) -> dict[str, Fact[int]]:
        return {part.id: _latest(part.min_points, year) for part in self.unt.parts}

    def mci(self, year: int) -> Fact[int]:
        return _latest(self.savings.mci, year)

    def known_mci(self) -> dict[int, int]:
        return {f.as_of: f.value for f in self.savings.mci}

    def latest_year(self) -> int:
        """The newest admission year the thresholds speak of."""
        return max(f.as_of for c in self.thresholds.categories for f in c.values)

    def find_groups(self, query: str, limit: int = 8) -> list[ProgrammeGroup]:
        """Groups named by code ("B057", also with a Cyrillic В) or by a piece of their name
        in any of the three languages."""
        codes = group_codes(query)
        if codes and (group := self.group(codes[0])):
            return [group]
        needle = skeleton(query).strip()
        if len(needle) < 3:
            return []
        return [group for group, names in self._group_names if needle in names][:limit]

    @cached_property
    def _group_names(self) -> list[tuple[ProgrammeGroup, str]]:
        # One string of the three names' skeletons per group, computed once, not per search.
        return [
            (g, "\n".join(skeleton(name) for name in (g.name.kk, g.name.ru, g.name.en)))
            for g in self.programme_groups.groups
        ]

    def groups_for_pair(self, pair: Sequence[str]) -> list[ProgrammeGroup]:
        wanted = sorted(pair)
        return [
            g
            for g in self.programme_groups.groups
            if any(sorted(p) == wanted for p in g.pairs.value)
        ]

    # ------------------------------------------------------------------ checking
    @cached_property
    def _public_by_id(self) -> dict[str, PublicSource]:
        return {source.id: source for source in self.sources.sources}

    @cached_property
    def _public_by_key(self) -> dict[str, PublicSource]:
        return {source.key: source for source in self.sources.sources}

    def public_source(self, key: str) -> PublicSource | None:
        return self._public_by_key.get(key)

    @cached_property
    def _citations(self) -> list[tuple[str, PublicSource]]:
        """(lower-cased `cited_as` text, source), longest first: "baq.kz …-200018884" must
        win over a shorter name inside it."""
        pairs = [(c.lower(), s) for s in self.sources.sources for c in s.cited_as]
        return sorted(pairs, key=lambda pair: -len(pair[0]))

    @cached_property
    def _sources_of_notes(self) -> dict[str, list[PublicSource]]:
        return {}

    def public_sources(self, fact: Provenance) -> list[PublicSource]:
        """The pages a reader can open for this fact, in the order its note cites them."""
        if fact.public is not None:
            return [self._public_by_id[i] for i in fact.public if i in self._public_by_id]
        # Every answer asks this for each fact it shows; the note's search runs once per note.
        found = self._sources_of_notes.get(fact.source)
        if found is None:
            found = self._sources_of_notes[fact.source] = self._sources_in_note(fact.source)
        return list(found)

    def _sources_in_note(self, source: str) -> list[PublicSource]:
        note = source.lower()
        taken: list[tuple[int, int]] = []
        found: list[tuple[int, PublicSource]] = []
        for text, source in self._citations:
            start = note.find(text)
            while start != -1:
                end = start + len(text)
                if not any(start < e and s < end for s, e in taken):
                    taken.append((start, end))
                    found.append((start, source))
                start = note.find(text, end)
        ordered: list[PublicSource] = []
        for _, source in sorted(found, key=lambda item: item[0]):
            if source not in ordered:
                ordered.append(source)
        return ordered

    def facts(self) -> Iterator[tuple[str, Provenance]]:
        """Every fact with provenance, with a dotted path, for checks and statistics."""

        def walk(value: Any, path: str) -> Iterator[tuple[str, Provenance]]:
            if isinstance(value, Provenance):
                yield path, value
            if isinstance(value, BaseModel):
                for name in type(value).model_fields:
                    yield from walk(getattr(value, name), f"{path}.{name}")
            elif isinstance(value, list | tuple):
                for index, item in enumerate(value):
                    yield from walk(item, f"{path}[{index}]")

        for name in FILES:
            yield from walk(getattr(self, name.removesuffix(".yaml")), name.removesuffix(".yaml"))

    def cross_check(self) -> None:
        problems: list[str] = []
        region_codes = {r.code for r in self.regions.regions}
        subject_ids = {s.id for s in self.subjects.subjects}
        categories = {c.id for c in self.thresholds.categories}
        university_ids = {u.id for u in self.universities.universities}

        def unique(file: str, what: str, ids: Sequence[str]) -> None:
            seen: set[str] = set()
            for item in ids:
                if item in seen:
                    problems.append(f"{file}: {what} {item!r} appears twice")
                seen.add(item)

        unique("regions.yaml", "region", [r.code for r in self.regions.regions])
        unique("subjects.yaml", "subject", [s.id for s in self.subjects.subjects])
        unique("programme_groups.yaml", "group", [g.code for g in self.programme_groups.groups])
        unique("quotas.yaml", "quota", [q.id for q in self.quotas.quotas])
        unique("calendar.yaml", "event", [e.id for e in self.calendar.events])
        unique("universities.yaml", "university", [u.id for u in self.universities.universities])
        unique("programmes.yaml", "programme", [p.id for p in self.programmes.programmes])
        unique("sources.yaml", "source", [source.id for source in self.sources.sources])
        for path, fact in self.facts():
            for source_id in fact.public or []:
                if source_id not in self._public_by_id:
                    problems.append(f"{path}: public: unknown source {source_id!r}")
        for group in self.programme_groups.groups:
            if group.threshold not in categories:
                problems.append(
                    f"programme_groups.yaml: {group.code}: "
                    f"unknown threshold category {group.threshold!r}"
                )
            for pair in group.pairs.value:
                for subject in pair:
                    if subject not in subject_ids:
                        problems.append(
                            f"programme_groups.yaml: {group.code}: unknown subject {subject!r}"
                        )
        for field_name in ("sending_regions", "receiving_regions", "targeted_grants_regions"):
            for code in getattr(self.serpin, field_name).value:
                if code not in region_codes:
                    problems.append(f"serpin.yaml: {field_name}: unknown region {code!r}")
        for code in self.router.regions:
            if code not in region_codes:
                problems.append(f"router.yaml: regions: unknown region {code!r}")
        for uni in self.universities.universities:
            if uni.region is not None and uni.region not in region_codes:
                problems.append(f"universities.yaml: {uni.id}: unknown region {uni.region!r}")
        for card in self.programmes.programmes:
            if card.city is not None and card.city not in region_codes:
                problems.append(f"programmes.yaml: {card.id}: unknown city/region {card.city!r}")
            for uni_id in card.partner_universities.value if card.partner_universities else []:
                if uni_id not in university_ids:
                    problems.append(f"programmes.yaml: {card.id}: unknown university {uni_id!r}")
        for code in self.grants.competition_2023.value:
            if self.group(code) is None:
                problems.append(f"grants.yaml: competition_2023: unknown group {code!r}")
        if problems:
            raise KnowledgeError(
                problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
            )


def load_knowledge(directory: Path | None = None) -> KnowledgeBase:
    directory = directory or data_dir()
    loaded = {
        name.removesuffix(".yaml"): _load_file(directory / name, model)
        for name, model in FILES.items()
    }
    try:
        scores = load_grant_scores(directory)
    except ScoresError as exc:
        raise KnowledgeError(str(exc)) from None
    kb = KnowledgeBase(**loaded, source_dir=directory, grant_scores=scores)
    kb.cross_check()
    return kb
