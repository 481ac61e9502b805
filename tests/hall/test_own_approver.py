"""`options.applicant_approver: superior`: nobody approves their own application. A head
applying to their own department goes up the chain; the default keeps 自动通过."""

from __future__ import annotations

from typing import Any

from hall.states import AppStatus, TaskStatus
from tests import factories
from tests.hall.test_engine_modes import flow_of, persons, status_of, submit

HEAD = [{"key": "head", "name": "部门负责人审批", "approver": {"type": "dept_head"}}]
UP: dict[str, Any] = {"options": {"applicant_approver": "superior"}}


def _open(session, app_id: int) -> list[int]:
    tasks = factories.tasks_of(session, app_id)
    return [t.assignee_id for t in tasks if t.status is TaskStatus.PENDING]


def test_a_head_of_a_sub_department_goes_to_the_college_head(hall, session, school):
    key = flow_of(session, HEAD, **UP)
    app_id = submit(hall, school.se_head, key).application_id
    assert _open(session, app_id) == [school.dean.id]


def test_a_college_head_goes_to_the_leader_in_charge(hall, session, school):
    key = flow_of(session, HEAD, **UP)
    app_id = submit(hall, school.dean, key).application_id
    assert _open(session, app_id) == [school.vp.id]


def test_the_others_a_rule_found_are_enough(hall, session, school):
    step = {"key": "a", "name": "或签", "approver": persons(school.dean, school.deputy)}
    app_id = submit(hall, school.dean, flow_of(session, [step], **UP)).application_id
    assert _open(session, app_id) == [school.deputy.id]


def test_others_are_not_affected(hall, session, school):
    app_id = submit(hall, school.teacher, flow_of(session, HEAD, **UP)).application_id
    assert _open(session, app_id) == [school.se_head.id]


def test_by_default_the_head_passes_their_own_step(hall, session, school):
    app_id = submit(hall, school.se_head, flow_of(session, HEAD)).application_id
    assert _open(session, app_id) == []
    assert status_of(session, app_id) is AppStatus.APPROVED
