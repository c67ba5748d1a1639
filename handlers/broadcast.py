"""Staff broadcasts: compose → audience → recipient count and an exact preview → send now,
schedule, or cancel. Also the list of scheduled broadcasts, staff management (admins only)
and the audit log. For anyone without staff rights none of this exists: the filters fail
and commands fall through to "unknown command", buttons to "out of date"."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, MessageOriginUser
from sqlmodel.ext.asyncio.session import AsyncSession

from delivery.outbox import Audience, DeliveryWorker, count_audience, enqueue
from handlers.callbacks import AudienceCb, BroadcastCb
from handlers.common import sender
from handlers.filters import NOT_COMMAND
from handlers.keyboards import Keyboard
from handlers.settings import HandlerSettings
from i18n import LANGUAGE_NAMES, Translator
from knowledge.service import Knowledge
from storage.db import Database
from storage.models import AuditEntry, Campaign, CampaignStatus, OutboxMessage, User

AUDIT_SHOWN = 15


class Compose(StatesGroup):
    content = State()
    audience = State()
    confirm = State()
    when = State()


class StaffGrant(StatesGroup):
    waiting = State()


async def staff_only(_: Any, is_staff: bool) -> bool:
    return is_staff


async def admin_only(_: Any, is_admin: bool) -> bool:
    return is_admin


def audit(session: AsyncSession, actor: int, action: str, **details: Any) -> None:
    session.add(AuditEntry(actor_id=actor, action=action, details=details))


def audience_keyboard(t: Translator) -> InlineKeyboardMarkup:
    builder = Keyboard()
    options = [
        ("all", "all", ""),
        ("applicants", "role", "applicant"),
        ("parents", "role", "parent"),
        ("by_language", "pick_language", ""),
        ("by_region", "pick_region", ""),
        ("city", "settlement", "city"),
        ("rural", "settlement", "rural"),
    ]
    for label, kind, value in options:
        builder.button(
            text=t.plain(f"broadcast.{label}"), callback_data=AudienceCb(kind=kind, value=value)
        )
    builder.adjust(1, 2, 2, 2)
    return builder.as_markup()


def describe(audience: Audience, t: Translator, knowledge: Knowledge) -> str:
    if audience.role:
        return t.plain(
            "broadcast.applicants" if audience.role == "applicant" else "broadcast.parents"
        )
    if audience.language:
        return LANGUAGE_NAMES[audience.language]
    if audience.region:
        region = knowledge.kb.region(audience.region)
        return region.name.get(t.lang) if region else audience.region
    if audience.settlement:
        return t.plain(f"broadcast.{audience.settlement}")
    return t.plain("broadcast.all")


async def start(message: Message, state: FSMContext, t: Translator) -> None:
    await state.set_state(Compose.content)
    await state.set_data({})
    await message.answer(t("broadcast.compose"))


async def got_content(message: Message, state: FSMContext, t: Translator) -> None:
    if message.photo:
        content = {
            "photo": message.photo[-1].file_id,
            "text": message.html_text if message.caption else "",
        }
    elif message.document:
        content = {
            "document": message.document.file_id,
            "text": message.html_text if message.caption else "",
        }
    elif message.text:
        content = {"text": message.html_text}
    else:
        await message.answer(t("broadcast.unsupported"))
        return
    await state.update_data(content=content)
    await state.set_state(Compose.audience)
    await message.answer(t("broadcast.audience"), reply_markup=audience_keyboard(t))


async def chose_audience(
    callback: CallbackQuery,
    callback_data: AudienceCb,
    state: FSMContext,
    t: Translator,
    database: Database,
    bot: Bot,
    knowledge: Knowledge,
) -> None:
    kind, value = callback_data.kind, callback_data.value
    send = sender(callback)
    if kind == "pick_language":
        builder = Keyboard()
        for code, name in LANGUAGE_NAMES.items():
            builder.button(text=name, callback_data=AudienceCb(kind="language", value=code))
        await send(t("broadcast.pick_language"), reply_markup=builder.as_markup())
        return
    if kind == "pick_region":
        builder = Keyboard()
        for region in knowledge.kb.regions.regions:
            builder.button(
                text=region.short.get(t.lang),
                callback_data=AudienceCb(kind="region", value=region.code),
            )
        builder.adjust(2)
        await send(t("broadcast.pick_region"), reply_markup=builder.as_markup())
        return
    valid = {
        "all": value == "",
        "role": value in ("applicant", "parent"),
        "language": value in LANGUAGE_NAMES,
        "region": knowledge.kb.region(value) is not None,
        "settlement": value in ("city", "rural"),
    }
    if not valid.get(kind, False):
        await callback.answer(t.plain("errors.stale_button"), show_alert=True)
        return
    audience = Audience() if kind == "all" else Audience(**{kind: value})
    count = await count_audience(database, audience)
    if count == 0:
        await send(t("broadcast.nobody"), reply_markup=audience_keyboard(t))
        return
    await state.update_data(audience=audience.as_dict(), count=count)
    await state.set_state(Compose.confirm)
    await send(t("broadcast.preview", count=count, audience=describe(audience, t, knowledge)))
    content = (await state.get_data())["content"]
    await show_content(bot, send.chat_id, content)
    builder = Keyboard()
    for action in ("send", "schedule", "cancel"):
        builder.button(
            text=t.plain(f"broadcast.{'send_now' if action == 'send' else action}"),
            callback_data=BroadcastCb(action=action),
        )
    builder.adjust(1)
    await send("⬆️", reply_markup=builder.as_markup())


async def show_content(bot: Bot, chat_id: int, content: dict[str, Any]) -> None:
    """Exactly what the recipients will get (the delivery engine sends the same fields)."""
    if content.get("photo"):
        await bot.send_photo(chat_id, content["photo"], caption=content.get("text") or None)
    elif content.get("document"):
        await bot.send_document(chat_id, content["document"], caption=content.get("text") or None)
    else:
        await bot.send_message(chat_id, content["text"])


async def queue(
    state: FSMContext,
    user: User,
    t: Translator,
    database: Database,
    session: AsyncSession,
    scheduled_for: datetime | None,
) -> Campaign:
    data = await state.get_data()
    content = data["content"]
    campaign, _ = await enqueue(
        database,
        kind="broadcast",
        texts={"*": content.get("text", "")},
        photo=content.get("photo"),
        document=content.get("document"),
        audience=Audience.from_dict(data["audience"]),
        created_by=user.id,
        scheduled_for=scheduled_for,
        progress_chat_id=user.id,
    )
    campaign.progress_lang = t.lang
    audit(
        session,
        user.id,
        "broadcast_scheduled" if scheduled_for else "broadcast_sent",
        campaign_id=campaign.id,
        audience=data["audience"],
        recipients=data["count"],
        text=content.get("text", "")[:200],
        scheduled_for=scheduled_for.isoformat() if scheduled_for else None,
    )
    await state.clear()
    return campaign


async def confirm(
    callback: CallbackQuery,
    callback_data: BroadcastCb,
    state: FSMContext,
    user: User,
    t: Translator,
    database: Database,
    session: AsyncSession,
    delivery: DeliveryWorker,
    settings: HandlerSettings,
) -> None:
    send = sender(callback)
    if callback_data.action == "cancel":
        await state.clear()
        await send(t("broadcast.cancelled"))
        return
    if callback_data.action == "schedule":
        await state.set_state(Compose.when)
        await send(t("broadcast.schedule_prompt", tz=settings.timezone))
        return
    data = await state.get_data()
    await queue(state, user, t, database, session, None)
    await send(t("broadcast.queued", count=data["count"]))
    delivery.wake.set()


async def got_time(
    message: Message,
    state: FSMContext,
    user: User,
    t: Translator,
    database: Database,
    session: AsyncSession,
    settings: HandlerSettings,
) -> None:
    try:
        local = datetime.strptime((message.text or "").strip(), "%d.%m.%Y %H:%M").replace(
            tzinfo=settings.tz
        )
    except ValueError:
        local = None
    if local is None or local <= datetime.now(settings.tz):
        await message.answer(t("broadcast.bad_time"))
        return
    data = await state.get_data()
    await queue(state, user, t, database, session, local)
    await message.answer(
        t(
            "broadcast.scheduled",
            when=local.strftime("%d.%m.%Y %H:%M"),
            tz=settings.timezone,
            count=data["count"],
        )
    )


async def list_scheduled(
    message: Message, t: Translator, session: AsyncSession, settings: HandlerSettings
) -> None:
    campaigns = (
        (
            await session.exec(
                sa.select(Campaign)
                .where(Campaign.status == CampaignStatus.SCHEDULED, Campaign.kind == "broadcast")
                .order_by(Campaign.scheduled_for)  # type: ignore[arg-type]
            )
        )
        .scalars()
        .all()
    )
    if not campaigns:
        await message.answer(t("broadcast.none_scheduled"))
        return
    for campaign in campaigns:
        count = (
            await session.exec(
                sa.select(sa.func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.campaign_id == campaign.id)
            )
        ).scalar_one()
        when = (
            campaign.scheduled_for.astimezone(settings.tz).strftime("%d.%m.%Y %H:%M")
            if campaign.scheduled_for
            else "?"
        )
        preview = html.escape(next(iter(campaign.texts.values()), "")[:60])
        builder = Keyboard()
        builder.button(
            text=t.plain("broadcast.cancel_item", id=campaign.id),
            callback_data=BroadcastCb(action="cancel_scheduled", campaign_id=campaign.id or 0),
        )
        await message.answer(
            t("broadcast.scheduled_item", id=campaign.id, when=when, count=count, preview=preview),
            reply_markup=builder.as_markup(),
        )


async def cancel_scheduled(
    callback: CallbackQuery,
    callback_data: BroadcastCb,
    user: User,
    t: Translator,
    session: AsyncSession,
) -> None:
    campaign = await session.get(Campaign, callback_data.campaign_id)
    if campaign is None or campaign.status != CampaignStatus.SCHEDULED:
        await callback.answer(t.plain("errors.stale_button"), show_alert=True)
        return
    campaign.status = CampaignStatus.CANCELLED
    await session.exec(sa.delete(OutboxMessage).where(OutboxMessage.campaign_id == campaign.id))
    audit(session, user.id, "broadcast_cancelled", campaign_id=campaign.id)
    await sender(callback)(t("broadcast.cancelled_item", id=campaign.id))


# ------------------------------------------------------------------ staff management (admins)
async def set_staff(
    send: Any,
    target_id: int,
    grant: bool,
    admin: User,
    t: Translator,
    session: AsyncSession,
    settings: HandlerSettings,
) -> None:
    if settings.is_admin(target_id):
        await send(t("staff_admin.is_admin", user_id=target_id))
        return
    target = await session.get(User, target_id)
    if target is None:
        target = User(id=target_id)
        session.add(target)
    target.staff_granted = grant
    audit(session, admin.id, "staff_granted" if grant else "staff_revoked", user_id=target_id)
    await send(t("staff_admin.granted" if grant else "staff_admin.revoked", user_id=target_id))


async def staff_command(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    user: User,
    t: Translator,
    session: AsyncSession,
    settings: HandlerSettings,
) -> None:
    grant = command.command == "staff_add"
    argument = (command.args or "").strip()
    if argument.isdigit():
        await set_staff(message.answer, int(argument), grant, user, t, session, settings)
        return
    if grant and not argument:
        await state.set_state(StaffGrant.waiting)
        await message.answer(t("staff_admin.forward_prompt"))
        return
    await message.answer(t("staff_admin.usage"))


async def forwarded(
    message: Message,
    state: FSMContext,
    user: User,
    t: Translator,
    session: AsyncSession,
    settings: HandlerSettings,
) -> None:
    origin = message.forward_origin
    text = (message.text or "").strip()
    if isinstance(origin, MessageOriginUser):
        target = origin.sender_user.id
    elif text.isdigit():
        target = int(text)
    else:
        await message.answer(t("staff_admin.no_forward"))
        return
    await state.clear()
    await set_staff(message.answer, target, True, user, t, session, settings)


async def audit_log(
    message: Message, t: Translator, session: AsyncSession, settings: HandlerSettings
) -> None:
    entries = (
        (
            await session.exec(
                sa.select(AuditEntry).order_by(AuditEntry.created_at.desc()).limit(AUDIT_SHOWN)
            )  # type: ignore[attr-defined]
        )
        .scalars()
        .all()
    )
    if not entries:
        await message.answer(t("staff_admin.audit_empty"))
        return
    lines = [t("staff_admin.audit_title", count=len(entries))]
    for entry in entries:
        when = entry.created_at.astimezone(settings.tz).strftime("%d.%m %H:%M")
        details = html.escape(
            ", ".join(f"{k}={v}" for k, v in entry.details.items() if v is not None)[:150]
        )
        lines.append(f"<code>{when}</code> {entry.actor_id} {entry.action} {details}")
    await message.answer("\n".join(lines))


def progress_text(i18n: Any) -> Any:
    """The delivery engine's progress message, in the language of the staff member."""

    def render(campaign: Campaign, stats: Any) -> str:
        t = i18n.translator(campaign.progress_lang or i18n.languages[0])
        common = {
            "sent": stats.sent,
            "total": stats.total,
            "blocked": stats.blocked,
            "failed": stats.failed,
        }
        if stats.done:
            return t(
                "broadcast.done", duration=round(stats.duration), rate=f"{stats.rate:.1f}", **common
            )
        return t("broadcast.progress", **common)

    return render


def build_router() -> Router:
    router = Router(name="broadcast")
    router.message.filter(staff_only)
    router.callback_query.filter(staff_only)
    router.message.register(start, Command("broadcast"))
    router.message.register(list_scheduled, Command("scheduled"))
    router.message.register(staff_command, Command("staff_add", "staff_remove"), admin_only)
    router.message.register(audit_log, Command("audit"), admin_only)
    router.message.register(forwarded, StateFilter(StaffGrant.waiting), admin_only, NOT_COMMAND)
    router.message.register(got_content, StateFilter(Compose.content), NOT_COMMAND)
    router.callback_query.register(
        chose_audience, StateFilter(Compose.audience), AudienceCb.filter()
    )
    router.callback_query.register(
        confirm,
        StateFilter(Compose.confirm),
        BroadcastCb.filter(F.action.in_({"send", "schedule", "cancel"})),
    )
    router.message.register(got_time, StateFilter(Compose.when), NOT_COMMAND)
    router.callback_query.register(
        cancel_scheduled, BroadcastCb.filter(F.action == "cancel_scheduled")
    )
    return router
