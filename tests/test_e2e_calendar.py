"""The calendar in Telegram: users subscribe in /deadlines; staff move, add and delete events,
and the reminder jobs follow at once."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from knowledge.base import load_knowledge

from storage.models import AuditEntry, Subscription
from tests.botapi_stub import StubBotAPI
from tests.conftest import eventually
from tests.test_e2e_polling import button_data

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
