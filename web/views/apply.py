"""Applying: the form page of a process (new, a draft, or a returned application), save as
draft, submit and resubmit. A refused form comes back with every value the person typed
and each problem next to its field."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from flask import Response, flash, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from hall import queries
from hall.definitions import FormField
from hall.errors import Conflict, HallError, Invalid, NotFound
from hall.states import AppStatus
from web.i18n import gettext
from web.views import reads
from web.views.common import (
    db,
    flash_error,
    hall,
    invalid_fields,
    not_found_page,
    page,
    page_blueprint,
    person_id,
)
from web.views.formdata import attachment_ids_in, person_userids_in, read_form
from web.views.invitations import Opened, for_application, opened

bp = page_blueprint("apply", __name__)

EDITABLE = frozenset({AppStatus.DRAFT, AppStatus.RETURNED})


def _render(
    process: queries.ProcessDetail,
    fields: list[FormField],
    values: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    application: queries.ApplicationDetail | None = None,
    invitation: Opened | None = None,
    status: int = 200,
) -> Response:
    with db().reader() as s:
        files = reads.attachment_names(s, person_id(), attachment_ids_in(fields, values))
        people = queries.person_labels(s, person_userids_in(fields, values))
    returned = None
    if application is not None and application.status == AppStatus.RETURNED:
        returned = next((e for e in reversed(application.timeline) if e.action == "return"), None)
    return page(
        "hall/apply.html",
        status,
        process=process,
        fields=fields,
        values=values,
        errors=errors or {},
        files=files,
        people=people,
        application=application,
        returned=returned,
        invitation=invitation,
        idempotency_key=uuid.uuid4().hex,
    )


@bp.get("/processes/<key>")
def form(key: str) -> Response | BaseResponse:
    try:
        with db().reader() as s:
            process = queries.process_detail(s, person_id(), key)
        invitation = _invitation(key, request.args.get("invite"))
    except NotFound:
        return not_found_page()
    except Conflict as exc:  # used up, cancelled or expired
        flash_error(exc)
        return redirect(url_for("applications.mine"))
    if invitation is None and process.invite_only:
        return page("hall/invite_only.html", process=process)
    fields = _open_fields(process.form, invitation)
    return _render(process, fields, dict(process.prefill), invitation=invitation)


def _invitation(key: str, token: str | None) -> Opened | None:
    return opened(key, token) if token else None


def _open_fields(fields: list[FormField], invitation: Opened | None) -> list[FormField]:
    """The fields the applicant fills: with an invitation, not those the inviter filled."""
    if invitation is None:
        return fields
    return [f for f in fields if f.key not in invitation.keys]


@dataclass(frozen=True)
class Editable:
    """One of my drafts or returned applications, with the fields its form shows."""

    process: queries.ProcessDetail
    fields: list[FormField]
    detail: queries.ApplicationDetail
    invitation: Opened | None  # a returned invited one: the inviter's fields stay fixed


def _editable(application_id: int) -> Editable:
    with db().reader() as s:
        detail = queries.application_detail(s, person_id(), application_id)
        if not detail.is_applicant or detail.status not in EDITABLE:
            raise NotFound("申请不存在")
        process = queries.process_detail(s, person_id(), detail.process.key)
        if detail.status == AppStatus.DRAFT:
            return Editable(process, process.form, detail, None)
        spec = reads.version_spec_of(s, application_id)
        invitation = for_application(s, application_id, spec)
        return Editable(process, _open_fields(list(spec.form), invitation), detail, invitation)


@bp.get("/applications/<int:application_id>/edit")
def edit(application_id: int) -> Response:
    try:
        found = _editable(application_id)
    except NotFound:
        return not_found_page()
    return _render(
        found.process,
        found.fields,
        dict(found.detail.form),
        application=found.detail,
        invitation=found.invitation,
    )


@bp.post("/processes/<key>/apply")
def apply(key: str) -> Response | BaseResponse:
    """Save a draft or submit (a new application, or one of my drafts)."""
    draft_id = request.form.get("application_id", type=int)
    invite_token = request.form.get("invite") or None
    # An invitation is used up by submitting; it keeps no drafts.
    draft = request.form.get("action") == "draft" and invite_token is None
    try:
        with db().reader() as s:
            process = queries.process_detail(s, person_id(), key)
            application = queries.application_detail(s, person_id(), draft_id) if draft_id else None
        invitation = _invitation(key, invite_token)
    except NotFound:
        return not_found_page()
    except Conflict as exc:
        flash_error(exc)
        return redirect(url_for("applications.mine"))
    fields = _open_fields(process.form, invitation)
    values = read_form(fields, request.form)
    try:
        if draft:
            result = hall().save_draft(person_id(), key, values, application_id=draft_id)
        else:
            result = hall().submit(
                person_id(),
                key,
                values,
                application_id=draft_id,
                idempotency_key=request.form.get("idempotency_key") or None,
                invitation_id=invitation.id if invitation else None,
            )
    except Invalid as exc:
        return _render(
            process,
            fields,
            values,
            errors=invalid_fields(exc),
            application=application,
            invitation=invitation,
            status=422,
        )
    except NotFound:
        return not_found_page()
    except Conflict as exc:
        flash_error(exc)
        return redirect(url_for("applications.mine"))
    flash(gettext(result.message), "success")
    if draft:
        return redirect(url_for("apply.edit", application_id=result.application_id))
    return redirect(url_for("applications.detail", application_id=result.application_id))


@bp.post("/applications/<int:application_id>/resubmit")
def resubmit(application_id: int) -> Response | BaseResponse:
    try:
        found = _editable(application_id)
    except NotFound:
        return not_found_page()
    values = read_form(found.fields, request.form)
    try:
        result = hall().resubmit(
            person_id(),
            application_id,
            values,
            idempotency_key=request.form.get("idempotency_key") or None,
        )
    except Invalid as exc:
        return _render(
            found.process,
            found.fields,
            values,
            errors=invalid_fields(exc),
            application=found.detail,
            invitation=found.invitation,
            status=422,
        )
    except NotFound:
        return not_found_page()
    except HallError as exc:
        flash_error(exc)
        return redirect(url_for("applications.detail", application_id=application_id))
    flash(gettext(result.message), "success")
    return redirect(url_for("applications.detail", application_id=result.application_id))
