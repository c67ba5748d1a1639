"""Per-user flood control.

Each user has a token bucket: THROTTLE_BURST updates at once, refilled at THROTTLE_RATE a
second. An update beyond that is dropped; the first dropped update of a flood gets one polite
"slow down" (a pressed button gets it as a small notice), the rest get nothing, so a hundred
pasted messages cost a hundred bucket look-ups and one reply.

The check comes first, before the conversation lock and the database: a refused update costs
no transaction, so a flood cannot become database load either. The refusal is in the language
the user's last answered update used, which the bucket remembers (a user's first updates are
always within the burst).

Without Redis the buckets live in the process: behind a load balancer with N web workers a
user's updates spread over the workers, so the effective limit is up to N times higher. With
REDIS_URL set the buckets live in Redis (`RedisTokenBuckets`), one per user for the whole
installation: a Lua script refills and spends atomically on the server's clock, so N workers
allow exactly the configured limit.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update, User

from i18n import I18n, telegram_language
from observability.metrics import Metrics

if TYPE_CHECKING:
    from redis.asyncio import Redis

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

# Buckets of users quiet for this long are full again and can be forgotten.
IDLE_FORGET_SECONDS = 600.0
PRUNE_EVERY = 10_000  # look for idle buckets every this many updates


@dataclass
class Bucket:
    tokens: float
    updated: float
    warned: bool = False
    lang: str | None = None  # the reply language of the user's last answered update


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    warn: bool  # the first refused update of a flood: the only one that is told why
    lang: str | None  # the reply language of the user's last answered update


class Buckets(Protocol):
    async def take(self, user_id: int) -> Verdict: ...

    async def remember_language(self, user_id: int, lang: str) -> None: ...


class TokenBuckets:
    """The buckets of this process."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.buckets: dict[int, Bucket] = {}
        self._seen = 0

    async def take(self, user_id: int) -> Verdict:
        bucket, allowed, warn = self.spend(user_id)
        return Verdict(allowed, warn, bucket.lang)

    async def remember_language(self, user_id: int, lang: str) -> None:
        bucket = self.buckets.get(user_id)
        if bucket is not None:
            bucket.lang = lang

    def spend(self, user_id: int) -> tuple[Bucket, bool, bool]:
        """Spend one token. Returns (the user's bucket, allowed, warn): `warn` is true for
        the first refused update of a flood."""
        now = self.clock()
        self._seen += 1
        if self._seen % PRUNE_EVERY == 0:
            self._prune(now)
        bucket = self.buckets.get(user_id)
        if bucket is None:
            bucket = self.buckets[user_id] = Bucket(tokens=float(self.burst), updated=now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            bucket.warned = False
            return bucket, True, False
        warn = not bucket.warned
        bucket.warned = True
        return bucket, False, warn

    def _prune(self, now: float) -> None:
        idle = [uid for uid, b in self.buckets.items() if now - b.updated > IDLE_FORGET_SECONDS]
        for uid in idle:
            del self.buckets[uid]


# KEYS[1]: the user's bucket (a hash); ARGV: rate, burst, seconds until an idle bucket goes.
# Redis's own clock, so that every worker refills alike.
_TAKE_SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'updated', 'warned', 'lang')
local tokens = tonumber(saved[1]) or burst
local updated = tonumber(saved[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
local allowed, warn, warned = 0, 0, tonumber(saved[3]) or 0
if tokens >= 1 then
  tokens, allowed, warned = tokens - 1, 1, 0
elseif warned == 0 then
  warn, warned = 1, 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now), 'warned', warned)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {allowed, warn, saved[4] or ''}
"""


class RedisTokenBuckets:
    """The same buckets kept in Redis and shared by every process: one round trip a check."""

    def __init__(
        self, redis: Redis, rate: float, burst: int, prefix: str = "talapker:flood"
    ) -> None:
        self.redis = redis
        self.rate = rate
        self.burst = burst
        self.prefix = prefix
        self._take = redis.register_script(_TAKE_SCRIPT)

    def _key(self, user_id: int) -> str:
        return f"{self.prefix}:{user_id}"

    async def take(self, user_id: int) -> Verdict:
        allowed, warn, lang = await self._take(
            keys=[self._key(user_id)], args=[self.rate, self.burst, int(IDLE_FORGET_SECONDS)]
        )
        lang = lang.decode() if isinstance(lang, bytes) else lang
        return Verdict(bool(allowed), bool(warn), lang or None)

    async def remember_language(self, user_id: int, lang: str) -> None:
        await self.redis.hset(self._key(user_id), "lang", lang)


class ThrottleMiddleware(BaseMiddleware):
    """Outer update middleware, the first after the metrics: before the conversation lock,
    the database session and any handler or state change."""

    def __init__(
        self, buckets: Buckets, metrics: Metrics, i18n: I18n, default_language: str
    ) -> None:
        self.buckets = buckets
        self.metrics = metrics
        self.i18n = i18n
        self.default_language = default_language

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        sender: User | None = data.get("event_from_user")
        if sender is None:
            return await handler(event, data)
        verdict = await self.buckets.take(sender.id)
        if verdict.allowed:
            result = await handler(event, data)
            lang = self._reply_language(data)
            if lang is not None and lang != verdict.lang:
                await self.buckets.remember_language(sender.id, lang)
            return result
        self.metrics.throttled.inc()
        assert isinstance(event, Update)
        lang = verdict.lang or telegram_language(sender.language_code, self.default_language)
        t = self.i18n.translator(lang)
        # Returned, not sent: under a webhook the refusal rides in the response, so a flood
        # costs no Bot API requests.
        if isinstance(event.event, CallbackQuery):
            # Stop the button's spinner either way; only the first refusal says why.
            return event.event.answer(t.plain("errors.slow_down") if verdict.warn else None)
        if verdict.warn and isinstance(event.event, Message):
            return event.event.answer(t("errors.slow_down"))
        return None

    def _reply_language(self, data: dict[str, Any]) -> str | None:
        """The language to refuse in next time: the user's own choice as the update left it
        (a language picked just now counts), else what this update was answered in. Both are
        set further down the chain, in the data every middleware shares."""
        user = data.get("user")
        chosen = getattr(user, "language", None)
        return chosen if chosen in self.i18n.catalogues else data.get("lang")
