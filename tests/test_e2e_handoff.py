"""The hand-off to the admissions office end to end through the stand-in Bot API: a question
reaches a forum topic of the staff chat, staff answer there (text, a photo, a correction) and
the answer reaches the applicant through the outbox; restarts, blocked applicants, deleted
topics, a bot removed from the staff chat, non-staff members and forged buttons."""

from __future__ import annotations

import os
import subprocess
import threading
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from bot.config import SettingsError, load_settings
from delivery.outbox import Audience, enqueue
from handlers.handoff import next_opening
from storage.db import Database
from storage.models import (
    OutboxMessage,
    StaffAnswer,
    Ticket,
    TicketMessage,
    TicketTopic,
    User,
    utcnow,
)
from tests.botapi_stub import Call, StubBotAPI
from tests.conftest import RunningBot, eventually
from tests.test_cli import TALAPKER
from tests.test_delivery import add_users, drain
from tests.test_e2e_polling import button_data

STAFF_CHAT = -1001234
ADMIN = 900
APPLICANT = 2001
PHOTO = [{"file_id": "map1", "file_unique_id": "m1", "width": 640, "height": 480}]


async def start(start_polling: Any, stub: StubBotAPI, *, forum: bool = True) -> RunningBot:
    if forum:
        stub.forums.add(STAFF_CHAT)
    return await start_polling(admin_ids=str(ADMIN), staff_chat_id=STAFF_CHAT)


def staff_messages(stub: StubBotAPI) -> list[Call]:
    return [
        c
        for c in stub.calls
        if c.status == 200
        and c.method in ("sendmessage", "copymessage")
        and c.params.get("chat_id") == STAFF_CHAT
    ]


async def wait_staff(stub: StubBotAPI, needle: str) -> Call:
    await stub.wait_for(
        lambda _: any(needle in str(c.params.get("text")) for c in staff_messages(stub))
    )
    return next(c for c in staff_messages(stub) if needle in str(c.params.get("text")))


async def open_ticket(
    stub: StubBotAPI, user: int, question: str, lang: str = "ru", ask: str | None = None
) -> dict[str, Any]:
    """Ask for a person, send the question; returns the acknowledgement."""
    phrases = {
        "ru": "хочу поговорить с человеком",
        "kk": "адаммен сөйлесу",
        "en": "talk to a human",
    }
    await stub.send_text(user, ask or phrases[lang], language_code=lang)
    await stub.next_reply(user)  # "write your question"
    await stub.send_text(user, question)
    return await stub.next_reply(user)


async def staff_says(
    stub: StubBotAPI, text: str | None, thread: int | None, sender: int = ADMIN, **extra: Any
) -> dict[str, Any]:
    update = await stub.push(
        stub.group_message_update(STAFF_CHAT, sender, text, thread_id=thread, **extra)
    )
    return update["message"]  # type: ignore[no-any-return]


async def press_in_staff_chat(stub: StubBotAPI, user: int, data: str) -> None:
    card = next(
        c.result
        for c in reversed(stub.calls)
        if c.params.get("chat_id") == STAFF_CHAT
        and isinstance(c.result, dict)
        and data in str(c.result.get("reply_markup"))
    )
    await stub.push(stub.callback_update(user, data, card))


async def ticket(bot: RunningBot, ticket_id: int = 1) -> Ticket | None:
    async with bot.app.database.session() as session:
        return await session.get(Ticket, ticket_id)


@pytest.mark.parametrize(
    ("lang", "ask", "expected"),
    [
        ("ru", "хочу поговорить с человеком", "приёмной комиссии"),
        ("kk", "адаммен сөйлесу", "Қабылдау комиссиясына"),
        ("en", "talk to a human", "admissions office"),
        ("ru", "позовите оператора", "приёмной комиссии"),
    ],
)
async def test_asking_for_a_person_in_any_language_opens_the_hand_off(
    stub: StubBotAPI, start_polling: Any, lang: str, ask: str, expected: str
) -> None:
    await start(start_polling, stub)
    await stub.send_text(APPLICANT, ask, language_code=lang)
    assert expected in (await stub.next_reply(APPLICANT))["text"]


async def test_asking_for_a_person_with_the_question_sends_it_at_once(
    stub: StubBotAPI, start_polling: Any
) -> None:
    await start(start_polling, stub)
    asked = "адаммен сөйлесу керек, жатақхана туралы сұрағым бар"
    await stub.send_text(APPLICANT, asked, language_code="kk")
    assert "№1 сұрағыңыз" in (await stub.next_reply(APPLICANT))["text"]
    card = await wait_staff(stub, "Обращение №1")
    assert "жатақхана" in card.params["text"] and "Қазақша" in card.params["text"]


async def test_question_and_answers_both_ways_through_a_topic(
    stub: StubBotAPI, start_polling: Any
) -> None:
    bot = await start(start_polling, stub)
    ack = await open_ticket(stub, APPLICANT, "Можно ли отправить документы почтой?")
    assert "№1" in ack["text"] and "Asia/Almaty" in ack["text"]

    topic = (await stub.wait_for_calls("createForumTopic"))[0]
    thread = topic.result["message_thread_id"]
    card = await wait_staff(stub, "Обращение №1")
    assert card.params["message_thread_id"] == thread
    assert "почтой" in card.params["text"] and "Русский" in card.params["text"]
    assert "tk:close:1" in str(card.params["reply_markup"])

    async def mapping() -> TicketTopic | None:
        async with bot.app.database.session() as session:
            return await session.get(TicketTopic, APPLICANT)

    await eventually(mapping, lambda m: m is not None and m.thread_id == thread)

    # Staff answer in the topic: a copy reaches the applicant, with 👍/👎.
    await staff_says(stub, "Да, можно: заказным письмом.", thread)
    await stub.wait_for_calls("copyMessage", chat_id=APPLICANT)
    reply = stub.copies_to(APPLICANT)[0]
    assert reply["text"] == "Да, можно: заказным письмом."
    assert "tk:up:1" in str(reply["reply_markup"])

    # What the applicant writes now goes to the topic.
    await stub.send_text(APPLICANT, "Спасибо! А на какой адрес?")
    assert "Передано" in (await stub.next_reply(APPLICANT))["text"]
    await stub.wait_for_calls("copyMessage", chat_id=STAFF_CHAT)
    relayed = stub.calls_to("copyMessage", chat_id=STAFF_CHAT)[0]
    assert relayed.params["message_thread_id"] == thread
    assert stub.copies_to(STAFF_CHAT)[0]["text"] == "Спасибо! А на какой адрес?"

    # A photo answer stays a photo.
    await staff_says(stub, None, thread, photo=PHOTO, caption="Адрес на карте")
    await stub.wait_for(lambda _: len(stub.copies_to(APPLICANT)) == 2)
    photo = stub.copies_to(APPLICANT)[1]
    assert photo["photo"] == PHOTO and photo["caption"] == "Адрес на карте"

    figures = (await bot.app.metrics.exposition(bot.app.database)).decode()
    assert "talapker_open_tickets 1.0" in figures
    assert "talapker_ticket_first_reply_seconds_count 1.0" in figures

    # The queue shows who took it; the applicant rates the answer.
    await staff_says(stub, "/tickets", None)
    queue = await wait_staff(stub, "Открытые обращения")
    assert "№1" in queue.params["text"] and "User900" in queue.params["text"]
    await stub.press(APPLICANT, "tk:up:1")
    await eventually(lambda: ticket(bot), lambda t: t is not None and t.helpful is True)
    await wait_staff(stub, "Абитуриенту помог ответ по обращению №1")

    # Staff close it: the applicant is told (through the outbox), the topic is closed.
    await press_in_staff_chat(stub, ADMIN, "tk:close:1")
    closed = await stub.next_reply(APPLICANT, timeout=15)
    assert "закрыла ваш вопрос №1" in closed["text"]
    await stub.wait_for_calls("closeForumTopic")
    assert stub.topics[(STAFF_CHAT, thread)]["closed"]

    # Exactly once, in order: two replies, then the notice.
    async def statuses() -> list[str]:
        async with bot.app.database.session() as session:
            return list(
                (
                    await session.exec(sa.select(OutboxMessage.status).order_by(OutboxMessage.id))
                ).scalars()
            )

    await eventually(statuses, lambda value: value == ["sent", "sent", "sent"])
    assert len(stub.calls_to("copyMessage", chat_id=APPLICANT)) == 2


async def test_a_restart_mid_ticket_loses_nothing(stub: StubBotAPI, start_polling: Any) -> None:
    bot = await start(start_polling, stub)
    await open_ticket(stub, APPLICANT, "Есть ли общежитие?")
    thread = (await stub.wait_for_calls("createForumTopic"))[0].result["message_thread_id"]
    await bot.stop()

    await start(start_polling, stub)
    await staff_says(stub, "Да, для иногородних.", thread)
    await stub.wait_for_calls("copyMessage", chat_id=APPLICANT)
    assert stub.copies_to(APPLICANT)[0]["text"] == "Да, для иногородних."
    await stub.send_text(APPLICANT, "А сколько стоит?")
    await stub.wait_for_calls("copyMessage", chat_id=STAFF_CHAT)
    assert stub.copies_to(STAFF_CHAT)[0]["text"] == "А сколько стоит?"
    assert len(stub.calls_to("createForumTopic")) == 1  # the same topic after the restart


async def test_a_blocked_applicant_is_reported_in_the_topic(
    stub: StubBotAPI, start_polling: Any
) -> None:
    bot = await start(start_polling, stub)
    await open_ticket(stub, APPLICANT, "Когда будут результаты?", lang="en", ask="talk to a human")
    thread = (await stub.wait_for_calls("createForumTopic"))[0].result["message_thread_id"]
    stub.blocked_chats.add(APPLICANT)
    await staff_says(stub, "Results come out on 15 July.", thread)
    note = await wait_staff(stub, "заблокировал бота")  # the staff chat speaks DEFAULT_LANGUAGE
    assert note.params["message_thread_id"] == thread
    assert (await ticket(bot)).status == "open"  # type: ignore[union-attr]


async def test_an_edited_staff_reply_is_corrected_for_the_applicant(
    stub: StubBotAPI, start_polling: Any
) -> None:
    await start(start_polling, stub)
    await open_ticket(stub, APPLICANT, "What is the threshold for medicine?", lang="en")
    thread = (await stub.wait_for_calls("createForumTopic"))[0].result["message_thread_id"]
    written = await staff_says(stub, "It is 65 points.", thread)
    copy_call = (await stub.wait_for_calls("copyMessage", chat_id=APPLICANT))[0]
    await stub.edit(written, text="It is 70 points.")
    edit = (await stub.wait_for_calls("editMessageText", chat_id=APPLICANT))[0]
    assert edit.params["text"] == "It is 70 points."
    assert edit.params["message_id"] == copy_call.result["message_id"]


async def test_an_applicant_correction_reaches_the_topic(
    stub: StubBotAPI, start_polling: Any
) -> None:
    await start(start_polling, stub)
    await open_ticket(stub, APPLICANT, "Нужен ли аттестат?")
    await wait_staff(stub, "Обращение №1")
    written = (await stub.send_text(APPLICANT, "И справка 063?"))["message"]
    copy = (await stub.wait_for_calls("copyMessage", chat_id=STAFF_CHAT))[0]
    await stub.edit(written, text="И справка 086?")
    edit = (await stub.wait_for_calls("editMessageText", chat_id=STAFF_CHAT))[0]
    assert edit.params["text"] == "И справка 086?"
    assert edit.params["message_id"] == copy.result["message_id"]


async def test_outside_office_hours_the_applicant_learns_when_it_opens(
    stub: StubBotAPI, start_polling: Any
) -> None:
    hour = datetime.now(ZoneInfo("Asia/Almaty")).hour
    start_hour = hour + 1 if hour < 22 else 1  # an office that is closed right now
    stub.forums.add(STAFF_CHAT)
    await start_polling(
        admin_ids=str(ADMIN),
        staff_chat_id=STAFF_CHAT,
        office_hours=f"{start_hour}-{start_hour + 1}",
    )
    ack = await open_ticket(stub, APPLICANT, "When do you answer?", lang="en")
    assert "The office is closed now; it opens" in ack["text"]
    assert f"at {start_hour:02d}:00 (Asia/Almaty time" in ack["text"]


def test_office_hours_and_reminder_settings_are_checked() -> None:
    for bad in ({"office_hours": "18-9"}, {"office_hours": "nine"}, {"ticket_remind_hours": 0}):
        with pytest.raises(SettingsError) as error:
            load_settings(**bad)
        assert str(error.value).startswith(next(iter(bad)).upper())
    assert load_settings(office_hours="8-17").office_hours_range == (8, 17)


async def test_a_member_who_is_not_staff_cannot_answer(
    stub: StubBotAPI, start_polling: Any
) -> None:
    await start(start_polling, stub)
    await open_ticket(stub, APPLICANT, "Можно ли поступить без ЕНТ?")
    thread = (await stub.wait_for_calls("createForumTopic"))[0].result["message_thread_id"]
    await staff_says(stub, "Нельзя, приходите в следующем году", thread, sender=555)
    warning = await wait_staff(stub, "не ушло абитуриенту")
    assert warning.params["message_thread_id"] == thread
    await staff_says(stub, None, thread, dice={"emoji": "🎲", "value": 3})
    await wait_staff(stub, "нельзя передать абитуриенту")
    await staff_says(stub, None, thread, forum_topic_edited={"name": "renamed"})  # service
    await staff_says(stub, "Можно по результатам вузовского теста.", thread)  # a real admin
    await stub.wait_for_calls("copyMessage", chat_id=APPLICANT)
    assert [m["text"] for m in stub.copies_to(APPLICANT)] == [
        "Можно по результатам вузовского теста."
    ]


async def test_a_group_without_topics_works_by_reply(stub: StubBotAPI, start_polling: Any) -> None:
    await start(start_polling, stub, forum=False)
    await open_ticket(stub, APPLICANT, "Нужна ли медицинская справка 086?")
    card = await wait_staff(stub, "Обращение №1")
    assert card.params.get("message_thread_id") is None
    await staff_says(stub, "Да, форма 086-У.", None, reply_to=card.result)
    await stub.wait_for_calls("copyMessage", chat_id=APPLICANT)
    assert stub.copies_to(APPLICANT)[0]["text"] == "Да, форма 086-У."
    await staff_says(stub, "Просто сообщение в чате", None)  # no reply: not for anyone
    await stub.send_text(APPLICANT, "Спасибо")
    await stub.wait_for_calls("copyMessage", chat_id=STAFF_CHAT)
    assert len(stub.calls_to("copyMessage", chat_id=APPLICANT)) == 1


async def test_deleted_topic_and_removed_bot_lose_nothing(
    stub: StubBotAPI, start_polling: Any
) -> None:
    bot = await start(start_polling, stub)
    stub.kicked_chats.add(STAFF_CHAT)
    ack = await open_ticket(stub, APPLICANT, "Какие льготы для сирот?")
    assert "№1" in ack["text"]  # the applicant is answered even so
    await stub.send_text(APPLICANT, "И для детей с инвалидностью?")
    await stub.next_reply(APPLICANT)
    assert (await ticket(bot)).card_message_id is None  # type: ignore[union-attr]

    stub.kicked_chats.clear()  # the bot is added back: what waited is posted at once
    bot_user = {"id": stub.bot_id, "is_bot": True, "first_name": "Talapker"}
    await stub.push(
        {
            "my_chat_member": {
                "chat": {"id": STAFF_CHAT, "type": "supergroup", "is_forum": True},
                "from": stub.user(ADMIN),
                "date": 1,
                "old_chat_member": {"status": "left", "user": bot_user},
                "new_chat_member": {"status": "member", "user": bot_user},
            }
        }
    )
    card = await wait_staff(stub, "Обращение №1")
    thread = card.params["message_thread_id"]
    await stub.wait_for(lambda _: len(stub.copies_to(STAFF_CHAT)) == 1)
    assert [m["text"] for m in stub.copies_to(STAFF_CHAT)] == ["И для детей с инвалидностью?"]

    # The topic is deleted by a staff member: the next message opens a new one.
    stub.deleted_topics.add((STAFF_CHAT, thread))
    await stub.send_text(APPLICANT, "Жду ответа")
    await stub.next_reply(APPLICANT)
    recreated = await wait_staff(stub, "♻️")
    assert recreated.params["message_thread_id"] != thread
    await stub.wait_for(lambda _: len(stub.copies_to(STAFF_CHAT)) == 2)
    assert stub.copies_to(STAFF_CHAT)[1]["text"] == "Жду ответа"


async def test_forged_buttons_and_the_ticket_limit(stub: StubBotAPI, start_polling: Any) -> None:
    bot = await start(start_polling, stub)
    await open_ticket(stub, APPLICANT, "Вопрос один")
    other = 2002
    await stub.send_text(other, "/menu", language_code="ru")
    await stub.next_reply(other)
    await stub.press(other, "tk:up:1")  # someone else's ticket
    await stub.press(other, "tk:close:1")  # a staff button, from a private chat
    await stub.wait_for(
        lambda calls: (
            sum(
                c.method == "answercallbackquery" and "устарела" in str(c.params.get("text"))
                for c in calls
            )
            >= 2
        )
    )
    found = await ticket(bot)
    assert found is not None and found.status == "open" and found.helpful is None

    for number in (2, 3):
        await stub.press(APPLICANT, "menu:office")
        await stub.next_reply(APPLICANT)
        await stub.send_text(APPLICANT, f"Вопрос {number}")
        await stub.next_reply(APPLICANT)
    await stub.press(APPLICANT, "menu:office")
    await stub.next_reply(APPLICANT)
    await stub.send_text(APPLICANT, "Вопрос четыре")
    assert "максимум открытых вопросов" in (await stub.next_reply(APPLICANT))["text"]


async def test_unsure_answer_offers_the_office_and_a_saved_answer_serves_the_next_person(
    stub: StubBotAPI, start_polling: Any
) -> None:
    bot = await start(start_polling, stub)
    question = "сколько стоит общежитие"
    await stub.send_text(APPLICANT, question, language_code="ru")
    await stub.next_reply(APPLICANT)  # the bot's best guess
    offer = await stub.next_reply(APPLICANT)
    await stub.press(APPLICANT, button_data(offer, "Отправить вопрос"))
    assert "№1" in (await stub.next_reply(APPLICANT))["text"]
    card = await wait_staff(stub, "Обращение №1")
    assert "нет уверенного ответа" in card.params["text"] and question in card.params["text"]

    thread = card.params["message_thread_id"]
    await staff_says(stub, "Да, прозрачную бутылку без этикетки.", thread)
    await stub.wait_for_calls("copyMessage", chat_id=APPLICANT)
    await press_in_staff_chat(stub, ADMIN, "tk:save:1")
    await wait_staff(stub, "сохранён как ответ")

    async def answers() -> list[StaffAnswer]:
        async with bot.app.database.session() as session:
            return list((await session.exec(sa.select(StaffAnswer))).scalars())

    [saved] = await eventually(answers, lambda rows: len(rows) == 1)
    assert saved.source == "admissions office" and saved.answer.startswith("Да, прозрачную")

    # Someone else asks the same, spelt differently: the office's answer, with its date.
    await stub.send_text(2003, "Сколько стоит ОБЩЕЖИТИЕ?", language_code="ru")
    answer = (await stub.next_reply(2003))["text"]
    assert "Ответ приёмной комиссии" in answer and "прозрачную бутылку" in answer
    assert utcnow().strftime("%Y") in answer


async def test_sensitive_topics_offer_a_person_at_once(
    stub: StubBotAPI, start_polling: Any
) -> None:
    await start(start_polling, stub)
    await stub.send_text(APPLICANT, "какая квота для сирот на грант", language_code="ru")
    answer = await stub.next_reply(APPLICANT)
    await stub.press(APPLICANT, button_data(answer, "Отправить вопрос"))
    await stub.next_reply(APPLICANT)
    card = await wait_staff(stub, "Обращение №1")
    assert "деликатная тема" in card.params["text"]


async def test_cancel_forget_and_the_reminder(stub: StubBotAPI, start_polling: Any) -> None:
    bot = await start(start_polling, stub)
    await open_ticket(stub, APPLICANT, "Первый вопрос")
    await stub.send_text(APPLICANT, "/cancel")
    assert "Вопрос №1 закрыт" in (await stub.next_reply(APPLICANT))["text"]
    await wait_staff(stub, "закрыл обращение №1")
    await eventually(lambda: ticket(bot), lambda found: found.status == "closed")

    await open_ticket(stub, APPLICANT, "Второй вопрос")
    await wait_staff(stub, "Обращение №2")
    await eventually(lambda: ticket(bot, 2), lambda found: found is not None)
    async with bot.app.database.session() as session:
        waiting = await session.get(Ticket, 2)
        assert waiting is not None
        waiting.created_at = utcnow() - timedelta(hours=5)
        await session.commit()
    await bot.app.reminders.ticket_sweep()  # type: ignore[misc]
    await wait_staff(stub, "ждёт ответа уже 5 ч")
    await bot.app.reminders.ticket_sweep()  # type: ignore[misc]
    reminders = [c for c in staff_messages(stub) if "ждёт ответа" in str(c.params.get("text"))]
    assert len(reminders) == 2  # in the topic and in General, once

    await stub.send_text(APPLICANT, "/forget")
    prompt = await stub.next_reply(APPLICANT)
    await stub.press(APPLICANT, button_data(prompt, "Да"))
    await stub.next_reply(APPLICANT)
    await wait_staff(stub, "/forget")

    async def left() -> tuple[int, int, int, User | None]:
        async with bot.app.database.session() as session:
            counts = [
                (await session.exec(sa.select(sa.func.count()).select_from(table))).scalar_one()
                for table in (Ticket, TicketMessage, TicketTopic)
            ]
            return (*counts, await session.get(User, APPLICANT))  # type: ignore[return-value]

    await eventually(left, lambda value: value == (0, 0, 0, None))


@pytest.mark.parametrize(
    ("now", "opens"),
    [
        (datetime(2026, 12, 2, 10, 30), None),  # Wednesday, open
        (datetime(2026, 12, 1, 8, 0), datetime(2026, 12, 1, 9, 0)),  # Tuesday, before nine
        (datetime(2026, 12, 4, 19, 0), datetime(2026, 12, 7, 9, 0)),  # Friday evening
        (datetime(2026, 12, 5, 12, 0), datetime(2026, 12, 7, 9, 0)),  # Saturday
        (datetime(2026, 12, 3, 18, 0), datetime(2026, 12, 4, 9, 0)),  # Thursday at closing
    ],
)
def test_when_the_office_opens(now: datetime, opens: datetime | None) -> None:
    assert next_opening(now, (9, 18)) == opens


def talapker(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WEBHOOK_", "DATABASE_"))
    }
    return subprocess.run(
        [TALAPKER, *args],
        env=clean | {"DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_loop_without_telegram(database_url: str) -> None:
    """An applicant asks in the console chat; staff list, read and answer with
    `talapker tickets`; the answer appears in the console chat."""
    chat = subprocess.run(
        [TALAPKER, "chat", "--lang", "en"],
        input="talk to a human\nIs there a dormitory?\n",
        env={k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
        | {"DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Your question #1 is with the admissions office" in chat.stdout, chat.stderr
    listed = talapker(database_url, "tickets", "list")
    assert "#1" in listed.stdout and "Is there a dormitory?" in listed.stdout
    assert "1 open" in listed.stdout
    replied = talapker(
        database_url, "tickets", "reply", "1", "Yes, for students from other cities."
    )
    assert replied.returncode == 0 and "queued" in replied.stdout
    assert talapker(database_url, "tickets", "reply", "7", "x").returncode == 1

    # The console chat's sender delivers it while the chat is open.
    console = subprocess.Popen(
        [TALAPKER, "chat", "--lang", "en"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
        | {"DATABASE_URL": database_url},
    )
    assert console.stdout is not None and console.stdin is not None
    seen = []
    # Should the answer never come, the chat is ended and the assertion below fails.
    watchdog = threading.Timer(30, console.kill)
    watchdog.start()
    for line in console.stdout:
        seen.append(line)
        if "for students from other cities" in line:
            break
    watchdog.cancel()
    console.stdin.close()
    console.wait(timeout=60)
    assert any("for students from other cities" in line for line in seen)
    shown = talapker(database_url, "tickets", "show", "1")
    assert "office: Yes, for students from other cities." in shown.stdout
    closed = talapker(database_url, "tickets", "reply", "1", "--close")
    assert "closed" in closed.stdout
    assert "0 open" in talapker(database_url, "tickets", "list").stdout


async def test_ticket_replies_reach_the_applicant_in_order_even_when_one_is_retried(
    stub: StubBotAPI, database: Database
) -> None:
    """A conversation's messages wait for an earlier one that is being retried."""
    [user] = await add_users(database, 1)
    for text in ("one", "two", "three"):
        await enqueue(
            database,
            kind="ticket",
            texts={"*": text},
            audience=Audience(user_ids=(user,), active_only=False),
        )
    stub.fail_next["sendmessage"] = 1  # "one" meets a 500 and is retried after a backoff
    await drain(stub, database, rate=100)
    assert stub.texts_to(user) == ["one", "two", "three"]


async def test_a_returning_applicant_s_answers_reach_the_card_and_their_visit_is_noted(
    stub: StubBotAPI, start_polling: Any
) -> None:
    """Questions answered by the bot are kept in the conversation record and shown on the card
    when the person later asks for someone, and a person back after a day is active again. On
    PostgreSQL both are written over the update's bare transaction, not the ORM session."""
    bot = await start(start_polling, stub)
    day_ago = utcnow() - timedelta(days=1)
    async with bot.app.database.session() as session:
        session.add(
            User(
                id=APPLICANT,
                language="ru",
                role="applicant",
                region="turkistan",
                settlement="rural",
                onboarded=True,
                is_active=False,
                created_at=day_ago,
                last_seen_at=day_ago,
            )
        )
        await session.commit()
    await stub.send_text(APPLICANT, "какой пороговый балл для участия в конкурсе на грант")
    assert "балл" in (await stub.next_reply(APPLICANT))["text"]
    back = await bot.user_when(APPLICANT, lambda u: u.last_seen_at > day_ago + timedelta(hours=1))
    assert back.is_active and back.region == "turkistan" and back.language == "ru"
    await stub.send_text(APPLICANT, "какие документы нужны для поступления")
    await stub.next_reply(APPLICANT)
    await open_ticket(stub, APPLICANT, "а общежитие дают первокурсникам?")
    card = await wait_staff(stub, "Обращение №1")
    assert "пороговый балл" in card.params["text"], card.params["text"]
    assert "какие документы нужны" in card.params["text"]
