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
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from handlers.callbacks import LanguageCb, RegionCb, RoleCb, SettlementCb, SkipCb
from handlers.common import Send, sender
from handlers.keyboards import (
    language_keyboard,
    main_menu_keyboard,
    region_keyboard,
    role_keyboard,
    settlement_keyboard,
)
from handlers.wizard import ask, refuse_stale
from i18n import I18n, Translator
from knowledge.service import Knowledge
from storage.models import Role, Settlement, User


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


async def ask_step(
    send: Send,
    state: FSMContext,
    step: State,
    user: User,
    t: Translator,
    can_be_staff: bool,
    knowledge: Knowledge,
) -> None:
    if step == Onboarding.language:
        text, markup = t("language.prompt"), language_keyboard(user.language)
    elif step == Onboarding.role:
        text, markup = t("role.prompt"), role_keyboard(t, user.role, can_be_staff=can_be_staff)
    elif step == Onboarding.region:
        regions = knowledge.kb.regions.regions
        text, markup = t("region.prompt"), region_keyboard(t.lang, user.region, regions)
    else:
        text, markup = t("settlement.prompt"), settlement_keyboard(t, user.settlement)
    await ask(send, state, step, text, with_skip(markup, t, step._state))


async def finish(send: Send, state: FSMContext, user: User, t: Translator) -> None:
    user.onboarded = True
    await state.clear()
    await send(t("onboarding.done"))
    await send(t("menu.title"), reply_markup=main_menu_keyboard(t, user.role))


async def begin(send: Send, state: FSMContext, user: User, t: Translator, is_staff: bool) -> None:
    await send(t("onboarding.welcome_back" if user.onboarded else "onboarding.welcome"))
    markup = with_skip(language_keyboard(user.language), t, "language")
    await ask(send, state, Onboarding.language, t("language.prompt"), markup)


async def start(
    message: Message, state: FSMContext, user: User, t: Translator, is_staff: bool
) -> None:
    await state.clear()
    await begin(message.answer, state, user, t, is_staff)


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


def take_language(data: LanguageCb, user: User, t: Translator, _: bool, __: Knowledge) -> Choice:
    user.language = data.code
    return Choice("language.saved")


def take_role(data: RoleCb, user: User, t: Translator, is_staff: bool, _: Knowledge) -> Choice:
    if data.role == Role.STAFF and not is_staff:
        raise Refused("role.not_allowed")
    user.role = data.role
    return Choice("role.saved", {"role": t.plain(f"role.{data.role}")}, data.role == Role.STAFF)


def take_region(data: RegionCb, user: User, t: Translator, _: bool, knowledge: Knowledge) -> Choice:
    region = knowledge.kb.region(data.code)
    if region is None:
        raise Refused()
    user.region = region.code
    if region.kind == "city":
        # Astana, Almaty and Shymkent are cities by definition: no need to ask.
        user.settlement = Settlement.CITY
    return Choice("region.saved", {"region": region.name.get(t.lang)}, region.kind == "city")


def take_settlement(
    data: SettlementCb, user: User, t: Translator, _: bool, __: Knowledge
) -> Choice:
    user.settlement = data.kind
    return Choice("settlement.saved", {"settlement": t.plain(f"settlement.{data.kind}")})


TAKE = {
    LanguageCb: (Onboarding.language, take_language),
    RoleCb: (Onboarding.role, take_role),
    RegionCb: (Onboarding.region, take_region),
    SettlementCb: (Onboarding.settlement, take_settlement),
}


async def next_step(
    send: Send,
    state: FSMContext,
    after: State,
    user: User,
    t: Translator,
    is_staff: bool,
    knowledge: Knowledge,
) -> None:
    index = ORDER.index(after) + 1
    if index == len(ORDER):
        await finish(send, state, user, t)
    else:
        await ask_step(send, state, ORDER[index], user, t, is_staff, knowledge)


async def chose(
    callback: CallbackQuery,
    callback_data: CallbackData,
    state: FSMContext,
    user: User,
    t: Translator,
    i18n: I18n,
    is_staff: bool,
    knowledge: Knowledge,
) -> None:
    """A pressed answer at any step: taken, confirmed in place of the question, then on."""
    step, take = TAKE[type(callback_data)]
    try:
        choice = take(callback_data, user, t, is_staff, knowledge)  # type: ignore[operator]
    except Refused as refused:
        await callback.answer(t.plain(refused.alert_key), show_alert=True)
        return
    t = i18n.translator(user.language or t.lang)  # the language step changes it
    await confirm_choice(callback, t(choice.confirmation, **choice.params))
    if choice.complete:
        await finish(sender(callback), state, user, t)
    else:
        await next_step(sender(callback), state, step, user, t, is_staff, knowledge)


async def skipped(
    callback: CallbackQuery,
    callback_data: SkipCb,
    state: FSMContext,
    user: User,
    t: Translator,
    is_staff: bool,
    knowledge: Knowledge,
) -> None:
    step = STEPS[callback_data.step]
    if await state.get_state() != step.state:  # "Skip" under an earlier question
        await refuse_stale(callback, t)
        return
    await confirm_choice(callback, t("onboarding.skipped"))
    await next_step(sender(callback), state, step, user, t, is_staff, knowledge)


def build_router() -> Router:
    router = Router(name="onboarding")
    router.message.register(start, CommandStart())
    for callback_type, (step, _) in TAKE.items():
        router.callback_query.register(chose, StateFilter(step), callback_type.filter())
    router.callback_query.register(skipped, StateFilter(Onboarding), SkipCb.filter())
    return router
