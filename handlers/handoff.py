"""Hand-off to the admissions office.

Applicant side (private chat): "talk to a human", the menu button and the offer under an unsure
answer open a ticket; an acknowledgement says when the office answers; while a ticket is open
what the applicant writes goes to the staff chat; /cancel closes it; 👍/👎 on the office's answer.

Staff side (the supergroup STAFF_CHAT_ID): a forum topic per applicant (createForumTopic at their
first hand-off, id kept in `ticket_topics`) with a card and buttons "close" and "save as answer";
whatever staff write in the topic reaches the applicant as a copy (photos and documents too),
through the outbox. In a group without topics staff answer by replying to the card or to a
message the bot copied there. /tickets lists the queue.

Only staff (ADMIN_IDS or granted with /staff_add) can answer: anybody else writing in a topic is
told their message went nowhere. Buttons carry a ticket id and are checked against the presser:
an applicant can only rate their own ticket, only staff can close or save.

When Telegram refuses (the bot removed from the staff chat, a deleted topic, an applicant who
blocked the bot) the log says so, the staff chat gets a note where it can, and nothing is lost:
tickets and applicant messages not yet in the staff chat are posted by the scheduler's sweep."""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from delivery import tickets
from delivery.outbox import DeliveryWorker
from delivery.tickets import StaffReply, TicketLimitReached
from handlers.callbacks import MenuCb, OfficeCb, TicketCb
from handlers.common import Send, sender
from handlers.filters import COMMAND, NOT_COMMAND, PRIVATE
from handlers.keyboards import Keyboard
from handlers.middlewares import CONVERSATION_LOCK_CLASS, conversation_lock_key
from handlers.settings import HandlerSettings
from i18n import LANGUAGE_NAMES, I18n, Translator
from knowledge.schema import TOPICS
from knowledge.service import Knowledge
from knowledge.text import words
from storage.db import Database, current_session
from storage.models import Campaign, Ticket, TicketMessage, TicketStatus, TicketTopic, User, utcnow

logger = logging.getLogger("talapker.handoff")
_background: set[asyncio.Task[None]] = set()  # sweeps started by an update, kept referenced

QUESTION_KEY = "handoff_question"  # FSM data: the question an offer button would send
RECENT_KEY = "recent_answers"  # FSM data: the bot's last answers, for the staff card
RECENT_KEPT = 3
# "Talk to a human" with this many words or more carries its question: it is sent at once.
QUESTION_WORDS = 7
# Messages worth relaying either way; service messages (a topic created, a member joined) not.
RELAYED = {
    "text",
    "photo",
    "document",
    "video",
    "voice",
    "audio",
    "animation",
    "video_note",
    "sticker",
    "location",
    "contact",
}
# Messages people write that the bot does not pass on (staff are told so).
NOT_COPIED = {"poll", "dice", "venue", "game", "story", "paid_media", "checklist"}
TOPIC_NAME_LIMIT = 128


def text_of(message: Message) -> str | None:
    """A message's text or caption as HTML; None for a bare photo, sticker, …"""
    return message.html_text if (message.text or message.caption) else None


class Handoff(StatesGroup):
    question = State()  # waiting for the question to send to the office


# ------------------------------------------------------------------ office hours
def next_opening(now: datetime, hours: tuple[int, int]) -> datetime | None:
    """When the office (weekdays, local [start, end) hours) opens next; None if open now."""
    start, end = hours
    if now.weekday() < 5 and start <= now.hour < end:
        return None
    day = now.replace(hour=start, minute=0, second=0, microsecond=0)
    if day <= now:
        day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def acknowledgement(t: Translator, settings: HandlerSettings, ticket: Ticket) -> str:
    start, end = settings.office_hours_range
    now = datetime.now(settings.tz)
    opens = next_opening(now, (start, end))
    hours = {"start": f"{start:02d}:00", "end": f"{end:02d}:00", "tz": settings.timezone}
    if opens is None:
        return t("handoff.sent_open", id=ticket.id, **hours)
    days_ahead = (opens.date() - now.date()).days
    when = {0: "handoff.today", 1: "handoff.tomorrow"}.get(
        days_ahead, f"handoff.day_{opens.weekday()}"
    )
    return t("handoff.sent_closed", id=ticket.id, when=t.plain(when), **hours)


# ------------------------------------------------------------------ keyboards
def office_button(t: Translator) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=t.plain("handoff.offer_button"), callback_data=OfficeCb(action="send").pack()
    )


def with_office_button(markup: InlineKeyboardMarkup, t: Translator) -> InlineKeyboardMarkup:
    """An answer's keyboard with "✉️ Ask the admissions office" added below."""
    return InlineKeyboardMarkup(inline_keyboard=[*markup.inline_keyboard, [office_button(t)]])


def card_keyboard(t: Translator, ticket_id: int) -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(
        text=t.plain("handoff.close_button"),
        callback_data=TicketCb(action="close", ticket_id=ticket_id),
    )
    builder.button(
        text=t.plain("handoff.save_button"),
        callback_data=TicketCb(action="save", ticket_id=ticket_id),
    )
    builder.adjust(2)
    return builder.as_markup()


def rating_keyboard(ticket_id: int) -> dict[str, Any]:
    """👍/👎 under each office reply, as Bot API JSON (the outbox sends it with the copy)."""
    return {
        "inline_keyboard": [
            [
                {"text": "👍", "callback_data": TicketCb(action="up", ticket_id=ticket_id).pack()},
                {
                    "text": "👎",
                    "callback_data": TicketCb(action="down", ticket_id=ticket_id).pack(),
                },
            ]
        ]
    }


async def remember_question(state: FSMContext, text: str, reason: str = "unsure") -> None:
    """Keep the question an offer button would send (the button cannot carry it)."""
    await state.update_data({QUESTION_KEY: {"q": text[: tickets.MAX_QUESTION], "why": reason}})


async def remember_answer(state: FSMContext, question: str, topic: str) -> None:
    """The bot's last RECENT_KEPT answers (question and topic), shown on a staff card. In
    the conversation record, which every update loads anyway; /forget deletes it."""
    recent = (await state.get_data()).get(RECENT_KEY) or []
    await state.update_data(
        {RECENT_KEY: [*recent, {"q": question[:200], "topic": topic}][-RECENT_KEPT:]}
    )


def staff_answer_text(t: Translator, answer: Any, tz: Any) -> str:
    """A saved answer of the admissions office, with its source and date."""
    return (
        t(
            "handoff.staff_answer",
            date=answer.created_at.astimezone(tz).strftime("%d.%m.%Y"),
        )
        + "\n\n"
        + answer.answer
    )


# ------------------------------------------------------------------ the staff chat
def _is_deleted_topic(error: TelegramAPIError) -> bool:
    text = error.message.lower()
    return "thread not found" in text or "topic_deleted" in text or "topic deleted" in text


def _is_not_forum(error: TelegramAPIError) -> bool:
    return "not a forum" in error.message.lower()


def age_text(t: Translator, seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return t.plain("handoff.age_minutes", minutes=minutes)
    if minutes < 48 * 60:
        return t.plain("handoff.age_hours", hours=minutes // 60)
    return t.plain("handoff.age_days", days=minutes // (24 * 60))


@dataclass
class StaffDesk:
    """Everything the bot says in the staff chat, in the installation's default language."""

    bot: Bot
    settings: HandlerSettings
    i18n: I18n
    knowledge: Knowledge | None = None

    @property
    def chat_id(self) -> int | None:
        return self.settings.staff_chat_id

    @property
    def t(self) -> Translator:
        return self.i18n.translator(self.settings.default_language)

    # -------------------------------------------------------------- cards and topics
    def card(self, ticket: Ticket, user: User | None) -> str:
        t = self.t
        recent: list[dict[str, Any]] = ticket.context.get("recent") or []
        scores = " ".join(str(s) for s in ticket.context.get("scores") or [])
        not_set = t.plain("profile.not_set")
        region = None
        if self.knowledge is not None and user is not None:
            found = self.knowledge.kb.region(user.region)
            region = found.name.get(t.lang) if found else None
        lines = [
            t(
                "handoff.card_title",
                id=ticket.id,
                reason=t.plain(f"handoff.reason_{ticket.reason}"),
            ),
            t(
                "handoff.card_profile",
                language=LANGUAGE_NAMES.get(ticket.lang, ticket.lang),
                role=t.plain(f"role.{user.role}") if user and user.role else not_set,
                region=region or not_set,
                scores=scores or not_set,
            ),
            t("handoff.card_question", question=ticket.question),
        ]
        if recent:
            lines.append(t("handoff.card_recent"))
            for item in recent:
                topic = str(item.get("topic") or "?")
                if topic in TOPICS:
                    topic = t.plain(f"topics.{topic}")
                lines.append(f"• {html.escape(str(item.get('q', '')))} → {html.escape(topic)}")
        lines.append(t("handoff.card_howto"))
        return "\n".join(lines)

    async def _thread(
        self, session: AsyncSession, ticket: Ticket, name: str, *, fresh: bool = False
    ) -> int | None:
        """The applicant's topic (made at their first hand-off, or again if it was deleted);
        None in a group without topics."""
        assert self.chat_id is not None
        topic = await tickets.topic_of(session, ticket.user_id)
        if topic is not None and not fresh and topic.chat_id == self.chat_id:
            with suppress(TelegramBadRequest):  # not closed, or gone: the send will tell
                await self.bot.reopen_forum_topic(self.chat_id, topic.thread_id)
            return topic.thread_id
        try:
            created = await self.bot.create_forum_topic(self.chat_id, name[:TOPIC_NAME_LIMIT])
        except TelegramBadRequest as exc:
            if _is_not_forum(exc):
                return None
            raise
        if topic is None:
            session.add(
                TicketTopic(
                    user_id=ticket.user_id,
                    chat_id=self.chat_id,
                    thread_id=created.message_thread_id,
                )
            )
        else:
            topic.chat_id, topic.thread_id = self.chat_id, created.message_thread_id
        await session.flush()
        return created.message_thread_id

    async def post_ticket(
        self,
        session: AsyncSession,
        ticket: Ticket,
        *,
        name: str | None = None,
    ) -> bool:
        """Put the ticket's card (and the applicant's messages) in the staff chat. False if
        the chat cannot be reached now: the sweep tries again."""
        if self.chat_id is None:
            return False
        user = await session.get(User, ticket.user_id)
        text = self.card(ticket, user)
        # One topic per applicant, named after them (their later tickets come here too).
        topic_name = name or f"{self.t.plain('handoff.applicant')} #{ticket.id}"
        try:
            thread = await self._thread(session, ticket, topic_name)
            try:
                card = await self._send(text, thread, card_keyboard(self.t, ticket.id or 0))
            except TelegramBadRequest as exc:
                if thread is None or not _is_deleted_topic(exc):
                    raise
                logger.warning(
                    "the staff topic of ticket %s was deleted; opening a new one", ticket.id
                )
                thread = await self._thread(session, ticket, topic_name, fresh=True)
                card = await self._send(
                    self.t("handoff.topic_recreated") + "\n\n" + text,
                    thread,
                    card_keyboard(self.t, ticket.id or 0),
                )
        except TelegramAPIError as exc:
            self._unreachable(exc, f"ticket {ticket.id}")
            return False
        ticket.staff_chat_id, ticket.thread_id, ticket.card_message_id = (
            self.chat_id,
            thread,
            card.message_id,
        )
        await self.forward_pending(session, ticket)
        return True

    async def _send(
        self, text: str, thread: int | None, markup: InlineKeyboardMarkup | None = None
    ) -> Message:
        assert self.chat_id is not None
        return await self.bot.send_message(
            self.chat_id, text, message_thread_id=thread, reply_markup=markup
        )

    def _unreachable(self, exc: TelegramAPIError, what: str) -> None:
        logger.warning(
            "staff chat %s unreachable (%s): %s kept and retried by the scheduler",
            self.chat_id,
            exc.message,
            what,
        )

    async def note(self, ticket: Ticket, text: str) -> bool:
        """A line for staff in the ticket's topic (or under its card)."""
        if self.chat_id is None or ticket.card_message_id is None:
            return False
        try:
            await self._send(text, ticket.thread_id)
        except TelegramAPIError as exc:
            logger.warning("could not post a note for ticket %s: %s", ticket.id, exc.message)
            return False
        return True

    # -------------------------------------------------------------- applicant → staff
    async def forward_pending(self, session: AsyncSession, ticket: Ticket) -> None:
        """Copy the applicant's messages not yet in the staff chat, in order."""
        for message in await tickets.messages_of(session, ticket.id or 0):
            pending = message.direction == "in" and message.copy_message_id is None
            if pending and not await self.forward(session, ticket, message):
                return

    async def forward(self, session: AsyncSession, ticket: Ticket, message: TicketMessage) -> bool:
        if self.chat_id is None or ticket.card_message_id is None:
            return False
        try:
            copied = await self.bot.copy_message(
                self.chat_id,
                message.chat_id,
                message.message_id,
                message_thread_id=ticket.thread_id,
            )
        except TelegramBadRequest as exc:
            if ticket.thread_id is not None and _is_deleted_topic(exc):
                logger.warning("the staff topic of ticket %s was deleted", ticket.id)
                ticket.card_message_id = None  # the sweep opens a new topic with the card
                return False
            # The applicant deleted the message: nothing to copy, do not try again.
            logger.info("ticket %s: message %s not copied: %s", ticket.id, message.id, exc.message)
            message.copy_message_id = 0
            return True
        except TelegramAPIError as exc:
            self._unreachable(exc, f"a message of ticket {ticket.id}")
            return False
        message.copy_message_id = copied.message_id
        return True

    # -------------------------------------------------------------- the scheduler's sweep
    async def sweep(self, database: Database, *, now: datetime | None = None) -> None:
        """Post what could not be posted; remind staff of tickets waiting too long."""
        if self.chat_id is None:
            return
        now = now or utcnow()
        async with database.session() as session:
            ticket_ids = [(t.id, t.user_id) for t in await tickets.unposted(session)]
            backlog = [(t.id, t.user_id) for _, t in await tickets.unforwarded(session)]
        for ticket_id, user_id in ticket_ids:
            async with self._as_conversation(database, user_id) as session:
                ticket = await session.get(Ticket, ticket_id)
                posted = True
                if ticket is not None and ticket.card_message_id is None:
                    posted = await self.post_ticket(session, ticket)
                await session.commit()
            if not posted:
                return  # the chat is unreachable: the next sweep tries again
        for ticket_id, user_id in dict.fromkeys(backlog):
            async with self._as_conversation(database, user_id) as session:
                ticket = await session.get(Ticket, ticket_id)
                if ticket is not None and ticket.card_message_id is not None:
                    await self.forward_pending(session, ticket)
                await session.commit()
        async with database.session() as session:
            waiting = await tickets.waiting_too_long(
                session, now, self.settings.ticket_remind_hours
            )
            for ticket in waiting:
                age = age_text(self.t, (now - ticket.created_at).total_seconds())
                text = self.t("handoff.reminder", id=ticket.id, age=age)
                sent = await self.note(ticket, text)
                if ticket.thread_id is not None and sent:
                    # In a forum the topic may be buried: say it in General too.
                    with suppress(TelegramAPIError):
                        await self._send(text, None)
                if sent:
                    ticket.reminded_at = now
            await session.commit()

    @asynccontextmanager
    async def _as_conversation(
        self, database: Database, user_id: int
    ) -> AsyncIterator[AsyncSession]:
        """A session holding the applicant's conversation lock (PostgreSQL), so the sweep
        and an update of theirs never post the same ticket twice; what is read after the lock
        is what their last update committed."""
        async with database.session() as session:
            if not database.is_sqlite:
                await session.exec(
                    sa.select(
                        sa.func.pg_advisory_xact_lock(
                            CONVERSATION_LOCK_CLASS, conversation_lock_key(user_id)
                        )
                    )
                )
            yield session

    # -------------------------------------------------------------- outbox reports
    async def undelivered(
        self, database: Database, campaign: Campaign, user_id: int, status: str, error: str | None
    ) -> None:
        """A staff reply the outbox could not deliver: staff hear of it in the topic."""
        if campaign.kind != "ticket":
            return
        logger.warning(
            "ticket reply (campaign %s) not delivered to the applicant: %s", campaign.id, status
        )
        async with database.session() as session:
            ticket = await tickets.ticket_for_campaign(session, campaign.id or 0)
            if ticket is None:
                return
            key = "handoff.blocked" if status == "blocked" else "handoff.not_delivered"
            await self.note(ticket, self.t(key, id=ticket.id, error=error or ""))


# ------------------------------------------------------------------ applicant side
async def hand_off(
    send: Send,
    session: AsyncSession,
    state: FSMContext,
    user: User,
    t: Translator,
    settings: HandlerSettings,
    desk: StaffDesk,
    *,
    question: str,
    reason: str,
    origin: Message | None = None,
) -> Ticket | None:
    """Open a ticket for `question`, post it to the staff chat, tell the applicant when to
    expect a reply."""
    data = await state.get_data()
    scores = data.get("scores") or ([data["total"]] if data.get("total") else [])
    context = {"recent": data.get(RECENT_KEY) or [], "scores": scores}
    try:
        ticket = await tickets.create_ticket(session, user, question, t.lang, reason, context)
    except TicketLimitReached:
        await send(t("handoff.limit", limit=tickets.MAX_OPEN_TICKETS))
        return None
    if origin is not None and origin.content_type != "text":
        # A photo or document goes to the staff as it is; a text is on the card already.
        await tickets.record_incoming(
            session, ticket, origin.chat.id, origin.message_id, text_of(origin)
        )
    await state.set_state(None)
    await state.update_data({QUESTION_KEY: None})
    name = origin.from_user.full_name if origin and origin.from_user else None
    await desk.post_ticket(session, ticket, name=name)
    await send(acknowledgement(t, settings, ticket))
    return ticket


def desk_for(bot: Bot, settings: HandlerSettings, i18n: I18n, knowledge: Knowledge) -> StaffDesk:
    return StaffDesk(bot, settings, i18n, knowledge)


async def asked_for_person(
    message: Message,
    session: AsyncSession,
    state: FSMContext,
    user: User | None,
    t: Translator,
    settings: HandlerSettings,
    i18n: I18n,
    knowledge: Knowledge,
) -> None:
    """ "Talk to a human" (the router's `human` topic): ask what to send, unless the message
    already says more than that ("can I talk to someone about my dormitory application")."""
    if user is None or len(words(message.text or "")) < QUESTION_WORDS:
        await state.set_state(Handoff.question)
        await message.answer(t("handoff.prompt"))
        return
    assert message.bot is not None
    await hand_off(
        message.answer,
        session,
        state,
        user,
        t,
        settings,
        desk_for(message.bot, settings, i18n, knowledge),
        question=message.text or "",
        reason="asked",
        origin=message,
    )


async def menu_office(callback: CallbackQuery, state: FSMContext, t: Translator) -> None:
    await state.set_state(Handoff.question)
    await sender(callback)(t("handoff.prompt"))


async def typed_question(
    message: Message,
    session: AsyncSession,
    state: FSMContext,
    user: User,
    t: Translator,
    settings: HandlerSettings,
    i18n: I18n,
    knowledge: Knowledge,
) -> None:
    if message.content_type not in RELAYED:
        await message.answer(t("handoff.unsupported"))
        return
    assert message.bot is not None
    question = message.text or message.caption or t.plain("handoff.attachment")
    await hand_off(
        message.answer,
        session,
        state,
        user,
        t,
        settings,
        desk_for(message.bot, settings, i18n, knowledge),
        question=question,
        reason="asked",
        origin=message,
    )


async def offer_pressed(
    callback: CallbackQuery,
    session: AsyncSession,
    state: FSMContext,
    user: User,
    t: Translator,
    settings: HandlerSettings,
    i18n: I18n,
    knowledge: Knowledge,
) -> None:
    """ "Send this question to the admissions office" under an unsure or sensitive answer."""
    offered = (await state.get_data()).get(QUESTION_KEY) or {}
    question = offered.get("q") if isinstance(offered, dict) else None
    send = sender(callback)
    if not question:
        await state.set_state(Handoff.question)
        await send(t("handoff.prompt"))
        return
    assert callback.bot is not None
    await hand_off(
        send,
        session,
        state,
        user,
        t,
        settings,
        desk_for(callback.bot, settings, i18n, knowledge),
        question=question,
        reason=offered.get("why") if offered.get("why") in ("unsure", "sensitive") else "unsure",
    )
    if isinstance(callback.message, Message):
        with suppress(TelegramBadRequest):
            await callback.message.edit_reply_markup(reply_markup=None)


async def has_open_ticket(_: Any, user: User | None, raw_state: str | None = None) -> bool:
    return user is not None and user.open_ticket_id is not None and raw_state is None


async def relay_to_staff(
    message: Message,
    session: AsyncSession,
    user: User,
    t: Translator,
    settings: HandlerSettings,
    i18n: I18n,
    knowledge: Knowledge,
) -> None:
    """While a ticket is open, what the applicant writes goes to its topic."""
    ticket = await session.get(Ticket, user.open_ticket_id)
    if ticket is None or ticket.status != TicketStatus.OPEN:
        user.open_ticket_id = None
        await message.answer(t("handoff.no_ticket"))
        return
    if message.content_type not in RELAYED:
        await message.answer(t("handoff.unsupported"))
        return
    assert message.bot is not None
    desk = desk_for(message.bot, settings, i18n, knowledge)
    row = await tickets.record_incoming(
        session, ticket, message.chat.id, message.message_id, text_of(message)
    )
    if ticket.card_message_id is not None:
        await desk.forward(session, ticket, row)
    if ticket.card_message_id is None:  # never posted, or its topic was deleted just now
        await desk.post_ticket(session, ticket)
    await message.answer(t("handoff.relayed", id=ticket.id))


async def applicant_edited(
    message: Message,
    session: AsyncSession,
    user: User,
    t: Translator,
    settings: HandlerSettings,
    i18n: I18n,
    knowledge: Knowledge,
) -> None:
    """The applicant corrected a message the office has: its copy in the staff chat is
    corrected too (a copy cannot be edited into a photo: captions and texts only)."""
    row = await tickets.incoming(session, message.chat.id, message.message_id)
    ticket = await session.get(Ticket, row.ticket_id) if row is not None else None
    if row is None or ticket is None or ticket.status != TicketStatus.OPEN:
        await message.answer(t("errors.edited"))
        return
    row.text = text_of(message) or row.text
    assert message.bot is not None
    desk = desk_for(message.bot, settings, i18n, knowledge)
    if desk.chat_id is None or not row.copy_message_id:
        return  # not in the staff chat yet: the copy, when made, shows the new text
    corrected = text_of(message) or ""
    try:
        if message.text is not None:
            await desk.bot.edit_message_text(
                corrected, chat_id=desk.chat_id, message_id=row.copy_message_id
            )
        else:
            await desk.bot.edit_message_caption(
                chat_id=desk.chat_id, message_id=row.copy_message_id, caption=corrected
            )
    except TelegramAPIError as exc:
        logger.info("ticket %s: a corrected message was not updated: %s", ticket.id, exc.message)
        await desk.note(ticket, desk.t("handoff.applicant_edited") + "\n" + corrected)


async def cancel_ticket(
    message: Message,
    session: AsyncSession,
    user: User,
    t: Translator,
    settings: HandlerSettings,
    i18n: I18n,
    knowledge: Knowledge,
) -> None:
    """/cancel with a ticket open (and no wizard step): the applicant closes it."""
    ticket = await session.get(Ticket, user.open_ticket_id)
    if ticket is None or not await tickets.close_ticket(session, ticket, "applicant"):
        user.open_ticket_id = None
        await message.answer(t("common.nothing_to_cancel"))
        return
    assert message.bot is not None
    desk = desk_for(message.bot, settings, i18n, knowledge)
    await desk.note(ticket, desk.t("handoff.closed_by_applicant", id=ticket.id))
    await close_topic_if_done(desk, session, ticket)
    await message.answer(t("handoff.cancelled", id=ticket.id))


async def close_topic_if_done(desk: StaffDesk, session: AsyncSession, ticket: Ticket) -> None:
    if ticket.thread_id is None or desk.chat_id is None:
        return
    if await tickets.open_tickets(session, ticket.user_id):
        return
    with suppress(TelegramAPIError):
        await desk.bot.close_forum_topic(desk.chat_id, ticket.thread_id)


async def rate(
    callback: CallbackQuery,
    callback_data: TicketCb,
    session: AsyncSession,
    t: Translator,
    settings: HandlerSettings,
    i18n: I18n,
    knowledge: Knowledge,
) -> None:
    ticket = await session.get(Ticket, callback_data.ticket_id)
    if ticket is None or ticket.user_id != callback.from_user.id:
        await callback.answer(t.plain("errors.stale_button"), show_alert=True)
        return
    ticket.helpful = callback_data.action == "up"
    await callback.answer(t.plain("feedback.thanks"))
    assert callback.bot is not None
    desk = desk_for(callback.bot, settings, i18n, knowledge)
    await desk.note(
        ticket,
        desk.t("handoff.rated_up" if ticket.helpful else "handoff.rated_down", id=ticket.id),
    )
    if isinstance(callback.message, Message):
        with suppress(TelegramBadRequest):
            await callback.message.edit_reply_markup(reply_markup=None)


# ------------------------------------------------------------------ staff side
class InStaffChat(Filter):
    async def __call__(self, event: Any, settings: HandlerSettings) -> bool:
        message = event.message if isinstance(event, CallbackQuery) else event
        chat = getattr(message, "chat", None)
        return (
            chat is not None
            and settings.staff_chat_id is not None
            and chat.id == settings.staff_chat_id
        )


async def ticket_of(session: AsyncSession, message: Message) -> Ticket | None:
    """The ticket a staff chat message is about: its topic, or the message it replies to."""
    if message.is_topic_message and message.message_thread_id is not None:
        return await tickets.ticket_in_thread(session, message.chat.id, message.message_thread_id)
    if message.reply_to_message is not None:
        ticket = await tickets.ticket_of_staff_message(
            session, message.chat.id, message.reply_to_message.message_id
        )
        return ticket if ticket is not None and ticket.status == TicketStatus.OPEN else None
    return None


async def staff_message(
    message: Message,
    session: AsyncSession,
    is_staff: bool,
    database: Database,
    delivery: DeliveryWorker,
    settings: HandlerSettings,
    i18n: I18n,
) -> None:
    relayable = message.content_type in RELAYED
    if message.from_user is None or not (relayable or message.content_type in NOT_COPIED):
        return  # a service message: a topic created or closed, a member joined, …
    ticket = await ticket_of(session, message)
    if ticket is None:
        return  # chatter in General, or a topic whose tickets are all closed
    t = i18n.translator(settings.default_language)
    if not relayable:
        await message.reply(t("handoff.not_copied"))
        return
    if not is_staff:
        logger.info("a non-staff member wrote in the topic of ticket %s: not relayed", ticket.id)
        await message.reply(t("handoff.not_staff"))
        return
    queued = await tickets.queue_reply(
        database,
        session,
        ticket,
        StaffReply(
            chat_id=message.chat.id,
            message_id=message.message_id,
            staff_id=message.from_user.id,
            staff_name=message.from_user.full_name,
            text=text_of(message),
        ),
        reply_markup=rating_keyboard(ticket.id or 0),
    )
    if queued:
        delivery.wake.set()


async def staff_edited(
    message: Message,
    session: AsyncSession,
    database: Database,
    is_staff: bool,
    settings: HandlerSettings,
    i18n: I18n,
) -> None:
    """A staff member corrected a reply: the applicant's copy is corrected too (a reply not
    sent yet needs nothing: the copy is made from the message as it is when sent)."""
    if not is_staff or message.from_user is None:
        return
    found = await tickets.delivered_copy(database, session, message.chat.id, message.message_id)
    if found is None:
        return
    row, ticket, sent_id = found
    row.text = text_of(message) or row.text
    if sent_id is None:
        return
    assert message.bot is not None
    markup = InlineKeyboardMarkup.model_validate(rating_keyboard(ticket.id or 0))
    try:
        if message.text is not None:
            await message.bot.edit_message_text(
                message.html_text, chat_id=ticket.user_id, message_id=sent_id, reply_markup=markup
            )
        else:
            await message.bot.edit_message_caption(
                chat_id=ticket.user_id,
                message_id=sent_id,
                caption=message.html_text if message.caption else None,
                reply_markup=markup,
            )
    except TelegramAPIError as exc:
        logger.warning("ticket %s: an edited reply did not reach the applicant", ticket.id)
        t = i18n.translator(settings.default_language)
        await message.reply(t("handoff.edit_failed", error=exc.message))


async def staff_only_here(message: Message, is_staff: bool) -> bool:
    return is_staff


async def list_tickets(
    message: Message, session: AsyncSession, settings: HandlerSettings, i18n: I18n
) -> None:
    t = i18n.translator(settings.default_language)  # the staff chat's language
    rows = await tickets.list_open(session)
    if not rows:
        await message.answer(t("handoff.queue_empty"))
        return
    now = utcnow()
    lines = [t("handoff.queue_title")]
    for ticket in rows:
        lines.append(
            t(
                "handoff.queue_item",
                id=ticket.id,
                age=age_text(t, (now - ticket.created_at).total_seconds()),
                lang=ticket.lang,
                taken=ticket.taken_by_name or t.plain("handoff.nobody"),
                question=ticket.question[:80],
            )
        )
    await message.answer("\n".join(lines))


async def close_in_topic(
    message: Message,
    session: AsyncSession,
    is_staff: bool,
    database: Database,
    delivery: DeliveryWorker,
    settings: HandlerSettings,
    i18n: I18n,
    knowledge: Knowledge,
) -> None:
    ticket = await ticket_of(session, message)
    if ticket is None or not is_staff:
        return
    assert message.bot is not None
    await close_by_staff(
        desk_for(message.bot, settings, i18n, knowledge),
        database,
        session,
        delivery,
        ticket,
        message.from_user.full_name if message.from_user else "",
    )


async def close_by_staff(
    desk: StaffDesk,
    database: Database,
    session: AsyncSession,
    delivery: DeliveryWorker,
    ticket: Ticket,
    who: str,
) -> bool:
    if not await tickets.close_ticket(session, ticket, "staff"):
        return False
    applicant = desk.i18n.translator(ticket.lang)
    await tickets.queue_notice(
        database, ticket, applicant("handoff.closed_by_staff", id=ticket.id), key="closed"
    )
    delivery.wake.set()
    await desk.note(ticket, desk.t("handoff.closed_note", id=ticket.id, who=who))
    await close_topic_if_done(desk, session, ticket)
    return True


async def card_button(
    callback: CallbackQuery,
    callback_data: TicketCb,
    session: AsyncSession,
    is_staff: bool,
    database: Database,
    delivery: DeliveryWorker,
    settings: HandlerSettings,
    i18n: I18n,
    knowledge: Knowledge,
) -> None:
    t = i18n.translator(settings.default_language)
    ticket = await session.get(Ticket, callback_data.ticket_id)
    if not is_staff or ticket is None:
        await callback.answer(t.plain("errors.stale_button"), show_alert=True)
        return
    assert callback.bot is not None
    desk = desk_for(callback.bot, settings, i18n, knowledge)
    if callback_data.action == "close":
        if not await close_by_staff(
            desk, database, session, delivery, ticket, callback.from_user.full_name
        ):
            await callback.answer(t.plain("handoff.already_closed", id=ticket.id))
        return
    answer = await tickets.save_answer(session, ticket, callback.from_user.id)
    if answer is None:
        await callback.answer(t.plain("handoff.nothing_to_save"), show_alert=True)
        return
    await callback.answer(t.plain("handoff.saved_alert"))
    await desk.note(ticket, t("handoff.saved", id=ticket.id, question=ticket.question[:200]))


async def staff_chat_membership(
    event: ChatMemberUpdated,
    database: Database,
    settings: HandlerSettings,
    i18n: I18n,
    knowledge: Knowledge,
) -> None:
    """The bot removed from the staff chat (said in the log: nothing can be said in the chat),
    or back in it: what waited is posted at once."""
    if event.new_chat_member.status in ("left", "kicked"):
        logger.warning(
            "the bot was removed from the staff chat %s: tickets are kept and posted when it "
            "is back",
            event.chat.id,
        )
        return
    logger.info("the bot is in the staff chat %s (%s)", event.chat.id, event.new_chat_member.status)
    assert event.bot is not None
    # After this update's transaction (SQLite has one writer: the sweep must not wait for us).
    task = asyncio.create_task(desk_for(event.bot, settings, i18n, knowledge).sweep(database))
    _background.add(task)
    task.add_done_callback(_background.discard)


async def staff_stale_button(callback: CallbackQuery, t: Translator) -> None:
    await callback.answer(t.plain("errors.stale_button"), show_alert=True)


# ------------------------------------------------------------------ routers
def build_staff_chat_router() -> Router:
    """Updates from the staff chat: tried before the catch-all for groups."""
    router = Router(name="staff_chat")
    in_chat = InStaffChat()
    router.message.filter(in_chat)
    router.edited_message.filter(in_chat)
    router.callback_query.filter(in_chat)
    router.my_chat_member.filter(in_chat)
    router.message.register(list_tickets, Command("tickets"), staff_only_here)
    router.message.register(close_in_topic, Command("close"))
    router.message.register(staff_message, NOT_COMMAND)
    router.message.register(_ignore, COMMAND)
    router.edited_message.register(staff_edited)
    router.callback_query.register(card_button, TicketCb.filter(F.action.in_({"close", "save"})))
    router.callback_query.register(staff_stale_button)
    router.my_chat_member.register(staff_chat_membership)
    return router


async def _ignore(_: Message) -> None:
    """Other commands in the staff chat: not for this bot to answer there."""


def build_router() -> Router:
    """The applicant's side, in private chats (placed before the menu: /cancel of a ticket)."""
    router = Router(name="handoff")
    router.message.register(cancel_ticket, Command("cancel"), has_open_ticket)
    router.message.register(list_tickets, Command("tickets"), staff_only_here)
    router.message.register(typed_question, StateFilter(Handoff.question), NOT_COMMAND)
    router.callback_query.register(menu_office, MenuCb.filter(F.action == "office"))
    router.callback_query.register(offer_pressed, OfficeCb.filter())
    router.callback_query.register(rate, TicketCb.filter(F.action.in_({"up", "down"})))
    return router


def build_relay_router() -> Router:
    """While a ticket is open, messages go to the staff (placed just before the questions)."""
    router = Router(name="handoff_relay")
    router.message.register(relay_to_staff, has_open_ticket, NOT_COMMAND, PRIVATE)
    router.edited_message.register(applicant_edited, has_open_ticket, PRIVATE)
    return router


# ------------------------------------------------------------------ without Telegram
async def reply_without_telegram(
    database: Database, i18n: I18n, ticket_id: int, text: str, *, close: bool = False
) -> str:
    """`talapker tickets reply`: queue a staff reply (and maybe close the ticket). The running
    bot (or the console chat) sends it. Returns "sent", "closed", "missing" or "not_open"."""
    async with database.session() as session:
        token = current_session.set(session)  # the outbox joins this transaction
        try:
            ticket = await session.get(Ticket, ticket_id)
            if ticket is None:
                return "missing"
            if ticket.status != TicketStatus.OPEN:
                return "not_open"
            if text:
                await tickets.console_reply(
                    database, session, ticket, text, rating_keyboard(ticket_id)
                )
            if close:
                await tickets.close_ticket(session, ticket, "staff")
                applicant = i18n.translator(ticket.lang)
                await tickets.queue_notice(
                    database,
                    ticket,
                    applicant("handoff.closed_by_staff", id=ticket.id),
                    key="closed",
                )
            await session.commit()
        finally:
            current_session.reset(token)
    return "closed" if close else "sent"
