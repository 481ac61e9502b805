"""self-registration middle table

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 09:00:00.000000

`selfreg_registration` is the seed's "enterprise WeChat middle table": one row per person who
registered through the self-registration page (`selfreg/`), with what the hall matched and
what WeCom answered to the push.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hall.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=20)


def upgrade() -> None:
    op.create_table(
        "selfreg_registration",
        sa.Column("id", _id(), nullable=False),
        sa.Column("userid", sa.String(length=64), nullable=False),
        sa.Column("person_id", _id(), nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", _enum("selfreg_kind", "staff", "student", "offcampus"), nullable=False),
        sa.Column("department_code", sa.String(length=32), nullable=True),
        sa.Column("department_name", sa.String(length=64), nullable=True),
        sa.Column("source", _enum("selfreg_source", "qr", "wecom"), nullable=False),
        sa.Column(
            "status",
            _enum("selfreg_status", "pending", "joined", "rejected", "failed"),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("errcode", sa.Integer(), nullable=True),
        sa.Column("errmsg", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("registrations", sa.Integer(), nullable=False),
        sa.Column("outbox_id", _id(), nullable=True),
        sa.Column("created_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("joined_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_selfreg_registration_person_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
            name=op.f("fk_selfreg_registration_outbox_id_outbox"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_selfreg_registration")),
        sa.UniqueConstraint("userid", name=op.f("uq_selfreg_registration_userid")),
    )
    with op.batch_alter_table("selfreg_registration", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_selfreg_registration_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index("ix_selfreg_registration_status", ["status", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("selfreg_registration", schema=None) as batch_op:
        batch_op.drop_index("ix_selfreg_registration_status")
        batch_op.drop_index(batch_op.f("ix_selfreg_registration_person_id"))
    op.drop_table("selfreg_registration")
