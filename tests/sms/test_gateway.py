"""HttpGateway (sms/http.py) against the sandbox SMS gateway (sms/sandbox.py) served over
real HTTP on 127.0.0.1, with its state in a real Redis; and make_provider's choice."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from werkzeug.serving import make_server

import sms.sandbox
from config import Settings, SettingsError, load_settings
from config.settings import SANDBOX_SMS_SECRET, SANDBOX_SMS_SIGN_NAME
from sms.http import (
    SANDBOX_PATH,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    HttpGateway,
    signature,
)
from sms.providers import Sent, Sms, SmsError, SmsRateLimited, SmsRejected, make_provider
from tests.net import free_port

PHONE = "13800138000"
OTHER_PHONE = "13900139000"
CODE_TEXT = "【网上办事大厅】您的验证码为{code}，5分钟内有效。如非本人操作，请忽略本短信。"
RESULT_PARAMS = {
    "title": "请假申请",
    "outcome": "已通过",
    "serial": "BS-2024-0001",
    "no": "1",
}


@dataclass
class SmsSandbox:
    base: str
    settings: Settings
    redis: redis.Redis

    @property
    def url(self) -> str:
        return f"{self.base}{SANDBOX_PATH}"

    def gateway(self) -> HttpGateway:
        return HttpGateway.sandbox(self.settings)

    def inbox(self, phone: str) -> list[dict[str, Any]]:
        response = requests.get(
            f"{self.base}/_sandbox/sms/api/messages", params={"phone": phone}, timeout=5
        )
        assert response.status_code == 200
        body = response.json()
        assert body["phone"] == phone
        messages: list[dict[str, Any]] = body["messages"]
        return messages

    def fault(self, payload: Any) -> requests.Response:
        return requests.post(f"{self.base}/_sandbox/sms/api/faults", json=payload, timeout=5)

    def recorded(self) -> int:
        """Messages the sandbox ever accepted, for any phone."""
        return sum(1 for _ in self.redis.scan_iter(match=f"{sms.sandbox.PREFIX}inbox:*"))

    def post(
        self,
        body: bytes,
        *,
        stamp: str | None = None,
        signed: bytes | None = None,
        secret: str = SANDBOX_SMS_SECRET,
    ) -> requests.Response:
        """A hand-built gateway request: `signed` is the body the signature covers."""
        stamp = stamp if stamp is not None else str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: signature(secret, stamp, body if signed is None else signed),
        }
        return requests.post(self.url, data=body, headers=headers, timeout=5)


@pytest.fixture
def sandbox(redis_conn: redis.Redis, tmp_path: Path) -> Iterator[SmsSandbox]:
    app = Flask("sms-sandbox-test")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    base = f"http://127.0.0.1:{server.server_port}"
    settings = load_settings(
        sandbox=True, base_url=base, var_dir=tmp_path, secret_key="test", redis_url=""
    )
    app.extensions["hall.settings"] = settings
    app.extensions["hall.redis"] = redis_conn
    sms.sandbox.init_app(app)
    thread.start()
    try:
        yield SmsSandbox(base=base, settings=settings, redis=redis_conn)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def message_body(**overrides: Any) -> bytes:
    body = {
        "phone": PHONE,
        "sign_name": SANDBOX_SMS_SIGN_NAME,
        "template": "code",
        "params": {"code": "123456"},
        "text": CODE_TEXT.format(code="123456"),
        "out_id": "c1",
        **overrides,
    }
    return json.dumps(body, ensure_ascii=False).encode()


def code_sms(code: str = "246810", phone: str = PHONE, out_id: str = "c1") -> Sms:
    return Sms(phone, "code", {"code": code}, out_id)


# --- sending --------------------------------------------------------------------------


def test_code_sms_lands_in_the_phones_inbox(sandbox: SmsSandbox) -> None:
    gateway = sandbox.gateway()
    assert gateway.name == "sandbox"
    assert gateway.url == sandbox.url

    sent = gateway.send(code_sms("246810", out_id="login-42"))

    assert isinstance(sent, Sent)
    (message,) = sandbox.inbox(PHONE)
    assert message["text"] == CODE_TEXT.format(code="246810")
    assert message["text"].startswith("【网上办事大厅】您的验证码为246810")
    assert sent.provider_id == message["id"]
    assert sent.provider_id.startswith("SBX")
    assert message["out_id"] == "login-42"
    assert message["phone"] == PHONE
    assert message["template"] == "code"
    assert message["params"] == {"code": "246810"}
    assert message["via"] == "http"
    assert abs(message["at"] - time.time()) < 60
    assert sandbox.inbox(OTHER_PHONE) == []


def test_messages_are_listed_oldest_first(sandbox: SmsSandbox) -> None:
    gateway = sandbox.gateway()
    first = gateway.send(code_sms("111111", out_id="a"))
    second = gateway.send(Sms(PHONE, "result", RESULT_PARAMS, "b"))
    third = gateway.send(code_sms("333333", out_id="c"))

    messages = sandbox.inbox(PHONE)
    assert [m["id"] for m in messages] == [
        first.provider_id,
        second.provider_id,
        third.provider_id,
    ]
    assert [m["out_id"] for m in messages] == ["a", "b", "c"]
    assert len({first.provider_id, second.provider_id, third.provider_id}) == 3
    assert messages[1]["text"] == (
        "【网上办事大厅】您申请的请假申请已通过，办件编号BS-2024-0001。"
        f"详情请登录网上办事大厅查看：{sandbox.base}/m/1"
    )


def test_messages_endpoint_needs_a_phone(sandbox: SmsSandbox) -> None:
    response = requests.get(f"{sandbox.base}/_sandbox/sms/api/messages", timeout=5)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_phone"


def test_phone_page_shows_the_message_and_lists_the_phone(sandbox: SmsSandbox) -> None:
    sandbox.gateway().send(code_sms("975310"))

    page = requests.get(f"{sandbox.base}/_sandbox/sms/", params={"phone": PHONE}, timeout=5)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert CODE_TEXT.format(code="975310") in page.text

    index = requests.get(f"{sandbox.base}/_sandbox/sms/", timeout=5)
    assert index.status_code == 200
    assert f'href="?phone={PHONE}"' in index.text
    assert "975310" not in index.text  # no phone chosen: no messages shown


def test_http_provider_speaks_the_same_protocol(sandbox: SmsSandbox, tmp_path: Path) -> None:
    settings = load_settings(
        sandbox=True,
        base_url=sandbox.base,
        var_dir=tmp_path,
        secret_key="test",
        redis_url="",
        sms_provider="http",
        sms_http_url=sandbox.url,
        sms_http_secret=SANDBOX_SMS_SECRET,
    )
    provider = make_provider(settings)
    assert isinstance(provider, HttpGateway)
    assert provider.name == "http"
    sent = provider.send(code_sms("864200", out_id="h1"))
    (message,) = sandbox.inbox(PHONE)
    assert message["id"] == sent.provider_id
    assert message["out_id"] == "h1"


# --- signature and timestamp ----------------------------------------------------------


def test_wrong_secret_is_rejected_and_nothing_recorded(sandbox: SmsSandbox) -> None:
    gateway = HttpGateway(sandbox.url, "not-the-secret", sandbox.settings, name="sandbox")
    with pytest.raises(SmsRejected) as caught:
        gateway.send(code_sms())
    assert caught.value.code == "bad_signature"
    assert sandbox.inbox(PHONE) == []
    assert sandbox.recorded() == 0


def test_hand_built_request_with_a_fresh_stamp_is_accepted(sandbox: SmsSandbox) -> None:
    response = sandbox.post(message_body())
    assert response.status_code == 200
    reply = response.json()
    assert reply["ok"] is True
    assert [m["id"] for m in sandbox.inbox(PHONE)] == [reply["id"]]


@pytest.mark.parametrize("skew", [-301, -3600, 3600])
def test_stale_timestamp_is_refused(sandbox: SmsSandbox, skew: int) -> None:
    response = sandbox.post(message_body(), stamp=str(int(time.time()) + skew))
    assert response.status_code == 401
    assert response.json()["code"] == "bad_timestamp"
    assert sandbox.recorded() == 0


@pytest.mark.parametrize("stamp", ["", "abc", "-5", "1.5"])
def test_malformed_timestamp_is_refused(sandbox: SmsSandbox, stamp: str) -> None:
    response = sandbox.post(message_body(), stamp=stamp)
    assert response.status_code == 401
    assert response.json()["code"] == "bad_timestamp"
    assert sandbox.recorded() == 0


def test_tampered_body_is_refused(sandbox: SmsSandbox) -> None:
    honest = message_body(phone=PHONE)
    tampered = message_body(phone=OTHER_PHONE)
    response = sandbox.post(tampered, signed=honest)
    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"
    assert sandbox.inbox(PHONE) == []
    assert sandbox.inbox(OTHER_PHONE) == []


def test_missing_signature_is_refused(sandbox: SmsSandbox) -> None:
    response = requests.post(
        sandbox.url,
        data=message_body(),
        headers={TIMESTAMP_HEADER: str(int(time.time()))},
        timeout=5,
    )
    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"
    assert sandbox.recorded() == 0


def test_body_over_16_kib_is_refused(sandbox: SmsSandbox) -> None:
    body = message_body(out_id="x" * (16 * 1024))
    assert len(body) > sms.sandbox.BODY_MAX
    response = sandbox.post(body)
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert sandbox.recorded() == 0


def test_signed_body_that_is_not_a_json_object_is_refused(sandbox: SmsSandbox) -> None:
    for body in (b"not json", b"[1, 2]"):
        response = sandbox.post(body)
        assert response.status_code == 400
        assert response.json()["code"] == "bad_json"
    assert sandbox.recorded() == 0


# --- what the gateway refuses ---------------------------------------------------------


def test_unknown_template_is_rejected(sandbox: SmsSandbox) -> None:
    with pytest.raises(SmsRejected):
        sandbox.gateway().send(Sms(PHONE, "no_such_template", {"code": "123456"}, "u1"))
    assert sandbox.recorded() == 0


def test_gateway_refuses_an_unknown_template(sandbox: SmsSandbox) -> None:
    response = sandbox.post(message_body(template="no_such_template"))
    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "code": "bad_template",
        "message": "no approved template 'no_such_template'",
    }
    assert sandbox.recorded() == 0


@pytest.mark.parametrize("params", [{}, {"code": ""}, {"other": "1"}])
def test_missing_parameter_is_rejected(sandbox: SmsSandbox, params: dict[str, str]) -> None:
    with pytest.raises(SmsRejected) as caught:
        sandbox.gateway().send(Sms(PHONE, "code", params, "m1"))
    assert caught.value.code == "missing_params"
    assert sandbox.recorded() == 0


def test_missing_result_parameter_is_rejected(sandbox: SmsSandbox) -> None:
    params = {k: v for k, v in RESULT_PARAMS.items() if k != "serial"}
    with pytest.raises(SmsRejected) as caught:
        sandbox.gateway().send(Sms(PHONE, "result", params, "m2"))
    assert caught.value.code == "missing_params"
    assert sandbox.recorded() == 0


@pytest.mark.parametrize("phone", ["", "1380013800", "138001380001", "23800138000", "1380013800x"])
def test_bad_phone_is_rejected(sandbox: SmsSandbox, phone: str) -> None:
    with pytest.raises(SmsRejected) as caught:
        sandbox.gateway().send(code_sms(phone=phone))
    assert caught.value.code == "bad_phone"
    assert sandbox.recorded() == 0


def test_missing_sign_name_is_refused(sandbox: SmsSandbox) -> None:
    response = sandbox.post(message_body(sign_name=""))
    assert response.status_code == 400
    assert response.json()["code"] == "bad_sign_name"
    assert sandbox.recorded() == 0


# --- faults ---------------------------------------------------------------------------


def test_rate_limited_fault(sandbox: SmsSandbox) -> None:
    assert sandbox.fault({"fault": "rate_limited", "times": 2}).json() == {"ok": True}
    gateway = sandbox.gateway()
    for _ in range(2):
        with pytest.raises(SmsRateLimited) as caught:
            gateway.send(code_sms())
        assert caught.value.retry_after == 30
        assert caught.value.code == "rate_limited"
    assert sandbox.recorded() == 0

    sent = gateway.send(code_sms("135790"))  # the fault is used up
    assert [m["id"] for m in sandbox.inbox(PHONE)] == [sent.provider_id]


def test_rejected_fault(sandbox: SmsSandbox) -> None:
    assert sandbox.fault({"fault": "rejected", "times": 1}).status_code == 200
    gateway = sandbox.gateway()
    with pytest.raises(SmsRejected) as caught:
        gateway.send(code_sms())
    assert not isinstance(caught.value, SmsRateLimited)
    assert caught.value.code == "blacklisted"
    assert sandbox.recorded() == 0

    sent = gateway.send(code_sms())
    assert [m["id"] for m in sandbox.inbox(PHONE)] == [sent.provider_id]


def test_down_fault_is_transient(sandbox: SmsSandbox) -> None:
    assert sandbox.fault({"fault": "down", "times": 3}).status_code == 200
    gateway = sandbox.gateway()
    for _ in range(3):
        with pytest.raises(SmsError) as caught:
            gateway.send(code_sms())
        assert not isinstance(caught.value, (SmsRejected, SmsRateLimited))
        assert caught.value.code == "unavailable"
    assert sandbox.recorded() == 0

    sent = gateway.send(code_sms())
    assert [m["id"] for m in sandbox.inbox(PHONE)] == [sent.provider_id]


def test_times_defaults_to_one(sandbox: SmsSandbox) -> None:
    assert sandbox.fault({"fault": "down"}).status_code == 200
    gateway = sandbox.gateway()
    with pytest.raises(SmsError):
        gateway.send(code_sms())
    gateway.send(code_sms())
    assert len(sandbox.inbox(PHONE)) == 1


def test_refused_messages_do_not_consume_a_fault(sandbox: SmsSandbox) -> None:
    assert sandbox.fault({"fault": "down", "times": 1}).status_code == 200
    gateway = sandbox.gateway()
    with pytest.raises(SmsRejected):
        gateway.send(code_sms(phone="123"))
    with pytest.raises(SmsError) as caught:
        gateway.send(code_sms())
    assert caught.value.code == "unavailable"
    gateway.send(code_sms())
    assert len(sandbox.inbox(PHONE)) == 1


def test_delete_clears_faults(sandbox: SmsSandbox) -> None:
    assert sandbox.fault({"fault": "down", "times": 5}).status_code == 200
    cleared = requests.delete(f"{sandbox.base}/_sandbox/sms/api/faults", timeout=5)
    assert cleared.status_code == 200
    assert cleared.json() == {"ok": True}
    sent = sandbox.gateway().send(code_sms())
    assert [m["id"] for m in sandbox.inbox(PHONE)] == [sent.provider_id]


def test_setting_a_fault_replaces_the_previous_one(sandbox: SmsSandbox) -> None:
    assert sandbox.fault({"fault": "down", "times": 5}).status_code == 200
    assert sandbox.fault({"fault": "rejected", "times": 1}).status_code == 200
    gateway = sandbox.gateway()
    with pytest.raises(SmsRejected):
        gateway.send(code_sms())
    gateway.send(code_sms())
    assert len(sandbox.inbox(PHONE)) == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"fault": "exploded", "times": 1},
        {"times": 1},
        {"fault": "down", "times": -1},
        {"fault": "down", "times": 101},
        {"fault": "down", "times": "2"},
        {"fault": "down", "times": 1.5},
        ["down"],
        "down",
        None,
    ],
)
def test_faults_endpoint_refuses_bad_input(sandbox: SmsSandbox, payload: Any) -> None:
    response = sandbox.fault(payload)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_fault"
    # Nothing was armed: the next send goes through.
    sent = sandbox.gateway().send(code_sms())
    assert [m["id"] for m in sandbox.inbox(PHONE)] == [sent.provider_id]


def test_faults_endpoint_refuses_a_body_that_is_not_json(sandbox: SmsSandbox) -> None:
    response = requests.post(
        f"{sandbox.base}/_sandbox/sms/api/faults",
        data=b"fault=down",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["code"] == "bad_fault"


# --- the network ----------------------------------------------------------------------


def test_unreachable_gateway_is_a_transient_error(sandbox: SmsSandbox) -> None:
    port = free_port()  # bound and released: nothing listens there
    gateway = HttpGateway(
        f"http://127.0.0.1:{port}{SANDBOX_PATH}", SANDBOX_SMS_SECRET, sandbox.settings
    )
    started = time.monotonic()
    with pytest.raises(SmsError) as caught:
        gateway.send(code_sms())
    assert time.monotonic() - started < 5
    assert not isinstance(caught.value, (SmsRejected, SmsRateLimited))
    assert "unreachable" in str(caught.value)


# --- make_provider --------------------------------------------------------------------


def test_make_provider_sandbox(tmp_path: Path) -> None:
    base = "http://127.0.0.1:5999"
    settings = load_settings(
        sandbox=True, base_url=base, var_dir=tmp_path, secret_key="test", redis_url=""
    )
    assert settings.sms_provider == "sandbox"
    provider = make_provider(settings)
    assert isinstance(provider, HttpGateway)
    assert provider.name == "sandbox"
    assert provider.url == f"{base}/_sandbox/sms/gateway"
    assert provider.secret == SANDBOX_SMS_SECRET


def test_make_provider_refuses_the_sandbox_outside_sandbox_mode(tmp_path: Path) -> None:
    settings = load_settings(
        sandbox=False,
        wecom_corp_id="ww0123456789abcdef",
        var_dir=tmp_path,
        secret_key="test",
        redis_url="",
        sms_provider="sandbox",
    )
    with pytest.raises(SettingsError, match="HALL_SMS_PROVIDER"):
        make_provider(settings)


def test_make_provider_http_needs_its_url_and_secret(tmp_path: Path) -> None:
    settings = load_settings(
        sandbox=True,
        var_dir=tmp_path,
        secret_key="test",
        redis_url="",
        sms_provider="http",
    )
    with pytest.raises(SettingsError) as caught:
        make_provider(settings)
    message = str(caught.value)
    assert "HALL_SMS_HTTP_URL" in message
    assert "HALL_SMS_HTTP_SECRET" in message
    assert "HALL_SMS_SIGN_NAME" not in message  # the sandbox's default signature is set
