"""WeCom's callbacks: verify, decrypt, dedupe, parse, dispatch to hall services, reply.

`init_app(app)` mounts `/wecom/callback` and `/wecom/contacts/callback`; it reads the
settings, the database and Redis that the app factory put in `app.extensions`.
"""

from __future__ import annotations

from flask import Flask
from redis import Redis

from callbacks.service import CallbackService
from callbacks.views import bp
from config import SettingsError


def init_app(app: Flask) -> None:
    def redis_conn() -> Redis:
        connection: Redis | None = app.extensions.get("hall.redis")
        if connection is None:
            raise SettingsError("HALL_REDIS_URL: WeCom callbacks need Redis to dedupe retries")
        return connection

    app.extensions["hall.callbacks"] = CallbackService(
        settings=app.extensions["hall.settings"],
        db=app.extensions["hall.db"],
        redis_conn=redis_conn,
    )
    app.register_blueprint(bp)
