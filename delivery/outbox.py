"""The delivery engine: drains the outbox at a steady rate, for broadcasts and reminders.

Exactly-once, within a stated bound: a row is *claimed* (status `sending`) in one
transaction before its message goes out and *marked* (`sent`, `blocked`, `failed`) in its own
transaction right after. If the process is killed, rows still `sending` go back to `pending`
at the next start; of those, only the ones whose message had already left (the sends in
flight at the moment of the kill, at most `DELIVERY_CONCURRENCY`) can reach a person twice.
A clean stop (SIGTERM) finishes the sends in flight and hands back the rest: no duplicates.

Telegram's limits: about 30 messages a second overall, one a second per chat. The sender
spaces messages evenly at `DELIVERY_RATE`; a 429 pauses everything for `retry_after`; a 403
(the user blocked the bot) marks the user inactive and never retries; a 400 is recorded and
not retried; 5xx and network errors are retried with exponential backoff, a bounded number
of times.

A ticket's messages (the admissions office's replies, see delivery/tickets.py) are copies of
staff messages (copyMessage) and reach their one recipient in the order they were queued: a
row waits while an earlier one to the same person is still pending, even one being retried."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardMarkup, Message, MessageId
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from storage.db import Database
from storage.models import (
    Campaign,
    CampaignStatus,
    DateWatch,
    OutboxMessage,
    OutboxStatus,
    Subscription,
    User,
    UTCDateTime,
    utcnow,
)

logger = logging.getLogger("talapker.delivery")

PER_CHAT_INTERVAL = 1.0  # seconds between two messages to one chat
PROGRESS_EVERY = 2.0  # seconds between edits of a progress message
IDLE_POLL = 1.0  # seconds between looks at an empty outbox
MAX_BACKOFF = 300.0
# Campaigns of this kind reach their one recipient in the order they were queued.
IN_ORDER_KIND = "ticket"


@dataclass(frozen=True)
class Audience:
    """Who a campaign goes to. Empty filters mean everyone active."""

    role: str | None = None
    language: str | None = None
    region: str | None = None
    settlement: str | None = None
    user_ids: tuple[int, ...] | None = None
    # (event type, lead days): the users subscribed to that reminder.
    subscription: tuple[str, int] | None = None
    # A calendar event's key: the users who asked to be told when its real date is published.
    watching: str | None = None
    # False for a reply to someone who wrote to us (a ticket): try even if they once blocked
    # the bot; Telegram's answer decides, and staff hear of it.
    active_only: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in self.__dict__.items()
            if v is not None
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Audience:
        ids = data.get("user_ids")
        return cls(
            role=data.get("role"),
            language=data.get("language"),
            region=data.get("region"),
            settlement=data.get("settlement"),
            user_ids=tuple(ids) if ids is not None else None,
            watching=data.get("watching"),
            active_only=data.get("active_only", True),
        )

    def where(self) -> sa.ColumnElement[bool]:
        clauses: list[sa.ColumnElement[bool]] = (
            [User.is_active.is_(True)] if self.active_only else []  # type: ignore[attr-defined]
        )
        for name in ("role", "language", "region", "settlement"):
            value = getattr(self, name)
            if value is not None:
                clauses.append(getattr(User, name) == value)
        if self.user_ids is not None:
            clauses.append(User.id.in_(self.user_ids))  # type: ignore[attr-defined]
        if self.subscription is not None:
            event_type, lead = self.subscription
            clauses.append(
                User.id.in_(  # type: ignore[attr-defined]
                    sa.select(Subscription.user_id).where(
                        Subscription.event_type == event_type, Subscription.lead_days == lead
                    )
                )
            )
        if self.watching is not None:
            clauses.append(
                User.id.in_(  # type: ignore[attr-defined]
                    sa.select(DateWatch.user_id).where(DateWatch.event_key == self.watching)
                )
            )
        return sa.and_(sa.true(), *clauses)


async def count_audience(database: Database, audience: Audience) -> int:
    async with database.use_session() as session:
        result = await session.exec(
            sa.select(sa.func.count()).select_from(User).where(audience.where())
        )
        return int(result.scalar_one())


async def enqueue(
    database: Database,
    *,
    kind: str,
    texts: Mapping[str, str],
    audience: Audience,
    photo: str | None = None,
    document: str | None = None,
    created_by: int | None = None,
    scheduled_for: datetime | None = None,
    dedupe_key: str | None = None,
    progress_chat_id: int | None = None,
    copy_from: tuple[int, int] | None = None,
    reply_markup: dict[str, Any] | None = None,
) -> tuple[Campaign, bool]:
    """Create a campaign and one outbox row per recipient, in one transaction. With a
    `dedupe_key` already used, nothing is added and the existing campaign is returned
    (`created` False): enqueueing the same thing twice is harmless. With `copy_from` (chat id,
    message id) each recipient gets a copy of that message (copyMessage: a photo or document
    stays one) instead of `texts`."""
    async with database.use_session() as session:
        if dedupe_key is not None:
            existing = (
                await session.exec(sa.select(Campaign).where(Campaign.dedupe_key == dedupe_key))
            ).scalar_one_or_none()
            if existing is not None:
                return existing, False
        campaign = Campaign(
            kind=kind,
            texts=dict(texts),
            audience=audience.as_dict(),
            photo=photo,
            document=document,
            created_by=created_by,
            dedupe_key=dedupe_key,
            scheduled_for=scheduled_for,
            progress_chat_id=progress_chat_id,
            copy_from_chat_id=copy_from[0] if copy_from else None,
            copy_message_id=copy_from[1] if copy_from else None,
            reply_markup=reply_markup,
            status=CampaignStatus.SCHEDULED
            if scheduled_for and scheduled_for > utcnow()
            else CampaignStatus.SENDING,
        )
        session.add(campaign)
        await session.flush()
        dialect = sqlite if database.is_sqlite else postgresql
        now = utcnow()
        recipients = sa.select(
            sa.literal(campaign.id),
            User.id,
            sa.literal(OutboxStatus.PENDING.value),
            sa.literal(0),
            sa.literal(now, type_=UTCDateTime()),
        ).where(audience.where())
        insert = (
            dialect.insert(OutboxMessage)
            .from_select(
                ["campaign_id", "user_id", "status", "attempts", "next_attempt_at"], recipients
            )
            .on_conflict_do_nothing(index_elements=["campaign_id", "user_id"])
        )
        await session.exec(insert)
        return campaign, True


@dataclass
class CampaignStats:
    total: int = 0
    sent: int = 0
    blocked: int = 0
    failed: int = 0
    pending: int = 0
    first_sent: datetime | None = None
    last_sent: datetime | None = None

    @property
    def done(self) -> bool:
        return self.pending == 0

    @property
    def duration(self) -> float:
        if self.first_sent is None or self.last_sent is None:
            return 0.0
        return (self.last_sent - self.first_sent).total_seconds()

    @property
    def rate(self) -> float:
        return (self.sent - 1) / self.duration if self.duration > 0 else float(self.sent)


async def campaign_stats(database: Database, campaign_id: int) -> CampaignStats:
    async with database.use_session() as session:
        rows = (
            await session.exec(
                sa.select(
                    OutboxMessage.status,
                    sa.func.count(),
                    sa.func.min(OutboxMessage.sent_at),
                    sa.func.max(OutboxMessage.sent_at),
                )
                .where(OutboxMessage.campaign_id == campaign_id)
                .group_by(OutboxMessage.status)
            )
        ).all()
    stats = CampaignStats()
    for status, count, first, last in rows:
        stats.total += count
        if status == OutboxStatus.SENT:
            stats.sent, stats.first_sent, stats.last_sent = count, _aware(first), _aware(last)
        elif status == OutboxStatus.BLOCKED:
            stats.blocked = count
        elif status == OutboxStatus.FAILED:
            stats.failed = count
        else:
            stats.pending += count
    return stats


def _aware(moment: datetime | None) -> datetime | None:
    from datetime import UTC

    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


@dataclass
class _Claimed:
    row_id: int
    user_id: int
    campaign_id: int
    attempts: int
    language: str | None


@dataclass
class DeliveryWorker:
    bot: Bot
    database: Database
    rate: float = 25.0
    concurrency: int = 4
    max_attempts: int = 5
    progress_text: Any = None  # callable(campaign, stats) -> str, for staff progress messages
    # With a timezone, a reminder waits for its recipient's own waking hours (local
    # [waking_from, waking_until)); broadcasts do not wait.
    tz: Any = None
    clock: Any = utcnow
    # Awaited as (campaign, user id, status, error) when a message cannot be delivered
    # (blocked, failed for good): the hand-off tells staff that their reply did not arrive.
    on_undelivered: Any = None
    _campaigns: dict[int, Campaign] = field(default_factory=dict)
    _last_to_chat: dict[int, float] = field(default_factory=dict)
    _next_slot: float = 0.0
    _paused_until: float = 0.0
    _last_progress: dict[int, float] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    # ------------------------------------------------------------------ main loop
    async def run(self, stop: asyncio.Event, *, until_idle: bool = False) -> None:
        """Send until `stop` is set (or, with `until_idle`, until nothing is due or planned)."""
        await self.recover()
        semaphore = asyncio.Semaphore(self.concurrency)
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                await self._activate_scheduled()
                claimed = await self._claim(self.concurrency * 2)
                if not claimed:
                    await asyncio.gather(*in_flight)
                    await self._report_progress(force=True)
                    if until_idle and not await self._work_ahead():
                        break
                    await self._idle(stop)
                    continue
                for index, row in enumerate(claimed):
                    if stop.is_set() or not await self._pace(stop):
                        await self._release(claimed[index:])
                        break
                    await semaphore.acquire()
                    task = asyncio.create_task(self._deliver(row))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                    task.add_done_callback(lambda _t: semaphore.release())
                await self._report_progress()
        finally:
            # A clean stop: let the sends in flight finish and be recorded, then return.
            await asyncio.gather(*in_flight, return_exceptions=True)
            await self._report_progress(force=True)

    async def _idle(self, stop: asyncio.Event) -> None:
        self.wake.clear()
        stopper = asyncio.create_task(stop.wait())
        waker = asyncio.create_task(self.wake.wait())
        await asyncio.wait({stopper, waker}, timeout=IDLE_POLL, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        waker.cancel()

    async def _pace(self, stop: asyncio.Event) -> bool:
        """Wait for the next sending slot: evenly spaced at `rate`, and after any 429 pause."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._next_slot = max(self._next_slot, now, self._paused_until)
        delay = self._next_slot - now
        self._next_slot += 1.0 / self.rate
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
                return False
            except TimeoutError:
                pass
        return True

    # ------------------------------------------------------------------ database steps
    async def recover(self) -> int:
        """Rows a dead sender left claimed go back to pending (see the module docstring)."""
        async with self.database.session() as session:
            result = await session.exec(
                sa.update(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.SENDING)
                .values(status=OutboxStatus.PENDING)
            )
            await session.commit()
            if result.rowcount:
                logger.warning(
                    "requeued %d outbox rows left claimed by a stopped sender", result.rowcount
                )
            return int(result.rowcount or 0)

    async def _activate_scheduled(self) -> None:
        async with self.database.session() as session:
            await session.exec(
                sa.update(Campaign)
                .where(
                    Campaign.status == CampaignStatus.SCHEDULED, Campaign.scheduled_for <= utcnow()
                )
                .values(status=CampaignStatus.SENDING)
            )
            await session.commit()

    async def _work_ahead(self) -> bool:
        async with self.database.session() as session:
            waiting = await session.exec(
                sa.select(sa.func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING])  # type: ignore[attr-defined]
                )
            )
            return int(waiting.scalar_one()) > 0

    async def _claim(self, limit: int) -> list[_Claimed]:
        now = utcnow()
        # A conversation's messages (a ticket's staff replies) go in order: one waits while an
        # earlier one to the same person is still to be sent, even if that one is retrying.
        earlier = aliased(OutboxMessage)
        earlier_campaign = aliased(Campaign)
        waits_for_earlier = sa.exists().where(
            earlier.user_id == OutboxMessage.user_id,
            earlier.id < OutboxMessage.id,
            earlier.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),  # type: ignore[attr-defined]
            earlier_campaign.id == earlier.campaign_id,
            earlier_campaign.kind == IN_ORDER_KIND,
        )
        due = (
            sa.select(OutboxMessage.id)
            .join(Campaign, Campaign.id == OutboxMessage.campaign_id)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.next_attempt_at <= now,
                Campaign.status == CampaignStatus.SENDING,
                sa.or_(Campaign.kind != IN_ORDER_KIND, ~waits_for_earlier),
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        if self.tz is not None:
            # Reminders only reach people inside their own waking hours.
            hour = self.clock().astimezone(self.tz).hour
            due = due.join(User, User.id == OutboxMessage.user_id).where(
                sa.or_(
                    Campaign.kind != "reminder",
                    sa.and_(User.waking_from <= hour, User.waking_until > hour),
                )
            )
        if not self.database.is_sqlite:
            due = due.with_for_update(of=OutboxMessage, skip_locked=True)  # type: ignore[arg-type]
        async with self.database.session() as session:
            result = await session.exec(
                sa.update(OutboxMessage)
                .where(OutboxMessage.id.in_(due.scalar_subquery()))  # type: ignore[attr-defined]
                .values(status=OutboxStatus.SENDING, attempts=OutboxMessage.attempts + 1)
                .returning(
                    OutboxMessage.id,
                    OutboxMessage.user_id,
                    OutboxMessage.campaign_id,
                    OutboxMessage.attempts,
                )
            )
            rows = result.all()
            languages: dict[int, str | None] = {}
            if rows:
                users = await session.exec(
                    sa.select(User.id, User.language).where(User.id.in_([r[1] for r in rows]))  # type: ignore[attr-defined]
                )
                languages = dict(users.all())
            await session.commit()
        claimed = [_Claimed(r[0], r[1], r[2], r[3], languages.get(r[1])) for r in rows]
        claimed.sort(key=lambda c: c.row_id)
        return claimed

    async def _release(self, rows: list[_Claimed]) -> None:
        if not rows:
            return
        async with self.database.session() as session:
            await session.exec(
                sa.update(OutboxMessage)
                .where(OutboxMessage.id.in_([r.row_id for r in rows]))  # type: ignore[attr-defined]
                .values(status=OutboxStatus.PENDING, attempts=OutboxMessage.attempts - 1)
            )
            await session.commit()

    async def _mark(
        self,
        row: _Claimed,
        status: OutboxStatus,
        *,
        error: str | None = None,
        retry_in: float | None = None,
        refund_attempt: bool = False,
        message_id: int | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "last_error": error[:300] if error else None}
        if status == OutboxStatus.SENT:
            values["sent_at"] = utcnow()
            values["sent_message_id"] = message_id
        if retry_in is not None:
            values["next_attempt_at"] = utcnow() + timedelta(seconds=retry_in)
        if refund_attempt:
            values["attempts"] = OutboxMessage.attempts - 1
        async with self.database.session() as session:
            await session.exec(
                sa.update(OutboxMessage).where(OutboxMessage.id == row.row_id).values(**values)
            )
            if status == OutboxStatus.BLOCKED:
                await session.exec(
                    sa.update(User).where(User.id == row.user_id).values(is_active=False)
                )
            await session.commit()
        if status in (OutboxStatus.BLOCKED, OutboxStatus.FAILED) and self.on_undelivered:
            try:
                campaign = await self._campaign(row.campaign_id)
                await self.on_undelivered(campaign, row.user_id, status, error)
            except Exception:  # a note for staff must never stop the sender
                logger.exception("could not report undelivered outbox row %s", row.row_id)

    async def _campaign(self, campaign_id: int) -> Campaign:
        campaign = self._campaigns.get(campaign_id)
        if campaign is None:
            async with self.database.session() as session:
                campaign = await session.get(Campaign, campaign_id)
            assert campaign is not None
            self._campaigns[campaign_id] = campaign
        return campaign

    # ------------------------------------------------------------------ one message
    async def _deliver(self, row: _Claimed) -> None:
        loop = asyncio.get_running_loop()
        last = self._last_to_chat.get(row.user_id)
        if last is not None and loop.time() - last < PER_CHAT_INTERVAL:
            await self._mark(
                row, OutboxStatus.PENDING, retry_in=PER_CHAT_INTERVAL, refund_attempt=True
            )
            return
        campaign = await self._campaign(row.campaign_id)
        text = (
            campaign.texts.get(row.language or "")
            or campaign.texts.get("*")
            or next(iter(campaign.texts.values()))
        )
        markup = (
            InlineKeyboardMarkup.model_validate(campaign.reply_markup)
            if campaign.reply_markup
            else None
        )
        try:
            self._last_to_chat[row.user_id] = loop.time()
            sent: Message | MessageId
            if campaign.copy_from_chat_id is not None and campaign.copy_message_id is not None:
                sent = await self.bot.copy_message(
                    row.user_id,
                    campaign.copy_from_chat_id,
                    campaign.copy_message_id,
                    reply_markup=markup,
                )
            elif campaign.photo:
                sent = await self.bot.send_photo(
                    row.user_id, campaign.photo, caption=text, reply_markup=markup
                )
            elif campaign.document:
                sent = await self.bot.send_document(
                    row.user_id, campaign.document, caption=text, reply_markup=markup
                )
            else:
                sent = await self.bot.send_message(row.user_id, text, reply_markup=markup)
        except TelegramRetryAfter as exc:
            self._paused_until = max(self._paused_until, loop.time() + exc.retry_after)
            logger.warning("429 from the Bot API: pausing %ss", exc.retry_after)
            await self._mark(
                row, OutboxStatus.PENDING, retry_in=exc.retry_after, refund_attempt=True
            )
        except TelegramForbiddenError as exc:
            await self._mark(row, OutboxStatus.BLOCKED, error=exc.message)
        except TelegramBadRequest as exc:
            await self._mark(row, OutboxStatus.FAILED, error=exc.message)
        except (TelegramServerError, TelegramNetworkError) as exc:
            if row.attempts >= self.max_attempts:
                await self._mark(row, OutboxStatus.FAILED, error=str(exc))
            else:
                backoff = min(MAX_BACKOFF, 2.0**row.attempts)
                await self._mark(row, OutboxStatus.PENDING, error=str(exc), retry_in=backoff)
        except Exception as exc:  # anything else: record it, do not lose the loop
            logger.exception("unexpected error sending outbox row %s", row.row_id)
            await self._mark(row, OutboxStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        else:
            await self._mark(row, OutboxStatus.SENT, message_id=sent.message_id)

    # ------------------------------------------------------------------ progress for staff
    async def _report_progress(self, *, force: bool = False) -> None:
        if self.progress_text is None:
            return
        async with self.database.session() as session:
            active = (
                (
                    await session.exec(
                        sa.select(Campaign).where(
                            Campaign.status == CampaignStatus.SENDING,
                            Campaign.progress_chat_id.is_not(None),  # type: ignore[union-attr]
                        )
                    )
                )
                .scalars()
                .all()
            )
        now = time.monotonic()
        for campaign in active:
            assert campaign.id is not None
            if not force and now - self._last_progress.get(campaign.id, 0) < PROGRESS_EVERY:
                continue
            self._last_progress[campaign.id] = now
            stats = await campaign_stats(self.database, campaign.id)
            if stats.done:
                async with self.database.session() as session:
                    await session.exec(
                        sa.update(Campaign)
                        .where(Campaign.id == campaign.id)
                        .values(status=CampaignStatus.DONE, finished_at=utcnow())
                    )
                    await session.commit()
            await self._show_progress(campaign, stats)

    async def _show_progress(self, campaign: Campaign, stats: CampaignStats) -> None:
        text = self.progress_text(campaign, stats)
        try:
            if campaign.progress_message_id is None:
                message = await self.bot.send_message(campaign.progress_chat_id, text)  # type: ignore[arg-type]
                async with self.database.session() as session:
                    await session.exec(
                        sa.update(Campaign)
                        .where(Campaign.id == campaign.id)
                        .values(progress_message_id=message.message_id)
                    )
                    await session.commit()
            else:
                await self.bot.edit_message_text(
                    text, chat_id=campaign.progress_chat_id, message_id=campaign.progress_message_id
                )
        except (
            TelegramBadRequest,
            TelegramForbiddenError,
            TelegramServerError,
            TelegramNetworkError,
            TelegramRetryAfter,
        ):
            logger.info("could not update the progress of campaign %s", campaign.id, exc_info=True)


async def finish_campaigns(database: Database) -> None:
    """Mark campaigns with nothing left to send as done (for runs without progress messages)."""
    async with database.session() as session:
        open_ids = (
            (
                await session.exec(
                    sa.select(Campaign.id).where(Campaign.status == CampaignStatus.SENDING)
                )
            )
            .scalars()
            .all()
        )
        for campaign_id in open_ids:
            waiting = await session.exec(
                sa.select(sa.func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.campaign_id == campaign_id,
                    OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),  # type: ignore[attr-defined]
                )
            )
            if waiting.scalar_one() == 0:
                await session.exec(
                    sa.update(Campaign)
                    .where(Campaign.id == campaign_id)
                    .values(status=CampaignStatus.DONE, finished_at=utcnow())
                )
        await session.commit()
