"""/deadlines: the coming admission dates for the user's role, with reminder subscriptions per
kind of event and a choice of how early (7 days, 1 day, that morning)."""

from __future__ import annotations

import html
from contextlib import suppress

import sqlalchemy as sa
from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.callbacks import MenuCb, ReminderCb
from handlers.common import Send, sender, today
from handlers.keyboards import Keyboard
from handlers.settings import HandlerSettings
from i18n import Translator
from knowledge.schema import EVENT_TYPES as ALL_EVENT_TYPES
from scheduler.reminders import LEADS, event_title, event_when
from storage.models import CalendarEntry, DateWatch, Subscription, User

# Kinds of events users can subscribe to ("serpin" and "other" have no dates in the data yet).
EVENT_TYPES = tuple(t for t in ALL_EVENT_TYPES if t not in ("serpin", "other"))
AUDIENCES = {"applicant": ("applicants", "everyone"), "parent": ("parents", "everyone")}
SHOWN = 8
# Waking-hour windows a user can cycle through (local time); (0, 24) is "any time".
WINDOWS = ((9, 21), (8, 22), (10, 20), (0, 24))


def window_label(t: Translator, window: tuple[int, int]) -> str:
    if window == (0, 24):
        return t.plain("calendar.any_time")
    return f"{window[0]:02d}:00–{window[1]:02d}:00"


def leads_of(user: User) -> list[int]:
    return [int(x) for x in user.reminder_leads.split(",") if x.strip().isdigit()]


async def subscribed_types(session: AsyncSession, user_id: int) -> set[str]:
    rows = await session.exec(
        sa.select(Subscription.event_type).where(Subscription.user_id == user_id).distinct()
    )
    return set(rows.scalars())


def keyboard(
    t: Translator,
    types_on: set[str],
    leads: list[int],
    window: tuple[int, int] = (9, 21),
    watching: bool | None = None,
) -> InlineKeyboardMarkup:
    """`watching` None: no expected date is shown, so there is nothing to be told about."""
    builder = Keyboard()
    for event_type in EVENT_TYPES:
        mark = t.plain("calendar.on" if event_type in types_on else "calendar.off")
        builder.button(
            text=f"{mark} {t.plain(f'calendar.types.{event_type}')}",
            callback_data=ReminderCb(kind="type", value=event_type),
        )
    for lead in LEADS:
        mark = "✅" if lead in leads else "▫️"
        builder.button(
            text=f"{mark} {t.plain(f'calendar.lead_{lead}')}",
            callback_data=ReminderCb(kind="lead", value=str(lead)),
        )
    builder.button(
        text=t.plain("calendar.hours_button", hours=window_label(t, window)),
        callback_data=ReminderCb(kind="hours", value="next"),
    )
    rows = [*([1] * len(EVENT_TYPES)), 3, 1]
    if watching is not None:
        builder.button(
            text=t.plain("fixes.calendar.watch_off" if watching else "fixes.calendar.watch_on"),
            callback_data=ReminderCb(kind="watch", value="off" if watching else "on"),
        )
        rows.append(1)
    builder.adjust(*rows)
    return builder.as_markup()


def audiences_of(user: User) -> tuple[str, ...]:
    return AUDIENCES.get(user.role or "applicant", ("applicants", "parents", "everyone"))


async def coming_events(
    session: AsyncSession, user: User, settings: HandlerSettings
) -> list[CalendarEntry]:
    rows = await session.exec(
        sa.select(CalendarEntry)
        .where(sa.func.coalesce(CalendarEntry.ends_on, CalendarEntry.starts_on) >= today(settings))
        .where(CalendarEntry.audience.in_(audiences_of(user)))  # type: ignore[attr-defined]
        .order_by(CalendarEntry.starts_on)
        .limit(SHOWN)
    )
    return list(rows.scalars().all())


async def watched_keys(session: AsyncSession, user_id: int) -> set[str]:
    rows = await session.exec(sa.select(DateWatch.event_key).where(DateWatch.user_id == user_id))
    return set(rows.scalars())


def watch_state(events: list[CalendarEntry], watched: set[str]) -> bool | None:
    expected = [e.key for e in events if not e.confirmed]
    if not expected:
        return None
    return all(key in watched for key in expected)


async def render(
    send: Send, user: User, t: Translator, session: AsyncSession, settings: HandlerSettings
) -> None:
    events = await coming_events(session, user, settings)
    lines = [t("calendar.title")]
    for event in events:
        mark = "✅" if event.confirmed else "❔"
        title = html.escape(event_title(event, t.lang))
        lines.append(f"• {mark} <b>{event_when(event)}</b>: {title}")
        if not event.confirmed:
            status = t("fixes.calendar.expected").removeprefix("❔ ")
            if event.basis.get(t.lang):
                status += "; " + t("fixes.calendar.basis", basis=event.basis[t.lang])
            lines.append(f"  {status}")
        if event.descriptions.get(t.lang):
            lines.append(f"  <i>{html.escape(event.descriptions[t.lang])}</i>")
    if not events:
        lines.append(t("calendar.none"))
    else:
        lines += ["", t("fixes.calendar.legend")]
    lines += ["", t("calendar.subscribe_hint")]
    types_on = await subscribed_types(session, user.id)
    window = (user.waking_from, user.waking_until)
    watching = watch_state(events, await watched_keys(session, user.id))
    await send(
        "\n".join(lines), reply_markup=keyboard(t, types_on, leads_of(user), window, watching)
    )


async def deadlines_command(
    message: Message, user: User, t: Translator, session: AsyncSession, settings: HandlerSettings
) -> None:
    await render(message.answer, user, t, session, settings)


async def deadlines_button(
    callback: CallbackQuery,
    user: User,
    t: Translator,
    session: AsyncSession,
    settings: HandlerSettings,
) -> None:
    await render(sender(callback), user, t, session, settings)


async def toggle(
    callback: CallbackQuery,
    callback_data: ReminderCb,
    user: User,
    t: Translator,
    session: AsyncSession,
    settings: HandlerSettings,
) -> None:
    valid = {
        "type": callback_data.value in EVENT_TYPES,
        "lead": callback_data.value in {str(x) for x in LEADS},
        "hours": callback_data.value == "next",
        "watch": callback_data.value in ("on", "off"),
    }[callback_data.kind]
    if not valid:
        await callback.answer(t.plain("errors.stale_button"), show_alert=True)
        return
    types_on = await subscribed_types(session, user.id)
    leads = leads_of(user)
    watching: bool | None = None
    if callback_data.kind == "watch":
        watching = await set_watch(session, user, settings, on=callback_data.value == "on")
        if watching is None:
            await callback.answer(t.plain("fixes.calendar.nothing_to_watch"), show_alert=True)
            return
        notice = "fixes.calendar.watching" if watching else "fixes.calendar.not_watching"
        await callback.answer(t.plain(notice), show_alert=True)
    elif callback_data.kind == "type":
        event_type = callback_data.value
        if event_type in types_on:
            await session.exec(
                sa.delete(Subscription).where(
                    Subscription.user_id == user.id, Subscription.event_type == event_type
                )
            )
            types_on.discard(event_type)
        else:
            session.add_all(
                Subscription(user_id=user.id, event_type=event_type, lead_days=lead)
                for lead in leads
            )
            types_on.add(event_type)
    elif callback_data.kind == "hours":
        current = (user.waking_from, user.waking_until)
        index = WINDOWS.index(current) if current in WINDOWS else -1
        user.waking_from, user.waking_until = WINDOWS[(index + 1) % len(WINDOWS)]
    else:
        lead = int(callback_data.value)
        leads = sorted(set(leads) ^ {lead}, reverse=True)
        user.reminder_leads = ",".join(str(x) for x in leads)
        await session.exec(sa.delete(Subscription).where(Subscription.user_id == user.id))
        session.add_all(
            Subscription(user_id=user.id, event_type=et, lead_days=ld)
            for et in types_on
            for ld in leads
        )
    if callback_data.kind != "watch":
        await callback.answer(t.plain("calendar.saved"))
        events = await coming_events(session, user, settings)
        watching = watch_state(events, await watched_keys(session, user.id))
    if isinstance(callback.message, Message):
        with suppress(TelegramBadRequest):
            window = (user.waking_from, user.waking_until)
            await callback.message.edit_reply_markup(
                reply_markup=keyboard(t, types_on, leads, window, watching)
            )


async def set_watch(
    session: AsyncSession, user: User, settings: HandlerSettings, *, on: bool
) -> bool | None:
    """Watch (or stop watching) every expected date the user is shown; None if there is none.
    Stopping forgets every watch, also for dates no longer shown."""
    expected = [e.key for e in await coming_events(session, user, settings) if not e.confirmed]
    if not expected:
        return None
    await session.exec(sa.delete(DateWatch).where(DateWatch.user_id == user.id))  # type: ignore[arg-type]
    if on:
        session.add_all(DateWatch(user_id=user.id, event_key=key) for key in expected)
    await session.flush()
    return on


def build_router() -> Router:
    router = Router(name="deadlines")
    router.message.register(deadlines_command, Command("deadlines"))
    router.callback_query.register(deadlines_button, MenuCb.filter(F.action == "deadlines"))
    router.callback_query.register(toggle, ReminderCb.filter())
    return router
