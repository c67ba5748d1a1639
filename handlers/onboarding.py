"""/start: language → role → home region → city or village → main menu.

Every step marks the stored answer with ✓, so running /start again keeps what the user
does not change, and every step has a "Skip" button: a skipped answer stays unknown until an
answer needs it (the Serpin check asks for the region then). Text typed at a step is not an
answer to it (the steps are buttons): it goes to the questions router and is answered as a
question, and the step stays open (see `handlers.wizard.still_open_note`)."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import CommandStart, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from handlers.callbacks import LanguageCb, RegionCb, RoleCb, SettlementCb, SkipCb
from handlers.keyboards import (
    language_keyboard,
    main_menu_keyboard,
    region_keyboard,
    role_keyboard,
    settlement_keyboard,
)
from handlers.wizard import Steps, Turn, refuse_stale
from i18n import I18n, Translator
from storage.models import Role, Settlement


class Onboarding(StatesGroup):
    language = State()
    role = State()
    region = State()
    settlement = State()


# The steps in the order they are asked, by the name their "Skip" button carries.
ORDER = (Onboarding.language, Onboarding.role, Onboarding.region, Onboarding.settlement)
STEPS = {step._state: step for step in ORDER}


async def confirm_choice(callback: CallbackQuery, text: str) -> None:
    """Replace the question with the chosen answer, dropping its buttons."""
    if isinstance(callback.message, Message):
        # A message too old to edit keeps its buttons; the next question follows anyway.
        with suppress(TelegramBadRequest):
            await callback.message.edit_text(text)


def with_skip(
    markup: InlineKeyboardMarkup, t: Translator, step: str | None
) -> InlineKeyboardMarkup:
    skip = InlineKeyboardButton(
        text=t.plain("onboarding.skip"),
        callback_data=SkipCb(step=step).pack(),  # type: ignore[arg-type]
    )
    return InlineKeyboardMarkup(inline_keyboard=[*markup.inline_keyboard, [skip]])


async def ask_step(turn: Turn, step: State) -> None:
    user, t = turn.user, turn.t
    if step == Onboarding.language:
        text, markup = t("language.prompt"), language_keyboard(user.language)
    elif step == Onboarding.role:
        text, markup = t("role.prompt"), role_keyboard(t, user.role, can_be_staff=turn.is_staff)
    elif step == Onboarding.region:
        regions = turn.knowledge.kb.regions.regions
        text, markup = t("region.prompt"), region_keyboard(t.lang, user.region, regions)
    else:
        text, markup = t("settlement.prompt"), settlement_keyboard(t, user.settlement)
    await turn.ask(step, text, with_skip(markup, t, step._state))


async def finish(turn: Turn) -> None:
    turn.user.onboarded = True
    await turn.state.clear()
    await turn.send(turn.t("onboarding.done"))
    await turn.send(turn.t("menu.title"), reply_markup=main_menu_keyboard(turn.t, turn.user.role))


async def begin(turn: Turn) -> None:
    await turn.send(
        turn.t("onboarding.welcome_back" if turn.user.onboarded else "onboarding.welcome")
    )
    await ask_step(turn, Onboarding.language)


async def start(message: Message, turn: Turn) -> None:
    await turn.state.clear()
    await begin(turn)


class Refused(Exception):
    """A pressed answer that cannot be taken; the alert says why."""

    def __init__(self, alert_key: str = "errors.stale_button") -> None:
        self.alert_key = alert_key


@dataclass(frozen=True)
class Choice:
    """What a pressed answer did: the confirmation that replaces the question and whether
    it leaves nothing more to ask (staff need no region; a city region is a city)."""

    confirmation: str
    params: dict[str, Any] = field(default_factory=dict)
    complete: bool = False


def take_language(data: LanguageCb, turn: Turn) -> Choice:
    turn.user.language = data.code
    return Choice("language.saved")


def take_role(data: RoleCb, turn: Turn) -> Choice:
    if data.role == Role.STAFF and not turn.is_staff:
        raise Refused("role.not_allowed")
    turn.user.role = data.role
    role = turn.t.plain(f"role.{data.role}")
    return Choice("role.saved", {"role": role}, complete=data.role == Role.STAFF)


def take_region(data: RegionCb, turn: Turn) -> Choice:
    region = turn.knowledge.kb.region(data.code)
    if region is None:
        raise Refused()
    turn.user.region = region.code
    if region.kind == "city":
        # Astana, Almaty and Shymkent are cities by definition: no need to ask.
        turn.user.settlement = Settlement.CITY
    name = region.name.get(turn.t.lang)
    return Choice("region.saved", {"region": name}, complete=region.kind == "city")


def take_settlement(data: SettlementCb, turn: Turn) -> Choice:
    turn.user.settlement = data.kind
    return Choice("settlement.saved", {"settlement": turn.t.plain(f"settlement.{data.kind}")})


TAKE = {
    LanguageCb: (Onboarding.language, take_language),
    RoleCb: (Onboarding.role, take_role),
    RegionCb: (Onboarding.region, take_region),
    SettlementCb: (Onboarding.settlement, take_settlement),
}


async def next_step(turn: Turn, after: State) -> None:
    index = ORDER.index(after) + 1
    if index == len(ORDER):
        await finish(turn)
    else:
        await ask_step(turn, ORDER[index])


async def chose(
    callback: CallbackQuery, callback_data: CallbackData, turn: Turn, i18n: I18n
) -> None:
    """A pressed answer, or "Skip", at any step: taken, confirmed in place of the question,
    then on to the next step."""
    if isinstance(callback_data, SkipCb):
        step = STEPS[callback_data.step]
        if await turn.state.get_state() != step.state:  # "Skip" under an earlier question
            await refuse_stale(callback, turn.t)
            return
        choice = Choice("onboarding.skipped")
    else:
        step, take = TAKE[type(callback_data)]
        try:
            choice = take(callback_data, turn)  # type: ignore[operator]
        except Refused as refused:
            await callback.answer(turn.t.plain(refused.alert_key), show_alert=True)
            return
    # The language step changes the language the rest is asked in.
    turn = turn.speaking(i18n.translator(turn.user.language or turn.t.lang))
    await confirm_choice(callback, turn.t(choice.confirmation, **choice.params))
    if choice.complete:
        await finish(turn)
    else:
        await next_step(turn, step)


def build_router() -> Router:
    router = Steps("onboarding").router
    router.message.register(start, CommandStart())
    for callback_type, (step, _) in TAKE.items():
        router.callback_query.register(chose, StateFilter(step), callback_type.filter())
    router.callback_query.register(chose, StateFilter(Onboarding), SkipCb.filter())
    return router
