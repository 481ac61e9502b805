"""Aliyun (阿里云) SMS: Dysmsapi 2017-05-25 `SendSms` through the official SDK.

The SDK signs each request with ACS3-HMAC-SHA256 and sends the parameters in the query
string: PhoneNumbers, SignName, TemplateCode (the vendor's id of the hall template),
TemplateParam (a JSON object) and OutId (our id, echoed in delivery receipts).

Aliyun answers business errors with HTTP 200 and a `Code` other than "OK", and
authentication errors with 4xx; both are sorted here into `SmsRejected` (the message can
never go out as it is), `SmsRateLimited` (`isv.BUSINESS_LIMIT_CONTROL`: the per-number
minute / hour / day limits) and `SmsError` (anything else: outages, timeouts, unknown
codes, an empty balance an operator can top up). The SDK does not retry: the delivery job
does, with backoff.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType

# The SDK ships no type information; its objects are used through the few fields read here.
from alibabacloud_dysmsapi20170525 import models as dysms  # type: ignore[import-untyped]
from alibabacloud_dysmsapi20170525.client import Client  # type: ignore[import-untyped]
from alibabacloud_tea_openapi import models as openapi  # type: ignore[import-untyped]
from Tea.exceptions import TeaException  # type: ignore[import-untyped]

from config import Settings
from sms.providers import (
    TIMEOUT,
    Sent,
    Sms,
    SmsError,
    SmsRateLimited,
    SmsRejected,
    require,
    resolve_endpoint,
)
from sms.templates import configured

DEFAULT_ENDPOINT = "dysmsapi.aliyuncs.com"
RATE_LIMITED = "isv.BUSINESS_LIMIT_CONTROL"
DEFAULT_RETRY_AFTER = 60.0  # the per-number minute limit; the message names longer ones

# Retrying cannot help: the number, signature, template or parameters are wrong, or the
# credentials are (which needs an operator, not a retry).
REJECTED = frozenset(
    {
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.MOBILE_COUNT_OVER_LIMIT",
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.SMS_SIGN_ILLEGAL",
        "isv.TEMPLATE_MISSING_PARAMETERS",
        "isv.TEMPLATE_PARAMS_ILLEGAL",
        "isv.INVALID_PARAMETERS",
        "isv.INVALID_JSON_PARAM",
        "isv.PARAM_LENGTH_LIMIT",
        "isv.PARAM_NOT_SUPPORT_URL",
        "isv.BLACK_KEY_CONTROL_LIMIT",
        "isv.DENY_IP_RANGE",
        "isv.ACCOUNT_NOT_EXISTS",
        "isv.ACCOUNT_ABNORMAL",
        "isv.SMS_TEST_SIGN_TEMPLATE_LIMIT",
        "isv.SMS_TEST_NUMBER_LIMIT",
        "isp.RAM_PERMISSION_DENY",
        "InvalidAccessKeyId.NotFound",
        "InvalidAccessKeyId.Inactive",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "Forbidden.RAM",
        "InvalidAction.NotFound",
        "InvalidVersion",
    }
)
# Missing<Parameter> (HTTP 400): a request the SDK let through without a mandatory field.
_REJECTED_PREFIXES = ("Missing",)
# The hour and day limits, told apart by Aliyun's message ("触发小时级流控Permits:5").
_LIMIT_WINDOWS = (("天级", 86400.0), ("小时级", 3600.0))


class AliyunProvider:
    """Sends through Aliyun's SMS API; one client (and its connection pool) per provider."""

    name = "aliyun"

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        template_ids: Mapping[str, str],
        endpoint: str = "",  # host[:port][/path]; "" is Aliyun's public API
        timeout: float = TIMEOUT,
    ) -> None:
        self.sign_name = sign_name
        self.template_ids = MappingProxyType(dict(template_ids))
        millis = int(timeout * 1000)  # the SDK's timeouts are milliseconds
        host, scheme = resolve_endpoint(endpoint, DEFAULT_ENDPOINT)
        config = openapi.Config(
            access_key_id=access_key_id,
            access_key_secret=access_key_secret,
            endpoint=host,
            protocol=scheme,
            connect_timeout=millis,
            read_timeout=millis,
        )
        self._client = Client(config)

    @classmethod
    def from_settings(cls, settings: Settings) -> AliyunProvider:
        require(
            settings,
            "sms_access_key_id",
            "sms_access_key_secret",
            "sms_sign_name",
            "sms_template_code",
            "sms_template_result",
        )
        return cls(
            access_key_id=settings.sms_access_key_id,
            access_key_secret=settings.sms_access_key_secret,
            sign_name=settings.sms_sign_name,
            template_ids=configured(settings),
            endpoint=settings.sms_endpoint,
        )

    def send(self, sms: Sms) -> Sent:
        template_id = self.template_ids.get(sms.template)
        if template_id is None:
            raise SmsRejected(f"no SMS template {sms.template!r}", code="UnknownTemplate")
        request = dysms.SendSmsRequest(
            phone_numbers=sms.phone,
            sign_name=self.sign_name,
            template_code=template_id,
            template_param=json.dumps(sms.params, ensure_ascii=False, separators=(",", ":")),
            out_id=sms.out_id or None,
        )
        try:
            body = self._client.send_sms(request).body
        except TeaException as exc:
            # Replies with an error status carry the vendor's code; network failures and
            # unreadable replies arrive wrapped (UnretryableException) with the SDK's own.
            raise error(str(exc.code or ""), str(exc.message or exc)) from exc
        except (TypeError, ValueError, AttributeError) as exc:  # a reply of the wrong shape
            raise SmsError(f"aliyun: unreadable reply: {exc}") from exc
        if body is None:
            raise SmsError("aliyun: empty reply")
        code = str(body.code or "")
        if code == "OK":
            if not body.biz_id:
                raise SmsError("aliyun: OK without a BizId", code=code)
            return Sent(provider_id=str(body.biz_id))
        raise error(code, str(body.message or ""))


def error(code: str, message: str) -> SmsError:
    """The exception for an Aliyun error `code` (with its `message`)."""
    text = f"aliyun {code or 'error'}: {message}"
    if code == RATE_LIMITED:
        return SmsRateLimited(text, retry_after=_limit_window(message), code=code)
    if code == "isv.DAY_LIMIT_CONTROL":  # the account's daily quota
        return SmsRateLimited(text, retry_after=86400.0, code=code)
    if code.startswith("Throttling"):  # the API's request rate, not a number's
        return SmsRateLimited(text, retry_after=1.0, code=code)
    if code in REJECTED or code.startswith(_REJECTED_PREFIXES):
        return SmsRejected(text, code=code)
    return SmsError(text, code=code)


def _limit_window(message: str) -> float:
    for marker, seconds in _LIMIT_WINDOWS:
        if marker in message:
            return seconds
    return DEFAULT_RETRY_AFTER
