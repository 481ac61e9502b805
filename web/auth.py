"""Signing in to the hall. The hall has no login form of its own:

- `/login` sends the browser to the school's CAS (`/login?service=<service URL>`); CAS comes
  back to the same URL with `?ticket=ST-…`, which is validated for exactly that service URL.
  A person the hall knows (active `Person.userid` == the CAS user) gets a fresh server-side
  session (`session["person_id"]`); anyone else sees the zh_CN "no account" page, and no
  account is ever created here.
- Pages opened inside WeCom sign in through WeCom OAuth instead (`/login/wecom`).
- `/logout` ends the hall session and sends the browser to CAS `/logout?service=…`.
- `POST /cas/slo` is CAS's back-channel single logout: it ends exactly the session created
  by the named service ticket, on whichever web node holds it (sessions live in Redis).
  It is not a browser form, so it needs no CSRF token: it must be well-formed XML naming
  a ticket this hall knows.
- Portal deep links `/go/<process_key>` and `/go/application/<id>` land on that page after
  single sign-on: the process's form page `/processes/<key>` and the application page
  `/applications/<id>` of the web view.

`next` targets are only same-origin relative paths (`safe_next`), so no redirect leaves
the hall. `init_app` also mounts the sandbox CAS when `HALL_SANDBOX` is on.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
)
from redis import Redis
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from config import Settings, SettingsError
from hall.clock import utcnow
from hall.db import Database
from hall.models import Person, PersonStatus
from sso.client import TIMEOUT, UNREACHABLE, CasClient, CasFailure
from sso.sandbox import URL_PREFIX, SandboxAccount, SandboxCas
from sso.sessions import RedisSession, RedisSessionInterface, SessionStore
from sso.slo import InvalidLogoutRequest, parse_logout_request
from wework.client import WeComClient, app_client
from wework.errors import WeComError

logger = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

MAX_NEXT_LENGTH = 2048
_PROCESS_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SERVER_TROUBLE = frozenset({TIMEOUT, UNREACHABLE, "INVALID_RESPONSE"})


@dataclass(frozen=True)
class Auth:
    """What the sign-in views need, built once by `init_app`."""

    settings: Settings
    db: Database
    cas: CasClient
    store: SessionStore
    wecom: WeComClient | None

    def service_url(self, target: str) -> str:
        """The CAS service URL for a landing target; deterministic, so the URL sent to
        `/login` and the one validated are byte-identical."""
        base = f"{self.settings.base_url}/login"
        return base if target == "/" else f"{base}?{urlencode({'next': target})}"


def safe_next(value: str | None) -> str:
    """A same-origin relative path, or "/" for anything else (no open redirect)."""
    if not value or len(value) > MAX_NEXT_LENGTH:
        return "/"
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    # Browsers drop tabs and newlines from URLs ("/\t/evil" becomes "//evil").
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def _auth() -> Auth:
    auth: Auth = current_app.extensions["hall.auth"]
    return auth


def _server_session() -> RedisSession:
    current = session
    if not isinstance(current, RedisSession):
        raise TypeError("the hall's server-side sessions are not installed")
    return current


def _signed_in() -> bool:
    person_id = session.get("person_id")
    return isinstance(person_id, int) and not isinstance(person_id, bool)


def _in_wecom() -> bool:
    return "wxwork/" in request.headers.get("User-Agent", "").lower()


def _page(template: str, status: int, **context: Any) -> Response:
    response = make_response(render_template(f"auth/{template}", **context), status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _active_person_id(db: Database, userid: str) -> int | None:
    with db.reader() as s:
        person_id: int | None = s.scalar(
            select(Person.id).where(Person.userid == userid, Person.status == PersonStatus.ACTIVE)
        )
    return person_id


def _begin_login(target: str) -> BaseResponse:
    auth = _auth()
    if _in_wecom() and auth.wecom is not None:
        return redirect(f"/login/wecom?{urlencode({'next': target})}")
    return redirect(auth.cas.login_url(auth.service_url(target)))


def rotate_session() -> None:
    """A fresh session id for what the session now proves (a phone number before the
    account exists): a session id planted before the proof never carries it."""
    _server_session().rotate()


def start_session(person_id: int, userid: str, *, via: str) -> RedisSession:
    """A fresh server-side session (new key: no fixation) for a person who proved who they
    are through `via` (cas, wecom, sms)."""
    current = _server_session()
    current.clear()
    current.rotate()
    current.update(person_id=person_id, userid=userid, login_via=via, login_at=utcnow())
    return current


def _sign_in(userid: str, *, via: str, target: str, ticket: str = "") -> BaseResponse:
    """Start a fresh session for a known, active person; never create an account."""
    auth = _auth()
    person_id = _active_person_id(auth.db, userid)
    if person_id is None:
        logger.info("sign-in refused: %r (via %s) has no active account in the hall", userid, via)
        return _page(
            "no_account.html", 403, userid=userid, cas_logout=auth.cas.logout_url(), via=via
        )
    current = start_session(person_id, userid, via=via)
    if ticket:
        current["cas_ticket"] = ticket
        auth.store.link_ticket(ticket, current.key)
    logger.info("signed in: %s (person %s) via %s", userid, person_id, via)
    return redirect(safe_next(target))


@bp.get("/login")
def login() -> BaseResponse:
    raw_next = request.args.get("next", "")
    ticket = request.args.get("ticket", "")
    if not ticket:
        target = safe_next(raw_next)
        return redirect(target) if _signed_in() else _begin_login(target)
    auth = _auth()
    # Validate for the very service URL CAS saw: rebuilt from the raw `next` it carried.
    service = auth.service_url(raw_next) if raw_next else auth.service_url("/")
    try:
        user = auth.cas.validate(ticket, service)
    except CasFailure as failure:
        status = 502 if failure.code in _SERVER_TROUBLE else 403
        retry = f"/login?{urlencode({'next': safe_next(raw_next)})}"
        return _page("login_failed.html", status, code=failure.code, retry=retry)
    return _sign_in(user.userid, via="cas", target=raw_next, ticket=ticket)


@bp.get("/login/wecom")
def login_wecom() -> BaseResponse:
    """WeCom OAuth (doc 91022) for pages opened inside WeCom: code → userid."""
    auth = _auth()
    target = safe_next(request.args.get("next"))
    code = request.args.get("code", "")
    wecom = auth.wecom
    if wecom is None:
        return _begin_login(target)
    if not code:
        state = secrets.token_urlsafe(16)
        session["wecom_oauth_state"] = state
        back = f"{auth.settings.base_url}/login/wecom?{urlencode({'next': target})}"
        return redirect(wecom.oauth.authorize_url(back, state=state))
    expected = session.pop("wecom_oauth_state", None)
    retry = f"/login/wecom?{urlencode({'next': target})}"
    if not isinstance(expected, str) or not hmac.compare_digest(
        expected, request.args.get("state", "")
    ):
        logger.warning("WeCom OAuth: missing or wrong state")
        return _page("login_failed.html", 403, code="INVALID_STATE", retry=retry)
    try:
        userid = wecom.oauth.userid_from_code(code)
    except WeComError as exc:
        logger.warning("WeCom OAuth failed: %s", exc)
        return _page("login_failed.html", 403, code=f"WECOM_{exc.errcode}", retry=retry)
    return _sign_in(userid, via="wecom", target=target)


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> BaseResponse:
    auth = _auth()
    via = session.get("login_via")
    session.clear()
    if via == "sms":  # off-campus people never signed in to CAS
        return redirect("/login/sms")
    return redirect(auth.cas.logout_url(f"{auth.settings.base_url}/"))


@bp.post("/cas/slo")
def single_logout() -> Response:
    """CAS back-channel logout: end the session the named service ticket created."""
    auth = _auth()
    try:
        ticket = parse_logout_request(request.form.get("logoutRequest", ""))
    except InvalidLogoutRequest as exc:
        logger.warning("single logout refused: %s", exc)
        return Response("bad logout request\n", 400, content_type="text/plain")
    key = auth.store.session_for_ticket(ticket)
    if key is None:
        logger.warning("single logout for an unknown ticket %s…", ticket[:12])
        return Response("unknown ticket\n", 400, content_type="text/plain")
    ended = auth.store.end(key)
    auth.store.forget_ticket(ticket)
    logger.info("single logout: ticket %s… ended=%s", ticket[:12], ended)
    return Response("ok\n", 200, content_type="text/plain")


def _land(target: str) -> BaseResponse:
    return redirect(target) if _signed_in() else _begin_login(target)


@bp.get("/go/<process_key>")
def go_process(process_key: str) -> BaseResponse:
    if not _PROCESS_KEY.fullmatch(process_key):
        return _page("not_found.html", 404)
    return _land(f"/processes/{process_key}")


@bp.get("/go/application/<int:application_id>")
def go_application(application_id: int) -> BaseResponse:
    return _land(f"/applications/{application_id}")


class HallDirectory:
    """The sandbox CAS's people: the hall's active people, with a few attributes."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _account(person: Person) -> SandboxAccount:
        attributes = {"name": [person.name], "kind": [person.kind.value]}
        if person.department is not None:
            attributes["department"] = [person.department.code]
        roles = sorted({grant.role_code.value for grant in person.grants})
        if roles:
            attributes["role"] = roles
        return SandboxAccount(person.userid, person.name, attributes)

    def find(self, userid: str) -> SandboxAccount | None:
        with self.db.reader() as s:
            person = s.scalar(
                select(Person).where(Person.userid == userid, Person.status == PersonStatus.ACTIVE)
            )
            return None if person is None else self._account(person)

    def sample(self, limit: int) -> list[SandboxAccount]:
        with self.db.reader() as s:
            people = s.scalars(
                select(Person)
                .where(Person.status == PersonStatus.ACTIVE)
                .order_by(Person.id)
                .limit(limit)
            ).all()
            return [self._account(person) for person in people]


def init_app(app: Flask, *, settings: Settings, db: Database, redis: Redis | None) -> None:
    """Install server-side sessions and the sign-in routes (and the sandbox CAS)."""
    if redis is None:
        logger.warning("no Redis configured (HALL_REDIS_URL): sign-in is not available")
        return
    if not settings.cas_url:
        raise SettingsError("HALL_CAS_URL: the school's CAS server root is required")
    store = SessionStore(redis)
    app.session_interface = RedisSessionInterface(store)
    secure = settings.base_url.startswith("https://")
    app.extensions["hall.auth"] = Auth(
        settings=settings,
        db=db,
        cas=CasClient(settings.cas_url, settings.cas_version),
        store=store,
        wecom=app_client(settings, redis) if settings.wecom_corp_id else None,
    )
    app.register_blueprint(bp)
    if settings.sandbox:
        origin = urlsplit(settings.base_url)
        sandbox = SandboxCas(
            redis=redis,
            directory=HallDirectory(db),
            service_origins=[f"{origin.scheme}://{origin.netloc}"],
            rest_enabled=settings.cas_rest,
            secure_cookies=secure,
        )
        app.register_blueprint(sandbox.blueprint(), url_prefix=URL_PREFIX)
