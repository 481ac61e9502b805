"""System pages for the information center: nightly sync reports with their rejected rows,
failed outbox deliveries with a retry button, and who administers which department.
Everyone else gets the 404 page. (The self-registration middle table has no page: the
`selfreg/` package does not exist yet.)"""

from __future__ import annotations

from flask import Response, flash, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from hall.deliveries import failed_deliveries, retry_delivery
from hall.designer import Designer, is_info_center
from hall.errors import HallError, NotFound
from sync.report import STATUS_LABELS, STEPS
from sync.services import get_run, list_runs
from web.i18n import gettext
from web.views.common import clock, db, not_found_page, page, page_blueprint, person_id

bp = page_blueprint("admin", __name__)


@bp.before_request
def _info_center_only() -> Response | None:
    with db().reader() as s:
        if not is_info_center(s, person_id()):
            return not_found_page()
    return None


@bp.get("/admin/")
def index() -> BaseResponse:
    return redirect(url_for("admin.sync_runs"))


@bp.get("/admin/sync")
def sync_runs() -> Response:
    with db().reader() as s:
        runs = list_runs(s, limit=30)
    return page("admin/sync.html", runs=runs, steps=STEPS, labels=STATUS_LABELS)


@bp.get("/admin/sync/<int:run_id>")
def sync_run(run_id: int) -> Response:
    with db().reader() as s:
        run = get_run(s, run_id)
    if run is None:
        return not_found_page()
    return page("admin/sync_run.html", run=run, steps=STEPS, labels=STATUS_LABELS)


@bp.get("/admin/deliveries")
def deliveries() -> Response:
    before = request.args.get("before", "")
    rows = failed_deliveries(db(), limit=100, before_id=int(before) if before.isdigit() else None)
    return page("admin/deliveries.html", rows=rows)


@bp.post("/admin/deliveries/<int:delivery_id>/retry")
def retry(delivery_id: int) -> BaseResponse:
    try:
        retry_delivery(db(), delivery_id, clock=clock())
    except NotFound:
        return not_found_page()
    except HallError as exc:
        flash(gettext(exc.message), "error")
    else:
        flash(gettext("已重新排队投递"), "success")
    return redirect(url_for("admin.deliveries"))


@bp.get("/admin/admins")
def admins() -> Response:
    designer = Designer(db(), clock())
    return page("admin/admins.html", grants=designer.admins(person_id()), form={}, errors={})


@bp.post("/admin/admins")
def grant() -> BaseResponse:
    designer = Designer(db(), clock())
    form = {k: request.form.get(k, "").strip() for k in ("userid", "department")}
    try:
        designer.grant_admin(person_id(), form["userid"], form["department"])
    except HallError as exc:
        # The message above the form, each field's problem next to it (once, not also
        # in the message), both in the viewer's language.
        flash(gettext(exc.message), "error")
        fields = exc.detail.get("fields")
        errors = (
            {str(k): gettext(str(v)) for k, v in fields.items()} if isinstance(fields, dict) else {}
        )
        return page(
            "admin/admins.html",
            422,
            grants=designer.admins(person_id()),
            form=form,
            errors=errors,
        )
    flash(gettext("已授权"), "success")
    return redirect(url_for("admin.admins"))


@bp.post("/admin/admins/<int:grant_id>/revoke")
def revoke(grant_id: int) -> BaseResponse:
    try:
        Designer(db(), clock()).revoke_admin(person_id(), grant_id)
    except NotFound:
        return not_found_page()
    flash(gettext("已撤销授权"), "success")
    return redirect(url_for("admin.admins"))
