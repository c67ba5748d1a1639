"""Database tables (SQLModel). Every schema change here needs an Alembic migration:
`talapker db revision "what changed"` writes one from the difference."""

from __future__ import annotations

from datetime import UTC, datetime
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


class AnswerVote(SQLModel, table=True):
    """A 👍/👎 on an answer, counted per topic so staff see which answers fall short.
    Who voted is not kept."""

    __tablename__ = "answer_votes"

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(max_length=32, index=True)
    lang: str = Field(max_length=2)
    helpful: bool
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
