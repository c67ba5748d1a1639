"""Passing scores end to end through the stand-in Bot API: a free-text question, the UNT check's
grant outlook, the "show all" and rural/city school buttons, and a forged button."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from knowledge.scores_report import run_import
from tests.botapi_stub import StubBotAPI
from tests.conftest import RunningBot
from tests.test_e2e_journeys import open_menu
from tests.test_e2e_polling import button_data, buttons
from tests.test_scores import RESULTS_CSV


def _text(reply: dict[str, object]) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", str(reply["text"])))


async def test_a_free_text_question_gets_numbers_and_show_all_lists_every_university(
    stub: StubBotAPI, polling_bot: RunningBot
) -> None:
    user = 1501
    await stub.send_text(user, "проходной балл на B057 в КазНУ", language_code="ru")
    reply = await stub.next_reply(user)
    text = _text(reply)
    assert "КазНУ — минимум 100, грантов: 82" in text
    assert "минимум по стране 100 (2025: 99, 2024: 110)" in text
    assert "ориентир, а не гарантия" in text and "списки обладателей грантов" in text

    await stub.send_text(user, "passing score for B057 in 2025", language_code="en")
    short = await stub.next_reply(user)
    assert "national minimum 99" in _text(short)
    shown = _text(short).count("— minimum")
    assert shown == 5
    labels = [label for label, _ in buttons(short)]
    assert "📋 Show all universities" in labels and "👍" in labels  # feedback stays
    assert "🏡 I finished a rural school" in labels  # settlement unknown: ask once

    await stub.press(user, button_data(short, "Show all"))
    everything = _text(await stub.next_reply(user))
    assert everything.count("— minimum") > 30 and "2025" in everything
    assert "not a guarantee" in everything


async def test_unt_check_outlook_asks_rural_once_and_keeps_it(
    stub: StubBotAPI, polling_bot: RunningBot
) -> None:
    user = 1502
    await open_menu(stub, user, "en")
    await stub.press(user, "menu:grant")
    await stub.next_reply(user)
    await stub.press(user, "pair:mathematics+informatics")
    await stub.next_reply(user)
    await stub.send_text(user, "98")
    await stub.next_reply(user)
    await stub.press(user, "target:group:B057")
    outlook = await stub.next_reply(user)
    text = _text(outlook)
    assert "Grant outlook" in text and "B057" in text
    assert "🟡" in text and "(short by 2)" in text  # 98 against last year's 100: close
    assert "national minimum 100 (2025: 99, 2024: 110)" in text
    assert "Minimums change every year" in text
    labels = [label for label, _ in buttons(outlook)]
    assert {"📋 Show all universities", "🏡 I finished a rural school"} <= set(labels)
    assert "🔁 Check another score" in labels  # the wizard's own buttons stay

    await stub.press(user, button_data(outlook, "Show all"))
    everything = _text(await stub.next_reply(user))
    assert everything.count("✅") + everything.count("🟡") > text.count("✅") + text.count("🟡")
    assert "(short by 2)" in everything and "Minimums change every year" in everything

    await stub.press(user, button_data(outlook, "rural school"))
    rural = _text(await stub.next_reply(user))
    assert "rural quota: national minimum 63" in rural and "✅" in rural
    stored = await polling_bot.user_when(user, lambda u: u.settlement == "rural")
    assert stored is not None

    # Asked once: the next outlook uses the profile and does not ask again.
    await stub.send_text(user, "passing score for B058")
    again = await stub.next_reply(user)
    assert "your profile says you live in a village" in _text(again)
    assert "🏡 I finished a rural school" not in [label for label, _ in buttons(again)]


async def test_forged_scores_buttons_are_refused(stub: StubBotAPI, polling_bot: RunningBot) -> None:
    user = 1503
    await stub.send_text(user, "/help", language_code="en")
    await stub.next_reply(user)
    for forged in (
        "sc:all:group=B999:98:0:-1:-1",  # no such group
        "sc:all:pair=99+1:98:0:-1:-1",  # no such subject
        "sc:all:group=B057:300:0:-1:-1",  # not a UNT total
        "sc:rural:group=B057:98:0:1999:-1",  # a year without data
        "sc:all",  # cut short: aiogram cannot parse it, the fallback answers
        "sc:drop:group=B057:98:0:-1:-1",  # no such action
    ):
        await stub.press(user, forged)
    await stub.wait_for(
        lambda calls: (
            sum(
                c.method == "answercallbackquery" and "out of date" in str(c.params.get("text"))
                for c in calls
            )
            >= 4
        )
    )
    assert len(stub.calls_to("sendMessage", chat_id=user)) == 1  # only the /help reply
    stored = await polling_bot.user(user)
    assert stored is None or stored.settlement is None


async def test_a_year_imported_by_staff_reaches_the_running_bot_after_reload_kb(
    stub: StubBotAPI, start_polling: Any, data_copy: Path, tmp_path: Path
) -> None:
    await start_polling(admin_ids="900", knowledge_dir=str(data_copy))
    source = tmp_path / "results-2027.csv"
    source.write_text(RESULTS_CSV, encoding="utf-8")
    run_import(data_copy, source, 2027, dry_run=False)

    await stub.send_text(900, "passing score for B057", language_code="en")
    assert "Grant passing scores, 2026" in _text(await stub.next_reply(900))
    await stub.send_text(900, "/reload_kb")
    assert "Knowledge base reloaded" in _text(await stub.next_reply(900))
    await stub.send_text(900, "passing score for B057")
    fresh = _text(await stub.next_reply(900))
    assert "Grant passing scores, 2027" in fresh and "national minimum 104 (2026: 100" in fresh
