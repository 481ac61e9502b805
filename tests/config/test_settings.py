"""config/settings.py: every HALL_* variable is honoured, `.env` works, bad values are named."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from config import Settings, SettingsError, load_settings
from config.settings import (
    DEFAULT_WECOM_API_BASE,
    SANDBOX_AES_KEY,
    SANDBOX_AGENT_ID,
    SANDBOX_CONTACTS_AES_KEY,
    SANDBOX_CONTACTS_SECRET,
    SANDBOX_CONTACTS_TOKEN,
    SANDBOX_CORP_ID,
    SANDBOX_SECRET,
    SANDBOX_TOKEN,
)

AES_A = "A" * 43
AES_B = "b" * 43
EXAMPLE_ENV = Path(__file__).resolve().parents[2] / "config" / "example.env"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No HALL_* from the caller's shell, and a working directory without a `.env`."""
    for name in list(os.environ):
        if name.startswith("HALL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults_are_the_embedded_sandbox(clean_env: Path) -> None:
    settings = load_settings()

    assert settings.var_dir == Path("var")
    assert settings.database_url == "sqlite:///var/hall.db"
    assert settings.redis_url == ""
    assert settings.embedded_redis is True
    assert settings.base_url == "http://127.0.0.1:5000"
    assert settings.port == 5000
    assert settings.sandbox is True
    assert settings.wecom_corp_id == SANDBOX_CORP_ID
    assert settings.wecom_agent_id == SANDBOX_AGENT_ID
    assert settings.wecom_secret == SANDBOX_SECRET
    assert settings.wecom_token == SANDBOX_TOKEN
    assert settings.wecom_aes_key == SANDBOX_AES_KEY
    assert settings.wecom_contacts_secret == SANDBOX_CONTACTS_SECRET
    assert settings.wecom_contacts_token == SANDBOX_CONTACTS_TOKEN
    assert settings.wecom_contacts_aes_key == SANDBOX_CONTACTS_AES_KEY
    assert settings.wecom_api_base == "http://127.0.0.1:5000/_sandbox/wecom/cgi-bin"
    assert settings.cas_url == "http://127.0.0.1:5000/_sandbox/cas/"
    assert settings.cas_version == "3"
    assert settings.cas_rest is False
    assert settings.sms_provider == "sandbox"


def test_secret_key_is_generated_once_into_var(clean_env: Path) -> None:
    first = load_settings()
    path = clean_env / "var" / "secret_key"

    assert len(first.secret_key) >= 64
    assert path.read_text(encoding="utf-8") == first.secret_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_settings().secret_key == first.secret_key


def test_secret_key_from_the_environment_is_not_written(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HALL_SECRET_KEY", "from-the-environment")

    assert load_settings().secret_key == "from-the-environment"
    assert not (clean_env / "var" / "secret_key").exists()


# (variable, value in the environment, attribute, expected value). The WeCom values are
# given with HALL_SANDBOX=0 where the sandbox would otherwise fill its own.
HONOURED: list[tuple[str, str, str, object]] = [
    ("HALL_VAR_DIR", "/srv/hall/state", "var_dir", Path("/srv/hall/state")),
    (
        "HALL_DATABASE_URL",
        "postgresql+psycopg://hall:pw@db.example.edu.cn:5432/hall",
        "database_url",
        "postgresql+psycopg://hall:pw@db.example.edu.cn:5432/hall",
    ),
    ("HALL_REDIS_URL", "redis://10.0.0.5:6379/2", "redis_url", "redis://10.0.0.5:6379/2"),
    ("HALL_SECRET_KEY", "s" * 50, "secret_key", "s" * 50),
    ("HALL_BASE_URL", "https://hall.example.edu.cn/", "base_url", "https://hall.example.edu.cn"),
    ("HALL_SANDBOX", "0", "sandbox", False),
    ("HALL_LOCALE", "en", "locale", "en"),
    ("HALL_WECOM_CORP_ID", "ww0123456789abcdef", "wecom_corp_id", "ww0123456789abcdef"),
    ("HALL_WECOM_AGENT_ID", "1000017", "wecom_agent_id", 1000017),
    ("HALL_WECOM_SECRET", "app-secret", "wecom_secret", "app-secret"),
    ("HALL_WECOM_TOKEN", "cbtoken", "wecom_token", "cbtoken"),
    ("HALL_WECOM_AES_KEY", AES_A, "wecom_aes_key", AES_A),
    ("HALL_WECOM_CONTACTS_SECRET", "c-secret", "wecom_contacts_secret", "c-secret"),
    ("HALL_WECOM_CONTACTS_TOKEN", "c-token", "wecom_contacts_token", "c-token"),
    ("HALL_WECOM_CONTACTS_AES_KEY", AES_B, "wecom_contacts_aes_key", AES_B),
    (
        "HALL_WECOM_API_BASE",
        "http://proxy.local/cgi-bin",
        "wecom_api_base",
        "http://proxy.local/cgi-bin",
    ),
    (
        "HALL_CAS_URL",
        "https://cas.example.edu.cn/cas/",
        "cas_url",
        "https://cas.example.edu.cn/cas/",
    ),
    ("HALL_CAS_VERSION", "2", "cas_version", "2"),
    ("HALL_CAS_REST", "1", "cas_rest", True),
    ("HALL_SMS_PROVIDER", "aliyun", "sms_provider", "aliyun"),
    ("HALL_URGE_INTERVAL_MINUTES", "45", "urge_interval_minutes", 45),
    ("HALL_RELAY_INTERVAL_SECONDS", "0.25", "relay_interval_seconds", 0.25),
    ("HALL_DELIVERY_MAX_ATTEMPTS", "3", "delivery_max_attempts", 3),
    ("HALL_SYNC_CRON", "30 3 * * *", "sync_cron", "30 3 * * *"),
]

# The contract of DESIGN.md: these names must stay; a rename breaks deployments.
DESIGN_VARIABLES = {
    "HALL_DATABASE_URL",
    "HALL_REDIS_URL",
    "HALL_SECRET_KEY",
    "HALL_BASE_URL",
    "HALL_SANDBOX",
    "HALL_WECOM_CORP_ID",
    "HALL_WECOM_AGENT_ID",
    "HALL_WECOM_SECRET",
    "HALL_WECOM_TOKEN",
    "HALL_WECOM_AES_KEY",
    "HALL_WECOM_CONTACTS_SECRET",
    "HALL_WECOM_CONTACTS_TOKEN",
    "HALL_WECOM_CONTACTS_AES_KEY",
    "HALL_WECOM_API_BASE",
    "HALL_CAS_URL",
    "HALL_CAS_VERSION",
    "HALL_CAS_REST",
    "HALL_SMS_PROVIDER",
}


def test_every_design_variable_is_a_setting_and_is_tested() -> None:
    fields = {f"HALL_{name.upper()}" for name in Settings.model_fields}
    assert fields >= DESIGN_VARIABLES
    assert {variable for variable, *_ in HONOURED} >= DESIGN_VARIABLES


@pytest.mark.parametrize(("variable", "raw", "attribute", "expected"), HONOURED)
def test_variable_is_honoured(
    monkeypatch: pytest.MonkeyPatch, variable: str, raw: str, attribute: str, expected: object
) -> None:
    monkeypatch.setenv("HALL_SANDBOX", "0")
    monkeypatch.setenv(variable, raw)

    assert getattr(load_settings(), attribute) == expected


@pytest.mark.parametrize(("variable", "raw", "attribute", "expected"), HONOURED)
def test_variable_is_honoured_from_dotenv(
    clean_env: Path, variable: str, raw: str, attribute: str, expected: object
) -> None:
    (clean_env / ".env").write_text(f"HALL_SANDBOX=0\n{variable}={raw}\n", encoding="utf-8")

    assert getattr(load_settings(), attribute) == expected


def test_environment_beats_dotenv_and_overrides_beat_both(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_env / ".env").write_text(
        "# a comment\nHALL_BASE_URL=http://127.0.0.1:7001\nHALL_REDIS_URL=redis://a:6379/0\n"
        "OTHER_TOOL_SETTING=ignored\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("HALL_REDIS_URL", "redis://b:6379/0")

    settings = load_settings()
    assert settings.base_url == "http://127.0.0.1:7001"
    assert settings.port == 7001
    assert settings.redis_url == "redis://b:6379/0"
    assert load_settings(redis_url="redis://c:6379/0").redis_url == "redis://c:6379/0"


def test_example_env_as_shipped_loads_the_sandbox(clean_env: Path) -> None:
    (clean_env / ".env").write_text(EXAMPLE_ENV.read_text(encoding="utf-8"), encoding="utf-8")

    settings = load_settings()
    assert settings.sandbox is True
    assert settings.embedded_redis is True


def test_example_env_uncommented_blank_values_mean_unset(clean_env: Path) -> None:
    # Every documented variable appears in example.env; blank ones keep their defaults.
    lines = EXAMPLE_ENV.read_text(encoding="utf-8").splitlines()
    body = "\n".join(line.removeprefix("# ") for line in lines if line.startswith("# HALL_"))
    documented = {line.split("=", 1)[0] for line in body.splitlines()}
    assert documented >= DESIGN_VARIABLES
    (clean_env / ".env").write_text(body + "\n", encoding="utf-8")

    settings = load_settings()
    assert settings.sandbox is False
    assert settings.database_url == "postgresql+psycopg://hall@127.0.0.1:5432/hall"
    assert settings.base_url == "https://hall.example.edu.cn"
    assert settings.port == 443
    assert settings.wecom_agent_id == 0
    assert settings.wecom_api_base == DEFAULT_WECOM_API_BASE
    assert settings.cas_url == "https://cas.example.edu.cn/cas/"


def test_a_real_corp_turns_the_sandbox_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALL_WECOM_CORP_ID", "ww0123456789abcdef")

    settings = load_settings()
    assert settings.sandbox is False
    assert settings.wecom_secret == ""
    assert settings.wecom_api_base == DEFAULT_WECOM_API_BASE


def test_sandbox_fills_only_what_is_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALL_SANDBOX", "1")
    monkeypatch.setenv("HALL_WECOM_CORP_ID", "ww0123456789abcdef")
    monkeypatch.setenv("HALL_BASE_URL", "http://127.0.0.1:8123")

    settings = load_settings()
    assert settings.sandbox is True
    assert settings.wecom_corp_id == "ww0123456789abcdef"
    assert settings.wecom_secret == SANDBOX_SECRET
    assert settings.wecom_api_base == "http://127.0.0.1:8123/_sandbox/wecom/cgi-bin"
    assert settings.cas_url == "http://127.0.0.1:8123/_sandbox/cas/"


def test_default_database_follows_var_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HALL_VAR_DIR", str(tmp_path / "state"))

    settings = load_settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'state' / 'hall.db'}"
    assert (tmp_path / "state" / "secret_key").exists()


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("http://127.0.0.1:5000", 5000),
        ("http://localhost", 80),
        ("https://hall.example.edu.cn", 443),
        ("https://hall.example.edu.cn:8443/hall/", 8443),
    ],
)
def test_port_comes_from_the_base_url(monkeypatch: pytest.MonkeyPatch, url: str, port: int) -> None:
    monkeypatch.setenv("HALL_BASE_URL", url)

    assert load_settings().port == port


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HALL_BASE_URL", "ftp://x"),
        ("HALL_BASE_URL", "http://"),
        ("HALL_BASE_URL", "hall.example.edu.cn"),
        ("HALL_BASE_URL", "http://127.0.0.1:99999"),
        ("HALL_BASE_URL", "http://127.0.0.1:abc"),
        ("HALL_WECOM_AES_KEY", "k" * 42),
        ("HALL_WECOM_AES_KEY", "k" * 44),
        ("HALL_WECOM_CONTACTS_AES_KEY", "short"),
        ("HALL_WECOM_AGENT_ID", "not-a-number"),
        ("HALL_SANDBOX", "maybe"),
        ("HALL_CAS_URL", "https://cas.example.edu.cn/cas"),
        ("HALL_CAS_VERSION", "4"),
        ("HALL_CAS_REST", "sometimes"),
        ("HALL_SMS_PROVIDER", "pigeon"),
        ("HALL_DATABASE_URL", "not a url"),
        ("HALL_REDIS_URL", "http://127.0.0.1:6379"),
        ("HALL_LOCALE", "fr"),
        ("HALL_URGE_INTERVAL_MINUTES", "0"),
        ("HALL_RELAY_INTERVAL_SECONDS", "0"),
        ("HALL_DELIVERY_MAX_ATTEMPTS", "51"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("invalid configuration: ")
    assert f"{variable}:" in message


def test_bad_value_in_dotenv_names_the_variable(clean_env: Path) -> None:
    (clean_env / ".env").write_text("HALL_WECOM_AES_KEY=" + "k" * 42 + "\n", encoding="utf-8")

    with pytest.raises(SettingsError, match=r"HALL_WECOM_AES_KEY: .*exactly 43 characters"):
        load_settings()


def test_every_bad_variable_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALL_BASE_URL", "ftp://x")
    monkeypatch.setenv("HALL_WECOM_AES_KEY", "k" * 42)

    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "HALL_BASE_URL:" in str(caught.value)
    assert "HALL_WECOM_AES_KEY:" in str(caught.value)


def test_settings_are_frozen() -> None:
    settings = load_settings()

    with pytest.raises(ValueError, match="frozen"):
        settings.base_url = "http://elsewhere"  # type: ignore[misc]


def test_a_running_hall_run_s_embedded_redis_is_found_from_another_terminal(
    clean_env: Path,
) -> None:
    settings = load_settings(var_dir=clean_env / "var")
    assert settings.running_redis_url() == ""  # no hall run, no HALL_REDIS_URL
    redis_dir = clean_env / "var" / "redis"
    redis_dir.mkdir(parents=True)
    sock = redis_dir / "redis.sock"
    (redis_dir / "url").write_text(f"unix://{sock}", encoding="utf-8")
    assert settings.running_redis_url() == ""  # a stale marker: its socket is gone
    sock.touch()
    assert settings.running_redis_url() == f"unix://{sock}"
    explicit = load_settings(var_dir=clean_env / "var", redis_url="redis://127.0.0.1:6379/3")
    assert explicit.running_redis_url() == "redis://127.0.0.1:6379/3"
