"""Designer services: who may design what, drafts, validation, change lists, publishing,
"who would approve this", and the information center's department administrators."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from hall.definitions import parse_spec
from hall.designer import change_list, describe_path, sample_form
from hall.errors import Conflict, Invalid, NotFound
from hall.models import ProcessDraft, RoleCode, RoleGrant
from hall.services import Hall
from tests import factories


def _fields(exc: Invalid) -> dict[str, str]:
    fields = exc.detail["fields"]
    assert isinstance(fields, dict)
    return fields


def _leave_spec(dept_code: str, key: str = "cs_leave") -> dict[str, Any]:
    return {
        "key": key,
        "name": "学生请假",
        "department": dept_code,
        "category": "学生事务",
        "audience": ["student"],
        "form": [
            {"key": "reason", "label": "事由", "type": "text", "required": True},
            {"key": "days", "label": "天数", "type": "number", "required": True},
        ],
        "flow": [
            {"key": "counsellor", "name": "辅导员审批", "approver": {"type": "counsellor"}},
            {
                "key": "deputy",
                "name": "副书记审批",
                "approver": {"type": "role_in_applicant_dept", "role": "deputy_secretary"},
                "condition": {"subject": "form.days", "op": ">", "value": 2},
            },
            {
                "key": "dean",
                "name": "教务处审批",
                "approver": {"type": "role_in_dept", "role": "dept_head", "department": "JWC"},
                "condition": {"subject": "form.days", "op": ">", "value": 7},
            },
        ],
    }


def test_only_administrators_may_design(designer, school):
    assert designer.editor(school.cs_admin.id).departments == {school.cs.id}
    assert designer.editor(school.it_admin.id).everywhere
    with pytest.raises(NotFound):
        designer.processes(school.student.id)
    with pytest.raises(NotFound):
        designer.processes(school.dean.id)


def test_create_save_and_publish_a_new_process(designer, school, session):
    view = designer.create(
        school.cs_admin.id, key="cs_leave", name="学生请假", department_code="CS"
    )
    assert view.valid
    assert [c.action for c in view.changes] == ["added"]
    data = _leave_spec("CS")
    saved = designer.save(school.cs_admin.id, "cs_leave", data, revision=view.revision)
    assert saved.valid, saved.problems
    assert saved.revision == view.revision + 1
    result = designer.publish(school.cs_admin.id, "cs_leave", revision=saved.revision)
    assert result.version == 1
    assert (
        session.scalar(select(ProcessDraft).where(ProcessDraft.process_key == "cs_leave")) is None
    )
    rows = designer.processes(school.cs_admin.id)
    assert [(r.key, r.version, r.draft_updated_at) for r in rows] == [("cs_leave", 1, None)]


def test_invalid_drafts_are_kept_with_their_problems(designer, school):
    designer.create(school.cs_admin.id, key="cs_x", name="草稿", department_code="CS")
    data = _leave_spec("CS", key="cs_x")
    data["form"][0]["label"] = ""
    data["form"].append({"key": "kind", "label": "类型", "type": "choice"})
    data["flow"][2]["approver"]["department"] = "NOPE"
    view = designer.save(school.cs_admin.id, "cs_x", data)
    paths = {p.path for p in view.problems}
    assert "form.0.label" in paths
    assert "form.2" in paths
    assert not view.valid
    # The draft is stored as typed, problems and all.
    again = designer.open_draft(school.cs_admin.id, "cs_x")
    assert again.data["form"][0]["label"] == ""
    with pytest.raises(Invalid) as refused:
        designer.publish(school.cs_admin.id, "cs_x")
    assert "form.0.label" in _fields(refused.value)
    # References to the school are checked once the definition itself is valid.
    data["form"][0]["label"] = "事由"
    data["form"].pop()
    view = designer.save(school.cs_admin.id, "cs_x", data)
    assert [(p.path, p.message) for p in view.problems] == [
        ("flow.2.approver.department", "没有编码为 NOPE 的部门")
    ]
    assert view.problems[0].where == "流程步骤 3 · 审批人 · 部门编码"


def test_a_stale_save_is_refused(designer, school):
    view = designer.create(school.cs_admin.id, key="cs_y", name="草稿", department_code="CS")
    designer.save(school.cs_admin.id, "cs_y", view.data, revision=view.revision)
    with pytest.raises(Conflict):
        designer.save(school.it_admin.id, "cs_y", view.data, revision=view.revision)


def test_department_administrators_stay_in_their_department(designer, school, session):
    factories.process(session, _leave_spec("JWC", key="jwc_proc"))
    session.commit()
    with pytest.raises(NotFound):
        designer.open_draft(school.cs_admin.id, "jwc_proc")
    with pytest.raises(Invalid) as refused:
        designer.create(school.cs_admin.id, key="cs_z", name="x", department_code="JWC")
    assert "department" in _fields(refused.value)
    view = designer.create(school.cs_admin.id, key="cs_z", name="x", department_code="CS")
    data = dict(view.data, department="JWC")
    saved = designer.save(school.cs_admin.id, "cs_z", data)
    assert saved.data["department"] == "CS"  # moving it to a department they do not own fails
    assert [r.key for r in designer.processes(school.cs_admin.id)] == ["cs_z"]
    # The information center edits anything.
    assert designer.open_draft(school.it_admin.id, "jwc_proc").base_version == 1
    assert {r.key for r in designer.processes(school.it_admin.id)} == {"cs_z", "jwc_proc"}


def test_revising_keeps_running_applications_on_their_version(designer, school, session, db):
    factories.process(session, _leave_spec("CS"))
    session.commit()
    hall = Hall(db)
    hall.submit(school.student.id, "cs_leave", {"reason": "病假", "days": 1})
    view = designer.open_draft(school.cs_admin.id, "cs_leave")
    assert view.base_version == 1
    assert [(v.number, v.running, v.current) for v in view.versions] == [(1, 1, True)]
    data = view.data
    data["form"].insert(0, {"key": "phone", "label": "联系电话", "type": "mobile"})
    data["form"][1]["max_length"] = 50
    data["flow"].pop(2)
    data["name"] = "学生请假（新）"
    saved = designer.save(school.cs_admin.id, "cs_leave", data)
    texts = [c.text for c in saved.changes]
    assert "事项名称：学生请假 → 学生请假（新）" in texts
    assert "新增字段「联系电话」（phone）" in texts
    assert "修改字段「事由」：最长长度 （空） → 50" in texts
    assert "删除步骤「教务处审批」（dean）" in texts
    result = designer.publish(school.cs_admin.id, "cs_leave")
    assert result.version == 2
    assert [c.text for c in result.changes] == texts
    view = designer.open_draft(school.cs_admin.id, "cs_leave")
    assert [(v.number, v.running, v.current) for v in view.versions] == [
        (2, 0, True),
        (1, 1, False),
    ]
    assert view.changes == []


def test_change_list_reports_moves():
    old = {"form": [{"key": "a", "label": "甲"}, {"key": "b", "label": "乙"}], "flow": []}
    new = {"form": [{"key": "b", "label": "乙"}, {"key": "a", "label": "甲"}], "flow": []}
    assert [c.text for c in change_list(old, new)] == ["字段顺序调整为：b、a"]


def test_who_would_approve_follows_conditions_and_real_people(designer, school, session):
    factories.process(session, _leave_spec("CS"))
    session.commit()
    designer.open_draft(school.cs_admin.id, "cs_leave")
    short = designer.who_would_approve(
        school.cs_admin.id, "cs_leave", school.student.userid, {"reason": "x", "days": "1"}
    )
    assert [s.runs for s in short] == [True, False, False]
    assert short[0].approvers == [f"陈辅导员（{school.counsellor.userid}）"]
    long = designer.who_would_approve(
        school.cs_admin.id, "cs_leave", school.student.userid, {"days": "10"}
    )
    assert [s.runs for s in long] == [True, True, True]
    assert long[1].approvers == [f"周副书记（{school.deputy.userid}）"]
    assert long[2].approvers == [f"郑处长（{school.jwc_head.userid}）"]
    assert long[2].condition == "天数 > 7"
    # A teacher has no counsellor: the step is flagged and goes to the administrators.
    teacher = designer.who_would_approve(
        school.cs_admin.id, "cs_leave", school.teacher.userid, {"days": "1"}
    )
    assert teacher[0].nobody
    assert teacher[0].fallback == [f"吴管理员（{school.cs_admin.userid}）"]
    with pytest.raises(Invalid):
        designer.who_would_approve(school.cs_admin.id, "cs_leave", "nobody", {})


def test_who_would_approve_shows_delegates(designer, school, session):
    factories.process(session, _leave_spec("CS"))
    factories.delegation(
        session, school.counsellor, school.deputy, start=date(2026, 8, 1), end=date(2026, 9, 30)
    )
    session.commit()
    designer.open_draft(school.cs_admin.id, "cs_leave")
    steps = designer.who_would_approve(
        school.cs_admin.id, "cs_leave", school.student.userid, {"days": "1"}
    )
    assert steps[0].approvers == [f"周副书记（{school.deputy.userid}），代 陈辅导员 审批"]


def test_sample_form_shapes_values():
    spec = parse_spec(
        {
            "key": "p",
            "name": "p",
            "department": "X",
            "category": "c",
            "audience": ["staff"],
            "form": [
                {"key": "days", "label": "天数", "type": "number"},
                {"key": "period", "label": "时间", "type": "date_range"},
                {
                    "key": "kinds",
                    "label": "类型",
                    "type": "multichoice",
                    "options": [{"value": "a", "label": "A"}],
                },
            ],
            "flow": [{"key": "s", "name": "s", "approver": {"type": "applicant"}}],
        }
    )
    form = sample_form(
        spec,
        {"days": "2.5", "period.start": "2026-09-01", "period.end": "2026-09-03", "kinds": "a"},
    )
    assert form == {
        "days": 2.5,
        "period": {"start": "2026-09-01", "end": "2026-09-03"},
        "kinds": ["a"],
    }


def test_discard_removes_the_draft(designer, school):
    designer.create(school.cs_admin.id, key="cs_d", name="x", department_code="CS")
    designer.discard(school.cs_admin.id, "cs_d")
    with pytest.raises(NotFound):
        designer.save(school.cs_admin.id, "cs_d", {})


def test_describe_path():
    assert describe_path("form.0.label") == "表单字段 1 · 标题"
    assert describe_path("promised_days") == "承诺时限（工作日）"
    assert describe_path("") == "事项"


def test_information_center_manages_department_administrators(designer, school, session):
    with pytest.raises(NotFound):
        designer.admins(school.cs_admin.id)
    with pytest.raises(NotFound):
        designer.grant_admin(school.cs_admin.id, school.teacher.userid, "CS")
    grant_id = designer.grant_admin(school.it_admin.id, school.teacher.userid, "JWC")
    assert designer.grant_admin(school.it_admin.id, school.teacher.userid, "JWC") == grant_id
    assert designer.editor(school.teacher.id).departments == {school.jwc.id}
    listed = {(a.userid, a.department_code) for a in designer.admins(school.it_admin.id)}
    assert (school.teacher.userid, "JWC") in listed
    assert (school.cs_admin.userid, "CS") in listed
    with pytest.raises(Invalid) as refused:
        designer.grant_admin(school.it_admin.id, "ghost", "NOPE")
    assert set(_fields(refused.value)) == {"userid", "department"}
    designer.revoke_admin(school.it_admin.id, grant_id)
    assert not designer.editor(school.teacher.id).is_designer
    head_grant = session.scalar(select(RoleGrant).where(RoleGrant.role_code == RoleCode.DEPT_HEAD))
    with pytest.raises(NotFound):
        designer.revoke_admin(school.it_admin.id, head_grant.id)


def test_a_steps_own_rules_are_said_at_their_setting(designer, school):
    designer.create(school.cs_admin.id, key="cs_t", name="草稿", department_code="CS")
    data = _leave_spec("CS", key="cs_t")
    data["flow"][0].pop("time_limit_hours", None)
    data["flow"][0]["on_timeout"] = "approve"
    view = designer.save(school.cs_admin.id, "cs_t", data)
    assert [(p.path, p.message) for p in view.problems] == [
        ("flow.0.time_limit_hours", "到时限自动处理须先填写时限")
    ]
    data["flow"][0]["time_limit_hours"] = 24
    assert designer.save(school.cs_admin.id, "cs_t", data).valid


def test_a_file_field_may_not_ask_for_more_than_a_request_carries(designer, school):
    designer.create(school.cs_admin.id, key="cs_f", name="草稿", department_code="CS")
    data = _leave_spec("CS", key="cs_f")
    data["form"].append({"key": "scan", "label": "扫描件", "type": "attachment", "max_size_mb": 50})
    view = designer.save(school.cs_admin.id, "cs_f", data)
    index = len(data["form"]) - 1
    assert [(p.path, p.message) for p in view.problems] == [
        (f"form.{index}.max_size_mb", "单个文件上限最多 30 MB")
    ]
    data["form"][-1]["max_size_mb"] = 30
    assert designer.save(school.cs_admin.id, "cs_f", data).valid


def test_value_checks_are_said_in_chinese(designer, school):
    designer.create(school.cs_admin.id, key="cs_v", name="草稿", department_code="CS")
    data = _leave_spec("CS", key="cs_v")
    data["options"] = {"urge_interval_minutes": 0, "resubmit_from": "start"}
    data["flow"][0]["time_limit_hours"] = "x"
    view = designer.save(school.cs_admin.id, "cs_v", data)
    assert sorted((p.path, p.message) for p in view.problems) == [
        ("flow.0.time_limit_hours", "应为整数"),
        ("options.urge_interval_minutes", "不能小于 1"),
    ]
