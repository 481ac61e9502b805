"""My applications (with status filters), the application page (form, attachments, flow
diagram, history, comments; withdraw, urge, comment; the reviewer's decision panel), and
the printable approval record with its verification QR code."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

import segno
from flask import Response, flash, redirect, request, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response as BaseResponse

from hall import queries
from hall.definitions import DECISION_FILES
from hall.engine import returnable_indexes
from hall.errors import HallError, NotFound
from hall.services import revoke_deadline
from hall.states import AppStatus
from web.i18n import gettext
from web.views import passes, present, reads, records
from web.views.common import (
    clock,
    db,
    flash_error,
    hall,
    me,
    not_found_page,
    page,
    page_blueprint,
    person_id,
)
from web.views.formdata import person_userids_in

bp = page_blueprint("applications", __name__)

STATUS_FILTERS = (
    "draft",
    "pending",
    "returned",
    "approved",
    "rejected",
    "withdrawn",
    "revoked",
)
PER_PAGE = 20


@bp.get("/applications")
def mine() -> Response:
    status_arg = request.args.get("status", "")
    status = AppStatus(status_arg) if status_arg in STATUS_FILTERS else None
    page_no = min(max(request.args.get("page", 1, type=int) or 1, 1), queries.MAX_PAGE)
    with db().reader() as s:
        found = queries.my_applications(
            s, person_id(), page=page_no, per_page=PER_PAGE, status=status
        )

    def url_args(n: int) -> str:
        return urlencode({"status": status_arg, "page": n} if status else {"page": n})

    return page(
        "hall/applications.html",
        found=found,
        status=status.value if status else "",
        filters=STATUS_FILTERS,
        url_args=url_args,
    )


def detail_context(application_id: int) -> dict[str, Any]:
    with db().reader() as s:
        detail = queries.application_detail(s, person_id(), application_id)
        spec = reads.version_spec_of(s, application_id)
        people = queries.person_labels(
            s, person_userids_in(spec.form, detail.form), with_userid=me().kind != "offcampus"
        )
        my_task = next((t for t in detail.tasks if t.id == detail.my_task_id), None)
        # Hall.cc's rule; off-campus applicants do not copy staff in.
        may_cc = (
            detail.status != AppStatus.DRAFT
            and me().kind != "offcampus"
            and (detail.is_applicant or reads.held_a_task(s, person_id(), application_id))
        )
    step = spec.flow[my_task.step.index] if my_task is not None else None
    timeline = present.timeline(detail)
    revoke_until = None
    if detail.is_applicant and detail.status == AppStatus.APPROVED:
        until = revoke_deadline(spec, detail.finished_at)
        revoke_until = until if until is not None and clock().now() <= until else None
    # 通行码: the applicant's own link to the pass (the guard gets it by scanning the page).
    option = spec.options.gate_pass
    gate_pass = None
    if option is not None and detail.is_applicant and detail.status == AppStatus.APPROVED:
        gate_pass = {"label": option.label, "url": passes.pass_path(detail.id, detail.serial)}
    return {
        "detail": detail,
        "spec": spec,
        "people": people,  # userid → name of the form's person fields
        "attachments": detail.attachments,
        "flow": present.flow_view(detail),
        "timeline": timeline,
        "my_task": my_task,
        "my_step": step,
        "decision_files": DECISION_FILES.model_copy(update={"label": gettext("附件")}),
        "decided_with": present.decision_files(timeline, detail.attachments),  # by entry id
        "earlier_steps": _returnable(detail, my_task),
        "idempotency_key": uuid.uuid4().hex,
        "may_cc": may_cc,
        "revoke_until": revoke_until,  # 撤销 is offered until then
        "gate_pass": gate_pass,  # {label, url} for the applicant of an approved one
        "now": clock().now(),
        # The menu entry the page belongs to for this viewer: a reviewer opening someone's
        # application from a card is in 待办, not in 我的申请.
        "nav_here": _nav_entry(detail.is_applicant, my_task is not None),
    }


def _returnable(detail: queries.ApplicationDetail, task: queries.TaskOut | None) -> list[Any]:
    """The steps the 退回 menu offers: those the engine accepts (`returnable_indexes`)."""
    if task is None:
        return []
    kinds = [s.kind for s in detail.flow]
    tasks = ((t.step.index, t.status) for t in detail.tasks)
    return [detail.flow[i] for i in returnable_indexes(kinds, tasks, task.step.index)]


def _nav_entry(is_applicant: bool, has_task: bool) -> str:
    if is_applicant:
        return "applications.detail"
    return "tasks.todo" if has_task else "-"


@bp.get("/applications/<int:application_id>")
def detail(application_id: int) -> Response:
    try:
        context = detail_context(application_id)
    except NotFound:
        return not_found_page()
    # ?act=return (the 退回 button of a WeCom card): the 退回 form opens, its reason focused.
    act = "return" if request.args.get("act") == "return" else ""
    step = context["my_step"]
    # A handling step's result fields start from their defaults (办理须知 …), as forms do.
    defaults = (
        {f.key: f.default for f in step.result_fields if f.default is not None} if step else {}
    )
    return page(
        "hall/application.html",
        values=defaults,
        errors={},
        files={},
        comment="",
        act=act,
        return_to="",
        **context,
    )


def _command(application_id: int, run: Any) -> BaseResponse:
    try:
        result = run()
    except NotFound:
        return not_found_page()
    except HallError as exc:
        flash_error(exc)
    else:
        flash(gettext(result.message), "success")
    return redirect(url_for("applications.detail", application_id=application_id))


@bp.post("/applications/<int:application_id>/withdraw")
def withdraw(application_id: int) -> BaseResponse:
    comment = request.form.get("comment", "").strip() or None
    return _command(
        application_id, lambda: hall().withdraw(person_id(), application_id, comment=comment)
    )


@bp.post("/applications/<int:application_id>/revoke")
def revoke(application_id: int) -> BaseResponse:
    comment = request.form.get("comment", "")
    return _command(
        application_id, lambda: hall().revoke(person_id(), application_id, comment=comment)
    )


@bp.post("/applications/<int:application_id>/urge")
def urge(application_id: int) -> BaseResponse:
    return _command(application_id, lambda: hall().urge(person_id(), application_id))


@bp.post("/applications/<int:application_id>/comment")
def comment(application_id: int) -> BaseResponse:
    body = request.form.get("body", "")
    return _command(application_id, lambda: hall().comment(person_id(), application_id, body))


@bp.post("/applications/<int:application_id>/cc")
def cc(application_id: int) -> BaseResponse:
    userid = request.form.get("userid", "").strip()
    if not userid:
        flash(gettext("请选择人员"), "error")
        return redirect(url_for("applications.detail", application_id=application_id))
    comment = request.form.get("comment", "").strip() or None
    return _command(
        application_id, lambda: hall().cc(person_id(), application_id, [userid], comment=comment)
    )


@bp.get("/applications/<int:application_id>/record")
def record(application_id: int) -> Response:
    """The printable approval record; its QR code lets anyone check a copy's status."""
    try:
        context = detail_context(application_id)
    except NotFound:
        return not_found_page()
    detail_: queries.ApplicationDetail = context["detail"]
    url = records.verify_url(detail_)
    svg = segno.make(url, error="m").svg_inline(scale=3, dark="#111", border=2)
    return page("hall/record.html", verify_url=url, qr=Markup(svg), **context)  # noqa: S704 - our own SVG
