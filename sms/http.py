"""A plain HTTP JSON gateway: many schools run their own SMS platform behind one.

Request: `POST HALL_SMS_HTTP_URL` with a JSON body
`{"phone", "sign_name", "template", "params", "text", "out_id"}` (`template` is the vendor
id, `text` the rendered wording with its 【signature】, for gateways that take free text)
and two headers: `X-Hall-Timestamp` (Unix seconds) and `X-Hall-Signature`, the hex
HMAC-SHA256 of `"{timestamp}\\n{body}"` under HALL_SMS_HTTP_SECRET.

Reply: 200 `{"ok": true, "id": "<gateway's id>"}`; 429 (with `Retry-After`) to slow down;
another 4xx `{"ok": false, "code", "message"}` refuses the message for good; anything else is
transient. The sandbox SMS (`sms.sandbox`) speaks exactly this.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import requests

from config import Settings
from config.settings import SANDBOX_SMS_SECRET
from sms.providers import TIMEOUT, Sent, Sms, SmsError, SmsRateLimited, SmsRejected, require
from sms.templates import UnknownTemplate, template, vendor_id

TIMESTAMP_HEADER = "X-Hall-Timestamp"
SIGNATURE_HEADER = "X-Hall-Signature"
SANDBOX_PATH = "/_sandbox/sms/gateway"
DEFAULT_RETRY_AFTER = 60.0


def signature(secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode() + b"\n" + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _retry_after(response: requests.Response) -> float:
    try:
        return max(1.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return DEFAULT_RETRY_AFTER


class HttpGateway:
    def __init__(
        self,
        url: str,
        secret: str,
        settings: Settings,
        *,
        name: str = "http",
        session: requests.Session | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.settings = settings
        self.name = name
        self.http = session or requests.Session()

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpGateway:
        require(settings, "sms_http_url", "sms_http_secret", "sms_sign_name")
        return cls(settings.sms_http_url, settings.sms_http_secret, settings)

    @classmethod
    def sandbox(cls, settings: Settings) -> HttpGateway:
        url = f"{settings.base_url}{SANDBOX_PATH}"
        return cls(url, SANDBOX_SMS_SECRET, settings, name="sandbox")

    def send(self, sms: Sms) -> Sent:
        try:
            wording = template(sms.template).render(sms.params, self.settings.base_url)
        except UnknownTemplate as exc:
            raise SmsRejected(str(exc), code="UnknownTemplate") from exc
        body = json.dumps(
            {
                "phone": sms.phone,
                "sign_name": self.settings.sms_sign_name,
                "template": vendor_id(self.settings, sms.template),
                "params": sms.params,
                "text": f"【{self.settings.sms_sign_name}】{wording}",
                "out_id": sms.out_id,
            },
            ensure_ascii=False,
        ).encode()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: signature(self.secret, stamp, body),
        }
        try:
            response = self.http.post(self.url, data=body, headers=headers, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise SmsError(f"SMS gateway unreachable: {exc.__class__.__name__}") from exc
        try:
            reply = response.json()
        except ValueError:
            reply = {}
        if not isinstance(reply, dict):
            reply = {}
        code = str(reply.get("code") or response.status_code)
        message = str(reply.get("message") or response.reason or "")
        if response.status_code == 429:
            raise SmsRateLimited(message, retry_after=_retry_after(response), code=code)
        if 400 <= response.status_code < 500:
            raise SmsRejected(f"SMS gateway refused: {code} {message}", code=code)
        if response.status_code != 200 or reply.get("ok") is not True:
            raise SmsError(f"SMS gateway failed: {code} {message}", code=code)
        return Sent(provider_id=str(reply.get("id") or ""))
