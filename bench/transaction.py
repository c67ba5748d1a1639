"""What one update's database transaction costs the web worker in CPU, by path.

    python bench/transaction.py [--transactions 2000] [--repeats 5] [--database-url URL]

Each path runs the transaction every update on PostgreSQL opens: BEGIN, migration 0008's
`talapker_open_conversation` (the sender's lock, user row and conversation state), COMMIT;
three round trips every time. Paths:

- `talapker`: the middleware's path on PostgreSQL since 2026-12-03: a connection of the
  conversation pool (storage/conversation.py), its transaction, the function's row picked into
  the user's columns, and the `User` object made from them.
- `orm session`: the path before: an SQLModel `AsyncSession` with a prebuilt ORM statement
  (the user comes back as a `User` object from SQLAlchemy's row loading).
- `core`: the same session, running `SELECT 1` instead: what the session machinery costs
  without the ORM's row loading.
- `asyncpg via pool`: a connection from SQLAlchemy's pool, then the driver directly.
- `asyncpg` (the baseline): one asyncpg connection, its own transaction, no SQLAlchemy.

Printed per path: the median over --repeats of this process's CPU time per transaction
(user + system: PostgreSQL's own work is in another process), and the ratio to the
baseline. Last line: talapker_vs_asyncpg=<x> orm_vs_asyncpg=<y>
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handlers.middlewares import (  # noqa: E402
    CONVERSATION_LOCK_CLASS,
    conversation_lock_key,
)
from storage.db import Database  # noqa: E402
from storage.models import FsmRecord, User  # noqa: E402

_USER_COLUMNS = list(User.__table__.columns)  # type: ignore[attr-defined]
ORM_OPEN = sa.select(User, FsmRecord.state, FsmRecord.data).from_statement(  # type: ignore[call-overload]
    sa.text(
        "SELECT "
        + ", ".join(f"(opened.u).{column.name}" for column in _USER_COLUMNS)
        + ", opened.state, opened.data FROM talapker_open_conversation("
        ":lock_class, :lock_key, :user_id, :key) AS opened"
    ).columns(*_USER_COLUMNS, FsmRecord.__table__.c.state, FsmRecord.__table__.c.data)  # type: ignore[attr-defined]
)

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:54329/talapker_bench"
OPEN = "SELECT * FROM talapker_open_conversation($1, $2, $3, $4)"
USER_ID = 1_000_001
FSM_KEY = f"bot:{USER_ID}:{USER_ID}"


async def cpu_per_transaction(
    transaction: Callable[[], Awaitable[None]], count: int, repeats: int
) -> float:
    """Median CPU microseconds per transaction over `repeats` rounds of `count`."""
    for _ in range(count // 10):  # warm: pool, prepared statements, caches
        await transaction()
    rounds = []
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(count):
            await transaction()
        rounds.append((time.process_time() - started) / count * 1e6)
    return statistics.median(rounds)


async def main(args: argparse.Namespace) -> None:
    database = Database(args.database_url)
    await database.upgrade()
    lock = {"lock_class": CONVERSATION_LOCK_CLASS, "lock_key": conversation_lock_key(USER_ID)}
    params = lock | {"user_id": USER_ID, "key": FSM_KEY}
    dsn = args.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(dsn)

    assert database.conversations is not None, "PostgreSQL only"
    conversations = database.conversations

    async def talapker() -> None:
        async with conversations.transaction() as transaction:
            await transaction.open(*lock.values(), USER_ID, FSM_KEY)

    async def orm_session() -> None:
        async with database.session() as session:
            (await session.exec(ORM_OPEN, params=params)).one()
            await session.commit()

    async def core() -> None:
        async with database.session() as session:
            await session.exec(sa.text("SELECT 1"))
            await session.commit()

    async def asyncpg_via_pool() -> None:
        async with database.engine.connect() as pooled:
            driver = (await pooled.get_raw_connection()).driver_connection
            async with driver.transaction():
                await driver.fetchrow(OPEN, *params.values())

    async def bare_asyncpg() -> None:
        async with connection.transaction():
            await connection.fetchrow(OPEN, *params.values())

    paths = {
        "asyncpg": bare_asyncpg,
        "talapker": talapker,
        "orm session": orm_session,
        "core": core,
        "asyncpg via pool": asyncpg_via_pool,
    }
    try:
        figures = {
            name: await cpu_per_transaction(path, args.transactions, args.repeats)
            for name, path in paths.items()
        }
    finally:
        await connection.close()
        await database.dispose()
    baseline = figures["asyncpg"]
    for name, micros in figures.items():
        print(f"{name:18s} {micros:7.0f} us CPU per transaction   x{micros / baseline:.2f}")
    print(
        f"talapker_vs_asyncpg={figures['talapker'] / baseline:.2f} "
        f"orm_vs_asyncpg={figures['orm session'] / baseline:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transactions", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    asyncio.run(main(parser.parse_args()))
