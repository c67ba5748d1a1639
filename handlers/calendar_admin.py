"""Staff keep the admission calendar in Telegram: list, change a date, delete, preview the
reminder, add. Every change reschedules the reminders at once and goes to the audit log."""

from __future__ import annotations

import re
from datetime import date, datetime

import sqlalchemy as sa
from aiogram import Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from delivery.outbox import DeliveryWorker
from handlers.broadcast import staff_only
from handlers.callbacks import CalendarCb
from handlers.common import sender
from handlers.filters import NOT_COMMAND
from handlers.keyboards import Keyboard
from handlers.settings import HandlerSettings
from i18n import I18n, Translator
from knowledge.schema import EVENT_TYPES
from scheduler.reminders import announce_confirmed, reminder_texts
from scheduler.service import ReminderScheduler
from storage.db import Database
from storage.models import AuditEntry, CalendarEntry, User, utcnow

_RANGE = re.compile(r"^\s*(\d{1,2}\.\d{1,2}\.\d{4})\s*(?:[-–]\s*(\d{1,2}\.\d{1,2}\.\d{4}))?\s*$")


class CalendarEdit(StatesGroup):
    date = State()


def parse_range(text: str) -> tuple[date, date | None] | None:
    match = _RANGE.match(text)
    if not match:
        return None
    try:
        start = datetime.strptime(match.group(1), "%d.%m.%Y").date()
        end = datetime.strptime(match.group(2), "%d.%m.%Y").date() if match.group(2) else None
    except ValueError:
        return None
    if end is not None and end < start:
        return None
    return start, end


def when(event: CalendarEntry) -> str:
    text = event.starts_on.strftime("%d.%m.%Y")
    return text + (" – " + event.ends_on.strftime("%d.%m.%Y") if event.ends_on else "")


async def show(message: Message, t: Translator, session: AsyncSession) -> None:
    events = (
        (
            await session.exec(
                sa.select(CalendarEntry).order_by(CalendarEntry.starts_on.desc()).limit(12)
            )
        )
        .scalars()
        .all()
    )  # type: ignore[attr-defined]
    await message.answer(t("calendar_admin.title"))
    for event in reversed(events):
        builder = Keyboard()
        for action, icon in (("edit", "✏️"), ("preview", "👁"), ("delete", "🗑")):
            builder.button(
                text=icon, callback_data=CalendarCb(action=action, event_id=event.id or 0)
            )
        title = event.titles.get(t.lang) or event.key
        mark = "" if event.confidence == "confirmed" else " ❔"
        await message.answer(
            f"<b>{when(event)}</b> · {title}{mark}\n<code>{event.key}</code>",
            reply_markup=builder.as_markup(),
        )


async def pressed(
    callback: CallbackQuery,
    callback_data: CalendarCb,
    state: FSMContext,
    user: User,
    t: Translator,
    i18n: I18n,
    session: AsyncSession,
    settings: HandlerSettings,
    reminders: ReminderScheduler,
) -> None:
    event = await session.get(CalendarEntry, callback_data.event_id)
    if event is None:
        await callback.answer(t.plain("errors.stale_button"), show_alert=True)
        return
    title = event.titles.get(t.lang) or event.key
    send = sender(callback)
    if callback_data.action == "preview":
        await send(reminder_texts(i18n, event, 1, settings.tz)[t.lang])
    elif callback_data.action == "edit":
        await state.set_state(CalendarEdit.date)
        await state.set_data({"event_id": event.id})
        await send(t("calendar_admin.edit_prompt", title=title))
    else:
        await session.delete(event)
        session.add(
            AuditEntry(actor_id=user.id, action="calendar_deleted", details={"event": event.key})
        )
        await session.commit()
        await reminders.reschedule()
        await send(t("calendar_admin.deleted", title=title))


async def new_date(
    message: Message,
    state: FSMContext,
    user: User,
    t: Translator,
    i18n: I18n,
    database: Database,
    session: AsyncSession,
    reminders: ReminderScheduler,
    delivery: DeliveryWorker,
) -> None:
    parsed = parse_range(message.text or "")
    event = await session.get(CalendarEntry, (await state.get_data()).get("event_id", 0))
    if parsed is None or event is None:
        await message.answer(t("calendar_admin.bad_date"))
        return
    old = when(event)
    # A date staff type in is the announced one: an expected event becomes confirmed.
    confirming = not event.confirmed
    event.starts_on, event.ends_on = parsed
    event.precision, event.updated_at = "day", utcnow()
    if confirming:
        event.confidence, event.basis = "confirmed", {}
        event.source = f"admissions office (user {user.id}), {utcnow().date().isoformat()}"
    session.add(
        AuditEntry(
            actor_id=user.id,
            action="calendar_confirmed" if confirming else "calendar_moved",
            details={"event": event.key, "from": old, "to": when(event)},
        )
    )
    if confirming:
        # Queued in this transaction: the change and the announcement commit together.
        await announce_confirmed(database, i18n, event)
    await session.commit()  # the scheduler reads the calendar in its own session
    await reminders.reschedule()
    await state.clear()
    if confirming:
        delivery.wake.set()
    reply = t("calendar_admin.moved", title=event.titles.get(t.lang) or event.key, when=when(event))
    await message.answer(reply + ("\n" + t("fixes.calendar.staff_confirmed") if confirming else ""))


async def add(
    message: Message,
    command: CommandObject,
    user: User,
    t: Translator,
    session: AsyncSession,
    reminders: ReminderScheduler,
) -> None:
    parts = [p.strip() for p in (command.args or "").split("|")]
    parsed = parse_range(parts[2]) if len(parts) == 6 else None
    if (
        parsed is None
        or parts[1] not in EVENT_TYPES
        or not re.fullmatch(r"[a-z0-9_]{3,64}", parts[0])
    ):
        await message.answer(t("calendar_admin.add_usage", types=", ".join(EVENT_TYPES)))
        return
    exists = (
        await session.exec(sa.select(CalendarEntry).where(CalendarEntry.key == parts[0]))
    ).scalar_one_or_none()
    if exists is not None:
        await message.answer(t("calendar_admin.add_usage", types=", ".join(EVENT_TYPES)))
        return
    event = CalendarEntry(
        key=parts[0],
        type=parts[1],
        starts_on=parsed[0],
        ends_on=parsed[1],
        titles={"kk": parts[3], "ru": parts[4], "en": parts[5]},
        audience="everyone",
        source=f"admissions office (user {user.id})",
        confidence="confirmed",
    )
    session.add(event)
    session.add(
        AuditEntry(
            actor_id=user.id,
            action="calendar_added",
            details={"event": event.key, "on": when(event)},
        )
    )
    await session.commit()
    await reminders.reschedule()
    await message.answer(
        t("calendar_admin.added", title=event.titles.get(t.lang), when=when(event))
    )


def build_router() -> Router:
    router = Router(name="calendar_admin")
    router.message.filter(staff_only)
    router.callback_query.filter(staff_only)
    router.message.register(show, Command("calendar"))
    router.message.register(add, Command("calendar_add"))
    router.callback_query.register(pressed, CalendarCb.filter())
    router.message.register(new_date, StateFilter(CalendarEdit.date), NOT_COMMAND)
    return router
