"""The SMS delivery log: one row per message the hall asked a gateway to send.

Sign-in codes are logged masked: the code is never written to the database (Redis holds
it until its SMS is sent). A result's row is written in the delivery job's transaction.
Vendors' receipts (`sms.receipts`) later mark rows delivered or failed by `provider_id`.
sms/ otherwise needs only config/; the table sits on the hall's metadata so one migration
history builds every table.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, selectinload

from hall.clock import utcnow
from hall.models import Base, BigId, JsonDoc, Outbox, UTCDateTime, value_enum

MASK = "******"


class SmsStatus(enum.StrEnum):
    QUEUED = "queued"  # logged, its job not yet run
    SENT = "sent"  # the gateway accepted it
    DELIVERED = "delivered"  # the vendor's receipt says the phone got it
    FAILED = "failed"  # the gateway refused it, or the receipt says it never arrived


class SmsPurpose(enum.StrEnum):
    LOGIN = "login"  # an off-campus sign-in code
    RESULT = "result"  # an application's result, from the outbox
    INVITE = "invite"  # a school member's invitation to apply (入校预约)


class SmsMessage(Base):
    __tablename__ = "sms_message"
    __table_args__ = (Index("ix_sms_message_phone", "phone", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[SmsPurpose] = mapped_column(value_enum(SmsPurpose, "sms_purpose"))
    template: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    out_id: Mapped[str] = mapped_column(String(64), unique=True)
    provider: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[SmsStatus] = mapped_column(value_enum(SmsStatus, "sms_status"))
    error: Mapped[str | None] = mapped_column(Text)
    outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(timezone=True))
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime(timezone=True))

    outbox: Mapped[Outbox | None] = relationship()


def recent(
    session: Session,
    *,
    phone: str = "",
    status: SmsStatus | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[SmsMessage]:
    """The newest logged messages first, optionally for one number or in one status."""
    query = (
        select(SmsMessage)
        .options(selectinload(SmsMessage.outbox))
        .order_by(SmsMessage.id.desc())
        .limit(limit)
    )
    if phone:
        query = query.where(SmsMessage.phone == phone)
    if status is not None:
        query = query.where(SmsMessage.status == status)
    if before_id is not None:
        query = query.where(SmsMessage.id < before_id)
    return list(session.scalars(query))
