"""Database tables (SQLModel). Every schema change here needs an Alembic migration:
`talapker db revision "what changed"` writes one from the difference."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both PostgreSQL and SQLite (which drops the offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Role(StrEnum):
    APPLICANT = "applicant"
    PARENT = "parent"
    STAFF = "staff"


class Settlement(StrEnum):
    CITY = "city"
    RURAL = "rural"


class User(SQLModel, table=True):
    """A Telegram user who has written to the bot. The id is the Telegram user id."""

    __tablename__ = "users"

    id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    language: str | None = Field(default=None, max_length=2)
    role: str | None = Field(default=None, max_length=16)
    region: str | None = Field(default=None, max_length=32, index=True)
    settlement: str | None = Field(default=None, max_length=8)
    onboarded: bool = Field(default=False)
    # Staff rights granted by an admin at run time; admins from ADMIN_IDS need no grant.
    staff_granted: bool = Field(default=False)
    # False once Telegram says the user blocked the bot; broadcasts skip inactive users.
    is_active: bool = Field(default=True, index=True)
    # Days before an event to remind this user (0: that morning), comma-separated.
    reminder_leads: str = Field(
        default="7,1", max_length=16, sa_column_kwargs={"server_default": "7,1"}
    )
    # Reminders reach this user only from hour `waking_from` to `waking_until` (local time).
    waking_from: int = Field(default=9, sa_column_kwargs={"server_default": "9"})
    waking_until: int = Field(default=21, sa_column_kwargs={"server_default": "21"})
    # The ticket with the admissions office that this user's messages go to (None: none open).
    # On the user row, which every update loads anyway, so ordinary questions cost no query.
    open_ticket_id: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class FsmRecord(SQLModel, table=True):
    """aiogram FSM state and data for one storage key (bot, chat, user, thread, destiny)."""

    __tablename__ = "fsm_records"

    key: str = Field(primary_key=True, max_length=255)
    state: str | None = Field(default=None, max_length=255)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UnansweredQuestion(SQLModel, table=True):
    """A question the knowledge base could not answer confidently, kept so staff can see what
    it lacks. Deliberately without the user's id."""

    __tablename__ = "unanswered_questions"

    id: int | None = Field(default=None, primary_key=True)
    text: str = Field(max_length=1000)
    lang: str = Field(max_length=2)
    topic_guess: str = Field(max_length=32)
    confidence: float
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    # "unsure" (the bot said so) or "downvoted" (answered, and the asker pressed 👎).
    reason: str = Field(
        default="unsure", max_length=16, sa_column_kwargs={"server_default": "unsure"}
    )


class TaughtExample(SQLModel, table=True):
    """A question staff labelled with its topic (or "out_of_scope") from the unanswered list.
    Every process adds these to its example index; `talapker examples export` writes them to a
    data file for the repository."""

    __tablename__ = "taught_examples"

    id: int | None = Field(default=None, primary_key=True)
    text: str = Field(max_length=1000)
    lang: str = Field(max_length=2)
    topic: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AnswerVote(SQLModel, table=True):
    """A 👍/👎 on an answer, counted per topic so staff see which answers fall short.
    Who voted is not kept."""

    __tablename__ = "answer_votes"

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(max_length=32, index=True)
    lang: str = Field(max_length=2)
    helpful: bool
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CampaignStatus(StrEnum):
    SCHEDULED = "scheduled"  # waiting for scheduled_for
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class Campaign(SQLModel, table=True):
    """One message to many people: a staff broadcast, or a reminder for one calendar event and
    lead time. `texts` maps a language to the text (HTML); "*" is for everyone else."""

    __tablename__ = "campaigns"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # broadcast | reminder
    # Makes enqueueing idempotent: a second campaign with the same key is refused.
    dedupe_key: str | None = Field(default=None, max_length=128, unique=True)
    texts: dict[str, str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    photo: str | None = Field(default=None, max_length=256)  # Telegram file_id
    document: str | None = Field(default=None, max_length=256)
    audience: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    status: str = Field(default=CampaignStatus.SENDING, max_length=16, index=True)
    scheduled_for: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Where the live progress message for staff is (edited, not re-sent).
    progress_chat_id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    progress_message_id: int | None = None
    progress_lang: str | None = Field(default=None, max_length=2)
    # Instead of `texts`: copy this message (a staff reply, with its photo or document).
    copy_from_chat_id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    copy_message_id: int | None = None
    # An inline keyboard (Bot API JSON) sent with every message of the campaign.
    reply_markup: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON))


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a sender; if the sender died, it goes back to pending
    SENT = "sent"
    BLOCKED = "blocked"
    FAILED = "failed"


class OutboxMessage(SQLModel, table=True):
    """One message for one recipient of one campaign; the unique key makes enqueueing
    idempotent and is what guarantees nobody gets a campaign twice."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "user_id", name="uq_outbox_campaign_user"),
        sa.Index("ix_outbox_status_next_attempt", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaigns.id", index=True)
    user_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, index=True))
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=300)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The message id the recipient got (to edit it later: a corrected staff reply).
    sent_message_id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))


class AuditEntry(SQLModel, table=True):
    """Who did what with staff powers, and when."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    actor_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, index=True))
    action: str = Field(max_length=32)
    details: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class CalendarEntry(SQLModel, table=True):
    """A dated admission event (seeded from knowledge/data/calendar.yaml, then kept by staff)."""

    __tablename__ = "calendar_events"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)  # stable id, e.g. grant_applications_2026
    type: str = Field(max_length=32, index=True)
    starts_on: date
    ends_on: date | None = None
    precision: str = Field(default="day", max_length=8)
    titles: dict[str, str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    descriptions: dict[str, str] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False, server_default="{}")
    )
    audience: str = Field(default="everyone", max_length=16)
    source: str = Field(default="", max_length=300)
    confidence: str = Field(default="confirmed", max_length=16)
    # For a date not yet announced: what the expected date is based on, per language.
    basis: dict[str, str] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False, server_default="{}")
    )
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def confirmed(self) -> bool:
        return self.confidence == "confirmed"


class Subscription(SQLModel, table=True):
    """A user wants reminders of one kind of event, a number of days before it (0: that
    morning). One row per (user, event type, lead)."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "event_type", "lead_days", name="uq_subscription"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, index=True))
    event_type: str = Field(max_length=32, index=True)
    lead_days: int = Field(default=1)


class DateWatch(SQLModel, table=True):
    """A user asked to be told when the real date of an expected event is published. Keyed by
    the event's stable key, so it survives staff moving or re-importing the event."""

    __tablename__ = "date_watches"
    __table_args__ = (sa.UniqueConstraint("user_id", "event_key", name="uq_date_watch"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, index=True))
    event_key: str = Field(max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TicketStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Ticket(SQLModel, table=True):
    """A question handed to the admissions office. Deleted with the user (/forget)."""

    __tablename__ = "tickets"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, index=True))
    status: str = Field(default=TicketStatus.OPEN, max_length=8, index=True)
    lang: str = Field(max_length=2)
    question: str = Field(max_length=1000)
    # Why it came: "asked" (menu, "talk to a human"), "unsure", "sensitive".
    reason: str = Field(default="asked", max_length=16)
    # Where the card is: the staff chat, its forum topic (None: a group without topics).
    staff_chat_id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    thread_id: int | None = None
    card_message_id: int | None = None
    # Staff who answered first ("took it"); their Telegram display name, for /tickets.
    taken_by: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    taken_by_name: str | None = Field(default=None, max_length=64)
    helpful: bool | None = None  # the applicant's 👍/👎 on the office's answer
    # What the card shows besides the profile, as it was at hand-off: the scores entered and
    # the bot's last few answers ({"q": question, "topic": topic}).
    context: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    first_reply_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_by: str | None = Field(default=None, max_length=16)  # "staff" | "applicant"


class TicketTopic(SQLModel, table=True):
    """The staff chat's forum topic of one applicant, opened at their first hand-off and used
    for every later ticket. Deleted with the user (/forget)."""

    __tablename__ = "ticket_topics"

    user_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    chat_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    thread_id: int = Field(index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TicketMessage(SQLModel, table=True):
    """One message of a ticket, either way: `in` (applicant → staff chat) or `out` (staff →
    applicant, through the outbox). The staff chat's message id finds the ticket of a reply
    in a group without topics and of an edited staff message; the unique key makes a
    redelivered update harmless (exactly once)."""

    __tablename__ = "ticket_messages"
    __table_args__ = (
        sa.UniqueConstraint("direction", "chat_id", "message_id", name="uq_ticket_message_origin"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    direction: str = Field(max_length=3)  # in | out
    # Where the message was written (the applicant's chat for `in`, the staff chat for `out`).
    chat_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    message_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    # Its copy on the other side: in the staff chat (`in`, None until forwarded) or the
    # outbox row that carries it to the applicant (`out`).
    copy_message_id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, index=True)
    )
    outbox_campaign_id: int | None = Field(default=None, index=True)
    # The text (HTML) or caption, for "save as answer" and `talapker tickets show`.
    text: str | None = Field(default=None, max_length=4096)
    staff_id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StaffAnswer(SQLModel, table=True):
    """A question and the admissions office's reply, saved by staff from a ticket: the bot
    answers the next person who asks the same question with it. No applicant id."""

    __tablename__ = "staff_answers"

    id: int | None = Field(default=None, primary_key=True)
    question: str = Field(max_length=1000)
    # knowledge.text.words of the question, joined: the same question in other spelling.
    normalised: str = Field(max_length=1000, index=True)
    answer: str = Field(max_length=4096)
    lang: str = Field(max_length=2)
    source: str = Field(default="admissions office", max_length=64)
    created_by: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
