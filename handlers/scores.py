"""Buttons under a passing-score outlook (free-text answers and the UNT check): "show all"
rebuilds the outlook without the ten-line cap; "rural school / city school" answers the one
question the outlook needs when the profile does not say where the applicant lives, keeps the
answer on the profile, and shows the outlook again with or without the rural quota.

The callback data carries the whole query, so a button works after a restart; a forged or
outdated one (a group, subject or university the data does not know, a score out of range)
gets the stale-button alert and nothing else."""

from __future__ import annotations

from typing import Literal

from aiogram import Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup

from handlers.common import profile_of, send_long, sender, today
from handlers.keyboards import Keyboard
from handlers.settings import HandlerSettings
from i18n import Translator
from knowledge.answers import Answer
from knowledge.scores_answer import OutlookQuery, build_outlook, groups_for_target
from knowledge.service import Knowledge
from storage.models import Settlement, User

NO_NUMBER = -1
CALLBACK_LIMIT = 64


class ScoresCb(CallbackData, prefix="sc"):
    action: Literal["all", "rural", "city"]
    target: str
    total: int = NO_NUMBER
    rural: bool = False
    year: int = NO_NUMBER
    university: int = NO_NUMBER


def _callback(action: Literal["all", "rural", "city"], query: OutlookQuery) -> ScoresCb:
    return ScoresCb(
        action=action,
        target=query.target,
        total=NO_NUMBER if query.total is None else query.total,
        rural=query.rural,
        year=NO_NUMBER if query.year is None else query.year,
        university=NO_NUMBER if query.university is None else query.university,
    )


def scores_buttons(
    t: Translator, answer: Answer, user: User | None
) -> list[tuple[str, CallbackData]]:
    """The buttons an answer with an outlook gets (none for other answers)."""
    query = answer.scores_query
    if query is None:
        return []
    wanted: list[tuple[str, Literal["all", "rural", "city"]]] = []
    if answer.scores_truncated:
        wanted.append(("scores.show_all", "all"))
    if not query.rural and (user is None or user.settlement is None):
        wanted += [("scores.rural_school", "rural"), ("scores.city_school", "city")]
    buttons: list[tuple[str, CallbackData]] = []
    for key, action in wanted:
        data = _callback(action, query)
        if len(data.pack()) <= CALLBACK_LIMIT:  # Telegram refuses longer callback data
            buttons.append((t.plain(key), data))
    return buttons


def with_scores_buttons(
    markup: InlineKeyboardMarkup | None, t: Translator, answer: Answer, user: User | None
) -> InlineKeyboardMarkup | None:
    """`markup` with the outlook's buttons on rows of their own above it."""
    builder = Keyboard()
    for text, data in scores_buttons(t, answer, user):
        builder.button(text=text, callback_data=data)
    builder.adjust(1)
    rows = [*builder.export(), *(markup.inline_keyboard if markup else [])]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def _valid(knowledge: Knowledge, data: ScoresCb) -> bool:
    kb = knowledge.kb
    scores = kb.grant_scores
    return (
        bool(groups_for_target(kb, data.target))
        and (data.total == NO_NUMBER or 0 <= data.total <= kb.unt.total_max.value)
        and (data.year == NO_NUMBER or data.year in scores.years)
        and (data.university == NO_NUMBER or scores.university(data.university) is not None)
    )


async def pressed(
    callback: CallbackQuery,
    callback_data: ScoresCb,
    user: User | None,
    t: Translator,
    knowledge: Knowledge,
    settings: HandlerSettings,
) -> None:
    if not _valid(knowledge, callback_data):
        await callback.answer(t.plain("errors.stale_button"), show_alert=True)
        return
    rural = callback_data.rural
    if callback_data.action in ("rural", "city"):
        rural = callback_data.action == "rural"
        if user is not None:
            user.settlement = Settlement.RURAL if rural else Settlement.CITY
    kb = knowledge.kb
    university = kb.grant_scores.university(callback_data.university)
    outlook = build_outlook(
        kb,
        callback_data.target,
        total=None if callback_data.total == NO_NUMBER else callback_data.total,
        quotas=["rural"] if rural else [],
        profile=profile_of(user),
        year=None if callback_data.year == NO_NUMBER else callback_data.year,
        universities=[university] if university else [],
        show_all=callback_data.action == "all",
    )
    await callback.answer()
    if outlook is None:  # the data changed since the button was sent
        await sender(callback)(t("scores.no_longer"))
        return
    answer = knowledge.renderer.render("scores_all", t.lang, today(settings), scores=outlook)
    answer.scores_query = outlook.query
    answer.scores_truncated = bool(outlook.hidden_lines or outlook.hidden_groups)
    markup = with_scores_buttons(None, t, answer, user)
    await send_long(sender(callback), answer.html, reply_markup=markup)


def build_router() -> Router:
    router = Router(name="scores")
    router.callback_query.register(pressed, ScoresCb.filter())
    return router
