"""The grant outlook an applicant reads: which groups a question (or the UNT check) is about,
which lists they compete in, and what to show of last years' passing scores.

Used by the grant_chance and quotas answers and by the UNT check's "show all" button. The
rural quota is counted in when the question names it or the profile says the applicant lives
in a village (onboarding's settlement); otherwise only the general competition."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from knowledge.base import KnowledgeBase
from knowledge.scores import GrantScores, ScoresView, UniversityInfo, likelihood, scores_view

LINES_SHOWN = 10
GROUPS_SHOWN = 5
# Fields whose groups an answer lists when a question names the field, not a group.
FIELD_THRESHOLDS = {"pedagogy", "law", "healthcare", "agriculture"}


@dataclass(frozen=True)
class OutlookQuery:
    """What an outlook was built from, small enough for a button's callback data (64 bytes):
    the target names a group, a field or a subject pair (see groups_for_target)."""

    target: str  # "group=B057", "field=pedagogy", "pair=4+5" (subject indexes), "field=…,pair=…"
    total: int | None
    rural: bool
    year: int | None
    university: int | None


def pair_token(kb: KnowledgeBase, pair: Sequence[str]) -> str:
    """A subject pair as subject indexes ("4+5"): ids would not fit a button's 64 bytes."""
    ids = [s.id for s in kb.subjects.subjects]
    return "+".join(str(ids.index(subject)) for subject in pair)


def _pair_of(kb: KnowledgeBase, token: str) -> list[str] | None:
    subjects = kb.subjects.subjects
    parts = token.split("+")
    if len(parts) != 2 or not all(p.isdigit() and int(p) < len(subjects) for p in parts):
        return None
    return [subjects[int(p)].id for p in parts]


def groups_for_target(kb: KnowledgeBase, target: str) -> list[str]:
    """The groups of a query's target; empty for a target that names nothing we know (a
    forged or outdated button). "field=pedagogy,pair=4+5" is a field's groups the pair opens.
    No ":" inside: aiogram's callback data uses it as the separator."""
    found: list[str] | None = None
    for part in target.split(","):
        kind, _, value = part.partition("=")
        if kind == "group":
            groups = groups_asked(kb, group_codes=[value])
        elif kind == "field" and value in FIELD_THRESHOLDS:
            groups = groups_asked(kb, fields=[value])
        elif kind == "pair" and (pair := _pair_of(kb, value)):
            groups = groups_asked(kb, pair=pair)
        else:
            return []
        found = groups if found is None else [g for g in found if g in groups]
    return found or []


@dataclass(frozen=True)
class Outlook:
    """What the template renders. `shown` caps the lines unless `show_all`."""

    query: OutlookQuery
    view: ScoresView
    lists: tuple[str, ...]
    rural_from_profile: bool
    settlement_known: bool
    show_all: bool
    hidden_lines: int
    hidden_groups: int
    years_with_data: tuple[int, ...]


def groups_asked(
    kb: KnowledgeBase,
    *,
    group_codes: Sequence[str] = (),
    fields: Sequence[str] = (),
    pair: Sequence[str] | None = None,
) -> list[str]:
    """The score codes of the groups named, of a field's groups, or of the groups a pair
    opens; medicine's new codes (BM086…) stand in for the classifier's."""
    scores = kb.grant_scores
    codes: list[str] = []

    def add(code: str) -> None:
        found = scores.canonical_group(code)
        if found and found not in codes:
            codes.append(found)

    for code in group_codes:
        add(code)
    if not codes:
        for name in fields:
            if name in FIELD_THRESHOLDS:
                for group in kb.programme_groups.groups:
                    if group.threshold == name:
                        add(group.code)
                if name == "healthcare":
                    for code in scores.groups:
                        if code.startswith("BM"):
                            add(code)
    if not codes and pair:
        for group in kb.groups_for_pair(pair):
            add(group.code)
    return codes


def lists_for(quotas: Sequence[str], profile: Mapping[str, str | None]) -> tuple[list[str], bool]:
    """General competition always; the rural quota when asked about or when the profile says
    the applicant lives in a village. Returns the lists and whether the profile added rural."""
    if "rural" in quotas:
        return ["general", "rural"], False
    if profile.get("settlement") == "rural":
        return ["general", "rural"], True
    return ["general"], False


def build_outlook(
    kb: KnowledgeBase,
    target: str,
    *,
    total: int | None,
    quotas: Sequence[str] = (),
    profile: Mapping[str, str | None] | None = None,
    year: int | None = None,
    universities: Sequence[UniversityInfo] = (),
    show_all: bool = False,
) -> Outlook | None:
    """None when there is nothing to show (no groups, or no scores for them)."""
    scores: GrantScores = kb.grant_scores
    groups = groups_for_target(kb, target)
    if not groups or not scores.rows:
        return None
    profile = profile or {}
    lists, from_profile = lists_for(quotas, profile)
    university = universities[0].code if universities else None
    view = scores_view(scores, groups, year=year, lists=lists, total=total, university=university)
    if not view.groups and university is not None:
        # That university had no grants in the group: show the national picture instead.
        view = scores_view(scores, groups, year=year, lists=lists, total=total)
    if not view.groups and not view.missing_groups:
        return None
    hidden_lines = hidden_groups = 0
    if not show_all:
        view, hidden_lines, hidden_groups = _cap(view, total, single=university is not None)
    query = OutlookQuery(target, total, "rural" in lists, year, university)
    return Outlook(
        query=query,
        view=view,
        lists=tuple(lists),
        rural_from_profile=from_profile,
        settlement_known=profile.get("settlement") in ("city", "rural"),
        show_all=show_all,
        hidden_lines=hidden_lines,
        hidden_groups=hidden_groups,
        years_with_data=tuple(scores.years),
    )


def _cap(view: ScoresView, total: int | None, *, single: bool) -> tuple[ScoresView, int, int]:
    """About ten lines. With a score: the ten likeliest universities over all groups and lists,
    their groups first. Without one: a single group shows each list's five lowest minimums,
    several groups only their national minimums."""
    groups = list(view.groups)
    if total is not None:
        ranked = sorted(
            ((gi, line) for gi, g in enumerate(groups) for b in g.lists for line in b.lines),
            key=lambda item: likelihood(item[1], total),
        )
        kept = {id(line) for _, line in ranked[:LINES_SHOWN]}
        first_seen: dict[int, int] = {}
        for position, (gi, _) in enumerate(ranked):
            first_seen.setdefault(gi, position)
        order = sorted(range(len(groups)), key=lambda gi: first_seen.get(gi, len(ranked)))
        groups = [groups[gi] for gi in order]
    else:
        per_list = LINES_SHOWN if single else (5 if len(groups) == 1 else 0)
        kept = {id(line) for g in groups for b in g.lists for line in b.lines[:per_list]}
    shown = [
        replace(
            g,
            lists=tuple(
                replace(b, lines=tuple(line for line in b.lines if id(line) in kept))
                for b in g.lists
            ),
        )
        for g in groups[:GROUPS_SHOWN]
    ]
    every = sum(len(b.lines) for g in groups for b in g.lists)
    hidden = every - sum(len(b.lines) for g in shown for b in g.lists)
    return replace(view, groups=tuple(shown)), hidden, max(len(groups) - GROUPS_SHOWN, 0)
