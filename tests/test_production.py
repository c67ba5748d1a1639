"""Production behaviour in one process: the flood limit, /forget, awkward update kinds,
/metrics and /healthz, logs without message text, retention of the unanswered log, and
/reload_kb reaching other processes."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

import bot.app
from bot.app import TalapkerApp
from bot.config import Settings
from delivery.outbox import Audience, enqueue
from observability.logs import JsonFormatter, UpdateIdFilter
from observability.metrics import health
from storage.db import Database
from storage.models import (
    FsmRecord,
    OutboxMessage,
    Subscription,
    UnansweredQuestion,
    User,
    utcnow,
)
from tests.botapi_stub import StubBotAPI
from tests.conftest import TEST_DATABASE_URL, RunningBot, edit_data_file, eventually
from tests.test_e2e_webhook import SECRET, free_port

SLOW_DOWN = "slow down"


async def test_a_flood_gets_one_slow_down_and_the_user_is_answered_again_later(
    stub: StubBotAPI, start_polling: Any
) -> None:
    await start_polling(throttle_burst=5, throttle_rate=2.0)
    for i in range(40):
        await stub.send_text(1501, f"what is the UNT threshold {i}", language_code="en")
    await stub.wait_for(lambda _: len(stub.texts_to(1501)) >= 6)
    await asyncio.sleep(1.0)  # anything still coming would arrive now
    replies = stub.texts_to(1501)
    warnings = [r for r in replies if SLOW_DOWN in r]
    assert len(warnings) == 1
    # Five answers (the burst) plus at most a refill's worth; not forty.
    assert 6 <= len(replies) <= 10
    other = await stub.send_text(1502, "what is the UNT threshold", language_code="en")
    assert other and "threshold" in (await stub.next_reply(1502))["text"].lower()

    await asyncio.sleep(1.0)  # the bucket refills at two a second
    before = len(stub.texts_to(1501))
    await stub.send_text(1501, "how long is the UNT")
    await stub.wait_for(lambda _: len(stub.texts_to(1501)) > before)
    assert "240 minutes" in stub.texts_to(1501)[-1]


async def test_flooding_buttons_stops_the_spinner_and_warns_once(
    stub: StubBotAPI, start_polling: Any
) -> None:
    await start_polling(throttle_burst=2, throttle_rate=0.5)
    await stub.send_text(1503, "/menu", language_code="ru")
    await stub.next_reply(1503)
    for _ in range(6):
        await stub.press(1503, "menu:help")
    await stub.wait_for(lambda calls: len(stub.calls_to("answerCallbackQuery")) >= 6)
    answers = [c.params.get("text") for c in stub.calls_to("answerCallbackQuery")]
    assert sum(1 for a in answers if a and "помедленнее" in a) == 1


async def onboard_and_subscribe(stub: StubBotAPI, user_id: int) -> None:
    await stub.send_text(user_id, "/start", language_code="en")
    await stub.next_reply(user_id)
    await stub.next_reply(user_id)
    await stub.press(user_id, "lang:en")
    await stub.next_reply(user_id)
    await stub.press(user_id, "role:applicant")
    await stub.next_reply(user_id)
    await stub.press(user_id, "region:turkistan")
    await stub.next_reply(user_id)


async def rows_for(database: Database, user_id: int) -> dict[str, int]:
    async with database.session() as session:

        async def count(model: Any, condition: Any) -> int:
            query = sa.select(sa.func.count()).select_from(model).where(condition)
            return int((await session.exec(query)).scalar_one())

        return {
            "users": await count(User, User.id == user_id),
            "subscriptions": await count(Subscription, Subscription.user_id == user_id),
            "outbox": await count(OutboxMessage, OutboxMessage.user_id == user_id),
            "fsm": await count(FsmRecord, FsmRecord.key.like(f"%:{user_id}:%")),  # type: ignore[attr-defined]
        }


async def test_forget_deletes_everything_about_the_user_after_confirmation(
    stub: StubBotAPI, polling_bot: RunningBot
) -> None:
    database = polling_bot.app.database
    for user_id in (1511, 1512):
        await onboard_and_subscribe(stub, user_id)  # both stop mid-wizard (settlement step)
        await polling_bot.user_when(user_id, lambda u: u.region == "turkistan")
    async with database.session() as session:
        for user_id in (1511, 1512):
            session.add(Subscription(user_id=user_id, event_type="grant_application", lead_days=1))
        await session.commit()
    # A broadcast scheduled for tomorrow: its outbox rows wait, unsent.
    await enqueue(
        database,
        kind="broadcast",
        texts={"*": "Later"},
        audience=Audience(),
        scheduled_for=utcnow() + timedelta(days=1),
    )
    before = await rows_for(database, 1511)
    assert before == {"users": 1, "subscriptions": 1, "outbox": 1, "fsm": 1}

    await stub.send_text(1511, "/forget")
    prompt = await stub.next_reply(1511)
    assert "deletes everything I store about you" in prompt["text"]
    await stub.press(1511, "forget:0")
    assert "Nothing deleted" in (await stub.next_reply(1511))["text"]
    assert await rows_for(database, 1511) == before

    await stub.send_text(1511, "/forget")
    await stub.next_reply(1511)
    await stub.press(1511, "forget:1")
    assert "I have deleted everything" in (await stub.next_reply(1511))["text"]
    gone = {"users": 0, "subscriptions": 0, "outbox": 0, "fsm": 0}
    assert await eventually(lambda: rows_for(database, 1511), lambda rows: rows == gone) == gone
    assert await rows_for(database, 1512) == before  # nobody else's data

    # Writing again starts from a clean profile, in the app's language.
    await stub.send_text(1511, "/menu")
    await stub.next_reply(1511)
    user = await polling_bot.user_when(1511, lambda u: True)
    assert (user.role, user.region, user.language, user.onboarded) == (None, None, None, False)


def edited_update(stub: StubBotAPI, user_id: int, text: str, chat_type: str) -> dict[str, Any]:
    update = stub.message_update(user_id, text, chat_type=chat_type)
    update["edited_message"] = update.pop("message") | {"edit_date": 1}
    return update


async def test_edits_channel_posts_media_and_blocks_are_handled_quietly(
    stub: StubBotAPI, polling_bot: RunningBot
) -> None:
    await stub.send_text(1521, "/menu", language_code="ru")
    await stub.next_reply(1521)

    await stub.push(edited_update(stub, 1521, "сколько баллов нужно", "private"))
    assert "отредактированные" in (await stub.next_reply(1521))["text"]

    await stub.push(edited_update(stub, -100777, "hello group", "supergroup"))
    await stub.push(
        {
            "channel_post": {
                "message_id": 5,
                "date": 1,
                "chat": {"id": -100888, "type": "channel", "title": "News"},
                "text": "/start",
            }
        }
    )
    await stub.push(stub.message_update(1521, None, sticker=sticker()))
    assert "только текст" in (await stub.next_reply(1521))["text"]
    for status in ("kicked", "member"):
        await stub.push(
            {
                "my_chat_member": {
                    "chat": {"id": 1521, "type": "private"},
                    "from": stub.user(1521),
                    "date": 1,
                    "old_chat_member": {"status": "member", "user": bot_user()},
                    "new_chat_member": {"status": status, "user": bot_user()}
                    | ({"until_date": 0} if status == "kicked" else {}),
                }
            }
        )
        active = status == "member"
        await polling_bot.user_when(1521, lambda u, active=active: u.is_active is active)
    await stub.send_text(1521, "/help")
    assert "/forget" in (await stub.next_reply(1521))["text"]
    # Nothing reached the group or the channel, and nothing failed.
    assert not stub.texts_to(-100777) and not stub.texts_to(-100888)
    assert not any("что-то пошло не так" in text for text in stub.texts_to(1521))


def sticker() -> dict[str, Any]:
    return {
        "file_id": "CAAC",
        "file_unique_id": "u1",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }


def bot_user() -> dict[str, Any]:
    return {"id": 42, "is_bot": True, "first_name": "Talapker"}


@pytest.fixture
async def web_worker(make_settings: Callable[..., Settings]) -> AsyncIterator[TalapkerApp]:
    port = free_port()
    app = await TalapkerApp.create(
        make_settings(
            webhook_url=f"http://127.0.0.1:{port}/webhook",
            webhook_secret=SECRET,
            webhook_host="127.0.0.1",
            webhook_port=port,
        )
    )
    await app.start_webhook()
    yield app
    await app.close()


async def fetch(app: TalapkerApp, path: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{app.settings.webhook_port}{path}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


def sample(exposition: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (labels in any order)."""
    for line in exposition.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        metric, _, label_text = series.partition("{")
        found = dict(
            pair.split("=", 1) for pair in label_text.rstrip("}").split(",") if "=" in pair
        )
        if metric == name and {k: v.strip('"') for k, v in found.items()} == labels:
            return float(value)
    raise AssertionError(f"{name} {labels} not in /metrics")


async def test_metrics_count_updates_by_handler_and_read_the_outbox(
    stub: StubBotAPI, web_worker: TalapkerApp
) -> None:
    for i in range(3):
        await stub.deliver_webhook(stub.message_update(1531 + i, "how long is the UNT"))
    await stub.deliver_webhook(stub.message_update(1531, "qwxz zzkq", language_code="en"))
    await enqueue(
        web_worker.database,
        kind="broadcast",
        texts={"*": "Hello"},
        audience=Audience(),
        scheduled_for=utcnow() + timedelta(days=1),
    )
    status, text = await fetch(web_worker, "/metrics")
    assert status == 200
    assert sample(text, "talapker_updates_total", type="message", handler="questions.question") == 4
    assert sample(text, "talapker_update_seconds_count", type="message") == 4
    assert sample(text, "talapker_outbox_messages", status="pending") == 3
    assert sample(text, "talapker_unanswered_questions") == 1
    assert sample(text, "talapker_reminders_fired_total") == 0


async def test_healthz_reports_the_database_and_migrations(
    web_worker: TalapkerApp, database_url: str
) -> None:
    status, body = await fetch(web_worker, "/healthz")
    assert status == 200
    assert json.loads(body) == {"database": "ok", "migrations": "current", "status": "ok"}

    behind = Database(database_url)
    async with behind.engine.begin() as connection:
        await connection.execute(sa.text("UPDATE alembic_version SET version_num = '0006'"))
    healthy, report = await health(behind)
    assert not healthy and report["migrations"].startswith("at 0006")
    async with behind.engine.begin() as connection:
        await connection.execute(
            sa.text("UPDATE alembic_version SET version_num = :v"), {"v": Database.head_revision()}
        )
    await behind.dispose()

    nowhere = Database("postgresql+asyncpg://nobody@127.0.0.1:9/none")
    healthy, report = await health(nowhere)
    assert not healthy and report["database"].startswith("unreachable")
    await nowhere.dispose()


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(UpdateIdFilter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(JsonFormatter().format(record))


async def test_info_logs_carry_update_ids_and_never_what_people_wrote(
    stub: StubBotAPI, web_worker: TalapkerApp
) -> None:
    collect = Collect()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(collect)
    root.setLevel(logging.INFO)
    try:
        secret = "Aigerim Nurlanovna 8 777 123 45 67 wants a grant"
        update = stub.message_update(1541, secret, language_code="en")
        await stub.deliver_webhook(update)
        # A button press is logged the same way.
        await stub.deliver_webhook(stub.callback_update(1541, "forget:1"))
    finally:
        root.removeHandler(collect)
        root.setLevel(old_level)
    assert collect.lines, "nothing was logged at INFO"
    entries = [json.loads(line) for line in collect.lines]
    assert all(secret not in line and "Aigerim" not in line for line in collect.lines)
    assert any(entry.get("update_id") == update["update_id"] for entry in entries)


async def test_unanswered_questions_are_deleted_after_the_retention_period(
    polling_bot: RunningBot,
) -> None:
    database = polling_bot.app.database
    async with database.session() as session:
        for age_days in (1, 89, 91, 400):
            session.add(
                UnansweredQuestion(
                    text=f"old {age_days}",
                    lang="en",
                    topic_guess="other",
                    confidence=0.1,
                    created_at=utcnow() - timedelta(days=age_days),
                )
            )
        await session.commit()
    assert await polling_bot.app.reminders.purge_unanswered() == 2
    async with database.session() as session:
        kept = (await session.exec(sa.select(UnansweredQuestion.text))).scalars().all()
    assert sorted(kept) == ["old 1", "old 89"]


async def test_reload_kb_on_one_process_reaches_the_others(
    stub: StubBotAPI,
    start_polling: Any,
    make_settings: Callable[..., Settings],
    data_copy: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bot.app, "KNOWLEDGE_SYNC_SECONDS", 0.1)
    await start_polling(admin_ids="900", knowledge_dir=str(data_copy))
    other = await TalapkerApp.create(make_settings(knowledge_dir=str(data_copy)))
    other.start_knowledge_sync()
    try:
        edit_data_file(
            data_copy / "unt.yaml",
            "duration_minutes: {value: 240,",
            "duration_minutes: {value: 245,",
        )
        await stub.send_text(900, "/reload_kb", language_code="en")
        assert "Knowledge base reloaded" in (await stub.next_reply(900))["text"]

        def minutes() -> int:
            return other.knowledge.kb.unt.duration_minutes.value

        async def read() -> int:
            return minutes()

        assert await eventually(read, lambda value: value == 245) == 245
    finally:
        await other.close()


@pytest.fixture
async def redis_url(tmp_path: Path) -> AsyncIterator[str]:
    """A real Redis server (Debian's redis-server, which CI installs) on a free port."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (CI installs it)")
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(tmp_path),
        stdout=asyncio.subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.05)
    yield url
    process.terminate()
    await process.wait()


async def test_with_redis_url_the_wizard_state_lives_in_redis(
    stub: StubBotAPI, start_polling: Any, redis_url: str
) -> None:
    first = await start_polling(redis_url=redis_url)
    await stub.send_text(1551, "/start", language_code="en")
    await stub.next_reply(1551)
    await stub.next_reply(1551)
    await stub.press(1551, "lang:kk")
    await stub.next_reply(1551)
    await first.user_when(1551, lambda u: u.language == "kk")
    await first.stop()

    # Another process (here: a restart) continues the wizard from Redis.
    second = await start_polling(redis_url=redis_url)
    await stub.press(1551, "role:parent")
    assert "өңір" in (await stub.next_reply(1551))["text"].lower()
    await second.user_when(1551, lambda u: u.role == "parent")
    async with second.app.database.session() as session:
        records = (
            await session.exec(sa.select(sa.func.count()).select_from(FsmRecord))
        ).scalar_one()
    assert records == 0


async def test_with_redis_url_two_web_workers_share_one_flood_limit(
    stub: StubBotAPI, start_webhook_app: Any, redis_url: str
) -> None:
    # A load balancer spreads a user's updates over the workers; per-process buckets would let
    # each worker's burst through, so about twice as many answers.
    burst = 4
    workers = [
        await start_webhook_app(redis_url=redis_url, throttle_burst=burst, throttle_rate=0.01)
        for _ in range(2)
    ]
    for i in range(12):
        worker = workers[i % 2]
        update = stub.message_update(1571, f"what is the UNT threshold {i}", language_code="en")
        assert await stub.deliver_webhook(update, url=worker.settings.webhook_url) == 200
    replies = stub.texts_to(1571)
    assert sum(SLOW_DOWN in reply for reply in replies) == 1
    assert len(replies) == burst + 1


async def test_control_characters_are_dropped_before_anything_is_stored(
    stub: StubBotAPI, polling_bot: RunningBot
) -> None:
    # PostgreSQL refuses NUL in text; the hypothesis suite found this one.
    await stub.send_text(1561, "qq\x00zz\x1b unknown\x00", language_code="en")
    await stub.send_text(1561, "how long is\x00 the UNT")
    replies = [(await stub.next_reply(1561))["text"] for _ in range(2)]  # declined, answered
    assert not any("went wrong" in reply for reply in replies)
    assert "240 minutes" in replies[-1]
    database = polling_bot.app.database

    async def logged() -> list[str]:
        async with database.session() as session:
            return list((await session.exec(sa.select(UnansweredQuestion.text))).scalars())

    assert await eventually(logged, lambda texts: texts == ["qqzz unknown"])


def test_no_filter_or_handler_is_sent_to_a_thread() -> None:
    """aiogram runs a synchronous filter or handler through `asyncio.to_thread` on every update
    that reaches it; that hop cost a fifth of the CPU per update (bench/load.py). A bare `F...`
    or `State` filter added later would bring it back quietly, so this walks every router."""
    from aiogram import Router

    from handlers import build_root_router

    offenders: list[str] = []

    def walk(router: Router) -> None:
        for name, observer in router.observers.items():
            where = f"{router.name}.{name}"
            offenders.extend(
                f"{where}: {handler.callback.__name__}"
                for handler in observer.handlers
                if not handler.awaitable
            )
            for handler in (observer._handler, *observer.handlers):
                offenders.extend(
                    f"{where}: filter {event_filter.callback!r}"
                    for event_filter in handler.filters or ()
                    if not event_filter.awaitable
                )
        for child in router.sub_routers:
            walk(child)

    walk(build_root_router())
    assert offenders == []


async def test_the_command_or_step_gate_skips_only_what_no_handler_behind_it_takes() -> None:
    """Ordinary questions skip the routers of commands and wizard steps in one check; a
    handler for plain text added behind the gate later opens it rather than being skipped."""
    from aiogram import Router
    from aiogram.filters import Command, StateFilter
    from aiogram.types import Chat, Message
    from aiogram.types import User as TelegramUser

    from handlers.filters import TEXT, CommandOrStep
    from handlers.unt_check import UntCheck

    async def handler(_message: Message) -> None: ...

    def message(text: str) -> Message:
        return Message(
            message_id=1,
            date=datetime.now(UTC),
            chat=Chat(id=1, type="private"),
            from_user=TelegramUser(id=1, is_bot=False, first_name="A"),
            text=text,
        )

    router = Router()
    router.message.register(handler, Command("unt"))
    router.message.register(handler, StateFilter(UntCheck.scores), TEXT)
    gate = CommandOrStep(router)
    assert not await gate(message("сколько баллов нужно на грант"), raw_state=None)
    assert await gate(message("/unt"), raw_state=None)
    assert await gate(message("120"), raw_state=UntCheck.scores.state)
    assert not await gate(message("120"), raw_state="KeleshekWizard:rate")

    later = Router()
    later.message.register(handler, TEXT)
    router.include_router(later)
    assert await CommandOrStep(router)(message("сколько баллов нужно на грант"), raw_state=None)


async def test_a_flood_is_refused_in_the_language_the_user_chose(
    stub: StubBotAPI, start_polling: Any
) -> None:
    """The refusal comes before the database is touched, yet it speaks the language picked
    in the bot (Kazakh), not the one the Telegram app reports (English)."""
    bot = await start_polling(throttle_burst=2, throttle_rate=0.1)
    await stub.send_text(1505, "/start", language_code="en")
    await stub.next_reply(1505)
    await stub.next_reply(1505)
    await stub.press(1505, "lang:kk")  # the second update of the burst
    await stub.next_reply(1505)
    await bot.user_when(1505, lambda u: u.language == "kk")  # that update is complete
    for _ in range(5):
        await stub.send_text(1505, "what is the UNT threshold", language_code="en")
    await stub.wait_for(lambda _: any("баяуырақ" in text for text in stub.texts_to(1505)))
    await asyncio.sleep(0.5)  # anything still coming would arrive now
    refusals = [text for text in stub.texts_to(1505) if "баяуырақ" in text]
    assert len(refusals) == 1
    assert not any("threshold" in text.lower() for text in stub.texts_to(1505))


LAZY_TYPES_CHECK = """
import inspect
import json
import pydantic
import bot  # noqa: F401  (imports aiogram the way every Talapker process does)
from aiogram import methods, types

models = [
    model
    for package in (types, methods)
    for model in (getattr(package, name) for name in package.__all__)
    if inspect.isclass(model) and issubclass(model, pydantic.BaseModel)
    and not inspect.isabstract(model)
]
built_at_import = [
    m.__name__ for m in models if m.__pydantic_complete__ and m.__module__.startswith("aiogram.types.")
]
failed = []
for model in models:
    try:
        model.model_rebuild(force=True)
    except Exception as error:
        failed.append(f"{model.__name__}: {error}")
print(json.dumps({"models": len(models), "built_at_import": built_at_import, "failed": failed}))
"""


def test_every_telegram_type_still_builds_when_aiogram_is_imported_lean() -> None:
    """Talapker imports aiogram without building its Telegram types (bot/telegram_types.py);
    each is built when an update or reply of its kind first arrives. Every one of them must
    build then, or a user's update of a kind the other tests never send would be lost."""
    result = subprocess.run(
        [sys.executable, "-c", LAZY_TYPES_CHECK], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["models"] > 400
    assert report["built_at_import"] == []  # the import itself built no Telegram type
    assert report["failed"] == []


@pytest.mark.skipif(
    not TEST_DATABASE_URL, reason="several web workers need PostgreSQL (CI's second pass)"
)
async def test_two_web_workers_never_lose_or_repeat_a_step_under_interleaved_updates(
    stub: StubBotAPI, start_webhook_app: Any
) -> None:
    """Each of several applicants types the five UNT parts one by one, all at once and spread
    over two workers, so a user's updates race each other on two workers: every part must be
    counted exactly once (a lost update would leave the wizard waiting, a repeated one would
    count a part twice)."""
    workers = [await start_webhook_app() for _ in range(2)]
    users = list(range(1581, 1587))
    parts = ["3", "4", "5", "6", "7"]  # each valid for any of the five parts, whatever the order

    async def post(worker: TalapkerApp, update: dict[str, Any]) -> None:
        assert await stub.deliver_webhook(update, url=worker.settings.webhook_url) == 200

    async def press(worker: TalapkerApp, user: int, data: str) -> None:
        await post(worker, stub.callback_update(user, data, stub.message_with_button(user, data)))

    for user in users:
        await post(workers[0], stub.message_update(user, "/menu", language_code="en"))
        await press(workers[1], user, "menu:unt")
        await press(workers[0], user, "pair:biology+chemistry")
        await press(workers[1], user, "unt:one_by_one")
    before = {user: len(stub.texts_to(user)) for user in users}
    await asyncio.gather(
        *(
            post(workers[i % 2], stub.message_update(user, part))
            for user in users
            for i, part in enumerate(parts)
        )
    )
    for user in users:
        replies = stub.texts_to(user)[before[user] :]
        assert len(replies) == len(parts), replies  # four part prompts, then the target prompt
        assert "Where are you applying?" in replies[-1]
        await press(workers[user % 2], user, "target:field:healthcare")
        assert "Total: <b>25</b>" in stub.texts_to(user)[-1]
