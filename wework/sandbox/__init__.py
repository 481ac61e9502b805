"""The sandbox WeCom: a real HTTP simulator of the WeCom API subset the hall uses.

Mounted by the app factory when `settings.sandbox` is true (`init_app(app)`):

- `/_sandbox/wecom/cgi-bin/…`: gettoken, message/send, message/update_template_card,
  department/*, user/*, media/upload, batch/*, auth/getuserinfo, user/authsucc,
  corp/get_join_qrcode — with WeCom's errcodes, token expiry and the app/contacts secret
  split (48002);
- `/_sandbox/wecom/`: a phone per member showing messages and cards; card buttons send a
  genuinely encrypted `template_card_event` callback to `{base_url}/wecom/callback`;
- `/_sandbox/wecom/api/messages?userid=U`: JSON of what WeCom delivered to U;
- `/_sandbox/wecom/api/{click,say,enter,faults,calls}`: the same actions for tests;
- `/_sandbox/wecom/connect/oauth2/authorize` and `/wwlogin/sso/login`: sign-in screens;
- `/_sandbox/wecom/join` (the join QR code's page) and the phone's "扫码加入学校": a member
  joins and WeCom's member verification sends them to the hall's `/join` with a single-use
  code (`/_sandbox/wecom/api/join` for tests); `user/authsucc` then activates them.

State lives in Redis under `sandbox:wecom:` (see `store.py`), never in the process.
"""

from __future__ import annotations

import redis
from flask import Flask

from config import Settings
from wework.sandbox import api, views
from wework.sandbox.store import SandboxStore

__all__ = ["SandboxStore", "init_app", "sandbox_store"]


def init_app(app: Flask, redis_conn: redis.Redis | None = None) -> None:
    """Mount the simulator. Redis: `redis_conn`, else `app.extensions["hall.redis"]`, else
    a client for HALL_REDIS_URL made on first use."""
    settings: Settings = app.extensions["hall.settings"]
    if redis_conn is not None:
        app.extensions["wework.sandbox.redis"] = redis_conn

    def get_store() -> SandboxStore:
        return sandbox_store(app)

    app.register_blueprint(api.make_blueprint(get_store))
    app.register_blueprint(views.make_blueprint(get_store))
    app.extensions["wework.sandbox"] = settings


def sandbox_store(app: Flask) -> SandboxStore:
    """The simulator's state for `app` (tests use it to arrange and inspect)."""
    settings: Settings = app.extensions["hall.settings"]
    conn = app.extensions.get("wework.sandbox.redis") or app.extensions.get("hall.redis")
    if conn is None:
        if not settings.redis_url:
            raise RuntimeError(
                "沙箱企业微信需要 Redis：请设置 HALL_REDIS_URL（hall run 会自动设置）"
            )
        conn = redis.Redis.from_url(settings.redis_url)
        app.extensions["wework.sandbox.redis"] = conn
    return SandboxStore(conn, settings)
