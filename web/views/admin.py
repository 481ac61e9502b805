"""System pages for the information center: nightly sync reports with their rejected rows,
failed outbox deliveries with a retry button, who administers which department, and the
self-registration middle table (with its retry button and the school's join QR code).
Everyone else gets the 404 page."""

from __future__ import annotations

import logging

import segno
from flask import Response, current_app, flash, redirect, request, url_for
from markupsafe import Markup
from redis import RedisError
from werkzeug.wrappers import Response as BaseResponse

from config import Settings
from hall.deliveries import failed_deliveries, retry_delivery
from hall.designer import Designer, is_info_center
from hall.errors import HallError, NotFound
from selfreg import services as selfreg
from selfreg.matching import KIND_LABELS
from selfreg.models import RegSource, RegStatus
from sms import models as sms_log
from sync.report import STATUS_LABELS, STEPS
from sync.services import get_run, list_runs
from web.i18n import gettext
from web.sms_channel import mask
from web.views.common import back, clock, db, not_found_page, page, page_blueprint, person_id
from wework.client import contacts_client
from wework.errors import WeComError

log = logging.getLogger("hall.admin")

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
    before_id = int(before) if before.isascii() and before.isdigit() else None
    rows = failed_deliveries(db(), limit=100, before_id=before_id)
    return page("admin/deliveries.html", rows=rows)


SMS_STATUS_LABELS = {
    sms_log.SmsStatus.QUEUED: "待发送",
    sms_log.SmsStatus.SENT: "已发送",
    sms_log.SmsStatus.DELIVERED: "已送达",
    sms_log.SmsStatus.FAILED: "失败",
}
SMS_PURPOSE_LABELS = {
    sms_log.SmsPurpose.LOGIN: "登录验证码",
    sms_log.SmsPurpose.RESULT: "办理结果",
    sms_log.SmsPurpose.INVITE: "来访邀请",
}


@bp.get("/admin/sms")
def sms_messages() -> Response:
    """The SMS delivery log: what was sent to whom (numbers masked), and what came of it."""
    digits = "".join(ch for ch in request.args.get("phone", "") if ch in "0123456789")[:11]
    raw_status = request.args.get("status", "")
    status = sms_log.SmsStatus(raw_status) if raw_status in set(sms_log.SmsStatus) else None
    before = request.args.get("before", "")
    with db().reader() as s:
        before_id = int(before) if before.isascii() and before.isdigit() else None
        rows = sms_log.recent(s, phone=digits, status=status, before_id=before_id)
        shown = [
            {
                "id": r.id,
                "phone": mask(r.phone),
                "purpose": SMS_PURPOSE_LABELS[r.purpose],
                "template": r.template,
                "status": r.status.value,
                "status_label": SMS_STATUS_LABELS[r.status],
                "provider": r.provider,
                "provider_id": r.provider_id or "",
                "error": r.error or "",
                "created_at": r.created_at,
                "sent_at": r.sent_at,
                "reported_at": r.reported_at,
                "application_id": r.outbox.application_id if r.outbox else None,
            }
            for r in rows
        ]
    settings: Settings = current_app.extensions["hall.settings"]
    return page(
        "admin/sms.html",
        rows=shown,
        phone=digits,
        status=raw_status if status else "",
        statuses=SMS_STATUS_LABELS,
        provider=settings.sms_provider,
        sign_name=settings.sms_sign_name,
        receipts=bool(settings.sms_receipt_token),
    )


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


# --------------------------------------------------------------- self-registration

SELFREG_LABELS = {
    RegStatus.PENDING: "待推送",
    RegStatus.JOINED: "已加入",
    RegStatus.REJECTED: "未通过核对",
    RegStatus.FAILED: "推送失败",
}
SELFREG_TAGS = {
    RegStatus.PENDING: "tag-amber",
    RegStatus.JOINED: "tag-green",
    RegStatus.REJECTED: "tag-grey",
    RegStatus.FAILED: "tag-red",
}
SOURCE_LABELS = {RegSource.QR: "扫码", RegSource.WECOM: "企业微信验证"}
JOIN_QRCODE_KEY = "hall:selfreg:wecom_join_qrcode"
JOIN_QRCODE_TTL = 6 * 24 * 3600  # WeCom's link lives 7 days; fetch a new one a day early


def _join_url() -> str:
    return f"{current_app.extensions['hall.settings'].base_url}/join"


def _qr(url: str, scale: int) -> Markup:
    svg = segno.make(url, error="m").svg_inline(scale=scale, dark="#111", border=2)
    return Markup(svg)  # noqa: S704 - segno's own SVG of our own URL


def _wecom_join_link() -> str | None:
    """WeCom's join QR link fetched earlier (kept in Redis while it is valid)."""
    try:
        value = current_app.extensions["hall.redis"].get(JOIN_QRCODE_KEY)
    except RedisError:
        return None
    return value.decode() if isinstance(value, bytes) else value


@bp.get("/admin/selfreg")
def selfreg_table() -> Response:
    status_arg = request.args.get("status", "")
    status = RegStatus(status_arg) if status_arg in {s.value for s in RegStatus} else None
    query = request.args.get("q", "").strip()
    number = request.args.get("page", "")
    table = selfreg.table(
        db(), status=status, query=query, page=int(number) if number.isdigit() else 1
    )
    wecom_link = _wecom_join_link()
    return page(
        "admin/selfreg.html",
        table=table,
        status=status,
        query=query,
        labels=SELFREG_LABELS,
        tags=SELFREG_TAGS,
        sources=SOURCE_LABELS,
        kinds=KIND_LABELS,
        join_url=_join_url(),
        qr=_qr(_join_url(), 4),
        wecom_link=wecom_link,
        wecom_qr=_qr(wecom_link, 3) if wecom_link else None,
    )


@bp.get("/admin/selfreg/poster")
def selfreg_poster() -> Response:
    """The join QR code on a page of its own, to print and put up."""
    return page("admin/selfreg_poster.html", join_url=_join_url(), qr=_qr(_join_url(), 10))


@bp.post("/admin/selfreg/<int:registration_id>/retry")
def selfreg_retry(registration_id: int) -> BaseResponse:
    try:
        selfreg.retry(db(), registration_id, clock=clock())
    except NotFound:
        return not_found_page()
    except HallError as exc:
        flash(gettext(exc.message), "error")
    else:
        flash(gettext("已重新排队推送"), "success")
    return back(url_for("admin.selfreg_table"))


@bp.post("/admin/selfreg/wecom-qrcode")
def selfreg_wecom_qrcode() -> BaseResponse:
    """Ask WeCom (contacts assistant) for the corp's join QR link and keep it a while."""
    settings = current_app.extensions["hall.settings"]
    connection = current_app.extensions["hall.redis"]
    try:
        with contacts_client(settings, connection, max_retries=1) as client:
            link = client.auth.join_qrcode()
        connection.set(JOIN_QRCODE_KEY, link, ex=JOIN_QRCODE_TTL)
    except (WeComError, RedisError) as exc:
        log.warning("could not fetch the WeCom join QR code: %s", exc)
        flash(gettext("获取企业微信加入二维码失败：{error}", error=str(exc)), "error")
    else:
        flash(gettext("已获取企业微信加入二维码"), "success")
    return redirect(url_for("admin.selfreg_table"))
