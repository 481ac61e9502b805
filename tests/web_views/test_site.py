"""Languages, the catalogue, and the front-end libraries served from node_modules."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask

from tests.web_views.helpers import post, submit, text
from web.i18n import CATALOGUE, STATUS_LABELS, localize
from web.views.present import ACTION_LABELS, KIND_LABELS

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates" / "hall"
VIEWS = Path(__file__).resolve().parents[2] / "web" / "views"
# the applicant and reviewer pages (the designer, statistics and admin pages test theirs)
OWN_MODULES = (
    "applications",
    "apply",
    "catalog",
    "common",
    "delegations",
    "formdata",
    "messages",
    "monitor",
    "passes",
    "people",
    "present",
    "records",
    "tasks",
    "uploads",
)


def test_zh_cn_is_the_default(client_for, school):
    page = text(client_for(school.alice).get("/"))
    assert '<html lang="zh-CN">' in page
    assert "服务目录" in page


def test_accept_language_english(client_for, school):
    response = client_for(school.alice).get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
    page = text(response)
    assert '<html lang="en">' in page
    assert "My applications" in page
    assert response.headers["Content-Language"] == "en"


def test_the_switch_is_remembered_over_accept_language(client_for, school):
    client = client_for(school.alice)
    response = post(client, "/lang", {"lang": "en", "next": "/applications"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/applications"
    assert "hall_lang=en" in response.headers["Set-Cookie"]
    assert "HttpOnly" in response.headers["Set-Cookie"]
    assert "My applications" in text(client.get("/", headers={"Accept-Language": "zh-CN"}))
    back = post(client, "/lang", {"lang": "zh_CN", "next": "https://evil.example/"})
    assert back.headers["Location"] == "/"
    assert "服务目录" in text(client.get("/"))


def test_every_message_has_an_english_text():
    used: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r'_\("([^"]+)"', template.read_text(encoding="utf-8")))
        used |= set(re.findall(r"_\('([^']+)'", template.read_text(encoding="utf-8")))
    for module in (VIEWS / f"{name}.py" for name in OWN_MODULES):
        used |= set(re.findall(r'gettext\(\s*"([^"]+)"', module.read_text(encoding="utf-8")))
    used |= set(STATUS_LABELS.values()) | set(ACTION_LABELS.values()) | set(KIND_LABELS.values())
    missing = sorted(m for m in used if m not in CATALOGUE and re.search(r"[\u4e00-\u9fff]", m))
    assert missing == [], missing


HALL = Path(__file__).resolve().parents[2] / "hall"
# A domain error raised with a zh_CN message, or a per-field message of one.
_RAISED = re.compile(
    r"\b(?:Invalid|Conflict|NotFound|RateLimited|AlreadyDecided|ReasonRequired|ResultInvalid)"
    r'\(\s*"([^"]*[\u4e00-\u9fff][^"]*)"'
)
_FIELD = re.compile(r'(?:fields=\{"\w+": |problem = )"([^"{]*[\u4e00-\u9fff][^"{]*)"')


def test_every_answer_of_the_services_has_an_english_text():
    """What the engine and services refuse with is flashed on the page in its language."""
    used: set[str] = set()
    for module in HALL.glob("*.py"):
        source = module.read_text(encoding="utf-8")
        used |= set(_RAISED.findall(source)) | set(_FIELD.findall(source))
    assert len(used) > 40  # the patterns still find them
    assert sorted(filter(_untranslated, used)) == []


def _untranslated(message: str) -> bool:
    # A message that goes on with a value ("人员不存在：" + names) is tried with one.
    sample = message + "张三" if message.endswith("：") else message
    return localize_en(sample) == sample


def localize_en(message: str) -> str:
    with Flask(__name__).test_request_context(headers={"Accept-Language": "en"}):
        return localize(message)


def test_a_refusal_is_flashed_in_english(client_for, school, db):
    app_id = submit(db, school.alice)
    alice = client_for(school.alice)
    headers = {"Accept-Language": "en"}
    page = text(alice.get(f"/applications/{app_id}", headers=headers))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    alice.post(f"/applications/{app_id}/urge", data={"csrf_token": token.group(1)}, headers=headers)
    after = text(alice.get(f"/applications/{app_id}", headers=headers))
    assert "The reviewer has only just received it: urge again in 30 min" in after


def test_catalogue_filters_and_frequently_used(client_for, school, db):
    client = client_for(school.alice)
    page = text(client.get("/"))
    assert "全字段申请" in page
    assert "简单申请" in page
    assert "常用服务" not in page
    assert "简单申请" in text(client.get("/?q=简单"))
    assert "全字段申请" not in text(client.get("/?q=简单"))
    assert "全字段申请" not in text(client.get("/?category=人事"))
    assert "没有找到符合条件的服务" in text(client.get("/?department=MATH"))
    assert "没有找到符合条件的服务" in text(client.get("/?audience=offcampus"))
    submit(db, school.alice)
    submit(db, school.alice)
    frequent = text(client.get("/"))
    assert "常用服务" in frequent
    section = frequent.split('id="frequent-title"')[1].split("</section>")[0]
    assert "简单申请" in section
    assert "全字段申请" not in section


def test_vendor_files_come_from_node_modules(client_for, school):
    client = client_for(None)
    css = client.get("/vendor/weui/style/weui.min.css")
    assert css.status_code == 200
    assert css.headers["X-Content-Type-Options"] == "nosniff"
    css.close()
    js = client.get("/vendor/htmx.org/htmx.min.js")
    assert js.status_code == 200
    js.close()
    echarts = client.get("/vendor/echarts/echarts.min.js")
    assert echarts.status_code == 200
    echarts.close()
    assert client.get("/vendor/weui/../package.json").status_code == 404
    assert client.get("/vendor/weui/%2e%2e/package.json").status_code == 404
    assert client.get("/vendor/left-pad/index.js").status_code == 404
    assert client.get("/vendor/weui/style/weui.less").status_code == 404


def test_pages_link_versioned_vendor_files(client_for, school):
    page = text(client_for(school.alice).get("/"))
    assert re.search(r"/vendor/weui/style/weui.min.css\?v=\d", page)
    assert re.search(r"/vendor/htmx.org/htmx.min.js\?v=2\.", page)


def test_server_field_errors_in_english(client_for, school):
    client = client_for(school.alice)
    headers = {"Accept-Language": "en"}
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', text(client.get("/processes/every", headers=headers))
    )
    assert token is not None
    response = client.post(
        "/processes/every/apply",
        data={
            "csrf_token": token.group(1),
            "action": "submit",
            "reason": "长" * 51,
            "days": "40",
            "phone": "1",
        },
        headers=headers,
    )
    assert response.status_code == 422
    page = text(response)
    assert "At most 50 characters" in page
    assert "Please fill in 类型" in page
    assert "Must be at most 30" in page
    assert "Enter an 11-digit mobile number" in page
