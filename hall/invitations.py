"""Invitations (入校预约): a staff member invites someone off campus to apply.

The inviter fills the fields the process names (`options.invite.fields`: the visit's time,
its reason) and is the host (`options.invite.host_field`); the hall texts the invitee a
link. The invitee proves the number by SMS code, completes the rest of the form and submits;
what the inviter filled cannot be changed. The submission uses the invitation up in its own
transaction (`take`, called by `Hall.submit`).

The link carries `token(id)`: the id and an HMAC of it under the hall's secret, so it is
short enough for an SMS and cannot be guessed; whether it still works is read from the row.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from hall.definitions import Invite, ProcessSpec
from hall.errors import Conflict, Invalid, NotFound, RateLimited
from hall.forms import MOBILE_RE, SessionReferences, validate_form
from hall.models import (
    Invitation,
    Person,
    PersonKind,
    PersonStatus,
    ProcessDefinition,
    ProcessVersion,
)
from hall.outbox import emit
from hall.passes import range_window
from hall.processes import get_process, version_spec

INVITE_KIND = "sms_invite"  # outbox kind: the SMS channel texts the invitee the link
PER_DAY = 30  # invitations one person may send in 24 hours (each is an SMS)
NAME_MAX = 32
_SALT = b"hall.invitation.v1:"


class State(enum.StrEnum):
    OPEN = "open"  # 待填写
    USED = "used"  # 已提交
    CANCELLED = "cancelled"  # 已取消
    EXPIRED = "expired"  # 已过期
    VOID = "void"  # 已失效: the host has left (their account is no longer active)


def state(invitation: Invitation, now: datetime) -> State:
    if invitation.application_id is not None:
        return State.USED
    if invitation.cancelled_at is not None:
        return State.CANCELLED
    if now >= invitation.expires_at:
        return State.EXPIRED
    if invitation.host.status != PersonStatus.ACTIVE:
        return State.VOID
    return State.OPEN


# ----------------------------------------------------------------------- tokens


def _mac(secret: str, invitation_id: int) -> str:
    digest = hmac.new(secret.encode(), _SALT + str(invitation_id).encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:15]).decode()  # 20 characters


def token(secret: str, invitation_id: int) -> str:
    return f"{invitation_id}.{_mac(secret, invitation_id)}"


def invitation_id(secret: str, raw: str) -> int | None:
    """The invitation a link's token names, or None for a forged or mangled one."""
    number, _, mac = raw[:64].partition(".")
    if not (number.isascii() and number.isdigit() and len(number) <= 18):
        return None
    found = int(number)
    if not hmac.compare_digest(mac.encode(), _mac(secret, found).encode()):
        return None
    return found


# ---------------------------------------------------------------------- queries


@dataclass(frozen=True, slots=True)
class Invitable:
    """A process its viewer may invite someone to."""

    id: int
    key: str
    name: str
    invite: Invite
    spec: ProcessSpec


def invitable(session: Session, actor: Person, process_key: str) -> Invitable:
    """The process `process_key` if `actor` may invite to it (an active staff member, a
    published process that takes invitations); NotFound otherwise."""
    if actor.kind != PersonKind.STAFF or actor.status != PersonStatus.ACTIVE:
        raise NotFound("事项不存在")
    try:
        process = get_process(session, process_key)
    except NotFound:
        raise NotFound("事项不存在") from None
    assert process.current_version is not None
    spec = version_spec(process.current_version)
    if not process.active or spec.options.invite is None:
        raise NotFound("事项不存在")
    return Invitable(process.id, process.key, spec.name, spec.options.invite, spec)


def invitable_processes(session: Session, actor: Person) -> list[tuple[str, str]]:
    """(key, name) of every process `actor` may invite to, by name."""
    if actor.kind != PersonKind.STAFF or actor.status != PersonStatus.ACTIVE:
        return []
    rows = session.execute(
        select(ProcessDefinition.key, ProcessVersion.name, ProcessVersion.spec)
        .join(ProcessVersion, ProcessVersion.id == ProcessDefinition.current_version_id)
        .where(ProcessDefinition.active.is_(True))
    )
    found = [(key, name) for key, name, spec in rows if (spec.get("options") or {}).get("invite")]
    return sorted(found, key=lambda row: row[1])


def sent_by(session: Session, host_id: int, *, limit: int = 50) -> list[Invitation]:
    """The newest invitations `host_id` sent."""
    return list(
        session.scalars(
            select(Invitation)
            .options(
                selectinload(Invitation.process).selectinload(ProcessDefinition.current_version)
            )
            .where(Invitation.host_id == host_id)
            .order_by(Invitation.id.desc())
            .limit(limit)
        )
    )


def process_name(invitation: Invitation) -> str:
    version = invitation.process.current_version
    return version.name if version is not None else invitation.process.key


# ---------------------------------------------------------------------- commands


def clean_name(raw: str | None) -> str:
    return " ".join(unicodedata.normalize("NFKC", raw or "").split())


def create(
    session: Session,
    now: datetime,
    actor_id: int,
    process_key: str,
    *,
    name: str,
    phone: str,
    form: dict[str, Any],
) -> Invitation:
    """Invite `name` at `phone` to apply for `process_key`, with the inviter's fields
    filled from `form`; the SMS goes out through the outbox. Invalid names each bad field."""
    actor = session.get(Person, actor_id)
    if actor is None:
        raise NotFound("用户不存在")
    target = invitable(session, actor, process_key)
    errors: dict[str, str] = {}
    name = clean_name(name)
    if not 2 <= len(name) <= NAME_MAX:
        errors["invitee_name"] = f"请填写 2–{NAME_MAX} 个字的姓名"
    if not MOBILE_RE.fullmatch(phone or ""):
        errors["invitee_phone"] = "请填写正确的手机号码"
    fields = [target.spec.field(key) for key in target.invite.fields]
    # Only the fields the process lets the inviter fill; the host is the inviter.
    data = {key: form[key] for key in target.invite.fields if key in form}
    check = validate_form(fields, data, SessionReferences(session, actor.id))
    errors.update(check.errors)
    # A visit's time bounds its invitation: one already over is no use to invite to, and
    # the link stops working when it ends.
    expires_at = now + timedelta(days=target.invite.valid_days)
    for field in fields:
        window = range_window(field, check.values.get(field.key))
        if window is not None and window.end <= now:
            errors[field.key] = "时间已过，请重新选择"
        elif window is not None:
            expires_at = min(expires_at, window.end)
    if errors:
        raise Invalid("表单填写有误", fields=errors)
    since = now - timedelta(days=1)
    sent = session.scalar(
        select(func.count(Invitation.id)).where(
            Invitation.host_id == actor.id, Invitation.created_at >= since
        )
    )
    if (sent or 0) >= PER_DAY:
        raise RateLimited(f"24 小时内最多发出 {PER_DAY} 份邀请，请稍后再试")
    invitation = Invitation(
        process_id=target.id,
        host_id=actor.id,
        name=name,
        phone=phone,
        values={**check.values, target.invite.host_field: actor.userid},
        created_at=now,
        expires_at=expires_at,
    )
    session.add(invitation)
    session.flush()
    outbox = emit(session, INVITE_KIND, recipient_id=None, invitation_id=invitation.id)
    session.flush()
    invitation.outbox_id = outbox.id
    return invitation


def cancel(session: Session, now: datetime, actor_id: int, invitation_id: int) -> Invitation:
    invitation = session.get(Invitation, invitation_id, with_for_update=True)
    if invitation is None or invitation.host_id != actor_id:
        raise NotFound("邀请不存在")
    if state(invitation, now) != State.OPEN:
        raise Conflict("该邀请已提交、已取消或已过期，不能取消")
    invitation.cancelled_at = now
    return invitation


REFUSED = {
    State.USED: "该邀请已提交过申请",
    State.CANCELLED: "邀请人已取消该邀请",
    State.EXPIRED: "该邀请已过期，请联系邀请人重新邀请",
    State.VOID: "邀请人已无法接待，请联系学校重新邀请",
}


def _usable(invitation: Invitation | None, actor: Person, now: datetime) -> Invitation:
    if invitation is None or not belongs_to(invitation, actor):
        raise NotFound("邀请不存在")
    current = state(invitation, now)
    if current != State.OPEN:
        raise Conflict(REFUSED[current])
    return invitation


def take(
    session: Session, now: datetime, actor: Person, process_id: int, invitation_id: int
) -> Invitation:
    """Lock an open invitation for `actor`'s submission to `process_id`; the caller links
    the application to it in the same transaction (two tabs: the second one fails)."""
    invitation = session.get(Invitation, invitation_id, with_for_update=True)
    if invitation is not None and invitation.process_id != process_id:
        invitation = None
    return _usable(invitation, actor, now)


def open_for(
    session: Session, now: datetime, actor: Person, process_key: str, invitation_id: int
) -> Invitation:
    """The open invitation `actor` may apply to `process_key` with (the form page's check;
    `take` makes it again, under a lock, when the form is submitted)."""
    invitation = session.get(Invitation, invitation_id)
    if invitation is not None and invitation.process.key != process_key:
        invitation = None
    return _usable(invitation, actor, now)


def of_application(session: Session, application_id: int) -> Invitation | None:
    """The invitation an application was submitted with, if any."""
    return session.scalar(select(Invitation).where(Invitation.application_id == application_id))


def overriding(invitation: Invitation | None, form: Any) -> Any:
    """The invitee's form with the inviter's fields put back: they are never the
    invitee's to change (the page hides them; a crafted post is overruled here)."""
    if invitation is None or not isinstance(form, Mapping):
        return form
    return {**form, **invitation.values}


def reopen(session: Session, application_id: int) -> None:
    """The invitee withdrew: the invitation may be used again while it lasts."""
    invitation = of_application(session, application_id)
    if invitation is not None:
        invitation.application_id = None


def belongs_to(invitation: Invitation, person: Person) -> bool:
    """Only the off-campus account of the invited number may use an invitation: the link
    may be forwarded, the number's SMS code may not."""
    return (
        person.kind == PersonKind.OFFCAMPUS
        and person.status == PersonStatus.ACTIVE
        and person.mobile == invitation.phone
    )
