"""Invitations to apply, and their SMS

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 21:50:00.000000

`invitation` (hall/models.py): a school member invites someone off campus to apply
(入校预约) by an SMS link; the invitee's submission uses it up. `sms_message.purpose`
gains `invite` for those texts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hall.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

OLD_PURPOSES = ("login", "result")
NEW_PURPOSES = (*OLD_PURPOSES, "invite")


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _purpose(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(
        *values, name="sms_purpose", native_enum=False, create_constraint=True, length=20
    )


def upgrade() -> None:
    op.create_table(
        "invitation",
        sa.Column("id", _id(), nullable=False),
        sa.Column("process_id", _id(), nullable=False),
        sa.Column("host_id", _id(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("values", hall.models.JsonDoc, nullable=False),
        sa.Column("created_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("application_id", _id(), nullable=True),
        sa.Column("outbox_id", _id(), nullable=True),
        sa.ForeignKeyConstraint(
            ["process_id"],
            ["process_definition.id"],
            name=op.f("fk_invitation_process_id_process_definition"),
        ),
        sa.ForeignKeyConstraint(
            ["host_id"], ["person.id"], name=op.f("fk_invitation_host_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
            name=op.f("fk_invitation_application_id_application"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
            name=op.f("fk_invitation_outbox_id_outbox"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitation")),
        sa.UniqueConstraint("application_id", name=op.f("uq_invitation_application_id")),
    )
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.create_index("ix_invitation_host", ["host_id", "id"], unique=False)
    with op.batch_alter_table("sms_message", schema=None) as batch_op:
        batch_op.alter_column(
            "purpose",
            existing_type=_purpose(OLD_PURPOSES),
            type_=_purpose(NEW_PURPOSES),
            existing_nullable=False,
        )


def downgrade() -> None:
    op.execute("DELETE FROM sms_message WHERE purpose = 'invite'")
    with op.batch_alter_table("sms_message", schema=None) as batch_op:
        batch_op.alter_column(
            "purpose",
            existing_type=_purpose(NEW_PURPOSES),
            type_=_purpose(OLD_PURPOSES),
            existing_nullable=False,
        )
    op.drop_table("invitation")
