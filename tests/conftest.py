"""Shared fixtures. The suite runs on a SQLite file by default; with TEST_DATABASE_URL set to
a PostgreSQL URL every database test runs on PostgreSQL instead (CI runs both)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import TalapkerApp
from bot.config import Settings, load_settings
from knowledge.base import DEFAULT_DATA_DIR
from storage.db import Database
from storage.models import User
from tests.botapi_stub import StubBotAPI

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may read the developer's .env or real settings."""
    for name in list(os.environ):
        if name in Settings.model_fields or name.upper() in {
            f.upper() for f in Settings.model_fields
        }:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


async def _reset_postgres(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        await connection.execute(sa.text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture
async def database_url(tmp_path: Path) -> str:
    if TEST_DATABASE_URL:
        url = load_settings(database_url=TEST_DATABASE_URL).database_url
        await _reset_postgres(url)
        return url
    return f"sqlite+aiosqlite:///{tmp_path / 'talapker-test.db'}"


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await db.upgrade()
    yield db
    await db.dispose()


@pytest.fixture
async def stub() -> AsyncIterator[StubBotAPI]:
    server = StubBotAPI()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def make_settings(database_url: str, stub: StubBotAPI) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "bot_token": stub.token,
            "bot_api_url": stub.base_url,
            "database_url": database_url,
            # A test types far faster than a person; the flood limit has tests of its own.
            "throttle_burst": 10_000,
        } | overrides
        return load_settings(**values)

    return make


async def eventually(
    read: Callable[[], Awaitable[Any]], check: Callable[[Any], bool], timeout: float = 5.0
) -> Any:
    """`read()` until `check` holds: replies go out before the update's transaction commits."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await read()
        if check(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never true; last value {value!r}")
        await asyncio.sleep(0.02)


class RunningBot:
    """A TalapkerApp polling the stub server in a background task."""

    def __init__(self, app: TalapkerApp, task: asyncio.Task[None], stub: StubBotAPI) -> None:
        self.app = app
        self.task = task
        self.stub = stub

    async def user(self, user_id: int) -> User | None:
        async with self.app.database.session() as session:
            return await session.get(User, user_id)

    async def user_when(
        self, user_id: int, check: Callable[[User], bool], timeout: float = 5.0
    ) -> User:
        """The user's row once `check` holds. A reply is sent before the update's transaction
        commits, so a test that has just read a reply waits here for the row to catch up."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            user = await self.user(user_id)
            if user is not None and check(user):
                return user
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"user {user_id} never matched; last seen {user!r}")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        with suppress(RuntimeError):
            await self.app.dispatcher.stop_polling()
        await self.stub.end_polls()  # the last long poll returns now, not at its timeout
        with suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, 10)
        await self.app.close()


@pytest.fixture
async def start_polling(
    make_settings: Callable[..., Settings], stub: StubBotAPI
) -> AsyncIterator[Callable[..., Awaitable[RunningBot]]]:
    running: list[RunningBot] = []

    async def start(**overrides: Any) -> RunningBot:
        app = await TalapkerApp.create(make_settings(**overrides))
        await app.start_background()  # like `talapker run`: sender and scheduler run too
        task = asyncio.create_task(app.run_polling(handle_signals=False))
        bot = RunningBot(app, task, stub)
        running.append(bot)
        return bot

    yield start
    for bot in running:
        if not bot.task.done():
            await bot.stop()


@pytest.fixture
async def polling_bot(start_polling: Callable[..., Awaitable[RunningBot]]) -> RunningBot:
    return await start_polling()


def pytest_report_header() -> str:
    if TEST_DATABASE_URL:
        return "database: PostgreSQL (TEST_DATABASE_URL)"
    return "database: SQLite files (set TEST_DATABASE_URL to run on PostgreSQL)"


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A copy of the shipped knowledge data that a test may edit, as staff would."""
    target = tmp_path / "data"
    shutil.copytree(DEFAULT_DATA_DIR, target)
    return target


def edit_data_file(path: Path, old: str, new: str) -> None:
    """Replace the first `old` (which must be there) in a data file."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


SECRET = "s3cret-Token_123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def start_webhook_app(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Awaitable[TalapkerApp]]]:
    """Start the app serving its webhook on a free port, with `overrides` to its settings."""
    started: list[TalapkerApp] = []

    async def start(**overrides: Any) -> TalapkerApp:
        port = free_port()
        settings = make_settings(
            webhook_url=f"http://127.0.0.1:{port}/webhook",
            webhook_secret=SECRET,
            webhook_host="127.0.0.1",
            webhook_port=port,
            **overrides,
        )
        app = await TalapkerApp.create(settings)
        await app.start_webhook()
        started.append(app)
        return app

    yield start
    for app in started:
        await app.close()
