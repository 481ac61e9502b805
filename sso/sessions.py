"""Server-side sessions in Redis, so any web node can end any session (CAS single logout).

The cookie holds only a random id (256 bits); Redis holds the data under the id's SHA-256,
so a copy of Redis does not hand out live cookies. Logging in rotates the id (no session
fixation). `SessionStore.end(key)` deletes a session wherever it was created, and
`link_ticket`/`session_for_ticket` keep the CAS service ticket → session mapping that the
back-channel logout request names.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from flask import Flask, Request, Response
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface, SessionMixin
from redis import Redis
from werkzeug.datastructures import CallbackDict

SESSION_PREFIX = "hall:session:"
TICKET_PREFIX = "hall:cas:st:"
COOKIE_NAME = "hall_session"
DEFAULT_LIFETIME = timedelta(hours=8)


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def session_key(sid: str) -> str:
    """The Redis key id of a cookie's session id (its SHA-256, never the id itself)."""
    return hashlib.sha256(sid.encode()).hexdigest()


class RedisSession(CallbackDict[str, Any], SessionMixin):
    """A dict that knows its id and whether it changed."""

    def __init__(self, initial: dict[str, Any] | None = None, sid: str = "", *, new: bool) -> None:
        def on_update(_self: Any) -> None:
            self.modified = True

        super().__init__(initial, on_update)
        self.sid = sid or new_session_id()
        self.new = new
        self.modified = False
        self.ended_sids: list[str] = []

    @property
    def key(self) -> str:
        return session_key(self.sid)

    def rotate(self) -> None:
        """Give the session a fresh id (on login); the old id's data is deleted on save."""
        if not self.new:
            self.ended_sids.append(self.sid)
        self.sid = new_session_id()
        self.new = True
        self.modified = True


class SessionStore:
    """The Redis side: session data, their lifetime, and the service-ticket index."""

    def __init__(self, redis: Redis, lifetime: timedelta = DEFAULT_LIFETIME) -> None:
        self.redis = redis
        self.lifetime = lifetime
        self.serializer = TaggedJSONSerializer()

    def load(self, key: str) -> dict[str, Any] | None:
        raw = self.redis.get(SESSION_PREFIX + key)
        if raw is None:
            return None
        data: dict[str, Any] = self.serializer.loads(
            raw.decode() if isinstance(raw, bytes) else raw
        )
        return data

    def save(self, key: str, data: dict[str, Any], *, existing: bool) -> None:
        """Store a session. An existing one is only overwritten while it still exists, so a
        request racing a single logout cannot bring the ended session back."""
        self.redis.set(
            SESSION_PREFIX + key, self.serializer.dumps(data), ex=self.lifetime, xx=existing
        )

    def touch(self, key: str) -> None:
        self.redis.expire(SESSION_PREFIX + key, self.lifetime)

    def end(self, key: str) -> bool:
        """Delete a session; True when it existed."""
        return bool(self.redis.delete(SESSION_PREFIX + key))

    def link_ticket(self, ticket: str, key: str) -> None:
        """Remember which session a CAS service ticket created (for single logout)."""
        self.redis.set(TICKET_PREFIX + ticket, key, ex=self.lifetime)

    def session_for_ticket(self, ticket: str) -> str | None:
        raw = self.redis.get(TICKET_PREFIX + ticket)
        return raw.decode() if isinstance(raw, bytes) else raw

    def forget_ticket(self, ticket: str) -> None:
        self.redis.delete(TICKET_PREFIX + ticket)


class RedisSessionInterface(SessionInterface):
    """Flask's session interface over `SessionStore`; the cookie is HttpOnly and SameSite=Lax
    (and Secure when the app says so: `SESSION_COOKIE_SECURE`, set for https base URLs)."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store

    def open_session(self, app: Flask, request: Request) -> RedisSession:  # noqa: ARG002 - Flask's signature
        sid = request.cookies.get(COOKIE_NAME, "")
        if sid and len(sid) <= 128:
            data = self.store.load(session_key(sid))
            if data is not None:
                return RedisSession(data, sid, new=False)
        return RedisSession(new=True)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, RedisSession)
        for sid in session.ended_sids:
            self.store.end(session_key(sid))
        session.ended_sids.clear()
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        secure = self.get_cookie_secure(app)
        samesite = self.get_cookie_samesite(app) or "Lax"
        if not session:
            if not session.new:
                self.store.end(session.key)
                response.delete_cookie(
                    COOKIE_NAME,
                    path=path,
                    domain=domain,
                    secure=secure,
                    httponly=True,
                    samesite=samesite,
                )
            return
        response.vary.add("Cookie")
        if session.modified or session.new:
            self.store.save(session.key, dict(session), existing=not session.new)
            response.set_cookie(
                COOKIE_NAME,
                session.sid,
                path=path,
                domain=domain,
                secure=secure,
                httponly=True,
                samesite=samesite,
            )
        else:
            self.store.touch(session.key)
