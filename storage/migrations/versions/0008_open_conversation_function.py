"""open_conversation(): the sender's lock, user row and conversation record in one round trip

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 09:20:00

Every update on PostgreSQL begins by taking an advisory lock on its sender and then reading the
sender's user row and conversation record. Done as two statements that is two round trips; the
reads cannot simply join the lock's statement, because a statement reads from the snapshot it
started with, before the lock was granted. A VOLATILE PL/pgSQL function takes a fresh snapshot
for each statement inside it, so it can lock first and then read what the previous holder of
the lock committed. `u users` follows the users table as later migrations change it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has one writer at a time and no advisory locks
    op.execute(
        """
        CREATE OR REPLACE FUNCTION talapker_open_conversation(
            lock_class integer, lock_key integer, user_id bigint, fsm_key varchar
        ) RETURNS TABLE (u users, state varchar, data json)
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock(lock_class, lock_key);
            RETURN QUERY
                SELECT person, record.state::varchar, record.data::json
                FROM (SELECT 1) AS one
                LEFT JOIN users AS person ON person.id = user_id
                LEFT JOIN fsm_records AS record ON record.key = fsm_key;
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "DROP FUNCTION IF EXISTS talapker_open_conversation(integer, integer, bigint, varchar)"
    )
