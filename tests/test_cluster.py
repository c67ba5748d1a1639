"""The production shape as real processes on PostgreSQL: two `--role web` workers behind no
balancer (the test posts to each in turn) and two `--role worker` processes, one leading,
one standing by. CI's PostgreSQL pass runs this; on SQLite the web role is refused, so it
is skipped there."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from delivery.outbox import Audience, enqueue
from storage.db import Database
from storage.models import CalendarEntry, Subscription, User
from tests.botapi_stub import StubBotAPI
from tests.conftest import TEST_DATABASE_URL
from tests.test_cli import TALAPKER, env_for
from tests.test_e2e_webhook import SECRET, free_port

pytestmark = pytest.mark.skipif(
    not TEST_DATABASE_URL, reason="several web workers need PostgreSQL (CI's second pass)"
)
SUBSCRIBER = 8801


@dataclass
class Worker:
    name: str
    port: int
    process: asyncio.subprocess.Process

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def get(self, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as http, http.get(self.base + path) as response:
            return response.status, await response.text()

    async def leads(self) -> bool:
        try:
            _, text = await self.get("/metrics")
        except aiohttp.ClientError:
            return False
        return "talapker_scheduler_leader 1.0" in text

    async def stop(self) -> str:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(self.process.communicate(), 30)
        return output.decode()


async def start(stub: StubBotAPI, database_url: str, name: str, role: str) -> Worker:
    port = free_port()
    env = env_for(
        stub,
        database_url,
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_HOST="127.0.0.1",
        WEBHOOK_PORT=str(port),
        METRICS_PORT=str(port),
        LOG_FORMAT="json",
        THROTTLE_BURST="1000",
    )
    process = await asyncio.create_subprocess_exec(
        TALAPKER,
        "run",
        "--role",
        role,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return Worker(name, port, process)


async def until(check: object, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {check}")
        await asyncio.sleep(0.2)


async def seed_a_due_reminder(database_url: str) -> None:
    """A subscriber awake at any hour and an event tomorrow: a reminder is overdue, so
    whichever worker leads first sends it at once (catch-up)."""
    database = Database(database_url)
    await database.upgrade()
    tomorrow = datetime.now(ZoneInfo("Asia/Almaty")).date() + timedelta(days=1)
    async with database.session() as session:
        session.add(User(id=SUBSCRIBER, language="en", waking_from=0, waking_until=24))
        # Subscribed a week and a day ahead: before 10:00 local time the 7-day reminder is the
        # latest due, after it the 1-day one; either way exactly one is sent.
        for lead in (7, 1):
            session.add(
                Subscription(user_id=SUBSCRIBER, event_type="grant_application", lead_days=lead)
            )
        session.add(
            CalendarEntry(
                key="cluster_grants",
                type="grant_application",
                starts_on=tomorrow,
                titles={"kk": "Грант", "ru": "Грант", "en": "Cluster grant applications"},
                audience="applicants",
            )
        )
        await session.commit()
    await database.dispose()


@pytest.fixture
async def cluster(stub: StubBotAPI, database_url: str) -> AsyncIterator[list[Worker]]:
    await seed_a_due_reminder(database_url)
    workers = [
        await start(stub, database_url, "web1", "web"),
        await start(stub, database_url, "web2", "web"),
        await start(stub, database_url, "worker1", "worker"),
    ]
    await until(workers[2].leads)  # the first worker leads before the second one starts
    workers.append(await start(stub, database_url, "worker2", "worker"))
    for worker in workers:

        async def healthy(worker: Worker = worker) -> bool:
            try:
                return (await worker.get("/healthz"))[0] == 200
            except aiohttp.ClientError:
                return False

        await until(healthy)
    yield workers
    outputs = {worker.name: await worker.stop() for worker in workers}
    for name, output in outputs.items():
        assert "Traceback" not in output, f"{name}:\n{output}"


async def test_two_web_workers_and_a_standby_scheduler(
    stub: StubBotAPI, cluster: list[Worker], database_url: str
) -> None:
    web1, web2, worker1, worker2 = cluster

    async def post(worker: Worker, update: dict[str, object]) -> None:
        url = f"{worker.base}/webhook"
        assert await stub.deliver_webhook(update, secret=SECRET, url=url) == 200

    # A wizard started on one web worker continues on the other, step by step.
    user = 8802
    await post(web1, stub.message_update(user, "/start", language_code="ru"))
    await stub.next_reply(user)
    assert "Выберите язык" in (await stub.next_reply(user))["text"]
    await post(
        web2, stub.callback_update(user, "lang:en", stub.message_with_button(user, "lang:en"))
    )
    assert "Who are you?" in (await stub.next_reply(user))["text"]
    await post(
        web1,
        stub.callback_update(
            user, "role:applicant", stub.message_with_button(user, "role:applicant")
        ),
    )
    assert "Which region do you live in?" in (await stub.next_reply(user))["text"]
    await post(
        web2,
        stub.callback_update(
            user, "region:turkistan", stub.message_with_button(user, "region:turkistan")
        ),
    )
    assert "city or in a village" in (await stub.next_reply(user))["text"]

    # The leading worker caught up the overdue reminder and sent it; the standby did not lead.
    reminder = await stub.next_reply(SUBSCRIBER, timeout=30)
    assert "Cluster grant applications" in reminder["text"]
    assert await worker1.leads() and not await worker2.leads()

    # kill -9 the leader: the standby takes over within seconds...
    worker1.process.kill()
    await worker1.process.wait()
    loop = asyncio.get_running_loop()
    killed_at = loop.time()
    await until(worker2.leads, timeout=20)
    takeover = loop.time() - killed_at
    assert takeover < 15, takeover

    # ...and sends what is queued from now on, while nobody gets the reminder twice.
    database = Database(database_url)
    await enqueue(
        database, kind="broadcast", texts={"*": "After the takeover"}, audience=Audience()
    )
    await database.dispose()
    assert "After the takeover" in (await stub.next_reply(SUBSCRIBER, timeout=30))["text"]
    await asyncio.sleep(2)  # room for a duplicate to show up, if there were one
    reminders = [t for t in stub.texts_to(SUBSCRIBER) if "Cluster grant applications" in t]
    assert len(reminders) == 1
    print(f"standby took over {takeover:.1f} s after kill -9")
