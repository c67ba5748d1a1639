"""Staff broadcasts through Telegram: compose, audience, exact preview, send with live
progress, schedule and cancel; staff management and the audit log; and nothing of it for
anyone else."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from storage.models import AuditEntry, Campaign, CampaignStatus, OutboxMessage, User
from tests.botapi_stub import StubBotAPI
from tests.conftest import RunningBot, eventually
from tests.test_delivery import add_users
from tests.test_e2e_polling import button_data

ADMIN = 900


async def audit_actions(bot: RunningBot) -> list[str]:
    async with bot.app.database.session() as session:
        return list(
            (await session.exec(sa.select(AuditEntry.action).order_by(AuditEntry.id))).scalars()
        )


async def test_staff_broadcast_with_preview_and_live_progress(
    stub: StubBotAPI, start_polling: Any
) -> None:
    bot = await start_polling(admin_ids=str(ADMIN))
    await add_users(bot.app.database, 12, first=30_000, role="applicant")
    await add_users(bot.app.database, 5, first=40_000, role="parent")

    await stub.send_text(ADMIN, "/broadcast", language_code="en")
    assert "Send the announcement" in (await stub.next_reply(ADMIN))["text"]
    await stub.send_text(ADMIN, "Grant results are out!")
    audience = await stub.next_reply(ADMIN)
    await stub.press(ADMIN, button_data(audience, "Applicants"))
    preview = await stub.next_reply(ADMIN)
    assert "12 recipients" in preview["text"]
    shown = await stub.next_reply(ADMIN)
    assert shown["text"] == "Grant results are out!"  # exactly what recipients will get
    confirm = await stub.next_reply(ADMIN)
    await stub.press(ADMIN, button_data(confirm, "Send now"))
    assert "Queued for 12" in (await stub.next_reply(ADMIN))["text"]

    await stub.wait_for(
        lambda calls: len([d for d in stub.delivered() if d >= 30_000]) >= 12, timeout=20
    )
    await stub.wait_for(
        lambda calls: any("Broadcast finished" in str(c.params.get("text")) for c in calls),
        timeout=20,
    )
    progress = [
        c
        for c in stub.calls
        if c.params.get("chat_id") == ADMIN and "Broadcast finished" in str(c.params.get("text"))
    ]
    assert "delivered 12 of 12" in progress[-1].params["text"]
    assert progress[-1].method in ("editmessagetext", "sendmessage")
    assert sorted(d for d in stub.delivered() if d >= 30_000) == list(
        range(30_000, 30_012)
    )  # parents not
    assert "broadcast_sent" in await audit_actions(bot)


async def test_schedule_then_cancel(stub: StubBotAPI, start_polling: Any) -> None:
    bot = await start_polling(admin_ids=str(ADMIN))
    await add_users(bot.app.database, 3, first=50_000)
    await stub.send_text(ADMIN, "/broadcast", language_code="ru")
    await stub.next_reply(ADMIN)
    await stub.send_text(ADMIN, "Завтра день открытых дверей")
    audience = await stub.next_reply(ADMIN)
    await stub.press(ADMIN, button_data(audience, "Всем"))
    await stub.next_reply(ADMIN)
    await stub.next_reply(ADMIN)
    confirm = await stub.next_reply(ADMIN)
    await stub.press(ADMIN, button_data(confirm, "Запланировать"))
    await stub.next_reply(ADMIN)
    await stub.send_text(ADMIN, "01.01.2020 10:00")
    assert "будущую дату" in (await stub.next_reply(ADMIN))["text"]
    await stub.send_text(ADMIN, "01.01.2099 10:00")
    assert "Запланировано на 01.01.2099 10:00" in (await stub.next_reply(ADMIN))["text"]

    await stub.send_text(ADMIN, "/scheduled")
    item = await stub.next_reply(ADMIN)
    await stub.press(ADMIN, button_data(item, "Отменить"))
    assert "отменена" in (await stub.next_reply(ADMIN))["text"]

    async def state() -> tuple[str, int]:
        async with bot.app.database.session() as session:
            campaign = (await session.exec(sa.select(Campaign))).scalars().one()
            rows = (
                await session.exec(sa.select(sa.func.count()).select_from(OutboxMessage))
            ).scalar_one()
            return campaign.status, rows

    await eventually(state, lambda value: value == (CampaignStatus.CANCELLED, 0))
    assert not [d for d in stub.delivered() if d >= 50_000]
    assert (await audit_actions(bot))[-2:] == ["broadcast_scheduled", "broadcast_cancelled"]


async def test_non_staff_see_no_broadcast_and_forged_buttons_do_nothing(
    stub: StubBotAPI, start_polling: Any
) -> None:
    bot = await start_polling(admin_ids=str(ADMIN))
    for command in ("/broadcast", "/scheduled", "/staff_add 5", "/audit"):
        await stub.send_text(777, command, language_code="en")
        assert "I do not know that command" in (await stub.next_reply(777))["text"], command
    await stub.press(777, "bc:send:0")
    await stub.press(777, "aud:all:")
    await stub.wait_for(
        lambda calls: (
            sum(
                c.method == "answercallbackquery" and "out of date" in str(c.params.get("text"))
                for c in calls
            )
            >= 2
        )
    )
    async with bot.app.database.session() as session:
        assert (
            await session.exec(sa.select(sa.func.count()).select_from(Campaign))
        ).scalar_one() == 0


async def test_admin_grants_and_revokes_staff(stub: StubBotAPI, start_polling: Any) -> None:
    bot = await start_polling(admin_ids=str(ADMIN))
    await stub.send_text(ADMIN, "/staff_add 555", language_code="en")
    assert "555 is now admissions staff" in (await stub.next_reply(ADMIN))["text"]
    await stub.send_text(555, "/broadcast", language_code="en")  # staff now: the command exists
    assert "Send the announcement" in (await stub.next_reply(555))["text"]
    await stub.send_text(555, "/staff_add 556")  # but only admins manage staff
    assert "I do not know that command" in (await stub.next_reply(555))["text"]

    await stub.send_text(ADMIN, "/staff_add")
    assert "Forward a message" in (await stub.next_reply(ADMIN))["text"]
    forwarded = {"forward_origin": {"type": "user", "date": 1, "sender_user": stub.user(557)}}
    await stub.send_text(ADMIN, "hi from 557", **forwarded)
    assert "557 is now admissions staff" in (await stub.next_reply(ADMIN))["text"]
    await stub.send_text(ADMIN, "/staff_remove 555")
    assert "555 is no longer staff" in (await stub.next_reply(ADMIN))["text"]

    async def granted() -> dict[int, bool]:
        async with bot.app.database.session() as session:
            users = (await session.exec(sa.select(User))).scalars()
            return {u.id: u.staff_granted for u in users if u.id in (555, 557)}

    await eventually(granted, lambda value: value == {555: False, 557: True})
    assert (await audit_actions(bot)) == ["staff_granted", "staff_granted", "staff_revoked"]
    await stub.send_text(ADMIN, "/audit")
    log = (await stub.next_reply(ADMIN))["text"]
    assert "staff_revoked" in log and "user_id=555" in log
