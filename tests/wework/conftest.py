"""The sandbox WeCom served over real HTTP (werkzeug, a thread, 127.0.0.1, a free port),
real Redis (`redis_conn`), and a tiny callback receiver standing in for the hall's
`/wecom/callback` (it decrypts with WeComCrypto and answers with a passive reply)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from defusedxml import ElementTree
from flask import Flask, Response, request
from werkzeug.serving import make_server

from config import Settings, load_settings
from wework import sandbox
from wework.client import WeComClient, app_client, contacts_client
from wework.crypto import WeComCrypto
from wework.sandbox.delivery import event_xml
from wework.sandbox.store import SandboxStore


@dataclass
class Receiver:
    """Records every decrypted callback; `status` and `reply` script its answers."""

    crypto: WeComCrypto | None = None
    received: list[dict[str, str]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in order, then 200
    reply: str = "update_button"  # "update_button", "text", or "" for an empty 200
    replace_name: str = "已同意"
    delay: float = 0.0  # seconds before answering


@dataclass
class Sandbox:
    app: Flask
    settings: Settings
    store: SandboxStore
    receiver: Receiver
    base: str
    redis: redis.Redis

    def client(self, **options: Any) -> WeComClient:
        options.setdefault("backoff", 0.01)
        options.setdefault("timeout", (2.0, 5.0))
        return app_client(self.settings, self.redis, **options)

    def contacts(self, **options: Any) -> WeComClient:
        options.setdefault("backoff", 0.01)
        options.setdefault("timeout", (2.0, 5.0))
        return contacts_client(self.settings, self.redis, **options)


def _receiver_view(receiver: Receiver, settings: Settings) -> Response:
    crypto = receiver.crypto
    assert crypto is not None
    args = request.args
    envelope = ElementTree.fromstring(request.get_data())
    encrypt = envelope.findtext("Encrypt") or ""
    assert envelope.findtext("ToUserName") == settings.wecom_corp_id
    if not crypto.check_signature(args["msg_signature"], args["timestamp"], args["nonce"], encrypt):
        return Response("bad signature", 403)
    plaintext = crypto.decrypt(encrypt).decode()
    time.sleep(receiver.delay)
    receiver.raw.append(plaintext)
    root = ElementTree.fromstring(plaintext)
    receiver.received.append({child.tag: child.text or "" for child in root})
    if receiver.statuses:
        return Response("", receiver.statuses.pop(0))
    fields = receiver.received[-1]
    if receiver.reply == "update_button" and fields.get("Event") == "template_card_event":
        reply = (
            f"<xml><ToUserName><![CDATA[{fields['FromUserName']}]]></ToUserName>"
            f"<FromUserName><![CDATA[{settings.wecom_corp_id}]]></FromUserName>"
            f"<CreateTime>{fields['CreateTime']}</CreateTime>"
            "<MsgType><![CDATA[update_button]]></MsgType>"
            f"<Button><ReplaceName><![CDATA[{receiver.replace_name}]]></ReplaceName></Button></xml>"
        )
    elif receiver.reply == "text":
        reply = event_xml(
            [
                ("ToUserName", fields["FromUserName"]),
                ("FromUserName", settings.wecom_corp_id),
                ("CreateTime", int(fields["CreateTime"])),
                ("MsgType", "text"),
                ("Content", "您有 2 条待办"),
            ]
        )
    else:
        return Response("", 200)
    return Response(crypto.encrypt_reply(reply, args["timestamp"], args["nonce"]), 200)


def serve(app: Flask) -> tuple[Any, threading.Thread]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    return server, thread


@pytest.fixture
def wecom(redis_conn: redis.Redis, tmp_path: Path) -> Iterator[Sandbox]:
    app = Flask("wework-sandbox-test")
    server, thread = serve(app)
    base = f"http://127.0.0.1:{server.server_port}"
    settings = load_settings(
        sandbox=True, base_url=base, var_dir=tmp_path, secret_key="test", redis_url=""
    )
    app.extensions["hall.settings"] = settings
    sandbox.init_app(app, redis_conn)
    receiver = Receiver(
        crypto=WeComCrypto(settings.wecom_token, settings.wecom_aes_key, settings.wecom_corp_id)
    )
    app.add_url_rule(
        "/wecom/callback",
        "test_receiver",
        lambda: _receiver_view(receiver, settings),
        methods=["POST"],
    )
    thread.start()
    try:
        yield Sandbox(
            app=app,
            settings=settings,
            store=sandbox.sandbox_store(app),
            receiver=receiver,
            base=base,
            redis=redis_conn,
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def add_people(wecom: Sandbox, *userids: str) -> None:
    """Members in a fresh department, created through the real contacts API."""
    with wecom.contacts() as contacts:
        dept = contacts.department.create("测试学院", 1)
        for i, userid in enumerate(userids):
            contacts.user.create(userid, f"成员{i}", department=[dept], mobile=f"138{i:08d}")
