"""Nested conditions and CC rules through the designer's save, publish and "who would
approve": what round-trips unchanged, where each problem is reported, and how the preview
words and resolves them."""

from __future__ import annotations

import copy
from dataclasses import fields as dataclass_fields
from typing import Any

import pytest
from sqlalchemy import select

from hall.conditions import ApplicantFacts
from hall.definitions import ProcessSpec, parse_spec
from hall.designer import (
    APPLICANT_SUBJECTS,
    OPS_BY_KIND,
    Words,
    condition_problems,
    describe_path,
)
from hall.errors import Invalid
from hall.models import ProcessDefinition
from hall.process_library import load_library
from hall.services import Decision, Hall
from tests import factories

# days > 3 and (type = 事假 or not (applicant is a student))
NESTED: dict[str, Any] = {
    "all": [
        {"subject": "form.days", "op": ">", "value": 3},
        {
            "any": [
                {"subject": "form.type", "op": "==", "value": "personal"},
                {"not": {"subject": "applicant.kind", "op": "==", "value": "student"}},
            ]
        },
    ]
}


def _spec(condition: Any = None, cc: Any = None, key: str = "cs_nested") -> dict[str, Any]:
    second: dict[str, Any] = {
        "key": "dean",
        "name": "院长审批",
        "approver": {"type": "dept_head"},
    }
    if condition is not None:
        second["condition"] = condition
    first: dict[str, Any] = {
        "key": "counsellor",
        "name": "辅导员审批",
        "approver": {"type": "counsellor"},
    }
    if cc is not None:
        first["cc"] = cc
    return {
        "key": key,
        "name": "嵌套条件",
        "department": "CS",
        "category": "学生事务",
        "audience": ["student", "staff"],
        "form": [
            {"key": "days", "label": "天数", "type": "number", "required": True},
            {
                "key": "type",
                "label": "类型",
                "type": "choice",
                "options": [
                    {"value": "personal", "label": "事假"},
                    {"value": "sick", "label": "病假"},
                ],
            },
            {"key": "period", "label": "时间", "type": "date_range"},
            {"key": "start", "label": "开始日期", "type": "date"},
            {"key": "host", "label": "接待人", "type": "person"},
            {"key": "proof", "label": "证明", "type": "attachment"},
        ],
        "flow": [first, second],
    }


def _problems(designer, school, data) -> list[tuple[str, str]]:
    designer.create(school.cs_admin.id, key=data["key"], name="草稿", department_code="CS")
    view = designer.save(school.cs_admin.id, data["key"], data)
    return [(p.path, p.message) for p in view.problems]


def test_a_nested_condition_and_rule_based_cc_round_trip_through_publish(designer, school, session):
    cc = [
        {"type": "role_in_applicant_dept", "role": "deputy_secretary"},
        {"type": "role_in_dept", "role": "process_admin", "department": "JWC"},
        {"type": "persons", "userids": [school.teacher.userid]},
        {"type": "form_person", "field": "host"},
        {"type": "leader_in_charge"},
    ]
    deep = {"not": {"any": [NESTED, {"all": [{"subject": "form.proof", "op": "empty"}]}]}}
    data = _spec(condition=deep, cc=cc)
    before = copy.deepcopy(data)
    designer.create(school.cs_admin.id, key="cs_nested", name="草稿", department_code="CS")
    view = designer.save(school.cs_admin.id, "cs_nested", data)
    assert view.problems == []
    assert view.data == before
    designer.publish(school.cs_admin.id, "cs_nested")
    process = session.scalar(select(ProcessDefinition).where(ProcessDefinition.key == "cs_nested"))
    spec = process.current_version.spec
    assert spec["flow"][1]["condition"] == before["flow"][1]["condition"]
    assert spec["flow"][0]["cc"] == cc
    # and the editor opens the published version as it was
    again = designer.open_draft(school.cs_admin.id, "cs_nested")
    assert again.data["flow"] == spec["flow"]


def test_malformed_nested_conditions_are_reported_where_they_are(designer, school):
    condition = {
        "all": [
            {"subject": "form.days", "op": "bigger", "value": 3},
            {"any": []},
            {"not": None},
            {"any": [{"subject": "form.type"}, {"weird": 1}]},
            {"not": {"all": [{"subject": "nonsense", "op": "=="}]}},
            {"all": [{"subject": "form.days", "op": "==", "value": 1}], "any": []},
        ]
    }
    found = _problems(designer, school, _spec(condition=condition))
    assert found == [
        ("flow.1.condition.all.0.op", "不认识的比较方式"),
        ("flow.1.condition.all.1.any", "条件组至少要有一项"),
        ("flow.1.condition.all.2.not", "请添加一项条件"),
        ("flow.1.condition.all.3.any.0.op", "请选择比较方式"),
        ("flow.1.condition.all.3.any.1", "无法识别的条件"),
        ("flow.1.condition.all.4.not.all.0.subject", "不认识的条件对象"),
        ("flow.1.condition.all.5", "无法识别的条件"),
    ]
    assert describe_path(found[3][0]) == "流程步骤 2 · 条件 4.1 · 比较"
    assert describe_path("flow.1.condition.all.2.not") == "流程步骤 2 · 条件 3"


def test_a_deep_comparison_of_an_unknown_field_is_reported_at_its_subject(designer, school):
    condition = {"any": [NESTED, {"not": {"subject": "form.gone", "op": "empty"}}]}
    assert _problems(designer, school, _spec(condition=condition)) == [
        ("flow.1.condition.any.1.not.subject", "表单中没有字段 gone")
    ]


@pytest.mark.parametrize(
    ("compare", "where", "message"),
    [
        ({"subject": "form.days", "op": ">", "value": "three"}, "value", "请填写数字"),
        ({"subject": "form.days", "op": ">"}, "value", "请填写比较的值"),
        (
            {"subject": "form.type", "op": "==", "value": "事假"},
            "value",
            "「事假」不是「类型」的选项",
        ),
        ({"subject": "form.type", "op": "in", "value": []}, "value", "请填写比较的值"),
        ({"subject": "form.type", "op": ">", "value": "sick"}, "op", "「类型」不能用「大于」比较"),
        (
            {"subject": "form.start", "op": "<", "value": "9月1日"},
            "value",
            "请填写日期，如 2026-09-01",
        ),
        (
            {"subject": "form.days.days", "op": ">", "value": 1},
            "subject",
            "「天数」不是日期范围，没有天数",
        ),
        (
            {"subject": "form.type.count", "op": ">", "value": 1},
            "subject",
            "「类型」不是多选字段，没有选择数",
        ),
        ({"subject": "form.proof", "op": "==", "value": "x"}, "op", "「证明」不能用「等于」比较"),
        (
            {"subject": "applicant.kind", "op": "==", "value": "teacher"},
            "value",
            "「teacher」不是「申请人类别」的选项",
        ),
        (
            {"subject": "applicant.roles", "op": "contains", "value": "boss"},
            "value",
            "「boss」不是「申请人角色」的选项",
        ),
        (
            {"subject": "applicant.department", "op": "in", "value": ["CS", "NOPE"]},
            "value",
            "没有编码为 NOPE 的部门",
        ),
        ({"subject": "form.days", "op": "==", "value": [1, 2]}, "value", "这里只能填写一个值"),
        (
            {"subject": "form.days", "op": "contains", "value": {"a": 1}},
            "value",
            "值只能是文字或数字",
        ),
        ({"subject": "applicant.post", "op": ">", "value": True}, "value", "值只能是文字或数字"),
    ],
)
def test_comparisons_that_could_never_work_are_reported_at_their_part(
    designer, school, compare, where, message
):
    condition = {"all": [{"subject": "form.days", "op": ">=", "value": 1}, {"not": compare}]}
    assert _problems(designer, school, _spec(condition=condition)) == [
        (f"flow.1.condition.all.1.not.{where}", message)
    ]


def test_comparisons_that_work_are_accepted(designer, school):
    condition = {
        "any": [
            {"subject": "form.days", "op": "<=", "value": "2.5"},
            {"subject": "form.period.days", "op": ">", "value": 7},
            {"subject": "form.period", "op": "not_empty"},
            {"subject": "form.start", "op": ">=", "value": "2026-09-01"},
            {"subject": "form.type", "op": "in", "value": ["personal", "sick"]},
            {"subject": "form.type", "op": "not_in", "value": "sick"},
            {"subject": "applicant.department", "op": "==", "value": "CS_SE"},
            {"subject": "applicant.roles", "op": "contains", "value": "counsellor"},
            {"subject": "applicant.post", "op": "contains", "value": "讲师"},
            {"subject": "applicant.level", "op": "==", "value": "本科"},
        ]
    }
    assert _problems(designer, school, _spec(condition=condition)) == []


def test_cc_rules_are_checked_like_approvers_each_at_its_place(designer, school):
    cc: list[dict[str, Any]] = [
        {"type": "persons", "userids": [school.teacher.userid, "ghost"]},
        {"type": "role_in_dept", "role": "process_admin"},
        {"type": "role_in_dept", "role": "process_admin", "department": "NOPE"},
        {"type": "role_in_applicant_dept", "role": "boss"},
        {"type": "form_person", "field": "days"},
        {"type": "persons"},
    ]
    found = _problems(designer, school, _spec(cc=cc))
    assert found == [
        ("flow.0.cc.1.department", "请填写部门编码"),
        ("flow.0.cc.3.role", "不认识的角色 boss"),
        ("flow.0.cc.5.userids", "请填写人员账号"),
    ]
    assert describe_path(found[0][0]) == "流程步骤 1 · 抄送 2 · 部门编码"
    # once each rule is well formed, its references and fields are checked
    cc[1]["department"] = "JWC"
    cc[3]["role"] = "deputy_secretary"
    cc[5]["userids"] = [school.jwc_clerk.userid]
    found = _problems(designer, school, _spec(cc=cc, key="cs_cc2"))
    assert found == [("flow.0.cc.4.field", "请选择表单中的人员字段")]
    cc[4]["field"] = "host"
    found = _problems(designer, school, _spec(cc=cc, key="cs_cc3"))
    assert found == [
        ("flow.0.cc.0.userids", "没有在职人员 ghost"),
        ("flow.0.cc.2.department", "没有编码为 NOPE 的部门"),
    ]


def test_publish_refuses_a_bad_nested_condition_naming_the_place(designer, school):
    condition = {"all": [{"subject": "form.days", "op": ">", "value": 3}, {"any": []}]}
    designer.create(school.cs_admin.id, key="cs_bad", name="草稿", department_code="CS")
    designer.save(school.cs_admin.id, "cs_bad", _spec(condition=condition, key="cs_bad"))
    with pytest.raises(Invalid) as refused:
        designer.publish(school.cs_admin.id, "cs_bad")
    assert refused.value.detail["fields"] == {"flow.1.condition.all.1.any": "条件组至少要有一项"}


def test_who_would_approve_follows_a_nested_condition_and_lists_cc(designer, school, session):
    cc = [
        {"type": "role_in_applicant_dept", "role": "deputy_secretary"},
        {"type": "persons", "userids": [school.deputy.userid, school.student.userid]},
    ]
    data = _spec(condition=NESTED, cc=cc)
    data["flow"][1]["cc"] = [
        {"type": "role_in_dept", "role": "process_admin", "department": "JWC"},
        {"type": "role_in_applicant_dept", "role": "deputy_secretary"},
    ]
    designer.create(school.cs_admin.id, key="cs_nested", name="草稿", department_code="CS")
    designer.save(school.cs_admin.id, "cs_nested", data)

    def who(applicant, **sample):
        return designer.who_would_approve(school.cs_admin.id, "cs_nested", applicant.userid, sample)

    personal = who(school.student, days="5", type="personal")
    assert [s.runs for s in personal] == [True, True]
    assert personal[1].condition == "天数 > 3 且 (类型 = 事假 或 非(申请人类别 = 学生))"
    assert personal[1].approvers == [f"李院长（{school.dean.userid}）"]
    # CC: the deputy once (the engine tells a follower once), never the applicant
    assert personal[0].cc == [f"周副书记（{school.deputy.userid}）"]
    assert personal[1].cc == [
        f"冯老师（{school.jwc_clerk.userid}）",
        f"卫老师（{school.jwc_clerk2.userid}）",
    ]
    assert personal[0].cc_rules == [
        "申请人所在部门的角色：学院副书记",
        f"指定人员：{school.deputy.userid}、{school.student.userid}",
    ]
    assert personal[1].cc_rules[0] == "指定部门的角色：教务处 · 事项管理员"
    # a student on sick leave: not (a student) fails, so the dean's step does not run
    assert [s.runs for s in who(school.student, days="5", type="sick")] == [True, False]
    assert [s.runs for s in who(school.student, days="2", type="personal")] == [True, False]
    # a teacher is not a student: the inner "not" holds
    assert [s.runs for s in who(school.teacher, days="5", type="sick")] == [True, True]


def test_conditions_and_rules_in_words():
    spec = ProcessSpec.model_validate(_spec(condition=NESTED))
    words = Words(spec, departments={"JWC": "教务处"})
    condition = (
        parse_spec(
            _spec(
                condition={
                    "any": [
                        {"subject": "form.period.days", "op": ">=", "value": 15.0},
                        {"subject": "applicant.department", "op": "in", "value": ["JWC", "X"]},
                        {"subject": "form.proof", "op": "empty"},
                        {
                            "all": [
                                {"subject": "applicant.roles", "op": "contains", "value": "student"}
                            ]
                        },
                    ]
                }
            )
        )
        .flow[1]
        .condition
    )
    assert condition is not None
    assert words.condition(condition) == (
        "时间的天数 ≥ 15 或 申请人所在部门 是其中之一 [教务处、X] "
        "或 证明 为空 或 申请人角色 包含 学生"
    )
    words_en = {
        "且": "and",
        "或": "or",
        "非": "not ",
        "申请人类别": "applicant kind",
        "学生": "student",
    }
    english = Words(spec, say=lambda text: words_en.get(text, text))
    nested = spec.flow[1].condition
    assert nested is not None
    assert english.condition(nested) == (
        "天数 > 3 and (类型 = 事假 or not (applicant kind = student))"
    )
    rule = spec.flow[1].approver.model_copy(update={"levels": 2})
    assert words.rule(rule) == "申请人的部门负责人：向上 2 级"


def test_every_applicant_fact_is_a_subject_and_every_kind_has_comparisons():
    facts = {f"applicant.{f.name}" for f in dataclass_fields(ApplicantFacts)}
    assert set(APPLICANT_SUBJECTS) == facts
    assert all(ops for ops in OPS_BY_KIND.values())


@pytest.mark.parametrize("spec", load_library(), ids=lambda s: s.key)
def test_the_library_conditions_have_no_problems(spec):
    assert condition_problems(spec, set()) == []


def test_applications_follow_the_published_nested_condition(designer, school, session, db):
    data = _spec(
        condition=NESTED, cc=[{"type": "role_in_applicant_dept", "role": "deputy_secretary"}]
    )
    designer.create(school.cs_admin.id, key="cs_nested", name="草稿", department_code="CS")
    designer.save(school.cs_admin.id, "cs_nested", data)
    designer.publish(school.cs_admin.id, "cs_nested")
    hall = Hall(db)
    routed = hall.submit(school.student.id, "cs_nested", {"days": 5, "type": "personal"})
    skipped = hall.submit(school.student.id, "cs_nested", {"days": 5, "type": "sick"})
    for app in (routed, skipped):
        task = factories.tasks_of(session, app.application_id)[0]
        hall.decide(school.counsellor.id, task.id, Decision("approve"))
    routed_tasks = factories.tasks_of(session, routed.application_id)
    assert [(t.step_key, t.assignee_id) for t in routed_tasks] == [
        ("counsellor", school.counsellor.id),
        ("dean", school.dean.id),
    ]
    assert [t.step_key for t in factories.tasks_of(session, skipped.application_id)] == [
        "counsellor"
    ]
    for app in (routed, skipped):
        cc = factories.outbox_of(session, app.application_id, "cc")
        assert [row.recipient_id for row in cc] == [school.deputy.id]
