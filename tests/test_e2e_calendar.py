"""The calendar in Telegram: users subscribe in /deadlines; staff move, add and delete events,
and the reminder jobs follow at once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from knowledge.base import load_knowledge
from storage.db import Database
from storage.models import AuditEntry, Campaign, DateWatch, OutboxMessage, Subscription, User
from tests.botapi_stub import StubBotAPI
from tests.conftest import eventually
from tests.test_e2e_polling import button_data, onboard

ADMIN = 900
TALAPKER = str(Path(sys.executable).with_name("talapker"))


async def test_users_subscribe_and_choose_how_early(stub: StubBotAPI, start_polling: Any) -> None:
    bot = await start_polling()
    await stub.send_text(1201, "/deadlines", language_code="en")
    screen = await stub.next_reply(1201)
    assert (
        "Coming admission dates" in screen["text"]
        and "tap a kind of event" in screen["text"].lower()
    )
    await stub.press(1201, button_data(screen, "Grant applications"))
    await stub.press(1201, button_data(screen, "that morning"))

    async def rows() -> set[tuple[str, int]]:
        async with bot.app.database.session() as session:
            subs = (
                await session.exec(sa.select(Subscription).where(Subscription.user_id == 1201))
            ).scalars()
            return {(s.event_type, s.lead_days) for s in subs}

    assert await eventually(rows, lambda r: len(r) == 3) == {
        ("grant_application", 7),
        ("grant_application", 1),
        ("grant_application", 0),
    }
    await stub.press(1201, button_data(screen, "Grant applications"))  # and off again
    await eventually(rows, lambda r: r == set())
    user = await bot.user(1201)
    assert user is not None and user.reminder_leads == "7,1,0"
    assert (user.waking_from, user.waking_until) == (9, 21)  # REMINDER_HOURS by default

    await stub.press(1201, button_data(screen, "Reminders: 09:00–21:00"))
    await bot.user_when(1201, lambda u: (u.waking_from, u.waking_until) == (8, 22))


async def test_staff_move_add_and_delete_events_and_jobs_follow(
    stub: StubBotAPI, start_polling: Any
) -> None:
    bot = await start_polling(admin_ids=str(ADMIN))
    reminders = bot.app.reminders
    await stub.send_text(
        ADMIN,
        "/calendar_add open_day_2099 | other | 10.06.2099 | Ашық есік күні | День открытых дверей | Open day",
        language_code="en",
    )
    assert "Added «Open day» on 10.06.2099" in (await stub.next_reply(ADMIN))["text"]
    assert "reminder:open_day_2099:1" in reminders.jobs()

    await stub.send_text(ADMIN, "/calendar")
    await stub.next_reply(ADMIN)
    item = None
    for _ in range(20):
        reply = await stub.next_reply(ADMIN)
        if "open_day_2099" in reply["text"]:
            item = reply
            break
    assert item is not None
    await stub.press(ADMIN, button_data(item, "👁"))
    assert "Tomorrow: <b>Open day</b>" in (await stub.next_reply(ADMIN))["text"]
    await stub.press(ADMIN, button_data(item, "✏️"))
    await stub.next_reply(ADMIN)
    await stub.send_text(ADMIN, "31.02.2099")
    assert "Please send a date" in (await stub.next_reply(ADMIN))["text"]
    await stub.send_text(ADMIN, "20.06.2099")
    assert "is now on 20.06.2099" in (await stub.next_reply(ADMIN))["text"]
    job_time = reminders.jobs()["reminder:open_day_2099:1"]
    assert job_time.date() == date(2099, 6, 19)

    await stub.press(ADMIN, button_data(item, "🗑"))
    assert "deleted" in (await stub.next_reply(ADMIN))["text"]
    assert "reminder:open_day_2099:1" not in reminders.jobs()
    async with bot.app.database.session() as session:
        actions = list((await session.exec(sa.select(AuditEntry.action))).scalars())
    assert actions == ["calendar_added", "calendar_moved", "calendar_deleted"]


async def test_non_staff_have_no_calendar_commands(stub: StubBotAPI, start_polling: Any) -> None:
    await start_polling(admin_ids=str(ADMIN))
    await stub.send_text(1202, "/calendar", language_code="en")
    assert "I do not know that command" in (await stub.next_reply(1202))["text"]
    await stub.press(1202, "cal:delete:1")
    await stub.wait_for(
        lambda calls: any("out of date" in str(c.params.get("text")) for c in calls)
    )


def test_calendar_cli_export_and_import_round_trip(database_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url, "PATH": str(Path(sys.executable).parent)}
    exported = subprocess.run(
        [TALAPKER, "calendar", "export"], env=env, capture_output=True, text=True, check=True
    )
    assert "grant_applications_2025" in exported.stdout
    changed = exported.stdout.replace("start: 2026-03-01", "start: 2026-03-02")
    path = tmp_path / "calendar.yaml"
    path.write_text(changed, encoding="utf-8")
    imported = subprocess.run(
        [TALAPKER, "calendar", "import", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"0 added, {len(load_knowledge().calendar.events)} updated" in imported.stdout
    listed = subprocess.run(
        [TALAPKER, "calendar", "list", "--lang", "en"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "2026-03-02 – 2026-04-06" in listed.stdout
    path.write_text("events:\n  - id: x\n    type: party\n", encoding="utf-8")
    bad = subprocess.run(
        [TALAPKER, "calendar", "import", str(path)], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 1 and bad.stderr.startswith("talapker: calendar.yaml: events.0")


async def test_a_watched_expected_date_is_announced_once_when_staff_confirm_it(
    stub: StubBotAPI, start_polling: Any
) -> None:
    bot = await start_polling(admin_ids=str(ADMIN))
    reminders = bot.app.reminders
    watcher, other = 1203, 1204
    await onboard(stub, watcher, "English", "Applicant", "Turkistan", "rural")
    await stub.send_text(watcher, "/deadlines", language_code="en")
    screen = await stub.next_reply(watcher)
    # December 2026: every coming date is the 2027 cycle's expected window, and says so.
    assert "❔ <b>13.07.2027 – 20.07.2027</b>: Grant applications (2027)" in screen["text"]
    assert "based on: 13–20 Jul in 2023 and 2025, 13–24 Jul in 2024" in screen["text"]
    assert "✅ confirmed date · ❔ expected, not yet announced" in screen["text"]
    assert "reminder:grant_applications_2027:1" not in reminders.jobs()  # expected: no reminder
    await stub.press(watcher, button_data(screen, "Tell me when the expected dates"))
    await stub.wait_for(lambda calls: any("one message" in str(c.params) for c in calls))
    await stub.send_text(other, "/deadlines", language_code="ru")
    await stub.next_reply(other)

    async def watches() -> set[tuple[int, str]]:
        async with bot.app.database.session() as session:
            rows = (await session.exec(sa.select(DateWatch))).scalars()
            return {(w.user_id, w.event_key) for w in rows}

    watched = await eventually(watches, lambda w: len(w) == 8)
    assert (watcher, "grant_applications_2027") in watched

    await stub.send_text(ADMIN, "/calendar", language_code="en")
    await stub.next_reply(ADMIN)
    items = [await stub.next_reply(ADMIN) for _ in range(12)]  # the 12 latest events
    item = next(i for i in items if "grant_applications_2027" in i["text"])
    assert "❔" in item["text"]
    await stub.press(ADMIN, button_data(item, "✏️"))
    await stub.next_reply(ADMIN)
    await stub.send_text(ADMIN, "14.07.2027 – 21.07.2027")
    confirmed = (await stub.next_reply(ADMIN))["text"]
    assert "is now on 14.07.2027 – 21.07.2027" in confirmed and "told once" in confirmed
    notice = (
        "📅 The date is now confirmed: <b>Grant applications (2027)</b>, 14.07.2027 – 21.07.2027."
    )

    def notices(chat_id: int) -> list[str]:
        return [
            c.params["text"]
            for c in stub.calls_to("sendMessage", chat_id)
            if "now confirmed" in c.params["text"]
        ]

    assert (await stub.next_reply(watcher))["text"].startswith(notice)  # through the outbox
    assert "reminder:grant_applications_2027:1" in reminders.jobs()  # confirmed: reminded

    # Staff correct the date once more: no second announcement.
    await stub.press(ADMIN, button_data(item, "✏️"))
    await stub.next_reply(ADMIN)
    await stub.send_text(ADMIN, "15.07.2027 – 22.07.2027")
    again = (await stub.next_reply(ADMIN))["text"]
    assert "is now on 15.07.2027" in again and "told once" not in again
    async with bot.app.database.session() as session:
        campaigns = list(
            (
                await session.exec(sa.select(Campaign).where(Campaign.kind == "date_confirmed"))
            ).scalars()
        )
        outbox = list((await session.exec(sa.select(OutboxMessage))).scalars())
    assert len(campaigns) == 1
    assert [m.user_id for m in outbox if m.campaign_id == campaigns[0].id] == [watcher]
    assert len(notices(watcher)) == 1 and notices(other) == []
    # And the menu now shows the date as confirmed.
    await stub.send_text(watcher, "/deadlines")
    after = (await stub.next_reply(watcher))["text"]
    assert "✅ <b>15.07.2027 – 22.07.2027</b>: Grant applications (2027)" in after


def test_confirming_an_expected_date_by_import_announces_it_once(
    database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, "PATH": str(Path(sys.executable).parent)}

    def talapker(*args: str) -> str:
        return subprocess.run(
            [TALAPKER, *args], env=env, capture_output=True, text=True, check=True
        ).stdout

    listed = talapker("calendar", "list", "--lang", "en")
    assert "2027-07-13 – 2027-07-20" in listed
    line = next(row for row in listed.splitlines() if "Grant applications (2027)" in row)
    assert "expected, not yet announced" in line and "based on: 13–20 Jul" in line

    async def watch() -> None:
        database = Database(database_url)
        async with database.session() as session:
            session.add(User(id=1301, language="ru"))
            session.add(DateWatch(user_id=1301, event_key="grant_applications_2027"))
            await session.commit()
        await database.dispose()

    asyncio.run(watch())
    exported = talapker("calendar", "export")
    start = exported.index("id: grant_applications_2027")
    block = exported[start : exported.index("- id:", start)]
    confirmed = block.replace("confidence: unconfirmed", "confidence: confirmed")
    path = tmp_path / "calendar.yaml"
    path.write_text(exported.replace(block, confirmed), encoding="utf-8")
    first = talapker("calendar", "import", str(path))
    assert "confirmed: grant_applications_2027" in first
    second = talapker("calendar", "import", str(path))
    assert "confirmed:" not in second
    line = next(
        row
        for row in talapker("calendar", "list", "--lang", "en").splitlines()
        if "Grant applications (2027)" in row
    )
    assert "✅ confirmed" in line and "based on" not in line

    async def queued() -> list[tuple[int, str]]:
        database = Database(database_url)
        async with database.session() as session:
            rows = await session.exec(
                sa.select(OutboxMessage.user_id, Campaign.texts)
                .join(Campaign, Campaign.id == OutboxMessage.campaign_id)
                .where(Campaign.kind == "date_confirmed")
            )
            result = [(user_id, texts["ru"]) for user_id, texts in rows]
        await database.dispose()
        return result

    [(user_id, text)] = asyncio.run(queued())
    assert user_id == 1301
    assert text.startswith("📅 Дата подтверждена: <b>Приём заявлений на грант (2027)</b>")
