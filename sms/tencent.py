"""Tencent Cloud (腾讯云) SMS: API 2021-01-11 `SendSms` through the official SDK.

The SDK signs each request with TC3-HMAC-SHA256 and posts a JSON body: PhoneNumberSet
(E.164, "+86…"), SmsSdkAppId, SignName, TemplateId (the vendor's id of the hall template),
TemplateParamSet (the parameters in placeholder order) and SessionContext (our id).

Tencent fails a whole request with `Response.Error` (authentication, signature or
template not approved, …) and a single number with a `Code` other than "Ok" in its
`SendStatusSet` entry (bad number, the per-number 30 s / 1 h / day limits). Both are
sorted here the same way into `SmsRejected`, `SmsRateLimited` and `SmsError` (network
failures, timeouts, unknown codes, an empty SMS package an operator can top up). The SDK
does not retry: the delivery job does, with backoff.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# The SDK ships no type information; its objects are used through the few fields read here.
from tencentcloud.common.credential import Credential  # type: ignore[import-untyped]
from tencentcloud.common.exception import TencentCloudSDKException  # type: ignore[import-untyped]
from tencentcloud.common.profile.client_profile import ClientProfile  # type: ignore[import-untyped]
from tencentcloud.common.profile.http_profile import HttpProfile  # type: ignore[import-untyped]
from tencentcloud.sms.v20210111 import models  # type: ignore[import-untyped]
from tencentcloud.sms.v20210111.sms_client import SmsClient  # type: ignore[import-untyped]

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
from sms.templates import configured, ordered

DEFAULT_ENDPOINT = "sms.tencentcloudapi.com"
DEFAULT_REGION = "ap-guangzhou"

# How long each limit lasts (LimitExceeded.*); other LimitExceeded codes wait a minute.
RATE_LIMITS = {
    "LimitExceeded.PhoneNumberThirtySecondLimit": 30.0,
    "LimitExceeded.PhoneNumberOneHourLimit": 3600.0,
    "LimitExceeded.PhoneNumberDailyLimit": 86400.0,
    "LimitExceeded.PhoneNumberSameContentDailyLimit": 86400.0,
    "LimitExceeded.DailyLimit": 86400.0,
    "LimitExceeded.AppDailyLimit": 86400.0,
    "LimitExceeded.AppMainlandChinaDailyLimit": 86400.0,
    "LimitExceeded.AppGlobalDailyLimit": 86400.0,
    "LimitExceeded.AppCountryOrRegionDailyLimit": 86400.0,
    "LimitExceeded.GlobalSmsSendingRateLimit": 1.0,
    "RequestLimitExceeded": 1.0,  # the API's request rate
}
DEFAULT_RETRY_AFTER = 60.0

# Retrying cannot help: the number, signature, template, parameters or credentials are
# wrong (the last needs an operator, not a retry).
REJECTED = frozenset(
    {
        "FailedOperation.PhoneNumberInBlacklist",
        "FailedOperation.PhoneNumberParseFail",
        "FailedOperation.SignatureIncorrectOrUnapproved",
        "FailedOperation.TemplateIncorrectOrUnapproved",
        "FailedOperation.TemplateUnapprovedOrNotExist",
        "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
        "FailedOperation.TemplateIdNotExist",
        "FailedOperation.MissingSignatureList",
        "FailedOperation.MissingTemplateList",
        "FailedOperation.ContainSensitiveWord",
        "FailedOperation.ProhibitSubAccountUse",
        "LimitExceeded.PhoneNumberCountLimit",
        "LimitExceeded.AppCountryOrRegionInBlacklist",
        "InvalidAction",
        "NoSuchVersion",
    }
)
_REJECTED_PREFIXES = (
    "AuthFailure.",
    "InvalidParameter",  # InvalidParameter, InvalidParameter.*, InvalidParameterValue.*
    "MissingParameter",
    "UnsupportedOperation",
    "UnauthorizedOperation.",
)
# Arrears: an operator tops the account up, then the retries go through; an expired
# signature is our clock being off, which a later attempt may not be.
_TRANSIENT = frozenset(
    {"UnauthorizedOperation.ServiceSuspendDueToArrears", "AuthFailure.SignatureExpire"}
)


class TencentProvider:
    """Sends through Tencent Cloud's SMS API; one client per provider."""

    name = "tencent"

    def __init__(
        self,
        *,
        secret_id: str,
        secret_key: str,
        sdk_app_id: str,
        sign_name: str,
        template_ids: Mapping[str, str],
        region: str = DEFAULT_REGION,
        endpoint: str = "",  # host[:port][/path]; "" is Tencent's public API
        timeout: float = TIMEOUT,
    ) -> None:
        self.sdk_app_id = sdk_app_id
        self.sign_name = sign_name
        self.template_ids = MappingProxyType(dict(template_ids))
        host, scheme = resolve_endpoint(endpoint, DEFAULT_ENDPOINT)
        # reqTimeout is handed to requests as both its connect and its read timeout.
        profile = ClientProfile(
            httpProfile=HttpProfile(protocol=scheme, endpoint=host, reqTimeout=timeout)
        )
        self._client = SmsClient(Credential(secret_id, secret_key), region, profile)

    @classmethod
    def from_settings(cls, settings: Settings) -> TencentProvider:
        require(
            settings,
            "sms_secret_id",
            "sms_secret_key",
            "sms_sdk_app_id",
            "sms_sign_name",
            "sms_template_code",
            "sms_template_result",
        )
        return cls(
            secret_id=settings.sms_secret_id,
            secret_key=settings.sms_secret_key,
            sdk_app_id=settings.sms_sdk_app_id,
            sign_name=settings.sms_sign_name,
            template_ids=configured(settings),
            region=settings.sms_region or DEFAULT_REGION,
            endpoint=settings.sms_endpoint,
        )

    def send(self, sms: Sms) -> Sent:
        template_id = self.template_ids.get(sms.template)
        if template_id is None:
            raise SmsRejected(f"no SMS template {sms.template!r}", code="UnknownTemplate")
        request = models.SendSmsRequest()
        request.PhoneNumberSet = ["+86" + sms.phone]
        request.SmsSdkAppId = self.sdk_app_id
        request.SignName = self.sign_name
        request.TemplateId = template_id
        request.TemplateParamSet = ordered(sms.template, sms.params)
        request.SessionContext = sms.out_id
        try:
            # The SDK wraps every failure (network, timeout, unreadable reply) in its
            # exception; a reply's Response.Error arrives the same way, with its code.
            reply = self._client.SendSms(request)
        except TencentCloudSDKException as exc:
            raise error(str(exc.code or ""), str(exc.message or "")) from exc
        statuses = reply.SendStatusSet or []
        if not statuses:
            raise SmsError("tencent: reply without SendStatusSet")
        status = statuses[0]
        code = str(status.Code or "")
        if code == "Ok":
            if not status.SerialNo:
                raise SmsError("tencent: Ok without a SerialNo", code=code)
            return Sent(provider_id=str(status.SerialNo))
        raise error(code, str(status.Message or ""))


def error(code: str, message: str) -> SmsError:
    """The exception for a Tencent error `code` (with its `message`)."""
    text = f"tencent {code or 'error'}: {message}"
    if code in RATE_LIMITS or (code.startswith("LimitExceeded.") and code not in REJECTED):
        wait = RATE_LIMITS.get(code, DEFAULT_RETRY_AFTER)
        return SmsRateLimited(text, retry_after=wait, code=code)
    if code not in _TRANSIENT and (code in REJECTED or code.startswith(_REJECTED_PREFIXES)):
        return SmsRejected(text, code=code)
    return SmsError(text, code=code)
