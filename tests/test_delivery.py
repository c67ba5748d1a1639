"""The delivery engine against a misbehaving stand-in Bot API: every recipient who has not
blocked the bot gets exactly one message; crashes duplicate at most the sends in flight."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.app import create_bot
from bot.config import load_settings
from delivery.outbox import Audience, DeliveryWorker, campaign_stats, enqueue
from storage.db import Database
from storage.models import OutboxMessage, OutboxStatus, User
from tests.botapi_stub import StubBotAPI

TALAPKER = str(Path(sys.executable).with_name("talapker"))


async def add_users(
    database: Database, count: int, first: int = 20_000, **fields: object
) -> list[int]:
    ids = list(range(first, first + count))
    async with database.session() as session:
        for user_id in ids:
            session.add(User(id=user_id, language=("kk", "ru", "en")[user_id % 3], **fields))
        await session.commit()
    return ids


async def drain(stub: StubBotAPI, database: Database, **worker: object) -> None:
    bot = create_bot(load_settings(bot_token=stub.token, bot_api_url=stub.base_url))
    try:
        await DeliveryWorker(bot, database, **worker).run(asyncio.Event(), until_idle=True)  # type: ignore[arg-type]
    finally:
        await bot.session.close()


async def test_rate_limits_blocked_users_and_server_errors(
    stub: StubBotAPI, database: Database
) -> None:
    ids = await add_users(database, 300, role="applicant")
    blocked = {ids[5], ids[50], ids[250]}
    stub.blocked_chats = blocked
    stub.fail_next["sendmessage"] = 5  # five 500s along the way
    # The sender asks for three times the limit, so 429s come even on a busy machine.
    stub.rate_limit_per_second = 40
    campaign, created = await enqueue(
        database, kind="broadcast", texts={"*": "Hello", "kk": "Сәлем"}, audience=Audience()
    )
    assert created
    await drain(stub, database, rate=120, concurrency=4)

    delivered = Counter(stub.delivered())
    assert set(delivered) == set(ids) - blocked
    assert set(delivered.values()) == {1}  # exactly once each
    assert any(c.status == 429 for c in stub.calls) and any(c.status == 500 for c in stub.calls)
    kazakh = [
        c
        for c in stub.calls
        if c.method == "sendmessage" and c.status == 200 and c.params["chat_id"] % 3 == 0
    ]
    assert kazakh and all(c.params["text"] == "Сәлем" for c in kazakh)  # the user's language
    stats = await campaign_stats(database, campaign.id or 0)
    assert (stats.sent, stats.blocked, stats.failed, stats.pending) == (297, 3, 0, 0)
    async with database.session() as session:
        inactive = (
            (await session.exec(sa.select(User.id).where(User.is_active.is_(False))))
            .scalars()
            .all()
        )
    assert set(inactive) == blocked  # blocked users are skipped by later campaigns


async def test_bad_requests_are_not_retried_and_server_errors_are_bounded(
    stub: StubBotAPI, database: Database
) -> None:
    ids = await add_users(database, 6)
    stub.bad_request_chats = {ids[0]}
    stub.failing_chats = {ids[1]}
    campaign, _ = await enqueue(database, kind="broadcast", texts={"*": "x"}, audience=Audience())
    await drain(stub, database, rate=100, max_attempts=2)
    async with database.session() as session:
        rows = {
            r.user_id: r
            for r in (
                await session.exec(
                    sa.select(OutboxMessage).where(OutboxMessage.campaign_id == campaign.id)
                )
            ).scalars()
        }
    assert (rows[ids[0]].status, rows[ids[0]].attempts) == (OutboxStatus.FAILED, 1)
    assert "chat not found" in (rows[ids[0]].last_error or "")
    assert (rows[ids[1]].status, rows[ids[1]].attempts) == (OutboxStatus.FAILED, 2)
    assert sum(1 for c in stub.calls if c.params.get("chat_id") == ids[1]) == 2
    assert sorted(set(stub.delivered())) == ids[2:]


async def test_enqueueing_is_idempotent(stub: StubBotAPI, database: Database) -> None:
    await add_users(database, 10)
    first, created = await enqueue(
        database, kind="reminder", texts={"*": "x"}, audience=Audience(), dedupe_key="event:7d"
    )
    again, created_again = await enqueue(
        database, kind="reminder", texts={"*": "x"}, audience=Audience(), dedupe_key="event:7d"
    )
    assert created and not created_again and first.id == again.id
    async with database.session() as session:
        count = (
            await session.exec(sa.select(sa.func.count()).select_from(OutboxMessage))
        ).scalar_one()
    assert count == 10


async def test_audience_filters(stub: StubBotAPI, database: Database) -> None:
    await add_users(database, 6, first=1, role="applicant", region="turkistan", settlement="rural")
    await add_users(database, 4, first=100, role="parent", region="astana", settlement="city")
    campaign, _ = await enqueue(
        database, kind="broadcast", texts={"*": "x"}, audience=Audience(role="parent")
    )
    rural, _ = await enqueue(
        database,
        kind="broadcast",
        texts={"*": "x"},
        audience=Audience(settlement="rural", language="kk"),
    )
    async with database.session() as session:
        rows = (
            await session.exec(sa.select(OutboxMessage.campaign_id, OutboxMessage.user_id))
        ).all()
    assert sorted(u for c, u in rows if c == campaign.id) == [100, 101, 102, 103]
    assert sorted(u for c, u in rows if c == rural.id) == [3, 6]  # id % 3 == 0 speak kk


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
async def test_a_killed_sender_resumes_without_losing_or_repeating(
    stub: StubBotAPI, database: Database, database_url: str, signal_name: str
) -> None:
    """2,000 recipients; the sending process dies half-way; `outbox drain` finishes the job.
    kill -9 may repeat at most the sends in flight (DELIVERY_CONCURRENCY); SIGTERM none."""
    concurrency = 4
    ids = await add_users(database, 2000)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_", "DELIVERY_"))
    }
    env |= {
        "BOT_TOKEN": stub.token,
        "BOT_API_URL": stub.base_url,
        "DATABASE_URL": database_url,
        "DELIVERY_RATE": "400",
        "DELIVERY_CONCURRENCY": str(concurrency),
    }
    process = await asyncio.create_subprocess_exec(
        TALAPKER,
        "broadcast",
        "--text",
        "Results are out",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    await stub.wait_for(lambda calls: len(stub.delivered()) >= 800, timeout=60)
    process.send_signal(getattr(signal, signal_name))
    await process.wait()
    sent_before = len(stub.delivered())
    assert sent_before < 2000, "the sender finished before it could be stopped"

    resume = await asyncio.create_subprocess_exec(
        TALAPKER, "outbox", "drain", env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(resume.communicate(), 120)
    assert resume.returncode == 0, output.decode()

    delivered = Counter(stub.delivered())
    assert set(delivered) == set(ids)  # nobody lost
    duplicates = sum(delivered.values()) - len(ids)
    if signal_name == "SIGTERM":
        assert duplicates == 0
    else:
        assert duplicates <= concurrency
    async with database.session() as session:
        statuses = (await session.exec(sa.select(OutboxMessage.status).distinct())).scalars().all()
    assert statuses == [OutboxStatus.SENT]
