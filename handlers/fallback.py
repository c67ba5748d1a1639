"""Last resort for anything no feature router took: unknown text, stickers and other media,
out-of-date or forged buttons. Each gets a short answer in the user's language."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message

from bot.i18n import Translator


async def unknown_text(message: Message, t: Translator) -> None:
    await message.answer(t("errors.unknown_text"))


async def not_text(message: Message, t: Translator) -> None:
    await message.answer(t("errors.text_only"))


async def stale_button(callback: CallbackQuery, t: Translator) -> None:
    await callback.answer(t.plain("errors.stale_button"), show_alert=True)


def build_router() -> Router:
    router = Router(name="fallback")
    router.message.register(unknown_text, F.text)
    router.message.register(not_text)
    router.callback_query.register(stale_button)
    return router
