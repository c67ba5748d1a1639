"""/start: language → role → home region → city or village → main menu.

Every step marks the stored answer with ✓, so running /start again keeps what the user
does not change. A typed message in the middle of the wizard re-asks the same step."""

from __future__ import annotations

from contextlib import suppress

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from handlers.callbacks import LanguageCb, RegionCb, RoleCb, SettlementCb
from handlers.common import Send, sender
from handlers.filters import NOT_A_QUESTION, NOT_COMMAND
from handlers.keyboards import (
    language_keyboard,
    main_menu_keyboard,
    region_keyboard,
    role_keyboard,
    settlement_keyboard,
)
from i18n import I18n, Translator
from knowledge.service import Knowledge
from storage.models import Role, Settlement, User


class Onboarding(StatesGroup):
    language = State()
    role = State()
    region = State()
    settlement = State()


async def confirm_choice(callback: CallbackQuery, text: str) -> None:
    """Replace the question with the chosen answer, dropping its buttons."""
    if isinstance(callback.message, Message):
        # A message too old to edit keeps its buttons; the next question follows anyway.
        with suppress(TelegramBadRequest):
            await callback.message.edit_text(text)


async def ask_step(
    send: Send,
    step: str | None,
    user: User,
    t: Translator,
    can_be_staff: bool,
    knowledge: Knowledge,
) -> None:
    if step == Onboarding.language.state:
        await send(t("language.prompt"), reply_markup=language_keyboard(user.language))
    elif step == Onboarding.role.state:
        await send(
            t("role.prompt"), reply_markup=role_keyboard(t, user.role, can_be_staff=can_be_staff)
        )
    elif step == Onboarding.region.state:
        await send(
            t("region.prompt"),
            reply_markup=region_keyboard(t.lang, user.region, knowledge.kb.regions.regions),
        )
    elif step == Onboarding.settlement.state:
        await send(t("settlement.prompt"), reply_markup=settlement_keyboard(t, user.settlement))


async def finish(send: Send, state: FSMContext, user: User, t: Translator) -> None:
    user.onboarded = True
    await state.clear()
    await send(t("onboarding.done"))
    await send(t("menu.title"), reply_markup=main_menu_keyboard(t, user.role))


async def begin(send: Send, state: FSMContext, user: User, t: Translator, is_staff: bool) -> None:
    await send(t("onboarding.welcome_back" if user.onboarded else "onboarding.welcome"))
    await state.set_state(Onboarding.language)
    await send(t("language.prompt"), reply_markup=language_keyboard(user.language))


async def start(
    message: Message, state: FSMContext, user: User, t: Translator, is_staff: bool
) -> None:
    await state.clear()
    await begin(message.answer, state, user, t, is_staff)


async def chose_language(
    callback: CallbackQuery,
    callback_data: LanguageCb,
    state: FSMContext,
    user: User,
    i18n: I18n,
    is_staff: bool,
    knowledge: Knowledge,
) -> None:
    user.language = callback_data.code
    t = i18n.translator(user.language)
    await confirm_choice(callback, t("language.saved"))
    await state.set_state(Onboarding.role)
    await ask_step(sender(callback), Onboarding.role.state, user, t, is_staff, knowledge)


async def chose_role(
    callback: CallbackQuery,
    callback_data: RoleCb,
    state: FSMContext,
    user: User,
    t: Translator,
    is_staff: bool,
    knowledge: Knowledge,
) -> None:
    if callback_data.role == Role.STAFF and not is_staff:
        await callback.answer(t.plain("role.not_allowed"), show_alert=True)
        return
    user.role = callback_data.role
    await confirm_choice(callback, t("role.saved", role=t.plain(f"role.{user.role}")))
    if user.role == Role.STAFF:
        await finish(sender(callback), state, user, t)
        return
    await state.set_state(Onboarding.region)
    await ask_step(sender(callback), Onboarding.region.state, user, t, is_staff, knowledge)


async def chose_region(
    callback: CallbackQuery,
    callback_data: RegionCb,
    state: FSMContext,
    user: User,
    t: Translator,
    is_staff: bool,
    knowledge: Knowledge,
) -> None:
    region = knowledge.kb.region(callback_data.code)
    if region is None:
        await callback.answer(t.plain("errors.stale_button"), show_alert=True)
        return
    user.region = region.code
    await confirm_choice(callback, t("region.saved", region=region.name.get(t.lang)))
    if region.kind == "city":
        # Astana, Almaty and Shymkent are cities by definition: no need to ask.
        user.settlement = Settlement.CITY
        await finish(sender(callback), state, user, t)
        return
    await state.set_state(Onboarding.settlement)
    await ask_step(sender(callback), Onboarding.settlement.state, user, t, is_staff, knowledge)


async def chose_settlement(
    callback: CallbackQuery,
    callback_data: SettlementCb,
    state: FSMContext,
    user: User,
    t: Translator,
) -> None:
    user.settlement = callback_data.kind
    await confirm_choice(
        callback, t("settlement.saved", settlement=t.plain(f"settlement.{user.settlement}"))
    )
    await finish(sender(callback), state, user, t)


async def typed_instead_of_tapping(
    message: Message,
    state: FSMContext,
    user: User,
    t: Translator,
    is_staff: bool,
    knowledge: Knowledge,
) -> None:
    await message.answer(t("onboarding.use_buttons"))
    await ask_step(message.answer, await state.get_state(), user, t, is_staff, knowledge)


def build_router() -> Router:
    router = Router(name="onboarding")
    router.message.register(start, CommandStart())
    router.callback_query.register(
        chose_language, StateFilter(Onboarding.language), LanguageCb.filter()
    )
    router.callback_query.register(chose_role, StateFilter(Onboarding.role), RoleCb.filter())
    router.callback_query.register(chose_region, StateFilter(Onboarding.region), RegionCb.filter())
    router.callback_query.register(
        chose_settlement, StateFilter(Onboarding.settlement), SettlementCb.filter()
    )
    router.message.register(
        typed_instead_of_tapping, StateFilter(Onboarding), NOT_COMMAND, NOT_A_QUESTION
    )
    return router
