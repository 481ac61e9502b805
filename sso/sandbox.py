"""The sandbox CAS: a small real CAS 3.0 server for `make run` and the tests.

Mounted at `/_sandbox/cas/` when `HALL_SANDBOX` is on. It speaks the protocol the hall's
client speaks to a school's Apereo CAS:

- `GET /login?service=` — a zh_CN page to pick or type a demo userid; the password of
  every sandbox person is `demo` (`SANDBOX_PASSWORD`). On success: a TGT cookie
  (`CASTGC`) and a redirect to `service?ticket=ST-…`. With a TGT, `/login` answers at once
  (single sign-on) unless `renew=true`; `gateway=true` returns without a ticket.
- `GET /p3/serviceValidate`, `GET /serviceValidate` — `cas:serviceResponse` XML
  (attributes only in the CAS 3 reply); failure codes INVALID_REQUEST,
  INVALID_TICKET_SPEC, INVALID_TICKET, INVALID_SERVICE.
- `GET /logout?service=` — ends the TGT and POSTs a SAML `LogoutRequest` to
  `<service origin>/cas/slo` for every service ticket it issued (back-channel, bounded
  timeout), then returns to `service`.
- `POST /v1/tickets`, `POST|DELETE /v1/tickets/TGT-…` — the REST protocol, offered only
  when `HALL_CAS_REST` is on (a school's CAS without REST answers 404).

People are the hall's active people (the directory is handed in by the app factory).
Service tickets are `ST-` + 61 random characters (64 in all), single use, valid 5 minutes.
The login form carries a single-use login ticket bound to a CSRF cookie; wrong passwords
are counted per userid and per IP. All state is in Redis under `sandbox:cas:`, so the web
processes and workers share it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import requests
from flask import Blueprint, Response, make_response, redirect, render_template, request
from redis import Redis
from werkzeug.wrappers import Response as BaseResponse

from sso.client import CAS_NS, TimeoutSession
from sso.slo import logout_request_xml

logger = logging.getLogger(__name__)

URL_PREFIX = "/_sandbox/cas"
COOKIE_PATH = URL_PREFIX + "/"
SANDBOX_PASSWORD = "demo"  # noqa: S105 - documented password of the sandbox's demo people
PREFIX = "sandbox:cas:"
TGT_COOKIE = "CASTGC"
CSRF_COOKIE = "CASCSRF"
ST_LIFETIME = 300  # seconds: the protocol's upper bound
TGT_LIFETIME = 8 * 3600
LT_LIFETIME = 600
FAILURE_WINDOW = 900
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_IP = 20
SLO_TIMEOUT = 3.0
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class SandboxAccount:
    """A person the sandbox CAS accepts, with the attributes it releases."""

    userid: str
    name: str
    attributes: dict[str, list[str]] = field(default_factory=dict)


class Directory(Protocol):
    """Who may log in: the hall's active people (implemented by the app factory)."""

    def find(self, userid: str) -> SandboxAccount | None: ...

    def sample(self, limit: int) -> list[SandboxAccount]: ...


def _random(prefix: str, length: int) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length - len(prefix)))


def new_service_ticket() -> str:
    return _random("ST-", 64)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _with_ticket(service: str, ticket: str) -> str:
    return f"{service}{'&' if '?' in service else '?'}ticket={ticket}"


class SandboxCasState:
    """Tickets, login tickets and failure counters, all in Redis."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def _get_json(self, key: str) -> dict[str, Any] | None:
        raw = self.redis.get(PREFIX + key)
        return None if raw is None else dict(json.loads(raw))

    # ticket-granting tickets
    def issue_tgt(self, account: SandboxAccount, *, rest: bool) -> str:
        tgt = _random("TGT-", 64)
        record = {"userid": account.userid, "attributes": account.attributes, "rest": rest}
        self.redis.set(PREFIX + f"tgt:{tgt}", json.dumps(record), ex=TGT_LIFETIME)
        return tgt

    def tgt(self, tgt: str) -> dict[str, Any] | None:
        if not tgt.startswith("TGT-") or len(tgt) > 128:
            return None
        return self._get_json(f"tgt:{tgt}")

    def destroy_tgt(self, tgt: str) -> list[dict[str, str]]:
        """End a TGT; return the services (with their tickets) it logged into."""
        services_key = PREFIX + f"tgt:{tgt}:services"
        pipe = self.redis.pipeline()
        pipe.lrange(services_key, 0, -1)
        pipe.delete(PREFIX + f"tgt:{tgt}", services_key)
        raw_services, _ = pipe.execute()
        return [json.loads(item) for item in raw_services]

    # service tickets
    def issue_st(self, tgt: str, record: dict[str, Any], service: str, *, new_login: bool) -> str:
        ticket = new_service_ticket()
        data = {
            "service": service,
            "userid": record["userid"],
            "attributes": record["attributes"],
            "new_login": new_login,
            "issued": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        services_key = PREFIX + f"tgt:{tgt}:services"
        pipe = self.redis.pipeline()
        pipe.set(PREFIX + f"st:{ticket}", json.dumps(data), ex=ST_LIFETIME)
        if not record.get("rest"):
            pipe.rpush(services_key, json.dumps({"service": service, "ticket": ticket}))
            pipe.expire(services_key, TGT_LIFETIME)
        pipe.execute()
        return ticket

    def redeem_st(self, ticket: str) -> dict[str, Any] | None:
        """Single use: the ticket is gone after the first validation attempt, good or bad."""
        raw = self.redis.getdel(PREFIX + f"st:{ticket}")
        return None if raw is None else dict(json.loads(raw))

    # login tickets (CSRF for the form)
    def issue_login_ticket(self, csrf: str) -> str:
        lt = _random("LT-", 48)
        self.redis.set(PREFIX + f"lt:{lt}", _digest(csrf), ex=LT_LIFETIME)
        return lt

    def redeem_login_ticket(self, lt: str, csrf: str) -> bool:
        if not lt.startswith("LT-") or len(lt) > 64 or not csrf:
            return False
        stored = self.redis.getdel(PREFIX + f"lt:{lt}")
        if stored is None:
            return False
        text = stored.decode() if isinstance(stored, bytes) else str(stored)
        return hmac.compare_digest(text, _digest(csrf))

    # wrong-password counters
    def _failure_keys(self, userid: str, ip: str) -> tuple[str, str]:
        return PREFIX + f"fail:user:{_digest(userid)}", PREFIX + f"fail:ip:{ip}"

    def too_many_failures(self, userid: str, ip: str) -> bool:
        user_key, ip_key = self._failure_keys(userid, ip)
        user_count, ip_count = self.redis.mget(user_key, ip_key)
        return int(user_count or 0) >= MAX_FAILURES_PER_USER or (
            int(ip_count or 0) >= MAX_FAILURES_PER_IP
        )

    def record_failure(self, userid: str, ip: str) -> None:
        pipe = self.redis.pipeline()
        for key in self._failure_keys(userid, ip):
            # SET NX EX opens the window and INCR keeps its TTL; `EXPIRE … NX` needs Redis 7,
            # and `hall run`'s embedded redis-server is 6.2.
            pipe.set(key, 0, ex=FAILURE_WINDOW, nx=True)
            pipe.incr(key)
        pipe.execute()

    def clear_user_failures(self, userid: str) -> None:
        self.redis.delete(self._failure_keys(userid, "")[0])


def _service_response(inner: str) -> Response:
    body = (
        f'<cas:serviceResponse xmlns:cas="{CAS_NS}">\n{inner}\n</cas:serviceResponse>\n'
    ).encode()
    return Response(body, 200, content_type="application/xml; charset=UTF-8")


def _failure(code: str, message: str) -> Response:
    return _service_response(
        f'  <cas:authenticationFailure code="{code}">{escape(message)}</cas:authenticationFailure>'
    )


def _success(ticket: dict[str, Any], *, with_attributes: bool) -> Response:
    lines = [
        "  <cas:authenticationSuccess>",
        f"    <cas:user>{escape(ticket['userid'])}</cas:user>",
    ]
    if with_attributes:
        standard = {
            "authenticationDate": [ticket["issued"]],
            "isFromNewLogin": ["true" if ticket["new_login"] else "false"],
            "longTermAuthenticationRequestTokenUsed": ["false"],
        }
        lines.append("    <cas:attributes>")
        for name, values in {**standard, **ticket["attributes"]}.items():
            lines.extend(f"      <cas:{name}>{escape(value)}</cas:{name}>" for value in values)
        lines.append("    </cas:attributes>")
    lines.append("  </cas:authenticationSuccess>")
    return _service_response("\n".join(lines))


class SandboxCas:
    """The sandbox server's behaviour; `blueprint()` exposes it over HTTP."""

    def __init__(
        self,
        *,
        redis: Redis,
        directory: Directory,
        service_origins: Iterable[str],
        rest_enabled: bool,
        secure_cookies: bool,
        http: requests.Session | None = None,
    ) -> None:
        self.state = SandboxCasState(redis)
        self.directory = directory
        self.service_origins = frozenset(origin.rstrip("/") for origin in service_origins)
        self.rest_enabled = rest_enabled
        self.secure_cookies = secure_cookies
        self.http = http if http is not None else TimeoutSession(SLO_TIMEOUT)

    # helpers
    def service_allowed(self, service: str) -> bool:
        """The sandbox's service registry: http(s) URLs on the hall's own origin."""
        parts = urlsplit(service)
        if parts.scheme not in {"http", "https"} or not parts.netloc or "\\" in service:
            return False
        return f"{parts.scheme}://{parts.netloc}" in self.service_origins

    def check_password(self, userid: str, password: str) -> SandboxAccount | None:
        account = self.directory.find(userid) if userid and len(userid) <= 64 else None
        # Always compare, so an unknown userid takes as long as a wrong password.
        matches = hmac.compare_digest(password.encode(), SANDBOX_PASSWORD.encode())
        return account if account is not None and matches else None

    def authenticate(self, userid: str, password: str, ip: str) -> SandboxAccount | bool | None:
        """The account, None for bad credentials, False when rate-limited."""
        if self.state.too_many_failures(userid, ip):
            return False
        account = self.check_password(userid, password)
        if account is None:
            self.state.record_failure(userid, ip)
            logger.info("sandbox CAS: wrong userid or password for %r from %s", userid, ip)
            return None
        self.state.clear_user_failures(userid)
        return account

    def single_logout(self, services: list[dict[str, str]], userid: str) -> None:
        """Back-channel logout requests; a failing service is logged, never blocks logout."""
        for entry in services:
            parts = urlsplit(entry["service"])
            url = f"{parts.scheme}://{parts.netloc}/cas/slo"
            data = {"logoutRequest": logout_request_xml(entry["ticket"], userid)}
            try:
                reply = self.http.post(url, data=data, timeout=SLO_TIMEOUT, allow_redirects=False)
            except requests.RequestException as exc:
                logger.warning("sandbox CAS: single logout to %s failed: %s", url, exc)
                continue
            if reply.status_code != 200:
                logger.warning("sandbox CAS: %s answered %s to logout", url, reply.status_code)

    # pages
    def _page(self, template: str, status: int = 200, **context: Any) -> Response:
        return make_response(render_template(f"sandbox_cas/{template}", **context), status)

    def _login_form(
        self, service: str, *, renew: bool, error: str = "", userid: str = "", status: int = 200
    ) -> Response:
        csrf = request.cookies.get(CSRF_COOKIE, "")
        if not (20 <= len(csrf) <= 128):
            csrf = secrets.token_urlsafe(32)
        response = self._page(
            "login.html",
            status,
            service=service,
            renew=renew,
            error=error,
            userid=userid,
            lt=self.state.issue_login_ticket(csrf),
            people=self.directory.sample(30),
            password_hint=SANDBOX_PASSWORD,
        )
        response.set_cookie(
            CSRF_COOKIE,
            csrf,
            path=COOKIE_PATH,
            httponly=True,
            secure=self.secure_cookies,
            samesite="Strict",
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    def _message(self, title: str, text: str, status: int = 200) -> Response:
        return self._page("message.html", status, title=title, text=text)

    def _redirect_with_ticket(
        self, tgt: str, record: dict[str, Any], service: str, *, new: bool
    ) -> BaseResponse:
        ticket = self.state.issue_st(tgt, record, service, new_login=new)
        return redirect(_with_ticket(service, ticket), 302)

    # views
    def login_get(self) -> Any:
        service = request.args.get("service", "")
        renew = request.args.get("renew", "") == "true"
        if service and not self.service_allowed(service):
            return self._message("未授权的服务", "该应用未在统一身份认证登记，无法登录。", 403)
        tgt = request.cookies.get(TGT_COOKIE, "")
        record = self.state.tgt(tgt) if tgt else None
        if record is not None and not renew:
            if service:
                return self._redirect_with_ticket(tgt, record, service, new=False)
            return self._message("已登录", f"您已作为 {record['userid']} 登录统一身份认证。")
        if service and request.args.get("gateway", "") == "true":
            return redirect(service, 302)
        return self._login_form(service, renew=renew)

    def login_post(self) -> Any:
        service = request.form.get("service", "")
        renew = request.form.get("renew", "") == "true"
        userid = request.form.get("username", "").strip()
        if service and not self.service_allowed(service):
            return self._message("未授权的服务", "该应用未在统一身份认证登记，无法登录。", 403)
        if not self.state.redeem_login_ticket(
            request.form.get("lt", ""), request.cookies.get(CSRF_COOKIE, "")
        ):
            return self._login_form(
                service, renew=renew, error="页面已过期，请重新提交。", userid=userid, status=403
            )
        account = self.authenticate(userid, request.form.get("password", ""), _client_ip())
        if account is False:
            return self._login_form(
                service, renew=renew, error="密码错误次数过多，请 15 分钟后再试。", status=429
            )
        if not isinstance(account, SandboxAccount):
            return self._login_form(
                service, renew=renew, error="用户名或密码错误。", userid=userid, status=401
            )
        tgt = self.state.issue_tgt(account, rest=False)
        record = self.state.tgt(tgt)
        assert record is not None
        response: BaseResponse
        if service:
            response = self._redirect_with_ticket(tgt, record, service, new=True)
        else:
            response = self._message("登录成功", f"您已作为 {account.userid} 登录统一身份认证。")
        response.set_cookie(
            TGT_COOKIE,
            tgt,
            path=COOKIE_PATH,
            httponly=True,
            secure=self.secure_cookies,
            samesite="Lax",
        )
        return response

    def validate(self, *, with_attributes: bool) -> Response:
        ticket = request.args.get("ticket", "")
        service = request.args.get("service", "")
        if not ticket or not service:
            return _failure("INVALID_REQUEST", "'service' and 'ticket' are required")
        if not ticket.startswith("ST-") or len(ticket) > 256:
            return _failure("INVALID_TICKET_SPEC", f"Ticket {ticket} is not a service ticket")
        record = self.state.redeem_st(ticket)
        if record is None:
            return _failure("INVALID_TICKET", f"Ticket {ticket} not recognized")
        if record["service"] != service:
            return _failure("INVALID_SERVICE", f"Ticket {ticket} was not issued for this service")
        return _success(record, with_attributes=with_attributes)

    def logout(self) -> Any:
        service = request.args.get("service", "") or request.args.get("url", "")
        tgt = request.cookies.get(TGT_COOKIE, "")
        record = self.state.tgt(tgt) if tgt else None
        if record is not None:
            self.single_logout(self.state.destroy_tgt(tgt), record["userid"])
        response: BaseResponse
        if service and self.service_allowed(service):
            response = redirect(service, 302)
        else:
            response = self._message("已退出", "您已安全退出统一身份认证。")
        response.delete_cookie(TGT_COOKIE, path=COOKIE_PATH)
        return response

    def rest_create_tgt(self) -> Any:
        if not self.rest_enabled:
            return _plain("Not Found", 404)
        userid = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        if not userid or not password:
            return _plain("username and password are required", 400)
        account = self.authenticate(userid, password, _client_ip())
        if account is False:
            return _plain("too many failed attempts", 429)
        if not isinstance(account, SandboxAccount):
            return _plain("authentication failed", 401)
        tgt = self.state.issue_tgt(account, rest=True)
        location = f"{request.host_url.rstrip('/')}{URL_PREFIX}/v1/tickets/{tgt}"
        response = _plain(f"<a href='{location}'>{tgt}</a> created", 201)
        response.headers["Location"] = location
        return response

    def rest_service_ticket(self, tgt: str) -> Any:
        if not self.rest_enabled:
            return _plain("Not Found", 404)
        record = self.state.tgt(tgt)
        if record is None:
            return _plain("ticket-granting ticket not found", 404)
        service = request.form.get("service", "")
        if not self.service_allowed(service):
            return _plain("service not allowed", 400)
        return _plain(self.state.issue_st(tgt, record, service, new_login=True), 200)

    def rest_delete_tgt(self, tgt: str) -> Any:
        if not self.rest_enabled:
            return _plain("Not Found", 404)
        self.state.destroy_tgt(tgt)
        return _plain(tgt, 200)

    def blueprint(self) -> Blueprint:
        bp = Blueprint("sandbox_cas", __name__, template_folder="templates")
        bp.add_url_rule("/login", "login", self.login_get, methods=["GET"])
        bp.add_url_rule("/login", "login_post", self.login_post, methods=["POST"])
        bp.add_url_rule(
            "/p3/serviceValidate", "p3_validate", lambda: self.validate(with_attributes=True)
        )
        bp.add_url_rule(
            "/serviceValidate", "validate", lambda: self.validate(with_attributes=False)
        )
        bp.add_url_rule("/logout", "logout", self.logout)
        bp.add_url_rule("/v1/tickets", "rest_tgt", self.rest_create_tgt, methods=["POST"])
        bp.add_url_rule("/v1/tickets/<tgt>", "rest_st", self.rest_service_ticket, methods=["POST"])
        bp.add_url_rule(
            "/v1/tickets/<tgt>", "rest_delete", self.rest_delete_tgt, methods=["DELETE"]
        )
        return bp


def _plain(text: str, status: int) -> Response:
    return Response(text, status, content_type="text/plain; charset=utf-8")


def _client_ip() -> str:
    return request.remote_addr or "unknown"
