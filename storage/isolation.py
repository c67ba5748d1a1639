"""Per-conversation event isolation: one update at a time per (chat, user).

aiogram handles polled updates concurrently, so a quick second tap could otherwise read the
wizard state before the first tap's transaction has committed. aiogram's own
SimpleEventIsolation keeps one lock per user forever; this one forgets a lock as soon as
nobody holds or waits for it, so memory stays flat with 100,000 users."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from aiogram.fsm.storage.base import BaseEventIsolation, StorageKey


class KeyedLockIsolation(BaseEventIsolation):
    def __init__(self) -> None:
        self._locks: dict[StorageKey, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            users = self._locks[key][1]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    @property
    def held(self) -> int:
        """How many conversations have an update in flight (or waiting)."""
        return len(self._locks)

    async def close(self) -> None:
        """Nothing to release: every lock goes away with the update that holds it (clearing
        them here would break updates still finishing during shutdown)."""
