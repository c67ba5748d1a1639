"""Callback data of every inline button. aiogram parses and validates these; a forged or
outdated payload fails to parse and falls through to the stale-button handler."""

from __future__ import annotations

from typing import Literal

from aiogram.filters.callback_data import CallbackData


class LanguageCb(CallbackData, prefix="lang"):
    code: Literal["kk", "ru", "en"]


class RoleCb(CallbackData, prefix="role"):
    role: Literal["applicant", "parent", "staff"]


class RegionCb(CallbackData, prefix="region"):
    code: str


class SettlementCb(CallbackData, prefix="settle"):
    kind: Literal["city", "rural"]


class MenuCb(CallbackData, prefix="menu"):
    action: Literal["show", "profile", "language", "help", "reonboard", "ask"]


class TopicCb(CallbackData, prefix="topic"):
    """A "did you mean" suggestion: answer this topic in general."""

    topic: str
    lang: Literal["kk", "ru", "en"]
