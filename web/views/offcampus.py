"""Off-campus sign-in: a mobile number and an SMS code (alumni, visitors, parents).

- `GET /login/sms`: the form; `POST /login/sms/code` sends a code (the hall's limits first:
  per number 1 a minute, 5 an hour, 10 a day; per address 20 an hour);
- `POST /login/sms`: checks the code (5 minutes, single use, 5 tries). A number that
  belongs to an off-campus account signs it in; a new number goes on to
  `/login/sms/profile`, which asks the name and creates the off-campus account. A number
  of a school member's account is sent to the school's sign-in instead;
- `GET /m/<id>`: the short link results carry by SMS: the application's page, through this
  sign-in when needed.

Every answer is the same for numbers the hall knows and numbers it does not until the code
is proved, so the form cannot be used to find out who has an account.
"""

from __future__ import annotations

import logging
import unicodedata
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import current_app, flash, redirect, request, session
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as BaseResponse

from hall import offcampus
from hall.clock import utcnow
from hall.forms import MOBILE_RE
from hall.models import PersonKind, PersonStatus
from sms.codes import CodeBook, CodeRefused, CodeRejected
from web.auth import rotate_session, safe_next, start_session
from web.catalogue.offcampus import REFUSALS
from web.i18n import gettext
from web.sms_channel import mask, queue_code
from web.views.common import db, page, page_blueprint

log = logging.getLogger(__name__)

bp = page_blueprint("offcampus", __name__, public=True)

VERIFIED_KEY = "sms_verified"  # {"phone", "at"}: proved, no account yet
VERIFIED_FOR = timedelta(minutes=10)
NAME_MAX = 32


def _codes() -> CodeBook:
    return CodeBook(current_app.extensions["hall.redis"], current_app.config["SECRET_KEY"])


def _nfkc(raw: str | None) -> str:
    return unicodedata.normalize("NFKC", raw or "")


def mobile_number(raw: str | None) -> str:
    """A mainland mobile number as 11 digits (spaces, dashes and +86 are forgiven), or ""."""
    # Full-width digits (a Chinese input method's) are read as the digits they are; any
    # other script's are not digits here: they would be another rate-limit key (and
    # another account) for the same number.
    digits = "".join(ch for ch in _nfkc(raw)[:40] if ch in "0123456789")
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits if MOBILE_RE.fullmatch(digits) else ""


def _form(status: int = 200, **context: Any) -> BaseResponse:
    context.setdefault("phone", session.get("sms_phone", ""))
    context.setdefault("error", "")
    context.setdefault("sent", False)
    context.setdefault("wait", 0)
    context.setdefault("masked", "")
    context.setdefault("next", safe_next(request.values.get("next")))
    return page("auth/sms_login.html", status, **context)


@bp.get("/login/sms")
def login() -> ResponseReturnValue:
    if isinstance(session.get("person_id"), int):
        return redirect(safe_next(request.args.get("next")))
    return _form()


@bp.post("/login/sms/code")
def send_code() -> ResponseReturnValue:
    phone = mobile_number(request.form.get("phone"))
    if not phone:
        return _form(
            400, phone=request.form.get("phone", "")[:20], error=gettext("请输入正确的手机号码。")
        )
    try:
        code = _codes().issue(phone, request.remote_addr or "unknown")
    except CodeRefused as refused:
        wait = refused.retry_after
        text = gettext(REFUSALS[refused.reason], seconds=wait, minutes=-(-wait // 60))
        wait = wait if refused.reason == CodeRefused.TOO_SOON else 0
        return _form(429, phone=phone, error=text, wait=wait)
    with db().unit_of_work() as s:
        queue_code(s, current_app.extensions["hall.redis"], phone, code)
    session["sms_phone"] = phone
    log.info("sign-in code queued for %s", mask(phone))
    return _form(phone=phone, sent=True, wait=60, masked=mask(phone))


@bp.post("/login/sms")
def verify() -> ResponseReturnValue:
    target = safe_next(request.form.get("next"))
    phone = mobile_number(request.form.get("phone"))
    code = _nfkc(request.form.get("code")).strip()
    if not phone or not (code.isascii() and code.isdigit() and len(code) == 6):
        return _form(400, phone=phone, error=gettext("请输入手机号码和 6 位验证码。"))
    try:
        _codes().check(phone, code)
    except CodeRejected as rejected:
        if rejected.reason == CodeRejected.WRONG:
            text = gettext("验证码不正确，还可以再试 {n} 次。", n=rejected.left)
        else:
            text = gettext("验证码已失效，请重新获取。")
        return _form(400, phone=phone, error=text)
    with db().reader() as s:
        person = offcampus.account_for_phone(s, phone)
    if person is not None and person.kind != PersonKind.OFFCAMPUS:
        return _form(
            403, phone=phone, error=gettext("该手机号属于本校师生账号，请使用统一身份认证登录。")
        )
    if person is not None and person.status != PersonStatus.ACTIVE:
        return _form(403, phone=phone, error=gettext("该账号已停用，请联系学校。"))
    if person is None:
        rotate_session()
        session[VERIFIED_KEY] = {"phone": phone, "at": utcnow().isoformat()}
        return redirect(f"/login/sms/profile?{urlencode({'next': target})}")
    start_session(person.id, person.userid, via="sms")
    log.info("signed in: %s (person %s) via sms", person.userid, person.id)
    return redirect(target)


def _verified_phone() -> str:
    proof = session.get(VERIFIED_KEY)
    if not isinstance(proof, dict):
        return ""
    try:
        at = datetime.fromisoformat(str(proof.get("at")))
    except ValueError:
        return ""
    if utcnow() - at > VERIFIED_FOR:
        return ""
    return mobile_number(str(proof.get("phone")))


@bp.route("/login/sms/profile", methods=["GET", "POST"])
def profile() -> ResponseReturnValue:
    target = safe_next(request.values.get("next"))
    phone = _verified_phone()
    if not phone:
        flash(gettext("验证已过期，请重新获取验证码。"), "error")
        return redirect(f"/login/sms?{urlencode({'next': target})}")
    if request.method == "GET":
        return page("auth/sms_profile.html", phone=mask(phone), name="", error="", next=target)
    name = " ".join((request.form.get("name") or "").split())
    if not 2 <= len(name) <= NAME_MAX:
        error = gettext("请填写 2–{n} 个字的真实姓名。", n=NAME_MAX)
        return page(
            "auth/sms_profile.html",
            400,
            phone=mask(phone),
            name=name[:NAME_MAX],
            error=error,
            next=target,
        )
    try:
        with db().unit_of_work() as s:
            person = offcampus.open_account(s, phone, name)
            person_id, userid = person.id, person.userid
    except offcampus.NotOpen:
        session.pop(VERIFIED_KEY, None)
        flash(gettext("该账号已停用，请联系学校。"), "error")
        return redirect(f"/login/sms?{urlencode({'next': target})}")
    session.pop(VERIFIED_KEY, None)
    start_session(person_id, userid, via="sms")
    log.info("off-campus account %s created and signed in", userid)
    return redirect(target)


@bp.get("/m/<int:application_id>")
def short_link(application_id: int) -> ResponseReturnValue:
    target = f"/applications/{application_id}"
    if isinstance(session.get("person_id"), int):
        return redirect(target)
    return redirect(f"/login/sms?{urlencode({'next': target})}")
