"""The UNT check wizard (and the grant outlook, the same steps with a different ending):
subject pair → scores (five parts in one message, one by one, or a total) → target (a field,
a programme group the pair opens, or a typed code/name) → verdict card.

A wrong answer gets a specific message and the same step again; the state lives in the
database, so a restart in the middle loses nothing."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from aiogram import F, Router
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from handlers.callbacks import MenuCb, PairCb, TargetCb, UntCb
from handlers.common import profile_of, send_long
from handlers.keyboards import Keyboard, journey_end_keyboard
from handlers.scores import scores_buttons
from handlers.wizard import Steps, Turn, refuse_stale
from i18n import Translator
from knowledge.base import KnowledgeBase
from knowledge.router import Route
from knowledge.rules import PART_IDS, RuleInputError, admission_year, check_unt
from knowledge.service import Knowledge
from knowledge.text import Entities

FIELDS = ("general", "national", "pedagogy", "law", "healthcare", "agriculture")
PAIRS_SHOWN = 10
GROUPS_PER_PAGE = 6
_NUMBER = re.compile(r"-?\d+")


class UntCheck(StatesGroup):
    pair = State()
    scores = State()
    part = State()
    target = State()


def common_pairs(kb: KnowledgeBase) -> list[tuple[str, ...]]:
    """The subject pairs that open the most programme groups, most first."""
    counts: Counter[tuple[str, ...]] = Counter()
    for group in kb.programme_groups.groups:
        for pair in group.pairs.value:
            counts[tuple(pair)] += 1
    return [pair for pair, _ in counts.most_common(PAIRS_SHOWN)]


def subject_names(kb: KnowledgeBase, pair: list[str], lang: str) -> list[str]:
    return [kb.subject(s).name.get(lang) if kb.subject(s) else s for s in pair]  # type: ignore[union-attr]


def part_name(kb: KnowledgeBase, part: str, pair: list[str], lang: str) -> str:
    """Profile parts are named after the chosen subjects."""
    if part in ("profile1", "profile2") and len(pair) == 2:
        return subject_names(kb, pair, lang)[0 if part == "profile1" else 1]
    return next(p.name.get(lang) for p in kb.unt.parts if p.id == part)


def pair_keyboard(kb: KnowledgeBase, t: Translator) -> InlineKeyboardMarkup:
    builder = Keyboard()
    for pair in common_pairs(kb):
        label = " + ".join(subject_names(kb, list(pair), t.lang))
        builder.button(text=label, callback_data=PairCb(pair="+".join(pair)))
    builder.adjust(1)
    return builder.as_markup()


def target_keyboard(
    kb: KnowledgeBase, t: Translator, pair: list[str], page: int = 0
) -> InlineKeyboardMarkup:
    builder = Keyboard()
    for field in FIELDS:
        builder.button(
            text=t.plain(f"unt.field_{field}"), callback_data=TargetCb(kind="field", value=field)
        )
    groups = kb.groups_for_pair(pair)
    shown = groups[page * GROUPS_PER_PAGE : (page + 1) * GROUPS_PER_PAGE]
    for group in shown:
        label = f"{group.code} {group.name.get(t.lang)}"[:60]
        builder.button(text=label, callback_data=TargetCb(kind="group", value=group.code))
    more = (page + 1) * GROUPS_PER_PAGE < len(groups)
    if more:
        builder.button(
            text=t.plain("unt.more"), callback_data=TargetCb(kind="page", value=str(page + 1))
        )
    builder.adjust(2, 2, 2, *([1] * (len(shown) + int(more))))
    return builder.as_markup()


async def begin(turn: Turn, mode: str) -> None:
    await turn.state.set_data({"mode": mode})
    await turn.ask(
        UntCheck.pair, turn.t("unt.pair_prompt"), pair_keyboard(turn.knowledge.kb, turn.t)
    )


async def start_from_menu(callback: CallbackQuery, callback_data: MenuCb, turn: Turn) -> None:
    await begin(turn, "grant" if callback_data.action == "grant" else "check")


async def ask_scores(turn: Turn) -> None:
    t = turn.t
    names = subject_names(turn.knowledge.kb, (await turn.state.get_data())["pair"], t.lang)
    if len(names) == 1:  # the creative exam stands for both profile parts
        names = names * 2
    builder = Keyboard()
    builder.button(text=t.plain("unt.one_by_one"), callback_data=UntCb(action="one_by_one"))
    prompt = t("unt.scores_prompt", p1=names[0], p2=names[1])
    await turn.ask(UntCheck.scores, prompt, builder.as_markup())


async def chose_pair(callback: CallbackQuery, callback_data: PairCb, turn: Turn) -> None:
    pair = callback_data.pair.split("+")
    if not all(turn.knowledge.kb.subject(s) for s in pair) or len(pair) not in (1, 2):
        await refuse_stale(callback, turn.t)
        return
    await turn.state.update_data(pair=pair)
    await ask_scores(turn)


async def typed_pair(message: Message, turn: Turn) -> None:
    subjects = turn.knowledge.router.find_entities(message.text or "").subjects
    if len(subjects) != 2:
        markup = pair_keyboard(turn.knowledge.kb, turn.t)
        await turn.send(turn.t("unt.pair_typed_bad"), reply_markup=markup)
        return
    await turn.state.update_data(pair=subjects)
    await ask_scores(turn)


def _score_error(t: Translator, kb: KnowledgeBase, pair: list[str], error: RuleInputError) -> str:
    p = error.params
    if error.code == "part_above_max":
        return t(
            "unt.part_above_max",
            part=part_name(kb, p["part"], pair, t.lang),
            count=p["max"],
            value=p["value"],
        )
    if error.code == "total_above_max":
        return t("unt.total_above_max", max=p["max"], value=p["value"])
    if error.code == "negative":
        return t("unt.negative")
    return t("unt.not_numbers")


async def typed_scores(message: Message, turn: Turn) -> None:
    kb, t = turn.knowledge.kb, turn.t
    numbers = [int(n) for n in _NUMBER.findall(message.text or "")]
    if not numbers:
        await turn.send(t("unt.not_numbers"))
        return
    if len(numbers) not in (1, len(PART_IDS)):
        await turn.send(t("unt.wrong_count", count=len(numbers)))
        return
    score: dict[str, Any] = (
        {"scores": numbers} if len(numbers) == len(PART_IDS) else {"total": numbers[0]}
    )
    try:
        check_unt(kb, **score, year=admission_year(turn.today()))
    except RuleInputError as error:
        pair = (await turn.state.get_data())["pair"]
        await turn.send(_score_error(t, kb, pair, error))
        return
    await turn.state.update_data(**score)
    await ask_target(turn)


async def one_by_one(callback: CallbackQuery, turn: Turn) -> None:
    await turn.state.update_data(parts=[])
    await ask_part(turn)


def _part_maximum(knowledge: Knowledge, part: str) -> int:
    return next(p.max_points.value for p in knowledge.kb.unt.parts if p.id == part)


async def ask_part(turn: Turn) -> None:
    data = await turn.state.get_data()
    part = PART_IDS[len(data.get("parts", []))]
    name = part_name(turn.knowledge.kb, part, data["pair"], turn.t.lang)
    maximum = _part_maximum(turn.knowledge, part)
    await turn.ask(UntCheck.part, turn.t("unt.part_prompt", part=name, max=maximum))


async def typed_part(message: Message, turn: Turn) -> None:
    t = turn.t
    data = await turn.state.get_data()
    parts: list[int] = data.get("parts", [])
    numbers = [int(n) for n in _NUMBER.findall(message.text or "")]
    if len(numbers) != 1:
        await turn.send(t("unt.not_numbers"))
        await ask_part(turn)
        return
    part = PART_IDS[len(parts)]
    maximum = _part_maximum(turn.knowledge, part)
    value = numbers[0]
    if value < 0:
        await turn.send(t("unt.negative"))
        return
    if value > maximum:
        name = part_name(turn.knowledge.kb, part, data["pair"], t.lang)
        await turn.send(t("unt.part_above_max", part=name, count=maximum, value=value))
        return
    parts.append(value)
    await turn.state.update_data(parts=parts)
    if len(parts) < len(PART_IDS):
        await ask_part(turn)
        return
    await turn.state.update_data(scores=parts)
    await ask_target(turn)


async def ask_target(turn: Turn, page: int = 0) -> None:
    pair = (await turn.state.get_data())["pair"]
    markup = target_keyboard(turn.knowledge.kb, turn.t, pair, page)
    await turn.ask(UntCheck.target, turn.t("unt.target_prompt"), markup)


async def typed_target(message: Message, turn: Turn) -> None:
    t = turn.t
    query = (message.text or "").strip()
    found = turn.knowledge.kb.find_groups(query)
    if len(found) == 1:
        await finish(turn, group=found[0].code)
        return
    if not found:
        await turn.send(t("unt.no_group_found", query=query))
        return
    builder = Keyboard()
    for group in found:
        builder.button(
            text=f"{group.code} {group.name.get(t.lang)}"[:60],
            callback_data=TargetCb(kind="group", value=group.code),
        )
    builder.adjust(1)
    await turn.send(t("unt.found_groups", query=query), reply_markup=builder.as_markup())


async def chose_target(callback: CallbackQuery, callback_data: TargetCb, turn: Turn) -> None:
    kind, value = callback_data.kind, callback_data.value
    if kind == "page":
        if not value.isdigit():
            await refuse_stale(callback, turn.t)
            return
        await ask_target(turn, page=int(value))
        return
    if not (turn.knowledge.kb.group(value) if kind == "group" else value in FIELDS):
        await refuse_stale(callback, turn.t)
        return
    await finish(turn, **({"group": value} if kind == "group" else {"field": value}))


async def finish(turn: Turn, *, group: str | None = None, field: str | None = None) -> None:
    state, user, t = turn.state, turn.user, turn.t
    data = await state.get_data()
    numbers = data.get("scores") or [data["total"]]
    pair = data["pair"]
    entities = Entities(
        numbers=list(numbers),
        scores=list(numbers),
        subjects=list(pair),
        group_codes=[group] if group else [],
        fields=[field] if field and field != "general" else [],
    )
    topic = "grant_chance" if data.get("mode") == "grant" else "threshold"
    answer = turn.knowledge.renderer.answer(
        Route(topic, 1.0, t.lang, entities), turn.today(), lang=t.lang, profile=profile_of(user)
    )
    # Keep the result (not the wizard) so "grant chances for this" can reuse it.
    await state.set_state(None)
    await state.set_data({"last_unt": {**data, "group": group, "field": field}})
    extra = [(t.plain("unt.check_another"), UntCb(action="check_another"))]
    if topic == "threshold":
        extra.insert(0, (t.plain("unt.to_grant"), UntCb(action="to_grant")))
    extra[:0] = scores_buttons(t, answer, user)  # "show all", rural or city school
    markup = journey_end_keyboard(t, *extra, answer=answer)
    await send_long(turn.send, answer.html, reply_markup=markup)


async def after_result(callback: CallbackQuery, callback_data: UntCb, turn: Turn) -> None:
    last = (await turn.state.get_data()).get("last_unt")
    if callback_data.action == "to_grant" and last:
        await turn.state.set_data({**last, "mode": "grant"})
        await finish(turn, group=last.get("group"), field=last.get("field"))
        return
    await begin(turn, "grant" if callback_data.action == "to_grant" else "check")


def build_router() -> Router:
    steps = Steps("unt_check")
    steps.entry(start_from_menu, MenuCb.filter(F.action.in_({"unt", "grant"})))
    steps.pressed(UntCheck.pair, chose_pair, PairCb.filter()).typed(UntCheck.pair, typed_pair)
    steps.pressed(UntCheck.scores, one_by_one, UntCb.filter(F.action == "one_by_one"))
    steps.typed(UntCheck.scores, typed_scores).typed(UntCheck.part, typed_part)
    steps.pressed(UntCheck.target, chose_target, TargetCb.filter())
    steps.typed(UntCheck.target, typed_target)
    steps.entry(after_result, UntCb.filter(F.action.in_({"check_another", "to_grant"})))
    return steps.router
