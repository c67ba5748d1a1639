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
from storage.db import Database, current_session, used_connection
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


# Built once: composing a statement costs more CPU than SQLite spends running it.
_SENDER_AND_RECORD = (
    sa.select(User, FsmRecord.state, FsmRecord.data)  # type: ignore[call-overload]
    .outerjoin(FsmRecord, FsmRecord.key == sa.bindparam("key"))  # type: ignore[arg-type]
    .where(User.id == sa.bindparam("user_id"))
)


class DbSessionMiddleware(BaseMiddleware):
    """One database session per update, committed when the handler succeeds.

    On PostgreSQL the update first opens its own transaction on a bare asyncpg connection
    (storage/conversation.py), which takes an advisory lock on the sender, released at commit:
    with several web workers, two quick updates from one person can land on different workers,
    and the second must see the wizard state the first one wrote. (Within one process the
    event isolation already serialises them.) The same round trip reads the sender's user row
    and conversation record. The user joins the update's ORM session without a query, so
    `UserMiddleware` and the handlers work with it as usual, and the record goes to the
    storage's copy for this update.

    At the end, an update that used its ORM session (any statement, any new or changed object
    besides the sender) writes the record in that session and commits it, then the bare
    transaction commits and releases the lock: the profile change and the wizard step it
    completes are committed together. Most updates (a question, a step that changes only the
    record, the sender's last-seen time) never touch the ORM session: their writes go over the
    bare connection, at a quarter of the ORM's cost (`bench/transaction.py`).

    On SQLite (one writer at a time, no advisory locks) the ORM session does everything: one
    query reads the user and the record, the record's changes are written before the commit."""

    def __init__(self, database: Database, storage: BaseStorage) -> None:
        self.database = database
        self.storage = storage if isinstance(storage, SQLModelStorage) else None

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        sender: TelegramUser | None = data.get("event_from_user")
        async with self.database.session() as session:
            data["session"] = session
            token = current_session.set(session)
            try:
                with self.storage.update_scope() if self.storage else nullcontext():
                    if self.database.conversations is not None and sender is not None:
                        return await self._on_postgres(handler, event, data, session, sender)
                    if sender is not None:
                        await self._read_on_sqlite(session, sender, data)
                    result = await handler(event, data)
                    if self.storage:
                        await self.storage.flush(session)
                    await session.commit()
                    return result
            finally:
                current_session.reset(token)

    async def _on_postgres(
        self,
        handler: Handler,
        event: TelegramObject,
        data: dict[str, Any],
        session: AsyncSession,
        sender: TelegramUser,
    ) -> Any:
        assert self.database.conversations is not None
        key: StorageKey | None = data.get("conversation_key")
        lock = (CONVERSATION_LOCK_CLASS, conversation_lock_key(sender.id))
        async with self.database.conversations.transaction() as transaction:
            user: User | None = None
            if sender.is_bot:
                await transaction.lock(*lock)
            else:
                built = self.storage.build_key(key) if self.storage and key else None
                opened = await transaction.open(*lock, sender.id, built)
                if built is not None and self.storage is not None:
                    self.storage.preload(built, opened.state, opened.data)
                if opened.user is not None:
                    user = opened.user
                    session.add(user)  # persistent as read, not a new row
                    data["user"] = user
            result = await handler(event, data)
            if _wrote_in_session(session, user):
                if self.storage:
                    await self.storage.flush(session)
                await session.commit()
            else:
                if user is not None and session.is_modified(user):
                    await transaction.update_user(user.id, _changed_columns(user))
                if self.storage:
                    await self.storage.flush_to(transaction)
            return result

    async def _read_on_sqlite(
        self, session: AsyncSession, sender: TelegramUser, data: dict[str, Any]
    ) -> None:
        key: StorageKey | None = data.get("conversation_key")
        if self.storage is None or key is None or sender.is_bot:
            return
        built = self.storage.build_key(key)
        params = {"user_id": sender.id, "key": built}
        row = (await session.exec(_SENDER_AND_RECORD, params=params)).first()
        if row is None:  # a newcomer: no row to join the record to; it is read on use
            return
        user, state, record_data = row
        # The identity map holds objects weakly: the user stays alive through `data`.
        data["user"] = user
        self.storage.preload(built, state, record_data)


def _wrote_in_session(session: AsyncSession, sender: User | None) -> bool:
    """Whether the update's ORM session has anything to commit (a statement it ran may have
    written; a new, deleted or changed object besides the sender will be)."""
    return (
        used_connection(session)
        or bool(session.new)
        or bool(session.deleted)
        or any(changed is not sender for changed in session.dirty)
    )


def _changed_columns(user: User) -> dict[str, Any]:
    state = sa.inspect(user)
    return {
        attribute.key: attribute.value
        for attribute in state.attrs
        if attribute.history.has_changes()
    }


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
