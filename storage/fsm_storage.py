"""aiogram FSM storage kept in the database, so a wizard survives a restart and any worker
process can continue a conversation that another one started.

During an update the storage works on the update's own copy of the records it touches: the
database middleware preloads the sender's record together with the user row (one query), reads
and writes go to that copy, and `flush` writes what changed just before the commit, as one
statement per record. A wizard step used to cost four round trips (get state, get data, set
data, set state); it now costs at most one."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
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

from storage.conversation import ConversationTransaction, current_transaction
from storage.db import Database
from storage.models import FsmRecord, utcnow


@dataclass
class ConversationRecord:
    state: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    changed: bool = False

    @property
    def empty(self) -> bool:
        return self.state is None and not self.data


# The records of the update being handled, by storage key (None outside an update).
_update_records: ContextVar[dict[str, ConversationRecord] | None] = ContextVar(
    "update_records", default=None
)


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

    @contextmanager
    def update_scope(self) -> Iterator[dict[str, ConversationRecord]]:
        """Opens the update's record copy; `DbSessionMiddleware` fills it and flushes it."""
        records: dict[str, ConversationRecord] = {}
        token = _update_records.set(records)
        try:
            yield records
        finally:
            _update_records.reset(token)

    def preload(self, key: str, state: str | None, data: dict[str, Any] | None) -> None:
        """The record as the update's first query read it (None, None: there is no row)."""
        records = _update_records.get()
        if records is not None:
            records[key] = ConversationRecord(state, dict(data or {}))

    def build_key(self, key: StorageKey) -> str:
        return self.key_builder.build(key)

    def _changed(self) -> Iterator[tuple[str, ConversationRecord]]:
        for key, record in (_update_records.get() or {}).items():
            if record.changed:
                record.changed = False
                yield key, record

    async def flush(self, session: Any) -> None:
        """Write the update's changed records in its session. An emptied record (state and
        data cleared) is deleted rather than kept as a row of nulls."""
        for key, record in self._changed():
            if record.empty:
                await session.exec(sa.delete(FsmRecord).where(FsmRecord.key == key))  # type: ignore[arg-type]
            else:
                await session.exec(self._upsert(key, {"state": record.state, "data": record.data}))

    async def flush_to(self, transaction: ConversationTransaction) -> None:
        """The same as `flush`, on the update's bare PostgreSQL transaction."""
        for key, record in self._changed():
            if record.empty:
                await transaction.delete_record(key)
            else:
                await transaction.write_record(key, record.state, record.data)

    async def _record(self, key: str) -> ConversationRecord | None:
        """The update's copy of a record, read from the database on first use; None outside
        an update."""
        records = _update_records.get()
        if records is None:
            return None
        record = records.get(key)
        transaction = current_transaction.get()
        if record is None and transaction is not None:
            found = await transaction.read_record(key)
            record = ConversationRecord(*found) if found else ConversationRecord()
            records[key] = record
        elif record is None:
            async with self.database.use_session() as session:
                result = await session.exec(
                    sa.select(FsmRecord.state, FsmRecord.data).where(FsmRecord.key == key)
                )
                row = result.first()
            record = ConversationRecord(row[0], dict(row[1] or {})) if row else ConversationRecord()
            records[key] = record
        return record

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        built = self.build_key(key)
        record = await self._record(built)
        if record is not None:
            record.state, record.changed = value, True
            return
        async with self.database.use_session() as session:
            await session.exec(self._upsert(built, {"state": value}))

    async def get_state(self, key: StorageKey) -> str | None:
        built = self.build_key(key)
        record = await self._record(built)
        if record is not None:
            return record.state
        async with self.database.use_session() as session:
            result = await session.exec(sa.select(FsmRecord.state).where(FsmRecord.key == built))
            return result.scalar_one_or_none()

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        built = self.build_key(key)
        record = await self._record(built)
        if record is not None:
            record.data, record.changed = dict(data), True
            return
        async with self.database.use_session() as session:
            await session.exec(self._upsert(built, {"data": dict(data)}))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        built = self.build_key(key)
        record = await self._record(built)
        if record is not None:
            return dict(record.data)
        async with self.database.use_session() as session:
            result = await session.exec(sa.select(FsmRecord.data).where(FsmRecord.key == built))
            data = result.scalar_one_or_none()
            return dict(data) if data else {}

    async def close(self) -> None:
        """The database belongs to the app, which disposes of it; nothing to close here."""
