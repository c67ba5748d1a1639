"""What `talapker scores` and `talapker scores import` print: a staff query resolved against the
grant-score data (with the nearest matches when a group or university is not found), as
plain lines or JSON rows, and an import's summary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowledge.scores import (
    LISTS,
    SECTIONS,
    GrantScores,
    ScoresError,
    ScoresView,
    scores_view,
)
from knowledge.scores_import import compare, read_file, read_stored, write

LIST_NAMES_EN = {
    "general": "general competition",
    "rural": "rural quota",
    "emergency": "quota for regions hit by the 2024 floods",
    "social": "social quotas (orphans, disability, large families…)",
    "pedagogical": "grants placed at pedagogical universities",
    "pedagogical_rural": "grants placed at pedagogical universities, rural quota",
    "technical": "grants placed at technical universities",
    "technical_rural": "grants placed at technical universities, rural quota",
    "western": "order for the western regions",
    "western_rural": "order for the western regions, rural quota",
    "relocation": "grants for young people moving to study in other regions",
    "foreign_branch": "branches of foreign universities",
    "strategic": "strategic-partnership programmes",
    "double_degree": "double-degree programmes",
}


@dataclass(frozen=True)
class StaffQuery:
    group: str
    university: str | None = None
    year: int | None = None
    quota: str | None = None


def resolve(scores: GrantScores, query: StaffQuery) -> ScoresView:
    """The view a staff query asks for; ScoresError with a helpful message otherwise."""
    if not scores.rows:
        raise ScoresError("no grant-score data is loaded (knowledge/data/grant_scores/)")
    group = scores.canonical_group(query.group)
    if group is None:
        nearest = ", ".join(scores.nearest_groups(query.group))
        raise ScoresError(f"no grant scores for group {query.group!r}; nearest: {nearest}")
    university = None
    if query.university:
        info = scores.find_university(query.university)
        if info is None:
            nearest = "; ".join(
                f"{u.code} {u.short}" for u in scores.nearest_universities(query.university)
            )
            raise ScoresError(f"no university {query.university!r}; nearest: {nearest}")
        university = info.code
    year = query.year if query.year is not None else scores.latest_year(group)
    assert year is not None
    if not scores.rows_for(group, year):
        years = ", ".join(str(y) for y in sorted({r.year for r in _group_rows(scores, group)}))
        raise ScoresError(f"no grant scores for {group} in {year}; years with data: {years}")
    if query.quota is not None and query.quota not in LISTS:
        raise ScoresError(f"unknown quota {query.quota!r}; one of: {', '.join(LISTS)}")
    lists = [query.quota] if query.quota else scores.lists_of(group, year)
    view = scores_view(scores, [group], year=year, lists=lists, university=university)
    if not view.groups:
        raise ScoresError(
            f"{group} had no {query.quota or 'grant'} list in {year}"
            + (f" at university {university}" if university is not None else "")
        )
    return view


def _group_rows(scores: GrantScores, group: str) -> list[Any]:
    return [r for y in scores.years for r in scores.rows_for(group, y)]


def rows_as_dicts(scores: GrantScores, view: ScoresView) -> list[dict[str, Any]]:
    out = []
    for group in view.groups:
        for block in group.lists:
            for line in block.lines:
                row = line.row
                out.append(
                    {
                        "year": row.year,
                        "group": row.group,
                        "group_name": group.name,
                        "university_code": row.university,
                        "university_name": line.university.name,
                        "university_short": line.university.short,
                        "quota": block.list_id,
                        "section": row.section,
                        "tag": row.tag or None,
                        "min": row.min,
                        "max": row.max,
                        "avg": row.avg,
                        "grants": row.grants,
                        "source": row.provenance.source,
                        "confidence": row.provenance.confidence.value,
                    }
                )
    return out


def format_text(view: ScoresView) -> str:
    lines: list[str] = []
    for group in view.groups:
        lines.append(f"{group.group} {group.name}: grant passing scores {group.year}")
        for block in group.lists:
            trend = ", ".join(
                f"{group.year - i - 1}: {row.min if row else '—'}"
                for i, row in enumerate(block.trend)
            )
            lines.append(
                f"  {LIST_NAMES_EN[block.list_id]}: national minimum {block.national.min} ({trend})"
            )
            for line in block.lines:
                row = line.row
                tag = f" [{row.tag}]" if row.tag else ""
                grants = f"{row.grants} grants" if row.grants is not None else "grants unknown"
                spread = f", max {row.max}, avg {row.avg}" if row.max is not None else ""
                lines.append(
                    f"    {row.university:>3} {line.university.short}{tag}: min {row.min}"
                    f"{spread}, {grants}"
                )
        years: dict[tuple[str, str], set[int]] = {}
        for fact in view.facts:
            years.setdefault((fact.source, fact.confidence.value), set()).add(fact.as_of)
        for (source, confidence), seen in years.items():
            listed = ", ".join(str(y) for y in sorted(seen))
            lines.append(f"  source: {source} ({listed}; {confidence})")
    lines.append("Minimums change every year: a guide, not a guarantee.")
    return "\n".join(lines)


def run_import(
    directory: Path, path: Path, year: int, *, dry_run: bool, section: str = "GENERAL"
) -> str:
    """Read the whole file, then (unless a dry run) replace the year's data in one step.
    `section` is the order a PDF list belongs to (a CSV names its own)."""
    if section not in SECTIONS:
        raise ScoresError(f"unknown section {section!r}; one of: {', '.join(SECTIONS)}")
    imported = read_file(path, year, section)
    change = compare(read_stored(directory, year), imported.cells)
    grants = sum(c.grants or 0 for c in imported.cells)
    summary = [
        f"{path.name}: {imported.kind}, {len(imported.cells)} lists"
        + (f", {grants} grants" if grants else "")
        + f" for {year}",
        f"  {change.added} new, {change.changed} changed, {change.removed} no longer listed, "
        f"{change.unchanged} unchanged",
        *(f"  {example}" for example in change.examples),
    ]
    if dry_run:
        summary.append("dry run: nothing written")
    else:
        target = write(directory, imported)
        summary.append(f"written to {target}; send /reload_kb so running bots pick it up")
    return "\n".join(summary)
