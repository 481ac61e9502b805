"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29 01:25:58.412842
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hall.models
from hall.models import RoleCode

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "department",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("sort", sa.Integer(), nullable=False),
        sa.Column("campus", sa.String(length=32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "leader_in_charge_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("wecom_id", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["department.id"], name=op.f("fk_department_parent_id_department")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_department")),
        sa.UniqueConstraint("code", name=op.f("uq_department_code")),
        sa.UniqueConstraint("wecom_id", name=op.f("uq_department_wecom_id")),
    )
    with op.batch_alter_table("department", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_department_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "role",
        sa.Column(
            "code",
            sa.Enum(
                "dept_head",
                "deputy_secretary",
                "dept_admin",
                "counsellor",
                "process_admin",
                "info_center",
                "school_leader",
                "staff",
                "student",
                name="role_code",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_role")),
    )
    op.create_table(
        "person",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("userid", sa.String(length=64), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "staff",
                "student",
                "offcampus",
                name="person_kind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("number", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("gender", sa.String(length=8), nullable=True),
        sa.Column("mobile", sa.String(length=20), nullable=True),
        sa.Column("email", sa.String(length=128), nullable=True),
        sa.Column("post", sa.String(length=64), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "inactive",
                name="person_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "counsellor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "profile",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["counsellor_id"], ["person.id"], name=op.f("fk_person_counsellor_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"], ["department.id"], name=op.f("fk_person_department_id_department")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
        sa.UniqueConstraint("userid", name=op.f("uq_person_userid")),
    )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_person_counsellor_id"), ["counsellor_id"], unique=False
        )
        batch_op.create_index("ix_person_department_id", ["department_id"], unique=False)
        batch_op.create_index("ix_person_kind_number", ["kind", "number"], unique=False)
        batch_op.create_index("ix_person_mobile", ["mobile"], unique=False)

    op.create_table(
        "process_definition",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column(
            "department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "current_version_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_process_definition_department_id_department"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_definition")),
        sa.UniqueConstraint("key", name=op.f("uq_process_definition_key")),
    )
    with op.batch_alter_table("process_definition", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_process_definition_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "api_token",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=True),
        sa.Column("created_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_api_token_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_person_id"), ["person_id"], unique=False)

    op.create_table(
        "delegation",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "delegator_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "delegate_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("created_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("start_date <= end_date", name=op.f("ck_delegation_dates_ordered")),
        sa.ForeignKeyConstraint(
            ["delegate_id"], ["person.id"], name=op.f("fk_delegation_delegate_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["delegator_id"], ["person.id"], name=op.f("fk_delegation_delegator_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delegation")),
    )
    with op.batch_alter_table("delegation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_delegation_lookup", ["delegator_id", "start_date", "end_date"], unique=False
        )

    op.create_table(
        "idempotency_record",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("actor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column(
            "response",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["person.id"], name=op.f("fk_idempotency_record_actor_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_record")),
        sa.UniqueConstraint("actor_id", "key", name="uq_idempotency_actor_key"),
    )
    op.create_table(
        "membership",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("primary", sa.Boolean(), nullable=False),
        sa.Column("post", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_membership_department_id_department"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_membership_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership")),
        sa.UniqueConstraint("person_id", "department_id", name=op.f("uq_membership_person_id")),
    )
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_membership_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "process_scope",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "process_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_process_scope_department_id_department"),
        ),
        sa.ForeignKeyConstraint(
            ["process_id"],
            ["process_definition.id"],
            name=op.f("fk_process_scope_process_id_process_definition"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_scope")),
        sa.UniqueConstraint("process_id", "department_id", name="uq_process_scope"),
    )
    with op.batch_alter_table("process_scope", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_process_scope_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "process_version",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "process_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column(
            "audience",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "spec",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("published_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "published_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["process_id"],
            ["process_definition.id"],
            name=op.f("fk_process_version_process_id_process_definition"),
        ),
        sa.ForeignKeyConstraint(
            ["published_by_id"],
            ["person.id"],
            name=op.f("fk_process_version_published_by_id_person"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_version")),
        sa.UniqueConstraint("process_id", "number", name="uq_process_version"),
    )
    op.create_table(
        "role_grant",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "role_code",
            sa.Enum(
                "dept_head",
                "deputy_secretary",
                "dept_admin",
                "counsellor",
                "process_admin",
                "info_center",
                "school_leader",
                "staff",
                "student",
                name="role_code",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "source",
            sa.Enum(
                "sync",
                "manual",
                name="grant_source",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_role_grant_department_id_department"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_role_grant_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["role_code"], ["role.code"], name=op.f("fk_role_grant_role_code_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_grant")),
        sa.UniqueConstraint("person_id", "role_code", "department_id", name="uq_role_grant"),
    )
    with op.batch_alter_table("role_grant", schema=None) as batch_op:
        batch_op.create_index("ix_role_grant_lookup", ["role_code", "department_id"], unique=False)

    op.create_table(
        "application",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("serial", sa.String(length=32), nullable=False),
        sa.Column(
            "process_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "version_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "applicant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "pending",
                "returned",
                "approved",
                "rejected",
                "withdrawn",
                name="app_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "form",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("current_step", sa.Integer(), nullable=True),
        sa.Column("resume_step", sa.Integer(), nullable=True),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("created_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_urged_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["applicant_id"], ["person.id"], name=op.f("fk_application_applicant_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_application_department_id_department"),
        ),
        sa.ForeignKeyConstraint(
            ["process_id"],
            ["process_definition.id"],
            name=op.f("fk_application_process_id_process_definition"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["process_version.id"],
            name=op.f("fk_application_version_id_process_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application")),
        sa.UniqueConstraint("serial", name=op.f("uq_application_serial")),
    )
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.create_index(
            "ix_application_applicant", ["applicant_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_application_process", ["process_id", "created_at"], unique=False)
        batch_op.create_index("ix_application_status", ["status", "created_at"], unique=False)

    op.create_table(
        "attachment",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "uploader_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("field_key", sa.String(length=64), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("created_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
            name=op.f("fk_attachment_application_id_application"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploader_id"], ["person.id"], name=op.f("fk_attachment_uploader_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_attachment_storage_key")),
    )
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_attachment_application_id"), ["application_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_attachment_uploader_id"), ["uploader_id"], unique=False
        )

    op.create_table(
        "task",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("step_key", sa.String(length=64), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column(
            "assignee_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "status",
            sa.Enum(
                "waiting",
                "pending",
                "approved",
                "rejected",
                "returned",
                "transferred",
                "cancelled",
                "skipped",
                "notified",
                name="task_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "origin",
            sa.Enum(
                "flow",
                "transfer",
                "add_before",
                "add_after",
                "fallback",
                name="task_origin",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "acted_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("activated_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("due_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("card_task_id", sa.String(length=128), nullable=True),
        sa.Column("card_response_code", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["acted_by_id"], ["person.id"], name=op.f("fk_task_acted_by_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
            name=op.f("fk_task_application_id_application"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["person.id"], name=op.f("fk_task_assignee_id_person")
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["task.id"], name=op.f("fk_task_parent_id_task")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task")),
        sa.UniqueConstraint("card_task_id", name=op.f("uq_task_card_task_id")),
    )
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index("ix_task_application", ["application_id", "step_index"], unique=False)
        batch_op.create_index(
            "ix_task_assignee_decided", ["assignee_id", "decided_at"], unique=False
        )
        batch_op.create_index(
            "ix_task_assignee_status", ["assignee_id", "status", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_task_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "action_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("actor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=True),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["person.id"], name=op.f("fk_action_log_actor_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
            name=op.f("fk_action_log_application_id_application"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], name=op.f("fk_action_log_task_id_task")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_log")),
    )
    with op.batch_alter_table("action_log", schema=None) as batch_op:
        batch_op.create_index("ix_action_log_application", ["application_id", "id"], unique=False)

    op.create_table(
        "comment",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "author_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
            name=op.f("fk_comment_application_id_application"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["person.id"], name=op.f("fk_comment_author_id_person")
        ),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], name=op.f("fk_comment_task_id_task")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comment")),
    )
    with op.batch_alter_table("comment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_comment_application_id"), ["application_id"], unique=False
        )

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column(
            "recipient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "relayed",
                name="outbox_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("created_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("relayed_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
            name=op.f("fk_outbox_application_id_application"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["person.id"], name=op.f("fk_outbox_recipient_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name=op.f("fk_outbox_task_id_task"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_pending", ["status", "id"], unique=False)

    op.create_table(
        "delivery",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "outbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "retry",
                "sent",
                "dead",
                "skipped",
                name="delivery_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
            name=op.f("fk_delivery_outbox_id_outbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery")),
        sa.UniqueConstraint("outbox_id", "channel", name="uq_delivery_outbox_channel"),
    )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_due", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "notification",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("outbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
            name=op.f("fk_notification_application_id_application"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name=op.f("fk_notification_outbox_id_outbox")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_notification_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint("outbox_id", name=op.f("uq_notification_outbox_id")),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index("ix_notification_person", ["person_id", "id"], unique=False)

    op.create_table(
        "follower",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("created_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
            name=op.f("fk_follower_application_id_application"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_follower_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follower")),
        sa.UniqueConstraint("application_id", "person_id", name="uq_follower"),
    )
    with op.batch_alter_table("follower", schema=None) as batch_op:
        batch_op.create_index("ix_follower_person", ["person_id"], unique=False)

    op.create_table(
        "serial_counter",
        sa.Column("day", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_serial_counter")),
    )

    # Foreign keys between tables that reference each other are added once both exist.
    with op.batch_alter_table("department") as batch_op:
        batch_op.create_foreign_key(
            "fk_department_leader_in_charge_id_person", "person", ["leader_in_charge_id"], ["id"]
        )
    with op.batch_alter_table("process_definition") as batch_op:
        batch_op.create_foreign_key(
            "fk_process_definition_current_version_id_process_version",
            "process_version",
            ["current_version_id"],
            ["id"],
        )
    _seed_roles()
    _action_log_append_only()


ROLE_NAMES = {
    RoleCode.DEPT_HEAD: "部门负责人",
    RoleCode.DEPUTY_SECRETARY: "学院副书记",
    RoleCode.DEPT_ADMIN: "部门管理员",
    RoleCode.COUNSELLOR: "辅导员",
    RoleCode.PROCESS_ADMIN: "事项管理员",
    RoleCode.INFO_CENTER: "信息中心管理员",
    RoleCode.SCHOOL_LEADER: "校领导",
    RoleCode.STAFF: "教职工",
    RoleCode.STUDENT: "学生",
}


def _seed_roles() -> None:
    role = sa.table("role", sa.column("code", sa.String), sa.column("name", sa.String))
    op.bulk_insert(role, [{"code": c.value, "name": n} for c, n in ROLE_NAMES.items()])


def _action_log_append_only() -> None:
    # The history is evidence: the database itself refuses to change or delete it.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION action_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'action_log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER action_log_no_update BEFORE UPDATE ON action_log "
            "FOR EACH ROW EXECUTE FUNCTION action_log_append_only()"
        )
    else:
        op.execute(
            "CREATE TRIGGER action_log_no_update BEFORE UPDATE ON action_log "
            "BEGIN SELECT RAISE(ABORT, 'action_log is append-only'); END"
        )


def downgrade() -> None:
    op.drop_table("serial_counter")
    op.drop_table("follower")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS action_log_no_update ON action_log")
        op.execute("DROP FUNCTION IF EXISTS action_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS action_log_no_update")
    with op.batch_alter_table("department") as batch_op:
        batch_op.drop_constraint("fk_department_leader_in_charge_id_person", type_="foreignkey")
    with op.batch_alter_table("process_definition") as batch_op:
        batch_op.drop_constraint(
            "fk_process_definition_current_version_id_process_version", type_="foreignkey"
        )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_person")

    op.drop_table("notification")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_due")

    op.drop_table("delivery")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")

    op.drop_table("outbox")
    with op.batch_alter_table("comment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_comment_application_id"))

    op.drop_table("comment")
    with op.batch_alter_table("action_log", schema=None) as batch_op:
        batch_op.drop_index("ix_action_log_application")

    op.drop_table("action_log")
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_parent_id"))
        batch_op.drop_index("ix_task_assignee_status")
        batch_op.drop_index("ix_task_assignee_decided")
        batch_op.drop_index("ix_task_application")

    op.drop_table("task")
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachment_uploader_id"))
        batch_op.drop_index(batch_op.f("ix_attachment_application_id"))

    op.drop_table("attachment")
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.drop_index("ix_application_status")
        batch_op.drop_index("ix_application_process")
        batch_op.drop_index("ix_application_applicant")

    op.drop_table("application")
    with op.batch_alter_table("role_grant", schema=None) as batch_op:
        batch_op.drop_index("ix_role_grant_lookup")

    op.drop_table("role_grant")
    op.drop_table("process_version")
    with op.batch_alter_table("process_scope", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_process_scope_department_id"))

    op.drop_table("process_scope")
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_membership_department_id"))

    op.drop_table("membership")
    op.drop_table("idempotency_record")
    with op.batch_alter_table("delegation", schema=None) as batch_op:
        batch_op.drop_index("ix_delegation_lookup")

    op.drop_table("delegation")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_person_id"))

    op.drop_table("api_token")
    with op.batch_alter_table("process_definition", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_process_definition_department_id"))

    op.drop_table("process_definition")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index("ix_person_mobile")
        batch_op.drop_index("ix_person_kind_number")
        batch_op.drop_index("ix_person_department_id")
        batch_op.drop_index(batch_op.f("ix_person_counsellor_id"))

    op.drop_table("person")
    op.drop_table("role")
    with op.batch_alter_table("department", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_department_parent_id"))

    op.drop_table("department")
