"""消息: the person's in-app notices (the in-app channel's list), newest first; opening
one marks it read and goes to its application. The menu shows how many are unread."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Response, flash, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from hall import queries
from hall.errors import NotFound
from web.i18n import gettext
from web.views.common import clock, db, not_found_page, page, page_blueprint, person_id

bp = page_blueprint("messages", __name__)

PER_PAGE = 20


@bp.get("/messages")
def index() -> Response:
    number = max(1, min(request.args.get("page", 1, type=int), 10_000))
    with db().reader() as s:
        found = queries.notifications(s, person_id(), page=number, per_page=PER_PAGE)
    return page("hall/messages.html", found=found, url_args=lambda n: urlencode({"page": n}))


@bp.post("/messages/<int:notification_id>/open")
def open_notice(notification_id: int) -> BaseResponse:
    try:
        with db().unit_of_work() as s:
            notice = queries.mark_notification_read(s, person_id(), notification_id, clock().now())
    except NotFound:
        return not_found_page()
    if notice.application_id is None:
        return redirect(url_for("messages.index"))
    return redirect(url_for("applications.detail", application_id=notice.application_id))


@bp.post("/messages/read")
def read_all() -> BaseResponse:
    with db().unit_of_work() as s:
        queries.mark_all_notifications_read(s, person_id(), clock().now())
    flash(gettext("已全部标为已读"), "success")
    return redirect(url_for("messages.index"))
