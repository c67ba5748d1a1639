"""Guided journeys end to end through the stand-in Bot API: the UNT check and grant outlook,
quotas, Serpin, Keleshek, and answer feedback; with wrong input, restarts and /cancel."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from storage.models import AnswerVote
from tests.botapi_stub import StubBotAPI
from tests.conftest import RunningBot, eventually
from tests.test_e2e_polling import button_data, buttons, onboard

TEXTS = {
    "kk": {
        "pair": "Қай екі бейіндік пән",
        "numbers": "Сандарды жіберіңіз",
        "max": "ең көбі 50 балл, ал сізде 55",
        "count": "Бұл 3 сан",
        "total": "ҰБТ-ның ең жоғары балы 140",
        "target": "Қайда түсесіз?",
        "verdict": "ҰБТ нәтижесін тексеру",
        "grant": "Грант мүмкіндігі",
        "lang_button": "Қазақша",
    },
    "ru": {
        "pair": "Какие два профильных предмета",
        "numbers": "Пришлите числа",
        "max": "максимум 50 баллов, а у вас 55",
        "count": "Это 3 числа",
        "total": "Максимум ЕНТ — 140",
        "target": "Куда поступаете?",
        "verdict": "Проверка результата ЕНТ",
        "grant": "Шансы на грант",
        "lang_button": "Русский",
    },
    "en": {
        "pair": "Which two profile subjects",
        "numbers": "Please send numbers",
        "max": "at most 50 points, and you wrote 55",
        "count": "That is 3 numbers",
        "total": "The UNT maximum is 140",
        "target": "Where are you applying?",
        "verdict": "Your UNT result",
        "grant": "Grant outlook",
        "lang_button": "English",
    },
}


async def open_menu(stub: StubBotAPI, user_id: int, lang: str) -> dict[str, Any]:
    await stub.send_text(user_id, "/menu", language_code=lang)
    return await stub.next_reply(user_id)


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
async def test_unt_check_with_wrong_inputs_then_a_verdict_then_grant_chances(
    stub: StubBotAPI, polling_bot: RunningBot, lang: str
) -> None:
    text = TEXTS[lang]
    user = 1001
    await open_menu(stub, user, lang)
    await stub.press(user, "menu:unt")
    pairs = await stub.next_reply(user)
    assert text["pair"] in pairs["text"]
    await stub.press(user, button_data(pairs, "Информатика" if lang != "en" else "Informatics"))
    assert "18 8 7 42 39" in (await stub.next_reply(user))["text"]

    for wrong, expected in [
        ("abc", "numbers"),
        ("18 8 7 55 39", "max"),
        ("1 2 3", "count"),
        ("300", "total"),
    ]:
        await stub.send_text(user, wrong)
        assert text[expected] in (await stub.next_reply(user))["text"], wrong

    await stub.send_text(user, "18 8 7 42 39")
    target = await stub.next_reply(user)
    assert text["target"] in target["text"]
    assert "target:group:B057" in [data for _, data in buttons(target)]
    await stub.send_text(user, "B057")
    verdict = await stub.next_reply(user)
    assert (
        text["verdict"] in verdict["text"]
        and "114" in verdict["text"]
        and "B057" in verdict["text"]
    )
    actions = [data for _, data in buttons(verdict)]
    assert {"unt:to_grant", "unt:check_another", "menu:deadlines", "menu:ask"} <= set(actions)

    await stub.press(user, "unt:to_grant")
    outlook = await stub.next_reply(user)
    assert text["grant"] in outlook["text"] and "114" in outlook["text"]


async def test_one_by_one_entry_and_a_field_target(
    stub: StubBotAPI, polling_bot: RunningBot
) -> None:
    user = 1002
    await open_menu(stub, user, "en")
    await stub.press(user, "menu:unt")
    await stub.press(user, "pair:biology+chemistry")
    await stub.next_reply(user)
    await stub.next_reply(user)
    await stub.press(user, "unt:one_by_one")
    assert "History of Kazakhstan" in (await stub.next_reply(user))["text"]
    for value, next_part in [
        ("15", "Mathematical literacy"),
        ("12", "at most 10"),
        ("6", "Reading literacy"),
        ("7", "Biology"),
        ("35", "Chemistry"),
        ("30", None),
    ]:
        await stub.send_text(user, value)
        reply = await stub.next_reply(user)
        if next_part:
            assert next_part in reply["text"], (value, reply["text"])
            if "at most" in next_part:  # the same part is asked again after the error
                continue
    await stub.press(user, "target:field:healthcare")
    verdict = await stub.next_reply(user)
    assert (
        "Total: <b>93</b>" in verdict["text"]
        and "Healthcare" in verdict["text"]
        and "70" in verdict["text"]
    )


async def test_a_restart_in_the_middle_keeps_the_wizard(
    stub: StubBotAPI, start_polling: Any
) -> None:
    bot = await start_polling()
    user = 1003
    await open_menu(stub, user, "ru")
    await stub.press(user, "menu:grant")
    await stub.next_reply(user)
    await stub.press(user, "pair:mathematics+physics")
    await stub.next_reply(user)
    await bot.stop()  # the bot goes down between two steps

    await start_polling()
    await stub.send_text(user, "95")
    assert "Куда поступаете?" in (await stub.next_reply(user))["text"]
    await stub.press(user, "target:field:national")
    outlook = await stub.next_reply(user)
    assert (
        "Шансы на грант" in outlook["text"] and "95" in outlook["text"] and "65" in outlook["text"]
    )


async def test_cancel_leaves_the_wizard(stub: StubBotAPI, polling_bot: RunningBot) -> None:
    user = 1004
    await open_menu(stub, user, "en")
    await stub.press(user, "menu:unt")
    await stub.press(user, "pair:mathematics+physics")
    await stub.next_reply(user)
    await stub.next_reply(user)
    await stub.send_text(user, "/cancel")
    assert "Cancelled" in (await stub.next_reply(user))["text"]
    await stub.send_text(user, "what is the threshold for law")
    reply = await stub.next_reply(user)
    assert "Law" in reply["text"] and "75" in reply["text"]  # a question again, not a score step


async def test_forged_wizard_buttons_change_nothing(
    stub: StubBotAPI, polling_bot: RunningBot
) -> None:
    user = 1005
    await open_menu(stub, user, "en")
    await stub.press(user, "menu:unt")
    await stub.next_reply(user)
    await stub.press(user, "pair:alchemy+astrology")
    await stub.press(user, "target:group:B999")  # wrong step and unknown group
    await stub.wait_for(
        lambda calls: (
            sum(
                c.method == "answercallbackquery" and "out of date" in str(c.params.get("text"))
                for c in calls
            )
            >= 2
        )
    )
    await stub.press(user, "pair:mathematics+physics")  # the real step still works
    assert "18 8 7 42 39" in (await stub.next_reply(user))["text"]


QUOTA = {
    "kk": (
        "Бұл сіз туралы ма?",
        "Көпбалалы отбасылардың балалары",
        "көпбалалы отбасына берілетін жәрдемақы",
        "жалпы конкурсқа да",
    ),
    "ru": (
        "Это про вас?",
        "Дети из многодетных семей",
        "справка о получении пособия многодетной семье",
        "и в общем конкурсе",
    ),
    "en": (
        "Is this about you?",
        "Children from large families",
        "large-family allowance",
        "general competition too",
    ),
}


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
async def test_quota_questionnaire(stub: StubBotAPI, polling_bot: RunningBot, lang: str) -> None:
    ask, name, document, general = QUOTA[lang]
    user = 1006
    await open_menu(stub, user, lang)
    await stub.press(user, "menu:quotas")
    await stub.next_reply(user)  # intro
    for _ in range(20):
        question = await stub.next_reply(user)
        if ask not in question["text"]:
            break
        await stub.press(user, "quota:yes" if name in question["text"] else "quota:no")
    result = question["text"]
    assert f"{name}</b> — 5%" in result and document in result and general in result


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
async def test_quota_questionnaire_with_no_quota(
    stub: StubBotAPI, polling_bot: RunningBot, lang: str
) -> None:
    await open_menu(stub, 1011, lang)
    await stub.press(1011, "menu:quotas")
    await stub.next_reply(1011)
    await stub.next_reply(1011)
    await stub.press(1011, "quota:finish")
    none = {
        "kk": "жалпы конкурсқа қатысасыз",
        "ru": "вы участвуете в общем конкурсе",
        "en": "you compete in the general competition",
    }
    assert none[lang] in (await stub.next_reply(1011))["text"]


async def test_serpin_uses_the_profile_or_asks_for_it(
    stub: StubBotAPI, polling_bot: RunningBot
) -> None:
    await onboard(stub, 1007, "English", "Applicant", "Turkistan", "rural")
    await polling_bot.user_when(1007, lambda u: u.onboarded)
    await stub.press(1007, "menu:serpin")
    assert "you fit Serpin" in (await stub.next_reply(1007))["text"]

    await open_menu(stub, 1008, "en")  # never onboarded: no region stored
    await stub.press(1008, "menu:serpin")
    assert "Which region is your home?" in (await stub.next_reply(1008))["text"]
    await stub.press(1008, "region:zhambyl")
    assert "city or in a village" in (await stub.next_reply(1008))["text"]
    await stub.press(1008, "settle:city")
    assert "the quota is for rural school leavers" in (await stub.next_reply(1008))["text"]
    user = await polling_bot.user_when(1008, lambda u: u.settlement == "city")
    assert user.region == "zhambyl"


KELESHEK = {
    "kk": (
        "туған күнін",
        "Әрі қарай",
        "«Келешек» болжамы",
        "18 жасқа дейін",
        "Салық жеңілдігі",
        "(13,2%)",
    ),
    "ru": (
        "дату рождения",
        "Дальше",
        "Прогноз «Келешек»",
        "К 18 годам",
        "Налоговый вычет",
        "(13,2%)",
    ),
    "en": ("birth date", "Next", "Keleshek projection", "By age 18", "Tax benefit", "(13.2%)"),
}


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
async def test_keleshek_wizard_sends_a_table_and_two_charts(
    stub: StubBotAPI, polling_bot: RunningBot, lang: str
) -> None:
    prompt, next_label, title, by_18, tax, rate = KELESHEK[lang]
    user = 1009
    await open_menu(stub, user, lang)
    await stub.press(user, "menu:keleshek")
    assert prompt in (await stub.next_reply(user))["text"]
    await stub.send_text(user, "31.02.2020")
    assert "15.03.2021" in (await stub.next_reply(user))["text"]  # not a date: asked again
    await stub.send_text(user, "3")  # an age works too
    await stub.next_reply(user)
    await stub.press(user, "kel:mci:2")
    flags = await stub.next_reply(user)
    await stub.press(user, "kel:toggle:insurance")
    await stub.wait_for_calls("editMessageReplyMarkup", chat_id=user)
    await stub.press(user, button_data(flags, next_label))
    await stub.next_reply(user)
    await stub.send_text(user, "a thousand")
    assert "10000" in (await stub.next_reply(user))["text"]
    await stub.send_text(user, "150 000")
    await stub.next_reply(user)
    await stub.press(user, "kel:rate:13.2")
    result = (await stub.next_reply(user))["text"]
    assert title in result and by_18 in result and tax in result and rate in result
    photos = await stub.wait_for_calls("sendPhoto", count=2, chat_id=user)
    assert all(p.params["photo"]["size"] > 10_000 for p in photos)
    assert photos[1].params["reply_markup"]["inline_keyboard"]  # ends with deadlines / ask


START_CAPITAL = {
    "kk": ("Қалдықты білмеймін", "60 АЕК бастапқы капитал", "2025 жылғы маусымда", "нақты сома"),
    "ru": ("Не знаю остаток", "60 МРП стартового капитала", "в июне 2025 года", "точной суммы"),
    "en": ("I don't know the balance", "60 MCI start capital", "in June 2025", "exact figure"),
}


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
async def test_keleshek_without_a_balance_includes_the_start_capital_and_says_so(
    stub: StubBotAPI, polling_bot: RunningBot, lang: str
) -> None:
    unknown_label, capital, credited, exact = START_CAPITAL[lang]
    user = 1019
    await open_menu(stub, user, lang)
    await stub.press(user, "menu:keleshek")
    await stub.next_reply(user)
    await stub.send_text(user, "10.06.2020")  # turned 5 in June 2025: credited already
    await stub.next_reply(user)
    await stub.press(user, "kel:mci:2")
    flags = await stub.next_reply(user)
    await stub.press(user, button_data(flags, KELESHEK[lang][1]))
    balance = await stub.next_reply(user)
    await stub.press(user, "kel:balance:forged")  # a forged button: asked again, nothing lost
    await stub.wait_for(
        lambda calls: any(
            c.method == "answercallbackquery" and c.params.get("show_alert") for c in calls
        )
    )
    await stub.press(user, button_data(balance, unknown_label))
    await stub.next_reply(user)
    await stub.press(user, "kel:rate:8")
    result = (await stub.next_reply(user))["text"]
    assert capital in result and credited in result and exact in result
    await stub.wait_for_calls("sendPhoto", count=2, chat_id=user)


async def test_answer_feedback_is_stored_per_topic(
    stub: StubBotAPI, polling_bot: RunningBot
) -> None:
    user = 1010
    await stub.send_text(user, "квота для сирот", language_code="ru")
    answer = await stub.next_reply(user)
    # Orphan status is a sensitive topic: a person at the office is offered at once.
    assert [data for _, data in buttons(answer)] == ["fb:quotas:1", "fb:quotas:0", "office:send"]
    await stub.press(user, "fb:quotas:0")
    await stub.wait_for_calls("editMessageReplyMarkup", chat_id=user)

    async def votes() -> list[tuple[str, str, bool]]:
        async with polling_bot.app.database.session() as session:
            rows = (await session.exec(sa.select(AnswerVote))).scalars().all()
            return [(v.topic, v.lang, v.helpful) for v in rows]

    assert await eventually(votes, bool) == [("quotas", "ru", False)]


async def open_score_step(stub: StubBotAPI, user_id: int, lang: str) -> None:
    """Start a UNT check with biology + chemistry; it then waits for typed scores."""
    await open_menu(stub, user_id, lang)
    await stub.press(user_id, "menu:unt")
    await stub.next_reply(user_id)
    await stub.press(user_id, "pair:biology+chemistry")
    assert "18 8 7 42 39" in (await stub.next_reply(user_id))["text"]


@pytest.mark.parametrize(
    ("lang", "asked", "about", "still_open"),
    [
        ("en", "How long is the UNT?", "240 minutes", "still open"),
        ("ru", "Сколько длится ЕНТ?", "240", "всё ещё ждёт"),
        ("kk", "ҰБТ қанша уақытқа созылады?", "240", "әлі жауап күтіп"),
    ],
)
async def test_a_question_asked_in_the_middle_of_a_wizard_is_answered_and_the_step_waits(
    stub: StubBotAPI, polling_bot: RunningBot, lang: str, asked: str, about: str, still_open: str
) -> None:
    user = 1012
    await open_score_step(stub, user, lang)

    await stub.send_text(user, asked)
    answer = (await stub.next_reply(user))["text"]
    assert about in answer and still_open in answer
    # Not taken for a wrong score: the step continues with the next message.
    await stub.send_text(user, "18 8 7 42 39")
    assert TEXTS[lang]["target"] in (await stub.next_reply(user))["text"]


async def test_wizard_input_is_never_taken_for_a_question(
    stub: StubBotAPI, polling_bot: RunningBot
) -> None:
    """Without a question mark, text at a typed step is the step's: a wrong score is
    refused as one, even when it reads like a topic the knowledge base knows."""
    user = 1013
    await open_score_step(stub, user, "en")
    await stub.send_text(user, "UNT threshold for a grant")
    assert TEXTS["en"]["numbers"] in (await stub.next_reply(user))["text"]
