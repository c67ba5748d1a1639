"""Deadline reminders: which (event, lead time) pairs exist, when each fires, and what firing
does. Time is a parameter everywhere, so tests move a clock instead of sleeping for days.

One reminder is one outbox campaign for all current subscribers of the event's type at that
lead time, with the dedupe key `reminder:<event>:<date>:<lead>`: however often it fires (a
missed job caught up at start-up, two schedulers), each subscriber gets it once. Moving an
event changes the key, so the new date is reminded and the old one is not.

Only confirmed dates are reminded: an expected date (the pattern of past years, not yet
announced) would send people to a window that may not open. Instead, users may watch an
expected event; when staff confirm it, `announce_confirmed` queues one message to its watchers
(dedupe key `confirmed:<event>`), however many times the date is edited afterwards."""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from delivery.outbox import Audience, enqueue
from i18n import I18n
from knowledge.base import KnowledgeBase
from storage.db import Database
from storage.models import AuditEntry, CalendarEntry, Campaign, utcnow

LEADS = (7, 1, 0)  # days before the event; 0 is the morning of the day
REMIND_AT = {7: time(10, 0), 1: time(10, 0), 0: time(9, 0)}  # inside the default waking hours


@dataclass(frozen=True)
class PlannedReminder:
    event_key: str
    starts_on: date
    lead: int
    fire_at: datetime  # aware, UTC

    @property
    def job_id(self) -> str:
        return f"reminder:{self.event_key}:{self.lead}"

    @property
    def dedupe_key(self) -> str:
        return f"reminder:{self.event_key}:{self.starts_on.isoformat()}:{self.lead}"


def fire_time(starts_on: date, lead: int, tz: ZoneInfo) -> datetime:
    local = datetime.combine(starts_on - timedelta(days=lead), REMIND_AT[lead], tzinfo=tz)
    return local.astimezone(ZoneInfo("UTC"))


def still_useful(starts_on: date, now: datetime, tz: ZoneInfo) -> bool:
    """A reminder is useful until the event's day is over; past events are never reminded."""
    return now.astimezone(tz).date() <= starts_on


def remindable(event: CalendarEntry) -> bool:
    """A confirmed date known to the day; month-only and expected dates are not reminded."""
    return event.precision == "day" and event.confirmed


def plan(events: Iterable[CalendarEntry], tz: ZoneInfo) -> list[PlannedReminder]:
    """Every reminder of every remindable event."""
    return [
        PlannedReminder(event.key, event.starts_on, lead, fire_time(event.starts_on, lead, tz))
        for event in events
        if remindable(event)
        for lead in LEADS
    ]


def due_now(
    planned: Iterable[PlannedReminder], now: datetime, tz: ZoneInfo
) -> list[PlannedReminder]:
    """What a start-up should still send: per event only the latest lead whose time has come
    (someone who missed the 7-day reminder gets the 1-day one, not both at once)."""
    latest: dict[str, PlannedReminder] = {}
    for reminder in planned:
        if reminder.fire_at <= now and still_useful(reminder.starts_on, now, tz):
            current = latest.get(reminder.event_key)
            if current is None or reminder.lead < current.lead:
                latest[reminder.event_key] = reminder
    return list(latest.values())


def event_when(event: CalendarEntry) -> str:
    """The event's date or range as staff and users type it (month-only: MM.YYYY)."""
    pattern = "%m.%Y" if event.precision == "month" else "%d.%m.%Y"
    when = event.starts_on.strftime(pattern)
    end = event.ends_on.strftime(pattern) if event.ends_on else when
    return when if end == when else f"{when} – {end}"


def event_title(event: CalendarEntry, lang: str) -> str:
    return event.titles.get(lang) or event.titles.get("en") or event.key


def reminder_texts(i18n: I18n, event: CalendarEntry, lead: int, tz: ZoneInfo) -> dict[str, str]:
    texts = {}
    for lang in i18n.languages:
        when = event.starts_on.strftime("%d.%m.%Y")
        if event.ends_on:
            when += " – " + event.ends_on.strftime("%d.%m.%Y")
        title = event_title(event, lang)
        text = i18n.t(lang, f"calendar.reminder_{lead}", title=title, when=when)
        if event.descriptions.get(lang):
            text += "\n" + html.escape(event.descriptions[lang])
        if event.confidence != "confirmed":
            text += "\n" + i18n.t(lang, "calendar.unconfirmed")
        texts[lang] = text
    return texts


async def fire(
    database: Database,
    i18n: I18n,
    event_key: str,
    lead: int,
    *,
    now: datetime | None = None,
    tz: ZoneInfo,
) -> Campaign | None:
    """Queue one reminder for the event's current subscribers, unless the event is gone, past,
    or this reminder (for this date) was queued before."""
    now = now or utcnow()
    async with database.session() as session:
        event = (
            await session.exec(sa.select(CalendarEntry).where(CalendarEntry.key == event_key))
        ).scalar_one_or_none()
    if event is None or not remindable(event) or not still_useful(event.starts_on, now, tz):
        return None
    reminder = PlannedReminder(
        event.key, event.starts_on, lead, fire_time(event.starts_on, lead, tz)
    )
    campaign, created = await enqueue(
        database,
        kind="reminder",
        texts=reminder_texts(i18n, event, lead, tz),
        audience=Audience(subscription=(event.type, lead)),
        dedupe_key=reminder.dedupe_key,
    )
    return campaign if created else None


def confirmed_texts(i18n: I18n, event: CalendarEntry) -> dict[str, str]:
    texts = {}
    for lang in i18n.languages:
        text = i18n.t(
            lang,
            "fixes.calendar.confirmed_notice",
            title=event_title(event, lang),
            when=event_when(event),
        )
        if event.descriptions.get(lang):
            text += "\n" + html.escape(event.descriptions[lang])
        texts[lang] = text
    return texts


async def announce_confirmed(database: Database, i18n: I18n, event: CalendarEntry) -> bool:
    """Tell the users watching an event that its date is now confirmed: one message each,
    ever (the dedupe key has no date in it, so later edits do not announce again). Runs in
    the caller's session when there is one, so the message is queued with the change."""
    _, created = await enqueue(
        database,
        kind="date_confirmed",
        texts=confirmed_texts(i18n, event),
        audience=Audience(watching=event.key),
        dedupe_key=f"confirmed:{event.key}",
    )
    return created


async def seed_calendar(database: Database, kb: KnowledgeBase) -> int:
    """Fill the calendar from knowledge/data/calendar.yaml: all of it when empty; later, only
    events the data gained since (a new cycle's expected dates), never one staff deleted.
    What is in the database is staff's: a seeded event is never overwritten."""
    async with database.session() as session:
        keys = set((await session.exec(sa.select(CalendarEntry.key))).scalars())
        deleted = set()
        if keys:
            audit = await session.exec(
                sa.select(AuditEntry.details).where(AuditEntry.action == "calendar_deleted")
            )
            deleted = {details.get("event") for details in audit.scalars()}
        new = [e for e in kb.calendar.events if e.id not in keys and e.id not in deleted]
        session.add_all(entry_from_knowledge(event) for event in new)
        await session.commit()
        return len(new)


def entry_from_knowledge(event: Any) -> CalendarEntry:
    return CalendarEntry(
        key=event.id,
        type=event.type,
        starts_on=event.start,
        ends_on=event.end,
        precision=event.precision,
        titles={"kk": event.title.kk, "ru": event.title.ru, "en": event.title.en},
        descriptions=(
            {"kk": event.description.kk, "ru": event.description.ru, "en": event.description.en}
            if event.description
            else {}
        ),
        audience=event.audience,
        source=event.source,
        confidence=event.confidence.value,
        basis=(
            {"kk": event.basis.kk, "ru": event.basis.ru, "en": event.basis.en}
            if event.basis
            else {}
        ),
    )
