"""Statistics pages for process managers: every chart over a date range, each with its
records as a table and CSV / XLSX export. Also records a visit for each process page view
(the apply page `apply.form`), one insert after the page was served.

The records come from `hall.stats` in the school's language; the page and the exports show
the charts' titles and column names in the viewer's (the rows are the same records)."""

from __future__ import annotations

import dataclasses

from flask import Response, g, request, session
from werkzeug.wrappers import Response as BaseResponse

from hall import stats
from hall.errors import Invalid, NotFound
from hall.processes import get_process
from web.i18n import gettext
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
# Cells that are the service's placeholders rather than records' own text.
PLACEHOLDERS = frozenset({"（未记录）"})


def request_period() -> stats.Period:
    """?start and ?end as a period (the last 30 days when both are missing), or Invalid."""
    period = stats.parse_period(request.args.get("start"), request.args.get("end"), clock().now())
    # Days at the ends of the calendar (0001-01-01, 9999-12-31) parse, but the range's UTC
    # bounds overflow `datetime` when the queries use them: refuse such a range as a bad one
    # here rather than answer with a 500.
    try:
        _bounds = (period.start_at, period.end_at)
    except OverflowError:
        raise Invalid("日期超出范围", fields={"range": "日期超出范围"}) from None
    return period


def _localized(table: stats.Table) -> stats.Table:
    """The table with its title, column names and placeholders in the viewer's language."""
    return dataclasses.replace(
        table,
        title=gettext(table.title),
        columns=tuple(gettext(c) for c in table.columns),
        rows=[
            tuple(gettext(v) if isinstance(v, str) and v in PLACEHOLDERS else v for v in row)
            for row in table.rows
        ],
    )


@bp.get("/stats/")
def index() -> Response:
    now = clock().now()
    errors: dict[str, str] = {}
    try:
        period = request_period()
    except Invalid as exc:
        errors = {k: gettext(v) for k, v in invalid_fields(exc).items()}
        period = stats.default_period(now)
    try:
        with db().reader() as s:
            result = stats.report(s, person_id(), period, now)
    except NotFound:
        return not_found_page()
    tables = {key: _localized(table) for key, table in result.tables.items()}
    return page(
        "stats/index.html", report=result, tables=tables, charts=stats.CHARTS, errors=errors
    )


@bp.get("/stats/<chart>.<fmt>")
def export(chart: str, fmt: str) -> Response:
    if fmt not in EXPORTS or chart not in stats.CHARTS:
        return not_found_page()
    now = clock().now()
    try:
        with db().reader() as s:
            try:
                period = request_period()
            except Invalid as exc:
                # A bad date range is the viewer's mistake, said as such with a 400; but
                # whom the statistics are for comes first: an outsider gets the 404 page.
                stats.scope_of(s, person_id())
                problem = invalid_fields(exc).get("range", exc.message)  # as the page says it
                return page("hall/error.html", 400, message=gettext(problem))
            table = stats.chart_table(s, person_id(), chart, period, now)
    except NotFound:
        return not_found_page()
    mimetype, render = EXPORTS[fmt]
    name = f"{chart}_{period.start.isoformat()}_{period.end.isoformat()}.{fmt}"
    response = Response(render(_localized(table)), mimetype=mimetype)
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
