"""Filters that run on the event loop.

aiogram awaits a filter only when it is a coroutine function or a `Filter`; anything else, a bare
magic filter (`F.text`) or a bare `State` included, goes through `asyncio.to_thread`, once per
handler it guards and per update that reaches it. With some sixty such filters those thread hops
(and the GIL hand-offs they cause) were a fifth of the bot's CPU per update. Every filter in
`handlers/` is therefore a `Filter`: `Magic(F....)` for magic filters and `StateFilter(...)` for
states; a test walks the routers and fails on any filter that would go to a thread.
"""

from __future__ import annotations

from typing import Any

from aiogram import F
from aiogram.filters import Filter
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
