"""Calendar import and export as YAML, in the same shape as knowledge/data/calendar.yaml, so
an office can keep its calendar in a file and load it with `talapker calendar import`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from pydantic import ValidationError

from i18n import I18n
from knowledge.schema import CalendarData
from scheduler.reminders import announce_confirmed, entry_from_knowledge
from storage.db import Database
from storage.models import CalendarEntry, utcnow


class CalendarFileError(ValueError):
    pass


def _confirming_drops_the_basis(raw: Any) -> Any:
    """Staff confirm an expected date by editing its dates and `confidence: confirmed` in an
    export; the `basis` line left behind then no longer applies."""
    events = raw.get("events") if isinstance(raw, dict) else None
    for event in events if isinstance(events, list) else []:
        if isinstance(event, dict) and event.get("confidence") == "confirmed":
            event.pop("basis", None)
    return raw


def parse_calendar(text: str, name: str = "calendar") -> list[CalendarEntry]:
    try:
        raw = _confirming_drops_the_basis(yaml.safe_load(text))
        data = CalendarData.model_validate(raw)
    except yaml.YAMLError as exc:
        raise CalendarFileError(f"{name}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise CalendarFileError(f"{name}: {where}: {error['msg']}") from None
    return [entry_from_knowledge(event) for event in data.events]


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int
    confirmed: list[str]  # keys of expected events this import confirmed


async def import_calendar(database: Database, path: Path, i18n: I18n | None = None) -> ImportResult:
    """Add new events and update existing ones (matched by id). An expected event that the
    file confirms is announced to its watchers (with `i18n`), once."""
    text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    entries = parse_calendar(text, path.name)
    added = updated = 0
    confirmed: list[CalendarEntry] = []
    async with database.session() as session:
        for entry in entries:
            existing = (
                await session.exec(sa.select(CalendarEntry).where(CalendarEntry.key == entry.key))
            ).scalar_one_or_none()
            if existing is None:
                session.add(entry)
                added += 1
                continue
            if entry.confirmed and not existing.confirmed:
                confirmed.append(existing)
            for name in (
                "type",
                "starts_on",
                "ends_on",
                "precision",
                "titles",
                "descriptions",
                "audience",
                "source",
                "confidence",
                "basis",
            ):
                setattr(existing, name, getattr(entry, name))
            existing.updated_at = utcnow()
            updated += 1
        await session.commit()
        if i18n is not None:
            for event in confirmed:
                await announce_confirmed(database, i18n, event)
    return ImportResult(added, updated, [e.key for e in confirmed])


def export_calendar(entries: list[CalendarEntry]) -> str:
    events: list[dict[str, Any]] = []
    for e in sorted(entries, key=lambda e: e.starts_on):
        event: dict[str, Any] = {"id": e.key, "type": e.type, "start": e.starts_on}
        if e.ends_on:
            event["end"] = e.ends_on
        if e.precision != "day":
            event["precision"] = e.precision
        event["title"] = e.titles
        if e.descriptions:
            event["description"] = e.descriptions
        if e.basis:
            event["basis"] = e.basis
        event |= {
            "audience": e.audience,
            "source": e.source,
            "as_of": e.starts_on.year,
            "confidence": e.confidence,
        }
        events.append(event)
    return yaml.safe_dump({"events": events}, allow_unicode=True, sort_keys=False)
