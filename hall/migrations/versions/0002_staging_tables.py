"""staging tables and sync reports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 02:00:00.000000

The data center's three staging tables (all text, no keys: bad rows are reported by the
sync, see sync/staging.py), one report row per sync run, and the WeCom push state.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hall.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STAGING = {
    "JZG_T_BM": ("BMDM", "BMMC", "SJBMDM", "BMJB", "PX", "SFYX"),
    "JZG_T_USER": ("GH", "XM", "XB", "BMDM", "SJH", "DZYX", "ZW", "RYZT"),
    "XS_JBXX": ("XH", "XM", "XB", "YXDM", "ZYMC", "BJMC", "NJ", "XSLB", "XJZT", "SJH", "FDYGH"),
}


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    for name, columns in STAGING.items():
        op.create_table(name, *(sa.Column(c, sa.Text(), nullable=True) for c in columns))
    op.create_table(
        "sync_run",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("started_at", hall.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "ok",
                "refused",
                "failed",
                name="sync_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("counts", _json(), nullable=False),
        sa.Column("rejected", _json(), nullable=False),
        sa.Column("rejected_total", sa.Integer(), nullable=False),
        sa.Column("warnings", _json(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("push", _json(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_run")),
    )
    op.create_table(
        "wecom_push_state",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "department",
                "person",
                name="push_object",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("object_id", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("pushed_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("errcode", sa.Integer(), nullable=True),
        sa.Column("errmsg", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failed_at", hall.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wecom_push_state")),
        sa.UniqueConstraint("kind", "object_id", name="uq_wecom_push_state"),
    )


def downgrade() -> None:
    op.drop_table("wecom_push_state")
    op.drop_table("sync_run")
    for name in reversed(STAGING):
        op.drop_table(name)
