"""Errors raised by the WeCom client. Error codes: https://developer.work.weixin.qq.com/document/path/90313"""

from __future__ import annotations

# Token errors: refetch the token once, then fail (never loop).
INVALID_CREDENTIAL = 40001
INVALID_ACCESS_TOKEN = 40014
EXPIRED_ACCESS_TOKEN = 42001
TOKEN_ERRORS = frozenset({INVALID_CREDENTIAL, INVALID_ACCESS_TOKEN, EXPIRED_ACCESS_TOKEN})
# Transient: retry with backoff, at most three times.
SYSTEM_BUSY = -1
# Rate limits: the caller requeues the job after `retry_after` seconds.
API_FREQ_OUT_OF_LIMIT = 45009
API_CONCURRENT_OUT_OF_LIMIT = 45033
RATE_LIMIT_ERRORS = frozenset({API_FREQ_OUT_OF_LIMIT, API_CONCURRENT_OUT_OF_LIMIT})


class WeComError(Exception):
    """WeCom answered with a non-zero errcode (or could not be reached at all)."""

    def __init__(self, errcode: int | None, errmsg: str, *, path: str = "") -> None:
        super().__init__(f"WeCom {path or 'API'}: errcode={errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.path = path


class WeComUnavailable(WeComError):
    """Timeouts, connection errors, HTTP 5xx or errcode -1 persisted through every retry."""


class RateLimited(WeComError):
    """45009 / 45033, or the per-member message limit: try again after `retry_after` s."""

    def __init__(
        self, errcode: int | None, errmsg: str, *, retry_after: float, path: str = ""
    ) -> None:
        super().__init__(errcode, errmsg, path=path)
        self.retry_after = retry_after
