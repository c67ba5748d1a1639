"""/forget: delete everything the bot stores about the sender, after a confirmation.

What goes: the `users` row (language, role, region, settlement, reminder settings), the
conversation state, reminder subscriptions, outbox messages not yet sent, and the questions to
the admissions office (tickets, their messages, the staff chat topic's mapping; the staff chat
gets a note, and what staff read there stays in Telegram). What stays has
no user id: answer votes and the unanswered-question log (see the README's privacy section).
Sent outbox rows are deleted too: they only said that this user received a campaign."""

from __future__ import annotations

from contextlib import suppress

import sqlalchemy as sa
from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from delivery import tickets
from handlers.callbacks import ForgetCb
from handlers.common import sender
from handlers.filters import Magic
from handlers.keyboards import Keyboard
from handlers.settings import HandlerSettings
from i18n import I18n, Translator
from storage.models import DateWatch, FsmRecord, OutboxMessage, Subscription, User


def confirm_keyboard(t: Translator) -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(text=t.plain("forget.confirm"), callback_data=ForgetCb(confirm=True))
    builder.button(text=t.plain("forget.keep"), callback_data=ForgetCb(confirm=False))
    builder.adjust(1)
    return builder.as_markup()


async def forget_command(message: Message, t: Translator) -> None:
    await message.answer(t("forget.prompt"), reply_markup=confirm_keyboard(t))


async def forget_everything(session: AsyncSession, user_id: int) -> None:
    """Delete the user's rows in the update's transaction: all of it commits or none."""
    await tickets.forget(session, user_id)
    await session.exec(sa.delete(Subscription).where(Subscription.user_id == user_id))  # type: ignore[arg-type]
    await session.exec(sa.delete(DateWatch).where(DateWatch.user_id == user_id))  # type: ignore[arg-type]
    # A message being sent right now may still arrive; its row goes, so nothing is retried.
    await session.exec(sa.delete(OutboxMessage).where(OutboxMessage.user_id == user_id))  # type: ignore[arg-type]
    await session.exec(
        sa.delete(FsmRecord).where(FsmRecord.key.like(f"%:{user_id}:%"))  # type: ignore[attr-defined,arg-type]
    )
    await session.exec(sa.delete(User).where(User.id == user_id))  # type: ignore[arg-type]


async def forget_answer(
    callback: CallbackQuery,
    callback_data: ForgetCb,
    state: FSMContext,
    session: AsyncSession,
    user: User,
    t: Translator,
    settings: HandlerSettings,
    i18n: I18n,
) -> None:
    send = sender(callback)
    if not callback_data.confirm:
        await send(t("forget.kept"))
        return
    await state.clear()  # Redis storage keeps state outside the database
    topic = await tickets.topic_of(session, user.id)
    session.expunge(user)  # nothing of the loaded row may be written back
    await forget_everything(session, user.id)
    if topic is not None and topic.chat_id == settings.staff_chat_id:
        staff = i18n.translator(settings.default_language)
        with suppress(TelegramAPIError):  # the data is gone either way
            await send.bot.send_message(
                topic.chat_id, staff("handoff.forgotten"), message_thread_id=topic.thread_id
            )
    await send(t("forget.done"))


def build_router() -> Router:
    router = Router(name="privacy")
    router.message.register(forget_command, Command("forget"))
    router.callback_query.register(forget_answer, ForgetCb.filter(), Magic(F.from_user))
    return router
