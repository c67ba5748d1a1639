"""/forget: delete everything the bot stores about the sender, after a confirmation.

What goes: the `users` row (language, role, region, settlement, reminder settings), the
conversation state, reminder subscriptions and outbox messages not yet sent. What stays has
no user id: answer votes and the unanswered-question log (see the README's privacy section).
Sent outbox rows are deleted too: they only said that this user received a campaign."""

from __future__ import annotations

import sqlalchemy as sa
from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.callbacks import ForgetCb
from handlers.common import sender
from handlers.filters import Magic
from handlers.keyboards import Keyboard
from i18n import Translator
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
) -> None:
    send = sender(callback)
    if not callback_data.confirm:
        await send(t("forget.kept"))
        return
    await state.clear()  # Redis storage keeps state outside the database
    session.expunge(user)  # nothing of the loaded row may be written back
    await forget_everything(session, user.id)
    await send(t("forget.done"))


def build_router() -> Router:
    router = Router(name="privacy")
    router.message.register(forget_command, Command("forget"))
    router.callback_query.register(forget_answer, ForgetCb.filter(), Magic(F.from_user))
    return router
