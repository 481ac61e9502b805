"""The Aliyun and Tencent providers, through the official SDKs, against the loopback
emulations of the vendors' SendSms served over real HTTP (no mocks of the HTTP layer)."""

from __future__ import annotations

import hashlib
import hmac
import io
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask, Response
from werkzeug.datastructures import EnvironHeaders
from werkzeug.serving import make_server

from config import Settings, SettingsError, load_settings
from sms import aliyun, tencent
from sms.aliyun import AliyunProvider
from sms.providers import Sent, Sms, SmsError, SmsRateLimited, SmsRejected, resolve_endpoint
from sms.tencent import TencentProvider
from sms.vendor_sandbox import (
    CLOCK_SKEW,
    VendorCredentials,
    VendorSms,
    endpoint,
    make_vendor_blueprint,
)
from tests.net import free_port

SIGN = "网上办事大厅"
TEMPLATE_CODE, TEMPLATE_RESULT = "100001", "100002"  # the vendors' ids of the templates
PHONE = "13800138000"
RESULT_PARAMS = {
    # Characters that must survive URL encoding, JSON and both canonical requests.
    "title": "请假申请 & 审批+1/2=半",
    "outcome": "已通过",
    "serial": "BS-2024~0001",
    "no": "12",
}

# Python 3.12+ deprecates utcnow()/utcfromtimestamp(), which both SDKs call to stamp
# requests; pytest turns warnings into errors, and the SDKs are not ours to change.
pytestmark = [
    pytest.mark.filterwarnings(
        r"ignore:datetime\.datetime\.utc\w+\(\) is deprecated:DeprecationWarning"
    ),
]


@dataclass
class Captured:
    method: str
    path: str  # with the raw query string
    headers: dict[str, str]
    body: bytes


@dataclass
class Gateway:
    """The emulations on a real loopback server, with what they accepted."""

    port: int
    sent: list[VendorSms] = field(default_factory=list)
    fault: str | None = None
    clock_offset: float = 0.0  # seconds the emulated vendors' clock is ahead
    last: Captured | None = None

    def endpoint(self, vendor: str) -> str:
        return endpoint(f"http://127.0.0.1:{self.port}", vendor)

    def replay(self, *, path: str | None = None, body: bytes | None = None) -> Any:
        """Send the last request again, byte for byte unless told otherwise."""
        assert self.last is not None
        reply = requests.request(
            self.last.method,
            f"http://127.0.0.1:{self.port}{path or self.last.path}",
            headers=self.last.headers,
            data=self.last.body if body is None else body,
            timeout=5,
        )
        return reply.status_code, reply.json()


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "sandbox": False,
        "wecom_corp_id": "x",
        "secret_key": "test",
        "var_dir": tmp_path,
        "sms_sign_name": SIGN,
    }
    values.update(overrides)
    return load_settings(**values)


def aliyun_settings(tmp_path: Path, gateway: Gateway, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "sms_provider": "aliyun",
        "sms_access_key_id": "LTAI5tTestAccessKey",
        "sms_access_key_secret": "aliyun-test-secret",
        "sms_template_code": TEMPLATE_CODE,
        "sms_template_result": TEMPLATE_RESULT,
        "sms_endpoint": gateway.endpoint("aliyun"),
    }
    values.update(overrides)
    return make_settings(tmp_path, **values)


def tencent_settings(tmp_path: Path, gateway: Gateway, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "sms_provider": "tencent",
        "sms_secret_id": "AKIDTestSecretId",
        "sms_secret_key": "tencent-test-secret",
        "sms_sdk_app_id": "1400000001",
        "sms_template_code": TEMPLATE_CODE,
        "sms_template_result": TEMPLATE_RESULT,
        "sms_endpoint": gateway.endpoint("tencent"),
    }
    values.update(overrides)
    return make_settings(tmp_path, **values)


def capturing(app: Flask, gateway: Gateway) -> Callable[..., Any]:
    """WSGI middleware keeping the last raw request, for replay and tampering tests."""
    inner = app.wsgi_app

    def middleware(environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {k: v for k, v in EnvironHeaders(environ).items() if k != "Content-Length"}
        query = environ.get("QUERY_STRING", "")
        path = environ["PATH_INFO"] + (f"?{query}" if query else "")
        gateway.last = Captured(environ["REQUEST_METHOD"], path, headers, body)
        return inner(environ, start_response)

    return middleware


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    gw = Gateway(port=0)  # the server's, once it listens
    # One app serves both emulations; each reads its own vendor's keys.
    settings = make_settings(
        tmp_path,
        sms_access_key_id="LTAI5tTestAccessKey",
        sms_access_key_secret="aliyun-test-secret",
        sms_secret_id="AKIDTestSecretId",
        sms_secret_key="tencent-test-secret",
        sms_sdk_app_id="1400000001",
        sms_template_code=TEMPLATE_CODE,
        sms_template_result=TEMPLATE_RESULT,
    )
    ids = itertools.count(1)

    def record(message: VendorSms) -> str:
        gw.sent.append(message)
        return f"{message.vendor}-{next(ids):06d}"

    app = Flask("sms-vendors")
    app.register_blueprint(
        make_vendor_blueprint(
            record,
            VendorCredentials.from_settings(settings),
            faults=lambda: gw.fault,
            now=lambda: time.time() + gw.clock_offset,
        )
    )
    app.wsgi_app = capturing(app, gw)  # type: ignore[method-assign]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    gw.port = server.server_port
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield gw
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def code_sms(phone: str = PHONE) -> Sms:
    return Sms(phone=phone, template="code", params={"code": "482915"}, out_id="msg-1")


def result_sms() -> Sms:
    return Sms(phone=PHONE, template="result", params=RESULT_PARAMS, out_id="msg-2")


# --- Aliyun -----------------------------------------------------------------------------


def test_aliyun_sends_through_the_sdk(gateway: Gateway, tmp_path: Path) -> None:
    provider = AliyunProvider.from_settings(aliyun_settings(tmp_path, gateway))
    assert provider.name == "aliyun"

    first = provider.send(code_sms())
    second = provider.send(result_sms())

    assert first == Sent("aliyun-000001")
    assert second == Sent("aliyun-000002")
    assert gateway.sent == [
        VendorSms("aliyun", PHONE, SIGN, TEMPLATE_CODE, {"code": "482915"}, "msg-1"),
        VendorSms("aliyun", PHONE, SIGN, TEMPLATE_RESULT, RESULT_PARAMS, "msg-2"),
    ]
    assert gateway.last is not None
    assert gateway.last.headers["Authorization"].startswith("ACS3-HMAC-SHA256 ")


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"sms_access_key_secret": "not-the-secret"}, "SignatureDoesNotMatch"),
        ({"sms_access_key_id": "LTAI5tSomeoneElse"}, "InvalidAccessKeyId.NotFound"),
        ({"sms_sign_name": "别的签名"}, "isv.SMS_SIGNATURE_ILLEGAL"),
        ({"sms_template_code": "999999"}, "isv.SMS_TEMPLATE_ILLEGAL"),
    ],
)
def test_aliyun_refusals_are_permanent(
    gateway: Gateway, tmp_path: Path, overrides: dict[str, str], code: str
) -> None:
    provider = AliyunProvider.from_settings(aliyun_settings(tmp_path, gateway, **overrides))
    with pytest.raises(SmsRejected) as caught:
        provider.send(code_sms())
    assert caught.value.code == code
    assert gateway.sent == []


def test_aliyun_bad_number_and_missing_parameter_are_rejected(
    gateway: Gateway, tmp_path: Path
) -> None:
    provider = AliyunProvider.from_settings(aliyun_settings(tmp_path, gateway))
    with pytest.raises(SmsRejected) as caught:
        provider.send(code_sms(phone="12345"))
    assert caught.value.code == "isv.MOBILE_NUMBER_ILLEGAL"
    with pytest.raises(SmsRejected) as caught:
        provider.send(Sms(phone=PHONE, template="result", params={"title": "请假"}))
    assert caught.value.code == "isv.TEMPLATE_MISSING_PARAMETERS"
    assert gateway.sent == []


def test_aliyun_rate_limit(gateway: Gateway, tmp_path: Path) -> None:
    provider = AliyunProvider.from_settings(aliyun_settings(tmp_path, gateway))
    gateway.fault = "isv.BUSINESS_LIMIT_CONTROL"
    with pytest.raises(SmsRateLimited) as caught:
        provider.send(code_sms())
    assert caught.value.retry_after == 60.0
    assert caught.value.code == "isv.BUSINESS_LIMIT_CONTROL"
    assert gateway.sent == []
    gateway.fault = None
    assert provider.send(code_sms()) == Sent("aliyun-000001")


@pytest.mark.parametrize(
    ("message", "retry_after"),
    [
        ("触发分钟级流控Permits:1", 60.0),
        ("触发小时级流控Permits:5", 3600.0),
        ("触发天级流控Permits:10", 86400.0),
        ("", 60.0),
    ],
)
def test_aliyun_rate_limit_windows(message: str, retry_after: float) -> None:
    """Aliyun tells the per-number minute, hour and day limits apart only by message."""
    limited = aliyun.error("isv.BUSINESS_LIMIT_CONTROL", message)
    assert isinstance(limited, SmsRateLimited)
    assert limited.retry_after == retry_after


@pytest.mark.parametrize("code", ["isp.SYSTEM_ERROR", "ServiceUnavailable", "isv.NEW_CODE"])
def test_aliyun_unknown_or_server_errors_are_transient(
    gateway: Gateway, tmp_path: Path, code: str
) -> None:
    provider = AliyunProvider.from_settings(aliyun_settings(tmp_path, gateway))
    gateway.fault = code
    with pytest.raises(SmsError) as caught:
        provider.send(code_sms())
    assert type(caught.value) is SmsError
    assert caught.value.code == code
    assert gateway.sent == []


def test_aliyun_clock_skew_is_refused_and_transient(gateway: Gateway, tmp_path: Path) -> None:
    provider = AliyunProvider.from_settings(aliyun_settings(tmp_path, gateway))
    gateway.clock_offset = CLOCK_SKEW + 60
    with pytest.raises(SmsError) as caught:
        provider.send(code_sms())
    assert type(caught.value) is SmsError
    assert caught.value.code == "InvalidTimeStamp.Expired"
    gateway.clock_offset = CLOCK_SKEW - 60  # still inside the window
    assert provider.send(code_sms()) == Sent("aliyun-000001")


def test_aliyun_replay_and_tampering_are_refused(gateway: Gateway, tmp_path: Path) -> None:
    provider = AliyunProvider.from_settings(aliyun_settings(tmp_path, gateway))
    provider.send(code_sms())
    assert gateway.last is not None
    signed_path = gateway.last.path

    status, reply = gateway.replay()
    assert (status, reply["Code"]) == (400, "SignatureNonceUsed")

    tampered = signed_path.replace(f"PhoneNumbers={PHONE}", "PhoneNumbers=13900139000")
    assert tampered != signed_path
    status, reply = gateway.replay(path=tampered)
    assert (status, reply["Code"]) == (400, "SignatureDoesNotMatch")

    status, reply = gateway.replay(body=b"PhoneNumbers=13900139000")
    assert (status, reply["Code"]) == (400, "SignatureDoesNotMatch")
    assert [sms.phone for sms in gateway.sent] == [PHONE]


def _tc3_request(port: int, secret_id: str, secret_key: str, body: bytes) -> Any:
    """A SendSms request signed by hand with TC3-HMAC-SHA256 (what the SDK refuses to do
    with empty keys), answered by the emulation."""
    host = endpoint(f"http://127.0.0.1:{port}", "tencent")
    stamp = int(time.time())
    date = datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d")
    payload = hashlib.sha256(body).hexdigest()
    canonical = (
        f"POST\n/\n\ncontent-type:application/json\nhost:{host}\n\ncontent-type;host\n{payload}"
    )
    scope = f"{date}/sms/tc3_request"
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    to_sign = f"TC3-HMAC-SHA256\n{stamp}\n{scope}\n{digest}"
    key = ("TC3" + secret_key).encode()
    for part in (date, "sms", "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers = {
        "Host": host,
        "Content-Type": "application/json",
        "X-TC-Action": "SendSms",
        "X-TC-Version": "2021-01-11",
        "X-TC-Timestamp": str(stamp),
        "Authorization": f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
        f"SignedHeaders=content-type;host, Signature={signature}",
    }
    reply = requests.post(
        f"http://127.0.0.1:{port}/_sandbox/sms/vendor/tencent",
        data=body,
        headers=headers,
        timeout=5,
    )
    return reply.json()


def test_a_vendor_without_keys_accepts_nothing(tmp_path: Path) -> None:
    """An emulation whose vendor has no keys configured refuses every request, including
    one signed with the empty key (an HMAC anybody can compute)."""
    sent: list[VendorSms] = []

    def record(message: VendorSms) -> str:
        sent.append(message)
        return "x"

    creds = VendorCredentials(
        sign_name=SIGN, template_ids={"code": TEMPLATE_CODE}, sdk_app_id="1400000001"
    )
    app = Flask("sms-vendor-unconfigured")
    app.register_blueprint(make_vendor_blueprint(record, creds))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    port = server.server_port
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        aliyun_provider = AliyunProvider(
            access_key_id="LTAI5tTestAccessKey",
            access_key_secret="aliyun-test-secret",
            sign_name=SIGN,
            template_ids={"code": TEMPLATE_CODE},
            endpoint=endpoint(f"http://127.0.0.1:{port}", "aliyun"),
        )
        tencent_provider = TencentProvider(
            secret_id="AKIDTestSecretId",
            secret_key="tencent-test-secret",
            sdk_app_id="1400000001",
            sign_name=SIGN,
            template_ids={"code": TEMPLATE_CODE},
            endpoint=endpoint(f"http://127.0.0.1:{port}", "tencent"),
        )
        with pytest.raises(SmsRejected) as caught:
            aliyun_provider.send(code_sms())
        assert caught.value.code == "InvalidAccessKeyId.NotFound"
        with pytest.raises(SmsRejected) as caught:
            tencent_provider.send(code_sms())
        assert caught.value.code == "AuthFailure.SecretIdNotFound"

        body = json.dumps(
            {
                "PhoneNumberSet": [f"+86{PHONE}"],
                "SmsSdkAppId": "1400000001",
                "SignName": SIGN,
                "TemplateId": TEMPLATE_CODE,
                "TemplateParamSet": ["482915"],
            }
        ).encode()
        reply = _tc3_request(port, "", "", body)
        assert reply["Response"]["Error"]["Code"] == "AuthFailure.SecretIdNotFound"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
    assert sent == []


def test_hand_signed_tencent_request_is_accepted(gateway: Gateway) -> None:
    """The emulation follows the TC3 specification, not just this SDK: a request signed
    independently (here, by the test) is accepted, and several numbers get a status each."""
    body = json.dumps(
        {
            "PhoneNumberSet": [f"+86{PHONE}", "13900139000", "+8612345"],
            "SmsSdkAppId": "1400000001",
            "SignName": SIGN,
            "TemplateId": TEMPLATE_CODE,
            "TemplateParamSet": ["482915"],
            "SessionContext": "batch-1",
        },
        ensure_ascii=False,
    ).encode()
    reply = _tc3_request(gateway.port, "AKIDTestSecretId", "tencent-test-secret", body)
    statuses = reply["Response"]["SendStatusSet"]
    assert [(s["PhoneNumber"], s["Code"], s["SerialNo"]) for s in statuses] == [
        (f"+86{PHONE}", "Ok", "tencent-000001"),
        ("+8613900139000", "Ok", "tencent-000002"),
        ("+8612345", "InvalidParameterValue.IncorrectPhoneNumber", ""),
    ]
    assert {s["SessionContext"] for s in statuses} == {"batch-1"}
    assert [sms.phone for sms in gateway.sent] == [PHONE, "13900139000"]


# --- Tencent ----------------------------------------------------------------------------


def test_tencent_sends_through_the_sdk(gateway: Gateway, tmp_path: Path) -> None:
    provider = TencentProvider.from_settings(tencent_settings(tmp_path, gateway))
    assert provider.name == "tencent"

    first = provider.send(code_sms())
    second = provider.send(result_sms())

    assert first == Sent("tencent-000001")
    assert second == Sent("tencent-000002")
    # TemplateParamSet is a list: the emulation maps it back to the placeholders' names.
    assert gateway.sent == [
        VendorSms("tencent", PHONE, SIGN, TEMPLATE_CODE, {"code": "482915"}, "msg-1"),
        VendorSms("tencent", PHONE, SIGN, TEMPLATE_RESULT, RESULT_PARAMS, "msg-2"),
    ]
    assert gateway.last is not None
    assert gateway.last.headers["Authorization"].startswith("TC3-HMAC-SHA256 ")


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"sms_secret_key": "not-the-secret"}, "AuthFailure.SignatureFailure"),
        ({"sms_secret_id": "AKIDSomeoneElse"}, "AuthFailure.SecretIdNotFound"),
        ({"sms_sdk_app_id": "1400999999"}, "InvalidParameterValue.SdkAppIdNotExist"),
        ({"sms_sign_name": "别的签名"}, "FailedOperation.SignatureIncorrectOrUnapproved"),
        ({"sms_template_code": "999999"}, "FailedOperation.TemplateIncorrectOrUnapproved"),
    ],
)
def test_tencent_refusals_are_permanent(
    gateway: Gateway, tmp_path: Path, overrides: dict[str, str], code: str
) -> None:
    provider = TencentProvider.from_settings(tencent_settings(tmp_path, gateway, **overrides))
    with pytest.raises(SmsRejected) as caught:
        provider.send(code_sms())
    assert caught.value.code == code
    assert gateway.sent == []


def test_tencent_bad_number_is_rejected_per_number(gateway: Gateway, tmp_path: Path) -> None:
    provider = TencentProvider.from_settings(tencent_settings(tmp_path, gateway))
    with pytest.raises(SmsRejected) as caught:
        provider.send(code_sms(phone="10086"))
    assert caught.value.code == "InvalidParameterValue.IncorrectPhoneNumber"
    assert gateway.sent == []


@pytest.mark.parametrize(
    ("code", "retry_after"),
    [
        ("LimitExceeded.PhoneNumberThirtySecondLimit", 30.0),
        ("LimitExceeded.PhoneNumberOneHourLimit", 3600.0),
        ("LimitExceeded.PhoneNumberDailyLimit", 86400.0),
    ],
)
def test_tencent_rate_limits(
    gateway: Gateway, tmp_path: Path, code: str, retry_after: float
) -> None:
    provider = TencentProvider.from_settings(tencent_settings(tmp_path, gateway))
    gateway.fault = code
    with pytest.raises(SmsRateLimited) as caught:
        provider.send(code_sms())
    assert caught.value.retry_after == retry_after
    assert caught.value.code == code
    assert gateway.sent == []


@pytest.mark.parametrize(
    "code",
    ["InternalError.Timeout", "FailedOperation.InsufficientBalanceInSmsPackage", "Brand.New"],
)
def test_tencent_unknown_or_server_errors_are_transient(
    gateway: Gateway, tmp_path: Path, code: str
) -> None:
    provider = TencentProvider.from_settings(tencent_settings(tmp_path, gateway))
    gateway.fault = code
    with pytest.raises(SmsError) as caught:
        provider.send(code_sms())
    assert type(caught.value) is SmsError
    assert caught.value.code == code
    assert gateway.sent == []


def test_tencent_clock_skew_is_refused_and_transient(gateway: Gateway, tmp_path: Path) -> None:
    provider = TencentProvider.from_settings(tencent_settings(tmp_path, gateway))
    gateway.clock_offset = -(CLOCK_SKEW + 60)
    with pytest.raises(SmsError) as caught:
        provider.send(code_sms())
    assert type(caught.value) is SmsError
    assert caught.value.code == "AuthFailure.SignatureExpire"
    assert gateway.sent == []


def test_tencent_tampering_is_refused(gateway: Gateway, tmp_path: Path) -> None:
    provider = TencentProvider.from_settings(tencent_settings(tmp_path, gateway))
    provider.send(code_sms())
    assert gateway.last is not None
    body = gateway.last.body
    tampered = body.replace(PHONE.encode(), b"13900139000")
    assert tampered != body

    status, reply = gateway.replay(body=tampered)
    assert status == 200
    assert reply["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"
    headers = dict(gateway.last.headers, Host=f"127.0.0.1:{gateway.port}/elsewhere")
    gateway.last = Captured(gateway.last.method, gateway.last.path, headers, body)
    status, reply = gateway.replay()
    assert reply["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"
    assert [sms.phone for sms in gateway.sent] == [PHONE]


# --- both -------------------------------------------------------------------------------


def _providers(port: int, timeout: float) -> list[AliyunProvider | TencentProvider]:
    return [
        AliyunProvider(
            access_key_id="LTAI5tTestAccessKey",
            access_key_secret="aliyun-test-secret",
            sign_name=SIGN,
            template_ids={"code": TEMPLATE_CODE},
            endpoint=f"127.0.0.1:{port}",
            timeout=timeout,
        ),
        TencentProvider(
            secret_id="AKIDTestSecretId",
            secret_key="tencent-test-secret",
            sdk_app_id="1400000001",
            sign_name=SIGN,
            template_ids={"code": TEMPLATE_CODE},
            endpoint=f"127.0.0.1:{port}",
            timeout=timeout,
        ),
    ]


def test_server_down_is_transient_and_quick() -> None:
    port = free_port()  # nothing listens there
    for provider in _providers(port, timeout=5.0):
        started = time.monotonic()
        with pytest.raises(SmsError) as caught:
            provider.send(code_sms())
        assert type(caught.value) is SmsError, provider.name
        assert time.monotonic() - started < 3.0, provider.name


def test_a_silent_server_times_out() -> None:
    """A server that accepts the connection and never answers: the read timeout holds."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # connections complete in the backlog; nobody reads them
        port = listener.getsockname()[1]
        for provider in _providers(port, timeout=0.5):
            started = time.monotonic()
            with pytest.raises(SmsError) as caught:
                provider.send(code_sms())
            assert type(caught.value) is SmsError, provider.name
            assert time.monotonic() - started < 3.0, provider.name


GARBAGE = [
    pytest.param(500, "text/html", "<html>Internal Server Error</html>", id="html-500"),
    pytest.param(502, "application/json", "{}", id="json-502"),
    pytest.param(200, "application/json", "not json", id="not-json"),
    pytest.param(200, "application/json", "[1, 2]", id="list"),
    pytest.param(200, "application/json", '"OK"', id="string"),
    pytest.param(200, "application/json", '{"Code": "OK"}', id="ok-without-id"),
    pytest.param(200, "application/json", '{"Response": {}}', id="empty-response"),
    pytest.param(200, "application/json", '{"Response": {"SendStatusSet": [1]}}', id="status"),
    pytest.param(
        200, "application/json", '{"Response": {"SendStatusSet": [{"Code": "Ok"}]}}', id="no-sn"
    ),
    pytest.param(200, "application/json", '{"Response": {"Error": {}}}', id="empty-error"),
]


@pytest.mark.parametrize(("status", "content_type", "text"), GARBAGE)
def test_garbage_replies_are_transient(status: int, content_type: str, text: str) -> None:
    """Whatever a broken gateway or proxy answers, the providers raise a plain SmsError."""
    app = Flask("sms-garbage")
    app.add_url_rule(
        "/<path:_>",
        "reply",
        lambda _: Response(text, status=status, content_type=content_type),
        methods=["POST"],
    )
    app.add_url_rule(
        "/",
        "root",
        lambda: Response(text, status=status, content_type=content_type),
        methods=["POST"],
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        for provider in _providers(server.server_port, timeout=5.0):
            with pytest.raises(SmsError) as caught:
                provider.send(code_sms())
            assert type(caught.value) is SmsError, provider.name
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def test_unknown_template_is_rejected_without_a_request() -> None:
    for provider in _providers(free_port(), timeout=1.0):
        with pytest.raises(SmsRejected) as caught:
            provider.send(Sms(phone=PHONE, template="nonexistent"))
        assert caught.value.code == "UnknownTemplate"


def test_from_settings_names_missing_variables(tmp_path: Path) -> None:
    bare = make_settings(tmp_path, sms_provider="aliyun", sms_sign_name="")
    with pytest.raises(SettingsError) as caught:
        AliyunProvider.from_settings(bare)
    for name in (
        "HALL_SMS_ACCESS_KEY_ID",
        "HALL_SMS_ACCESS_KEY_SECRET",
        "HALL_SMS_SIGN_NAME",
        "HALL_SMS_TEMPLATE_CODE",
        "HALL_SMS_TEMPLATE_RESULT",
    ):
        assert name in str(caught.value)

    bare = make_settings(
        tmp_path, sms_provider="tencent", sms_secret_id="AKID", sms_template_code="1"
    )
    with pytest.raises(SettingsError) as caught:
        TencentProvider.from_settings(bare)
    message = str(caught.value)
    for name in ("HALL_SMS_SECRET_KEY", "HALL_SMS_SDK_APP_ID", "HALL_SMS_TEMPLATE_RESULT"):
        assert name in message
    for name in ("HALL_SMS_SECRET_ID", "HALL_SMS_TEMPLATE_CODE", "HALL_SMS_SIGN_NAME"):
        assert name not in message


def test_endpoint_resolution(tmp_path: Path) -> None:
    assert resolve_endpoint("", "dysmsapi.aliyuncs.com") == ("dysmsapi.aliyuncs.com", "https")
    assert resolve_endpoint("127.0.0.1:5123/_sandbox/sms/vendor/aliyun", "x")[1] == "http"
    assert resolve_endpoint("localhost:5000", "x") == ("localhost:5000", "http")
    assert resolve_endpoint("[::1]:5000", "x")[1] == "http"
    assert resolve_endpoint("sms.internal.example.edu", "x")[1] == "https"
    assert resolve_endpoint("127.0.0.1.example.com", "x")[1] == "https"
    settings = make_settings(
        tmp_path,
        sms_provider="aliyun",
        sms_access_key_id="a",
        sms_access_key_secret="b",
        sms_template_code="c",
        sms_template_result="d",
        sms_endpoint="http://127.0.0.1:5123",
    )
    with pytest.raises(SettingsError, match="HALL_SMS_ENDPOINT"):
        AliyunProvider.from_settings(settings)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("OK-but-unknown", SmsError),
        ("isv.AMOUNT_NOT_ENOUGH", SmsError),  # an operator tops up; the retries go through
        ("isv.DAY_LIMIT_CONTROL", SmsRateLimited),
        ("Throttling.User", SmsRateLimited),
        ("isp.RAM_PERMISSION_DENY", SmsRejected),
        ("isv.INVALID_PARAMETERS", SmsRejected),
        ("MissingPhoneNumbers", SmsRejected),
        ("InvalidTimeStamp.Expired", SmsError),
        ("SignatureNonceUsed", SmsError),
    ],
)
def test_aliyun_code_table(code: str, kind: type[SmsError]) -> None:
    assert type(aliyun.error(code, "")) is kind


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("AuthFailure.SecretIdNotFound", SmsRejected),
        ("UnauthorizedOperation.SmsSdkAppIdVerifyFail", SmsRejected),
        ("UnauthorizedOperation.ServiceSuspendDueToArrears", SmsError),
        ("LimitExceeded.PhoneNumberCountLimit", SmsRejected),
        ("LimitExceeded.DeliveryFrequencyLimit", SmsRateLimited),
        ("RequestLimitExceeded", SmsRateLimited),
        ("InvalidParameter", SmsRejected),
        ("FailedOperation.PhoneNumberInBlacklist", SmsRejected),
        ("ClientNetworkError", SmsError),
        ("ServerNetworkError", SmsError),
    ],
)
def test_tencent_code_table(code: str, kind: type[SmsError]) -> None:
    assert type(tencent.error(code, "")) is kind
