"""Serpin check: uses the home region and settlement stored at onboarding, asks for them if
they are unknown (and stores the answers), then shows eligibility and where one could study."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery

from handlers.callbacks import MenuCb, RegionCb, SettlementCb
from handlers.common import Send, profile_of, send_long, sender, today
from handlers.keyboards import journey_end_keyboard, region_keyboard, settlement_keyboard
from handlers.settings import HandlerSettings
from handlers.wizard import Steps, ask, refuse_stale
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
        markup = region_keyboard(t.lang, None, knowledge.kb.regions.regions)
        await ask(send, state, SerpinCheck.region, t("serpin_check.region_prompt"), markup)
    elif user.settlement is None:
        markup = settlement_keyboard(t, None)
        await ask(send, state, SerpinCheck.settlement, t("settlement.prompt"), markup)
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
        await refuse_stale(callback, t)
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
    steps = Steps("serpin_check")
    steps.entry(start, MenuCb.filter(F.action == "serpin"))
    steps.pressed(SerpinCheck.region, chose_region, RegionCb.filter())
    steps.pressed(SerpinCheck.settlement, chose_settlement, SettlementCb.filter())
    return steps.router
