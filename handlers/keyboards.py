"""Inline keyboards, labelled in the user's language."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import LANGUAGE_NAMES, Translator
from handlers.callbacks import LanguageCb, MenuCb, RegionCb, RoleCb, SettlementCb, TopicCb
from knowledge.regions import all_regions

CURRENT = "✓ "


def _mark(label: str, is_current: bool) -> str:
    return CURRENT + label if is_current else label


def language_keyboard(current: str | None) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for code, name in LANGUAGE_NAMES.items():
        builder.button(text=_mark(name, code == current), callback_data=LanguageCb(code=code))
    builder.adjust(3)
    return builder.as_markup()


def role_keyboard(
    t: Translator, current: str | None, *, can_be_staff: bool
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    roles = ["applicant", "parent"] + (["staff"] if can_be_staff else [])
    for role in roles:
        builder.button(
            text=_mark(t.plain(f"role.{role}"), role == current), callback_data=RoleCb(role=role)
        )
    builder.adjust(1)
    return builder.as_markup()


def region_keyboard(lang: str, current: str | None) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for region in all_regions():
        builder.button(
            text=_mark(region.short.get(lang), region.code == current),
            callback_data=RegionCb(code=region.code),
        )
    builder.adjust(2)
    return builder.as_markup()


def settlement_keyboard(t: Translator, current: str | None) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for kind in ("city", "rural"):
        builder.button(
            text=_mark(t.plain(f"settlement.{kind}"), kind == current),
            callback_data=SettlementCb(kind=kind),
        )
    builder.adjust(2)
    return builder.as_markup()


def main_menu_keyboard(t: Translator) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for action in ("ask", "profile", "language", "help"):
        builder.button(text=t.plain(f"menu.{action}"), callback_data=MenuCb(action=action))
    builder.adjust(1)
    return builder.as_markup()


def profile_keyboard(t: Translator) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=t.plain("profile.change"), callback_data=MenuCb(action="reonboard"))
    builder.button(text=t.plain("common.back_to_menu"), callback_data=MenuCb(action="show"))
    builder.adjust(2)
    return builder.as_markup()


def topics_keyboard(t: Translator, topics: list[str]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for topic in topics:
        builder.button(
            text=t.plain(f"topics.{topic}"), callback_data=TopicCb(topic=topic, lang=t.lang)
        )
    builder.adjust(1)
    return builder.as_markup()
