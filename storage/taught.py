"""Staff-taught examples in the database, read the same way by every process: at start, after
a teach in this process, and by the periodic knowledge sync in the others."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from knowledge.semantic import Example
from storage.models import TaughtExample, UnansweredQuestion


async def taught_examples(session: AsyncSession) -> list[Example]:
    rows = (
        (await session.exec(sa.select(TaughtExample).order_by(TaughtExample.id)))  # type: ignore[arg-type]
        .scalars()
        .all()
    )
    return [Example(row.text, row.topic, row.lang, "taught") for row in rows]


async def latest_taught_id(session: AsyncSession) -> int:
    result = await session.exec(sa.select(sa.func.max(TaughtExample.id)))
    return int(result.scalar_one() or 0)


async def teach(session: AsyncSession, question: UnansweredQuestion, topic: str) -> None:
    """Label an unanswered question; the same text asked again leaves the queue with it."""
    session.add(TaughtExample(text=question.text, lang=question.lang, topic=topic))
    await session.exec(
        sa.delete(UnansweredQuestion).where(UnansweredQuestion.text == question.text)  # type: ignore[arg-type]
    )
    await session.flush()
