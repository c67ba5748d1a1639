"""Storage on the configured database (SQLite file, or PostgreSQL with TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from aiogram.fsm.storage.base import StorageKey
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from handlers.onboarding import Onboarding
from storage.db import Database
from storage.fsm_storage import SQLModelStorage
from storage.models import User

KEY = StorageKey(bot_id=1, chat_id=10, user_id=10)


async def test_state_and_data_survive_a_new_process(database_url: str, database: Database) -> None:
    storage = SQLModelStorage(database)
    await storage.set_state(KEY, Onboarding.region)
    await storage.set_data(KEY, {"scores": [18, 8, 7, 42, 39], "pair": "math-informatics"})
    await storage.update_data(KEY, {"step": 3})

    # A new Database object is what a restarted bot process gets.
    restarted = Database(database_url)
    try:
        again = SQLModelStorage(restarted)
        assert await again.get_state(KEY) == "Onboarding:region"
        assert await again.get_data(KEY) == {
            "scores": [18, 8, 7, 42, 39],
            "pair": "math-informatics",
            "step": 3,
        }
    finally:
        await restarted.dispose()


async def test_keys_are_isolated_and_clearing_keeps_other_conversations(database: Database) -> None:
    storage = SQLModelStorage(database)
    other = StorageKey(bot_id=1, chat_id=11, user_id=11)
    await storage.set_state(KEY, "A:x")
    await storage.set_state(other, "B:y")
    await storage.set_state(KEY, None)
    await storage.set_data(KEY, {})
    assert await storage.get_state(KEY) is None
    assert await storage.get_data(KEY) == {}
    assert await storage.get_state(other) == "B:y"
    assert await storage.get_state(StorageKey(bot_id=1, chat_id=12, user_id=12)) is None


async def test_concurrent_first_writes_to_one_key_do_not_fail(database: Database) -> None:
    storage = SQLModelStorage(database)
    key = StorageKey(bot_id=1, chat_id=99, user_id=99)
    await asyncio.gather(*(storage.set_state(key, f"S:{i}") for i in range(10)))
    assert (await storage.get_state(key) or "").startswith("S:")


async def test_datetimes_come_back_aware_in_utc(database: Database) -> None:
    moment = datetime(2026, 7, 13, 4, 0, tzinfo=UTC)
    async with database.session() as session:
        session.add(User(id=5, created_at=moment, last_seen_at=moment))
        await session.commit()
    async with database.session() as session:
        user = await session.get(User, 5)
        assert user is not None
        assert user.created_at == moment
        assert user.created_at.tzinfo is not None


async def test_naive_datetimes_are_refused(database: Database) -> None:
    async with database.session() as session:
        session.add(User(id=6, created_at=datetime(2026, 1, 1)))
        with pytest.raises(Exception, match="naive datetime"):
            await session.commit()


async def test_migrations_match_the_models_and_upgrade_is_idempotent(database: Database) -> None:
    await database.upgrade()  # a second time: nothing to do, no error
    assert await database.current_revision() == Database.head_revision()

    def diff(sync_connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)

    async with database.engine.connect() as connection:
        assert await connection.run_sync(diff) == [], (
            "storage/models.py changed without a migration"
        )


async def test_concurrent_upgrades_from_several_processes(database_url: str) -> None:
    """Several web workers start at once and each applies migrations."""
    databases = [Database(database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(db.upgrade() for db in databases))
        assert await databases[0].current_revision() == Database.head_revision()
    finally:
        for db in databases:
            await db.dispose()


async def test_a_second_update_of_one_sender_waits_and_reads_what_the_first_committed(
    database: Database,
) -> None:
    """On PostgreSQL one function call takes the sender's lock and then reads the user row and
    conversation record. The reads must come after the lock is granted, from a fresh snapshot:
    a worker that waited must see the wizard step the other worker just committed."""
    if database.is_sqlite:
        pytest.skip("advisory locks and the open_conversation function are PostgreSQL's")
    import sqlalchemy as sa

    opened = sa.text(
        "SELECT (opened.u).language, opened.state FROM "
        "talapker_open_conversation(31337, 7, 4242, 'key-4242') AS opened"
    )
    async with database.engine.connect() as first, database.engine.connect() as second:
        await first.begin()
        assert (await first.execute(opened)).one() == (None, None)  # nobody, no record yet
        await first.execute(
            sa.text(
                "INSERT INTO users (id, language, onboarded, staff_granted,"
                " is_active, created_at, last_seen_at) VALUES (4242, 'kk',"
                " true, false, true, now(), now())"
            )
        )
        await first.execute(
            sa.text(
                "INSERT INTO fsm_records (key, state, data, updated_at)"
                " VALUES ('key-4242', 'UntCheck:scores', '{}', now())"
            )
        )
        await second.begin()
        waiting = asyncio.create_task(second.execute(opened))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # the second update waits for the first one's lock
        await first.commit()
        assert (await asyncio.wait_for(waiting, 10)).one() == ("kk", "UntCheck:scores")
        await second.rollback()
