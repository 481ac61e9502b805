"""Server-side sessions in Redis: cookie flags, fixation, no resurrection after logout."""

from __future__ import annotations

from pathlib import Path

import redis
from flask import Flask

from config import load_settings
from hall.db import Database
from sso.sessions import SESSION_PREFIX, SessionStore, session_key
from web.app import create_app


def _app(db: Database, tmp_path: Path, conn: redis.Redis | None, **overrides: object) -> Flask:
    settings = load_settings(
        var_dir=tmp_path,
        secret_key="test-secret",
        database_url=db.engine.url.render_as_string(hide_password=False),
        sandbox=True,
        **overrides,
    )
    return create_app(settings, database=db, redis=conn)


def test_https_sessions_get_a_secure_cookie(db, redis_conn, tmp_path) -> None:
    app = _app(db, tmp_path, redis_conn, base_url="https://hall.school.example")
    client = app.test_client()
    reply = client.get("/login/wecom", base_url="https://hall.school.example")
    cookie = reply.headers["Set-Cookie"]
    assert cookie.startswith("hall_session=")
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    sid = cookie.split(";")[0].split("=", 1)[1]
    # Redis holds the data under the id's hash, never the cookie value itself.
    assert redis_conn.exists(SESSION_PREFIX + session_key(sid))
    assert not redis_conn.exists(SESSION_PREFIX + sid)


def test_an_ended_session_is_not_brought_back_by_a_racing_request(redis_conn) -> None:
    store = SessionStore(redis_conn)
    store.save("k", {"person_id": 1}, existing=False)
    store.end("k")
    store.save("k", {"person_id": 1, "seen": True}, existing=True)
    assert store.load("k") is None


def test_a_forged_cookie_opens_an_empty_session(db, redis_conn, tmp_path) -> None:
    app = _app(db, tmp_path, redis_conn)
    client = app.test_client()
    client.set_cookie("hall_session", "forged-" + "x" * 40)
    reply = client.get("/api/v1/me")
    assert reply.status_code == 401
    assert "Set-Cookie" not in reply.headers


def test_without_redis_there_is_no_sign_in(db, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("HALL_REDIS_URL", raising=False)
    app = _app(db, tmp_path, None)
    assert app.test_client().get("/login").status_code == 404
