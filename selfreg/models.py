"""The self-registration middle table (the seed's "enterprise WeChat middle table").

One row per CAS identity (`userid` is unique): registering again updates the row instead of
adding one, so the table always says where each person stands. The status changes only
through `Registration.fire` and the transitions declared here.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hall.clock import utcnow
from hall.models import Base, BigId, PersonKind, value_enum


class RegStatus(enum.StrEnum):
    PENDING = "pending"  # matched; the push to WeCom is queued (outbox) or being retried
    JOINED = "joined"  # the member is in WeCom and admitted (user/authsucc)
    REJECTED = "rejected"  # did not match the school's data: nothing was pushed
    FAILED = "failed"  # WeCom refused the push, or stayed unreachable through every retry


class RegSource(enum.StrEnum):
    QR = "qr"  # the self-registration QR code (or link) opened the page
    WECOM = "wecom"  # WeCom's member verification redirected a joining member with a code


class IllegalRegistrationTransition(RuntimeError):
    """A transition was fired from a status that does not allow it."""


S = RegStatus
TRANSITIONS: dict[str, tuple[frozenset[RegStatus], RegStatus]] = {
    "match": (frozenset({S.REJECTED}), S.PENDING),  # registered again, and now it matches
    "reject": (frozenset({S.REJECTED}), S.REJECTED),  # registered again, another mismatch
    "join": (frozenset({S.PENDING}), S.JOINED),
    "fail": (frozenset({S.PENDING}), S.FAILED),
    "retry": (frozenset({S.FAILED}), S.PENDING),  # registered again, or the info center
}


class Registration(Base):
    """A person's self-registration: who CAS said they are, what the hall matched, and
    what WeCom answered to the push."""

    __tablename__ = "selfreg_registration"
    __table_args__ = (Index("ix_selfreg_registration_status", "status", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    userid: Mapped[str] = mapped_column(String(64), unique=True)  # CAS's principal
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))  # the school's name, else CAS's
    kind: Mapped[PersonKind] = mapped_column(value_enum(PersonKind, "selfreg_kind"))  # as chosen
    department_code: Mapped[str | None] = mapped_column(String(32))
    department_name: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[RegSource] = mapped_column(value_enum(RegSource, "selfreg_source"))
    _status: Mapped[RegStatus] = mapped_column("status", value_enum(RegStatus, "selfreg_status"))
    reason: Mapped[str | None] = mapped_column(Text)  # why it was rejected (zh_CN)
    errcode: Mapped[int | None] = mapped_column(Integer)  # WeCom's, on a failed push
    errmsg: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # pushes tried
    registrations: Mapped[int] = mapped_column(Integer, default=1)  # times registered
    # The outbox row of the latest push request: its delivery tells a retrying push's error.
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    joined_at: Mapped[datetime | None]

    def __init__(self, *, status: RegStatus, **fields: object) -> None:
        super().__init__(_status=status, **fields)

    @property
    def status(self) -> RegStatus:
        return self._status

    def fire(self, event: str) -> RegStatus:
        """Apply the declared transition `event`, or raise IllegalRegistrationTransition."""
        declared = TRANSITIONS.get(event)
        if declared is None:
            raise IllegalRegistrationTransition(f"no transition named {event!r}")
        sources, target = declared
        if self._status not in sources:
            raise IllegalRegistrationTransition(f"cannot {event} from {self._status.value}")
        self._status = target
        return target
