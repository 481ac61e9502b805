"""The form page from a process version: every field type, prefill, drafts, the server's
validation with the same rules the browser gets, and nothing the person typed is lost."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape
from typing import Any

from sqlalchemy import select

from hall.clock import utcnow
from hall.definitions import FieldType, parse_spec
from hall.models import Application
from tests.web_views.conftest import EVERY_FIELD
from tests.web_views.helpers import post, text

VALID = {
    "reason": "参加学术会议",
    "detail": "在北京参加三天会议",
    "days": "3",
    "day": "2030-05-01",
    "period.start": "2030-05-01",
    "period.end": "2030-05-03",
    "slot.start": "2030-05-01T08:00",
    "slot.end": "2030-05-01T18:00",
    "kind": "personal",
    "extras": ["a", "c"],
    "phone": "13912345678",
    "idno": "11010519491231002X",
    "host": "carol",
}


def rules_on_page(page: str) -> dict[str, dict[str, Any]]:
    found = re.findall(r'data-rules="([^"]+)"', page)
    return {r["key"]: r for r in (json.loads(unescape(raw)) for raw in found)}


def test_every_field_type_is_rendered_with_a_label(client_for, school):
    page = text(client_for(school.alice).get("/processes/every"))
    for field in EVERY_FIELD:
        assert field["label"] in page
    assert 'type="date"' in page
    assert 'type="datetime-local"' in page
    assert 'type="checkbox" name="extras"' in page
    assert 'type="radio" name="kind"' in page
    assert 'type="tel"' in page
    assert 'type="file"' in page
    assert 'hx-get="/people/search"' in page
    assert "<textarea" in page
    # the mobile number is prefilled from the profile
    assert 'value="13800138000"' in page
    for match in re.finditer(r"<(input|select|textarea)([^>]*)>", page):
        attrs = match.group(2)
        if 'type="hidden"' in attrs or 'type="radio"' in attrs or 'type="checkbox"' in attrs:
            continue
        field_id = re.search(r'id="([^"]+)"', attrs)
        assert field_id is not None, attrs
        assert f'for="{field_id.group(1)}"' in page, attrs


def test_the_browser_gets_the_servers_rules(client_for, school):
    page = text(client_for(school.alice).get("/processes/every"))
    rules = rules_on_page(page)
    spec = parse_spec(school.every.spec)
    assert set(rules) == {f.key for f in spec.form}
    assert rules["reason"]["max_length"] == 50
    assert rules["reason"]["required"] is True
    assert rules["reason"]["messages"]["required"] == "请填写事由"
    assert rules["days"] | {"messages": None} == {
        "key": "days",
        "type": "number",
        "required": False,
        "min": 1,
        "max": 30,
        "integer": True,
        "messages": None,
    }
    assert rules["period"]["max_days"] == 10
    assert rules["extras"]["max"] == 2
    assert rules["proof"]["max_files"] == 2
    assert rules["proof"]["accept"] == ["jpg", "pdf", "png"]
    assert rules["detail"]["max_length"] == 10_000  # hall.forms.TEXTAREA_MAX
    assert {r["type"] for r in rules.values()} == {t.value for t in FieldType}


def test_every_field_type_submits(client_for, school, session):
    response = post(
        client_for(school.alice),
        "/processes/every/apply",
        {"action": "submit", **VALID},
        page="/processes/every",
    )
    assert response.status_code == 302, text(response)[:3000]
    app_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    app = session.scalar(select(Application).where(Application.id == app_id))
    assert app is not None
    assert app.form["period"] == {"start": "2030-05-01", "end": "2030-05-03"}
    assert app.form["slot"] == {"start": "2030-05-01T08:00", "end": "2030-05-01T18:00"}
    assert app.form["extras"] == ["a", "c"]
    assert app.form["days"] == 3
    assert app.form["host"] == "carol"
    assert app.status.value == "pending"


def test_invalid_input_comes_back_with_everything_typed(client_for, school, session):
    bad = {
        **VALID,
        "reason": "<script>alert('x')</script>" + "长" * 60,
        "days": "3.5",
        "period.end": "2030-05-20",
        "extras": ["a", "b", "c"],
        "phone": "12345",
        "idno": "110105194912310021",
        "host": "nobody",
    }
    before = session.scalar(select(Application.id).limit(1))
    response = post(
        client_for(school.alice),
        "/processes/every/apply",
        {"action": "submit", **bad},
        page="/processes/every",
    )
    assert response.status_code == 422
    page = text(response)
    assert "表单填写有误" in page
    expected = {
        "reason": "不能超过50个字",
        "days": "应为整数",
        "period": "不能超过10天",
        "extras": "最多选择2项",
        "phone": "请填写11位手机号码",
        "idno": "身份证号码不正确",
        "host": "人员不存在",
    }
    for key, message in expected.items():
        assert re.search(rf'id="f-{key}-error"[^>]*>{message}<', page), key
    # what was typed is still there, escaped
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    assert 'value="3.5"' in page
    assert 'value="2030-05-20"' in page
    assert 'value="12345"' in page
    assert 'value="110105194912310021"' in page
    assert 'value="c" checked' in page
    assert 'value="detail"' not in page
    assert "在北京参加三天会议" in page
    assert session.scalar(select(Application.id).limit(1)) == before


def test_required_fields_are_named(client_for, school):
    response = post(
        client_for(school.alice),
        "/processes/every/apply",
        {"action": "submit"},
        page="/processes/every",
    )
    assert response.status_code == 422
    page = text(response)
    assert "请填写事由" in page
    assert "请填写类型" in page


def test_a_draft_keeps_partial_input_and_submits_later(client_for, school, session):
    client = client_for(school.alice)
    response = post(
        client,
        "/processes/every/apply",
        {"action": "draft", "detail": "还没想好"},
        page="/processes/every",
    )
    assert response.status_code == 302
    edit_url = response.headers["Location"]
    app_id = int(edit_url.split("/")[-2])
    page = text(client.get(edit_url))
    assert "还没想好" in page
    assert f'name="application_id" value="{app_id}"' in page
    listing = text(client.get("/applications?status=draft"))
    assert "继续填写" in listing
    response = post(
        client,
        "/processes/every/apply",
        {"action": "submit", "application_id": str(app_id), **VALID},
        page="/processes/every",
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/applications/{app_id}"
    session.expire_all()
    app = session.get(Application, app_id)
    assert app is not None
    assert app.status.value == "pending"
    assert not app.serial.startswith("D")


def test_returned_application_is_resubmitted_with_changes(client_for, school, db, session):
    from tests.web_views.helpers import pending_task, submit  # noqa: PLC0415

    app_id = submit(db, school.alice)
    task = pending_task(session, app_id)
    bob = client_for(school.bob)
    response = post(
        bob,
        f"/tasks/{task.id}/decide",
        {"action": "return", "return_to": "applicant", "comment": "请写清会议名称"},
        page=f"/applications/{app_id}",
    )
    assert response.status_code == 302
    alice = client_for(school.alice)
    edit = text(alice.get(f"/applications/{app_id}/edit"))
    assert "请写清会议名称" in edit
    assert f"/applications/{app_id}/resubmit" in edit
    response = post(
        alice,
        f"/applications/{app_id}/resubmit",
        {"reason": "参加中国计算机大会"},
        page=f"/applications/{app_id}/edit",
    )
    assert response.status_code == 302
    session.expire_all()
    app = session.get(Application, app_id)
    assert app is not None
    assert app.status.value == "pending"
    assert app.form["reason"] == "参加中国计算机大会"


def test_people_search_for_the_picker(client_for, school):
    client = client_for(school.alice)
    page = text(client.get("/people/search?q=张"))
    assert 'data-pick-userid="carol"' in page
    assert 'data-pick-userid="alice"' not in page  # not oneself
    by_number = text(client.get("/people/search?q=bo"))
    assert 'data-pick-userid="bob"' in by_number
    assert "没有匹配的人员" in text(client.get("/people/search?q=不存在的人"))
    assert (
        text(client.get("/people/search?q=%25")).strip()
        == '<li class="muted" role="status">没有匹配的人员</li>'
    )


def test_withdraw_and_urge_from_the_page(client_for, school, db, session):
    from tests.web_views.helpers import pending_task, submit  # noqa: PLC0415

    app_id = submit(db, school.alice)
    alice = client_for(school.alice)
    early = post(alice, f"/applications/{app_id}/urge", {}, page=f"/applications/{app_id}")
    assert early.status_code == 302
    assert "审批人刚收到待办，请30分钟后再催办" in text(alice.get(f"/applications/{app_id}"))
    task = pending_task(session, app_id)
    task.activated_at = utcnow() - timedelta(hours=1)  # the reviewer has had it an hour
    session.commit()
    urged = post(alice, f"/applications/{app_id}/urge", {}, page=f"/applications/{app_id}")
    assert urged.status_code == 302
    assert "已催办" in text(alice.get(f"/applications/{app_id}"))
    again = post(alice, f"/applications/{app_id}/urge", {}, page=f"/applications/{app_id}")
    assert again.status_code == 302
    assert "催办过于频繁" in text(alice.get(f"/applications/{app_id}"))
    post(alice, f"/applications/{app_id}/withdraw", {}, page=f"/applications/{app_id}")
    session.expire_all()
    app = session.get(Application, app_id)
    assert app is not None
    assert app.status.value == "withdrawn"
    mine = text(alice.get("/applications?status=withdrawn"))
    assert "已撤回" in mine


def test_comment_is_shown_escaped(client_for, school, db):
    from tests.web_views.helpers import submit  # noqa: PLC0415

    app_id = submit(db, school.alice)
    bob = client_for(school.bob)
    post(
        bob, f"/applications/{app_id}/comment", {"body": "<b>请补充</b>"}, f"/applications/{app_id}"
    )
    page = text(client_for(school.alice).get(f"/applications/{app_id}"))
    assert "&lt;b&gt;请补充&lt;/b&gt;" in page
    assert "<b>请补充</b>" not in page
