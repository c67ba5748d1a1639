"""Keleshek savings wizard for parents: birth date or age → monthly contribution (1–3 MCI or
tenge) → circumstances → current balance → rate → a year-by-year table, a chart, and 1, 2 and
3 MCI side by side. Charts are drawn off the event loop."""

from __future__ import annotations

import asyncio
import re
from datetime import date

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from magic_filter import MagicFilter

from handlers.callbacks import KeleshekCb, MenuCb
from handlers.common import Reply, Send, send_long, sender, today
from handlers.keyboards import Keyboard, journey_end_keyboard
from handlers.settings import HandlerSettings
from handlers.wizard import Steps, ask, refuse_stale
from i18n import Translator
from knowledge.keleshek import keleshek_projection
from knowledge.rules import RuleInputError
from knowledge.service import Knowledge

FLAGS = ("orphan", "vulnerable", "insurance")
_DATE = re.compile(r"^\s*(\d{1,2})[./-](\d{1,2})[./-](\d{4})\s*$|^\s*(\d{4})-(\d{2})-(\d{2})\s*$")
_AMOUNT = re.compile(r"^\s*(\d[\d\s\u202f,]*)(?:[.,]\d+)?\s*(?:₸|тг|тенге|теңге|kzt)?\s*$", re.I)


class KeleshekWizard(StatesGroup):
    birth = State()
    monthly = State()
    flags = State()
    balance = State()
    rate = State()


def parse_birth(text: str, on: date) -> date | None:
    """A birth date (DD.MM.YYYY or YYYY-MM-DD) or an age in whole years."""
    text = text.strip()
    if text.isdigit() and len(text) <= 2:
        age = int(text)
        if 0 <= age <= 17:
            # Only the age is known: assume the birthday is next month, the cautious end.
            month = on.month % 12 + 1
            year = on.year - age - (1 if month > on.month else 0)
            return date(year, month, 1)
        return None
    match = _DATE.match(text)
    if not match:
        return None
    try:
        if match.group(1):
            return date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
        return date(int(match.group(4)), int(match.group(5)), int(match.group(6)))
    except ValueError:
        return None


def parse_amount(text: str) -> float | None:
    match = _AMOUNT.match(text)
    if not match:
        return None
    return float(re.sub(r"[\s\u202f,]", "", match.group(1)))


def flags_keyboard(t: Translator, flags: dict[str, bool]) -> InlineKeyboardMarkup:
    builder = Keyboard()
    for flag in FLAGS:
        mark = "✅ " if flags.get(flag) else "▫️ "
        builder.button(
            text=mark + t.plain(f"keleshek_wizard.{flag}"),
            callback_data=KeleshekCb(action="toggle", value=flag),
        )
    builder.button(text=t.plain("keleshek_wizard.next"), callback_data=KeleshekCb(action="next"))
    builder.adjust(1)
    return builder.as_markup()


async def start(callback: CallbackQuery, state: FSMContext, t: Translator) -> None:
    await state.set_data({"flags": {}})
    await ask(sender(callback), state, KeleshekWizard.birth, t("keleshek_wizard.birth_prompt"))


async def typed_birth(
    message: Message,
    state: FSMContext,
    t: Translator,
    knowledge: Knowledge,
    settings: HandlerSettings,
) -> None:
    on = today(settings)
    birth = parse_birth(message.text or "", on)
    if birth is None or birth > on:
        await message.answer(t("keleshek_wizard.bad_birth"))
        return
    if (on.year - birth.year, on.month, on.day) >= (
        18,
        birth.month,
        birth.day,
    ) or on.year - birth.year > 18:
        await message.answer(t("keleshek_wizard.too_old"))
        return
    await state.update_data(birth=birth.isoformat())
    mci = knowledge.kb.mci(on.year)
    builder = Keyboard()
    for n in (1, 2, 3):
        amount = f"{n * mci.value:,}".replace(",", " ")
        builder.button(
            text=t.plain("keleshek_wizard.mci_button", n=n, amount=amount),
            callback_data=KeleshekCb(action="mci", value=str(n)),
        )
    builder.adjust(1)
    prompt = t("keleshek_wizard.monthly_prompt", mci=mci.value, year=mci.as_of)
    await ask(message.answer, state, KeleshekWizard.monthly, prompt, builder.as_markup())


async def ask_flags(send: Send, state: FSMContext, t: Translator) -> None:
    markup = flags_keyboard(t, (await state.get_data()).get("flags", {}))
    await ask(send, state, KeleshekWizard.flags, t("keleshek_wizard.flags_prompt"), markup)


async def chose_mci(
    callback: CallbackQuery, callback_data: KeleshekCb, state: FSMContext, t: Translator
) -> None:
    if callback_data.value not in ("1", "2", "3"):
        await refuse_stale(callback, t)
        return
    await state.update_data(monthly_mci=int(callback_data.value), monthly_kzt=None)
    await ask_flags(sender(callback), state, t)


async def typed_monthly(message: Message, state: FSMContext, t: Translator) -> None:
    amount = parse_amount(message.text or "")
    if amount is None or amount <= 0 or amount > 10_000_000:
        await message.answer(t("keleshek_wizard.bad_amount"))
        return
    await state.update_data(monthly_kzt=amount, monthly_mci=None)
    await ask_flags(message.answer, state, t)


async def toggled(
    callback: CallbackQuery, callback_data: KeleshekCb, state: FSMContext, t: Translator
) -> None:
    if callback_data.value not in FLAGS:
        await refuse_stale(callback, t)
        return
    data = await state.get_data()
    flags = dict(data.get("flags", {}))
    flags[callback_data.value] = not flags.get(callback_data.value, False)
    await state.update_data(flags=flags)
    if isinstance(callback.message, Message):
        await callback.message.edit_reply_markup(reply_markup=flags_keyboard(t, flags))


async def flags_done(callback: CallbackQuery, state: FSMContext, t: Translator) -> None:
    builder = Keyboard()
    builder.button(
        text=t.plain("fixes.keleshek.unknown_balance"),
        callback_data=KeleshekCb(action="balance", value="unknown"),
    )
    builder.button(
        text=t.plain("keleshek_wizard.no_balance"),
        callback_data=KeleshekCb(action="balance", value="0"),
    )
    builder.adjust(1)
    prompt = t("keleshek_wizard.balance_prompt") + "\n" + t("fixes.keleshek.unknown_balance_hint")
    await ask(sender(callback), state, KeleshekWizard.balance, prompt, builder.as_markup())


async def ask_rate(send: Send, state: FSMContext, t: Translator, knowledge: Knowledge) -> None:
    k = knowledge.kb.savings.keleshek
    floor = k.guaranteed_rate_percent.value
    builder = Keyboard()
    builder.button(
        text=t.plain("keleshek_wizard.rate_button", rate=f"{floor:g}"),
        callback_data=KeleshekCb(action="rate", value=f"{floor:g}"),
    )
    for bank in k.bank_rates_2025.value:
        builder.button(
            text=t.plain(
                "keleshek_wizard.rate_bank", rate=f"{bank.rate_percent:g}", bank=bank.bank
            ),
            callback_data=KeleshekCb(action="rate", value=f"{bank.rate_percent:g}"),
        )
    builder.adjust(1)
    prompt = t("keleshek_wizard.rate_prompt", floor=f"{floor:g}")
    await ask(send, state, KeleshekWizard.rate, prompt, builder.as_markup())


async def balance_button(
    callback: CallbackQuery,
    callback_data: KeleshekCb,
    state: FSMContext,
    t: Translator,
    knowledge: Knowledge,
) -> None:
    if callback_data.value not in ("0", "unknown"):
        await callback.answer(t.plain("errors.stale_button"), show_alert=True)
        return
    # None: not known, so the projection counts a start capital already credited.
    await state.update_data(balance=0.0 if callback_data.value == "0" else None)
    await ask_rate(sender(callback), state, t, knowledge)


async def typed_balance(
    message: Message, state: FSMContext, t: Translator, knowledge: Knowledge
) -> None:
    amount = parse_amount(message.text or "")
    if amount is None or amount > 1_000_000_000:
        await message.answer(t("keleshek_wizard.bad_amount"))
        return
    await state.update_data(balance=amount)
    await ask_rate(message.answer, state, t, knowledge)


def _rate(text: str) -> float | None:
    match = re.match(r"^\s*(\d{1,2}(?:[.,]\d{1,2})?)\s*%?\s*$", text)
    if not match:
        return None
    value = float(match.group(1).replace(",", "."))
    return value / 100 if 0 <= value <= 30 else None


async def rate_button(
    callback: CallbackQuery,
    callback_data: KeleshekCb,
    state: FSMContext,
    t: Translator,
    knowledge: Knowledge,
    settings: HandlerSettings,
) -> None:
    rate = _rate(callback_data.value)
    if rate is None:
        await refuse_stale(callback, t)
        return
    await finish(sender(callback), state, t, knowledge, settings, rate)


async def typed_rate(
    message: Message,
    state: FSMContext,
    t: Translator,
    knowledge: Knowledge,
    settings: HandlerSettings,
) -> None:
    rate = _rate(message.text or "")
    if rate is None:
        await message.answer(t("keleshek_wizard.bad_rate"))
        return
    await finish(Reply.to(message), state, t, knowledge, settings, rate)


async def finish(
    send: Reply,
    state: FSMContext,
    t: Translator,
    knowledge: Knowledge,
    settings: HandlerSettings,
    rate: float,
) -> None:
    data = await state.get_data()
    flags = data.get("flags", {})
    on = today(settings)
    common = dict(
        birth=date.fromisoformat(data["birth"]),
        as_of=on,
        orphan=flags.get("orphan", False),
        vulnerable=flags.get("vulnerable", False),
        insurance=flags.get("insurance", False),
        rate=rate,
        balance=None if data.get("balance") is None else float(data["balance"]),
    )
    kb = knowledge.kb
    try:
        projection = keleshek_projection(
            kb, monthly_mci=data.get("monthly_mci"), monthly_kzt=data.get("monthly_kzt"), **common
        )
        compare = {n: keleshek_projection(kb, monthly_mci=n, **common) for n in (1, 2, 3)}
    except RuleInputError:
        await state.clear()
        await send(t("keleshek_wizard.too_old"))
        return
    await state.clear()
    answer = knowledge.renderer.render(
        "keleshek_result", t.lang, on, projection=projection, tuition=settings.tuition_per_year_kzt
    )
    await send_long(send, answer.html)
    # matplotlib is imported on the first chart, not at start: web workers stay ~40 MB leaner.
    from charts.keleshek import comparison_chart, projection_chart

    chart, comparison = await asyncio.gather(
        asyncio.to_thread(projection_chart, projection, t.lang),
        asyncio.to_thread(comparison_chart, compare, t.lang),
    )
    await send.photo(BufferedInputFile(chart, "keleshek.png"), caption=t("keleshek_wizard.charts"))
    await send.photo(
        BufferedInputFile(comparison, "keleshek-1-2-3-mci.png"),
        reply_markup=journey_end_keyboard(t, answer=answer),
    )


def build_router() -> Router:
    def action(name: str) -> MagicFilter:
        return KeleshekCb.filter(F.action == name)

    steps = Steps("keleshek")
    steps.entry(start, MenuCb.filter(F.action == "keleshek"))
    steps.typed(KeleshekWizard.birth, typed_birth)
    steps.pressed(KeleshekWizard.monthly, chose_mci, action("mci"))
    steps.typed(KeleshekWizard.monthly, typed_monthly)
    steps.pressed(KeleshekWizard.flags, toggled, action("toggle"))
    steps.pressed(KeleshekWizard.flags, flags_done, action("next"))
    steps.pressed(KeleshekWizard.balance, balance_button, action("balance"))
    steps.typed(KeleshekWizard.balance, typed_balance)
    steps.pressed(KeleshekWizard.rate, rate_button, action("rate"))
    steps.typed(KeleshekWizard.rate, typed_rate)
    return steps.router
