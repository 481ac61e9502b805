"""application.status: revoked (已撤销)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 20:20:00.000000

An approved application the applicant took back within the process's window (撤销) is
`revoked`, not `withdrawn` (which is taken back before anyone acted): lists, filters and
the WeCom 进度 reply can then tell them apart. Only the CHECK constraint of the column
changes; no row does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OLD = ("draft", "pending", "returned", "approved", "rejected", "withdrawn")
NEW = (*OLD, "revoked")


def _status(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name="app_status", native_enum=False, create_constraint=True, length=20)


def upgrade() -> None:
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.alter_column(
            "status", existing_type=_status(OLD), type_=_status(NEW), existing_nullable=False
        )


def downgrade() -> None:
    # A revoked application was withdrawn after its approval: the older schema's word.
    op.execute("UPDATE application SET status = 'withdrawn' WHERE status = 'revoked'")
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.alter_column(
            "status", existing_type=_status(NEW), type_=_status(OLD), existing_nullable=False
        )
