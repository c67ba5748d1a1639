"""Small helpers shared by handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from aiogram.types import CallbackQuery, Message

Send = Callable[..., Awaitable[Message]]


def sender(callback: CallbackQuery) -> Send:
    """Where to answer a button press: the chat of the message that carried the button, or
    the user's private chat when Telegram no longer attaches that message (too old)."""
    if isinstance(callback.message, Message):
        return callback.message.answer
    assert callback.bot is not None
    send: Callable[..., Awaitable[Message]] = partial(
        callback.bot.send_message, callback.from_user.id
    )
    return send
