"""The WeCom API client, built on wechatpy's enterprise client (docs 90664, 90313).

wechatpy 1.8.18 gives us the client shape (API areas as attributes, a requests session) and
its other API areas (`client.tag`, `client.media`, `client.agent`, …). We replace what does
not fit a fleet of processes:

- the token lives in Redis, one key per (corp, secret hash), refreshed under a lock
  (`wework.tokens.TokenStore`); wechatpy ignores the API base for `gettoken`;
- every HTTP call has a timeout; retries are bounded and iterative, never recursive:
  40001/40014/42001 refetch the token once and then fail, -1 / timeouts / HTTP 5xx retry
  with exponential backoff at most `max_retries` (3) times, 45009/45033 raise `RateLimited`
  at once so the job can requeue itself;
- the areas the hall uses are ours and typed: `message` (incl. template cards and
  `update_template_card`), `user`, `department`, `batch`, `oauth` and `auth`.

Two credentials exist (doc 90195): the hall's app (messages, cards, OAuth) and the
contacts-sync assistant (the only one allowed to write contacts; errcode 48002 otherwise).
Build them with `app_client(settings, redis)` and `contacts_client(settings, redis)`.
Limits: per corp per API 10,000 calls/min and 150,000/h; per IP 20,000/min.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, Self
from urllib.parse import urlsplit

import redis
import requests
from wechatpy.enterprise import WeChatClient

from config import Settings
from wework.api import AuthAPI, BatchAPI, DepartmentAPI, MessageAPI, OAuthAPI, UserAPI
from wework.errors import (
    RATE_LIMIT_ERRORS,
    SYSTEM_BUSY,
    TOKEN_ERRORS,
    RateLimited,
    WeComError,
    WeComUnavailable,
)
from wework.ratelimit import MemberRateLimiter
from wework.tokens import TokenStore

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (3.05, 10.0)  # (connect, read) seconds for every HTTP call
MAX_RETRIES = 3  # for -1, timeouts, connection errors and HTTP 5xx
BACKOFF = 0.5  # seconds; doubles on each retry
RATE_LIMIT_RETRY_AFTER = 60.0  # WeCom blocks for the rest of the exceeded minute
OAUTH_AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
QR_LOGIN_URL = "https://login.work.weixin.qq.com/wwlogin/sso/login"


class _TransientError(Exception):
    """One attempt failed in a way worth retrying."""

    def __init__(self, errcode: int | None, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


class WeComClient(WeChatClient):  # type: ignore[misc]  # wechatpy ships no type hints
    """One WeCom credential (corp id + secret) with a shared token and bounded retries."""

    message: MessageAPI
    user: UserAPI
    department: DepartmentAPI
    batch: BatchAPI
    oauth: OAuthAPI
    auth: AuthAPI

    def __init__(
        self,
        corp_id: str,
        secret: str,
        *,
        redis_conn: redis.Redis,
        api_base: str,
        agent_id: int | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        max_retries: int = MAX_RETRIES,
        backoff: float = BACKOFF,
        oauth_authorize_url: str = OAUTH_AUTHORIZE_URL,
        qr_login_url: str = QR_LOGIN_URL,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(corp_id, secret, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = api_base.rstrip("/") + "/"
        self.agent_id = agent_id
        self.timeout: tuple[float, float] = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.oauth_authorize_url = oauth_authorize_url
        self.qr_login_url = qr_login_url
        self._sleep = sleep
        self.tokens = TokenStore(redis_conn, corp_id, secret, self._fetch_token)
        scope = f"{corp_id}:{agent_id}" if agent_id is not None else corp_id
        self.limiter = MemberRateLimiter(redis_conn, scope)
        self.message = MessageAPI(self)
        self.user = UserAPI(self)
        self.department = DepartmentAPI(self)
        self.batch = BatchAPI(self)
        self.oauth = OAuthAPI(self)
        self.auth = AuthAPI(self)

    # -- wechatpy hooks: its own API areas (tag, media, agent, ...) land here too --------

    @property
    def access_token(self) -> str:
        return self.tokens.get()

    def fetch_access_token(self) -> dict[str, Any]:
        """Fetch a new token now (replacing the shared one) and return it like wechatpy."""
        current = self.tokens.peek()
        if current:
            self.tokens.invalidate(current)
        return {"access_token": self.tokens.get()}

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        kwargs.pop("api_base_url", None)
        kwargs.pop("result_processor", None)
        params = dict(kwargs.pop("params", None) or {})
        data = kwargs.pop("data", None)
        body = data if isinstance(data, dict | list) else None
        raw = None if body is not None else data
        return self.call(
            method.upper(),
            url_or_endpoint,
            params=params,
            json_body=body,
            data=raw,
            files=kwargs.pop("files", None),
        )

    def close(self) -> None:
        """Close the HTTP session's pooled connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- our request loop ---------------------------------------------------------------

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        """GET `path` relative to the API base with query `params` (or wechatpy's
        `params={...}` / `api_base_url=` keywords, for its own API areas)."""
        params.pop("api_base_url", None)
        nested = params.pop("params", None)
        if isinstance(nested, dict):
            params = {**nested, **params}
        return self.call("GET", path, params=params)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> dict[str, Any]:
        """POST a JSON `body` (or wechatpy-style `data=`) to `path`."""
        if kwargs:
            result: dict[str, Any] = self._request("post", path, **kwargs)
            return result
        return self.call("POST", path, json_body=body)

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        data: Any = None,
        files: Any = None,
        with_token: bool = True,
    ) -> dict[str, Any]:
        """One API call with a shared token, a timeout and bounded, iterative retries."""
        path = self._endpoint(path)
        token_refetched = False
        transient = 0
        while True:
            query = {k: v for k, v in (params or {}).items() if k != "access_token"}
            token = ""
            if with_token:
                token = self.tokens.get()
                query["access_token"] = token
            try:
                result = self._attempt(
                    method, path=path, query=query, json_body=json_body, data=data, files=files
                )
            except _TransientError as exc:
                transient += 1
                if transient > self.max_retries:
                    raise WeComUnavailable(exc.errcode, exc.errmsg, path=path) from exc
                delay = self.backoff * 2 ** (transient - 1)
                logger.warning(f"WeCom {path}: {exc.errmsg}; retry {transient} in {delay}s")
                self._sleep(delay)
                continue
            errcode = int(result.get("errcode", 0) or 0)
            errmsg = str(result.get("errmsg", ""))
            if errcode == 0:
                return result
            if errcode in TOKEN_ERRORS and with_token and not token_refetched:
                logger.info(f"WeCom {path}: errcode {errcode}, refetching the token once")
                self.tokens.invalidate(token)
                token_refetched = True
                continue
            if errcode in RATE_LIMIT_ERRORS:
                raise RateLimited(errcode, errmsg, retry_after=RATE_LIMIT_RETRY_AFTER, path=path)
            raise WeComError(errcode, errmsg, path=path)

    def _endpoint(self, path: str) -> str:
        base: str = self.API_BASE_URL
        if path.startswith(base):
            return path[len(base) :]
        if path.startswith(("http://", "https://")):
            raise ValueError(f"{path} is not under the API base {base}")
        return path.lstrip("/")

    def _attempt(
        self,
        method: str,
        *,
        path: str,
        query: dict[str, Any],
        json_body: Any,
        data: Any,
        files: Any,
    ) -> dict[str, Any]:
        if json_body is not None:
            data = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json"} if json_body is not None else {}
        try:
            response = self._http.request(
                method,
                self.API_BASE_URL + path,
                params=query,
                data=data,
                files=files,
                headers=headers,
                timeout=self.timeout,
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise _TransientError(None, f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise _TransientError(None, f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise WeComError(None, f"HTTP {response.status_code}", path=path)
        try:
            result = response.json()
        except ValueError as exc:
            raise WeComError(None, "the answer is not JSON", path=path) from exc
        if not isinstance(result, dict):
            raise WeComError(None, "the answer is not a JSON object", path=path)
        if int(result.get("errcode", 0) or 0) == SYSTEM_BUSY:
            raise _TransientError(SYSTEM_BUSY, str(result.get("errmsg", "system busy")))
        return result

    def _fetch_token(self) -> tuple[str, int]:
        """`GET gettoken` (doc 91039): called by the token store under its lock."""
        result = self.call(
            "GET",
            "gettoken",
            params={"corpid": self.corp_id, "corpsecret": self.secret},
            with_token=False,
        )
        token = result.get("access_token")
        if not isinstance(token, str) or not token:
            raise WeComError(None, "gettoken returned no access_token", path="gettoken")
        return token, int(result.get("expires_in", 7200))


def _client(
    settings: Settings, redis_conn: redis.Redis, secret: str, *, agent: bool, **options: Any
) -> WeComClient:
    extra: dict[str, Any] = dict(options)
    if settings.sandbox:
        root = settings.wecom_api_base.rstrip("/")
        root = root.removesuffix("/cgi-bin")
        extra["oauth_authorize_url"] = f"{root}/connect/oauth2/authorize"
        extra["qr_login_url"] = f"{root}/wwlogin/sso/login"
    if not urlsplit(settings.wecom_api_base).scheme:
        raise ValueError("HALL_WECOM_API_BASE must be an http(s) URL")
    return WeComClient(
        settings.wecom_corp_id,
        secret,
        redis_conn=redis_conn,
        api_base=settings.wecom_api_base,
        agent_id=settings.wecom_agent_id if agent else None,
        **extra,
    )


def app_client(settings: Settings, redis_conn: redis.Redis, **options: Any) -> WeComClient:
    """The hall's own app: messages, template cards, OAuth, `user/authsucc`.

    `options` go to `WeComClient` (timeout, max_retries, backoff, sleep).
    """
    return _client(settings, redis_conn, settings.wecom_secret, agent=True, **options)


def contacts_client(settings: Settings, redis_conn: redis.Redis, **options: Any) -> WeComClient:
    """The contacts-sync assistant: the only credential that may write contacts."""
    return _client(settings, redis_conn, settings.wecom_contacts_secret, agent=False, **options)
