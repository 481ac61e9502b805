"""What every SMS provider offers, and the one place a provider is chosen.

A provider sends one templated message to one mainland mobile number, or raises:
`SmsRejected` when sending it again can never help (bad number, template not approved,
wrong credentials), `SmsRateLimited` when the gateway asked us to wait, `SmsError` for
anything transient (timeouts, 5xx). Every network call has a timeout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Protocol
from urllib.parse import urlsplit

from config import Settings, SettingsError

TIMEOUT = 10.0  # seconds, connect + read; a delivery job retries later with backoff


@dataclass(frozen=True, slots=True)
class Sms:
    """One message: a hall template name (`sms.templates.TEMPLATES`) and its parameters."""

    phone: str  # 11 digits, mainland mobile (hall.forms.MOBILE_RE)
    template: str
    params: dict[str, str] = field(default_factory=dict)
    out_id: str = ""  # our id for the message, echoed in the vendor's receipts


@dataclass(frozen=True, slots=True)
class Sent:
    provider_id: str  # the gateway's id for the message (Aliyun BizId, Tencent SerialNo)


class SmsError(Exception):
    """The message was not sent now; sending it again later may work."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code  # the gateway's error code, when it gave one


class SmsRejected(SmsError):
    """The gateway refused this message for good: do not retry."""


class SmsRateLimited(SmsError):
    """The gateway's frequency limit: retry after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float, code: str = "") -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class SmsProvider(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, sms: Sms) -> Sent:
        """Send `sms` or raise an `SmsError`."""
        ...


def make_provider(settings: Settings) -> SmsProvider:
    """The provider HALL_SMS_PROVIDER names, configured from the settings.

    Raises `SettingsError` naming the missing variable when a provider lacks its keys.
    """
    # Imported here: a deployment loads one vendor SDK only.
    if settings.sms_provider == "sandbox":
        if not settings.sandbox:
            raise SettingsError(
                "HALL_SMS_PROVIDER: 'sandbox' needs HALL_SANDBOX=1; "
                "choose aliyun, tencent or http for a real deployment"
            )
        from sms.http import HttpGateway  # noqa: PLC0415 - one vendor SDK per deployment

        return HttpGateway.sandbox(settings)
    if settings.sms_provider == "http":
        from sms.http import HttpGateway  # noqa: PLC0415 - one vendor SDK per deployment

        return HttpGateway.from_settings(settings)
    if settings.sms_provider == "aliyun":
        from sms.aliyun import AliyunProvider  # noqa: PLC0415 - one vendor SDK per deployment

        return AliyunProvider.from_settings(settings)
    from sms.tencent import TencentProvider  # noqa: PLC0415 - one vendor SDK per deployment

    return TencentProvider.from_settings(settings)


def require(settings: Settings, *names: str) -> None:
    """Raise `SettingsError` naming every HALL_SMS_* variable in `names` that is unset."""
    missing = [f"HALL_{name.upper()}" for name in names if not getattr(settings, name)]
    if missing:
        raise SettingsError(
            f"HALL_SMS_PROVIDER={settings.sms_provider} needs " + ", ".join(missing)
        )


def resolve_endpoint(configured: str, default: str) -> tuple[str, str]:
    """HALL_SMS_ENDPOINT (or a vendor's `default` host) as the SDKs take it, and the scheme.

    An endpoint is `host[:port][/path]` without a scheme; the emulations are served on
    loopback over plain HTTP, while the vendors' own APIs are only reached over HTTPS.
    """
    if "://" in configured:
        raise SettingsError(
            "HALL_SMS_ENDPOINT: give host[:port][/path], e.g. 127.0.0.1:5123, without http(s)://"
        )
    host = configured or default
    return host, "http" if _is_loopback(host) else "https"


def _is_loopback(endpoint: str) -> bool:
    try:
        host = urlsplit("//" + endpoint).hostname
    except ValueError:
        return False
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
