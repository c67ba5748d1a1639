"""aiogram FSM storage kept in the database, so a wizard survives a restart and any worker
process can continue a conversation that another one started."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import (
    BaseStorage,
    DefaultKeyBuilder,
    KeyBuilder,
    StateType,
    StorageKey,
)
from sqlalchemy.dialects import postgresql, sqlite

from bot.db import Database
from bot.models import FsmRecord, utcnow


class SQLModelStorage(BaseStorage):
    def __init__(self, database: Database, key_builder: KeyBuilder | None = None) -> None:
        self.database = database
        self.key_builder = key_builder or DefaultKeyBuilder(with_destiny=True)

    def _upsert(self, key: str, values: dict[str, Any]) -> sa.Insert:
        """INSERT … ON CONFLICT (key) DO UPDATE, so that two updates racing on a new key
        cannot fail on the primary key."""
        dialect = sqlite if self.database.is_sqlite else postgresql
        row = {"key": key, "state": None, "data": {}, "updated_at": utcnow()} | values
        insert = dialect.insert(FsmRecord).values(**row)
        return insert.on_conflict_do_update(
            index_elements=["key"], set_={**values, "updated_at": insert.excluded.updated_at}
        )

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        async with self.database.use_session() as session:
            await session.exec(self._upsert(self.key_builder.build(key), {"state": value}))

    async def get_state(self, key: StorageKey) -> str | None:
        async with self.database.use_session() as session:
            result = await session.exec(
                sa.select(FsmRecord.state).where(FsmRecord.key == self.key_builder.build(key))
            )
            return result.scalar_one_or_none()

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        async with self.database.use_session() as session:
            await session.exec(self._upsert(self.key_builder.build(key), {"data": dict(data)}))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self.database.use_session() as session:
            result = await session.exec(
                sa.select(FsmRecord.data).where(FsmRecord.key == self.key_builder.build(key))
            )
            data = result.scalar_one_or_none()
            return dict(data) if data else {}

    async def close(self) -> None:
        """The database belongs to the app, which disposes of it; nothing to close here."""
