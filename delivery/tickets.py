"""Tickets: questions handed to the admissions office, and the office's answers coming back.

The storage side of the hand-off, shared by the Telegram handlers (handlers/handoff.py), the
scheduler's reminder and the `talapker tickets` command. A staff reply goes to the applicant
through the outbox like every other message to a user: rate limited, exactly once (the
campaign's dedupe key is the staff message), in order (the outbox sends a ticket's replies to
one person one after another)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from delivery.outbox import IN_ORDER_KIND, Audience, enqueue
from knowledge.text import words
from storage.db import Database
from storage.models import (
    OutboxMessage,
    OutboxStatus,
    StaffAnswer,
    Ticket,
    TicketMessage,
    TicketStatus,
    TicketTopic,
    User,
    utcnow,
)

MAX_OPEN_TICKETS = 3
MAX_QUESTION = 1000
STAFF_ANSWER_SOURCE = "admissions office"
IN_FLIGHT_CHECKS = 20
IN_FLIGHT_PAUSE = 0.1  # seconds


class TicketLimitReached(Exception):
    """The applicant already has MAX_OPEN_TICKETS open."""


def normalise(text: str) -> str:
    """The same question however it is spelt: the knowledge base's folded words."""
    return " ".join(words(text))[:MAX_QUESTION]


# ------------------------------------------------------------------ tickets
async def open_tickets(session: AsyncSession, user_id: int) -> list[Ticket]:
    return list(
        (
            await session.exec(
                sa.select(Ticket)
                .where(Ticket.user_id == user_id, Ticket.status == TicketStatus.OPEN)
                .order_by(Ticket.id)  # type: ignore[arg-type]
            )
        ).scalars()
    )


async def create_ticket(
    session: AsyncSession,
    user: User,
    question: str,
    lang: str,
    reason: str,
    context: dict[str, Any] | None = None,
) -> Ticket:
    """Open a ticket; it becomes the one the applicant's messages go to."""
    if len(await open_tickets(session, user.id)) >= MAX_OPEN_TICKETS:
        raise TicketLimitReached
    ticket = Ticket(
        user_id=user.id,
        question=question[:MAX_QUESTION],
        lang=lang,
        reason=reason,
        context=context or {},
    )
    session.add(ticket)
    await session.flush()
    user.open_ticket_id = ticket.id
    return ticket


async def topic_of(session: AsyncSession, user_id: int) -> TicketTopic | None:
    return await session.get(TicketTopic, user_id)


async def ticket_in_thread(session: AsyncSession, chat_id: int, thread_id: int) -> Ticket | None:
    """The open ticket (the newest) of the applicant whose topic this is."""
    topic = (
        await session.exec(
            sa.select(TicketTopic).where(
                TicketTopic.chat_id == chat_id, TicketTopic.thread_id == thread_id
            )
        )
    ).scalar_one_or_none()
    if topic is None:
        return None
    tickets = await open_tickets(session, topic.user_id)
    return tickets[-1] if tickets else None


async def ticket_of_staff_message(
    session: AsyncSession, chat_id: int, message_id: int
) -> Ticket | None:
    """The ticket a message in the staff chat belongs to: its card, or a message the bot
    copied there from the applicant (for replies in a group without topics)."""
    ticket = (
        await session.exec(
            sa.select(Ticket).where(
                Ticket.staff_chat_id == chat_id, Ticket.card_message_id == message_id
            )
        )
    ).scalar_one_or_none()
    if ticket is not None:
        return ticket
    return (
        await session.exec(
            sa.select(Ticket)
            .join(TicketMessage, TicketMessage.ticket_id == Ticket.id)
            .where(
                TicketMessage.direction == "in",
                TicketMessage.copy_message_id == message_id,
                Ticket.staff_chat_id == chat_id,
            )
        )
    ).scalar_one_or_none()


async def record_incoming(
    session: AsyncSession, ticket: Ticket, chat_id: int, message_id: int, text: str | None
) -> TicketMessage:
    """An applicant's message for the staff chat, kept before it is copied there, so a
    copy that fails (the bot removed from the chat) is retried, not lost. Its text is kept
    for `talapker tickets show` (answering without Telegram). An update Telegram delivers
    twice finds its row already there."""
    existing = await incoming(session, chat_id, message_id)
    if existing is not None:
        return existing
    row = TicketMessage(
        ticket_id=ticket.id or 0,
        direction="in",
        chat_id=chat_id,
        message_id=message_id,
        text=(text or "")[:4096] or None,
    )
    session.add(row)
    await session.flush()
    return row


async def incoming(session: AsyncSession, chat_id: int, message_id: int) -> TicketMessage | None:
    """An applicant's message already taken for a ticket (to pass on their correction)."""
    return (
        await session.exec(
            sa.select(TicketMessage).where(
                TicketMessage.direction == "in",
                TicketMessage.chat_id == chat_id,
                TicketMessage.message_id == message_id,
            )
        )
    ).scalar_one_or_none()


async def unforwarded(session: AsyncSession) -> list[tuple[TicketMessage, Ticket]]:
    """Applicant messages of open tickets not yet copied to the staff chat, oldest first."""
    rows = await session.exec(
        sa.select(TicketMessage, Ticket)
        .join(Ticket, Ticket.id == TicketMessage.ticket_id)
        .where(
            TicketMessage.direction == "in",
            TicketMessage.copy_message_id.is_(None),  # type: ignore[union-attr]
            Ticket.status == TicketStatus.OPEN,
        )
        .order_by(TicketMessage.id)  # type: ignore[arg-type]
    )
    return [(message, ticket) for message, ticket in rows.all()]


async def unposted(session: AsyncSession) -> list[Ticket]:
    """Open tickets whose card never reached the staff chat."""
    return list(
        (
            await session.exec(
                sa.select(Ticket)
                .where(Ticket.status == TicketStatus.OPEN, Ticket.card_message_id.is_(None))  # type: ignore[union-attr]
                .order_by(Ticket.id)  # type: ignore[arg-type]
            )
        ).scalars()
    )


@dataclass(frozen=True)
class StaffReply:
    chat_id: int
    message_id: int
    staff_id: int | None
    staff_name: str | None
    text: str | None  # HTML of the text or caption; None for a bare photo


async def queue_reply(
    database: Database,
    session: AsyncSession,
    ticket: Ticket,
    reply: StaffReply,
    *,
    copy: bool = True,
    reply_markup: dict[str, Any] | None = None,
) -> bool:
    """Send a staff reply to the applicant through the outbox: a copy of the staff message
    (`copy`), or its text (from the console). False if this message was queued before (an
    update Telegram delivered twice)."""
    campaign, created = await enqueue(
        database,
        kind=IN_ORDER_KIND,
        texts={"*": reply.text or ""},
        audience=Audience(user_ids=(ticket.user_id,), active_only=False),
        dedupe_key=f"ticket:{reply.chat_id}:{reply.message_id}",
        copy_from=(reply.chat_id, reply.message_id) if copy else None,
        reply_markup=reply_markup,
        created_by=reply.staff_id,
    )
    if not created:
        return False
    session.add(
        TicketMessage(
            ticket_id=ticket.id or 0,
            direction="out",
            chat_id=reply.chat_id,
            message_id=reply.message_id,
            outbox_campaign_id=campaign.id,
            text=(reply.text or "")[:4096] or None,
            staff_id=reply.staff_id,
        )
    )
    if ticket.first_reply_at is None:
        ticket.first_reply_at = utcnow()
    if ticket.taken_by_name is None and reply.staff_name:
        ticket.taken_by, ticket.taken_by_name = reply.staff_id, reply.staff_name[:64]
    return True


async def queue_notice(database: Database, ticket: Ticket, text: str, *, key: str) -> None:
    """A message from the bot to the applicant about their ticket (closed, …), in order
    with the staff replies."""
    await enqueue(
        database,
        kind=IN_ORDER_KIND,
        texts={"*": text},
        audience=Audience(user_ids=(ticket.user_id,), active_only=False),
        dedupe_key=f"ticket-notice:{ticket.id}:{key}",
    )


async def delivered_copy(
    database: Database, session: AsyncSession, chat_id: int, message_id: int
) -> tuple[TicketMessage, Ticket, int | None] | None:
    """A staff message relayed to an applicant: its row, its ticket, and the message id the
    applicant got (None while still queued)."""
    found = (
        await session.exec(
            sa.select(TicketMessage, Ticket)
            .join(Ticket, Ticket.id == TicketMessage.ticket_id)
            .where(
                TicketMessage.direction == "out",
                TicketMessage.chat_id == chat_id,
                TicketMessage.message_id == message_id,
            )
        )
    ).first()
    if found is None:
        return None
    message, ticket = found
    return message, ticket, await sent_copy(database, message.outbox_campaign_id or 0)


async def sent_copy(database: Database, campaign_id: int) -> int | None:
    """The message id the applicant got for a queued reply; None while it waits in the
    outbox. A reply being sent this very moment is waited for (briefly): the sender records
    the id right after Telegram answers. Read in sessions of its own, to see that commit."""
    for _ in range(IN_FLIGHT_CHECKS):
        async with database.session() as fresh:
            status, sent = (
                await fresh.exec(
                    sa.select(OutboxMessage.status, OutboxMessage.sent_message_id).where(
                        OutboxMessage.campaign_id == campaign_id
                    )
                )
            ).one_or_none() or (None, None)
        if status != OutboxStatus.SENDING:
            return sent  # type: ignore[no-any-return]
        await asyncio.sleep(IN_FLIGHT_PAUSE)
    return None


async def close_ticket(session: AsyncSession, ticket: Ticket, by: str) -> bool:
    """Close it; the applicant's messages then go to their next open ticket, if any.
    False if it was closed already (two staff pressing "close")."""
    if ticket.status != TicketStatus.OPEN:
        return False
    ticket.status = TicketStatus.CLOSED
    ticket.closed_at = utcnow()
    ticket.closed_by = by
    user = await session.get(User, ticket.user_id)
    if user is not None and user.open_ticket_id == ticket.id:
        remaining = [t for t in await open_tickets(session, ticket.user_id) if t.id != ticket.id]
        user.open_ticket_id = remaining[-1].id if remaining else None
    return True


async def ticket_for_campaign(session: AsyncSession, campaign_id: int) -> Ticket | None:
    return (
        await session.exec(
            sa.select(Ticket)
            .join(TicketMessage, TicketMessage.ticket_id == Ticket.id)
            .where(TicketMessage.outbox_campaign_id == campaign_id)
        )
    ).scalar_one_or_none()


async def messages_of(session: AsyncSession, ticket_id: int) -> list[TicketMessage]:
    return list(
        (
            await session.exec(
                sa.select(TicketMessage)
                .where(TicketMessage.ticket_id == ticket_id)
                .order_by(TicketMessage.id)  # type: ignore[arg-type]
            )
        ).scalars()
    )


async def list_open(session: AsyncSession) -> list[Ticket]:
    """The queue: open tickets, oldest first."""
    return list(
        (
            await session.exec(
                sa.select(Ticket)
                .where(Ticket.status == TicketStatus.OPEN)
                .order_by(Ticket.created_at, Ticket.id)  # type: ignore[arg-type]
            )
        ).scalars()
    )


async def waiting_too_long(session: AsyncSession, now: datetime, hours: float) -> list[Ticket]:
    """Open tickets without a staff reply for `hours`, not brought up in the last `hours`."""
    cutoff = now - timedelta(hours=hours)
    return list(
        (
            await session.exec(
                sa.select(Ticket)
                .where(
                    Ticket.status == TicketStatus.OPEN,
                    Ticket.first_reply_at.is_(None),  # type: ignore[union-attr]
                    Ticket.created_at <= cutoff,
                    sa.or_(Ticket.reminded_at.is_(None), Ticket.reminded_at <= cutoff),  # type: ignore[union-attr]
                )
                .order_by(Ticket.created_at)  # type: ignore[arg-type]
            )
        ).scalars()
    )


# ------------------------------------------------------------------ staff answers
async def save_answer(
    session: AsyncSession, ticket: Ticket, staff_id: int | None
) -> StaffAnswer | None:
    """The ticket's question and the office's latest text reply, kept as a staff answer for
    the next person who asks. None if staff have not replied with text yet."""
    replies = [
        m for m in await messages_of(session, ticket.id or 0) if m.direction == "out" and m.text
    ]
    if not replies:
        return None
    answer = StaffAnswer(
        question=ticket.question,
        normalised=normalise(ticket.question),
        answer=replies[-1].text or "",
        lang=ticket.lang,
        source=STAFF_ANSWER_SOURCE,
        created_by=staff_id,
    )
    session.add(answer)
    return answer


async def find_staff_answer(session: AsyncSession, question: str) -> StaffAnswer | None:
    """The newest staff answer to this question (the same words, however spelt)."""
    key = normalise(question)
    if not key:
        return None
    return (
        await session.exec(
            sa.select(StaffAnswer)
            .where(StaffAnswer.normalised == key)
            .order_by(StaffAnswer.id.desc())  # type: ignore[union-attr]
            .limit(1)
        )
    ).scalar_one_or_none()


# ------------------------------------------------------------------ privacy
async def forget(session: AsyncSession, user_id: int) -> list[TicketTopic]:
    """Delete the user's tickets, their messages and the topic mapping.
    Returns the mapping that was deleted (the caller tells the staff chat)."""
    topics = list(
        (await session.exec(sa.select(TicketTopic).where(TicketTopic.user_id == user_id))).scalars()
    )
    ticket_ids = sa.select(Ticket.id).where(Ticket.user_id == user_id)
    await session.exec(sa.delete(TicketMessage).where(TicketMessage.ticket_id.in_(ticket_ids)))  # type: ignore[attr-defined]
    await session.exec(sa.delete(Ticket).where(Ticket.user_id == user_id))  # type: ignore[arg-type]
    await session.exec(sa.delete(TicketTopic).where(TicketTopic.user_id == user_id))  # type: ignore[arg-type]
    return topics


CONSOLE_CHAT = 0  # the chat id of replies typed in `talapker tickets reply`


async def console_reply(
    database: Database,
    session: AsyncSession,
    ticket: Ticket,
    text: str,
    reply_markup: dict[str, Any] | None = None,
) -> None:
    """A staff reply typed in the console: sent as text through the outbox."""
    last = (
        await session.exec(
            sa.select(sa.func.max(TicketMessage.message_id)).where(
                TicketMessage.chat_id == CONSOLE_CHAT
            )
        )
    ).scalar_one()
    reply = StaffReply(CONSOLE_CHAT, int(last or 0) + 1, None, "console", text)
    await queue_reply(database, session, ticket, reply, copy=False, reply_markup=reply_markup)
