"""Small helpers shared by handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from aiogram import Bot
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, InputFile, Message

from handlers.settings import HandlerSettings
from storage.models import User

# A way to send a text to a chat (what is returned, if anything, is not used).
Send = Callable[..., Awaitable[Any]]
# Telegram's limit is 4,096 characters; leave room for the HTML entities escaping adds.
MESSAGE_LIMIT = 4000


@dataclass(frozen=True)
class Reply:
    """Sends to one chat: calling it sends text, `.photo()` sends a picture."""

    bot: Bot
    chat_id: int

    @classmethod
    def to(cls, message: Message) -> Reply:
        assert message.bot is not None
        return cls(message.bot, message.chat.id)

    async def __call__(self, text: str, **kwargs: Any) -> Message:
        return await self.bot.send_message(self.chat_id, text, **kwargs)

    async def photo(self, photo: InputFile, **kwargs: Any) -> Message:
        return await self.bot.send_photo(self.chat_id, photo, **kwargs)


def sender(callback: CallbackQuery) -> Reply:
    """Where to answer a button press: the chat of the message that carried the button, or
    the user's private chat when Telegram no longer attaches that message (too old)."""
    assert callback.bot is not None
    if isinstance(callback.message, Message):
        return Reply(callback.bot, callback.message.chat.id)
    return Reply(callback.bot, callback.from_user.id)


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


async def reply_long(message: Message, text: str, **kwargs: Any) -> SendMessage:
    """Like `send_long`, but the last piece is returned rather than sent. A handler returns it
    and aiogram delivers it after the update's transaction has committed: through a webhook
    it travels in the HTTP response to Telegram's POST (one request fewer per answer, and the
    busiest path of the bot), when polling it is sent as a call. Telegram does not report
    whether a reply in a webhook response arrived, so this is for answers only, never for
    anything the bot must know was delivered."""
    *pieces, last = split_message(text) or [text]
    for piece in pieces:
        await message.answer(piece)
    return message.answer(last, **kwargs)


def today(settings: HandlerSettings) -> date:
    return datetime.now(settings.tz).date()


def profile_of(user: User | None) -> dict[str, str | None]:
    if user is None:
        return {}
    return {"region": user.region, "settlement": user.settlement, "role": user.role}
