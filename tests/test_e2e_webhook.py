"""Webhook mode: the app registers its webhook with the Bot API and serves updates posted
with the right secret token; anything else is refused before it reaches a handler."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiogram import Dispatcher
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, Update

from bot.app import TalapkerApp, create_bot
from bot.config import Settings
from handlers.middlewares import PressAnswerMiddleware
from storage.models import User
from tests.botapi_stub import StubBotAPI
from tests.conftest import SECRET, free_port  # noqa: F401  (other test modules import them from here)


@pytest.fixture
async def webhook_app(start_webhook_app: Callable[..., Awaitable[TalapkerApp]]) -> TalapkerApp:
    return await start_webhook_app()


async def test_webhook_is_registered_with_its_secret(
    stub: StubBotAPI, webhook_app: TalapkerApp
) -> None:
    assert stub.webhook is not None
    assert stub.webhook["url"] == webhook_app.settings.webhook_url
    assert stub.webhook["secret_token"] == SECRET
    assert "callback_query" in stub.webhook["allowed_updates"]
    assert int(stub.webhook["max_connections"]) == 40


async def test_update_with_the_right_secret_is_answered(
    stub: StubBotAPI, webhook_app: TalapkerApp
) -> None:
    status = await stub.deliver_webhook(stub.message_update(601, "/start", language_code="en"))
    assert status == 200
    await stub.next_reply(601)
    prompt = await stub.next_reply(601)
    assert "Choose your language" in prompt["text"]

    # A button press through the webhook continues the wizard.
    await stub.deliver_webhook(
        stub.callback_update(601, "lang:kk", stub.message_with_button(601, "lang:kk"))
    )
    assert "Сіз кімсіз?" in (await stub.next_reply(601))["text"]


@pytest.mark.parametrize("secret", ["wrong-secret", ""])
async def test_update_with_a_wrong_or_missing_secret_is_refused(
    stub: StubBotAPI, webhook_app: TalapkerApp, secret: str
) -> None:
    status = await stub.deliver_webhook(stub.message_update(602, "/start"), secret=secret)
    assert status == 401

    # Nothing was processed: no reply, no user row.
    ok = await stub.deliver_webhook(stub.message_update(603, "/help", language_code="en"))
    assert ok == 200
    await stub.next_reply(603)  # the valid update after it is answered…
    assert stub.calls_to("sendMessage", chat_id=602) == []  # …the refused one never was
    async with webhook_app.database.session() as session:
        assert await session.get(User, 602) is None


async def test_an_answer_travels_in_the_webhook_response(
    stub: StubBotAPI, webhook_app: TalapkerApp
) -> None:
    """The busiest path, a question, makes no request of its own: the answer is the body of
    the bot's reply to Telegram's POST, which Telegram then sends."""
    status = await stub.deliver_webhook(
        stub.message_update(604, "What is the UNT threshold for a grant?", language_code="en")
    )
    assert status == 200
    (answer,) = stub.calls_to("sendMessage", chat_id=604)
    assert answer.in_webhook_response
    assert "threshold" in answer.params["text"].lower()
    assert answer.params["parse_mode"] == "HTML"
    # The helpful / not helpful buttons come with it.
    buttons = answer.params["reply_markup"]["inline_keyboard"][0]
    assert [b["callback_data"] for b in buttons] == ["fb:threshold:1", "fb:threshold:0"]


async def test_every_press_is_answered_exactly_once(
    stub: StubBotAPI, webhook_app: TalapkerApp
) -> None:
    """The spinner on a pressed button stops only when the press is answered. A plain answer
    rides in the webhook response; a stale button's alert is a call of its own; never both."""
    await stub.deliver_webhook(stub.message_update(605, "/menu", language_code="en"))
    await stub.next_reply(605)

    press = stub.callback_update(605, "menu:help", stub.message_with_button(605, "menu:help"))
    await stub.deliver_webhook(press)
    await stub.next_reply(605)  # the help text
    answers = [
        c
        for c in stub.calls_to("answerCallbackQuery")
        if str(c.params["callback_query_id"]) == press["callback_query"]["id"]
    ]
    assert len(answers) == 1
    assert answers[0].in_webhook_response
    assert not answers[0].params.get("text")

    forged = stub.callback_update(605, "no-such-button:1")
    await stub.deliver_webhook(forged)
    alerts = [
        c
        for c in stub.calls_to("answerCallbackQuery")
        if str(c.params["callback_query_id"]) == forged["callback_query"]["id"]
    ]
    assert len(alerts) == 1
    assert "out of date" in alerts[0].params["text"]
    assert str(alerts[0].params.get("show_alert")).lower() == "true"


async def test_a_flood_costs_no_bot_api_requests(
    stub: StubBotAPI, start_webhook_app: Callable[..., Awaitable[TalapkerApp]]
) -> None:
    """Refusals of a flood travel in the webhook responses: one polite warning, then silence,
    and not a single request of the bot's own."""
    await start_webhook_app(throttle_burst=2, throttle_rate=0.1)
    for _ in range(6):
        await stub.deliver_webhook(
            stub.message_update(606, "how long is the UNT", language_code="en")
        )
    replies = stub.calls_to("sendMessage", chat_id=606)
    assert all(reply.in_webhook_response for reply in replies)
    warnings = [r for r in replies if "slow down" in r.params["text"]]
    assert len(replies) == 3 and len(warnings) == 1


@pytest.mark.parametrize("shape", ["answers_itself", "returns_its_answer", "returns_a_message"])
async def test_a_press_is_answered_once_whatever_the_handler_does(
    stub: StubBotAPI, make_settings: Callable[..., Settings], shape: str
) -> None:
    """However a press handler ends (answering, returning its answer, returning a reply),
    the press gets exactly one answer: Telegram refuses a second one."""
    bot = create_bot(make_settings())
    dispatcher = Dispatcher()
    dispatcher.callback_query.middleware(PressAnswerMiddleware())

    @dispatcher.callback_query()
    async def pressed(callback: CallbackQuery) -> Any:
        if shape == "answers_itself":
            await callback.answer("noted")
            return None
        if shape == "returns_its_answer":
            return callback.answer("noted")
        return SendMessage(chat_id=callback.from_user.id, text="a reply")

    raw = stub.callback_update(607, "any")
    try:
        returned = await dispatcher.feed_webhook_update(bot, Update.model_validate(raw))
        if returned is not None:  # what the webhook response would carry
            await bot(returned)
    finally:
        await bot.session.close()
    answers = [
        c
        for c in stub.calls_to("answerCallbackQuery")
        if str(c.params["callback_query_id"]) == raw["callback_query"]["id"]
    ]
    assert len(answers) == 1
    if shape == "returns_a_message":
        assert stub.texts_to(607) == ["a reply"]
    else:
        assert answers[0].params["text"] == "noted"


def test_a_reply_in_the_webhook_response_is_json_unless_it_uploads_a_file(
    webhook_app: TalapkerApp,
) -> None:
    """Telegram reads a JSON reply in the webhook response; a file (a Keleshek chart) can
    only travel as multipart/form-data."""
    from aiogram.methods import SendMessage, SendPhoto
    from aiogram.types import BufferedInputFile
    from aiohttp import MultipartWriter
    from aiohttp.payload import JsonPayload

    from bot.app import JsonReplyRequestHandler

    handler = JsonReplyRequestHandler(webhook_app.dispatcher, webhook_app.bot)
    text = handler._build_response_writer(webhook_app.bot, SendMessage(chat_id=1, text="hi"))
    assert isinstance(text, JsonPayload)
    body = json.loads(text._value)
    assert body["method"] == "sendMessage" and body["text"] == "hi" and body["chat_id"] == 1
    assert body["parse_mode"] == "HTML"  # the bot's defaults are filled in, as in multipart
    chart = SendPhoto(chat_id=1, photo=BufferedInputFile(b"png", filename="chart.png"))
    assert isinstance(handler._build_response_writer(webhook_app.bot, chart), MultipartWriter)


def test_a_call_goes_as_json_unless_it_uploads_a_file(webhook_app: TalapkerApp) -> None:
    """The Bot API reads a JSON request as it reads a form; a file needs multipart."""
    from aiogram.methods import SendPhoto
    from aiogram.types import BufferedInputFile
    from aiohttp import FormData
    from aiohttp.payload import JsonPayload

    session = webhook_app.bot.session
    text = session.build_form_data(webhook_app.bot, SendMessage(chat_id=1, text="hi"))  # type: ignore[attr-defined]
    assert isinstance(text, JsonPayload)
    body = json.loads(text._value)
    assert body == {"chat_id": 1, "text": "hi", "parse_mode": "HTML"} | {
        k: v for k, v in body.items() if k not in ("chat_id", "text", "parse_mode")
    }
    assert "method" not in body  # a request names its method in the URL
    chart = SendPhoto(chat_id=1, photo=BufferedInputFile(b"png", filename="chart.png"))
    assert isinstance(session.build_form_data(webhook_app.bot, chart), FormData)  # type: ignore[attr-defined]


async def test_a_typed_step_s_last_message_travels_in_the_webhook_response(
    stub: StubBotAPI, webhook_app: TalapkerApp
) -> None:
    """/start says welcome, then asks the first step: the welcome goes as a request, the
    question (the step's last message, with its buttons) in the webhook response, after it."""
    await stub.deliver_webhook(stub.message_update(608, "/start", language_code="en"))
    welcome, question = stub.calls_to("sendMessage", chat_id=608)
    assert not welcome.in_webhook_response and "Talapker" in welcome.params["text"]
    assert question.in_webhook_response and "Choose your language" in question.params["text"]
    assert question.params["reply_markup"]["inline_keyboard"]

    # The step is open: the language typed as a button press continues the wizard.
    await stub.deliver_webhook(
        stub.callback_update(608, "lang:en", stub.message_with_button(608, "lang:en"))
    )
    assert "Who are you?" in stub.calls_to("sendMessage", chat_id=608)[-1].params["text"]


async def test_a_held_message_goes_before_any_later_call(
    stub: StubBotAPI, make_settings: Callable[..., Settings]
) -> None:
    """A typed step that sends a message and then makes another call (an edit, a message
    sent another way) shows them in the order it made them; the last message still rides in
    the webhook response."""
    from aiogram.fsm.context import FSMContext
    from aiogram.types import Message

    from handlers.wizard import Steps, Turn

    bot = create_bot(make_settings())
    dispatcher = Dispatcher()
    steps = Steps("order")

    @steps.router.message()
    async def typed(message: Message, turn: Turn) -> None:
        await turn.send("first")
        await message.answer("second, sent another way")
        await turn.send("third")

    dispatcher.include_router(steps.router)

    @dispatcher.message.outer_middleware()
    async def with_turn_data(handler: Any, event: Any, data: dict[str, Any]) -> Any:
        data.update(user=None, t=None, knowledge=None, settings=None, is_staff=False)
        data["state"] = FSMContext(dispatcher.fsm.storage, key=None)  # type: ignore[arg-type]
        return await handler(event, data)

    try:
        returned = await dispatcher.feed_webhook_update(
            bot, Update.model_validate(stub.message_update(609, "hello"))
        )
        assert isinstance(returned, SendMessage) and returned.text == "third"
        await bot(returned)  # what the webhook response carries
    finally:
        await bot.session.close()
    assert stub.texts_to(609) == ["first", "second, sent another way", "third"]
