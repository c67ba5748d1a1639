"""Database engine, sessions and migrations (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.conversation import ConversationPool

try:
    import fcntl
except ImportError:  # Windows: SQLite migrations are then not guarded across processes
    fcntl = None  # type: ignore[assignment]

# Set in a session's info once it has run a statement on a connection.
USED_CONNECTION = "talapker_used_connection"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same for every process of one installation.
MIGRATION_LOCK_ID = 0x7A1A9CE2

# The session of the update being handled (set by DbSessionMiddleware). Code that cannot be
# handed the session, such as aiogram's FSM storage, joins it through `Database.use_session`,
# so that one update is one transaction: a profile change and the wizard step it completes are
# committed together or not at all (and SQLite never sees two writers from one update).
current_session: ContextVar[AsyncSession | None] = ContextVar("current_session", default=None)


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the console chat, a bot process and the CLI share one file; the timeout
    # makes a writer wait for a lock instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Database:
    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"echo": echo}
        if not url.startswith("sqlite"):
            # No pre-ping: it is a round trip per update (a tenth of a web worker's CPU in
            # bench/load.py). A connection found dead on use is discarded with the pool;
            # the update it served gets the apology, and the next one a fresh connection.
            kwargs |= {"pool_size": pool_size, "max_overflow": pool_size}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            sa.event.listen(self.engine.sync_engine, "connect", _enable_sqlite_pragmas)
        self.session_maker = async_sessionmaker(
            self.engine,
            class_=AsyncSession,
            sync_session_class=TrackedSession,
            expire_on_commit=False,
        )
        # PostgreSQL: the updates' own transactions (storage/conversation.py).
        self.conversations: ConversationPool | None = None
        if not self.is_sqlite:
            dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
            self.conversations = ConversationPool(dsn, max_size=2 * pool_size)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def session(self) -> AsyncSession:
        return self.session_maker()

    @asynccontextmanager
    async def use_session(self) -> AsyncIterator[AsyncSession]:
        """The current update's session if there is one (its owner commits), else a new
        session committed on success."""
        session = current_session.get()
        if session is not None:
            yield session
            return
        async with self.session_maker() as session:
            yield session
            await session.commit()

    async def upgrade(self) -> None:
        """Apply pending migrations. Several processes may call this at once (web workers
        starting together, or the console chat beside a running bot): a lock lets one
        migrate while the others wait, then find nothing to do. PostgreSQL has advisory
        locks; SQLite runs DDL outside transactions, so a lock file stands in."""
        async with self._migration_lock(), self.engine.connect() as connection:
            await connection.run_sync(_upgrade_to_head)
            await connection.commit()

    @asynccontextmanager
    async def _migration_lock(self) -> AsyncIterator[None]:
        if self.is_sqlite:
            path = make_url(self.url).database
            if not path or path == ":memory:" or fcntl is None:
                yield
                return
            with open(f"{path}.migrate-lock", "w") as lock_file:  # noqa: ASYNC230 (tiny local file)
                # flock blocks, so wait for it in a thread and keep the event loop free.
                await asyncio.to_thread(fcntl.flock, lock_file.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
            return
        async with self.engine.connect() as connection:
            await connection.execute(sa.text(f"SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))
            try:
                yield
            finally:
                await connection.execute(sa.text(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"))

    async def current_revision(self) -> str | None:
        async with self.engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )

    @staticmethod
    @cache  # the migration files ship with the code; /healthz asks every few seconds
    def head_revision() -> str | None:
        return ScriptDirectory.from_config(alembic_config()).get_current_head()

    async def ping(self) -> bool:
        async with self.engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
        return True

    async def dispose(self) -> None:
        if self.conversations is not None:
            await self.conversations.close()
        await self.engine.dispose()


class TrackedSession(Session):
    """SQLModel's session, noting in its info when it first runs a statement."""


@sa.event.listens_for(TrackedSession, "after_begin")
def _note_connection_used(session: Session, _transaction: Any, _connection: Any) -> None:
    session.info[USED_CONNECTION] = True


def used_connection(session: AsyncSession) -> bool:
    """Whether the session ran any statement (and so may have written something)."""
    return bool(session.info.get(USED_CONNECTION))


def _upgrade_to_head(sync_connection: sa.Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = sync_connection
    command.upgrade(config, "head")
