"""calendar: expected dates (basis) and watches for their announcement

Revision ID: 0009_calendar_expected
Revises: 0008
Create Date: 2026-12-03 08:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision: str = "0009_calendar_expected"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calendar_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("basis", sa.JSON(), server_default="{}", nullable=False))

    op.create_table(
        "date_watches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("event_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "event_key", name="uq_date_watch"),
    )
    with op.batch_alter_table("date_watches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_date_watches_event_key"), ["event_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_date_watches_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("date_watches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_date_watches_user_id"))
        batch_op.drop_index(batch_op.f("ix_date_watches_event_key"))
    op.drop_table("date_watches")
    with op.batch_alter_table("calendar_events", schema=None) as batch_op:
        batch_op.drop_column("basis")
