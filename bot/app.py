"""App factory and run modes: the same Dispatcher serves long polling, the webhook server,
the console chat and the tests."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import suppress
from dataclasses import dataclass, field

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import BotCommand
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.config import Settings
from bot.db import Database
from bot.delivery import DeliveryWorker
from bot.fsm_storage import SQLModelStorage
from bot.i18n import I18n
from bot.isolation import KeyedLockIsolation
from bot.middlewares import DbSessionMiddleware, InputGuardMiddleware, UserMiddleware
from handlers import build_root_router
from handlers.broadcast import progress_text
from knowledge.service import Knowledge
from scheduler.service import ReminderScheduler

logger = logging.getLogger("talapker")

COMMANDS = ("start", "menu", "deadlines", "language", "help", "cancel")
# Polling hands each update to its own task; this bounds how many run at once.
MAX_CONCURRENT_UPDATES = 200
SHUTDOWN_GRACE_SECONDS = 20.0


def create_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    if session is None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.bot_api_url))
    if settings.bot_token is None:
        raise ValueError("BOT_TOKEN is required to talk to a Bot API server")
    return Bot(
        settings.bot_token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def create_dispatcher(
    settings: Settings,
    database: Database,
    i18n: I18n,
    knowledge: Knowledge,
    delivery: DeliveryWorker,
    reminders: ReminderScheduler,
) -> Dispatcher:
    dispatcher = Dispatcher(
        storage=SQLModelStorage(database),
        events_isolation=KeyedLockIsolation(),
        settings=settings,
        database=database,
        i18n=i18n,
        knowledge=knowledge,
        delivery=delivery,
        reminders=reminders,
    )
    dispatcher.update.outer_middleware(DbSessionMiddleware(database))
    dispatcher.update.outer_middleware(UserMiddleware(settings, i18n))
    dispatcher.message.middleware(InputGuardMiddleware())
    dispatcher.include_router(build_root_router())
    return dispatcher


@dataclass
class TalapkerApp:
    """Everything one bot process owns, with start-up and shutdown in one place."""

    settings: Settings
    database: Database
    bot: Bot
    dispatcher: Dispatcher
    delivery: DeliveryWorker
    reminders: ReminderScheduler
    _webhook_runner: web.AppRunner | None = field(default=None, init=False)
    _delivery_task: asyncio.Task[None] | None = field(default=None, init=False)
    _delivery_stop: asyncio.Event | None = field(default=None, init=False)

    @classmethod
    async def create(cls, settings: Settings, session: BaseSession | None = None) -> TalapkerApp:
        knowledge = Knowledge(settings.knowledge_dir)
        database = Database(settings.database_url)
        await database.upgrade()
        i18n = I18n()
        bot = create_bot(settings, session)
        delivery = DeliveryWorker(
            bot,
            database,
            rate=settings.delivery_rate,
            concurrency=settings.delivery_concurrency,
            max_attempts=settings.delivery_max_attempts,
            progress_text=progress_text(i18n),
            quiet_hours=settings.waking_hours,
            tz=settings.tz,
        )
        reminders = ReminderScheduler(
            database, i18n, knowledge.kb, settings.tz, on_queued=delivery.wake.set
        )
        return cls(
            settings=settings,
            database=database,
            bot=bot,
            dispatcher=create_dispatcher(settings, database, i18n, knowledge, delivery, reminders),
            delivery=delivery,
            reminders=reminders,
        )

    async def start_background(self) -> None:
        """The all-in-one role: the outbox sender and (if this process leads) the scheduler."""
        self.start_delivery()
        await self.reminders.start()

    def start_delivery(self) -> None:
        """Send the outbox in the background of this process."""
        self._delivery_stop = asyncio.Event()
        self._delivery_task = asyncio.create_task(self.delivery.run(self._delivery_stop))

    async def stop_delivery(self) -> None:
        if self._delivery_task is not None and self._delivery_stop is not None:
            self._delivery_stop.set()
            await self._delivery_task
            self._delivery_task = None

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

    async def start_webhook(self) -> web.AppRunner:
        """Serve the webhook and register it with the Bot API; returns the running server."""
        settings = self.settings
        app = web.Application()
        SimpleRequestHandler(
            dispatcher=self.dispatcher, bot=self.bot, secret_token=settings.webhook_secret
        ).register(app, path=settings.webhook_path)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, settings.webhook_host, settings.webhook_port).start()
        self._webhook_runner = runner
        await self.dispatcher.emit_startup(bot=self.bot)
        await self.set_commands()
        if settings.webhook_url:
            await self.bot.set_webhook(
                settings.webhook_url,
                secret_token=settings.webhook_secret,
                allowed_updates=self.dispatcher.resolve_used_update_types(),
            )
        logger.info(
            "webhook listening on %s:%s%s",
            settings.webhook_host,
            settings.webhook_port,
            settings.webhook_path,
        )
        return runner

    async def run_webhook(self) -> None:
        """Serve the webhook until SIGINT/SIGTERM, then finish in-flight updates and exit."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await self.start_webhook()
        await stop.wait()
        logger.info("shutting down")

    async def close(self) -> None:
        await self.reminders.stop()
        await self.stop_delivery()
        if self._webhook_runner is not None:
            # cleanup() stops accepting requests and waits for the handlers in flight.
            await self._webhook_runner.cleanup()
            await self.dispatcher.emit_shutdown(bot=self.bot)
            self._webhook_runner = None
        await self.dispatcher.storage.close()
        await self.bot.session.close()
        await self.database.dispose()


async def run(settings: Settings) -> None:
    app = await TalapkerApp.create(settings)
    await app.start_background()
    try:
        if settings.webhook_url:
            await app.run_webhook()
        else:
            await app.run_polling()
    finally:
        await app.close()
