"""Access tokens shared by every process through Redis (doc 91039).

One token per (corp id, secret): the key holds a hash of the secret, so the hall's app and
the contacts-sync assistant never overwrite each other (wechatpy keys the expiry by corp id
only). A Redis lock serialises refreshes: when the token is missing, one process fetches it
and the others wait for the lock and then read the fresh value, so a fleet of workers makes
one `gettoken` call, not one each. WeCom limits `gettoken` like any API and a token lives
7200 s; we keep it until 5 minutes before it expires.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import redis

KEY_PREFIX = "wework:token"
EXPIRY_MARGIN = 300  # seconds before WeCom's expiry at which we stop using a token
LOCK_TIMEOUT = 60  # a crashed refresher releases the lock after this
# Delete the token only if it is the one the caller saw fail: a process holding a stale
# failure must not throw away the fresh token another process just stored.
_COMPARE_AND_DELETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

Fetcher = Callable[[], tuple[str, int]]


class TokenUnavailable(RuntimeError):
    """No token could be obtained while holding (or waiting for) the refresh lock."""


class TokenStore:
    """Get, share and refresh the access token of one (corp, secret)."""

    def __init__(
        self,
        redis_conn: redis.Redis,
        corp_id: str,
        secret: str,
        fetch: Fetcher,
        *,
        lock_wait: float = 30.0,
    ) -> None:
        digest = hashlib.sha256(f"{corp_id}\0{secret}".encode()).hexdigest()[:16]
        self.key = f"{KEY_PREFIX}:{corp_id}:{digest}"
        self.lock_key = f"{self.key}:lock"
        self._redis = redis_conn
        self._fetch = fetch
        self._lock_wait = lock_wait
        self._compare_and_delete = redis_conn.register_script(_COMPARE_AND_DELETE)

    def _read(self) -> str | None:
        value = self._redis.get(self.key)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    def peek(self) -> str | None:
        """The stored token, if any, without fetching."""
        return self._read()

    def get(self) -> str:
        """The current token, fetching it under the lock when there is none."""
        token = self._read()
        if token:
            return token
        lock = self._redis.lock(
            self.lock_key, timeout=LOCK_TIMEOUT, blocking_timeout=self._lock_wait
        )
        if not lock.acquire():
            raise TokenUnavailable(f"waited {self._lock_wait}s for {self.lock_key}")
        try:
            token = self._read()  # another process may have refreshed while we waited
            if token:
                return token
            token, expires_in = self._fetch()
            ttl = max(expires_in - EXPIRY_MARGIN, expires_in // 2, 1)
            self._redis.set(self.key, token, ex=ttl)
            return token
        finally:
            lock.release()

    def invalidate(self, token: str) -> None:
        """Forget `token` (WeCom said it is invalid or expired) unless already replaced."""
        self._compare_and_delete(keys=[self.key], args=[token])

    def ttl(self) -> int:
        """Seconds until the stored token is dropped (-2 when there is none)."""
        return int(self._redis.ttl(self.key))
