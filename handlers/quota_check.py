"""Quota questionnaire: one yes/no question per quota, then the quotas that apply with their
shares and documents (and the reminder that quota applicants also compete generally)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery

from handlers.callbacks import MenuCb, QuotaAnswerCb
from handlers.common import Send, profile_of, send_long, sender, today
from handlers.keyboards import Keyboard, journey_end_keyboard
from handlers.settings import HandlerSettings
from i18n import Translator
from knowledge.router import Route
from knowledge.service import Knowledge
from knowledge.text import Entities
from storage.models import User


class QuotaCheck(StatesGroup):
    ask = State()


async def ask(send: Send, state: FSMContext, t: Translator, knowledge: Knowledge) -> None:
    data = await state.get_data()
    quota = knowledge.kb.quotas.quotas[data["index"]]
    builder = Keyboard()
    for answer in ("yes", "no", "finish"):
        builder.button(
            text=t.plain(f"quota_check.{answer}"), callback_data=QuotaAnswerCb(answer=answer)
        )
    builder.adjust(2, 1)
    await send(
        t("quota_check.question", name=quota.name.get(t.lang), who=quota.who.get(t.lang)),
        reply_markup=builder.as_markup(),
    )


async def start(
    callback: CallbackQuery, state: FSMContext, t: Translator, knowledge: Knowledge
) -> None:
    await state.set_state(QuotaCheck.ask)
    await state.set_data({"index": 0, "yes": []})
    await sender(callback)(t("quota_check.intro"))
    await ask(sender(callback), state, t, knowledge)


async def answered(
    callback: CallbackQuery,
    callback_data: QuotaAnswerCb,
    state: FSMContext,
    user: User,
    t: Translator,
    knowledge: Knowledge,
    settings: HandlerSettings,
) -> None:
    data = await state.get_data()
    quotas = knowledge.kb.quotas.quotas
    index, yes = data.get("index", 0), list(data.get("yes", []))
    if callback_data.answer == "yes" and index < len(quotas):
        yes.append(quotas[index].id)
    index += 1
    if callback_data.answer != "finish" and index < len(quotas):
        await state.update_data(index=index, yes=yes)
        await ask(sender(callback), state, t, knowledge)
        return
    await state.clear()
    send = sender(callback)
    if not yes:
        await send(t("quota_check.none"))
    route = Route("quotas", 1.0, t.lang, Entities(quotas=yes))
    answer = knowledge.renderer.answer(
        route, today(settings), lang=t.lang, profile=profile_of(user)
    )
    await send_long(send, answer.html, reply_markup=journey_end_keyboard(t, answer=answer))


def build_router() -> Router:
    router = Router(name="quota_check")
    router.callback_query.register(start, MenuCb.filter(F.action == "quotas"))
    router.callback_query.register(answered, StateFilter(QuotaCheck.ask), QuotaAnswerCb.filter())
    return router
