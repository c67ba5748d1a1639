"""What every wizard step shares: what a step handler works with (`Turn`), asking a step (the
state is set before the question goes out, and a question typed at the step is noted once),
refusing an out-of-date button, and registering a step's handlers with the filters a step
always has."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from aiogram import BaseMiddleware, Bot, Router
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.methods import Response, SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    TelegramObject,
)

from handlers.common import Reply, Send, sender, today
from handlers.filters import NOT_A_QUESTION, NOT_COMMAND, TEXT
from handlers.settings import HandlerSettings
from i18n import Translator
from knowledge.service import Knowledge
from storage.models import User

# Kept in the wizard's FSM data: the step at which the user was last told that it still waits.
NOTED_STEP = "_noted_step"


async def ask(
    send: Send,
    state: FSMContext,
    step: State,
    text: str,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> None:
    """Open `step` and send its question. The state is set first: an answer can only arrive
    after the question has, and it must find the step open."""
    await state.set_state(step)
    if (await state.get_data()).get(NOTED_STEP) is not None:
        await state.update_data({NOTED_STEP: None})  # a step asked again is noted afresh
    await send(text, reply_markup=reply_markup)


async def still_open_note(state: FSMContext, raw_state: str | None, t: Translator) -> str:
    """For an answer to a question typed in the middle of a wizard: the line saying the step
    still waits, the first time at that step only (a second question gets its answer alone)."""
    if raw_state is None:
        return ""
    if (await state.get_data()).get(NOTED_STEP) == raw_state:
        return ""
    await state.update_data({NOTED_STEP: raw_state})
    return "\n\n" + t("ask.step_still_open")


async def refuse_stale(callback: CallbackQuery, t: Translator) -> None:
    """A button that no longer fits (forged, or from an older message): an alert, no change."""
    await callback.answer(t.plain("errors.stale_button"), show_alert=True)


class HeldReply:
    """Where a wizard step answers a typed message. Each message goes out when the next one
    is sent, and the last one is held: `TurnMiddleware` returns it from the handler, so it
    travels in the webhook response to Telegram's POST, after the update has committed (one
    Bot API request fewer for the step; when polling, aiogram sends it as a call). Any other
    call the bot makes meanwhile (an edit, a photo, a message sent another way) releases
    the held message first (`ReleaseHeldReply`), so the order people see is the order sent."""

    def __init__(self, bot: Bot, chat_id: int) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.held: SendMessage | None = None

    async def __call__(self, text: str, **kwargs: Any) -> None:
        await self.release()
        self.held = SendMessage(chat_id=self.chat_id, text=text, **kwargs)

    async def photo(self, photo: InputFile, **kwargs: Any) -> None:
        await self.bot.send_photo(self.chat_id, photo, **kwargs)

    async def release(self) -> None:
        if self.held is not None:
            method, self.held = self.held, None
            await self.bot(method)

    def take(self) -> SendMessage | None:
        method, self.held = self.held, None
        return method.as_(self.bot) if method is not None else None


# The held reply of the update being handled (None outside a typed wizard step).
_held_reply: ContextVar[HeldReply | None] = ContextVar("held_reply", default=None)


class ReleaseHeldReply(BaseRequestMiddleware):
    """Bot API request middleware: a call made while a wizard step holds its last message
    sends that message first."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        held = _held_reply.get()
        if held is not None and held.held is not None and held.held is not method:
            await held.release()
        return await make_request(bot, method)


@dataclass(frozen=True, slots=True)
class Turn:
    """What a step handler works with in one update: where to answer, the conversation
    state, the user, their language and the knowledge base. A step handler takes
    `(event, turn)` (plus its callback data) instead of the same injected arguments again."""

    send: Reply | HeldReply
    state: FSMContext
    user: User
    t: Translator
    knowledge: Knowledge
    settings: HandlerSettings
    is_staff: bool

    async def ask(
        self, step: State, text: str, reply_markup: InlineKeyboardMarkup | None = None
    ) -> None:
        await ask(self.send, self.state, step, text, reply_markup)

    def today(self) -> date:
        return today(self.settings)

    def speaking(self, t: Translator) -> Turn:
        """The same turn in another language (the user has just chosen one)."""
        return replace(self, t=t)


class TurnMiddleware(BaseMiddleware):
    """Inner middleware of a wizard's router: builds the `turn` its handlers take. A typed
    step answers through a `HeldReply`, whose last message is returned from here. A pressed
    one sends at once: its webhook response carries the answer to the press (handlers/
    middlewares.py, PressAnswerMiddleware)."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if isinstance(event, CallbackQuery):
            return await handler(event, self._turn(sender(event), data))
        assert isinstance(event, Message) and event.bot is not None
        held = HeldReply(event.bot, event.chat.id)
        token = _held_reply.set(held)
        try:
            result = await handler(event, self._turn(held, data))
        finally:
            _held_reply.reset(token)
        last = held.take()
        if last is None:
            return result
        if isinstance(result, TelegramMethod):  # the handler returned a reply of its own
            await event.bot(last)
            return result
        return last

    @staticmethod
    def _turn(send: Reply | HeldReply, data: dict[str, Any]) -> dict[str, Any]:
        data["turn"] = Turn(
            send,
            data["state"],
            data["user"],
            data["t"],
            data["knowledge"],
            data["settings"],
            data["is_staff"],
        )
        return data


class Steps:
    """A wizard's router, registered step by step. A typed step takes text that is not a
    command and not a question the knowledge base answers (that goes to the questions
    router and the step stays open); a pressed step takes its own buttons only."""

    def __init__(self, name: str) -> None:
        self.router = Router(name=name)
        self.router.message.middleware(TurnMiddleware())
        self.router.callback_query.middleware(TurnMiddleware())

    def typed(self, step: State, handler: Callable[..., Any]) -> Steps:
        self.router.message.register(handler, StateFilter(step), TEXT, NOT_COMMAND, NOT_A_QUESTION)
        return self

    def pressed(self, step: State, handler: Callable[..., Any], *filters: Any) -> Steps:
        self.router.callback_query.register(handler, StateFilter(step), *filters)
        return self

    def entry(self, handler: Callable[..., Any], *filters: Any) -> Steps:
        """A button that starts (or restarts) the wizard from any state."""
        self.router.callback_query.register(handler, *filters)
        return self
