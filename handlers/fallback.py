"""Last resort for anything no feature router took: stickers, photos, voice and other media,
edited messages, out-of-date or forged buttons. Each gets a short answer in the user's
language. (Text never gets here: the question router answers all text.)"""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from i18n import Translator


async def not_text(message: Message, t: Translator) -> None:
    await message.answer(t("errors.text_only"))


async def edited(message: Message, t: Translator) -> None:
    # Answering the edit would repeat (or contradict) the answer to the original message.
    await message.answer(t("errors.edited"))


async def stale_button(callback: CallbackQuery, t: Translator) -> None:
    await callback.answer(t.plain("errors.stale_button"), show_alert=True)


def build_router() -> Router:
    router = Router(name="fallback")
    router.message.register(not_text)
    router.edited_message.register(edited)
    router.callback_query.register(stale_button)
    return router
