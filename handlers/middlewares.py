"""Outer middlewares run for every update, in this order: metrics → flood limit
(delivery/throttle.py) → conversation lock → database session (with the cross-process sender
lock) → conversation state → user and locale; then, around handlers, the input guard (messages)
and the press answer (button presses) → router."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, StorageKey
from aiogram.methods import AnswerCallbackQuery, Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.types import User as TelegramUser
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.settings import HandlerSettings
from i18n import LANGUAGES, I18n, Translator, telegram_language
from storage.db import Database, current_session
from storage.fsm_storage import SQLModelStorage
from storage.models import FsmRecord, User, utcnow

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

# Writing last_seen_at on every message would double the writes for a chatty user.
LAST_SEEN_RESOLUTION = timedelta(minutes=5)
MAX_TEXT_LENGTH = 1000


# The two-key form of PostgreSQL advisory locks has a key space of its own, so these never
# collide with the single-key locks for migrations and scheduler leadership.
CONVERSATION_LOCK_CLASS = 0x7A1A


def conversation_lock_key(user_id: int) -> int:
    """A signed 32-bit key for a Telegram user id (which may exceed 32 bits); two users
    sharing a key only means their updates wait for each other."""
    folded = (user_id ^ (user_id >> 32)) & 0xFFFFFFFF
    return folded - (1 << 32) if folded >= 1 << 31 else folded


# Built once: composing a statement costs more CPU than PostgreSQL spends running it.
_LOCK_SENDER = sa.select(
    sa.func.pg_advisory_xact_lock(sa.bindparam("lock_class"), sa.bindparam("lock_key"))
)
_SENDER_AND_RECORD = (
    sa.select(User, FsmRecord.state, FsmRecord.data)  # type: ignore[call-overload]
    .outerjoin(FsmRecord, FsmRecord.key == sa.bindparam("key"))  # type: ignore[arg-type]
    .where(User.id == sa.bindparam("user_id"))
)
# Migration 0008's function: the lock, then both reads, in one round trip.
_USER_COLUMNS = list(User.__table__.columns)  # type: ignore[attr-defined]
_LOCK_SENDER_AND_READ = sa.select(
    User, FsmRecord.state, FsmRecord.data
).from_statement(  # type: ignore[call-overload]
    sa.text(
        "SELECT "
        + ", ".join(f"(opened.u).{column.name}" for column in _USER_COLUMNS)
        + ", opened.state, opened.data FROM talapker_open_conversation("
        ":lock_class, :lock_key, :user_id, :key) AS opened"
    ).columns(*_USER_COLUMNS, FsmRecord.__table__.c.state, FsmRecord.__table__.c.data)  # type: ignore[attr-defined]
)


class DbSessionMiddleware(BaseMiddleware):
    """One database session per update, committed when the handler succeeds.

    On PostgreSQL the transaction first takes an advisory lock on the sender, released at
    commit: with several web workers, two quick updates from one person can land on different
    workers, and the second must see the wizard state the first one wrote. (Within one process
    the event isolation already serialises them.)

    The same round trip reads the sender's user row and conversation record (migration 0008's
    function; on SQLite, one query without the lock). The user lands in the session's identity
    map, so `UserMiddleware` finds it without a query, and the record in the storage's copy for
    this update, whose changes are written before the commit. Each round trip costs more CPU
    than the rest of a short answer."""

    def __init__(self, database: Database, storage: BaseStorage) -> None:
        self.database = database
        self.on_postgres = not database.is_sqlite
        self.storage = storage if isinstance(storage, SQLModelStorage) else None

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self.database.session() as session:
            data["session"] = session
            token = current_session.set(session)
            try:
                with self.storage.update_scope() if self.storage else nullcontext():
                    sender: TelegramUser | None = data.get("event_from_user")
                    if sender is not None:
                        await self._open_conversation(session, sender, data)
                    result = await handler(event, data)
                    if self.storage:
                        await self.storage.flush(session)
                await session.commit()
            finally:
                current_session.reset(token)
            return result

    async def _open_conversation(
        self, session: AsyncSession, sender: TelegramUser, data: dict[str, Any]
    ) -> None:
        key: StorageKey | None = data.get("conversation_key")
        lock = {"lock_class": CONVERSATION_LOCK_CLASS, "lock_key": conversation_lock_key(sender.id)}
        if self.storage is None or key is None or sender.is_bot:
            if self.on_postgres:
                await session.exec(_LOCK_SENDER, params=lock)
            return
        built = self.storage.build_key(key)
        params = {"user_id": sender.id, "key": built}
        if self.on_postgres:
            row = (await session.exec(_LOCK_SENDER_AND_READ, params=lock | params)).one()
        else:
            row = (await session.exec(_SENDER_AND_RECORD, params=params)).first()
            if row is None:  # a newcomer: no row to join the record to; it is read on use
                return
        user, state, record_data = row
        if user is not None:
            # The identity map holds objects weakly: the user stays alive through `data`.
            data["user"] = user
        self.storage.preload(built, state, record_data)


class ConversationLockMiddleware(BaseMiddleware):
    """One update at a time per conversation in this process, held until the update's
    transaction has committed (the next update must read what this one wrote). aiogram's own
    FSM middleware would release its lock before our session commits, so it runs inside the
    session with isolation switched off, and this middleware holds the lock around both."""

    def __init__(self, fsm: FSMContextMiddleware, isolation: BaseEventIsolation) -> None:
        self.fsm = fsm
        self.isolation = isolation

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        context = self.fsm.resolve_event_context(data["bot"], data)
        if context is None:
            return await handler(event, data)
        data["conversation_key"] = context.key
        async with self.isolation.lock(key=context.key):
            return await handler(event, data)


class UserMiddleware(BaseMiddleware):
    """Loads (or creates) the sender's `User` row and picks the reply language."""

    def __init__(self, settings: HandlerSettings, i18n: I18n) -> None:
        self.settings = settings
        self.i18n = i18n

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        sender: TelegramUser | None = data.get("event_from_user")
        session: AsyncSession = data["session"]
        user = None
        if sender is not None and not sender.is_bot:
            user = await self._load_or_create(session, sender.id, data.get("user"))
        lang = self._language(user, sender)
        data["user"] = user
        data["lang"] = lang
        data["t"] = self.i18n.translator(lang)
        data["is_staff"] = user is not None and self.is_staff(user)
        data["is_admin"] = user is not None and self.settings.is_admin(user.id)
        return await handler(event, data)

    def is_staff(self, user: User) -> bool:
        return self.settings.is_admin(user.id) or user.staff_granted

    async def _load_or_create(
        self, session: AsyncSession, user_id: int, preloaded: User | None
    ) -> User:
        user = preloaded or await session.get(User, user_id)
        now = utcnow()
        if user is None:
            # Two first updates from one person can race; ON CONFLICT keeps the first row.
            dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
            waking_from, waking_until = self.settings.waking_hours
            await session.exec(
                dialect.insert(User)
                .values(
                    id=user_id,
                    created_at=now,
                    last_seen_at=now,
                    waking_from=waking_from,
                    waking_until=waking_until,
                )
                .on_conflict_do_nothing(index_elements=["id"])
            )
            user = await session.get(User, user_id)
            assert user is not None
        elif now - user.last_seen_at > LAST_SEEN_RESOLUTION:
            user.last_seen_at = now
            user.is_active = True
        return user

    def _language(self, user: User | None, sender: TelegramUser | None) -> str:
        if user is not None and user.language in LANGUAGES:
            return user.language
        return telegram_language(
            sender.language_code if sender else None, self.settings.default_language
        )


# Control characters (NUL above all: PostgreSQL refuses it in text) are dropped from what
# people type; tab and newlines stay.
_CONTROL = dict.fromkeys(c for c in range(32) if chr(c) not in "\t\n\r") | {0x7F: None}


class InputGuardMiddleware(BaseMiddleware):
    """Answers empty and oversized text before any handler sees it (state stays untouched),
    and strips control characters from the rest."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Message) and event.text is not None:
            cleaned = event.text.translate(_CONTROL)
            if cleaned != event.text:
                event = event.model_copy(update={"text": cleaned})
            t: Translator = data["t"]
            length = len(event.text)
            if length > MAX_TEXT_LENGTH:
                return await event.answer(
                    t("errors.too_long", length=length, limit=MAX_TEXT_LENGTH)
                )
            if not event.text.strip():
                return await event.answer(t("errors.empty"))
        return await handler(event, data)


# The button presses answered during the update being handled (None outside one).
_answered_presses: ContextVar[set[str] | None] = ContextVar("answered_presses", default=None)


class AnsweredPresses(BaseRequestMiddleware):
    """Bot API request middleware: notes each `answerCallbackQuery` the bot makes, so that
    `PressAnswerMiddleware` knows whether a handler answered its button press itself."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if isinstance(method, AnswerCallbackQuery):
            answered = _answered_presses.get()
            if answered is not None:
                answered.add(method.callback_query_id)
        return await make_request(bot, method)


class PressAnswerMiddleware(BaseMiddleware):
    """Every button press is answered, so the button's spinner stops. A handler answers it
    itself only to say something (an alert for a stale button); otherwise the plain answer is
    returned here and travels in the webhook response, one Bot API request fewer per press
    (when polling, aiogram sends it as a call). Either way it goes after the handler's
    messages, a few milliseconds later than answering first would."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, CallbackQuery):
            return await handler(event, data)
        answered: set[str] = set()
        token = _answered_presses.set(answered)
        try:
            result = await handler(event, data)
        finally:
            _answered_presses.reset(token)
        if event.id in answered or (
            isinstance(result, AnswerCallbackQuery) and result.callback_query_id == event.id
        ):
            return result
        if isinstance(result, TelegramMethod):
            # The webhook response carries one method only: the handler's goes there.
            await event.answer()
            return result
        return event.answer()
