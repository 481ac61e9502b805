"""task.reminded_at: when a task past its deadline last reminded its reviewer

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 09:00:00.000000

A step's `time_limit_hours` gives each task a `due_at`; the worker's reminder loop
(`hall/reminders.py`) sends the reviewer a reminder card once it passes, and again each day
while the task stays pending. The column is what keeps it to once a day, across workers and
restarts. Nullable and without a default, so adding it rewrites no rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hall.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reminded_at", hall.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_column("reminded_at")
