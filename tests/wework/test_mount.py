"""The app factory mounts the simulator in sandbox mode only."""

from __future__ import annotations

from pathlib import Path

import redis

from config import load_settings
from tests.conftest import REDIS_URL
from web.app import app_db, create_app


def test_sandbox_is_mounted_by_the_factory(redis_conn: redis.Redis, tmp_path: Path) -> None:
    settings = load_settings(sandbox=True, var_dir=tmp_path, secret_key="k", redis_url=REDIS_URL)
    app = create_app(settings)
    try:
        http = app.test_client()
        assert "模拟手机" in http.get("/_sandbox/wecom/").get_data(as_text=True)
        answer = http.get(
            "/_sandbox/wecom/cgi-bin/gettoken",
            query_string={"corpid": settings.wecom_corp_id, "corpsecret": "nope"},
        ).get_json()
        assert answer["errcode"] == 40001
        answer = http.get(
            "/_sandbox/wecom/cgi-bin/gettoken",
            query_string={"corpid": settings.wecom_corp_id, "corpsecret": settings.wecom_secret},
        ).get_json()
        assert answer["errcode"] == 0
        assert answer["expires_in"] == 7200
    finally:
        app_db(app).engine.dispose()
        conn = app.extensions.get("wework.sandbox.redis")
        if conn is not None:
            conn.close()


def test_not_mounted_for_a_real_corp(tmp_path: Path) -> None:
    settings = load_settings(
        sandbox=False,
        wecom_corp_id="ww1",
        wecom_agent_id=1000002,
        wecom_secret="s",
        wecom_token="t",
        wecom_aes_key="6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
        wecom_contacts_secret="cs",
        wecom_contacts_token="ct",
        wecom_contacts_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        cas_url="https://cas.example.edu.cn/cas/",
        var_dir=tmp_path,
        secret_key="k",
        redis_url=REDIS_URL,
    )
    app = create_app(settings)
    try:
        assert app.test_client().get("/_sandbox/wecom/").status_code == 404
    finally:
        app_db(app).engine.dispose()
