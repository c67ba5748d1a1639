"""Main menu, profile, language, help and /cancel: available from any step."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from handlers.callbacks import LanguageCb, MenuCb
from handlers.common import sender
from handlers.keyboards import language_keyboard, main_menu_keyboard, profile_keyboard
from handlers.onboarding import begin
from handlers.wizard import Steps, Turn
from i18n import LANGUAGE_NAMES, I18n, Translator
from knowledge.service import Knowledge
from storage.models import User

# The other menu actions start journeys; their own routers take them.
OWN_ACTIONS = {"show", "profile", "language", "help", "reonboard", "ask"}


def profile_text(user: User, t: Translator, knowledge: Knowledge) -> str:
    not_set = t.plain("profile.not_set")
    region = knowledge.kb.region(user.region)
    return t(
        "profile.text",
        role=t.plain(f"role.{user.role}") if user.role else not_set,
        region=region.name.get(t.lang) if region else not_set,
        settlement=t.plain(f"settlement.{user.settlement}") if user.settlement else not_set,
        language=LANGUAGE_NAMES.get(t.lang, t.lang),
    )


async def menu_command(message: Message, state: FSMContext, user: User, t: Translator) -> None:
    await state.clear()
    await message.answer(t("menu.title"), reply_markup=main_menu_keyboard(t, user.role))


async def help_command(message: Message, t: Translator) -> None:
    await message.answer(t("help.text"))


async def language_command(message: Message, user: User, t: Translator) -> None:
    await message.answer(t("language.prompt"), reply_markup=language_keyboard(user.language))


async def cancel_command(message: Message, state: FSMContext, t: Translator) -> None:
    if await state.get_state() is None:
        await message.answer(t("common.nothing_to_cancel"))
        return
    await state.clear()
    await message.answer(t("common.cancelled"))


async def change_language(
    callback: CallbackQuery, callback_data: LanguageCb, user: User, i18n: I18n
) -> None:
    """A language button outside onboarding (from /language or the menu) only switches language."""
    user.language = callback_data.code
    t = i18n.translator(user.language)
    await callback.answer(t.plain("language.saved"))
    await sender(callback)(t("menu.title"), reply_markup=main_menu_keyboard(t, user.role))


async def menu_button(callback: CallbackQuery, callback_data: MenuCb, turn: Turn) -> None:
    user, t, send = turn.user, turn.t, turn.send
    match callback_data.action:
        case "show":
            await turn.state.clear()
            await send(t("menu.title"), reply_markup=main_menu_keyboard(t, user.role))
        case "profile":
            await send(profile_text(user, t, turn.knowledge), reply_markup=profile_keyboard(t))
        case "language":
            await send(t("language.prompt"), reply_markup=language_keyboard(user.language))
        case "help":
            await send(t("help.text"))
        case "ask":
            await send(t("ask.prompt"))
        case "reonboard":
            await begin(turn)


def build_router() -> Router:
    router = Steps("menu").router  # for the `turn` its buttons take
    router.message.register(menu_command, Command("menu"))
    router.message.register(help_command, Command("help"))
    router.message.register(language_command, Command("language"))
    router.message.register(cancel_command, Command("cancel"))
    router.callback_query.register(change_language, LanguageCb.filter())
    router.callback_query.register(menu_button, MenuCb.filter(F.action.in_(OWN_ACTIONS)))
    return router
