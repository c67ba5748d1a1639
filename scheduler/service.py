"""APScheduler wiring: one job per (event, lead time), kept in the database (SQLAlchemy job
store, table `apscheduler_jobs`; see `job_store_url`), so jobs survive restarts; and a leader lock
so that only one process fires them, however many run.

Leadership: on PostgreSQL a session-level advisory lock held on a dedicated connection for as
long as the process leads (it is released by the server if the process dies); on SQLite a lock
file beside the database. A process that does not get the lock stays a standby and tries again
every few seconds, so it takes over soon after the leader stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.engine import make_url

from i18n import I18n
from knowledge.base import KnowledgeBase
from scheduler.reminders import due_now, fire, plan, seed_calendar
from storage.db import Database, fcntl
from storage.models import CalendarEntry, UnansweredQuestion, utcnow

logger = logging.getLogger("talapker.scheduler")

LEADER_LOCK_ID = 0x7A1A5C4E
STANDBY_RETRY = 2.0
# How often the leader checks that it still holds its lock (its connection may have died
# with a PostgreSQL restart; the server then released the lock and another process may lead).
LEADER_CHECK = 10.0
JOBS_TABLE = "apscheduler_jobs"
TICKET_SWEEP_MINUTES = 5
_ACTIVE: ReminderScheduler | None = None


def job_store_url(async_url: str) -> str:
    """Where the (synchronous) job store keeps its jobs. PostgreSQL: the same database through
    a synchronous driver. SQLite: a sibling file (`talapker.db-jobs`), because SQLite has one
    writer at a time and a synchronous writer on the event loop would wait for an async
    transaction that needs that same loop to finish."""
    url = make_url(async_url)
    if url.drivername.startswith("sqlite"):
        database = url.database
        if database and database != ":memory:":
            database = f"{database}-jobs"
        return url.set(drivername="sqlite", database=database).render_as_string(hide_password=False)
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


async def run_resync_job() -> None:
    if _ACTIVE is not None:
        await _ACTIVE.catch_up()
        await _ACTIVE.reschedule()


async def run_retention_job() -> None:
    if _ACTIVE is not None:
        await _ACTIVE.purge_unanswered()


async def run_ticket_job() -> None:
    if _ACTIVE is not None and _ACTIVE.ticket_sweep is not None:
        await _ACTIVE.ticket_sweep()


async def run_reminder_job(event_key: str, lead: int) -> None:
    """The job target (a module-level function, so the job store can name it)."""
    if _ACTIVE is not None:
        await _ACTIVE.fire(event_key, lead)


class ReminderScheduler:
    def __init__(
        self,
        database: Database,
        i18n: I18n,
        kb: KnowledgeBase,
        tz: ZoneInfo,
        *,
        on_queued: Any = None,
        on_lead: Callable[[], None] | None = None,
        on_step_down: Callable[[], Awaitable[None]] | None = None,
        clock: Any = utcnow,
        unanswered_retention_days: int = 90,
    ) -> None:
        self.database = database
        self.i18n = i18n
        self.kb = kb
        self.tz = tz
        self.on_queued = on_queued  # called after a reminder is queued (wakes the sender)
        self.on_lead = on_lead  # called once this process becomes the leader
        self.on_step_down = on_step_down  # awaited when it finds it no longer leads
        # The hand-off's periodic work (post what the staff chat missed, remind staff of
        # tickets waiting too long), set by the composition root.
        self.ticket_sweep: Callable[[], Awaitable[None]] | None = None
        self._watch: asyncio.Task[None] | None = None
        self.unanswered_retention = timedelta(days=unanswered_retention_days)
        self.clock = clock
        self.scheduler: AsyncIOScheduler | None = None
        self._leader: Any = None
        self._standby: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        return self.scheduler is not None

    # ------------------------------------------------------------------ leadership
    async def _try_lead(self) -> bool:
        if self.database.is_sqlite:
            path = make_url(self.database.url).database
            if not path or path == ":memory:" or fcntl is None:
                return True
            handle = open(f"{path}.scheduler-lock", "w")  # noqa: SIM115, ASYNC230 (held while leading)
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                return False
            self._leader = handle
            return True
        connection = await self.database.engine.connect()
        got = (
            await connection.execute(sa.text(f"SELECT pg_try_advisory_lock({LEADER_LOCK_ID})"))
        ).scalar()
        if got:
            self._leader = connection
            return True
        await connection.close()
        return False

    async def start(self) -> None:
        """Lead if no other process does; otherwise wait as a standby."""
        if await self._try_lead():
            await self._become_leader()
        else:
            logger.info("another process runs the scheduler; standing by")
            self._standby = asyncio.create_task(self._wait_for_leadership())

    async def _wait_for_leadership(self) -> None:
        while True:
            await asyncio.sleep(STANDBY_RETRY)
            if await self._try_lead():
                await self._become_leader()
                return

    async def _become_leader(self) -> None:
        global _ACTIVE
        _ACTIVE = self
        await seed_calendar(self.database, self.kb)
        store = SQLAlchemyJobStore(url=job_store_url(self.database.url), tablename=JOBS_TABLE)
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": store},
            job_defaults={"coalesce": True, "misfire_grace_time": None},
            timezone=self.tz,
        )
        self.scheduler.start()
        await self.catch_up()
        await self.reschedule()
        # Edits made by another process (`talapker calendar import`) are picked up here.
        self.scheduler.add_job(
            run_resync_job, "interval", minutes=1, id="calendar-resync", replace_existing=True
        )
        self.scheduler.add_job(
            run_retention_job, "interval", hours=6, id="unanswered-retention", replace_existing=True
        )
        self.scheduler.add_job(
            run_ticket_job,
            "interval",
            minutes=TICKET_SWEEP_MINUTES,
            id="ticket-sweep",
            replace_existing=True,
        )
        await self.purge_unanswered()
        logger.info("scheduler running (%d jobs)", len(self.scheduler.get_jobs()))
        if not self.database.is_sqlite:
            self._watch = asyncio.create_task(self._watch_leadership())
        if self.on_lead is not None:
            self.on_lead()

    async def still_leading(self) -> bool:
        """Whether the connection holding the advisory lock is alive (the lock lives and
        dies with it). A lock file on SQLite cannot be lost."""
        if not hasattr(self._leader, "execute"):
            return self._leader is not None or self.database.is_sqlite
        try:
            await asyncio.wait_for(self._leader.execute(sa.text("SELECT 1")), LEADER_CHECK)
        except Exception:  # any failure means the lock may be gone
            return False
        return True

    async def _watch_leadership(self) -> None:
        while True:
            await asyncio.sleep(LEADER_CHECK)
            if not await self.still_leading():
                await self.step_down()
                return

    async def step_down(self) -> None:
        """Stop scheduling and sending, and stand by: another process may lead now."""
        global _ACTIVE
        logger.warning("lost the scheduler lock (database connection gone); standing by")
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        if _ACTIVE is self:
            _ACTIVE = None
        leader, self._leader = self._leader, None
        if leader is not None:
            with suppress(Exception):
                await leader.invalidate()
        if self.on_step_down is not None:
            await self.on_step_down()
        self._standby = asyncio.create_task(self._wait_for_leadership())

    async def stop(self) -> None:
        global _ACTIVE
        # Wait for the cancelled tasks to unwind: a standby may be half-way through becoming
        # the leader (in a database call) and must not outlive the database it uses.
        for task in (self._standby, self._watch):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        self._standby = self._watch = None
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        if _ACTIVE is self:
            _ACTIVE = None
        if self._leader is not None:
            if hasattr(self._leader, "execute"):
                with suppress(Exception):  # a dead connection has released the lock already
                    await self._leader.execute(
                        sa.text(f"SELECT pg_advisory_unlock({LEADER_LOCK_ID})")
                    )
                with suppress(Exception):
                    await self._leader.close()
            else:
                self._leader.close()
            self._leader = None

    # ------------------------------------------------------------------ jobs
    async def purge_unanswered(self) -> int:
        """Delete logged unanswered questions older than UNANSWERED_RETENTION_DAYS."""
        cutoff = self.clock() - self.unanswered_retention
        async with self.database.session() as session:
            result = await session.exec(
                sa.delete(UnansweredQuestion).where(UnansweredQuestion.created_at < cutoff)  # type: ignore[arg-type]
            )
            await session.commit()
        purged = result.rowcount or 0
        if purged:
            logger.info("deleted %d unanswered question(s) past retention", purged)
        return purged

    async def events(self) -> list[CalendarEntry]:
        async with self.database.session() as session:
            return list((await session.exec(sa.select(CalendarEntry))).scalars())

    async def reschedule(self) -> int:
        """Make the jobs match the calendar: a job per future (event, lead); none for past,
        moved-away or deleted ones. Staff edits call this at once."""
        if self.scheduler is None:
            return 0
        now = self.clock()
        wanted = {r.job_id: r for r in plan(await self.events(), self.tz) if r.fire_at > now}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("reminder:") and job.id not in wanted:
                job.remove()
        for job_id, reminder in wanted.items():
            self.scheduler.add_job(
                run_reminder_job,
                "date",
                run_date=reminder.fire_at,
                id=job_id,
                args=[reminder.event_key, reminder.lead],
                replace_existing=True,
            )
        return len(wanted)

    async def catch_up(self) -> int:
        """Send what fell due while no scheduler ran, if still useful (once, by the dedupe key)."""
        queued = 0
        for reminder in due_now(plan(await self.events(), self.tz), self.clock(), self.tz):
            if await self.fire(reminder.event_key, reminder.lead):
                queued += 1
        return queued

    async def fire(self, event_key: str, lead: int) -> bool:
        campaign = await fire(
            self.database, self.i18n, event_key, lead, now=self.clock(), tz=self.tz
        )
        if campaign is not None:
            logger.info("reminder %s (%d days) queued as campaign %s", event_key, lead, campaign.id)
            if self.on_queued is not None:
                self.on_queued()
        return campaign is not None

    def jobs(self) -> dict[str, datetime]:
        if self.scheduler is None:
            return {}
        return {job.id: job.next_run_time for job in self.scheduler.get_jobs()}
