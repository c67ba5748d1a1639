"""What every wizard step shares: what a step handler works with (`Turn`), asking a step (the
state is set before the question goes out, and a question typed at the step is noted once),
refusing an out-of-date button, and registering a step's handlers with the filters a step
always has."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, TelegramObject

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
) -> Message:
    """Open `step` and send its question. The state is set first: an answer can only arrive
    after the question has, and it must find the step open."""
    await state.set_state(step)
    if (await state.get_data()).get(NOTED_STEP) is not None:
        await state.update_data({NOTED_STEP: None})  # a step asked again is noted afresh
    return await send(text, reply_markup=reply_markup)


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


@dataclass(frozen=True, slots=True)
class Turn:
    """What a step handler works with in one update: where to answer, the conversation
    state, the user, their language and the knowledge base. A step handler takes
    `(event, turn)` (plus its callback data) instead of the same injected arguments again."""

    send: Reply
    state: FSMContext
    user: User
    t: Translator
    knowledge: Knowledge
    settings: HandlerSettings
    is_staff: bool

    async def ask(
        self, step: State, text: str, reply_markup: InlineKeyboardMarkup | None = None
    ) -> Message:
        return await ask(self.send, self.state, step, text, reply_markup)

    def today(self) -> date:
        return today(self.settings)

    def speaking(self, t: Translator) -> Turn:
        """The same turn in another language (the user has just chosen one)."""
        return replace(self, t=t)


class TurnMiddleware(BaseMiddleware):
    """Inner middleware of a wizard's router: builds the `turn` its handlers take."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        send = sender(event) if isinstance(event, CallbackQuery) else Reply.to(event)  # type: ignore[arg-type]
        data["turn"] = Turn(
            send,
            data["state"],
            data["user"],
            data["t"],
            data["knowledge"],
            data["settings"],
            data["is_staff"],
        )
        return await handler(event, data)


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
