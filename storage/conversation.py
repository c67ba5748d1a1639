"""One update's conversation transaction on PostgreSQL, on a bare asyncpg connection.

Every update from a person opens a transaction that takes the sender's advisory lock and reads
the user row and the conversation record (migration 0008's function), and most updates write
nothing else but the record. Through an SQLAlchemy ORM session that transaction cost about four
times what the same statements cost on the driver (`bench/transaction.py`), a fifth of a web
worker's CPU per update. So the lock, the read and the record's write go over a connection of a
small asyncpg pool of their own, with statements prepared once per connection, and the ORM
session of the update is only used (on a connection of SQLAlchemy's pool) by handlers that need
more than that. `handlers.middlewares.DbSessionMiddleware` decides, at the end of an update,
which of the two transactions carries the record's write, so that a wizard step and the profile
change it makes are committed together.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.instrumentation import manager_of_class

from storage.models import User

# `(opened.u).*` follows the users table as migrations change it; the columns are picked by
# name below, so a column added later only needs to exist on the model too.
_OPEN = (
    "SELECT (opened.u).*, opened.state AS fsm_state, opened.data AS fsm_data"
    " FROM talapker_open_conversation($1, $2, $3, $4) AS opened"
)
_LOCK = "SELECT pg_advisory_xact_lock($1, $2)"
_READ_RECORD = "SELECT state, data FROM fsm_records WHERE key = $1"
_WRITE_RECORD = (
    "INSERT INTO fsm_records (key, state, data, updated_at) VALUES ($1, $2, $3, now())"
    " ON CONFLICT (key) DO UPDATE SET state = excluded.state, data = excluded.data,"
    " updated_at = excluded.updated_at"
)
_DELETE_RECORD = "DELETE FROM fsm_records WHERE key = $1"
_USER_COLUMNS: tuple[str, ...] = tuple(column.name for column in User.__table__.columns)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class OpenedConversation:
    """What the first round trip of an update read, after the sender's lock was granted."""

    user: User | None  # the sender's row, detached as if loaded; None for a newcomer
    state: str | None
    data: dict[str, Any] | None  # None: no record


class ConversationTransaction:
    """The update's transaction on its asyncpg connection (see the module's docstring)."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def lock(self, lock_class: int, lock_key: int) -> None:
        await self.connection.execute(_LOCK, lock_class, lock_key)

    async def open(
        self, lock_class: int, lock_key: int, user_id: int, record_key: str | None
    ) -> OpenedConversation:
        row = await self.connection.fetchrow(_OPEN, lock_class, lock_key, user_id, record_key)
        assert row is not None  # the function always returns its one row
        user = _as_loaded(row) if row["id"] is not None else None
        return OpenedConversation(user, row["fsm_state"], row["fsm_data"])

    async def read_record(self, key: str) -> tuple[str | None, dict[str, Any]] | None:
        row = await self.connection.fetchrow(_READ_RECORD, key)
        return None if row is None else (row["state"], dict(row["data"] or {}))

    async def write_record(self, key: str, state: str | None, data: Mapping[str, Any]) -> None:
        await self.connection.execute(_WRITE_RECORD, key, state, dict(data))

    async def delete_record(self, key: str) -> None:
        await self.connection.execute(_DELETE_RECORD, key)

    async def update_user(self, user_id: int, changes: Mapping[str, Any]) -> None:
        """Write changed columns of the sender's row (names from the model, never from input)."""
        columns: Sequence[str] = [name for name in changes if name in _USER_COLUMNS]
        assignments = ", ".join(f"{name} = ${index}" for index, name in enumerate(columns, 2))
        await self.connection.execute(
            f"UPDATE users SET {assignments} WHERE id = $1",
            user_id,
            *(changes[name] for name in columns),
        )


_USER_CLASS = manager_of_class(User)


def _as_loaded(row: asyncpg.Record) -> User:
    """The sender's `User` made as SQLAlchemy makes a loaded row (a new instance, its columns
    set, persistent-detached with no history): a seventh of the cost of `User(**columns)`,
    which runs SQLModel's and pydantic's constructors for every update."""
    user: User = _USER_CLASS.new_instance()
    user.__dict__.update((name, row[name]) for name in _USER_COLUMNS)
    make_transient_to_detached(user)
    return user


# The transaction of the update being handled (None outside one, and always on SQLite).
current_transaction: ContextVar[ConversationTransaction | None] = ContextVar(
    "current_transaction", default=None
)


async def _prepare_connection(connection: asyncpg.Connection) -> None:
    # json, not jsonb: the column type of fsm_records.data and the function's result.
    await connection.set_type_codec(
        "json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


async def _keep_session_state(_connection: asyncpg.Connection) -> None:
    """Nothing to reset on release: the pool's connections hold no session state (the
    advisory locks are transaction-level), and the default reset is a round trip each time."""


class ConversationPool:
    """The asyncpg pool of the update transactions (PostgreSQL only), opened on first use."""

    def __init__(self, dsn: str, max_size: int) -> None:
        self.dsn = dsn
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _open(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._opening:  # the first updates arrive together
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self.dsn,
                        min_size=1,
                        max_size=self.max_size,
                        init=_prepare_connection,
                        reset=_keep_session_state,
                    )
        return self._pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[ConversationTransaction]:
        pool = await self._open()
        async with pool.acquire() as connection, connection.transaction():
            opened = ConversationTransaction(connection)
            token = current_transaction.set(opened)
            try:
                yield opened
            finally:
                current_transaction.reset(token)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
