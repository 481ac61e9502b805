"""The Flask app factory. Nothing is created at import time."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from redis import Redis
from sqlalchemy import text
from werkzeug.middleware.proxy_fix import ProxyFix

from callbacks import init_app as init_callbacks
from config import Settings, load_settings
from hall.db import Database
from hall.definitions import UPLOAD_MAX_MB
from sms import sandbox as sms_sandbox
from web.api import init_app as init_api
from web.auth import init_app as init_auth
from web.sms_receipts import init_app as init_sms_receipts
from web.views import init_app as init_views
from wework import sandbox as wecom_sandbox


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    redis: Redis | None = None,
) -> Flask:
    """Build the hall's web app. Tests pass their own settings, database and Redis."""
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        MAX_CONTENT_LENGTH=(UPLOAD_MAX_MB + 2) * 1024 * 1024,  # one file and the form
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    if settings.trusted_proxies:
        # The client's address only, and only through the hops the deployment says it
        # has: more would let a client forge it. Scheme and host stay HALL_BASE_URL's.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=0, x_host=0
        )
    db = database or Database(settings.database_url)
    app.extensions["hall.settings"] = settings
    app.extensions["hall.db"] = db
    if redis is None and settings.redis_url:
        # Bounded both ways: a hung Redis must not hold a WeCom callback past its 5 s.
        redis = Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    app.extensions["hall.redis"] = redis

    @app.get("/healthz")
    def healthz() -> Any:
        with db.reader() as session:
            session.execute(text("SELECT 1"))
        return jsonify(status="ok")

    init_auth(app, settings=settings, db=db, redis=redis)
    init_callbacks(app)
    init_sms_receipts(app)
    init_views(app)
    init_api(app)  # last: its error handlers defer to the pages' for other paths
    if settings.sandbox:
        wecom_sandbox.init_app(app)
        sms_sandbox.init_app(app)
    return app


def app_db(app: Flask) -> Database:
    db: Database = app.extensions["hall.db"]
    return db


def app_settings(app: Flask) -> Settings:
    settings: Settings = app.extensions["hall.settings"]
    return settings
