"""The self-registration pages (`selfreg/`): public, for phones in the WeCom or WeChat browser.

- `GET /join` — choose 教职工 or 学生 (and, with HALL_CAS_REST, type the number and CAS
  password). WeCom's member verification lands here with `?code=`: the code is resolved once
  (`auth/getuserinfo`), the member kept in the server-side session, and the code dropped from
  the URL.
- `POST /join` — REST: check the password now; otherwise send the browser through CAS
  `/login` (renew) with a signed, expiring state that carries the chosen type.
- `GET /join/cas` — CAS's return: check the state against the session's nonce (single use),
  validate the ticket for exactly the service URL it was issued for, then register.
- `GET /join/status` — this browser's registration: matched, joined, refused (why), failed.

Attempts are limited per client IP and per number (`selfreg.ratelimit`).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from flask import Response, current_app, redirect, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from config import Settings
from hall.models import PersonKind
from selfreg import services
from selfreg import state as signed_state
from selfreg.matching import KIND_LABELS, Claim
from selfreg.models import RegSource
from selfreg.ratelimit import AttemptLimiter
from sso.client import TIMEOUT, UNREACHABLE, CasFailure
from sso.identity import (
    BadCredentials,
    BrowserRoundTrip,
    IdentityVerifier,
    Verified,
    identity_verifier,
    verify_identity,
)
from web.i18n import gettext
from web.views.common import clock, db, page, page_blueprint
from wework.client import WeComClient, app_client
from wework.errors import WeComError, WeComUnavailable

log = logging.getLogger("selfreg.web")

bp = page_blueprint("selfreg", __name__, public=True)

KINDS = {PersonKind.STAFF.value: PersonKind.STAFF, PersonKind.STUDENT.value: PersonKind.STUDENT}
NAME_ATTRIBUTES = ("name", "cn", "displayName", "XM", "xm")  # where schools' CAS put the name
SERVER_TROUBLE = frozenset({TIMEOUT, UNREACHABLE, "INVALID_RESPONSE", "REST_ERROR"})
# Server-side session keys: the joining WeCom member, the CAS trip's nonce, the browser's
# registration and the explanation of its last refused attempt.
MEMBER_KEY, NONCE_KEY = "selfreg_member", "selfreg_nonce"
REGISTRATION_KEY, MISMATCH_KEY = "selfreg_id", "selfreg_mismatch"


def _settings() -> Settings:
    settings: Settings = current_app.extensions["hall.settings"]
    return settings


def _verifier() -> IdentityVerifier:
    cas = current_app.extensions["hall.auth"].cas
    return identity_verifier(cas, rest=_settings().cas_rest)


def _limiter() -> AttemptLimiter:
    return AttemptLimiter(current_app.extensions["hall.redis"])


def _wecom() -> WeComClient:
    """The app's WeCom client (auth/getuserinfo), built once per app."""
    client: WeComClient | None = current_app.extensions.get("selfreg.wecom")
    if client is None:
        client = app_client(_settings(), current_app.extensions["hall.redis"])
        current_app.extensions["selfreg.wecom"] = client
    return client


def _ip() -> str:
    return request.remote_addr or "unknown"


def _cas_service(state: str) -> str:
    """The service URL of the CAS round trip: deterministic, so login and validation agree."""
    return f"{_settings().base_url}/join/cas?{urlencode({'state': state})}"


def _message(title: str, text: str, status: int) -> Response:
    return page("selfreg/message.html", status, title=gettext(title), message=text)


def _too_many() -> Response:
    return _message("尝试次数过多", gettext("尝试次数过多，请 15 分钟后再试。"), 429)


def _join_form(status: int = 200, **context: Any) -> Response:
    context.setdefault("kind", "")
    context.setdefault("number", "")
    context.setdefault("error", "")
    return page(
        "selfreg/join.html",
        status,
        kinds=KIND_LABELS,
        asks_password=_verifier().asks_password,
        member=session.get(MEMBER_KEY),
        registered=REGISTRATION_KEY in session,
        **context,
    )


@bp.get("/join")
def join() -> BaseResponse:
    code = request.args.get("code", "")
    if not code:
        return _join_form()
    # WeCom's member verification: who is joining? (single use, five minutes)
    if _limiter().blocked(_ip()):
        return _too_many()
    _limiter().attempt(_ip())
    try:
        member = _wecom().oauth.userid_from_code(code[:512])
    except WeComUnavailable:
        return _message("暂时无法完成", gettext("暂时无法连接企业微信，请稍后再试。"), 502)
    except WeComError as exc:
        log.info("self-registration: WeCom code refused: %s", exc)
        return _message(
            "验证链接无效",
            gettext("企业微信的验证链接无效或已过期，请回到企业微信重新扫码加入。"),
            403,
        )
    session[MEMBER_KEY] = member
    return redirect(url_for("selfreg.join"), 303)


@bp.post("/join")
def start() -> BaseResponse:
    kind = KINDS.get(request.form.get("kind", ""))
    number = request.form.get("username", "").strip()[:64]
    if kind is None:
        return _join_form(422, number=number, error=gettext("请选择您的身份：教职工或学生。"))
    verifier = _verifier()
    if _limiter().blocked(_ip(), number if verifier.asks_password else ""):
        return _too_many()
    _limiter().attempt(_ip())
    if verifier.asks_password and (not number or not request.form.get("password")):
        return _join_form(
            422, kind=kind.value, number=number, error=gettext("请填写学号/工号和密码。")
        )
    nonce = signed_state.new_nonce()
    token = signed_state.dumps(_settings().secret_key, signed_state.State(kind, nonce))
    try:
        result = verify_identity(
            verifier,
            service=_cas_service(token),
            username=number,
            password=request.form.get("password", ""),
        )
    except BadCredentials:
        _limiter().wrong_password(number)
        return _join_form(
            401, kind=kind.value, number=number, error=gettext("学号/工号或密码错误。")
        )
    except CasFailure as failure:
        return _cas_failed(failure)
    if isinstance(result, BrowserRoundTrip):
        session[NONCE_KEY] = nonce
        return redirect(result.url)
    return _register(result, kind)


@bp.get("/join/cas")
def cas_return() -> BaseResponse:
    if _limiter().blocked(_ip()):
        return _too_many()
    _limiter().attempt(_ip())
    raw = request.args.get("state", "")
    expected = session.pop(NONCE_KEY, None)  # used up now, whatever happens next
    try:
        chosen = signed_state.loads(_settings().secret_key, raw, expected_nonce=expected)
    except signed_state.InvalidState as exc:
        log.info("self-registration: CAS return refused: %s", exc)
        return _message(
            "页面已过期",
            gettext("这个登录链接已失效（超时、已用过或不是在本浏览器发起的），请重新开始。"),
            400,
        )
    ticket = request.args.get("ticket", "")
    if not ticket:
        return _message("未完成登录", gettext("统一身份认证没有完成登录，请重新开始。"), 400)
    try:
        verified = _verifier().complete(service=_cas_service(raw), ticket=ticket)
    except CasFailure as failure:
        return _cas_failed(failure)
    return _register(verified, chosen.kind)


def _cas_failed(failure: CasFailure) -> Response:
    if failure.code in SERVER_TROUBLE:
        return _message("暂时无法完成", gettext("暂时无法连接统一身份认证，请稍后再试。"), 502)
    return _message(
        "身份核验未通过",
        gettext("统一身份认证未能确认您的身份（{code}），请重新开始。", code=failure.code),
        403,
    )


def _register(verified: Verified, kind: PersonKind) -> BaseResponse:
    member = session.get(MEMBER_KEY)
    name = next((v[0] for a in NAME_ATTRIBUTES if (v := verified.attributes.get(a))), None)
    claim = Claim(
        userid=verified.userid,
        kind=kind,
        source=RegSource.WECOM if isinstance(member, str) else RegSource.QR,
        cas_name=name,
        wecom_userid=member if isinstance(member, str) else None,
    )
    outcome = services.register(db(), claim, clock=clock())
    session[REGISTRATION_KEY] = outcome.registration.id
    if outcome.mismatch is None:
        session.pop(MEMBER_KEY, None)
        session.pop(MISMATCH_KEY, None)
    else:
        session[MISMATCH_KEY] = outcome.mismatch
    return redirect(url_for("selfreg.status"), 303)


@bp.get("/join/status")
def status() -> BaseResponse:
    registration_id = session.get(REGISTRATION_KEY)
    found = services.get(db(), registration_id) if isinstance(registration_id, int) else None
    if found is None:
        return redirect(url_for("selfreg.join"))
    mismatch = session.pop(MISMATCH_KEY, None)
    return page(
        "selfreg/status.html",
        registration=found,
        kinds=KIND_LABELS,
        mismatch=mismatch if isinstance(mismatch, str) else None,
    )
