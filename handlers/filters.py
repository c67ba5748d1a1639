"""Filters that run on the event loop.

aiogram awaits a filter only when it is a coroutine function or a `Filter`; anything else, a bare
magic filter (`F.text`) or a bare `State` included, goes through `asyncio.to_thread`, once per
handler it guards and per update that reaches it. With some sixty such filters those thread hops
(and the GIL hand-offs they cause) were a fifth of the bot's CPU per update. Every filter in
`handlers/` is therefore a `Filter`: `Magic(F....)` for magic filters and `StateFilter(...)` for
states; a test walks the routers and fails on any filter that would go to a thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from inspect import isclass
from typing import Any

from aiogram import F, Router
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.filters import Command, Filter, StateFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message, TelegramObject
from magic_filter import MagicFilter

from knowledge.service import Knowledge


class Magic(Filter):
    """`F....` checked inline; the result means what it means to aiogram (truthy, or a dict)."""

    __slots__ = ("magic",)

    def __init__(self, magic: MagicFilter) -> None:
        self.magic = magic

    async def __call__(self, event: TelegramObject) -> Any:
        return self.magic.resolve(event)

    def __str__(self) -> str:
        return f"Magic({self.magic!r})"


TEXT = Magic(F.text)
"""A message with text (not a sticker, photo, ...)."""
COMMAND = Magic(F.text.startswith("/"))
NOT_COMMAND = Magic(~F.text.startswith("/"))
"""Anything but a command: what a wizard step accepts (a broadcast may be a photo)."""
PRIVATE = Magic(F.chat.type == "private")
NOT_PRIVATE = Magic(F.chat.type != "private")


class NotAQuestion(Filter):
    """For a wizard's typed step: passes unless the text asks something ("?") that the
    knowledge base answers confidently. Such a question falls through to the questions
    router and gets its answer, and the step stays open. What a step asks for (subjects,
    scores, a date, an amount) never carries a question mark, so no answer to a step is
    taken for a question."""

    async def __call__(self, message: Message, knowledge: Knowledge, lang: str) -> bool:
        text = message.text or ""
        if "?" not in text:
            return True
        return not knowledge.router.route(text, default_lang=lang).is_confident


NOT_A_QUESTION = NotAQuestion()


class CommandOrStep(Filter):
    """Router-level message filter for a group of routers whose message handlers all take a
    command or a wizard step: any other message (an ordinary question, most of what people
    send) skips the whole group at once instead of being offered to each of its handlers in
    turn, a tenth of the CPU of a question. Built from the handlers themselves: a message
    handler that needs neither a command nor a state makes the filter let everything in, so a
    handler added later is never skipped by it."""

    __slots__ = ("everything", "states")

    def __init__(self, router: Router) -> None:
        self.states: set[str] = set()
        self.everything = False
        for handler in _message_handlers(router):
            filters = [f.callback for f in handler.filters or []]
            if any(isinstance(f, Command) for f in filters):
                continue
            steps = [f for f in filters if isinstance(f, StateFilter)]
            if not steps:
                self.everything = True
                return
            for step in steps:
                for state in step.states:
                    if isinstance(state, State) and state.state is not None:
                        self.states.add(state.state)
                    elif isclass(state) and issubclass(state, StatesGroup):
                        self.states.update(state.__all_states_names__)
                    else:  # None or "*": a handler for messages outside any wizard
                        self.everything = True
                        return

    async def __call__(self, message: Message, raw_state: str | None = None) -> bool:
        if self.everything or raw_state in self.states:
            return True
        return (message.text or message.caption or "").startswith("/")


def _message_handlers(router: Router) -> Iterator[HandlerObject]:
    yield from router.message.handlers
    for child in router.sub_routers:
        yield from _message_handlers(child)
