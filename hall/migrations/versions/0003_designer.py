"""designer drafts, process visits, statistics indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 02:30:00.000000

`process_draft` holds the definitions department administrators are editing;
`process_visit` records views of process pages for the visit statistics.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hall.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "process_draft",
        sa.Column("id", _id(), nullable=False),
        sa.Column("process_key", sa.String(length=64), nullable=False),
        sa.Column("department_id", _id(), nullable=False),
        sa.Column("base_version_id", _id(), nullable=True),
        sa.Column("data", _json(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by_id", _id(), nullable=True),
        sa.Column("updated_by_id", _id(), nullable=True),
        sa.Column("created_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_process_draft_department_id_department"),
        ),
        sa.ForeignKeyConstraint(
            ["base_version_id"],
            ["process_version.id"],
            name=op.f("fk_process_draft_base_version_id_process_version"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["person.id"], name=op.f("fk_process_draft_created_by_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["person.id"], name=op.f("fk_process_draft_updated_by_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_draft")),
        sa.UniqueConstraint("process_key", name=op.f("uq_process_draft_process_key")),
    )
    with op.batch_alter_table("process_draft", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_process_draft_department_id"), ["department_id"], unique=False
        )
    op.create_table(
        "process_visit",
        sa.Column("id", _id(), nullable=False),
        sa.Column("process_id", _id(), nullable=False),
        sa.Column("person_id", _id(), nullable=True),
        sa.Column("visited_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["process_id"],
            ["process_definition.id"],
            name=op.f("fk_process_visit_process_id_process_definition"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_process_visit_person_id_person"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_visit")),
    )
    with op.batch_alter_table("process_visit", schema=None) as batch_op:
        batch_op.create_index(
            "ix_process_visit_process", ["process_id", "visited_at"], unique=False
        )
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.create_index(
            "ix_application_stats",
            ["process_id", "created_at"],
            unique=False,
            postgresql_include=["status", "department_id"],
        )
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_task_stats",
            ["application_id"],
            unique=False,
            postgresql_include=[
                "step_index",
                "step_key",
                "status",
                "activated_at",
                "decided_at",
                "due_at",
            ],
        )
        batch_op.create_index(
            "ix_task_open_by_assignee",
            ["assignee_id"],
            unique=False,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_include=["application_id", "activated_at"],
        )


def downgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index("ix_task_open_by_assignee")
        batch_op.drop_index("ix_task_stats")
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.drop_index("ix_application_stats")
    op.drop_table("process_visit")
    op.drop_table("process_draft")
