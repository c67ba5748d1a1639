"""Free-text questions and staff knowledge commands, end to end through the stand-in Bot API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from storage.models import UnansweredQuestion
from tests.botapi_stub import StubBotAPI
from tests.conftest import RunningBot, edit_data_file, eventually
from tests.test_e2e_polling import button_data, buttons


async def unanswered_rows(bot: RunningBot) -> list[UnansweredQuestion]:
    async with bot.app.database.session() as session:
        result = await session.exec(sa.select(UnansweredQuestion))
        return list(result.scalars().all())


async def test_questions_are_answered_in_the_language_they_were_asked_in(
    stub: StubBotAPI, polling_bot: RunningBot
) -> None:
    await stub.send_text(801, "Серпін бойынша қай өңірлерге барады?", language_code="ru")
    reply = await stub.next_reply(801)
    assert "«Серпін» бағдарламасы" in reply["text"]
    assert "Павлодар облысы" in reply["text"]
    assert "<i>Дереккөз:" in reply["text"] and reply["parse_mode"] == "HTML"

    await stub.send_text(801, "у меня 95 баллов мат-инфо, пройду на грант по IT?")
    reply = await stub.next_reply(801)
    assert "Шансы на грант" in reply["text"] and "B057" in reply["text"]
    assert "проверьте на testcenter.kz" in reply["text"]  # the 2026 threshold is unconfirmed
    assert await unanswered_rows(polling_bot) == []  # confident answers are not logged


async def test_an_off_topic_question_is_declined_and_logged_without_the_user(
    stub: StubBotAPI, polling_bot: RunningBot
) -> None:
    await stub.send_text(802, "посоветуй хороший фильм на вечер", language_code="ru")
    answer = await stub.next_reply(802)
    assert "только на вопросы о поступлении" in answer["text"]
    assert buttons(answer) == []  # no topic forced on it, nothing offered for the office

    rows = await eventually(lambda: unanswered_rows(polling_bot), lambda rows: len(rows) == 1)
    assert [(r.text, r.lang, r.topic_guess) for r in rows] == [
        ("посоветуй хороший фильм на вечер", "ru", "out_of_scope")
    ]
    assert not hasattr(UnansweredQuestion, "user_id")
    await stub.send_text(802, "/help")
    await stub.next_reply(802)
    assert len(stub.texts_to(802)) == 2  # the refusal came alone, then the help


async def test_an_unclear_question_is_logged_and_offers_the_closest_topics(
    stub: StubBotAPI, polling_bot: RunningBot
) -> None:
    await stub.send_text(806, "мне нужна помощь с поступлением", language_code="ru")
    await stub.next_reply(806)  # the closest topic's answer
    offer = await stub.next_reply(806)
    assert "Не уверен" in offer["text"]
    offered = [data for _, data in buttons(offer)]
    assert "topic:documents:ru" in offered and len(offered) >= 3
    rows = await eventually(lambda: unanswered_rows(polling_bot), lambda rows: len(rows) == 1)
    assert rows[0].text == "мне нужна помощь с поступлением"

    await stub.press(806, "topic:documents:ru")
    assert "Документы" in (await stub.next_reply(806))["text"]


async def test_forged_topic_button_is_refused(stub: StubBotAPI, polling_bot: RunningBot) -> None:
    await stub.send_text(803, "/help", language_code="en")
    await stub.next_reply(803)
    await stub.press(803, "topic:drop_tables:en")
    await stub.wait_for(
        lambda calls: any(
            c.method == "answercallbackquery" and "out of date" in str(c.params.get("text"))
            for c in calls
        )
    )
    assert (
        stub.calls_to("sendMessage", chat_id=803)[-1]
        .params["text"]
        .startswith("I am <b>Talapker</b>")
    )


async def test_staff_commands_exist_only_for_staff(stub: StubBotAPI, start_polling: Any) -> None:
    bot = await start_polling(admin_ids="900")
    await stub.send_text(901, "/reload_kb", language_code="en")
    assert "I do not know that command" in (await stub.next_reply(901))["text"]
    await stub.send_text(901, "/unanswered", language_code="en")
    assert "I do not know that command" in (await stub.next_reply(901))["text"]

    await stub.send_text(900, "/reload_kb", language_code="en")
    assert "Knowledge base reloaded" in (await stub.next_reply(900))["text"]
    await stub.send_text(901, "tell me a joke")  # declined, logged
    await stub.next_reply(901)
    await stub.send_text(900, "/unanswered", language_code="en")
    listing = (await stub.next_reply(900))["text"]
    assert "tell me a joke" in listing
    assert bot is not None


async def test_a_broken_data_file_is_rejected_and_the_old_data_keeps_answering(
    stub: StubBotAPI, start_polling: Any, data_copy: Path
) -> None:
    await start_polling(admin_ids="900", knowledge_dir=str(data_copy))
    edit_data_file(
        data_copy / "unt.yaml",
        "duration_minutes: {value: 240,",
        "duration_minutes: {value: four hours,",
    )

    await stub.send_text(900, "/reload_kb", language_code="en")
    reply = (await stub.next_reply(900))["text"]
    assert "old data" in reply and "unt.yaml:" in reply
    await stub.send_text(900, "how long is the UNT")
    assert "240 minutes" in (await stub.next_reply(900))["text"]


async def test_region_names_corrected_by_staff_reach_the_buttons(
    stub: StubBotAPI, start_polling: Any, data_copy: Path
) -> None:
    await start_polling(admin_ids="900", knowledge_dir=str(data_copy))
    edit_data_file(data_copy / "regions.yaml", 'en: "Zhambyl"}', 'en: "Zhambyl (Taraz)"}')
    await stub.send_text(900, "/reload_kb", language_code="en")
    assert "Knowledge base reloaded" in (await stub.next_reply(900))["text"]

    await stub.send_text(900, "/menu")
    await stub.next_reply(900)
    await stub.press(900, "menu:serpin")
    prompt = await stub.next_reply(900)
    labels = [b["text"] for row in prompt["reply_markup"]["inline_keyboard"] for b in row]
    assert "Zhambyl (Taraz)" in labels
    await stub.press(900, "region:zhambyl")
    await stub.next_reply(900)
    await stub.send_text(900, "/menu")
    await stub.next_reply(900)
    await stub.press(900, "menu:profile")
    assert "Zhambyl Region" in (await stub.next_reply(900))["text"]


SOURCES = {
    "kk": (
        "ұбт-ны қайта тапсыруға бола ма",
        "Дереккөз:",
        "Дереккөздер (7)",
        "Осы жауаптың дереккөздері",
    ),
    "ru": ("когда можно пересдать ЕНТ", "Источник:", "Источники (7)", "Источники этого ответа"),
    "en": ("when can I retake the UNT", "Source:", "Sources (7)", "Sources for this answer"),
}


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
async def test_three_sources_under_the_answer_and_the_rest_behind_a_button(
    stub: StubBotAPI, polling_bot: RunningBot, lang: str
) -> None:
    question, label, button, title = SOURCES[lang]
    user = 806
    await stub.send_text(user, question, language_code=lang)
    reply = await stub.next_reply(user)
    while not buttons(reply):  # a long answer comes in pieces; the buttons are on the last
        reply = await stub.next_reply(user)
    line = next(row for row in reply["text"].splitlines() if label in row)
    assert line.count('<a href="https://') == 3 and "FACTS.md" not in reply["text"]
    await stub.press(user, button_data(reply, button))
    listing = (await stub.next_reply(user))["text"]
    assert title in listing and listing.count('<a href="https://') == 7
    assert "zakon.kz" in listing and "FACTS.md" not in listing and "§" not in listing
    # A forged or outdated sources button: an alert, nothing sent.
    await stub.press(user, "src:zzzzzz.000000")
    await stub.wait_for(
        lambda calls: any(
            c.method == "answercallbackquery" and c.params.get("show_alert") for c in calls
        )
    )
