"""Callback data of every inline button. aiogram parses and validates these; a forged or
outdated payload fails to parse and falls through to the stale-button handler."""

from __future__ import annotations

from typing import Literal

from aiogram.filters.callback_data import CallbackData


class LanguageCb(CallbackData, prefix="lang"):
    code: Literal["kk", "ru", "en"]


class RoleCb(CallbackData, prefix="role"):
    role: Literal["applicant", "parent", "staff"]


class SkipCb(CallbackData, prefix="skip"):
    """The "Skip" button under an onboarding question: the answer stays unknown until needed."""

    step: Literal["language", "role", "region", "settlement"]


class RegionCb(CallbackData, prefix="region"):
    code: str


class SettlementCb(CallbackData, prefix="settle"):
    kind: Literal["city", "rural"]


MenuAction = Literal[
    "show",
    "profile",
    "language",
    "help",
    "reonboard",
    "ask",
    "unt",
    "grant",
    "quotas",
    "serpin",
    "deadlines",
    "keleshek",
    "office",
]


class MenuCb(CallbackData, prefix="menu"):
    action: MenuAction


class TopicCb(CallbackData, prefix="topic"):
    """A "did you mean" suggestion: answer this topic in general."""

    topic: str
    lang: Literal["kk", "ru", "en"]


class TeachCb(CallbackData, prefix="teach"):
    """Staff label an unanswered question; topic "*" opens the list of every topic."""

    question_id: int
    topic: str


class PairCb(CallbackData, prefix="pair"):
    pair: str  # subject ids joined with "+", e.g. "mathematics+informatics"


class UntCb(CallbackData, prefix="unt"):
    action: Literal["one_by_one", "check_another", "to_grant"]


class TargetCb(CallbackData, prefix="target"):
    kind: Literal["field", "group", "page"]
    value: str


class QuotaAnswerCb(CallbackData, prefix="quota"):
    answer: Literal["yes", "no", "finish"]


class KeleshekCb(CallbackData, prefix="kel"):
    action: Literal["mci", "toggle", "next", "balance", "rate"]
    value: str = ""


class FeedbackCb(CallbackData, prefix="fb"):
    topic: str
    helpful: bool


class AudienceCb(CallbackData, prefix="aud"):
    kind: Literal["all", "role", "language", "region", "settlement", "pick_language", "pick_region"]
    value: str = ""


class BroadcastCb(CallbackData, prefix="bc"):
    action: Literal["send", "schedule", "cancel", "cancel_scheduled"]
    campaign_id: int = 0


class ReminderCb(CallbackData, prefix="rem"):
    # "watch": be told when the expected dates shown are announced (value "on" / "off").
    kind: Literal["type", "lead", "hours", "watch"]
    value: str


class CalendarCb(CallbackData, prefix="cal"):
    action: Literal["edit", "delete", "preview"]
    event_id: int


class ForgetCb(CallbackData, prefix="forget"):
    confirm: bool


class SourcesCb(CallbackData, prefix="src"):
    # PublicSource.key values joined by ".": the button works in any process, no state kept.
    keys: str


class OfficeCb(CallbackData, prefix="office"):
    """Send the question just asked to the admissions office (the question is in the FSM
    data: a button cannot carry it)."""

    action: Literal["send"]


class TicketCb(CallbackData, prefix="tk"):
    """Staff: close a ticket or save its answer; the applicant: rate the office's answer.
    Every press is checked against who pressed it."""

    action: Literal["close", "save", "up", "down"]
    ticket_id: int
