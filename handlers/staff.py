"""Staff-only commands. For anyone else these commands do not exist: the filter fails and
the message falls through to the ordinary "unknown command" answer."""

from __future__ import annotations

import html

import sqlalchemy as sa
from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.callbacks import TeachCb
from handlers.keyboards import Keyboard
from i18n import Translator
from knowledge.base import KnowledgeError
from knowledge.schema import TOPICS
from knowledge.service import Knowledge
from storage.models import AuditEntry, UnansweredQuestion
from storage.taught import taught_examples, teach

UNANSWERED_SHOWN = 20
# The newest questions get a message of their own with teaching buttons.
TEACH_SHOWN = 5
SUGGESTED = 3


async def staff_only(_: Message | CallbackQuery, is_staff: bool) -> bool:
    return is_staff


async def reload_knowledge(
    message: Message, t: Translator, knowledge: Knowledge, session: AsyncSession
) -> None:
    try:
        kb = knowledge.reload()
    except KnowledgeError as exc:
        await message.answer(t("staff.kb_reload_failed", error=str(exc)))
        return
    facts = [fact for _, fact in kb.facts()]
    unconfirmed = sum(fact.confidence.needs_check for fact in facts)
    # Other processes (web workers) see this entry and reload within seconds.
    assert message.from_user is not None
    session.add(AuditEntry(actor_id=message.from_user.id, action="kb_reload", details={}))
    await message.answer(t("staff.kb_reloaded", facts=len(facts), unconfirmed=unconfirmed))


async def unanswered(
    message: Message, t: Translator, session: AsyncSession, knowledge: Knowledge
) -> None:
    rows = (
        (
            await session.exec(
                sa.select(UnansweredQuestion)
                .order_by(UnansweredQuestion.created_at.desc())  # type: ignore[attr-defined]
                .limit(UNANSWERED_SHOWN)
            )
        )
        .scalars()
        .all()
    )
    if not rows:
        await message.answer(t("staff.unanswered_empty"))
        return
    lines = [t("staff.unanswered_title", count=len(rows))]
    for row in rows:
        stamp = row.created_at.strftime("%Y-%m-%d %H:%M")
        mark = "👎 " if row.reason == "downvoted" else ""
        lines.append(
            f"• <code>{stamp}</code> [{row.lang}, {row.topic_guess}?] {mark}"
            f"{html.escape(row.text[:200])}"
        )
    await message.answer("\n".join(lines))
    for row in rows[:TEACH_SHOWN]:
        assert row.id is not None
        route = await knowledge.route_async(row.text, default_lang=row.lang)
        suggested = [route.topic, *route.alternatives()] if route.topic != "out_of_scope" else []
        suggested = [topic for topic in suggested if topic != "out_of_scope"][:SUGGESTED]
        await message.answer(
            t("semantic.teach_prompt", text=row.text[:300]),
            reply_markup=teach_keyboard(t, row.id, suggested),
        )


def teach_keyboard(t: Translator, question_id: int, topics: list[str]) -> InlineKeyboardMarkup:
    """The suggested topics, "another topic…" (all of them) and "out of scope"."""
    builder = Keyboard()
    for topic in topics:
        builder.button(
            text=t.plain(f"topics.{topic}"),
            callback_data=TeachCb(question_id=question_id, topic=topic),
        )
    if len(topics) < len(TOPICS) - 1:
        builder.button(
            text=t.plain("semantic.other_topic"),
            callback_data=TeachCb(question_id=question_id, topic="*"),
        )
    builder.button(
        text=t.plain("semantic.out_of_scope"),
        callback_data=TeachCb(question_id=question_id, topic="out_of_scope"),
    )
    builder.adjust(1 if len(topics) <= SUGGESTED else 2)
    return builder.as_markup()


async def teach_button(
    callback: CallbackQuery,
    callback_data: TeachCb,
    t: Translator,
    session: AsyncSession,
    knowledge: Knowledge,
) -> None:
    topic = callback_data.topic
    if topic != "*" and topic not in TOPICS:
        await callback.answer(t.plain("errors.stale_button"), show_alert=True)
        return
    question = await session.get(UnansweredQuestion, callback_data.question_id)
    if question is None:  # taught meanwhile (by another member of staff, or the same text)
        await callback.answer(t.plain("semantic.already_taught"), show_alert=True)
        return
    message = callback.message if isinstance(callback.message, Message) else None
    if topic == "*":
        every = [name for name in TOPICS if name != "out_of_scope"]
        if message is not None:
            await message.edit_reply_markup(
                reply_markup=teach_keyboard(t, callback_data.question_id, every)
            )
        await callback.answer()
        return
    text = question.text
    await teach(session, question, topic)
    # This process answers it at once; the others pick it up with their knowledge sync.
    await knowledge.set_taught_async(await taught_examples(session))
    key = "semantic.taught_out_of_scope" if topic == "out_of_scope" else "semantic.taught"
    done = t(key, text=text[:300], topic=t.plain(f"topics.{topic}"))
    await callback.answer()
    if message is not None:
        await message.edit_text(done, reply_markup=None)


def build_router() -> Router:
    router = Router(name="staff")
    router.message.filter(staff_only)
    router.callback_query.filter(staff_only)
    router.message.register(reload_knowledge, Command("reload_kb"))
    router.message.register(unanswered, Command("unanswered"))
    router.callback_query.register(teach_button, TeachCb.filter())
    return router
