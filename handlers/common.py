"""Small helpers shared by handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from functools import partial
from typing import Any

from aiogram.types import CallbackQuery, Message

from bot.config import Settings
from bot.models import User

Send = Callable[..., Awaitable[Message]]
# Telegram's limit is 4,096 characters; leave room for the HTML entities escaping adds.
MESSAGE_LIMIT = 4000


def sender(callback: CallbackQuery) -> Send:
    """Where to answer a button press: the chat of the message that carried the button, or
    the user's private chat when Telegram no longer attaches that message (too old)."""
    if isinstance(callback.message, Message):
        return callback.message.answer
    assert callback.bot is not None
    send: Send = partial(callback.bot.send_message, callback.from_user.id)
    return send


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split at line breaks into chunks Telegram accepts; a single over-long line is cut."""
    chunks: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            chunks.append(current)
            current = ""
        current += line
    if current.strip():
        chunks.append(current)
    return [chunk.rstrip("\n") for chunk in chunks]


async def send_long(send: Send, text: str, **kwargs: Any) -> None:
    """Send a long answer in pieces; buttons go with the last piece."""
    chunks = split_message(text)
    for index, chunk in enumerate(chunks):
        await send(chunk, **(kwargs if index == len(chunks) - 1 else {}))


def today(settings: Settings) -> date:
    return datetime.now(settings.tz).date()


def profile_of(user: User | None) -> dict[str, str | None]:
    if user is None:
        return {}
    return {"region": user.region, "settlement": user.settlement, "role": user.role}
