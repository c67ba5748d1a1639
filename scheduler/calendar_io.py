"""Calendar import and export as YAML, in the same shape as knowledge/data/calendar.yaml, so
an office can keep its calendar in a file and load it with `talapker calendar import`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from pydantic import ValidationError

from knowledge.schema import CalendarData
from scheduler.reminders import entry_from_knowledge
from storage.db import Database
from storage.models import CalendarEntry, utcnow


class CalendarFileError(ValueError):
    pass


def parse_calendar(text: str, name: str = "calendar") -> list[CalendarEntry]:
    try:
        raw = yaml.safe_load(text)
        data = CalendarData.model_validate(raw)
    except yaml.YAMLError as exc:
        raise CalendarFileError(f"{name}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise CalendarFileError(f"{name}: {where}: {error['msg']}") from None
    return [entry_from_knowledge(event) for event in data.events]


async def import_calendar(database: Database, path: Path) -> tuple[int, int]:
    """Add new events and update existing ones (matched by id); returns (added, updated)."""
    text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    entries = parse_calendar(text, path.name)
    added = updated = 0
    async with database.session() as session:
        for entry in entries:
            existing = (
                await session.exec(sa.select(CalendarEntry).where(CalendarEntry.key == entry.key))
            ).scalar_one_or_none()
            if existing is None:
                session.add(entry)
                added += 1
                continue
            for name in (
                "type",
                "starts_on",
                "ends_on",
                "precision",
                "titles",
                "audience",
                "source",
                "confidence",
            ):
                setattr(existing, name, getattr(entry, name))
            existing.updated_at = utcnow()
            updated += 1
        await session.commit()
    return added, updated


def export_calendar(entries: list[CalendarEntry]) -> str:
    events: list[dict[str, Any]] = []
    for e in sorted(entries, key=lambda e: e.starts_on):
        event: dict[str, Any] = {"id": e.key, "type": e.type, "start": e.starts_on}
        if e.ends_on:
            event["end"] = e.ends_on
        if e.precision != "day":
            event["precision"] = e.precision
        event |= {
            "title": e.titles,
            "audience": e.audience,
            "source": e.source,
            "as_of": e.starts_on.year,
            "confidence": e.confidence,
        }
        events.append(event)
    return yaml.safe_dump({"events": events}, allow_unicode=True, sort_keys=False)
