"""statistics: daily aggregates of finished tasks, the fold's watermark, live-part indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 03:00:00.000000

`stats_daily` holds, per process step and local day of application, the finished tasks'
counts and handling-time histogram (see hall/stats_daily.py); `stats_watermark` is how far
the fold has read `action_log`. Three small partial indexes serve the live parts: open
tasks with a due time, pending tasks by application, open applications with their process.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hall.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OPEN_DUE = "status IN ('waiting', 'pending') AND due_at IS NOT NULL"
PENDING = "status = 'pending'"
OPEN_APP = "status IN ('pending', 'returned')"


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "stats_daily",
        sa.Column("process_id", _id(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("step_key", sa.String(length=64), nullable=False),
        sa.Column("finished", sa.Integer(), nullable=False),
        sa.Column("decided", sa.Integer(), nullable=False),
        sa.Column("histogram", _json(), nullable=False),
        sa.Column("timed", sa.Integer(), nullable=False),
        sa.Column("late", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["process_id"],
            ["process_definition.id"],
            name=op.f("fk_stats_daily_process_id_process_definition"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "process_id", "day", "step_index", "step_key", name=op.f("pk_stats_daily")
        ),
    )
    op.create_table(
        "stats_watermark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_log_id", sa.BigInteger(), nullable=False),
        sa.Column("folded_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stats_watermark")),
    )
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_task_open_due",
            ["application_id"],
            unique=False,
            postgresql_where=sa.text(OPEN_DUE),
            sqlite_where=sa.text(OPEN_DUE),
            postgresql_include=["step_index", "step_key", "status", "due_at"],
        )
        batch_op.create_index(
            "ix_task_pending_application",
            ["application_id"],
            unique=False,
            postgresql_where=sa.text(PENDING),
            sqlite_where=sa.text(PENDING),
            postgresql_include=["assignee_id", "activated_at"],
        )
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.create_index(
            "ix_application_open",
            ["id"],
            unique=False,
            postgresql_where=sa.text(OPEN_APP),
            sqlite_where=sa.text(OPEN_APP),
            postgresql_include=["process_id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.drop_index("ix_application_open")
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index("ix_task_pending_application")
        batch_op.drop_index("ix_task_open_due")
    op.drop_table("stats_watermark")
    op.drop_table("stats_daily")
