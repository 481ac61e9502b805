"""Approver rules → active people; delegation; fallback; applicant facts."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.orm import Session

from hall.definitions import ApproverRule
from hall.models import Person, PersonStatus, RoleCode
from hall.resolve import applicant_facts, delegate, fallback_people, resolve_rule
from tests import factories


@pytest.fixture
def school(session):
    return factories.school(session)


def names(
    session: Session, rule: dict[str, Any], applicant: Person, form: dict[str, Any] | None = None
) -> list[str]:
    people = resolve_rule(session, ApproverRule.model_validate(rule), applicant, form or {})
    return [p.name for p in people]


def test_persons_keep_order_and_skip_unknown_or_inactive(session, school):
    school.vp.status = PersonStatus.INACTIVE
    session.flush()
    rule = {"type": "persons", "userids": [school.jwc_head.userid, "nobody", school.vp.userid,
                                           school.dean.userid, school.jwc_head.userid]}  # fmt: skip
    assert names(session, rule, school.teacher) == ["郑处长", "李院长"]


def test_dept_head_levels_walk_up(session, school: SimpleNamespace):
    assert names(session, {"type": "dept_head"}, school.teacher) == ["孙主任"]
    assert names(session, {"type": "dept_head", "levels": 2}, school.teacher) == ["李院长"]
    assert names(session, {"type": "dept_head", "levels": 3}, school.teacher) == []  # no head
    assert names(session, {"type": "dept_head", "levels": 4}, school.teacher) == []  # too far
    assert names(session, {"type": "dept_head"}, school.student) == ["李院长"]


def test_dept_head_chain_lists_each_level_up_nearest_first(session, school: SimpleNamespace):
    rule = {"type": "dept_head_chain", "levels": 3}
    # 软件工程系 → 计算机学院 → 示范大学 (no head there): the heads that exist, in order
    assert names(session, rule, school.teacher) == ["孙主任", "李院长"]
    assert names(session, {"type": "dept_head_chain"}, school.teacher) == ["孙主任"]
    school.root_head = factories.person(
        session, "校长办主任", dept=school.root, roles=(RoleCode.DEPT_HEAD,)
    )
    session.flush()
    assert names(session, rule, school.teacher) == ["孙主任", "李院长", "校长办主任"]
    assert names(session, {"type": "dept_head_chain", "levels": 2}, school.student) == [
        "李院长",
        "校长办主任",
    ]


def test_role_in_applicant_dept_uses_the_nearest_department_with_holders(session, school):
    rule = {"type": "role_in_applicant_dept", "role": "deputy_secretary"}
    assert names(session, rule, school.student) == ["周副书记"]
    assert names(session, rule, school.teacher) == ["周副书记"]  # from the parent college
    assert (
        names(session, {"type": "role_in_applicant_dept", "role": "dept_admin"}, school.it_admin)
        == []
    )


def test_role_in_named_dept(session, school):
    rule = {"type": "role_in_dept", "role": "process_admin", "department": "JWC"}
    assert names(session, rule, school.student) == ["冯老师", "卫老师"]
    rule = {"type": "role_in_dept", "role": "process_admin", "department": "NOPE"}
    assert names(session, rule, school.student) == []


def test_counsellor(session, school):
    assert names(session, {"type": "counsellor"}, school.student) == ["陈辅导员"]
    assert names(session, {"type": "counsellor"}, school.teacher) == []
    school.counsellor.status = PersonStatus.INACTIVE
    session.flush()
    assert names(session, {"type": "counsellor"}, school.student) == []


def test_leader_in_charge_walks_up_to_the_first_department_with_one(session, school):
    assert names(session, {"type": "leader_in_charge"}, school.teacher) == ["王副校长"]
    assert names(session, {"type": "leader_in_charge"}, school.jwc_head) == ["赵校长"]
    named = {"type": "leader_in_charge", "department": "CS_SE"}
    assert names(session, named, school.jwc_head) == ["王副校长"]


def test_form_person_and_applicant(session, school):
    rule = {"type": "form_person", "field": "host"}
    assert names(session, rule, school.student, {"host": school.jwc_clerk.userid}) == ["冯老师"]
    assert names(session, rule, school.student, {"host": "nobody"}) == []
    assert names(session, rule, school.student, {}) == []
    assert names(session, {"type": "applicant"}, school.student) == ["林同学"]


def test_delegation_one_hop_and_only_to_active_people(session, school):
    day = date(2026, 9, 1)
    factories.delegation(session, school.dean, school.deputy, start=day, end=day)
    factories.delegation(session, school.deputy, school.counsellor, start=day, end=day)
    entries = delegate(session, [school.dean, school.jwc_head], day)
    assert [(e.person.name, e.delegated_from) for e in entries] == [
        ("周副书记", school.dean),
        ("郑处长", None),
    ]
    # two people delegating to the same deputy give one task
    factories.delegation(session, school.jwc_head, school.deputy, start=day, end=day)
    assert [e.person.name for e in delegate(session, [school.dean, school.jwc_head], day)] == [
        "周副书记"
    ]
    school.deputy.status = PersonStatus.INACTIVE
    session.flush()
    assert delegate(session, [school.dean], day)[0].person == school.dean


def test_fallback_prefers_the_department_admin_then_the_information_center(session, school):
    assert [p.name for p in fallback_people(session, school.cs.id)] == ["吴管理员"]
    assert [p.name for p in fallback_people(session, school.jwc.id)] == ["蒋工程师"]


def test_applicant_facts(session, school):
    factories.grant(session, school.student, RoleCode.STUDENT)
    facts = applicant_facts(session, school.student)
    assert (facts.kind, facts.department, facts.level, facts.roles) == (
        "student",
        "CS",
        "本科",
        ("student",),
    )
    teacher = applicant_facts(session, school.teacher)
    assert (teacher.kind, teacher.post, teacher.level, teacher.department) == (
        "staff",
        "讲师",
        None,
        "CS_SE",
    )
