"""`talapker chat`: talk to the bot in a terminal, no token and no network.

The real Dispatcher, middlewares, handlers and database are used; only the Bot API is
replaced by `ConsoleSession`, which prints what the bot sends. Inline buttons print as
`[1] label`; typing `1` presses the button. To send a bare number as text instead, prefix
it with a backslash (`\\5`)."""

from __future__ import annotations

import asyncio
import html
import itertools
import re
import sys
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import (
    AnswerCallbackQuery,
    CopyMessage,
    DeleteMessage,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageId,
    Update,
    User,
)

from bot.app import TalapkerApp
from bot.config import Settings
from scheduler.reminders import seed_calendar

CONSOLE_TOKEN = "1:console-chat"
PICTURES_DIR = "talapker-pictures"
_TAG = re.compile(r"<[^>]+>")


def html_to_text(text: str) -> str:
    return html.unescape(_TAG.sub("", text))


class ConsoleSession(BaseSession):
    """A Bot API that prints to a terminal instead of going to Telegram."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        super().__init__()
        self.out = out
        self.message_ids = itertools.count(1)
        self.messages: dict[int, Message] = {}
        self.buttons: list[tuple[int, InlineKeyboardButton]] = []
        self.picture_ids = itertools.count(1)

    def _print(self, text: str, prefix: str = "bot> ") -> None:
        lines = text.splitlines() or [""]
        self.out.write(prefix + lines[0] + "\n")
        for line in lines[1:]:
            self.out.write(" " * len(prefix) + line + "\n")
        self.out.flush()

    def _show_keyboard(self, message_id: int, markup: Any) -> None:
        if not isinstance(markup, InlineKeyboardMarkup):
            return
        self.buttons = [(message_id, b) for row in markup.inline_keyboard for b in row]
        number = 1
        for row in markup.inline_keyboard:
            cells = []
            for button in row:
                cells.append(f"[{number}] {button.text}")
                number += 1
            self._print("  ".join(cells), prefix="      ")

    def _store(self, bot: Bot, chat_id: int, text: str, markup: Any) -> Message:
        message_id = next(self.message_ids)
        message = Message(
            message_id=message_id,
            date=datetime.now(UTC),
            chat=Chat(id=chat_id, type="private"),
            from_user=User(id=bot.id, is_bot=True, first_name="Talapker"),
            text=text,
            reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
        ).as_(bot)
        self.messages[message_id] = message
        return message

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        result: Any
        if isinstance(method, SendMessage):
            self._print(html_to_text(method.text))
            result = self._store(bot, int(method.chat_id), method.text, method.reply_markup)
            self._show_keyboard(result.message_id, method.reply_markup)
        elif isinstance(method, SendPhoto):
            where = self._save_photo(method)
            self._print(
                f"[picture: {where}]"
                + (f" {html_to_text(method.caption)}" if method.caption else "")
            )
            result = self._store(
                bot, int(method.chat_id), method.caption or "", method.reply_markup
            )
            self._show_keyboard(result.message_id, method.reply_markup)
        elif isinstance(method, EditMessageText):
            self._print(html_to_text(method.text), prefix="bot✎ ")
            message_id = method.message_id or 0
            if self.buttons and self.buttons[0][0] == message_id:
                self.buttons = []
            self._show_keyboard(message_id, method.reply_markup)
            result = self.messages.get(message_id, True)
        elif isinstance(method, EditMessageReplyMarkup):
            self._show_keyboard(method.message_id or 0, method.reply_markup)
            result = True
        elif isinstance(method, AnswerCallbackQuery):
            if method.text:
                self._print(method.text, prefix="bot! ")
            result = True
        elif isinstance(method, CopyMessage):
            self._print(f"[a copy of message {method.message_id}]")
            result = MessageId(message_id=next(self.message_ids))
        elif isinstance(method, GetMe):
            result = User(id=bot.id, is_bot=True, first_name="Talapker", username="talapker_bot")
        elif isinstance(method, DeleteMessage):
            result = True
        elif method.__returning__ is bool:
            result = True  # setMyCommands and the like: nothing to show in a terminal
        else:
            self._print(f"[{method.__api_method__} is not shown in the console]", prefix="bot? ")
            result = True
        return result  # type: ignore[no-any-return]

    def _save_photo(self, method: SendPhoto) -> str:
        """Pictures go to files beside the database, so you can open them."""
        photo = method.photo
        if not isinstance(photo, BufferedInputFile):
            return str(photo)
        folder = Path(PICTURES_DIR)
        folder.mkdir(exist_ok=True)
        path = folder / f"{next(self.picture_ids):03d}-{photo.filename or 'picture.png'}"
        path.write_bytes(photo.data)
        return str(path)

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError("the console chat does not download files")
        yield b""  # pragma: no cover

    async def close(self) -> None:
        return None


class ConsoleChat:
    def __init__(
        self, app: TalapkerApp, session: ConsoleSession, user_id: int, language_code: str | None
    ) -> None:
        self.app = app
        self.session = session
        self.user = User(
            id=user_id, is_bot=False, first_name="Console", language_code=language_code
        )
        self.update_ids = itertools.count(1)
        self.input_ids = itertools.count(1_000_000)

    def _pressed_button(self, line: str) -> tuple[int, InlineKeyboardButton] | None:
        text = line.strip()
        if text.isdigit() and 1 <= int(text) <= len(self.session.buttons):
            return self.session.buttons[int(text) - 1]
        return None

    def update_for(self, line: str) -> Update | None:
        pressed = self._pressed_button(line)
        if pressed is not None:
            message_id, button = pressed
            if button.callback_data is None:
                self.session._print(button.url or button.text, prefix="link ")
                return None
            return Update(
                update_id=next(self.update_ids),
                callback_query=CallbackQuery(
                    id=str(next(self.input_ids)),
                    from_user=self.user,
                    chat_instance="console",
                    message=self.session.messages.get(message_id),
                    data=button.callback_data,
                ),
            )
        if line.startswith("\\"):
            line = line[1:]
        return Update(
            update_id=next(self.update_ids),
            message=Message(
                message_id=next(self.input_ids),
                date=datetime.now(UTC),
                chat=Chat(id=self.user.id, type="private"),
                from_user=self.user,
                text=line,
            ),
        )

    async def handle_line(self, line: str) -> None:
        update = self.update_for(line)
        if update is not None:
            # As polling does: a handler may return its reply (see handlers.common.reply_long).
            reply = await self.app.dispatcher.feed_update(self.app.bot, update)
            if isinstance(reply, TelegramMethod):
                await self.app.bot(reply)

    async def run(self, stdin: TextIO = sys.stdin) -> None:
        interactive = stdin.isatty()
        if interactive:
            self.session._print(
                "Console chat with Talapker. Type /start; /quit or Ctrl-D leaves.", ""
            )
        while True:
            if interactive:
                self.session.out.write("you> ")
                self.session.out.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            line = line.rstrip("\r\n")
            if not interactive:
                self.session._print(line, prefix="you> ")
            if line.strip() in {"/quit", "/exit"}:
                break
            await self.handle_line(line)


async def run_console(settings: Settings, user_id: int, language_code: str | None) -> None:
    session = ConsoleSession()
    # One person at a keyboard (or a script piping questions in): no flood limit.
    app = await TalapkerApp.create(
        settings.model_copy(update={"bot_token": CONSOLE_TOKEN, "throttle_burst": 1_000_000}),
        session,
    )
    # No scheduler runs here, so nothing else seeds the calendar that /deadlines shows.
    await seed_calendar(app.database, app.knowledge.kb)
    # The outbox sender runs too: what `talapker tickets reply` queues in another terminal
    # (an answer of the admissions office) appears here within seconds.
    app.start_delivery()
    try:
        await ConsoleChat(app, session, user_id, language_code).run()
    finally:
        await app.close()
