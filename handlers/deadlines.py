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
from scheduler.reminders import LEADS
from storage.models import CalendarEntry, Subscription, User

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
    t: Translator, types_on: set[str], leads: list[int], window: tuple[int, int] = (9, 21)
) -> InlineKeyboardMarkup:
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
    builder.adjust(*([1] * len(EVENT_TYPES)), 3, 1)
    return builder.as_markup()


async def render(
    send: Send, user: User, t: Translator, session: AsyncSession, settings: HandlerSettings
) -> None:
    audiences = AUDIENCES.get(user.role or "applicant", ("applicants", "parents", "everyone"))
    events = (
        (
            await session.exec(
                sa.select(CalendarEntry)
                .where(
                    sa.func.coalesce(CalendarEntry.ends_on, CalendarEntry.starts_on)
                    >= today(settings)
                )
                .where(CalendarEntry.audience.in_(audiences))  # type: ignore[attr-defined]
                .order_by(CalendarEntry.starts_on)
                .limit(SHOWN)
            )
        )
        .scalars()
        .all()
    )
    lines = [t("calendar.title")]
    for event in events:
        when = event.starts_on.strftime("%m.%Y" if event.precision == "month" else "%d.%m.%Y")
        if event.ends_on:
            when += " – " + event.ends_on.strftime(
                "%m.%Y" if event.precision == "month" else "%d.%m.%Y"
            )
        mark = "" if event.confidence == "confirmed" else " ❔"
        title = event.titles.get(t.lang) or event.titles.get("en", event.key)
        lines.append(f"• <b>{when}</b>: {title}{mark}")
        if event.descriptions.get(t.lang):
            lines.append(f"  <i>{html.escape(event.descriptions[t.lang])}</i>")
    if not events:
        lines.append(t("calendar.none"))
    lines += ["", t("calendar.subscribe_hint")]
    types_on = await subscribed_types(session, user.id)
    window = (user.waking_from, user.waking_until)
    await send("\n".join(lines), reply_markup=keyboard(t, types_on, leads_of(user), window))


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
) -> None:
    valid = {
        "type": callback_data.value in EVENT_TYPES,
        "lead": callback_data.value in {str(x) for x in LEADS},
        "hours": callback_data.value == "next",
    }[callback_data.kind]
    if not valid:
        await callback.answer(t.plain("errors.stale_button"), show_alert=True)
        return
    types_on = await subscribed_types(session, user.id)
    leads = leads_of(user)
    if callback_data.kind == "type":
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
    await callback.answer(t.plain("calendar.saved"))
    if isinstance(callback.message, Message):
        with suppress(TelegramBadRequest):
            window = (user.waking_from, user.waking_until)
            await callback.message.edit_reply_markup(
                reply_markup=keyboard(t, types_on, leads, window)
            )


def build_router() -> Router:
    router = Router(name="deadlines")
    router.message.register(deadlines_command, Command("deadlines"))
    router.callback_query.register(deadlines_button, MenuCb.filter(F.action == "deadlines"))
    router.callback_query.register(toggle, ReminderCb.filter())
    return router
