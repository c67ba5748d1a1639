"""Serpin check: uses the home region and settlement stored at onboarding, asks for them if
they are unknown (and stores the answers), then shows eligibility and where one could study."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery

from handlers.callbacks import MenuCb, RegionCb, SettlementCb
from handlers.common import Send, profile_of, send_long, sender, today
from handlers.keyboards import journey_end_keyboard, region_keyboard, settlement_keyboard
from handlers.settings import HandlerSettings
from i18n import Translator
from knowledge.service import Knowledge
from storage.models import Settlement, User


class SerpinCheck(StatesGroup):
    region = State()
    settlement = State()


async def show(
    send: Send,
    state: FSMContext,
    user: User,
    t: Translator,
    knowledge: Knowledge,
    settings: HandlerSettings,
) -> None:
    await state.clear()
    answer = knowledge.topic_answer("serpin", t.lang, today(settings), profile_of(user))
    await send_long(send, answer.html, reply_markup=journey_end_keyboard(t, answer=answer))


async def next_step(
    send: Send,
    state: FSMContext,
    user: User,
    t: Translator,
    knowledge: Knowledge,
    settings: HandlerSettings,
) -> None:
    if user.region is None:
        await state.set_state(SerpinCheck.region)
        await send(
            t("serpin_check.region_prompt"),
            reply_markup=region_keyboard(t.lang, None, knowledge.kb.regions.regions),
        )
    elif user.settlement is None:
        await state.set_state(SerpinCheck.settlement)
        await send(t("settlement.prompt"), reply_markup=settlement_keyboard(t, None))
    else:
        await show(send, state, user, t, knowledge, settings)


async def start(
    callback: CallbackQuery,
    state: FSMContext,
    user: User,
    t: Translator,
    knowledge: Knowledge,
    settings: HandlerSettings,
) -> None:
    await next_step(sender(callback), state, user, t, knowledge, settings)


async def chose_region(
    callback: CallbackQuery,
    callback_data: RegionCb,
    state: FSMContext,
    user: User,
    t: Translator,
    knowledge: Knowledge,
    settings: HandlerSettings,
) -> None:
    region = knowledge.kb.region(callback_data.code)
    if region is None:
        await callback.answer(t.plain("errors.stale_button"), show_alert=True)
        return
    user.region = region.code
    if region.kind == "city":
        user.settlement = Settlement.CITY
    await next_step(sender(callback), state, user, t, knowledge, settings)


async def chose_settlement(
    callback: CallbackQuery,
    callback_data: SettlementCb,
    state: FSMContext,
    user: User,
    t: Translator,
    knowledge: Knowledge,
    settings: HandlerSettings,
) -> None:
    user.settlement = callback_data.kind
    await next_step(sender(callback), state, user, t, knowledge, settings)


def build_router() -> Router:
    router = Router(name="serpin_check")
    router.callback_query.register(start, MenuCb.filter(F.action == "serpin"))
    router.callback_query.register(chose_region, StateFilter(SerpinCheck.region), RegionCb.filter())
    router.callback_query.register(
        chose_settlement, StateFilter(SerpinCheck.settlement), SettlementCb.filter()
    )
    return router
