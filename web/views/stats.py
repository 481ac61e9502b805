"""Statistics pages for process managers: every chart over a date range, each with its
records as a table and CSV / XLSX export. Also records a visit for each process page view
(the apply page `apply.form`), one insert after the page was served."""

from __future__ import annotations

from flask import Response, g, request, session
from werkzeug.wrappers import Response as BaseResponse

from hall import stats
from hall.errors import Invalid, NotFound
from hall.processes import get_process
from web.views.common import (
    clock,
    db,
    invalid_fields,
    not_found_page,
    page,
    page_blueprint,
    person_id,
)

bp = page_blueprint("stats", __name__)

VISITED_ENDPOINTS = frozenset({"apply.form"})
EXPORTS = {
    "csv": ("text/csv; charset=utf-8", stats.to_csv),
    "xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        stats.to_xlsx,
    ),
}


def _period() -> stats.Period:
    return stats.parse_period(request.args.get("start"), request.args.get("end"), clock().now())


@bp.get("/stats/")
def index() -> Response:
    now = clock().now()
    errors: dict[str, str] = {}
    try:
        period = _period()
    except Invalid as exc:
        errors = invalid_fields(exc)
        period = stats.default_period(now)
    try:
        with db().reader() as s:
            result = stats.report(s, person_id(), period, now)
    except NotFound:
        return not_found_page()
    return page("stats/index.html", report=result, charts=stats.CHARTS, errors=errors)


@bp.get("/stats/<chart>.<fmt>")
def export(chart: str, fmt: str) -> Response:
    if fmt not in EXPORTS:
        return not_found_page()
    now = clock().now()
    try:
        period = _period()
        with db().reader() as s:
            table = stats.chart_table(s, person_id(), chart, period, now)
    except (NotFound, Invalid):
        return not_found_page()
    mimetype, render = EXPORTS[fmt]
    name = f"{chart}_{period.start.isoformat()}_{period.end.isoformat()}.{fmt}"
    response = Response(render(table), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.after_app_request
def _record_visit(response: BaseResponse) -> BaseResponse:
    """A served process page counts as one visit (by the signed-in person)."""
    if request.endpoint not in VISITED_ENDPOINTS or response.status_code != 200:
        return response
    key = (request.view_args or {}).get("key")
    viewer = g.get("person_id") or session.get("person_id")
    if not isinstance(key, str):
        return response
    with db().unit_of_work() as s:
        try:
            process = get_process(s, key)
        except NotFound:
            return response
        stats.record_visit(
            s, process.id, viewer if isinstance(viewer, int) else None, clock().now()
        )
    return response
