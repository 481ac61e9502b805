"""The sandbox SMS: a real HTTP gateway the hall sends to, and a page of every phone's inbox.

Mounted by the app factory when `settings.sandbox` is true (`init_app(app)`):

- `POST /_sandbox/sms/gateway`: the plain HTTP gateway protocol (`sms.http`): signed and
  time-stamped requests only, templated messages only, answered as a gateway would;
- `/_sandbox/sms/`: a phone per number, showing the messages it received;
- `/_sandbox/sms/api/messages?phone=P`: JSON of what P received, oldest first;
- `/_sandbox/sms/api/faults` (POST `{"fault": "rate_limited"|"rejected"|"down",
  "times": n}`, DELETE): the next n sends fail that way, for tests and demos;
- `/_sandbox/sms/vendor/aliyun/` and `/tencent/`: Aliyun's and Tencent Cloud's `SendSms`
  (`sms.vendor_sandbox`), for trying the vendors' own SDKs; their messages reach the same
  phones and the same faults apply, in each vendor's words.

State lives in Redis under `sandbox:sms:`, never in the process.
"""

from __future__ import annotations

import hmac
import json
import re
import time
from collections.abc import Callable
from typing import Any

import redis
from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from markupsafe import Markup, escape

from config import Settings
from config.settings import SANDBOX_SMS_SECRET
from sms.http import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from sms.templates import TEMPLATES, template_named
from sms.vendor_sandbox import VendorCredentials, VendorSms, make_vendor_blueprint

PREFIX = "sandbox:sms:"
_URL = re.compile(r"https?://[^\s，。；、]+")
INBOX_MAX = 200
TIMESTAMP_WINDOW = 300  # seconds either way
BODY_MAX = 16 * 1024
FAULTS = ("rate_limited", "rejected", "down")
MOBILE_DIGITS = 11


class SmsSandboxStore:
    def __init__(self, connection: redis.Redis) -> None:
        self.redis = connection

    def record(self, message: dict[str, Any]) -> str:
        """Keep `message` in its phone's inbox; its id is the gateway's answer."""
        number = int(self.redis.incr(f"{PREFIX}seq"))
        message = {**message, "id": f"SBX{number:08d}", "at": time.time()}
        phone = str(message["phone"])
        with self.redis.pipeline() as pipe:
            pipe.rpush(f"{PREFIX}inbox:{phone}", json.dumps(message, ensure_ascii=False))
            pipe.ltrim(f"{PREFIX}inbox:{phone}", -INBOX_MAX, -1)
            pipe.zadd(f"{PREFIX}phones", {phone: message["at"]})
            pipe.execute()
        return str(message["id"])

    def inbox(self, phone: str) -> list[dict[str, Any]]:
        raw = self.redis.lrange(f"{PREFIX}inbox:{phone}", 0, -1)
        return [json.loads(item) for item in raw]

    def phones(self) -> list[str]:
        raw: list[bytes] = list(self.redis.zrevrange(f"{PREFIX}phones", 0, 99))  # type: ignore[arg-type]
        return [p.decode() for p in raw]

    def set_fault(self, fault: str, times: int) -> None:
        with self.redis.pipeline() as pipe:
            pipe.delete(f"{PREFIX}faults")
            if times > 0:
                pipe.rpush(f"{PREFIX}faults", *([fault] * times))
            pipe.execute()

    def take_fault(self) -> str | None:
        fault = self.redis.lpop(f"{PREFIX}faults")
        return fault.decode() if isinstance(fault, bytes) else None


def linkify(text: str) -> Markup:
    """The text with its links clickable, as a phone shows them (urlize needs spaces
    around a link; Chinese texts have none)."""
    parts: list[str] = []
    last = 0
    for found in _URL.finditer(text):
        url = found.group(0)
        parts += [
            str(escape(text[last : found.start()])),
            f'<a href="{escape(url)}" target="_blank">{escape(url)}</a>',
        ]
        last = found.end()
    parts.append(str(escape(text[last:])))
    return Markup("".join(parts))  # noqa: S704 - every piece above is escaped


def _refuse(status: int, code: str, message: str) -> Response:
    response = jsonify(ok=False, code=code, message=message)
    response.status_code = status
    return response


def _verified_body() -> tuple[dict[str, Any] | None, Response | None]:
    if (request.content_length or 0) > BODY_MAX:
        return None, _refuse(413, "too_large", "request body too large")
    raw = request.stream.read(BODY_MAX + 1)  # never more than the limit in memory
    if len(raw) > BODY_MAX:
        return None, _refuse(413, "too_large", "request body too large")
    stamp = request.headers.get(TIMESTAMP_HEADER, "")
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > TIMESTAMP_WINDOW:
        return None, _refuse(401, "bad_timestamp", "timestamp missing or outside the window")
    if not hmac.compare_digest(given.encode(), signature(SANDBOX_SMS_SECRET, stamp, raw).encode()):
        return None, _refuse(401, "bad_signature", "signature does not match")
    try:
        body = json.loads(raw)
    except ValueError:
        return None, _refuse(400, "bad_json", "body is not JSON")
    if not isinstance(body, dict):
        return None, _refuse(400, "bad_json", "body is not a JSON object")
    return body, None


def _check_message(body: dict[str, Any]) -> tuple[str, Response | None]:
    """The hall template the message names, or a refusal of the message."""
    phone, params = body.get("phone"), body.get("params")
    given = body.get("template")
    settings: Settings = current_app.extensions["hall.settings"]
    name = template_named(settings, given) if isinstance(given, str) else None
    if not isinstance(phone, str) or not (
        len(phone) == MOBILE_DIGITS
        and phone.isascii()
        and phone.isdigit()
        and phone.startswith("1")
    ):
        return "", _refuse(400, "bad_phone", "not a mainland mobile number")
    if name is None:
        return "", _refuse(400, "bad_template", f"no approved template {given!r}")
    if not isinstance(params, dict) or not all(
        isinstance(params.get(p), str) and params.get(p) for p in TEMPLATES[name].params
    ):
        return name, _refuse(400, "missing_params", "every template parameter must be given")
    if not body.get("sign_name"):
        return name, _refuse(400, "bad_sign_name", "no signature")
    return name, None


def make_blueprint(get_store: Callable[[], SmsSandboxStore]) -> Blueprint:
    bp = Blueprint("sms_sandbox", __name__, url_prefix="/_sandbox/sms", template_folder="pages")

    @bp.post("/gateway")
    def gateway() -> Response:
        body, refused = _verified_body()
        if refused is not None or body is None:
            return refused or _refuse(400, "bad_request", "bad request")
        name, bad = _check_message(body)
        if bad is not None:
            return bad
        store = get_store()
        fault = store.take_fault()
        if fault == "rate_limited":
            response = _refuse(429, "rate_limited", "same number too often")
            response.headers["Retry-After"] = "30"
            return response
        if fault == "rejected":
            return _refuse(400, "blacklisted", "the number refuses messages")
        if fault == "down":
            return _refuse(503, "unavailable", "gateway unavailable")
        params = {k: str(v) for k, v in dict(body["params"]).items()}
        settings: Settings = current_app.extensions["hall.settings"]
        text = f"【{body['sign_name']}】{TEMPLATES[name].render(params, settings.base_url)}"
        message_id = store.record(
            {
                "phone": body["phone"],
                "template": name,
                "params": params,
                "text": text,
                "out_id": str(body.get("out_id") or ""),
                "via": "http",
            }
        )
        return jsonify(ok=True, id=message_id)

    @bp.get("/")
    def phone_page() -> Response:
        store = get_store()
        phone = request.args.get("phone", "").strip()
        messages = store.inbox(phone) if phone else []
        page = render_template(
            "sms_sandbox/phone.html",
            phones=store.phones(),
            phone=phone,
            messages=list(reversed(messages)),
            linkify=linkify,
            moment=lambda t: time.strftime("%m-%d %H:%M:%S", time.localtime(t)),
        )
        response = current_app.make_response(page)
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.get("/api/messages")
    def messages() -> Response:
        phone = request.args.get("phone", "").strip()
        if not phone:
            return _refuse(400, "bad_phone", "give ?phone=")
        return jsonify(phone=phone, messages=get_store().inbox(phone))

    @bp.route("/api/faults", methods=["POST", "DELETE"])
    def faults() -> Response:
        store = get_store()
        if request.method == "DELETE":
            store.set_fault("", 0)
            return jsonify(ok=True)
        body = request.get_json(silent=True)
        fault = body.get("fault") if isinstance(body, dict) else None
        times = body.get("times", 1) if isinstance(body, dict) else None
        if (
            fault not in FAULTS
            or not isinstance(times, int)
            or isinstance(times, bool)
            or not 0 <= times <= 100
        ):
            return _refuse(400, "bad_fault", f"fault is one of {', '.join(FAULTS)}; times 0-100")
        store.set_fault(str(fault), times)
        return jsonify(ok=True)

    return bp


def sandbox_store(app: Flask) -> SmsSandboxStore:
    """The sandbox's state, on the app's Redis (`create_app` connects it from HALL_REDIS_URL,
    which `hall run` sets)."""
    conn = app.extensions.get("hall.redis")
    if conn is None:
        raise RuntimeError("沙箱短信需要 Redis：请设置 HALL_REDIS_URL（hall run 会自动设置）")
    return SmsSandboxStore(conn)


# The sandbox's faults as each vendor would say them.
VENDOR_FAULTS = {
    "aliyun": {
        "rate_limited": "isv.BUSINESS_LIMIT_CONTROL",
        "rejected": "isv.MOBILE_NUMBER_ILLEGAL",
        "down": "isp.SYSTEM_ERROR",
    },
    "tencent": {
        "rate_limited": "LimitExceeded.PhoneNumberThirtySecondLimit",
        "rejected": "InvalidParameterValue.IncorrectPhoneNumber",
        "down": "InternalError.Timeout",
    },
}


def _vendor_blueprint(app: Flask, settings: Settings) -> Blueprint:
    """The Aliyun and Tencent emulations (`sms.vendor_sandbox`), writing to the same phones:
    with HALL_SMS_PROVIDER=aliyun|tencent, their keys and HALL_SMS_ENDPOINT pointed here,
    `make run` exercises the vendors' own SDKs end to end."""
    credentials = VendorCredentials.from_settings(settings)

    def record(sms: VendorSms) -> str:
        name = credentials.template_name(sms.template_id) or sms.template_id
        wording = (
            TEMPLATES[name].render(sms.params, settings.base_url)
            if name in TEMPLATES
            else str(sms.params)
        )
        return sandbox_store(app).record(
            {
                "phone": sms.phone,
                "template": name,
                "params": sms.params,
                "text": f"【{sms.sign_name}】{wording}",
                "out_id": sms.out_id,
                "via": sms.vendor,
            }
        )

    def faults() -> str | None:
        fault = sandbox_store(app).take_fault()
        vendor = "aliyun" if "/aliyun" in request.path else "tencent"
        return VENDOR_FAULTS[vendor].get(fault) if fault else None

    return make_vendor_blueprint(record, credentials, faults)


def init_app(app: Flask) -> None:
    """Mount the sandbox gateway, the vendor emulations and the phone page (the app factory
    does, in sandbox mode)."""
    settings: Settings = app.extensions["hall.settings"]
    app.register_blueprint(make_blueprint(lambda: sandbox_store(app)))
    app.register_blueprint(_vendor_blueprint(app, settings))
