"""Inline keyboards, labelled in the user's language."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.callbacks import (
    LanguageCb,
    MenuCb,
    RegionCb,
    RoleCb,
    SettlementCb,
    SourcesCb,
    TopicCb,
)
from i18n import LANGUAGE_NAMES, Translator
from knowledge.answers import Answer
from knowledge.schema import Region

CURRENT = "✓ "


class Keyboard(InlineKeyboardBuilder):
    """aiogram's builder deep-copies every button in `adjust()` and `as_markup()`, so that a
    builder can be reused. Ours are used once; without the copies a reply with a keyboard
    costs a fifth less CPU (measured with bench/load.py)."""

    def export(self) -> list[list[InlineKeyboardButton]]:
        return [list(row) for row in self._markup]


def _mark(label: str, is_current: bool) -> str:
    return CURRENT + label if is_current else label


def language_keyboard(current: str | None) -> InlineKeyboardMarkup:
    builder = Keyboard()
    for code, name in LANGUAGE_NAMES.items():
        builder.button(text=_mark(name, code == current), callback_data=LanguageCb(code=code))
    builder.adjust(3)
    return builder.as_markup()


def role_keyboard(
    t: Translator, current: str | None, *, can_be_staff: bool
) -> InlineKeyboardMarkup:
    builder = Keyboard()
    roles = ["applicant", "parent"] + (["staff"] if can_be_staff else [])
    for role in roles:
        builder.button(
            text=_mark(t.plain(f"role.{role}"), role == current), callback_data=RoleCb(role=role)
        )
    builder.adjust(1)
    return builder.as_markup()


def region_keyboard(
    lang: str, current: str | None, regions: Sequence[Region]
) -> InlineKeyboardMarkup:
    builder = Keyboard()
    for region in regions:
        builder.button(
            text=_mark(region.short.get(lang), region.code == current),
            callback_data=RegionCb(code=region.code),
        )
    builder.adjust(2)
    return builder.as_markup()


def settlement_keyboard(t: Translator, current: str | None) -> InlineKeyboardMarkup:
    builder = Keyboard()
    for kind in ("city", "rural"):
        builder.button(
            text=_mark(t.plain(f"settlement.{kind}"), kind == current),
            callback_data=SettlementCb(kind=kind),
        )
    builder.adjust(2)
    return builder.as_markup()


# The role decides what comes first: parents see the savings calculator at the top.
MENU_ORDER = {
    "applicant": ("unt", "grant", "quotas", "serpin", "deadlines", "ask", "keleshek"),
    "parent": ("keleshek", "unt", "grant", "quotas", "deadlines", "serpin", "ask"),
}
MENU_TAIL = ("profile", "language", "help")


def main_menu_keyboard(t: Translator, role: str | None = None) -> InlineKeyboardMarkup:
    builder = Keyboard()
    for action in MENU_ORDER.get(role or "applicant", MENU_ORDER["applicant"]):
        builder.button(text=t.plain(f"menu.{action}"), callback_data=MenuCb(action=action))
    builder.button(text=t.plain("handoff.menu_button"), callback_data=MenuCb(action="office"))
    for action in MENU_TAIL:
        builder.button(text=t.plain(f"menu.{action}"), callback_data=MenuCb(action=action))
    builder.adjust(1, 1, 1, 1, 1, 1, 1, 1, 3)
    return builder.as_markup()


# Keys of 6 characters and a dot each, within Telegram's 64 bytes of callback data.
MAX_SOURCE_KEYS = 8


def add_sources_button(builder: Keyboard, t: Translator, answer: Answer) -> bool:
    """A "sources" button when the footer could not show them all; False if none needed."""
    if not answer.hidden_sources:
        return False
    add_sources_keys_button(builder, t, hidden_sources_keys(answer))
    return True


def hidden_sources_keys(answer: Answer) -> tuple[str, ...]:
    """The keys of the answer's sources when its footer could not show them all, else ()."""
    if not answer.hidden_sources:
        return ()
    return tuple(source.key for source in answer.public_sources)


def add_sources_keys_button(builder: Keyboard, t: Translator, keys: Sequence[str]) -> None:
    builder.button(
        text=t.plain("fixes.sources.button", count=len(keys)),
        callback_data=SourcesCb(keys=".".join(keys[:MAX_SOURCE_KEYS])),
    )


def journey_end_keyboard(
    t: Translator, *extra: tuple[str, CallbackData], answer: Answer | None = None
) -> InlineKeyboardMarkup:
    """Every journey ends with the deadlines and "ask something else" (and the answer's
    sources when the footer could not list them all)."""
    builder = Keyboard()
    if answer is not None:
        add_sources_button(builder, t, answer)
    for text, data in extra:
        builder.button(text=text, callback_data=data)
    builder.button(text=t.plain("journey.deadlines"), callback_data=MenuCb(action="deadlines"))
    builder.button(text=t.plain("journey.ask"), callback_data=MenuCb(action="ask"))
    builder.adjust(1)
    return builder.as_markup()


def profile_keyboard(t: Translator) -> InlineKeyboardMarkup:
    builder = Keyboard()
    builder.button(text=t.plain("profile.change"), callback_data=MenuCb(action="reonboard"))
    builder.button(text=t.plain("common.back_to_menu"), callback_data=MenuCb(action="show"))
    builder.adjust(2)
    return builder.as_markup()


def topics_keyboard(t: Translator, topics: list[str]) -> InlineKeyboardMarkup:
    builder = Keyboard()
    for topic in topics:
        builder.button(
            text=t.plain(f"topics.{topic}"), callback_data=TopicCb(topic=topic, lang=t.lang)
        )
    builder.adjust(1)
    return builder.as_markup()
