"""Free text: a question goes to the knowledge base and comes back as a sourced answer.
When the router is unsure, the answer says so and offers the closest topics as buttons, and
the question is logged (text, language, time; never who asked) for staff to see."""

from __future__ import annotations

from contextlib import suppress
from functools import lru_cache

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, ReplyParameters
from sqlmodel.ext.asyncio.session import AsyncSession

from delivery.tickets import find_staff_answer
from handlers import handoff
from handlers.callbacks import FeedbackCb, SourcesCb, TopicCb
from handlers.common import profile_of, reply_long, send_long, sender, today
from handlers.filters import COMMAND, TEXT
from handlers.keyboards import (
    Keyboard,
    add_sources_button,
    add_sources_keys_button,
    hidden_sources_keys,
    topics_keyboard,
)
from handlers.scores import with_scores_buttons
from handlers.settings import HandlerSettings
from handlers.wizard import still_open_note
from i18n import I18n, Translator
from knowledge.answers import Answer
from knowledge.router import detect_language
from knowledge.schema import TOPICS
from knowledge.service import Knowledge
from storage.models import AnswerVote, UnansweredQuestion, User

# Offered when the question matched no topic well enough to name any.
POPULAR_TOPICS = ["threshold", "grant_chance", "deadlines", "quotas"]
MAX_LOGGED_TEXT = 1000
NOT_RATED = frozenset({"thanks", "goodbye", "acknowledgement"})


async def unknown_command(message: Message, t: Translator) -> None:
    await message.answer(t("errors.unknown_command"))


async def question(
    message: Message,
    user: User | None,
    lang: str,
    knowledge: Knowledge,
    session: AsyncSession,
    settings: HandlerSettings,
    i18n: I18n,
    state: FSMContext,
    raw_state: str | None = None,
) -> SendMessage | None:
    assert message.text is not None
    route, answer = await knowledge.ask_async(
        message.text, today(settings), default_lang=lang, profile=profile_of(user)
    )
    t = i18n.translator(answer.lang)
    if route.topic == "human":
        return await handoff.asked_for_person(
            message, session, state, user, t, settings, i18n, knowledge
        )
    # Asked in the middle of a wizard: the answer says (once) that the step is still waiting.
    still_open = await still_open_note(state, raw_state, t)
    if route.is_confident:
        markup = with_scores_buttons(feedback_keyboard(t, route.topic, answer), t, answer, user)
        await handoff.remember_answer(state, message.text, route.topic)
        if knowledge.router.is_sensitive(message.text, route.entities):
            await handoff.remember_question(state, message.text, "sensitive")
            markup = handoff.with_office_button(markup, t)
        return await reply_long(
            message,
            answer.html + still_open,
            # "Thanks", "bye" and "ok" are not answers anyone would rate.
            reply_markup=None if route.topic in NOT_RATED else markup,
            # The answer quotes the question, so a 👎 on it can queue the question for staff.
            reply_parameters=ReplyParameters(
                message_id=message.message_id, allow_sending_without_reply=True
            ),
        )
    # The admissions office answered this question before: their answer, with its date.
    staff_answer = await find_staff_answer(session, message.text)
    if staff_answer is not None:
        await handoff.remember_answer(state, message.text, "staff_answer")
        return await reply_long(
            message, handoff.staff_answer_text(t, staff_answer, settings.tz) + still_open
        )
    session.add(
        UnansweredQuestion(
            text=message.text[:MAX_LOGGED_TEXT],
            lang=answer.lang,
            topic_guess=route.topic,
            confidence=route.confidence,
        )
    )
    if route.topic == "out_of_scope":
        # Declined (weather, football, homework): no topic is forced on it, and nothing is
        # offered for the office; staff still see it in the unanswered list.
        return await reply_long(message, answer.html + still_open)
    await send_long(message.answer, answer.html)
    suggestions = route.alternatives()
    if route.topic not in suggestions:
        suggestions = [route.topic, *suggestions][:3]
    await handoff.remember_question(state, message.text)
    return message.answer(
        t("ask.not_sure") + still_open,
        reply_markup=handoff.with_office_button(
            topics_keyboard(t, suggestions or POPULAR_TOPICS), t
        ),
    )


async def topic_button(
    callback: CallbackQuery,
    callback_data: TopicCb,
    user: User | None,
    t: Translator,
    knowledge: Knowledge,
    settings: HandlerSettings,
) -> None:
    if callback_data.topic not in TOPICS:
        await callback.answer(t.plain("errors.stale_button"), show_alert=True)
        return
    # The language of the question the buttons were offered for, not the interface's.
    answer = knowledge.topic_answer(
        callback_data.topic, callback_data.lang, today(settings), profile_of(user)
    )
    builder = Keyboard()
    if add_sources_button(builder, t, answer):
        await send_long(sender(callback), answer.html, reply_markup=builder.as_markup())
    else:
        await send_long(sender(callback), answer.html)


def feedback_keyboard(
    t: Translator, topic: str, answer: Answer | None = None
) -> InlineKeyboardMarkup:
    return _feedback_keyboard(t, topic, hidden_sources_keys(answer) if answer else ())


# Nearly every answer carries one of these; the same few hundred are built once each (the
# markup is never changed in place: keyboards that add buttons make a new one).
@lru_cache(maxsize=1024)
def _feedback_keyboard(t: Translator, topic: str, sources: tuple[str, ...]) -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(
        text=t.plain("feedback.yes"), callback_data=FeedbackCb(topic=topic, helpful=True)
    )
    builder.button(
        text=t.plain("feedback.no"), callback_data=FeedbackCb(topic=topic, helpful=False)
    )
    if sources:
        add_sources_keys_button(builder, t, sources)
        builder.adjust(2, 1)
    return builder.as_markup()


async def show_sources(
    callback: CallbackQuery, callback_data: SourcesCb, t: Translator, knowledge: Knowledge
) -> None:
    found = [knowledge.kb.public_source(key) for key in callback_data.keys.split(".")]
    sources = [source for source in found if source is not None]
    if not sources or len(sources) != len(found):
        await callback.answer(t.plain("errors.stale_button"), show_alert=True)
        return
    await callback.answer()
    text = t("fixes.sources.title") + "\n" + knowledge.renderer.sources_list(sources, t.lang)
    await send_long(sender(callback), text)


async def vote(
    callback: CallbackQuery, callback_data: FeedbackCb, t: Translator, session: AsyncSession
) -> None:
    if callback_data.topic not in TOPICS:
        await callback.answer(t.plain("errors.stale_button"), show_alert=True)
        return
    session.add(AnswerVote(topic=callback_data.topic, lang=t.lang, helpful=callback_data.helpful))
    asked = callback.message.reply_to_message if isinstance(callback.message, Message) else None
    if not callback_data.helpful and asked is not None and asked.text:
        # A 👎 puts the question in the staff's teaching queue (still without who asked).
        session.add(
            UnansweredQuestion(
                text=asked.text[:MAX_LOGGED_TEXT],
                lang=detect_language(asked.text, default=t.lang),
                topic_guess=callback_data.topic,
                confidence=0.0,
                reason="downvoted",
            )
        )
    await callback.answer(t.plain("feedback.thanks"))
    if isinstance(callback.message, Message):
        # One vote per answer: the buttons go once pressed.
        with suppress(TelegramBadRequest):
            await callback.message.edit_reply_markup(reply_markup=None)


def build_router() -> Router:
    router = Router(name="questions")
    router.message.register(unknown_command, COMMAND)
    router.message.register(question, TEXT)
    router.callback_query.register(topic_button, TopicCb.filter())
    router.callback_query.register(vote, FeedbackCb.filter())
    router.callback_query.register(show_sources, SourcesCb.filter())
    return router
