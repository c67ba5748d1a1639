"""Settings read from the environment and an optional `.env` file.

A missing or invalid setting must stop the bot at start-up with one readable line, so
`load_settings` turns pydantic's validation error into :class:`SettingsError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from i18n import Language

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///talapker.db"
TELEGRAM_API_URL = "https://api.telegram.org"
TELEGRAM_MAX_RATE = 30.0


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line meant for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_file_encoding="utf-8")

    bot_token: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    bot_api_url: str = TELEGRAM_API_URL
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    webhook_path: str = "/webhook"
    # How many connections Telegram opens to the webhook at once (Telegram's default: 40).
    webhook_max_connections: int = Field(default=40, ge=1, le=100)
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    default_language: Language = "ru"
    timezone: str = "Asia/Almaty"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # A folder with corrected copies of knowledge/data/*.yaml (default: the shipped data).
    knowledge_dir: Path | None = None
    # A yearly tuition figure the admissions office chooses; Keleshek projections then say how
    # many years of study the savings would pay for. Unset: that line is left out.
    tuition_per_year_kzt: int | None = Field(default=None, gt=0)
    # Outbound delivery (broadcasts and reminders). Telegram allows about 30 messages a second.
    delivery_rate: float = Field(default=25.0, gt=0, le=1000)
    delivery_concurrency: int = Field(default=4, ge=1, le=32)
    delivery_max_attempts: int = Field(default=5, ge=1, le=20)
    # Reminders are sent only between these local hours ("9-21": from 09:00 to 21:00).
    reminder_hours: str = "9-21"
    # Conversation state in Redis (aiogram's RedisStorage) instead of the database.
    redis_url: str | None = None
    # "json" in production (one object a line, for a log collector), "text" for people.
    log_format: Literal["text", "json"] = "text"
    # /metrics and /healthz for processes that serve no webhook (the worker, polling);
    # web workers serve them on the webhook port. Unset: not served.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # Per-user flood limit: a burst of THROTTLE_BURST messages, then one every
    # 1/THROTTLE_RATE seconds; anything faster gets one "slow down" and is dropped.
    throttle_rate: float = Field(default=1.0, gt=0)
    throttle_burst: int = Field(default=8, ge=1)
    # Questions the bot could not answer are kept this many days for staff, then deleted.
    unanswered_retention_days: int = Field(default=90, ge=1)
    # Hand-off to the admissions office: the staff supergroup (best with topics on: a topic
    # per applicant; without topics staff answer by replying), when the office answers
    # ("9-18", local time, Monday to Friday), and after how many hours without a reply a
    # ticket is brought up again in the staff chat.
    staff_chat_id: int | None = None
    office_hours: str = "9-18"
    ticket_remind_hours: float = Field(default=4.0, gt=0)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p for p in value.replace(";", ",").replace(" ", ",").split(",") if p]
            try:
                return frozenset(int(p) for p in parts)
            except ValueError as exc:
                raise ValueError("must be Telegram user ids separated by commas") from exc
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("bot_token")
    @classmethod
    def _check_token(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        left, sep, right = value.strip().partition(":")
        if not sep or not left.isdigit() or not right:
            raise ValueError("looks wrong; a token is like 123456:ABC-DEF… from @BotFather")
        return value.strip()

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if value.startswith(("postgres://", "postgresql://")):
            # Operators paste plain URLs from their hosting panel; the app needs the async driver.
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (or postgresql://)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name like Asia/Almaty"
            ) from exc
        return value

    @field_validator("webhook_url", "webhook_secret", "redis_url")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("webhook_secret")
    @classmethod
    def _check_secret(cls, value: str | None) -> str | None:
        # Telegram accepts 1-256 characters from A-Z, a-z, 0-9, _ and -.
        if value is not None and (
            len(value) > 256 or not all(c.isalnum() or c in "_-" for c in value)
        ):
            raise ValueError("may hold only A-Z, a-z, 0-9, _ and -, at most 256 characters")
        return value

    @field_validator("knowledge_dir")
    @classmethod
    def _check_knowledge_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a folder")
        return value

    @field_validator("reminder_hours", "office_hours")
    @classmethod
    def _check_reminder_hours(cls, value: str) -> str:
        start, sep, end = value.partition("-")
        if (
            not sep
            or not start.isdigit()
            or not end.isdigit()
            or not 0 <= int(start) < int(end) <= 24
        ):
            raise ValueError('must be like "9-21" (from hour to hour, local time)')
        return value

    @property
    def waking_hours(self) -> tuple[int, int]:
        start, _, end = self.reminder_hours.partition("-")
        return int(start), int(end)

    @property
    def office_hours_range(self) -> tuple[int, int]:
        start, _, end = self.office_hours.partition("-")
        return int(start), int(end)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def is_admin(self, user_id: int) -> bool:
        return user_id in self.admin_ids


def load_settings(**overrides: object) -> Settings:
    """Read settings; raise :class:`SettingsError` with one line per problem."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]).upper() if error["loc"] else "settings"
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{name}: {message}")
        raise SettingsError("; ".join(problems)) from None
    if settings.delivery_rate > TELEGRAM_MAX_RATE and settings.bot_api_url == TELEGRAM_API_URL:
        raise SettingsError(
            f"DELIVERY_RATE: at most {TELEGRAM_MAX_RATE:g} messages a second "
            "with Telegram's servers"
        )
    if settings.webhook_url and not settings.webhook_secret:
        raise SettingsError(
            "WEBHOOK_SECRET: required when WEBHOOK_URL is set, "
            "so that only Telegram can post updates"
        )
    return settings
