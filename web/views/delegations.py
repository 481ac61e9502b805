"""Delegation to a colleague for a date range while away, and revoking it."""

from __future__ import annotations

from datetime import date

from flask import Response, flash, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from hall import queries
from hall.delegations import Delegations
from hall.engine import local_date
from hall.errors import HallError, Invalid, NotFound
from web.i18n import gettext
from web.views import reads
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

bp = page_blueprint("delegations", __name__)
MOVED = "已设置委托，{n} 件待办已转给{name}"  # Delegations.create, translated here


def _render(errors: dict[str, str] | None = None, values: dict[str, str] | None = None) -> Response:
    today = local_date(clock().now())
    with db().reader() as s:
        rows = reads.delegations(s, person_id(), today)
        values = values or {}
        people = queries.person_labels(s, [values.get("delegate", "")])
    return page(
        "hall/delegations.html",
        422 if errors else 200,
        rows=rows,
        errors=errors or {},
        values=values,
        people=people,
        today=today,
    )


@bp.get("/delegations")
def index() -> Response:
    return _render()


def _date(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        return None


@bp.post("/delegations")
def create() -> Response | BaseResponse:
    values = {k: request.form.get(k, "").strip() for k in ("delegate", "start_date", "end_date")}
    start, end = _date(values["start_date"]), _date(values["end_date"])
    errors = {}
    if start is None:
        errors["start_date"] = gettext("日期格式应为 YYYY-MM-DD")
    if end is None:
        errors["end_date"] = gettext("日期格式应为 YYYY-MM-DD")
    if not values["delegate"]:
        errors["delegate"] = gettext("请选择人员")
    if errors or start is None or end is None:
        return _render(errors, values)
    try:
        result = Delegations(db(), clock()).create(person_id(), values["delegate"], start, end)
    except Invalid as exc:
        return _render(invalid_fields(exc), values)
    except HallError as exc:
        flash_error(exc)
        return _render(None, values)
    if result.moved:
        message = gettext(MOVED, n=result.moved, name=result.delegate_name)
    else:
        message = gettext(result.message)
    flash(message, "success")
    return redirect(url_for("delegations.index"))


@bp.post("/delegations/<int:delegation_id>/revoke")
def revoke(delegation_id: int) -> Response | BaseResponse:
    try:
        result = Delegations(db(), clock()).revoke(person_id(), delegation_id)
    except NotFound:
        return not_found_page()
    flash(gettext(result.message), "success")
    return redirect(url_for("delegations.index"))
