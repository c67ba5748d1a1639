"""The error handler: log the failure with its update id, tell the user politely."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, Router
from aiogram.types import ErrorEvent

from i18n import I18n, Translator

router = Router(name="errors")
logger = logging.getLogger("talapker.errors")


def _chat_id(event: ErrorEvent) -> int | None:
    update = event.update
    if update.message is not None:
        return update.message.chat.id
    if update.callback_query is not None and update.callback_query.message is not None:
        return update.callback_query.message.chat.id
    if update.callback_query is not None:
        return update.callback_query.from_user.id
    return None


async def on_error(event: ErrorEvent, bot: Bot, i18n: I18n, **data: Any) -> bool:
    logger.error(
        "update %s failed: %s",
        event.update.update_id,
        type(event.exception).__name__,
        exc_info=event.exception,
    )
    metrics = data.get("metrics")
    if metrics is not None:
        metrics.errors.labels(event.update.event_type).inc()
    press = event.update.callback_query
    if press is not None:
        # A failed handler never reached the press answer: stop the button's spinner.
        # (If it had answered before failing, Telegram refuses a second answer; no harm.)
        try:
            await bot.answer_callback_query(press.id)
        except Exception:
            logger.debug("press %s of update %s not answered", press.id, event.update.update_id)
    chat_id = _chat_id(event)
    if chat_id is None:
        return True
    t: Translator = data.get("t") or i18n.translator(i18n.languages[0])
    try:
        await bot.send_message(chat_id, t("errors.internal"))
    except Exception:  # the apology itself failed (network, blocked bot): already logged above
        logger.warning("could not tell chat %s about the failure", chat_id, exc_info=True)
    return True


def build_router() -> Router:
    router = Router(name="errors")
    router.errors.register(on_error)
    return router
