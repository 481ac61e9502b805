"""Loopback emulations of Aliyun's and Tencent Cloud's `SendSms`, for `make run` and the tests.

`make_vendor_blueprint` serves, under `/_sandbox/sms/vendor`:

- `POST /aliyun/` — Dysmsapi 2017-05-25 `SendSms` as the official SDK calls it: parameters
  in the query string, signed with ACS3-HMAC-SHA256. Replies `{"Code":"OK","Message":"OK",
  "BizId":…,"RequestId":…}`, a business error code with HTTP 200 (`isv.*`), or an
  authentication error with HTTP 400/404 (`SignatureDoesNotMatch`, …) as Aliyun does.
- `POST /tencent/` — SMS 2021-01-11 `SendSms`: a JSON body signed with TC3-HMAC-SHA256.
  Replies `{"Response":{"SendStatusSet":[…],"RequestId":…}}` with a status per number, or
  `{"Response":{"Error":{"Code":…,"Message":…},"RequestId":…}}`, always with HTTP 200.

The SDKs are pointed here with HALL_SMS_ENDPOINT = `endpoint(base_url, vendor)`, e.g.
`127.0.0.1:5000/_sandbox/sms/vendor/aliyun`. Both SDKs put that whole string, path included,
into the URL and into the (signed) `Host` header, and both sign the canonical URI `/`: the
vendors serve the API at their host's root. So the emulations verify signatures against
the URI `/` relative to their mount point and the `Host` header as received; the path is
not covered by the signature, which is harmless as each path serves one action.

Every request is authenticated for real (constant-time comparison, timestamps within
`CLOCK_SKEW`, Aliyun nonces single use within that window — kept in this process's memory,
so behind several web processes a replay to another process is not caught). A vendor whose
keys are not configured rejects every request. Then the sign name, template id, parameters
and phone numbers are checked as the vendor does, and `record` is called once per accepted
message and returns its message id (BizId / SerialNo). `faults`, when given, returns a
vendor error code to answer instead of recording (after the checks), so tests can exercise
rate limits and outages through the real SDKs.

The Aliyun emulation takes one number per request (the hall sends one); Aliyun itself takes
a comma-separated list.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Blueprint, Response, jsonify, request

from config import Settings
from sms.templates import PARAM_MAX, TEMPLATES, configured, template

URL_PREFIX = "/_sandbox/sms/vendor"
CLOCK_SKEW = 15 * 60  # seconds either way a request's timestamp may be off
TENCENT_MAX_NUMBERS = 200  # per SendSms request

ALIYUN_ACTION, ALIYUN_VERSION = "SendSms", "2017-05-25"
TENCENT_ACTION, TENCENT_VERSION, TENCENT_SERVICE = "SendSms", "2021-01-11", "sms"
_ACS3 = "ACS3-HMAC-SHA256"
_TC3 = "TC3-HMAC-SHA256"
# What a request must sign: without these a signature could be replayed or retargeted.
_ACS3_SIGNED = frozenset(
    {"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce"}
    | {"x-acs-content-sha256"}
)
_TC3_SIGNED = frozenset({"content-type", "host"})
_MOBILE = re.compile(r"1[3-9]\d{9}")
_ALIYUN_PREFIXES = ("+86", "0086", "86", "+")  # what Aliyun accepts before a mainland number
_MAX_BODY = 64 * 1024

# Aliyun answers authentication and request-shape errors with these HTTP statuses; every
# business error (`isv.*`) comes with 200.
_ALIYUN_STATUS = {
    "IncompleteSignature": 400,
    "SignatureDoesNotMatch": 400,
    "SignatureNonceUsed": 400,
    "InvalidTimeStamp.Expired": 400,
    "InvalidTimeStamp.Format": 400,
    "MissingPhoneNumbers": 400,
    "MissingSignName": 400,
    "MissingTemplateCode": 400,
    "Throttling.User": 400,
    "InvalidAccessKeyId.NotFound": 404,
    "InvalidAction.NotFound": 404,
    "InvalidVersion": 404,
    "InternalError": 500,
    "ServiceUnavailable": 503,
}
_ALIYUN_MESSAGES = {
    "IncompleteSignature": "The request signature does not conform to Aliyun standards.",
    "SignatureDoesNotMatch": "Specified signature is not matched with our calculation.",
    "SignatureNonceUsed": "Specified signature nonce was used already.",
    "InvalidTimeStamp.Expired": "Specified time stamp or date value is expired.",
    "InvalidTimeStamp.Format": "Specified time stamp or date value is not well formatted.",
    "InvalidAccessKeyId.NotFound": "Specified access key is not found.",
    "InvalidAction.NotFound": "Specified api is not found, please check your url and method.",
    "InvalidVersion": "Specified parameter Version is not valid.",
    "MissingPhoneNumbers": "PhoneNumbers is mandatory for this action.",
    "MissingSignName": "SignName is mandatory for this action.",
    "MissingTemplateCode": "TemplateCode is mandatory for this action.",
    "isv.MOBILE_NUMBER_ILLEGAL": "非法手机号",
    "isv.MOBILE_COUNT_OVER_LIMIT": "手机号码数量超过限制",
    "isv.SMS_SIGNATURE_ILLEGAL": "该账号下找不到对应签名",
    "isv.SMS_TEMPLATE_ILLEGAL": "该账号下找不到对应模板",
    "isv.INVALID_JSON_PARAM": "JSON参数不合法，只接受字符串值",
    "isv.TEMPLATE_MISSING_PARAMETERS": "模板变量缺少对应参数值",
    "isv.PARAM_LENGTH_LIMIT": "参数超出长度限制",
    "isv.BUSINESS_LIMIT_CONTROL": "触发分钟级流控Permits:1",
    "isv.DAY_LIMIT_CONTROL": "触发日发送限额",
    "isv.AMOUNT_NOT_ENOUGH": "账户余额不足",
}
_TENCENT_MESSAGES = {
    "AuthFailure.InvalidAuthorization": "Authorization header is malformed.",
    "AuthFailure.SecretIdNotFound": "The SecretId is not found, please ensure it is valid.",
    "AuthFailure.SignatureExpire": "Signature expired, the timestamp is out of range.",
    "AuthFailure.SignatureFailure": "The provided credentials could not be validated.",
    "InvalidAction": "The requested action does not exist.",
    "NoSuchVersion": "The requested version does not exist.",
    "FailedOperation.JsonParseFail": "解析请求包体时候失败。",
    "InvalidParameterValue.SdkAppIdNotExist": "SdkAppId不存在。",
    "FailedOperation.SignatureIncorrectOrUnapproved": "签名未审批或格式错误。",
    "FailedOperation.TemplateIncorrectOrUnapproved": "模板未审批或内容不匹配。",
    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate": "请求内容与审核通过的模板不匹配。",
    "InvalidParameterValue.TemplateParameterLengthLimit": "单个模板变量字符数超过12个。",
    "MissingParameter.EmptyPhoneNumberSet": "传入的号码列表为空。",
    "LimitExceeded.PhoneNumberCountLimit": "调用接口单次提交的手机号个数超过200个。",
    "InvalidParameterValue.IncorrectPhoneNumber": "手机号格式错误。",
    "LimitExceeded.PhoneNumberThirtySecondLimit": "单个手机号30秒内下发短信条数超过设定的上限。",
    "LimitExceeded.PhoneNumberOneHourLimit": "单个手机号1小时内下发短信条数超过设定的上限。",
    "LimitExceeded.PhoneNumberDailyLimit": "单个手机号日下发短信条数超过设定的上限。",
    "FailedOperation.InsufficientBalanceInSmsPackage": "套餐包余量不足。",
    "InternalError.Timeout": "请求下发短信超时。",
}
# Codes Tencent reports per number in SendStatusSet; every other code fails the request.
_TENCENT_PER_NUMBER = ("LimitExceeded.PhoneNumber", "InvalidParameterValue.IncorrectPhoneNumber")
_TENCENT_PER_NUMBER_EXCEPT = frozenset({"LimitExceeded.PhoneNumberCountLimit"})


@dataclass(frozen=True, slots=True)
class VendorCredentials:
    """What the emulated vendors accept: keys, the approved signature and templates."""

    sign_name: str
    template_ids: Mapping[str, str]  # hall template name -> the vendor's template id
    access_key_id: str = ""  # aliyun
    access_key_secret: str = ""
    secret_id: str = ""  # tencent
    secret_key: str = ""
    sdk_app_id: str = ""
    base_url: str = ""  # the hall's, which the filed wording carries (sms.templates.BASE)

    @classmethod
    def from_settings(cls, settings: Settings) -> VendorCredentials:
        return cls(
            sign_name=settings.sms_sign_name,
            template_ids=MappingProxyType(configured(settings)),
            access_key_id=settings.sms_access_key_id,
            access_key_secret=settings.sms_access_key_secret,
            secret_id=settings.sms_secret_id,
            secret_key=settings.sms_secret_key,
            sdk_app_id=settings.sms_sdk_app_id,
            base_url=settings.base_url,
        )

    def template_name(self, template_id: str) -> str | None:
        """The hall template a vendor template id was approved for, if any."""
        for name, tid in self.template_ids.items():
            if tid == template_id:
                return name
        return None


@dataclass(frozen=True, slots=True)
class VendorSms:
    """One message an emulated vendor accepted."""

    vendor: str  # "aliyun" | "tencent"
    phone: str  # 11 digits, country code removed
    sign_name: str
    template_id: str
    params: dict[str, str] = field(default_factory=dict)
    out_id: str = ""  # Aliyun OutId / Tencent SessionContext


def endpoint(base_url: str, vendor: str) -> str:
    """HALL_SMS_ENDPOINT that points `vendor`'s SDK at the emulation served at `base_url`."""
    parts = urlsplit(base_url)
    return f"{parts.netloc}{parts.path.rstrip('/')}{URL_PREFIX}/{vendor}"


class _Nonces:
    """Aliyun signature nonces seen within the clock-skew window (replay protection)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_use(self, nonce: str, now: float) -> bool:
        with self._lock:
            expired = [key for key, at in self._seen.items() if at < now - 2 * CLOCK_SKEW]
            for key in expired:
                del self._seen[key]
            if nonce in self._seen:
                return False
            self._seen[nonce] = now
            return True


def make_vendor_blueprint(
    record: Callable[[VendorSms], str],
    credentials: VendorCredentials,
    faults: Callable[[], str | None] | None = None,
    now: Callable[[], float] = time.time,
) -> Blueprint:
    """The emulations as a blueprint; `now` is the emulated vendors' clock (tests shift it)."""
    bp = Blueprint("sms_vendor_sandbox", __name__, url_prefix=URL_PREFIX)
    nonces = _Nonces()

    def fault() -> str | None:
        return faults() if faults is not None else None

    @bp.before_request
    def limit_body() -> None:
        request.max_content_length = _MAX_BODY  # a larger body is answered 413

    @bp.post("/aliyun/", strict_slashes=False)
    def aliyun() -> Response:
        request_id = _request_id()
        problem = _acs3_problem(credentials, nonces, now())
        if problem is None:
            problem = _aliyun_checks(credentials)
        if problem is None:
            problem = fault()
        if problem is not None:
            return _aliyun_error(problem, request_id)
        args = request.args
        phone = _aliyun_phone(args["PhoneNumbers"])
        assert phone is not None  # checked by _aliyun_checks
        biz_id = record(
            VendorSms(
                vendor="aliyun",
                phone=phone,
                sign_name=args["SignName"],
                template_id=args["TemplateCode"],
                params=_aliyun_params(args.get("TemplateParam", "")) or {},
                out_id=args.get("OutId", ""),
            )
        )
        return jsonify(Code="OK", Message="OK", BizId=biz_id, RequestId=request_id)

    @bp.post("/tencent/", strict_slashes=False)
    def tencent() -> Response:
        request_id = _request_id()
        problem = _tc3_problem(credentials, now())
        if problem is not None:
            return _tencent_error(problem, request_id)
        body, problem = _tencent_body(credentials)
        injected = fault()
        if problem is None and injected is not None and not _per_number(injected):
            problem = injected
        if problem is not None:
            return _tencent_error(problem, request_id)
        return _tencent_send(body, credentials, record, injected, request_id)

    return bp


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


def _auth_fields(rest: str) -> dict[str, str]:
    """`Credential=…,SignedHeaders=…,Signature=…` (either vendor) as a dict."""
    fields = {}
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value
    return fields


# --- Aliyun -----------------------------------------------------------------------------


def _aliyun_error(code: str, request_id: str) -> Response:
    reply = jsonify(
        RequestId=request_id,
        HostId=request.headers.get("Host", ""),
        Code=code,
        Message=_ALIYUN_MESSAGES.get(code, code),
    )
    reply.status_code = _ALIYUN_STATUS.get(code, 200)
    return reply


def _acs3_problem(credentials: VendorCredentials, nonces: _Nonces, now: float) -> str | None:
    """The error code for a request whose ACS3-HMAC-SHA256 signature does not hold."""
    algorithm, _, rest = request.headers.get("Authorization", "").partition(" ")
    if algorithm != _ACS3:
        return "IncompleteSignature"
    fields = _auth_fields(rest)
    key_id = fields.get("Credential", "")
    signed = fields.get("SignedHeaders", "")
    signature = fields.get("Signature", "")
    if not (key_id and signed and signature):
        return "IncompleteSignature"
    # An unconfigured secret would make HMAC keyed with "" — anyone could sign.
    if not (credentials.access_key_id and credentials.access_key_secret) or not (
        hmac.compare_digest(key_id.encode(), credentials.access_key_id.encode())
    ):
        return "InvalidAccessKeyId.NotFound"
    names = signed.split(";")
    if names != sorted(set(names)) or not set(names) >= _ACS3_SIGNED:
        return "IncompleteSignature"
    if any(name not in request.headers for name in names):
        return "IncompleteSignature"
    if any(len(values) > 1 for values in request.args.listvalues()):
        return "SignatureDoesNotMatch"
    try:
        stamp = datetime.strptime(request.headers["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return "InvalidTimeStamp.Format"
    if abs(stamp.replace(tzinfo=UTC).timestamp() - now) > CLOCK_SKEW:
        return "InvalidTimeStamp.Expired"

    payload_hash = hashlib.sha256(request.get_data(cache=True)).hexdigest()
    if not hmac.compare_digest(
        payload_hash.encode(), request.headers["x-acs-content-sha256"].encode()
    ):
        return "SignatureDoesNotMatch"
    query = "&".join(
        f"{quote(key, safe='~')}={quote(value, safe='~')}"
        for key, value in sorted(request.args.items())
    )
    headers = "".join(f"{name}:{request.headers[name].strip()}\n" for name in names)
    canonical = f"{request.method}\n/\n{query}\n{headers}\n{signed}\n{payload_hash}"
    to_sign = f"{_ACS3}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    expected = hmac.new(
        credentials.access_key_secret.encode(), to_sign.encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return "SignatureDoesNotMatch"
    # Only authenticated requests reach the nonce store, so strangers cannot fill it.
    if not nonces.first_use(request.headers["x-acs-signature-nonce"], now):
        return "SignatureNonceUsed"
    if request.headers["x-acs-action"] != ALIYUN_ACTION:
        return "InvalidAction.NotFound"
    if request.headers["x-acs-version"] != ALIYUN_VERSION:
        return "InvalidVersion"
    return None


def _aliyun_checks(credentials: VendorCredentials) -> str | None:
    """The error code for an authenticated `SendSms` Aliyun would refuse."""
    args = request.args
    for required in ("PhoneNumbers", "SignName", "TemplateCode"):
        if not args.get(required):
            return f"Missing{required}"
    if "," in args["PhoneNumbers"]:
        return "isv.MOBILE_COUNT_OVER_LIMIT"  # see the module docstring
    if _aliyun_phone(args["PhoneNumbers"]) is None:
        return "isv.MOBILE_NUMBER_ILLEGAL"
    if args["SignName"] != credentials.sign_name:
        return "isv.SMS_SIGNATURE_ILLEGAL"
    name = credentials.template_name(args["TemplateCode"])
    if name is None:
        return "isv.SMS_TEMPLATE_ILLEGAL"
    params = _aliyun_params(args.get("TemplateParam", ""))
    if params is None:
        return "isv.INVALID_JSON_PARAM"
    if any(param not in params for param in template(name).params):
        return "isv.TEMPLATE_MISSING_PARAMETERS"
    if any(len(value) > PARAM_MAX for value in params.values()):
        return "isv.PARAM_LENGTH_LIMIT"
    return None


def _aliyun_phone(number: str) -> str | None:
    for prefix in _ALIYUN_PREFIXES:
        if number.startswith(prefix) and len(number) == len(prefix) + 11:
            number = number.removeprefix(prefix)
            break
    return number if _MOBILE.fullmatch(number) else None


def _aliyun_params(raw: str) -> dict[str, str] | None:
    """TemplateParam: a JSON object of scalar values (Aliyun reads them as strings)."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting
        return None
    if not isinstance(value, dict):
        return None
    params: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            return None
        params[key] = str(item)
    return params


# --- Tencent ----------------------------------------------------------------------------


def _tencent_error(code: str, request_id: str) -> Response:
    error = {"Code": code, "Message": _TENCENT_MESSAGES.get(code, code)}
    return jsonify(Response={"Error": error, "RequestId": request_id})


def _per_number(code: str) -> bool:
    return code.startswith(_TENCENT_PER_NUMBER) and code not in _TENCENT_PER_NUMBER_EXCEPT


def _tc3_problem(credentials: VendorCredentials, now: float) -> str | None:
    """The error code for a request whose TC3-HMAC-SHA256 signature does not hold."""
    algorithm, _, rest = request.headers.get("Authorization", "").partition(" ")
    if algorithm != _TC3:
        return "AuthFailure.InvalidAuthorization"
    fields = _auth_fields(rest)
    scope = fields.get("Credential", "").split("/")
    signed = fields.get("SignedHeaders", "")
    signature = fields.get("Signature", "")
    if len(scope) != 4 or not (signed and signature):
        return "AuthFailure.InvalidAuthorization"
    secret_id, date, service, terminator = scope
    if not (credentials.secret_id and credentials.secret_key) or not (
        hmac.compare_digest(secret_id.encode(), credentials.secret_id.encode())
    ):
        return "AuthFailure.SecretIdNotFound"
    stamp = request.headers.get("X-TC-Timestamp", "")
    if not stamp.isdigit() or len(stamp) > 12:
        return "AuthFailure.InvalidAuthorization"
    if abs(int(stamp) - now) > CLOCK_SKEW:
        return "AuthFailure.SignatureExpire"
    stamp_date = datetime.fromtimestamp(int(stamp), UTC).strftime("%Y-%m-%d")
    names = signed.split(";")
    if (
        date != stamp_date
        or service != TENCENT_SERVICE
        or terminator != "tc3_request"
        or names != sorted(set(names))
        or not set(names) >= _TC3_SIGNED
        or any(name not in request.headers for name in names)
    ):
        return "AuthFailure.SignatureFailure"

    payload_hash = hashlib.sha256(request.get_data(cache=True)).hexdigest()
    headers = "".join(f"{name}:{request.headers[name].strip().lower()}\n" for name in names)
    canonical = f"{request.method}\n/\n\n{headers}\n{signed}\n{payload_hash}"
    to_sign = "\n".join(
        [
            _TC3,
            stamp,
            f"{date}/{service}/tc3_request",
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = _hmac(("TC3" + credentials.secret_key).encode(), date)
    key = _hmac(_hmac(key, service), "tc3_request")
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return "AuthFailure.SignatureFailure"
    if request.headers.get("X-TC-Action") != TENCENT_ACTION:
        return "InvalidAction"
    if request.headers.get("X-TC-Version") != TENCENT_VERSION:
        return "NoSuchVersion"
    return None


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def _tencent_body(credentials: VendorCredentials) -> tuple[dict[str, Any], str | None]:
    """The request body, and the error code when Tencent would refuse the whole request."""
    try:
        body = json.loads(request.get_data(cache=True))
    except (ValueError, RecursionError):  # RecursionError: hostile nesting
        return {}, "FailedOperation.JsonParseFail"
    if not isinstance(body, dict):
        return {}, "FailedOperation.JsonParseFail"
    numbers = body.get("PhoneNumberSet")
    params = body.get("TemplateParamSet", [])
    if not _strings(numbers) or not _strings(params):
        return body, "InvalidParameter"
    if body.get("SmsSdkAppId") != credentials.sdk_app_id or not credentials.sdk_app_id:
        return body, "InvalidParameterValue.SdkAppIdNotExist"
    if not numbers:
        return body, "MissingParameter.EmptyPhoneNumberSet"
    if len(numbers) > TENCENT_MAX_NUMBERS:
        return body, "LimitExceeded.PhoneNumberCountLimit"
    if body.get("SignName") != credentials.sign_name:
        return body, "FailedOperation.SignatureIncorrectOrUnapproved"
    name = credentials.template_name(str(body.get("TemplateId", "")))
    if name is None:
        return body, "FailedOperation.TemplateIncorrectOrUnapproved"
    if len(params) != len(template(name).params):
        return body, "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"
    if any(len(value) > PARAM_MAX for value in params):
        return body, "InvalidParameterValue.TemplateParameterLengthLimit"
    if not isinstance(body.get("SessionContext", ""), str):
        return body, "InvalidParameter"
    return body, None


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _tencent_send(
    body: dict[str, Any],
    credentials: VendorCredentials,
    record: Callable[[VendorSms], str],
    injected: str | None,
    request_id: str,
) -> Response:
    template_id = str(body["TemplateId"])
    name = credentials.template_name(template_id)
    assert name is not None  # checked by _tencent_body
    values: list[str] = body.get("TemplateParamSet", [])
    params = dict(zip(template(name).params, values, strict=True))
    context: str = body.get("SessionContext", "")
    text = f"【{body['SignName']}】{TEMPLATES[name].render(params, credentials.base_url)}"
    fee = 1 if len(text) <= 70 else -(-len(text) // 67)  # long messages go in 67-char parts
    statuses = []
    for number in body["PhoneNumberSet"]:
        phone = number.removeprefix("+86")
        code = injected or ("Ok" if _MOBILE.fullmatch(phone) else None)
        if code is None:
            code = "InvalidParameterValue.IncorrectPhoneNumber"
        serial = ""
        if code == "Ok":
            message = VendorSms("tencent", phone, body["SignName"], template_id, params, context)
            serial = record(message)
        statuses.append(
            {
                "SerialNo": serial,
                "PhoneNumber": number if number.startswith("+") else f"+86{number}",
                "Fee": fee if code == "Ok" else 0,
                "SessionContext": context,
                "Code": code,
                "Message": "send success" if code == "Ok" else _TENCENT_MESSAGES.get(code, code),
                "IsoCode": "CN",
            }
        )
    return jsonify(Response={"SendStatusSet": statuses, "RequestId": request_id})
