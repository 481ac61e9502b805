"""邀请办理 in the designer: the invite option saves and publishes, each refusal of
`_check_invite` is said at its control, the preview says who may invite, and the library's
访客入校预约 goes through the designer with its invite option unchanged."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from hall.definitions import dump_spec
from hall.designer import describe_path
from hall.models import ProcessDefinition
from hall.process_library import load_library
from tests import factories
from tests.role_pages import EN, campus, client, make_app, text, token

INVITE = {"host_field": "host", "fields": ["window", "reason"], "valid_days": 3, "only": True}


def _visit(key: str = "cs_visit", **invite: Any) -> dict[str, Any]:
    """An off-campus service whose visitor names a host; `invite` replaces the option."""
    return {
        "key": key,
        "name": "访客来访",
        "department": "CS",
        "category": "安全保卫",
        "audience": ["offcampus"],
        "form": [
            {"key": "mobile", "label": "手机号", "type": "mobile", "required": True},
            {"key": "photo", "label": "本人照片", "type": "attachment"},
            {"key": "host", "label": "接待人", "type": "person", "required": True},
            {"key": "window", "label": "来访时段", "type": "datetime_range", "required": True},
            {"key": "reason", "label": "来访事由", "type": "textarea", "required": True},
        ],
        "flow": [
            {
                "key": "host_confirm",
                "name": "接待人确认",
                "approver": {"type": "form_person", "field": "host"},
            }
        ],
        "options": {"invite": invite or copy.deepcopy(INVITE)},
    }


def _visitor_entry() -> dict[str, Any]:
    """The library's 访客入校预约 as plain data, owned by the test school's CS."""
    spec = next(s for s in load_library() if s.key == "visitor_entry")
    data = dump_spec(spec)
    data["department"] = "CS"
    data["flow"][1]["approver"]["department"] = "CS"
    return data


def test_an_invite_option_saves_and_publishes(designer, school, session):
    designer.create(school.cs_admin.id, key="cs_visit", name="访客来访", department_code="CS")
    view = designer.save(school.cs_admin.id, "cs_visit", _visit())
    assert view.problems == []
    assert view.data["options"] == {"invite": INVITE}
    designer.publish(school.cs_admin.id, "cs_visit")
    process = session.scalar(select(ProcessDefinition).where(ProcessDefinition.key == "cs_visit"))
    assert process.current_version.spec["options"] == {"invite": INVITE}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {"audience": ["staff"]},
            ("options.invite.host_field", "邀请办理只适用于面向校外人员的事项"),
        ),
        ({"host_field": "reason"}, ("options.invite.host_field", "请选择表单中的人员字段")),
        ({"host_field": "nobody"}, ("options.invite.host_field", "请选择表单中的人员字段")),
        ({"host_field": None}, ("options.invite.host_field", "必填")),
        ({"fields": ["window", "gone"]}, ("options.invite.fields", "表单中没有字段 gone")),
        (
            {"fields": ["photo"]},
            ("options.invite.fields", "邀请人不能代填附件或人员字段「本人照片」"),
        ),
        (
            {"fields": ["reason", "host"]},
            ("options.invite.fields", "邀请人不能代填附件或人员字段「接待人」"),
        ),
        ({"fields": ["window", "window"]}, ("options.invite.fields", "邀请人填写的字段有重复")),
        ({"valid_days": 31}, ("options.invite.valid_days", "不能大于 30")),
        ({"valid_days": 0}, ("options.invite.valid_days", "不能小于 1")),
    ],
    ids=lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else "",
)
def test_each_refusal_is_said_at_its_control(designer, school, change, problem):
    data = _visit()
    if "audience" in change:
        data["audience"] = change["audience"]
    else:
        invite = {**INVITE, **change}
        data["options"]["invite"] = {k: v for k, v in invite.items() if v is not None}
    designer.create(school.cs_admin.id, key="cs_visit", name="访客来访", department_code="CS")
    view = designer.save(school.cs_admin.id, "cs_visit", data)
    assert [(p.path, p.message) for p in view.problems] == [problem]
    assert describe_path(problem[0]) == "流程选项"


# ------------------------------------------------------------------------- pages


@pytest.fixture
def backend():
    return "postgresql"


@pytest.fixture
def app(db, redis_conn, tmp_path):
    return make_app(db, redis_conn, tmp_path)


@pytest.fixture
def campus_school(session):
    return campus(session)


def _draft_data(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="draft-data">(.*?)</script>', page)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def _save(c, key: str, data: dict[str, Any], csrf: str, **headers: str) -> dict[str, Any]:
    saved = c.post(
        f"/designer/{key}/save", json={"data": data}, headers={"X-CSRFToken": csrf, **headers}
    )
    assert saved.status_code == 200
    state: dict[str, Any] = saved.get_json()
    return state


def test_the_preview_says_who_may_invite(app, campus_school):
    c = client(app, campus_school.cs_admin)
    csrf = token(c)
    page = text(c.get("/designer/cs_leave"))
    for label in ("invite_host", "invite_fields", "invite_days", "invite_only"):
        assert f'"{label}"' in page  # the editor script's labels
    state = _save(c, "cs_leave", _visit("cs_leave"), csrf)
    assert state["problems"] == []
    assert (
        "教职工可邀请校外人员办理：邀请人填写「来访时段」、「来访事由」，"
        "链接 3 天内有效（仅限邀请）" in state["preview"]
    )
    # no fields, the default days, open to all
    state = _save(c, "cs_leave", _visit("cs_leave", host_field="host"), csrf)
    assert "教职工可邀请校外人员办理，链接 7 天内有效</p>" in state["preview"]
    english = _save(c, "cs_leave", _visit("cs_leave"), csrf, **EN)
    assert (
        "Staff may invite someone off campus to apply: the inviter fills in “来访时段”, "
        "“来访事由”; the link is valid for 3 days (by invitation only)"
    ) in english["preview"]
    refused = _visit("cs_leave", host_field="host", fields=["photo"])
    english = _save(c, "cs_leave", {**refused, "audience": ["staff"]}, csrf, **EN)
    assert english["problems"] == [
        {
            "path": "options.invite.host_field",
            "where": "Flow options",
            "message": "Invitations are only for services open to off-campus people",
        }
    ]
    english = _save(c, "cs_leave", refused, csrf, **EN)
    assert [p["message"] for p in english["problems"]] == [
        "The inviter cannot fill in an attachment or person field: “本人照片”"
    ]


def test_visitor_entry_goes_through_the_designer_unchanged(app, campus_school, session):
    data = _visitor_entry()
    factories.process(session, data)
    session.commit()
    invite = {"host_field": "host", "fields": ["window", "reason"], "only": True}
    assert data["options"]["invite"] == invite
    c = client(app, campus_school.cs_admin)
    csrf = token(c)
    opened = _draft_data(text(c.get("/designer/visitor_entry")))
    assert opened["options"] == data["options"]
    state = _save(c, "visitor_entry", opened, csrf)
    assert state["problems"] == []
    assert state["changes"] == []
    assert (
        "教职工可邀请校外人员办理：邀请人填写「来访时段」、「来访事由」，"
        "链接 7 天内有效（仅限邀请）" in state["preview"]
    )
    # an unrelated edit publishes a new version with the option as it was
    state = _save(c, "visitor_entry", {**opened, "contact": "保卫处 0773-5895050"}, csrf)
    assert state["changes"] == ["咨询电话：保卫处门卫管理科 0773-5895051 → 保卫处 0773-5895050"]
    published = c.post(
        "/designer/visitor_entry/publish",
        data={"csrf_token": csrf, "revision": str(state["revision"])},
    )
    assert "已发布为第 2 版" in text(published)
    process = session.scalar(
        select(ProcessDefinition).where(ProcessDefinition.key == "visitor_entry")
    )
    session.refresh(process)
    assert process.current_version.number == 2
    assert process.current_version.spec == {**data, "contact": "保卫处 0773-5895050"}
