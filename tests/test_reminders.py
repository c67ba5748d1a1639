"""Deadline reminders with a controllable clock: subscribe, fire, exactly one reminder per
subscriber per (event, lead time) in their language; moved events; restarts; quiet hours;
one scheduler however many processes run."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

import scheduler.service
from delivery.outbox import DeliveryWorker
from i18n import I18n
from knowledge.base import load_knowledge
from scheduler.reminders import due_now, entry_from_knowledge, fire, fire_time, plan, seed_calendar
from scheduler.service import ReminderScheduler
from storage.db import Database
from storage.models import AuditEntry, CalendarEntry, Subscription, User
from tests.botapi_stub import StubBotAPI
from tests.conftest import TEST_DATABASE_URL
from tests.test_delivery import drain

TZ = ZoneInfo("Asia/Almaty")
KB = load_knowledge()
I18N = I18n()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def local(y: int, m: int, d: int, h: int = 12) -> datetime:
    return datetime(y, m, d, h, tzinfo=TZ).astimezone(UTC)


async def setup(database: Database, starts_on: date = date(2027, 7, 13)) -> None:
    async with database.session() as session:
        session.add(
            CalendarEntry(
                key="grants",
                type="grant_application",
                starts_on=starts_on,
                ends_on=starts_on + timedelta(days=7),
                titles={
                    "kk": "Грантқа өтінім",
                    "ru": "Заявления на грант",
                    "en": "Grant applications",
                },
                audience="applicants",
                source="test",
                confidence="confirmed",
            )
        )
        for user_id, lang in ((1, "kk"), (2, "ru"), (3, "en")):
            session.add(User(id=user_id, language=lang))
            session.add(Subscription(user_id=user_id, event_type="grant_application", lead_days=1))
        session.add(User(id=4, language="ru"))  # not subscribed
        session.add(Subscription(user_id=2, event_type="grant_application", lead_days=7))
        await session.commit()


def test_fire_times_are_in_waking_hours_before_the_event() -> None:
    assert fire_time(date(2027, 7, 13), 7, TZ) == local(2027, 7, 6, 10)
    assert fire_time(date(2027, 7, 13), 1, TZ) == local(2027, 7, 12, 10)
    assert fire_time(date(2027, 7, 13), 0, TZ) == local(2027, 7, 13, 9)


def test_catch_up_sends_only_the_latest_useful_reminder() -> None:
    event = CalendarEntry(
        key="e", type="results", starts_on=date(2027, 8, 7), titles={}, precision="day"
    )
    planned = plan([event], TZ)
    assert [r.lead for r in due_now(planned, local(2027, 8, 1), TZ)] == [7]
    assert [r.lead for r in due_now(planned, local(2027, 8, 6, 18), TZ)] == [1]  # not 7 as well
    assert due_now(planned, local(2027, 8, 8), TZ) == []  # the event is past: never reminded
    month_only = CalendarEntry(
        key="m", type="unt_sitting", starts_on=date(2027, 5, 1), titles={}, precision="month"
    )
    assert plan([month_only], TZ) == []  # no day known, no reminder


async def test_subscribers_get_one_reminder_in_their_language(
    stub: StubBotAPI, database: Database
) -> None:
    await setup(database)
    now = local(2027, 7, 12, 10)
    first = await fire(database, I18N, "grants", 1, now=now, tz=TZ)
    again = await fire(database, I18N, "grants", 1, now=now + timedelta(minutes=5), tz=TZ)
    assert first is not None and again is None  # the same reminder is never queued twice
    await drain(stub, database, rate=100)
    texts = {c.params["chat_id"]: c.params["text"] for c in stub.calls if c.method == "sendmessage"}
    assert set(texts) == {1, 2, 3}  # user 4 did not subscribe
    assert texts[1].startswith("⏰ Ертең: <b>Грантқа өтінім</b>")
    assert texts[2].startswith("⏰ Завтра: <b>Заявления на грант</b> (13.07.2027 – 20.07.2027)")
    assert texts[3].startswith("⏰ Tomorrow: <b>Grant applications</b>")
    assert len(stub.delivered()) == 3


async def test_expected_dates_are_never_reminded(stub: StubBotAPI, database: Database) -> None:
    await setup(database)
    async with database.session() as session:
        event = (await session.exec(sa.select(CalendarEntry))).scalar_one()
        event.confidence, event.basis = "unconfirmed", {"en": "13–20 Jul in 2023 and 2025"}
        await session.commit()
        assert plan([event], TZ) == []
    assert await fire(database, I18N, "grants", 1, now=local(2027, 7, 12, 10), tz=TZ) is None
    await drain(stub, database, rate=100)
    assert stub.delivered() == []
    # Every 2027 window in the data is expected, so none of them is planned.
    expected = [entry_from_knowledge(e) for e in KB.calendar.events if e.expected]
    assert len(expected) >= 8 and plan(expected, TZ) == []


async def test_seeding_adds_a_new_cycle_but_never_what_staff_changed_or_deleted(
    database: Database,
) -> None:
    assert await seed_calendar(database, KB) == len(KB.calendar.events)
    async with database.session() as session:
        moved = (
            await session.exec(
                sa.select(CalendarEntry).where(CalendarEntry.key == "grant_applications_2027")
            )
        ).scalar_one()
        moved.starts_on, moved.confidence, moved.basis = date(2027, 7, 14), "confirmed", {}
        gone = (
            await session.exec(
                sa.select(CalendarEntry).where(CalendarEntry.key == "grant_results_2027")
            )
        ).scalar_one()
        await session.delete(gone)
        session.add(AuditEntry(actor_id=1, action="calendar_deleted", details={"event": gone.key}))
        lost = (
            await session.exec(
                sa.select(CalendarEntry).where(CalendarEntry.key == "documents_2027")
            )
        ).scalar_one()
        await session.delete(lost)  # as if the database predates the 2027 data
        await session.commit()
    assert await seed_calendar(database, KB) == 1
    async with database.session() as session:
        keys = set((await session.exec(sa.select(CalendarEntry.key))).scalars())
        kept = (
            await session.exec(
                sa.select(CalendarEntry).where(CalendarEntry.key == "grant_applications_2027")
            )
        ).scalar_one()
    assert "documents_2027" in keys and "grant_results_2027" not in keys
    assert kept.starts_on == date(2027, 7, 14) and kept.confirmed


async def test_past_events_are_never_reminded(database: Database) -> None:
    await setup(database)
    assert await fire(database, I18N, "grants", 1, now=local(2027, 7, 14), tz=TZ) is None


async def test_reminders_wait_for_morning_unless_the_user_chose_any_time(
    stub: StubBotAPI, database: Database
) -> None:
    await setup(database)
    async with database.session() as session:
        night_owl = await session.get(User, 3)  # chose "any time" in /deadlines
        assert night_owl is not None
        night_owl.waking_from, night_owl.waking_until = 0, 24
        await session.commit()
    await fire(database, I18N, "grants", 1, now=local(2027, 7, 12, 10), tz=TZ)
    from bot.app import create_bot
    from bot.config import load_settings

    bot = create_bot(load_settings(bot_token=stub.token, bot_api_url=stub.base_url))
    clock = Clock(local(2027, 7, 12, 23))  # 23:00 in Almaty
    worker = DeliveryWorker(bot, database, rate=100, tz=TZ, clock=clock)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await stub.wait_for(lambda calls: len(stub.delivered()) == 1, timeout=10)
    await asyncio.sleep(0.5)
    assert stub.delivered() == [3]  # night: the others (default 9-21) are held
    clock.now = local(2027, 7, 13, 9)  # morning
    worker.wake.set()
    await stub.wait_for(lambda calls: len(stub.delivered()) == 3, timeout=10)
    assert sorted(stub.delivered()) == [1, 2, 3]
    stop.set()
    await task
    await bot.session.close()


async def test_a_moved_event_fires_at_the_new_time_not_the_old(database: Database) -> None:
    await setup(database)
    clock = Clock(local(2027, 6, 1))
    scheduler = ReminderScheduler(database, I18N, KB, TZ, clock=clock)
    await scheduler.start()
    try:
        jobs = scheduler.jobs()
        assert jobs["reminder:grants:1"] == local(2027, 7, 12, 10)
        async with database.session() as session:
            event = (
                await session.exec(sa.select(CalendarEntry).where(CalendarEntry.key == "grants"))
            ).scalar_one()
            event.starts_on = date(2027, 7, 20)
            await session.commit()
        await scheduler.reschedule()
        assert scheduler.jobs()["reminder:grants:1"] == local(2027, 7, 19, 10)
        # The old date's reminder cannot fire any more; the new one fires once.
        assert (
            await fire(database, I18N, "grants", 1, now=local(2027, 7, 12, 10), tz=TZ) is not None
        )
        old_key = (await _campaign_keys(database))[0]
        assert old_key == "reminder:grants:2027-07-20:1"
    finally:
        await scheduler.stop()


async def _campaign_keys(database: Database) -> list[str]:
    from storage.models import Campaign

    async with database.session() as session:
        return list((await session.exec(sa.select(Campaign.dedupe_key))).scalars())


async def test_a_reminder_missed_while_down_is_sent_once_on_start(
    stub: StubBotAPI, database: Database
) -> None:
    await setup(database)
    clock = Clock(local(2027, 7, 1))
    first = ReminderScheduler(database, I18N, KB, TZ, clock=clock)
    await first.start()
    assert "reminder:grants:1" in first.jobs()
    await first.stop()  # the bot goes down before the reminders fall due

    clock.now = local(2027, 7, 12, 15)  # back up after the 1-day reminder's time
    second = ReminderScheduler(database, I18N, KB, TZ, clock=clock)
    await second.start()
    third = ReminderScheduler(database, I18N, KB, TZ, clock=clock)  # and once more
    await second.stop()
    await third.start()
    await third.stop()
    await drain(stub, database, rate=100)
    assert sorted(stub.delivered()) == [1, 2, 3]  # once each, although it started twice
    assert await _campaign_keys(database) == ["reminder:grants:2027-07-13:1"]


async def test_only_one_scheduler_leads(database: Database) -> None:
    await setup(database)
    clock = Clock(local(2027, 6, 1))
    a = ReminderScheduler(database, I18N, KB, TZ, clock=clock)
    b = ReminderScheduler(database, I18N, KB, TZ, clock=clock)
    await a.start()
    await b.start()
    try:
        assert a.is_leader and not b.is_leader
    finally:
        await a.stop()
    for _ in range(80):  # the standby takes over within seconds
        if b.is_leader:
            break
        await asyncio.sleep(0.1)
    assert b.is_leader
    await b.stop()


@pytest.mark.parametrize("lead", [7, 1, 0])
async def test_every_lead_has_a_sentence_in_every_language(lead: int) -> None:
    event = CalendarEntry(
        key="x",
        type="results",
        starts_on=date(2027, 8, 7),
        titles={"kk": "a", "ru": "b", "en": "c"},
        confidence="unconfirmed",
    )
    from scheduler.reminders import reminder_texts

    texts = reminder_texts(I18N, event, lead, TZ)
    assert set(texts) == {"kk", "ru", "en"} and all("⚠️" in t for t in texts.values())


def test_reminders_and_the_seeded_calendar_carry_descriptions() -> None:
    from scheduler.reminders import entry_from_knowledge, reminder_texts

    event = entry_from_knowledge(
        next(e for e in KB.calendar.events if e.id == "grant_applications_2026")
    )
    assert set(event.descriptions) == {"kk", "ru", "en"}
    texts = reminder_texts(I18N, event, 7, TZ)
    assert "egov.kz" in texts["ru"] and "⚠️" in texts["ru"]  # 2026 dates are unconfirmed
    assert all(e.description is not None for e in KB.calendar.events)


async def test_each_user_gets_reminders_only_in_their_own_waking_hours(
    stub: StubBotAPI, database: Database
) -> None:
    await setup(database)
    async with database.session() as session:
        late_riser = await session.get(User, 1)
        assert late_riser is not None
        late_riser.waking_from, late_riser.waking_until = 10, 20
        await session.commit()
    await fire(database, I18N, "grants", 1, now=local(2027, 7, 12, 10), tz=TZ)
    from bot.app import create_bot
    from bot.config import load_settings

    bot = create_bot(load_settings(bot_token=stub.token, bot_api_url=stub.base_url))
    clock = Clock(local(2027, 7, 13, 9))  # 09:xx: awake for users 2 and 3, not for user 1
    worker = DeliveryWorker(bot, database, rate=100, tz=TZ, clock=clock)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await stub.wait_for(lambda calls: len(stub.delivered()) == 2, timeout=10)
    assert sorted(stub.delivered()) == [2, 3]
    clock.now = local(2027, 7, 13, 10)
    worker.wake.set()
    await stub.wait_for(lambda calls: len(stub.delivered()) == 3, timeout=10)
    stop.set()
    await task
    await bot.session.close()


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="advisory locks are PostgreSQL's")
async def test_a_leader_whose_connection_dies_steps_down(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduler.service, "LEADER_CHECK", 0.2)
    await setup(database)
    clock = Clock(local(2027, 6, 1))
    stepped_down: list[bool] = []

    async def record_step_down() -> None:
        stepped_down.append(True)

    a = ReminderScheduler(database, I18N, KB, TZ, clock=clock, on_step_down=record_step_down)
    b = ReminderScheduler(database, I18N, KB, TZ, clock=clock)
    await a.start()
    await b.start()
    try:
        assert a.is_leader and not b.is_leader
        pid = (await a._leader.execute(sa.text("SELECT pg_backend_pid()"))).scalar()
        async with database.engine.connect() as admin:
            await admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        for _ in range(100):  # PostgreSQL released the lock with the connection
            assert not (a.is_leader and b.is_leader and stepped_down)
            if stepped_down and (a.is_leader or b.is_leader):
                break
            await asyncio.sleep(0.1)
        assert stepped_down == [True]
        assert a.is_leader != b.is_leader  # exactly one leads again
    finally:
        await a.stop()
        await b.stop()
