"""Staff-only commands. For anyone else these commands do not exist: the filter fails and
the message falls through to the ordinary "unknown command" answer."""

from __future__ import annotations

import html

import sqlalchemy as sa
from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from i18n import Translator
from knowledge.base import KnowledgeError
from knowledge.service import Knowledge
from storage.models import AuditEntry, UnansweredQuestion

UNANSWERED_SHOWN = 20


async def staff_only(_: Message, is_staff: bool) -> bool:
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


async def unanswered(message: Message, t: Translator, session: AsyncSession) -> None:
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
        lines.append(
            f"• <code>{stamp}</code> [{row.lang}, {row.topic_guess}?] {html.escape(row.text[:200])}"
        )
    await message.answer("\n".join(lines))


def build_router() -> Router:
    router = Router(name="staff")
    router.message.filter(staff_only)
    router.message.register(reload_knowledge, Command("reload_kb"))
    router.message.register(unanswered, Command("unanswered"))
    return router
