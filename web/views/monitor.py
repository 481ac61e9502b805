"""办件监控: the pending to-dos of the processes an administrator looks after (their
department's, or all for the information center), longest waiting first, with 改派 to give
a stuck to-do to someone else; and 办件导出, their applications as CSV or XLSX
(`hall.exports`). Anyone without such a role gets the 404 page."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from flask import Response, flash, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from hall import exports, stats
from hall.access import Reach, reach_of
from hall.errors import HallError, Invalid, NotFound
from hall.states import AppStatus
from web.i18n import gettext, status_label
from web.views import present, reads
from web.views.common import (
    clock,
    db,
    flash_error,
    hall,
    invalid_fields,
    not_found_page,
    page,
    page_blueprint,
    person_id,
)
from web.views.stats import EXPORTS, request_period

bp = page_blueprint("monitor", __name__)

PAGE_SIZE = 50


def _reach() -> Reach | None:
    with db().reader() as s:
        reach = reach_of(s, person_id())
    return reach if reach.administers else None


@bp.get("/monitor")
def index() -> Response:
    reach = _reach()
    if reach is None:
        return not_found_page()
    process_id = request.args.get("process", type=int)
    overdue = request.args.get("overdue") == "1"
    number = max(1, min(request.args.get("page", 1, type=int), 10_000))
    with db().reader() as s:
        processes = reads.monitored_processes(s, reach)
        rows, more = reads.monitor_tasks(
            s,
            reach,
            now=clock().now(),
            process_id=process_id,
            overdue=overdue,
            page=number,
            size=PAGE_SIZE,
        )

    default = stats.default_period(clock().now())

    def url_args(n: int) -> str:
        args = {"page": n, "overdue": "1" if overdue else ""}
        return urlencode({k: v for k, v in {**args, "process": process_id or ""}.items() if v})

    return page(
        "hall/monitor.html",
        waiting=present.waiting,
        rows=rows,
        more=more,
        number=number,
        processes=processes,
        process_id=process_id,
        overdue=overdue,
        now=clock().now(),
        url_args=url_args,
        status_label=status_label,
        export_start=default.start.isoformat(),
        export_end=default.end.isoformat(),
    )


@bp.post("/monitor/tasks/<int:task_id>/reassign")
def reassign(task_id: int) -> BaseResponse:
    if _reach() is None:
        return not_found_page()
    target = request.form.get("target", "").strip()
    comment = request.form.get("comment", "").strip() or None
    try:
        result = hall().admin_reassign(person_id(), task_id, target, comment)
    except NotFound:
        return not_found_page()
    except HallError as exc:
        flash_error(exc)
    else:
        flash(gettext(result.message), "success")
    back = request.form.get("back", "")  # the list's own query string, nothing else
    query = back if _QUERY.fullmatch(back) else ""
    return redirect(url_for("monitor.index") + (f"?{query}" if query else ""))


_QUERY = re.compile(r"[a-z0-9=&]{1,200}")


@bp.get("/monitor/export.<fmt>")
def export(fmt: str) -> Response:
    """办件导出: applications submitted in ?start..?end (default the last 30 days), of
    ?process or all the person administers, of ?status or any but drafts."""
    if fmt not in EXPORTS or _reach() is None:
        return not_found_page()  # an outsider learns nothing, not even what is wrong
    raw_status = request.args.get("status") or None
    exportable = {s.value for s in AppStatus} - {AppStatus.DRAFT.value}
    if raw_status is not None and raw_status not in exportable:
        return page("hall/error.html", 400, message=gettext("状态不对"))
    status = AppStatus(raw_status) if raw_status else None
    try:
        period = request_period()
        with db().reader() as s:
            table = exports.export_applications(
                s,
                person_id(),
                period,
                process_id=request.args.get("process", type=int),
                status=status,
            )
    except Invalid as exc:
        if "limit" in exc.detail:  # too many rows: said with its number, in either language
            return page(
                "hall/error.html", 400, message=gettext(exports.TOO_MANY, n=exc.detail["limit"])
            )
        problem = invalid_fields(exc).get("range", exc.message)
        return page("hall/error.html", 400, message=gettext(problem))
    except NotFound:
        return not_found_page()
    mimetype, render = EXPORTS[fmt]
    column = table.columns.index(exports.STATUS_COLUMN)
    localized = stats.Table(
        key=table.key,
        title=gettext(table.title),
        columns=tuple(gettext(c) for c in table.columns),
        rows=[(*row[:column], status_label(row[column]), *row[column + 1 :]) for row in table.rows],
    )
    name = f"applications_{period.start.isoformat()}_{period.end.isoformat()}.{fmt}"
    response = Response(render(localized), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response
