"""SMS delivery log

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 19:30:00.000000

`sms_message` (sms/models.py): one row per SMS the hall asked a gateway to send, off-campus
sign-in codes (masked) and application results, updated by the vendors' receipts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hall.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=20)


def upgrade() -> None:
    op.create_table(
        "sms_message",
        sa.Column("id", _id(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("purpose", _enum("sms_purpose", "login", "result"), nullable=False),
        sa.Column("template", sa.String(length=32), nullable=False),
        sa.Column("params", hall.models.JsonDoc, nullable=False),
        sa.Column("out_id", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=True),
        sa.Column(
            "status", _enum("sms_status", "queued", "sent", "delivered", "failed"), nullable=False
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("outbox_id", _id(), nullable=True),
        sa.Column("created_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reported_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
            name=op.f("fk_sms_message_outbox_id_outbox"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_message")),
        sa.UniqueConstraint("out_id", name=op.f("uq_sms_message_out_id")),
    )
    with op.batch_alter_table("sms_message", schema=None) as batch_op:
        batch_op.create_index("ix_sms_message_phone", ["phone", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_sms_message_provider_id"), ["provider_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sms_message_outbox_id"), ["outbox_id"], unique=False)


def downgrade() -> None:
    op.drop_table("sms_message")
