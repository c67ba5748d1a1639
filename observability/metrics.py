"""Prometheus metrics and the health check.

Two kinds of figures:
- per process, counted as updates pass through (`UpdateMetricsMiddleware`): updates by type and
  handler, handler latency, errors, throttled updates;
- shared, read from the database when /metrics is scraped (`DatabaseFigures`): the outbox by
  status, reminders fired, unanswered questions. Every process reports the same shared figures,
  so a dashboard should take `max` over instances for those, and `sum` for the per-process ones.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from aiogram import BaseMiddleware
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.types import TelegramObject, Update
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from observability.logs import current_update_id
from storage.db import Database
from storage.models import (
    Campaign,
    OutboxMessage,
    Ticket,
    TicketStatus,
    UnansweredQuestion,
    utcnow,
)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
logger = logging.getLogger("talapker.updates")

# Handler latency buckets (seconds): the goal is p99 under 50 ms, so resolution is finest there.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
NO_HANDLER = "none"  # no handler took the update (or a middleware answered it)


@dataclass(eq=False)  # registries keep collectors in a dict: identity hashing
class DatabaseFigures(Collector):
    """Figures every process can read from the shared database; refreshed before each scrape
    (collectors are synchronous, the database is not)."""

    outbox: dict[str, int] = field(default_factory=dict)
    reminders_fired: int = 0
    unanswered: int = 0
    open_tickets: int = 0
    oldest_ticket_seconds: float = 0.0
    # Tickets staff have answered, and the sum of their waits for that first reply.
    first_replies: int = 0
    first_reply_seconds: float = 0.0

    async def refresh(self, database: Database) -> None:
        async with database.session() as session:
            rows = await session.exec(
                sa.select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status)
            )
            self.outbox = {str(status): int(count) for status, count in rows.all()}
            self.reminders_fired = int(
                (
                    await session.exec(
                        sa.select(sa.func.count())
                        .select_from(Campaign)
                        .where(Campaign.kind == "reminder")
                    )
                ).scalar_one()
            )
            self.unanswered = int(
                (
                    await session.exec(sa.select(sa.func.count()).select_from(UnansweredQuestion))
                ).scalar_one()
            )
            await self._refresh_tickets(session)

    async def _refresh_tickets(self, session: Any) -> None:
        now = utcnow()
        opened = (
            (
                await session.exec(
                    sa.select(Ticket.created_at).where(Ticket.status == TicketStatus.OPEN)
                )
            )
            .scalars()
            .all()
        )
        self.open_tickets = len(opened)
        self.oldest_ticket_seconds = max(((now - c).total_seconds() for c in opened), default=0)
        # Differences of timestamps are computed here: SQLite and PostgreSQL spell them apart.
        replied = (
            await session.exec(
                sa.select(Ticket.created_at, Ticket.first_reply_at).where(
                    Ticket.first_reply_at.is_not(None)  # type: ignore[union-attr]
                )
            )
        ).all()
        self.first_replies = len(replied)
        self.first_reply_seconds = sum((r - c).total_seconds() for c, r in replied)

    def collect(self) -> Iterator[Metric]:
        outbox = GaugeMetricFamily(
            "talapker_outbox_messages", "Outbox messages by status", labels=["status"]
        )
        for status in ("pending", "sending", "sent", "blocked", "failed"):
            outbox.add_metric([status], self.outbox.get(status, 0))
        yield outbox
        yield CounterMetricFamily(
            "talapker_reminders_fired", "Reminder campaigns queued", value=self.reminders_fired
        )
        yield GaugeMetricFamily(
            "talapker_unanswered_questions",
            "Questions the knowledge base could not answer, kept for staff",
            value=self.unanswered,
        )
        yield GaugeMetricFamily(
            "talapker_open_tickets",
            "Questions handed to the admissions office and not closed yet",
            value=self.open_tickets,
        )
        yield GaugeMetricFamily(
            "talapker_oldest_open_ticket_seconds",
            "How long the oldest open ticket has waited",
            value=self.oldest_ticket_seconds,
        )
        yield SummaryMetricFamily(
            "talapker_ticket_first_reply_seconds",
            "Time from hand-off to the first staff reply, over answered tickets",
            count_value=self.first_replies,
            sum_value=self.first_reply_seconds,
        )


class Metrics:
    """The metrics of one process, in a registry of its own (tests run several apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.updates = Counter(
            "talapker_updates",
            "Updates handled, by update type and handler",
            ["type", "handler"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "talapker_update_seconds",
            "Time from receiving an update to finishing its handler",
            ["type"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "talapker_update_errors",
            "Updates whose handler raised (the user got an apology)",
            ["type"],
            registry=self.registry,
        )
        self.throttled = Counter(
            "talapker_throttled_updates",
            "Updates dropped because their sender was flooding",
            registry=self.registry,
        )
        self.leader = Gauge(
            "talapker_scheduler_leader",
            "1 while this process runs the scheduler and the outbox sender",
            registry=self.registry,
        )
        self.database_figures = DatabaseFigures()
        self.registry.register(self.database_figures)

    async def exposition(self, database: Database) -> bytes:
        await self.database_figures.refresh(database)
        return generate_latest(self.registry)


class UpdateMetricsMiddleware(BaseMiddleware):
    """Outer update middleware: times each update and counts it under the handler that took
    it. It also puts the update id in the logging context."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        update_type = event.event_type
        taken_by: dict[str, str] = {}
        data["metrics_handler"] = taken_by
        token = current_update_id.set(event.update_id)
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await handler(event, data)
            outcome = "ok"
            return result
        finally:
            elapsed = time.perf_counter() - started
            name = taken_by.get("name", NO_HANDLER)
            self.metrics.latency.labels(update_type).observe(elapsed)
            self.metrics.updates.labels(update_type, name).inc()
            # The access log of the bot: what kind of update, which handler, how long.
            logger.info(
                "%s handled by %s in %.1f ms (%s)",
                update_type,
                name,
                elapsed * 1000,
                outcome,
                extra={
                    "update_type": update_type,
                    "handler": name,
                    "duration_ms": round(elapsed * 1000, 1),
                    "outcome": outcome,
                },
            )
            current_update_id.reset(token)


class HandlerNameMiddleware(BaseMiddleware):
    """Inner middleware: records which handler was chosen ("questions.answer_question")."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        chosen: HandlerObject | None = data.get("handler")
        slot: dict[str, str] | None = data.get("metrics_handler")
        if chosen is not None and slot is not None:
            module = getattr(chosen.callback, "__module__", "").removeprefix("handlers.")
            slot["name"] = f"{module}.{getattr(chosen.callback, '__name__', 'handler')}"
        return await handler(event, data)


async def health(database: Database) -> tuple[bool, dict[str, str]]:
    """Database reachable and migrated to the revision this code expects."""
    report: dict[str, str] = {}
    try:
        await database.ping()
        report["database"] = "ok"
        current, head = await database.current_revision(), database.head_revision()
        report["migrations"] = "current" if current == head else f"at {current}, code needs {head}"
    except Exception as exc:  # any failure to reach the database is the answer itself
        report["database"] = f"unreachable: {type(exc).__name__}"
    healthy = report.get("database") == "ok" and report.get("migrations") == "current"
    report["status"] = "ok" if healthy else "failing"
    return healthy, report


def add_routes(app: web.Application, metrics: Metrics, database: Database) -> None:
    """GET /metrics (Prometheus text format) and GET /healthz (200 or 503, JSON)."""

    async def metrics_view(_request: web.Request) -> web.Response:
        body = await metrics.exposition(database)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def health_view(_request: web.Request) -> web.Response:
        healthy, report = await health(database)
        return web.Response(
            text=json.dumps(report),
            status=200 if healthy else 503,
            content_type="application/json",
        )

    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/healthz", health_view)
