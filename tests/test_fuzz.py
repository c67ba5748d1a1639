"""Property-based tests: random text, numbers and button payloads thrown at the question
router and, through the real dispatcher and the stand-in Bot API, at every wizard. Whatever
arrives, no exception escapes to the user (no "something went wrong"), every update gets an
answer or is deliberately ignored, and the conversation state stays one the code knows."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from aiogram.fsm.state import StatesGroup
from aiogram.methods import TelegramMethod
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import handlers  # noqa: F401  (imports every StatesGroup)
from bot.app import TalapkerApp
from bot.config import Settings
from knowledge.schema import TOPICS
from knowledge.service import Knowledge
from storage.models import User
from tests.botapi_stub import StubBotAPI

APOLOGIES = ("something went wrong", "что-то пошло не так", "бірдеңе дұрыс болмады")
PREFIXES = "lang role region settle menu topic pair unt target quota kel fb aud bc rem cal forget"
WIZARD_STARTS = [
    None,
    "/start",
    "menu:unt",
    "menu:grant",
    "menu:quotas",
    "menu:serpin",
    "menu:keleshek",
    "menu:deadlines",
    "menu:ask",
]

numbers = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["0", "140", "141", "300", "-1", "1e9", "٣٠٠", "12,5", "1 000 000", "½"]),
)
texts = st.one_of(
    st.text(max_size=40),
    st.text(min_size=990, max_size=1100),
    numbers,
    st.sampled_from(["/start", "/menu", "/cancel", "/forget", "/broadcast", "/calendar", "/x"]),
    st.builds(lambda a, b: f"{a} {b}", st.sampled_from(["ҰБТ", "грант", "UNT", "Serpin"]), numbers),
)
payloads = st.one_of(
    st.text(max_size=64),
    st.builds(
        lambda prefix, rest: f"{prefix}:{rest}",
        st.sampled_from(PREFIXES.split()),
        st.text(alphabet=st.characters(codec="ascii"), max_size=24),
    ),
)
inputs = st.one_of(
    texts.map(lambda text: ("text", text)), payloads.map(lambda data: ("press", data))
)


def known_states() -> set[str]:
    found: set[str] = set()
    groups: list[type[StatesGroup]] = list(StatesGroup.__subclasses__())
    while groups:
        group = groups.pop()
        groups.extend(group.__subclasses__())
        found.update(group.__all_states_names__)
    return found


@given(text=st.text(max_size=300))
@settings(max_examples=400, deadline=None)
def test_the_router_answers_any_text_with_a_known_topic(text: str) -> None:
    route = KNOWLEDGE.router.route(text, default_lang="kk")
    assert route.topic in TOPICS or route.topic == "out_of_scope"
    assert route.lang in ("kk", "ru", "en")
    assert 0.0 <= route.confidence <= 1.0


KNOWLEDGE = Knowledge()


@pytest.fixture
async def app(make_settings: Callable[..., Settings]) -> AsyncIterator[TalapkerApp]:
    application = await TalapkerApp.create(make_settings())
    yield application
    await application.close()


USER_IDS = itertools.count(30_000)


@given(start=st.sampled_from(WIZARD_STARTS), steps=st.lists(inputs, min_size=1, max_size=6))
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
async def test_random_input_in_any_wizard_never_breaks_the_conversation(
    stub: StubBotAPI, app: TalapkerApp, start: str | None, steps: list[tuple[str, str]]
) -> None:
    user_id = next(USER_IDS)
    dispatcher, bot = app.dispatcher, app.bot

    async def feed(update: dict[str, Any]) -> None:
        # As polling does: a reply a handler returns (for a webhook response) is sent.
        reply = await dispatcher.feed_raw_update(bot, update)
        if isinstance(reply, TelegramMethod):
            await bot(reply)

    await feed(stub.message_update(user_id, "/menu", language_code="kk"))
    if start is not None:
        if start.startswith("/"):
            await feed(stub.message_update(user_id, start))
        else:
            await feed(
                stub.callback_update(user_id, start, stub.message_with_button(user_id, start))
            )
    for kind, value in steps:
        if kind == "text":
            await feed(stub.message_update(user_id, value))
        else:
            # A real button if one carries this payload, else a forged press.
            await feed(
                stub.callback_update(user_id, value, stub.message_with_button(user_id, value))
            )

    replies = stub.texts_to(user_id)
    assert not any(apology in reply.lower() for reply in replies for apology in APOLOGIES)
    errors = app.metrics.errors.collect()[0].samples
    assert all(sample.value == 0 for sample in errors)
    # Every text got an answer; every press got its spinner stopped.
    texts_sent = 1 + sum(kind == "text" for kind, _ in steps) + (start or "").startswith("/")
    assert len(replies) >= texts_sent
    context = dispatcher.fsm.get_context(bot, chat_id=user_id, user_id=user_id)
    state = await context.get_state()
    assert state is None or state in known_states()
    assert isinstance(await context.get_data(), dict)

    # And the conversation still works: /menu always answers with the menu.
    before = len(replies)
    await feed(stub.message_update(user_id, "/cancel"))
    await feed(stub.message_update(user_id, "/menu"))
    assert len(stub.texts_to(user_id)) >= before + 2
    assert await context.get_state() is None
    async with app.database.session() as session:
        user = (await session.exec(sa.select(User).where(User.id == user_id))).scalar_one()
    assert user.language in (None, "kk", "ru", "en")
    assert user.role in (None, "applicant", "parent")  # a forged "role:staff" is refused
