"""drop two indexes that only cost writes: ix_task_stats and ix_application_process

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 02:40:00.000000

The covering index on task(application_id) served the statistics' direct scans before
`stats_daily` (0004) existed. It cost every task INSERT and UPDATE (a decision, a new step)
a 200 MB index's maintenance on a million-application hall — a third of a decision's time —
while the remaining direct reads (small processes, the fold) are served by
ix_task_application. ix_application_process (process_id, created_at) is a prefix of
ix_application_stats (0003), which serves every query it did.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INCLUDED = ["step_index", "step_key", "status", "activated_at", "decided_at", "due_at"]


def upgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index("ix_task_stats")
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.drop_index("ix_application_process")


def downgrade() -> None:
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.create_index("ix_application_process", ["process_id", "created_at"], unique=False)
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_task_stats", ["application_id"], unique=False, postgresql_include=INCLUDED
        )
