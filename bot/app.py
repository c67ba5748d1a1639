"""App factory and run modes: the same Dispatcher serves long polling, the webhook server,
the console chat and the tests."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, ClassVar

import sqlalchemy as sa
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import DisabledEventIsolation
from aiogram.methods import Response, TelegramMethod
from aiogram.types import BotCommand
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from aiohttp.payload import JsonPayload, Payload

from bot.config import Settings
from bot.telegram_types import build_hot_types
from delivery.outbox import DeliveryWorker
from delivery.throttle import Buckets, RedisTokenBuckets, ThrottleMiddleware, TokenBuckets
from handlers import build_root_router
from handlers.broadcast import progress_text
from handlers.handoff import StaffDesk
from handlers.middlewares import (
    AnsweredPresses,
    ConversationLockMiddleware,
    DbSessionMiddleware,
    InputGuardMiddleware,
    PressAnswerMiddleware,
    UserMiddleware,
)
from handlers.wizard import ReleaseHeldReply
from i18n import I18n
from knowledge.service import Knowledge
from observability.metrics import (
    HandlerNameMiddleware,
    Metrics,
    UpdateMetricsMiddleware,
    add_routes,
)
from scheduler.service import ReminderScheduler
from storage.db import Database
from storage.fsm_storage import SQLModelStorage
from storage.isolation import KeyedLockIsolation
from storage.models import AuditEntry
from storage.taught import latest_taught_id, taught_examples

logger = logging.getLogger("talapker")

COMMANDS = ("start", "menu", "deadlines", "language", "help", "cancel", "forget")
ROLES = ("all", "web", "worker")
# How often each process looks for a /reload_kb made in another process.
KNOWLEDGE_SYNC_SECONDS = 15.0
# Polling hands each update to its own task; this bounds how many run at once.
MAX_CONCURRENT_UPDATES = 200
SHUTDOWN_GRACE_SECONDS = 20.0


def json_body(
    bot: Bot, method: TelegramMethod[Any], *, name_method: bool = False
) -> JsonPayload | None:
    """A Bot API call as a JSON body, which the Bot API accepts for every method; None when
    it uploads a file (that needs multipart). aiogram always builds a form, a field per
    parameter with nested objects as JSON strings: 160 µs against 60 µs for JSON. A webhook
    response names its method in the body (`name_method`); a request names it in the URL."""
    files: dict[str, Any] = {}
    body: dict[str, Any] = {"method": method.__api_method__} if name_method else {}
    for key, value in method.model_dump(warnings=False).items():
        prepared = bot.session.prepare_value(value, bot=bot, files=files, _dumps_json=False)
        if prepared is not None:
            body[key] = prepared
    if files:
        return None
    return JsonPayload(body, dumps=bot.session.json_dumps)


class PinnedResponseSession(AiohttpSession):
    """aiogram's aiohttp session with two changes, both for a web worker's CPU
    (bench/load.py):

    - aiogram builds the generic model `Response[<result type>]` on every call, and pydantic
      keeps built generics only weakly: under load they were garbage-collected and rebuilt
      over and over, a third of a web worker's CPU. A strong reference per result type keeps
      pydantic's cache warm.
    - Calls go as JSON (`json_body`), not as a form; one that uploads a file stays multipart.
    """

    _pinned: ClassVar[dict[Any, Any]] = {}

    def build_form_data(self, bot: Bot, method: TelegramMethod[Any]) -> Any:
        return json_body(bot, method) or super().build_form_data(bot, method)

    def check_response(
        self, bot: Bot, method: TelegramMethod[Any], status_code: int, content: str
    ) -> Response[Any]:
        returning = method.__returning__
        if returning not in self._pinned:
            self._pinned[returning] = Response[returning]  # type: ignore[valid-type]
        return super().check_response(bot, method, status_code, content)


class JsonReplyRequestHandler(SimpleRequestHandler):
    """Returns the reply carried in the webhook response as JSON (`json_body`), which the
    Bot API accepts there as it does in requests. A reply that uploads a file (a Keleshek
    chart) still goes as multipart."""

    def _build_response_writer(self, bot: Bot, result: TelegramMethod[Any] | None) -> Payload:
        if not result:
            return super()._build_response_writer(bot, result)
        return json_body(bot, result, name_method=True) or super()._build_response_writer(
            bot, result
        )


def create_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    if session is None:
        session = PinnedResponseSession(api=TelegramAPIServer.from_base(settings.bot_api_url))
    if settings.bot_token is None:
        raise ValueError("BOT_TOKEN is required to talk to a Bot API server")
    session.middleware(AnsweredPresses())
    session.middleware(ReleaseHeldReply())
    return Bot(
        settings.bot_token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def conversation_storage(
    settings: Settings, database: Database
) -> tuple[BaseStorage, BaseEventIsolation]:
    """Where wizard state lives: the database (default: it then commits together with the
    profile changes of the same update), or Redis when REDIS_URL is set."""
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage

        storage = RedisStorage.from_url(settings.redis_url)
        return storage, RedisEventIsolation(redis=storage.redis)
    return SQLModelStorage(database), KeyedLockIsolation()


def flood_buckets(settings: Settings, storage: BaseStorage) -> Buckets:
    """The flood limit's buckets: in Redis when the conversation state is there (one limit for
    every worker), else in the process."""
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        assert isinstance(storage, RedisStorage)
        return RedisTokenBuckets(storage.redis, settings.throttle_rate, settings.throttle_burst)
    return TokenBuckets(settings.throttle_rate, settings.throttle_burst)


def create_dispatcher(
    settings: Settings,
    database: Database,
    i18n: I18n,
    knowledge: Knowledge,
    delivery: DeliveryWorker,
    reminders: ReminderScheduler,
    metrics: Metrics | None = None,
) -> Dispatcher:
    metrics = metrics or Metrics()
    storage, isolation = conversation_storage(settings, database)
    dispatcher = Dispatcher(
        storage=storage,
        events_isolation=isolation,
        # Registered below, inside the update's database session: see the comment there.
        disable_fsm=True,
        settings=settings,
        database=database,
        i18n=i18n,
        knowledge=knowledge,
        delivery=delivery,
        reminders=reminders,
        metrics=metrics,
    )
    dispatcher.update.outer_middleware(UpdateMetricsMiddleware(metrics))
    dispatcher.update.outer_middleware(
        ThrottleMiddleware(
            flood_buckets(settings, storage),
            metrics,
            i18n,
            settings.default_language,
        )
    )
    dispatcher.update.outer_middleware(ConversationLockMiddleware(dispatcher.fsm, isolation))
    dispatcher.update.outer_middleware(DbSessionMiddleware(database, storage))
    # aiogram's FSM middleware reads the conversation state. Inside the update's session and
    # after the sender's lock it reads what the previous update of this person committed (on
    # any worker), in the same transaction as the rest, not in a transaction of its own.
    dispatcher.update.outer_middleware(
        FSMContextMiddleware(storage, DisabledEventIsolation(), dispatcher.fsm.strategy)
    )
    dispatcher.update.outer_middleware(UserMiddleware(settings, i18n))
    for name, observer in dispatcher.observers.items():
        if name not in ("update", "error"):
            observer.middleware(HandlerNameMiddleware())
    dispatcher.message.middleware(InputGuardMiddleware())
    dispatcher.callback_query.middleware(PressAnswerMiddleware())
    dispatcher.include_router(build_root_router())
    return dispatcher


@dataclass
class TalapkerApp:
    """Everything one bot process owns, with start-up and shutdown in one place.

    Process roles (`talapker run --role …`):
    - ``web``: serves the webhook (and /metrics, /healthz); handles updates only. Run several
      behind a load balancer: conversation state is in the database (or Redis), and a
      per-sender lock in the database keeps one person's updates in order across workers.
    - ``worker``: the scheduler and the outbox sender, active in one process at a time (the
      leader lock); a second worker stands by and takes over within seconds.
    - ``all`` (default): both in one process, by long polling or webhook; for small installs.
    """

    settings: Settings
    database: Database
    bot: Bot
    dispatcher: Dispatcher
    delivery: DeliveryWorker
    reminders: ReminderScheduler
    metrics: Metrics
    _http_runner: web.AppRunner | None = field(default=None, init=False)
    _serves_updates: bool = field(default=False, init=False)
    _delivery_task: asyncio.Task[None] | None = field(default=None, init=False)
    _delivery_stop: asyncio.Event | None = field(default=None, init=False)
    _sync_task: asyncio.Task[None] | None = field(default=None, init=False)

    @classmethod
    async def create(cls, settings: Settings, session: BaseSession | None = None) -> TalapkerApp:
        knowledge = Knowledge(settings.knowledge_dir)
        database = Database(settings.database_url)
        await database.upgrade()
        async with database.session() as db_session:
            await knowledge.set_taught_async(await taught_examples(db_session))
        i18n = I18n()
        bot = create_bot(settings, session)
        metrics = Metrics()
        delivery = DeliveryWorker(
            bot,
            database,
            rate=settings.delivery_rate,
            concurrency=settings.delivery_concurrency,
            max_attempts=settings.delivery_max_attempts,
            progress_text=progress_text(i18n),
            tz=settings.tz,
        )
        reminders = ReminderScheduler(
            database,
            i18n,
            knowledge.kb,
            settings.tz,
            on_queued=delivery.wake.set,
            unanswered_retention_days=settings.unanswered_retention_days,
        )
        app = cls(
            settings=settings,
            database=database,
            bot=bot,
            dispatcher=create_dispatcher(
                settings, database, i18n, knowledge, delivery, reminders, metrics
            ),
            delivery=delivery,
            reminders=reminders,
            metrics=metrics,
        )
        # The hand-off: staff hear of replies the outbox could not deliver, and the leader
        # posts what the staff chat missed and reminds it of tickets waiting too long.
        desk = StaffDesk(bot, settings, i18n, knowledge)

        async def undelivered(campaign: Any, user_id: int, status: str, error: str | None) -> None:
            await desk.undelivered(database, campaign, user_id, status, error)

        async def sweep() -> None:
            await desk.sweep(database)

        delivery.on_undelivered = undelivered
        reminders.ticket_sweep = sweep
        # The outbox sender runs where the scheduler leads: exactly one sender, so the
        # delivery rate is a rate for the whole installation, not per process.
        reminders.on_lead = app.start_delivery
        reminders.on_step_down = app.stop_delivery
        return app

    @property
    def knowledge(self) -> Knowledge:
        return self.dispatcher["knowledge"]  # type: ignore[no-any-return]

    async def start_background(self) -> None:
        """The worker's part: the scheduler and the outbox sender if this process leads, else
        a standby that takes over when the leader goes."""
        await self.reminders.start()
        self.start_knowledge_sync()

    def start_delivery(self) -> None:
        """Send the outbox in the background of this process."""
        if self._delivery_task is not None:
            return
        self._delivery_stop = asyncio.Event()
        self._delivery_task = asyncio.create_task(self.delivery.run(self._delivery_stop))
        self.metrics.leader.set(1)
        logger.info("this process now runs the scheduler and the outbox sender")

    async def stop_delivery(self) -> None:
        if self._delivery_task is not None and self._delivery_stop is not None:
            self._delivery_stop.set()
            await self._delivery_task
            self._delivery_task = None
        self.metrics.leader.set(0)

    # ------------------------------------------------------------------ knowledge sync
    def start_knowledge_sync(self) -> None:
        """/reload_kb reloads the process that received it; the others notice its audit
        entry within KNOWLEDGE_SYNC_SECONDS and reload too."""
        if self._sync_task is None:
            self._sync_task = asyncio.create_task(self._sync_knowledge())

    async def _latest_reload(self) -> int:
        async with self.database.session() as session:
            result = await session.exec(
                sa.select(sa.func.max(AuditEntry.id)).where(AuditEntry.action == "kb_reload")
            )
            return int(result.scalar_one() or 0)

    async def _latest_taught(self) -> int:
        async with self.database.session() as session:
            return await latest_taught_id(session)

    async def sync_taught(self) -> None:
        """Questions staff taught in any process join this process's example index."""
        async with self.database.session() as session:
            await self.knowledge.set_taught_async(await taught_examples(session))

    async def _sync_knowledge(self) -> None:
        seen = await self._latest_reload()
        taught = await self._latest_taught()
        while True:
            await asyncio.sleep(KNOWLEDGE_SYNC_SECONDS)
            try:
                latest = await self._latest_reload()
                if latest > seen:
                    seen = latest
                    self.reminders.kb = self.knowledge.reload()
                    logger.info("knowledge base reloaded after /reload_kb elsewhere")
                latest_taught = await self._latest_taught()
                if latest_taught != taught:
                    taught = latest_taught
                    await self.sync_taught()
                    logger.info("taught examples synced")
            except asyncio.CancelledError:
                raise
            except Exception:  # a broken file or a database hiccup: keep the old data, retry
                logger.warning("knowledge sync failed; keeping the loaded data", exc_info=True)

    # ------------------------------------------------------------------ serving
    async def set_commands(self) -> None:
        i18n: I18n = self.dispatcher["i18n"]
        for lang in (None, *i18n.languages):
            commands = [
                BotCommand(command=name, description=i18n.plain(lang or "en", f"commands.{name}"))
                for name in COMMANDS
            ]
            await self.bot.set_my_commands(commands, language_code=lang)

    async def run_polling(self, *, handle_signals: bool = True) -> None:
        """Long polling until SIGINT/SIGTERM (or `stop_polling`)."""
        await self.bot.delete_webhook(drop_pending_updates=False)
        await self.set_commands()
        logger.info("polling %s", self.settings.bot_api_url)
        await self.dispatcher.start_polling(
            self.bot,
            handle_signals=handle_signals,
            close_bot_session=False,
            tasks_concurrency_limit=MAX_CONCURRENT_UPDATES,
            allowed_updates=self.dispatcher.resolve_used_update_types(),
        )
        await self._drain_polled_updates()

    async def _drain_polled_updates(self) -> None:
        """Polling stops fetching on SIGTERM but leaves the updates it already took running;
        let them finish (and commit) before the database goes away."""
        # aiogram keeps these in a private set; there is no public way to await them.
        in_flight = set(getattr(self.dispatcher, "_handle_update_tasks", ()))
        if in_flight:
            logger.info("waiting for %d update(s) in flight", len(in_flight))
            await asyncio.wait(in_flight, timeout=SHUTDOWN_GRACE_SECONDS)

    async def _serve(self, app: web.Application, host: str, port: int) -> None:
        add_routes(app, self.metrics, self.database)
        # No aiohttp access log: UpdateMetricsMiddleware already writes one structured line
        # per update, and a second, unstructured one per request doubled the log volume (and
        # each Prometheus scrape would add its own).
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._http_runner = runner

    async def start_webhook(self) -> web.AppRunner:
        """Serve the webhook (with /metrics and /healthz) and register it with the Bot API."""
        settings = self.settings
        app = web.Application()
        # In the foreground: Telegram gets its 200 only once the update is handled and
        # committed, so an update lost with a crashed worker is sent again; and Telegram's
        # max_connections then bounds how many updates a worker holds at once.
        JsonReplyRequestHandler(
            dispatcher=self.dispatcher,
            bot=self.bot,
            secret_token=settings.webhook_secret,
            handle_in_background=False,
        ).register(app, path=settings.webhook_path)
        await self._serve(app, settings.webhook_host, settings.webhook_port)
        self._serves_updates = True
        await self.dispatcher.emit_startup(bot=self.bot)
        await self.set_commands()
        if settings.webhook_url:
            await self.bot.set_webhook(
                settings.webhook_url,
                secret_token=settings.webhook_secret,
                allowed_updates=self.dispatcher.resolve_used_update_types(),
                max_connections=settings.webhook_max_connections,
            )
        logger.info(
            "webhook listening on %s:%s%s",
            settings.webhook_host,
            settings.webhook_port,
            settings.webhook_path,
        )
        assert self._http_runner is not None
        return self._http_runner

    async def start_metrics_server(self) -> None:
        """/metrics and /healthz for a process without a webhook server (METRICS_PORT)."""
        if self.settings.metrics_port is not None and self._http_runner is None:
            await self._serve(
                web.Application(), self.settings.webhook_host, self.settings.metrics_port
            )
            logger.info("metrics on port %s", self.settings.metrics_port)

    async def run_until_signal(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        logger.info("shutting down")

    async def run_webhook(self) -> None:
        """Serve the webhook until SIGINT/SIGTERM, then finish in-flight updates and exit."""
        await self.start_webhook()
        await self.run_until_signal()

    async def close(self) -> None:
        if self._sync_task is not None:
            self._sync_task.cancel()
            with suppress(asyncio.CancelledError):
                await self._sync_task
        await self.reminders.stop()
        await self.stop_delivery()
        if self._http_runner is not None:
            # cleanup() stops accepting requests and waits for the handlers in flight.
            await self._http_runner.cleanup()
            self._http_runner = None
            if self._serves_updates:
                await self.dispatcher.emit_shutdown(bot=self.bot)
        await self.dispatcher.storage.close()
        await self.bot.session.close()
        await self.database.dispose()


async def run(settings: Settings, role: str = "all") -> None:
    app = await TalapkerApp.create(settings)
    build_hot_types()
    # aiogram, pydantic and the knowledge base leave well over 100,000 objects that live as long as
    # the process. A full garbage collection walks them all, about 100 ms with the event loop
    # stopped, every time enough new objects survive: a latency spike for every update in
    # flight. Frozen, they are never walked again.
    gc.collect()
    gc.freeze()
    try:
        if role == "web":
            app.start_knowledge_sync()
            await app.run_webhook()
        elif role == "worker":
            await app.start_background()
            await app.start_metrics_server()
            await app.run_until_signal()
        else:
            await app.start_background()
            if settings.webhook_url:
                await app.run_webhook()
            else:
                await app.start_metrics_server()
                await app.run_polling()
    finally:
        await app.close()
