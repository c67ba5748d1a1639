"""Per-user flood control.

Each user has a token bucket: THROTTLE_BURST updates at once, refilled at THROTTLE_RATE a
second. An update beyond that is dropped; the first dropped update of a flood gets one polite
"slow down" (a pressed button gets it as a small notice), the rest get nothing, so a hundred
pasted messages cost a hundred bucket look-ups and one reply.

The buckets live in the process. Behind a load balancer with N web workers a user's updates
spread over the workers, so the effective limit is at most N times higher; that still stops a
flood from becoming a flood of answers, which is the point.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update

from bot.i18n import Translator
from bot.metrics import Metrics

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

# Buckets of users quiet for this long are full again and can be forgotten.
IDLE_FORGET_SECONDS = 600.0
PRUNE_EVERY = 10_000  # look for idle buckets every this many updates


@dataclass
class Bucket:
    tokens: float
    updated: float
    warned: bool = False


class TokenBuckets:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.buckets: dict[int, Bucket] = {}
        self._seen = 0

    def take(self, user_id: int) -> tuple[bool, bool]:
        """Spend one token. Returns (allowed, warn): `warn` is true for the first refused
        update of a flood."""
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
            return True, False
        warn = not bucket.warned
        bucket.warned = True
        return False, warn

    def _prune(self, now: float) -> None:
        idle = [uid for uid, b in self.buckets.items() if now - b.updated > IDLE_FORGET_SECONDS]
        for uid in idle:
            del self.buckets[uid]


class ThrottleMiddleware(BaseMiddleware):
    """Outer update middleware, after the user and locale are known (the warning is in the
    user's language) and before any handler or state change."""

    def __init__(self, buckets: TokenBuckets, metrics: Metrics) -> None:
        self.buckets = buckets
        self.metrics = metrics

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        sender = data.get("event_from_user")
        if sender is None:
            return await handler(event, data)
        allowed, warn = self.buckets.take(sender.id)
        if allowed:
            return await handler(event, data)
        self.metrics.throttled.inc()
        assert isinstance(event, Update)
        t: Translator = data["t"]
        # Returned, not sent: under a webhook the refusal rides in the response, so a flood
        # costs no Bot API requests.
        if isinstance(event.event, CallbackQuery):
            # Stop the button's spinner either way; only the first refusal says why.
            return event.event.answer(t.plain("errors.slow_down") if warn else None)
        if warn and isinstance(event.event, Message):
            return event.event.answer(t("errors.slow_down"))
        return None
