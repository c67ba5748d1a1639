"""Telegram glue: one aiogram Router per feature, each made by its module's `build_router()`.
The order below is the order in which they are tried: wizard steps (filtered by FSM state,
so they never shadow a command) first, then commands and menus that work from any step, the
catch-all fallback last."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import ChatMemberUpdated, Message

from handlers import (
    broadcast,
    calendar_admin,
    deadlines,
    errors,
    fallback,
    handoff,
    keleshek,
    menu,
    onboarding,
    privacy,
    questions,
    quota_check,
    scores,
    serpin_check,
    staff,
    unt_check,
)
from handlers.filters import COMMAND, NOT_PRIVATE, PRIVATE, CommandOrStep
from i18n import Translator
from storage.models import User


async def ignore(_message: Message) -> None:
    """Swallow group chatter so it never reaches the private-chat fallback."""


async def group_command(message: Message, t: Translator) -> None:
    await message.answer(t("errors.private_only"))


async def membership_changed(event: ChatMemberUpdated, user: User | None) -> None:
    """A person blocked (or unblocked) the bot: broadcasts and reminders skip blocked users."""
    if user is not None:
        user.is_active = event.new_chat_member.status not in ("kicked", "left")


def build_root_router() -> Router:
    root = Router(name="root")
    root.include_router(errors.build_router())
    # The admissions office's staff chat, before the catch-all for groups below.
    root.include_router(handoff.build_staff_chat_router())

    # Talapker is a one-to-one assistant: in groups it only points people to a private chat.
    groups = Router(name="groups")
    groups.message.register(group_command, NOT_PRIVATE, COMMAND)
    groups.message.register(ignore, NOT_PRIVATE)
    groups.edited_message.register(ignore, NOT_PRIVATE)
    root.include_router(groups)

    private = Router(name="private")
    private.message.filter(PRIVATE)
    private.edited_message.filter(PRIVATE)
    private.my_chat_member.register(membership_changed, PRIVATE)
    # Commands and wizard steps: an ordinary question skips the group in one check.
    features = Router(name="features")
    for router in (
        onboarding.build_router(),
        unt_check.build_router(),
        quota_check.build_router(),
        serpin_check.build_router(),
        keleshek.build_router(),
        deadlines.build_router(),
        handoff.build_router(),
        menu.build_router(),
        staff.build_router(),
        privacy.build_router(),
        broadcast.build_router(),
        calendar_admin.build_router(),
        scores.build_router(),
    ):
        features.include_router(router)
    features.message.filter(CommandOrStep(features))
    for router in (
        features,
        handoff.build_relay_router(),
        questions.build_router(),
        fallback.build_router(),
    ):
        private.include_router(router)
    root.include_router(private)
    return root
