"""End to end through the stand-in Bot API server: the real aiogram client polls it, the real
dispatcher and handlers answer, the real database stores the result."""

from __future__ import annotations

from typing import Any

import pytest

from tests.botapi_stub import StubBotAPI
from tests.conftest import RunningBot


def buttons(params: dict[str, Any]) -> list[tuple[str, str]]:
    markup = params.get("reply_markup") or {}
    return [
        (b["text"], b.get("callback_data", ""))
        for row in markup.get("inline_keyboard", [])
        for b in row
    ]


def button_data(params: dict[str, Any], label_part: str) -> str:
    for text, data in buttons(params):
        if label_part in text:
            return data
    raise AssertionError(f"no button with {label_part!r} in {buttons(params)}")


async def onboard(
    stub: StubBotAPI,
    user_id: int,
    language: str,
    role_label: str,
    region_label: str,
    settlement: str | None,
) -> list[dict[str, Any]]:
    """Walk /start to the main menu by pressing buttons; returns every prompt seen."""
    seen = []
    await stub.send_text(user_id, "/start")
    await stub.next_reply(user_id)  # welcome
    prompt = await stub.next_reply(user_id)
    seen.append(prompt)
    await stub.press(user_id, button_data(prompt, language))
    prompt = await stub.next_reply(user_id)
    seen.append(prompt)
    await stub.press(user_id, button_data(prompt, role_label))
    prompt = await stub.next_reply(user_id)
    seen.append(prompt)
    await stub.press(user_id, button_data(prompt, region_label))
    if settlement is not None:
        prompt = await stub.next_reply(user_id)
        seen.append(prompt)
        await stub.press(user_id, f"settle:{settlement}")
    seen.append(await stub.next_reply(user_id))  # done
    seen.append(await stub.next_reply(user_id))  # main menu
    return seen


@pytest.mark.parametrize(
    ("language", "role", "region", "settlement", "expect"),
    [
        ("Қазақша", "Талапкер", "Түркістан", "rural", ("kk", "applicant", "turkistan", "rural")),
        ("Русский", "Родитель", "Павлодар", "city", ("ru", "parent", "pavlodar", "city")),
        ("English", "Applicant", "Almaty city", None, ("en", "applicant", "almaty", "city")),
    ],
)
async def test_onboarding_in_each_language_stores_the_profile(
    stub: StubBotAPI,
    polling_bot: RunningBot,
    language: str,
    role: str,
    region: str,
    settlement: str | None,
    expect: tuple[str, str, str, str],
) -> None:
    prompts = await onboard(stub, 501, language, role, region, settlement)

    assert (
        "Қазақша" in prompts[0]["text"]
        or "language" in prompts[0]["text"].lower()
        or "язык" in prompts[0]["text"]
    )
    assert [label for label, _ in buttons(prompts[0])][:3] == ["Қазақша", "Русский", "English"]
    # Every step can be skipped.
    assert all(buttons(prompt)[-1][1].startswith("skip:") for prompt in prompts[:-2])
    # Twenty regions offered, labelled in the chosen language.
    assert len([data for _, data in buttons(prompts[2]) if data.startswith("region:")]) == 20
    menu = prompts[-1]
    menu_actions = [data.removeprefix("menu:") for _, data in buttons(menu)]
    # The role decides the order: parents get the savings calculator first.
    first = "keleshek" if expect[1] == "parent" else "unt"
    assert menu_actions[0] == first
    assert menu_actions[-3:] == ["profile", "language", "help"]
    assert set(menu_actions) == {
        "unt",
        "grant",
        "quotas",
        "serpin",
        "deadlines",
        "keleshek",
        "ask",
        "office",
        "profile",
        "language",
        "help",
    }
    user = await polling_bot.user_when(501, lambda u: u.onboarded)
    assert (user.language, user.role, user.region, user.settlement) == expect


async def test_staff_option_only_for_admins_and_forged_staff_press_is_refused(
    stub: StubBotAPI, start_polling: Any
) -> None:
    bot = await start_polling(admin_ids="900")
    for user_id in (900, 901):
        await stub.send_text(user_id, "/start")
        await stub.next_reply(user_id)
        prompt = await stub.next_reply(user_id)
        await stub.press(user_id, button_data(prompt, "English"))
        role_prompt = await stub.next_reply(user_id)
        labels = [label for label, _ in buttons(role_prompt)]
        assert ("🏛 Admissions staff" in labels) == (user_id == 900)

    # A forged "staff" press from a non-admin is answered with an alert and changes nothing.
    await stub.press(901, "role:staff")
    await stub.wait_for(
        lambda calls: any(
            c.method == "answercallbackquery"
            and "only for admissions staff" in str(c.params.get("text"))
            for c in calls
        )
    )
    user = await bot.user(901)
    assert user is not None and user.role is None


async def test_bad_input_gets_a_friendly_answer_in_the_users_language(
    stub: StubBotAPI, polling_bot: RunningBot
) -> None:
    await stub.send_text(503, "/start", language_code="kk")
    await stub.next_reply(503)
    prompt = await stub.next_reply(503)
    await stub.press(503, button_data(prompt, "Қазақша"))
    await stub.next_reply(503)
    await stub.send_text(503, "/cancel")
    assert "Тоқтатылды" in (await stub.next_reply(503))["text"]

    await stub.send_text(
        503,
        None,
        sticker={
            "file_id": "s",
            "file_unique_id": "s",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        },
    )
    assert "мәтіндік" in (await stub.next_reply(503))["text"]

    await stub.send_text(503, "ы" * 5000)
    assert "тым ұзын (5000" in (await stub.next_reply(503))["text"]

    # Markup in user text is never echoed back as markup; the question is still answered,
    # in the language it was written in.
    await stub.send_text(503, "<b>hi</b> & hello there")
    reply = await stub.next_reply(503)
    assert reply["text"].startswith("👋 Hello!") and "<b>hi</b>" not in reply["text"]

    # An out-of-date or forged button: an alert, never a traceback, state untouched.
    await stub.press(503, "region:atlantis")
    await stub.press(503, "garbage-data")
    await stub.wait_for(
        lambda calls: (
            sum(
                c.method == "answercallbackquery" and "ескірген" in str(c.params.get("text"))
                for c in calls
            )
            >= 2
        )
    )
    user = await polling_bot.user(503)
    assert user is not None and user.region is None and user.language == "kk"


async def test_telegram_language_code_picks_the_first_reply_language(
    stub: StubBotAPI, polling_bot: RunningBot
) -> None:
    await stub.send_text(504, "/help", language_code="en")
    assert "I am <b>Talapker</b>" in (await stub.next_reply(504))["text"]
    await stub.send_text(505, "/help", language_code="de")
    assert "Я <b>Talapker</b>" in (await stub.next_reply(505))["text"]  # DEFAULT_LANGUAGE ru


async def test_start_again_marks_current_answers_and_keeps_them_unless_changed(
    stub: StubBotAPI, polling_bot: RunningBot
) -> None:
    await onboard(stub, 507, "English", "Parent", "Kostanay", "rural")
    await polling_bot.user_when(507, lambda u: u.onboarded)

    await stub.send_text(507, "/start")
    assert "Welcome back" in (await stub.next_reply(507))["text"]
    language_prompt = await stub.next_reply(507)
    assert ("✓ English", "lang:en") in buttons(language_prompt)
    await stub.press(507, "lang:en")
    role_prompt = await stub.next_reply(507)
    assert ("✓ 👨‍👩‍👧 Parent", "role:parent") in buttons(role_prompt)
    await stub.press(507, "role:applicant")  # the one answer that changes
    region_prompt = await stub.next_reply(507)
    assert ("✓ Kostanay", "region:kostanay") in buttons(region_prompt)

    # Leaving half-way keeps everything stored so far, changed or not.
    await stub.send_text(507, "/cancel")
    assert "Cancelled" in (await stub.next_reply(507))["text"]
    user = await polling_bot.user_when(507, lambda u: u.role == "applicant")
    assert (user.language, user.region, user.settlement, user.onboarded) == (
        "en",
        "kostanay",
        "rural",
        True,
    )


async def test_failure_is_apologised_for_and_the_step_is_kept(
    stub: StubBotAPI, polling_bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    await stub.send_text(506, "/start", language_code="en")
    await stub.next_reply(506)
    prompt = await stub.next_reply(506)
    await stub.press(506, button_data(prompt, "English"))
    await stub.next_reply(506)  # role question

    # The Bot API fails while the bot asks the next question: the handler raises.
    stub.fail_next["sendmessage"] = 1
    failing = await stub.press(506, "role:parent")
    apology = await stub.next_reply(506)
    assert "something went wrong on our side" in apology["text"]
    # …and the pressed button stops spinning.
    await stub.wait_for(
        lambda _: any(
            str(c.params["callback_query_id"]) == failing["callback_query"]["id"]
            for c in stub.calls_to("answerCallbackQuery")
        )
    )
    logged = f"update {failing['update_id']} failed: TelegramServerError"
    assert any(r.name == "talapker.errors" and r.getMessage() == logged for r in caplog.records)

    # The failed update was rolled back, so the same step works when the user presses again.
    user = await polling_bot.user(506)
    assert user is not None and user.role is None
    await stub.press(506, "role:parent")
    assert "Which region" in (await stub.next_reply(506))["text"]
    await polling_bot.user_when(506, lambda u: u.role == "parent")


async def test_group_chats_are_pointed_to_a_private_chat(
    stub: StubBotAPI, polling_bot: RunningBot
) -> None:
    await stub.push(stub.message_update(-100, "/start", chat_type="group"))
    reply = await stub.next_reply(-100)
    assert "личных сообщениях" in reply["text"]  # DEFAULT_LANGUAGE is ru
