"""The hall's SMS templates. Vendors send only templates they approved, so each has a
vendor id (HALL_SMS_TEMPLATE_*) and the text filed for approval, which the sandbox and a
plain HTTP gateway render themselves. Parameters are cut to what vendors accept.

Vendors take no links in variables (Tencent refuses them; Aliyun caps a variable at 35
characters): a link's site is part of the filed text, `{base}` standing for the school's
HALL_BASE_URL, and only its short last part (an id, a token) is a variable."""

from __future__ import annotations

import re
from dataclasses import dataclass

from config import Settings

PARAM_MAX = 35  # Aliyun's limit for an ordinary template variable
BASE = "{base}"  # HALL_BASE_URL, written into the filed text
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    text: str  # the wording filed with the vendor, ${param} placeholders

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(_PLACEHOLDER.findall(self.text))

    def filed(self, base: str) -> str:
        """The wording to file with the vendor for a hall at `base`."""
        return self.text.replace(BASE, base.rstrip("/"))

    def render(self, values: dict[str, str], base: str) -> str:
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), self.filed(base))


TEMPLATES = {
    "code": Template("code", "您的验证码为${code}，5分钟内有效。如非本人操作，请忽略本短信。"),
    "result": Template(
        "result",
        "您申请的${title}${outcome}，办件编号${serial}。详情请登录网上办事大厅查看：{base}/m/${no}",
    ),
    "invite": Template(
        "invite", "${host}邀请您办理${title}，请于${deadline}前点击链接填写：{base}/i/${token}"
    ),
}


class UnknownTemplate(ValueError):
    pass


def template(name: str) -> Template:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise UnknownTemplate(f"no SMS template {name!r}") from None


def configured(settings: Settings) -> dict[str, str]:
    """The vendor's ids HALL_SMS_TEMPLATE_* give, by hall template (unset ones left out)."""
    ids = {
        "code": settings.sms_template_code,
        "result": settings.sms_template_result,
        "invite": settings.sms_template_invite,
    }
    return {name: template_id for name, template_id in ids.items() if template_id}


def vendor_id(settings: Settings, name: str) -> str:
    """The vendor's id of a hall template; the sandbox's own ids are the names."""
    return configured(settings).get(name) or name


def template_named(settings: Settings, template_id: str) -> str | None:
    """The hall template a template id stands for: its own name, or the vendor id
    configured for it (HALL_SMS_TEMPLATE_*); `vendor_id` the other way round."""
    if template_id in TEMPLATES:
        return template_id
    return next((name for name in TEMPLATES if vendor_id(settings, name) == template_id), None)


def cut(value: str, limit: int = PARAM_MAX) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def ordered(name: str, values: dict[str, str]) -> list[str]:
    """Parameters in placeholder order (Tencent's TemplateParamSet is a list)."""
    return [values.get(param, "") for param in template(name).params]
