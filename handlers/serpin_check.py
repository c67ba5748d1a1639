"""Serpin check: uses the home region and settlement stored at onboarding, asks for them if
they are unknown (and stores the answers), then shows eligibility and where one could study."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery

from handlers.callbacks import MenuCb, RegionCb, SettlementCb
from handlers.common import profile_of, send_long
from handlers.keyboards import journey_end_keyboard, region_keyboard, settlement_keyboard
from handlers.wizard import Steps, Turn, refuse_stale
from storage.models import Settlement


class SerpinCheck(StatesGroup):
    region = State()
    settlement = State()


async def next_step(turn: Turn) -> None:
    """Ask for what the answer still needs, or give the answer."""
    user, t = turn.user, turn.t
    if user.region is None:
        markup = region_keyboard(t.lang, None, turn.knowledge.kb.regions.regions)
        await turn.ask(SerpinCheck.region, t("serpin_check.region_prompt"), markup)
    elif user.settlement is None:
        await turn.ask(SerpinCheck.settlement, t("settlement.prompt"), settlement_keyboard(t, None))
    else:
        await turn.state.clear()
        answer = turn.knowledge.topic_answer("serpin", t.lang, turn.today(), profile_of(user))
        await send_long(turn.send, answer.html, reply_markup=journey_end_keyboard(t, answer=answer))


async def start(callback: CallbackQuery, turn: Turn) -> None:
    await next_step(turn)


async def chose_region(callback: CallbackQuery, callback_data: RegionCb, turn: Turn) -> None:
    region = turn.knowledge.kb.region(callback_data.code)
    if region is None:
        await refuse_stale(callback, turn.t)
        return
    turn.user.region = region.code
    if region.kind == "city":
        turn.user.settlement = Settlement.CITY
    await next_step(turn)


async def chose_settlement(
    callback: CallbackQuery, callback_data: SettlementCb, turn: Turn
) -> None:
    turn.user.settlement = callback_data.kind
    await next_step(turn)


def build_router() -> Router:
    steps = Steps("serpin_check")
    steps.entry(start, MenuCb.filter(F.action == "serpin"))
    steps.pressed(SerpinCheck.region, chose_region, RegionCb.filter())
    steps.pressed(SerpinCheck.settlement, chose_settlement, SettlementCb.filter())
    return steps.router
