"""statistics: daily application counts, monthly task figures, and whether they are complete

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 03:10:00.000000

`stats_applications` holds, per process, local day of creation and applicant's department,
the applications by status (hall/stats_daily.py), so the statistics page's application
charts read ~30 rows for 30 days instead of every application; `stats_monthly` sums
`stats_daily` per calendar month, so a year's handling times merge ~40 histograms rather
than ~1,100. Both start empty: the watermark's `complete` flag stays false (the charts
count the applications directly and read the days) until `hall stats rebuild` fills them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "stats_monthly",
        sa.Column("process_id", _id(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
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
            name=op.f("fk_stats_monthly_process_id_process_definition"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "process_id", "month", "step_index", "step_key", name=op.f("pk_stats_monthly")
        ),
    )
    op.create_table(
        "stats_applications",
        sa.Column("id", _id(), nullable=False),
        sa.Column("process_id", _id(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("department_id", _id(), nullable=True),
        sa.Column("applications", sa.Integer(), nullable=False),
        sa.Column("approved", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("in_progress", sa.Integer(), nullable=False),
        sa.Column("withdrawn", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["process_id"],
            ["process_definition.id"],
            name=op.f("fk_stats_applications_process_id_process_definition"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stats_applications")),
    )
    with op.batch_alter_table("stats_applications", schema=None) as batch_op:
        batch_op.create_index("ix_stats_applications_day", ["process_id", "day"], unique=False)
    with op.batch_alter_table("stats_watermark", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("complete", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("stats_watermark", schema=None) as batch_op:
        batch_op.drop_column("complete")
    with op.batch_alter_table("stats_applications", schema=None) as batch_op:
        batch_op.drop_index("ix_stats_applications_day")
    op.drop_table("stats_applications")
    op.drop_table("stats_monthly")
