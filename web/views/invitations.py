"""Invitations (入校预约): staff invite someone off campus; the invitee applies from an SMS
link (hall/invitations.py has the rules).

- `GET /invitations`: the processes the viewer may invite to, and the invitations sent;
- `GET|POST /processes/<key>/invite`: the invitation form (the invitee's name and mobile,
  and the fields the process lets the inviter fill); `POST /invitations/<id>/cancel`;
- `GET /i/<token>` (public): where the SMS link lands. The invitee proves the number by
  SMS code and goes on to the process's form, with the inviter's fields fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import current_app, flash, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from hall import invitations
from hall.definitions import FormField, ProcessSpec
from hall.errors import HallError, Invalid, NotFound, RateLimited
from hall.forms import prefill
from hall.models import Invitation, Person
from hall.processes import version_spec
from hall.services import display_value
from sms.models import SmsMessage, SmsStatus
from web.i18n import gettext
from web.sms_channel import mask
from web.views.common import (
    clock,
    db,
    flash_error,
    invalid_fields,
    not_found_page,
    page,
    page_blueprint,
    person_id,
)
from web.views.formdata import read_form
from web.views.offcampus import mobile_number

bp = page_blueprint("invitations", __name__)
links = page_blueprint("invitation_links", __name__, public=True)

STATE_WORDS = {
    invitations.State.OPEN: "待填写",
    invitations.State.USED: "已提交",
    invitations.State.CANCELLED: "已取消",
    invitations.State.EXPIRED: "已过期",
    invitations.State.VOID: "已失效",
}


def _secret() -> str:
    return str(current_app.config["SECRET_KEY"])


def link_of(invitation_id: int) -> str:
    return f"/i/{invitations.token(_secret(), invitation_id)}"


@dataclass(frozen=True)
class Sent:
    id: int
    name: str
    phone: str  # masked
    process: str
    created_at: datetime
    expires_at: datetime
    state: str
    application_id: int | None
    sms: str  # its text: 待发送 / 已发送 / 已送达 / 发送失败
    link: str  # while open: to forward it another way (WeChat ...) when the text is slow


SMS_WORDS = {
    SmsStatus.QUEUED: "短信待发送",
    SmsStatus.SENT: "短信已发送",
    SmsStatus.DELIVERED: "短信已送达",
    SmsStatus.FAILED: "短信发送失败",
}


@bp.get("/invitations")
def index() -> ResponseReturnValue:
    now = clock().now()
    with db().reader() as s:
        actor = s.get(Person, person_id())
        assert actor is not None
        processes = invitations.invitable_processes(s, actor)
        sent = invitations.sent_by(s, actor.id)
        outboxes = [r.outbox_id for r in sent if r.outbox_id]
        query = select(SmsMessage.outbox_id, SmsMessage.status)
        texts: dict[int | None, SmsStatus] = dict(
            s.execute(query.where(SmsMessage.outbox_id.in_(outboxes))).all()
        )
        base = current_app.extensions["hall.settings"].base_url.rstrip("/")
        rows = []
        for row in sent:
            state = invitations.state(row, now)
            rows.append(
                Sent(
                    id=row.id,
                    name=row.name,
                    phone=mask(row.phone),
                    process=invitations.process_name(row),
                    created_at=row.created_at,
                    expires_at=row.expires_at,
                    state=state.value,
                    application_id=row.application_id,
                    sms=SMS_WORDS[texts.get(row.outbox_id, SmsStatus.QUEUED)],
                    link=base + link_of(row.id) if state == invitations.State.OPEN else "",
                )
            )
    if not processes and not rows:
        return not_found_page()
    return page("hall/invitations.html", processes=processes, rows=rows, state_words=STATE_WORDS)


def _target(key: str) -> tuple[invitations.Invitable, list[FormField]]:
    with db().reader() as s:
        actor = s.get(Person, person_id())
        assert actor is not None
        target = invitations.invitable(s, actor, key)
    return target, [target.spec.field(k) for k in target.invite.fields]


def _invite_form(
    target: invitations.Invitable,
    fields: list[FormField],
    values: dict[str, Any],
    *,
    name: str = "",
    phone: str = "",
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> BaseResponse:
    return page(
        "hall/invite.html",
        status,
        target=target,
        fields=fields,
        values=values,
        errors=errors or {},
        files={},
        people={},
        invitee_name=name,
        invitee_phone=phone,
    )


@bp.get("/processes/<key>/invite")
def new(key: str) -> ResponseReturnValue:
    try:
        target, fields = _target(key)
    except NotFound:
        return not_found_page()
    return _invite_form(target, fields, prefill(fields, {}, {}))


@bp.post("/processes/<key>/invite")
def create(key: str) -> ResponseReturnValue:
    try:
        target, fields = _target(key)
    except NotFound:
        return not_found_page()
    values = read_form(fields, request.form)
    name = invitations.clean_name(request.form.get("invitee_name"))[:64]
    typed_phone = (request.form.get("invitee_phone") or "")[:20]
    phone = mobile_number(typed_phone)
    try:
        with db().unit_of_work() as s:
            invitations.create(
                s, clock().now(), person_id(), key, name=name, phone=phone, form=values
            )
    except Invalid as exc:
        errors = invalid_fields(exc)
        return _invite_form(
            target, fields, values, name=name, phone=typed_phone, errors=errors, status=422
        )
    except RateLimited as exc:  # the daily limit
        flash_error(exc)
        return _invite_form(target, fields, values, name=name, phone=typed_phone, status=429)
    flash(gettext("已向 {phone} 发送邀请短信", phone=mask(phone)), "success")
    return redirect(url_for("invitations.index"))


@bp.post("/invitations/<int:invitation_id>/cancel")
def cancel(invitation_id: int) -> ResponseReturnValue:
    try:
        with db().unit_of_work() as s:
            invitations.cancel(s, clock().now(), person_id(), invitation_id)
    except NotFound:
        return not_found_page()
    except HallError as exc:
        flash_error(exc)
    else:
        flash(gettext("邀请已取消"), "success")
    return redirect(url_for("invitations.index"))


# ------------------------------------------------------------------ the invitee


@dataclass(frozen=True)
class Opened:
    """An invitation as its invitee's form shows it: what the inviter filled, fixed."""

    id: int
    host: str  # the inviter's name
    fixed: list[tuple[str, str]]  # (label, text)
    keys: frozenset[str]
    token: str = ""  # the link's, for a first submission (a resubmission needs none)


def shown(invitation: Invitation, spec: ProcessSpec, token: str = "") -> Opened:
    host_field = spec.options.invite.host_field if spec.options.invite else None
    fixed = [
        (
            field.label,
            invitation.host.name
            if field.key == host_field
            else display_value(field, invitation.values[field.key]),
        )
        for field in spec.form
        if field.key in invitation.values
    ]
    return Opened(invitation.id, invitation.host.name, fixed, frozenset(invitation.values), token)


def opened(key: str, token: str) -> Opened:
    """The open invitation `token` to `key` for the signed-in person; NotFound when the
    token is forged or names another process or number, Conflict when it is used up."""
    found = invitations.invitation_id(_secret(), token)
    if found is None:
        raise NotFound("邀请不存在")
    with db().reader() as s:
        me_ = s.get(Person, person_id())
        if me_ is None:
            raise NotFound("邀请不存在")
        invitation = invitations.open_for(s, clock().now(), me_, key, found)
        version = invitation.process.current_version
        assert version is not None
        return shown(invitation, version_spec(version), token)


def for_application(session: Session, application_id: int, spec: ProcessSpec) -> Opened | None:
    """What the inviter filled, for the invitee's returned application (fixed again)."""
    invitation = invitations.of_application(session, application_id)
    return shown(invitation, spec) if invitation is not None else None


@links.get("/i/<token>")
def landing(token: str) -> ResponseReturnValue:
    found = invitations.invitation_id(_secret(), token)
    if found is None:
        return page("hall/invitation.html", 404, invitation=None, state="", refused="")
    viewer_id = session.get("person_id")
    with db().reader() as s:
        invitation = s.get(Invitation, found)
        if invitation is None:
            return page("hall/invitation.html", 404, invitation=None, state="", refused="")
        viewer = s.get(Person, viewer_id) if isinstance(viewer_id, int) else None
        current = invitations.state(invitation, clock().now())
        mine = viewer is not None and invitations.belongs_to(invitation, viewer)
        context: dict[str, Any] = {
            "invitation": invitation,
            "host": invitation.host.name,
            "process": invitations.process_name(invitation),
            "phone": mask(invitation.phone),
            "state": current.value,
            "refused": invitations.REFUSED.get(current, ""),
            "signed_in": viewer is not None,
            "login": f"/login/sms?{urlencode({'next': request.path})}",
        }
        key = invitation.process.key
        application_id = invitation.application_id
    if current == invitations.State.USED and mine and application_id is not None:
        return redirect(url_for("applications.detail", application_id=application_id))
    if current != invitations.State.OPEN:
        return page("hall/invitation.html", 410, **context)
    if mine:
        return redirect(f"/processes/{key}?{urlencode({'invite': token})}")
    # Signed out, or signed in as someone else: the page says which number to prove (masked:
    # a forwarded link must not tell the number).
    return page("hall/invitation.html", **context)
