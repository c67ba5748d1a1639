"""Onboarding as a new user goes through it: people type their question before they finish
the steps, and skip what they do not want to say. Through the stand-in Bot API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.botapi_stub import StubBotAPI
from tests.conftest import RunningBot
from tests.test_e2e_journeys import open_score_step
from tests.test_e2e_polling import button_data, buttons

LANGUAGE_BUTTON = {"kk": "Қазақша", "ru": "Русский", "en": "English"}
ROLE_BUTTON = {"kk": "Талапкер", "ru": "Абитуриент", "en": "Applicant"}
REGION_PROMPT = {"kk": "Қай өңірде", "ru": "В каком регионе", "en": "Which region"}
STILL_OPEN = {"kk": "әлі жауап күтіп", "ru": "всё ещё ждёт", "en": "still open"}
USE_BUTTONS = {"kk": "батырмалардың бірін", "ru": "нажмите одну из кнопок", "en": "tap one of"}
# The three messages from the issue, as each language's speaker would type them: a question
# the knowledge base answers, a thank-you, and a question it is unsure of.
TYPED = {
    "en": ("how many points is the UNT out of?", "thanks!", "what is the passing score for B057"),
    "ru": ("из скольки баллов ЕНТ?", "спасибо!", "какой проходной балл на B057"),
    "kk": ("ҰБТ неше балдан?", "рахмет!", "B057 өту балы қанша"),
}
UNT_MAXIMUM = {"kk": "140 балл", "ru": "140 баллов", "en": "140 points"}
SKIPPED = {"kk": "Өткізілді", "ru": "Пропущено", "en": "Skipped"}
SERPIN_REGION = {
    "kk": "Сіздің өңіріңіз қайсы?",
    "ru": "Какой ваш регион?",
    "en": "Which region is your home?",
}


async def replies_to_question(stub: StubBotAPI, user_id: int, text: str) -> list[dict[str, Any]]:
    """Send `text` and read the bot's answer to it: it ends with the feedback buttons (a
    confident answer) or with topic suggestions (an unsure one)."""
    await stub.send_text(user_id, text)
    replies = [await stub.next_reply(user_id)]
    while not any(data.startswith(("fb:", "topic:")) for _, data in buttons(replies[-1])):
        replies.append(await stub.next_reply(user_id))
    return replies


async def reply_to_small_talk(stub: StubBotAPI, user_id: int, text: str) -> list[dict[str, Any]]:
    """Send `text` and read the bot's one short reply: a thank-you gets no rating buttons."""
    await stub.send_text(user_id, text)
    reply = await stub.next_reply(user_id)
    assert not buttons(reply), reply
    return [reply]


async def open_region_step(stub: StubBotAPI, user_id: int, lang: str) -> dict[str, Any]:
    await stub.send_text(user_id, "/start", language_code=lang)
    await stub.next_reply(user_id)  # welcome
    await stub.press(user_id, button_data(await stub.next_reply(user_id), LANGUAGE_BUTTON[lang]))
    await stub.press(user_id, button_data(await stub.next_reply(user_id), ROLE_BUTTON[lang]))
    region_prompt = await stub.next_reply(user_id)
    assert REGION_PROMPT[lang] in region_prompt["text"]
    return region_prompt


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
async def test_questions_typed_at_the_region_step_are_answered_and_the_step_waits(
    stub: StubBotAPI, polling_bot: RunningBot, lang: str
) -> None:
    user = 1101
    await open_region_step(stub, user, lang)
    maximum, thanks, passing_score = TYPED[lang]

    first = await replies_to_question(stub, user, maximum)
    answer = "\n".join(reply["text"] for reply in first)
    assert UNT_MAXIMUM[lang] in answer
    assert STILL_OPEN[lang] in answer  # said once, with the first answer at this step
    later = [
        *await reply_to_small_talk(stub, user, thanks),
        *await replies_to_question(stub, user, passing_score),
    ]
    texts = "\n".join(reply["text"] for reply in [*first, *later])
    assert STILL_OPEN[lang] not in "\n".join(reply["text"] for reply in later)
    assert USE_BUTTONS[lang] not in texts
    # The region list is not sent again: only answers came back.
    assert not any(data.startswith("region:") for r in [*first, *later] for _, data in buttons(r))
    # The last one is about grants: answered (its feedback buttons name the topic), or the
    # grant outlook is offered as what it may be about.
    assert {"fb:grant_chance:1", f"topic:grant_chance:{lang}"} & {
        data for _, data in buttons(later[-1])
    }

    # The step is still open: its buttons above still work, and onboarding goes on.
    await stub.press(user, "region:pavlodar")
    assert "settle:rural" in [data for _, data in buttons(await stub.next_reply(user))]
    await stub.press(user, "settle:rural")
    await stub.next_reply(user)  # done
    await stub.next_reply(user)  # main menu
    stored = await polling_bot.user_when(user, lambda u: u.onboarded)
    assert (stored.language, stored.role, stored.region, stored.settlement) == (
        lang,
        "applicant",
        "pavlodar",
        "rural",
    )


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
async def test_every_step_can_be_skipped_and_serpin_asks_for_the_region_then(
    stub: StubBotAPI, polling_bot: RunningBot, lang: str
) -> None:
    user = 1102
    await stub.send_text(user, "/start", language_code=lang)
    await stub.next_reply(user)  # welcome
    for step in ("language", "role", "region", "settlement"):
        prompt = await stub.next_reply(user)
        label, data = buttons(prompt)[-1]
        assert data == f"skip:{step}" and label.startswith("⏭")
        await stub.press(user, data)
    await stub.next_reply(user)  # done
    menu = await stub.next_reply(user)
    assert buttons(menu)[0][1] == "menu:unt"  # no role: the applicant's menu
    # Each skipped question was replaced by a note that it was skipped.
    assert sum(SKIPPED[lang] in text for text in stub.texts_to(user)) == 4
    stored = await polling_bot.user_when(user, lambda u: u.onboarded)
    assert (stored.language, stored.role, stored.region, stored.settlement) == (
        None,
        None,
        None,
        None,
    )

    # Nothing more is asked until an answer needs it: Serpin needs the home region.
    await stub.press(user, "menu:serpin")
    assert SERPIN_REGION[lang] in (await stub.next_reply(user))["text"]


async def test_a_skip_under_an_earlier_question_changes_nothing(
    stub: StubBotAPI, polling_bot: RunningBot
) -> None:
    user = 1103
    await stub.send_text(user, "/start", language_code="en")
    await stub.next_reply(user)  # welcome
    await stub.next_reply(user)  # language question
    await stub.press(user, "lang:en")
    await stub.next_reply(user)  # role question
    await stub.press(user, "skip:region")  # not the step the user is at
    await stub.wait_for(
        lambda calls: any(
            c.method == "answercallbackquery" and "out of date" in str(c.params.get("text"))
            for c in calls
        )
    )
    await stub.press(user, "role:parent")
    assert "Which region" in (await stub.next_reply(user))["text"]


async def test_the_still_open_note_comes_once_per_step_in_other_wizards_too(
    stub: StubBotAPI, polling_bot: RunningBot
) -> None:
    """The same rule at a typed UNT step: the first question's answer says the step waits,
    a second one gets its answer alone, and the next step notes it afresh."""
    user = 1104
    await open_score_step(stub, user, "en")
    first = await replies_to_question(stub, user, "How long is the UNT?")
    second = await replies_to_question(stub, user, "How many questions are on the UNT?")
    assert STILL_OPEN["en"] in first[-1]["text"] and "240 minutes" in first[-1]["text"]
    assert STILL_OPEN["en"] not in second[-1]["text"] and "120 questions" in second[-1]["text"]
    await stub.send_text(user, "18 8 7 42 39")
    assert "Where are you applying?" in (await stub.next_reply(user))["text"]
    third = await replies_to_question(stub, user, "How long is the UNT?")
    assert STILL_OPEN["en"] in third[-1]["text"]
