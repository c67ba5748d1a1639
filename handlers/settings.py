"""What handlers and middlewares read of the settings.

The settings themselves live in the composition root (`bot.config.Settings`, which satisfies
this protocol); handlers depend on this narrow view so that nothing below `bot/` imports it.
"""

from __future__ import annotations

from typing import Protocol
from zoneinfo import ZoneInfo


class HandlerSettings(Protocol):
    timezone: str
    default_language: str
    tuition_per_year_kzt: int | None
    staff_chat_id: int | None
    ticket_remind_hours: float

    @property
    def tz(self) -> ZoneInfo: ...

    @property
    def waking_hours(self) -> tuple[int, int]: ...

    @property
    def office_hours_range(self) -> tuple[int, int]: ...

    def is_admin(self, user_id: int) -> bool: ...
