"""The sync's own tables: one report row per run, and what WeCom holds of each object."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Enum, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hall.clock import utcnow
from hall.models import Base, BigId


class SyncStatus(enum.StrEnum):
    OK = "ok"  # committed
    REFUSED = "refused"  # the feed would deactivate too much: nothing was changed
    FAILED = "failed"  # a step failed: rolled back, nothing was changed


class SyncRun(Base):
    """The report of one sync run, kept for the information center's admin page."""

    __tablename__ = "sync_run"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[SyncStatus] = mapped_column(
        Enum(
            SyncStatus,
            name="sync_status",
            native_enum=False,
            values_callable=lambda e: [m.value for m in e],
            length=20,
            create_constraint=True,
            validate_strings=True,
        )
    )
    trigger: Mapped[str] = mapped_column(String(20))  # cli, cron, demo, ...
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    # step name → {"inserted", "updated", "deactivated", "unchanged", "rejected"}
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # [{"table", "key", "reason"}], at most REJECTED_KEPT entries; the total is separate.
    rejected: Mapped[list[Any]] = mapped_column(default=list)
    rejected_total: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    message: Mapped[str | None] = mapped_column(Text)  # why it was refused or failed
    duration: Mapped[float] = mapped_column(Float, default=0.0)  # seconds
    push: Mapped[dict[str, Any] | None] = mapped_column()  # the WeCom push that followed


class PushObject(enum.StrEnum):
    DEPARTMENT = "department"
    PERSON = "person"


class WeComPushState(Base):
    """What WeCom holds of one department or person, and the last error pushing it.

    `fingerprint` digests what WeCom was last told successfully; a push sends the objects
    whose current digest differs. A failed attempt keeps its digest in `failed_fingerprint`
    with the error; the same data is retried up to a limit, new data at once.
    """

    __tablename__ = "wecom_push_state"
    __table_args__ = (UniqueConstraint("kind", "object_id", name="uq_wecom_push_state"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[PushObject] = mapped_column(
        Enum(
            PushObject,
            name="push_object",
            native_enum=False,
            values_callable=lambda e: [m.value for m in e],
            length=20,
            create_constraint=True,
            validate_strings=True,
        )
    )
    object_id: Mapped[int] = mapped_column(BigInteger)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    pushed_at: Mapped[datetime | None]
    failed_fingerprint: Mapped[str | None] = mapped_column(String(64))
    errcode: Mapped[int | None] = mapped_column(Integer)
    errmsg: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # failures of the same data
    failed_at: Mapped[datetime | None]
