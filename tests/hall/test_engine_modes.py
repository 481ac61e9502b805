"""Step modes and kinds, conditions, auto-pass, fallback, delegation, CC rules, due dates."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.orm import Session

from hall.errors import Conflict, Invalid
from hall.models import Application, Follower, Person, RoleCode, Task, TaskOrigin
from hall.outbox import Kind
from hall.services import ActionResult, Decision, Hall
from hall.states import AppStatus, TaskStatus
from tests import factories

APPROVE = Decision("approve")


FORM = [
    {"key": "reason", "label": "事由", "type": "text", "required": True},
    {"key": "days", "label": "天数", "type": "number", "integer": True, "min": 1},
    {"key": "host", "label": "接待人", "type": "person"},
]


def flow_of(session: Session, flow: list[dict[str, Any]], **extra: Any) -> str:
    spec = factories.simple_spec("CS", form=FORM, flow=flow, **extra)
    return factories.process(session, spec).process.key


def persons(*people: Person) -> dict[str, Any]:
    return {"type": "persons", "userids": [p.userid for p in people]}


def submit(hall: Hall, who: Person, key: str, **form: Any) -> ActionResult:
    return hall.submit(who.id, key, {"reason": "事由", **form})


def status_of(session: Session, app_id: int) -> AppStatus:
    session.expire_all()
    app = session.get(Application, app_id)
    assert app is not None
    return app.status


def by_assignee(tasks: list[Task]) -> dict[int, Task]:
    return {t.assignee_id: t for t in tasks}


def test_single_takes_the_first_person(hall, session, school):
    key = flow_of(
        session,
        [
            {
                "key": "a",
                "name": "审批",
                "mode": "single",
                "approver": persons(school.jwc_head, school.jwc_clerk),
            }
        ],
    )
    app = submit(hall, school.teacher, key)
    [task] = factories.tasks_of(session, app.application_id)
    assert task.assignee_id == school.jwc_head.id
    result = hall.decide(school.jwc_head.id, task.id, Decision("approve", comment="同意"))
    assert (result.status, result.task_status, result.message) == ("approved", "approved", "已同意")
    [done] = factories.outbox_of(session, app.application_id, Kind.APPLICATION_RESULT)
    assert done.recipient_id == school.teacher.id
    assert done.payload["outcome"] == "approved"
    assert done.payload["comment"] == "同意"  # the last approval's comment, for the applicant
    session.expire_all()
    finished = session.get(Application, app.application_id)
    assert finished is not None
    assert finished.finished_at is not None
    assert finished.current_step is None


def test_any_of_first_decision_counts_and_cancels_the_others(hall, session, school):
    key = flow_of(
        session,
        [
            {
                "key": "a",
                "name": "或签",
                "mode": "any",
                "approver": persons(school.jwc_clerk, school.jwc_clerk2),
            }
        ],
    )
    app = submit(hall, school.teacher, key)
    tasks = by_assignee(factories.tasks_of(session, app.application_id))
    assert {t.status for t in tasks.values()} == {TaskStatus.PENDING}
    hall.decide(school.jwc_clerk2.id, tasks[school.jwc_clerk2.id].id, APPROVE)
    tasks = by_assignee(factories.tasks_of(session, app.application_id))
    assert tasks[school.jwc_clerk.id].status is TaskStatus.CANCELLED
    assert tasks[school.jwc_clerk2.id].status is TaskStatus.APPROVED
    [cancelled] = factories.outbox_of(session, app.application_id, Kind.TASK_CANCELLED)
    assert cancelled.recipient_id == school.jwc_clerk.id
    assert cancelled.payload["reason"] == "已由他人处理"
    assert status_of(session, app.application_id) is AppStatus.APPROVED


def test_all_of_needs_everyone(hall, session, school):
    key = flow_of(
        session,
        [
            {
                "key": "a",
                "name": "会签",
                "mode": "all",
                "approver": persons(school.jwc_clerk, school.jwc_clerk2),
            }
        ],
    )
    app = submit(hall, school.teacher, key)
    tasks = by_assignee(factories.tasks_of(session, app.application_id))
    first = hall.decide(school.jwc_clerk.id, tasks[school.jwc_clerk.id].id, APPROVE)
    assert first.status == "pending"
    assert status_of(session, app.application_id) is AppStatus.PENDING
    hall.decide(school.jwc_clerk2.id, tasks[school.jwc_clerk2.id].id, APPROVE)
    assert status_of(session, app.application_id) is AppStatus.APPROVED


def test_all_of_one_reject_rejects(hall, session, school):
    key = flow_of(
        session,
        [
            {
                "key": "a",
                "name": "会签",
                "mode": "all",
                "approver": persons(school.jwc_clerk, school.jwc_clerk2),
            },
            {"key": "b", "name": "处长", "approver": persons(school.jwc_head)},
        ],
    )
    app = submit(hall, school.teacher, key)
    tasks = by_assignee(factories.tasks_of(session, app.application_id))
    hall.decide(school.jwc_clerk.id, tasks[school.jwc_clerk.id].id, APPROVE)
    result = hall.decide(
        school.jwc_clerk2.id, tasks[school.jwc_clerk2.id].id, Decision("reject", comment="材料不全")
    )
    assert (result.status, result.message) == ("rejected", "已驳回")
    [outcome] = factories.outbox_of(session, app.application_id, Kind.APPLICATION_RESULT)
    assert outcome.payload == {**outcome.payload, "outcome": "rejected", "comment": "材料不全"}
    assert len(factories.tasks_of(session, app.application_id)) == 2  # step b never started


def test_reject_cancels_open_tasks_of_an_any_step(hall, session, school):
    key = flow_of(
        session,
        [{"key": "a", "name": "或签", "approver": persons(school.jwc_clerk, school.jwc_clerk2)}],
    )
    app = submit(hall, school.teacher, key)
    tasks = by_assignee(factories.tasks_of(session, app.application_id))
    hall.decide(school.jwc_clerk.id, tasks[school.jwc_clerk.id].id, Decision("reject"))
    tasks = by_assignee(factories.tasks_of(session, app.application_id))
    assert tasks[school.jwc_clerk2.id].status is TaskStatus.CANCELLED
    assert status_of(session, app.application_id) is AppStatus.REJECTED


def test_sequential_goes_one_after_another(hall, session, school, clock):
    key = flow_of(
        session,
        [
            {
                "key": "a",
                "name": "依次",
                "mode": "sequential",
                "time_limit_hours": 24,
                "approver": persons(school.jwc_clerk, school.jwc_clerk2, school.jwc_head),
            }
        ],
    )
    app = submit(hall, school.teacher, key)
    tasks = factories.tasks_of(session, app.application_id)
    assert [t.status for t in tasks] == [TaskStatus.PENDING, TaskStatus.WAITING, TaskStatus.WAITING]
    assert [t.seq for t in tasks] == [0, 1, 2]
    assert tasks[0].due_at == clock.now() + timedelta(hours=24)
    assert tasks[1].due_at is None
    with pytest.raises(Conflict, match="还没有轮到您处理"):
        hall.decide(school.jwc_clerk2.id, tasks[1].id, APPROVE)
    clock.advance(hours=2)
    hall.decide(school.jwc_clerk.id, tasks[0].id, APPROVE)
    tasks = factories.tasks_of(session, app.application_id)
    assert [t.status for t in tasks] == [
        TaskStatus.APPROVED,
        TaskStatus.PENDING,
        TaskStatus.WAITING,
    ]
    assert tasks[1].due_at == clock.now() + timedelta(hours=24)
    assigned = factories.outbox_of(session, app.application_id, Kind.TASK_ASSIGNED)
    assert [o.recipient_id for o in assigned] == [school.jwc_clerk.id, school.jwc_clerk2.id]
    hall.decide(school.jwc_clerk2.id, tasks[1].id, APPROVE)
    hall.decide(school.jwc_head.id, tasks[2].id, APPROVE)
    assert status_of(session, app.application_id) is AppStatus.APPROVED


def test_steps_run_in_order_and_conditions_skip_steps(hall, session, school):
    key = flow_of(
        session,
        [
            {"key": "counsellor", "name": "辅导员", "approver": {"type": "counsellor"}},
            {
                "key": "deputy",
                "name": "副书记",
                "approver": {"type": "role_in_applicant_dept", "role": "deputy_secretary"},
                "condition": {"subject": "form.days", "op": ">", "value": 2},
            },
            {
                "key": "jwc",
                "name": "教务处",
                "approver": {"type": "role_in_dept", "role": "dept_head", "department": "JWC"},
                "condition": {"subject": "form.days", "op": ">", "value": 7},
            },
        ],
    )
    short = submit(hall, school.student, key, days=1)
    long = submit(hall, school.student, key, days=5)
    [c1] = factories.tasks_of(session, short.application_id)
    hall.decide(school.counsellor.id, c1.id, APPROVE)
    assert status_of(session, short.application_id) is AppStatus.APPROVED
    skipped = factories.logs_of(session, short.application_id, "skip_step")
    assert [(s.step_index, s.detail["condition"]) for s in skipped] == [
        (1, "form.days > 2"),
        (2, "form.days > 7"),
    ]
    [c2] = factories.tasks_of(session, long.application_id)
    hall.decide(school.counsellor.id, c2.id, APPROVE)
    tasks = factories.tasks_of(session, long.application_id)
    assert [(t.step_key, t.assignee_id) for t in tasks] == [
        ("counsellor", school.counsellor.id),
        ("deputy", school.deputy.id),
    ]
    hall.decide(school.deputy.id, tasks[1].id, APPROVE)
    assert status_of(session, long.application_id) is AppStatus.APPROVED


def test_a_flow_whose_steps_all_skip_is_approved_at_once(hall, session, school):
    key = flow_of(
        session,
        [
            {
                "key": "a",
                "name": "长假",
                "approver": {"type": "dept_head"},
                "condition": {"subject": "form.days", "op": ">=", "value": 15},
            }
        ],
    )
    result = submit(hall, school.teacher, key, days=1)
    assert result.status == "approved"
    assert factories.outbox_of(session, result.application_id, Kind.APPLICATION_RESULT)


def test_condition_on_applicant_facts(hall, session, school):
    key = flow_of(
        session,
        [
            {
                "key": "students",
                "name": "学生",
                "approver": {"type": "counsellor"},
                "condition": {"subject": "applicant.kind", "op": "==", "value": "student"},
            },
            {
                "key": "staff",
                "name": "教工",
                "approver": {"type": "dept_head"},
                "condition": {
                    "all": [
                        {"subject": "applicant.kind", "op": "==", "value": "staff"},
                        {"not": {"subject": "applicant.roles", "op": "in", "value": ["dept_head"]}},
                    ]
                },
            },
        ],
    )
    student = submit(hall, school.student, key)
    teacher = submit(hall, school.teacher, key)
    [s] = factories.tasks_of(session, student.application_id)
    [t] = factories.tasks_of(session, teacher.application_id)
    assert (s.step_key, s.assignee_id) == ("students", school.counsellor.id)
    assert (t.step_key, t.assignee_id) == ("staff", school.se_head.id)
    head = submit(hall, school.se_head, key)
    assert head.status == "approved"  # a head skips the staff step by condition


def test_notify_step_tells_people_and_moves_on(hall, session, school):
    key = flow_of(
        session,
        [
            {
                "key": "file",
                "name": "报备人事处",
                "kind": "notify",
                "approver": persons(school.jwc_head),
            },
            {"key": "head", "name": "负责人", "approver": persons(school.dean)},
        ],
    )
    app = submit(hall, school.teacher, key)
    tasks = factories.tasks_of(session, app.application_id)
    assert [(t.step_key, t.status) for t in tasks] == [
        ("file", TaskStatus.NOTIFIED),
        ("head", TaskStatus.PENDING),
    ]
    [told] = factories.outbox_of(session, app.application_id, Kind.STEP_NOTIFY)
    assert told.recipient_id == school.jwc_head.id
    assert told.payload["step"] == "报备人事处"
    # notify-only steps do not close the withdraw window
    assert hall.withdraw(school.teacher.id, app.application_id).status == "withdrawn"


def test_notify_as_the_last_step_finishes(hall, session, school):
    key = flow_of(
        session,
        [
            {"key": "head", "name": "负责人", "approver": persons(school.dean)},
            {"key": "file", "name": "报备", "kind": "notify", "approver": persons(school.jwc_head)},
        ],
    )
    app = submit(hall, school.teacher, key)
    [task] = factories.tasks_of(session, app.application_id)
    assert hall.decide(school.dean.id, task.id, APPROVE).status == "approved"


def handle_flow(session: Session, school: SimpleNamespace) -> str:
    return flow_of(
        session,
        [
            {"key": "head", "name": "负责人", "approver": persons(school.dean)},
            {
                "key": "issue",
                "name": "开通账号",
                "kind": "handle",
                "approver": persons(school.it_admin),
                "result_fields": [
                    {
                        "key": "account",
                        "label": "账号",
                        "type": "text",
                        "required": True,
                        "pattern": "^[a-z0-9_]{3,16}$",
                        "pattern_message": "3-16位小写字母数字",
                    },
                    {"key": "expires", "label": "有效期至", "type": "date", "required": True},
                ],
            },
        ],
    )


def test_handle_step_result_is_validated_and_shown_to_the_applicant(hall, session, school):
    key = handle_flow(session, school)
    app = submit(hall, school.teacher, key)
    [head] = factories.tasks_of(session, app.application_id)
    hall.decide(school.dean.id, head.id, APPROVE)
    _, issue = factories.tasks_of(session, app.application_id)
    before = factories.snapshot(session)
    with pytest.raises(Invalid) as err:
        hall.decide(school.it_admin.id, issue.id, Decision("approve", result={"account": "A!"}))
    assert err.value.detail["fields"] == {
        "account": "3-16位小写字母数字",
        "expires": "请填写有效期至",
    }
    with pytest.raises(Invalid):
        hall.decide(school.it_admin.id, issue.id, APPROVE)
    assert factories.snapshot(session) == before
    done = hall.decide(
        school.it_admin.id,
        issue.id,
        Decision("approve", result={"account": "qian_t", "expires": "2027-09-01"}),
    )
    assert (done.status, done.message) == ("approved", "已办理")
    session.expire_all()
    finished = session.get(Application, app.application_id)
    assert finished is not None
    assert finished.result == {"account": "qian_t", "expires": "2027-09-01"}
    [outcome] = factories.outbox_of(session, app.application_id, Kind.APPLICATION_RESULT)
    assert outcome.payload["result"] == finished.result
    _, issue = factories.tasks_of(session, app.application_id)
    assert issue.result == finished.result


def test_result_on_a_plain_approval_is_invalid(hall, session, school):
    key = flow_of(session, [{"key": "a", "name": "审批", "approver": persons(school.dean)}])
    app = submit(hall, school.teacher, key)
    [task] = factories.tasks_of(session, app.application_id)
    with pytest.raises(Invalid) as err:
        hall.decide(school.dean.id, task.id, Decision("approve", result={"x": 1}))
    assert err.value.detail["fields"] == {"result": "该环节无需填写办理结果"}


def test_consent_comes_from_the_person_named_in_the_form(hall, session, school):
    key = flow_of(
        session,
        [
            {
                "key": "host",
                "name": "接待人确认",
                "kind": "consent",
                "approver": {"type": "form_person", "field": "host"},
            },
            {"key": "head", "name": "负责人", "approver": persons(school.dean)},
        ],
    )
    app = submit(hall, school.teacher, key, host=school.jwc_clerk.userid)
    [consent] = factories.tasks_of(session, app.application_id)
    assert consent.assignee_id == school.jwc_clerk.id
    hall.decide(school.jwc_clerk.id, consent.id, APPROVE)
    refused = submit(hall, school.teacher, key, host=school.jwc_clerk.userid)
    [consent] = factories.tasks_of(session, refused.application_id)
    result = hall.decide(school.jwc_clerk.id, consent.id, Decision("reject", comment="不认识"))
    assert (result.status, result.message) == ("rejected", "已拒绝")  # a refusal, not 驳回
    with pytest.raises(Invalid) as err:
        submit(hall, school.teacher, key, host="nobody")
    assert err.value.detail["fields"] == {"host": "人员不存在"}


def test_auto_pass_applicant_and_repeat(hall, session, school):
    key = flow_of(
        session,
        [
            {"key": "head", "name": "系主任", "approver": {"type": "dept_head"}},
            {"key": "dean", "name": "院长", "approver": persons(school.dean)},
            {"key": "again", "name": "院长复核", "approver": persons(school.dean)},
        ],
    )
    app = submit(hall, school.se_head, key)  # the head applies: step 1 is theirs
    tasks = factories.tasks_of(session, app.application_id)
    assert [(t.step_key, t.status) for t in tasks] == [
        ("head", TaskStatus.SKIPPED),
        ("dean", TaskStatus.PENDING),
    ]
    hall.decide(school.dean.id, tasks[1].id, APPROVE)
    tasks = factories.tasks_of(session, app.application_id)
    assert tasks[2].status is TaskStatus.SKIPPED
    assert status_of(session, app.application_id) is AppStatus.APPROVED
    reasons = [
        log.detail["reason"] for log in factories.logs_of(session, app.application_id, "auto_pass")
    ]
    assert reasons == ["applicant", "repeat"]
    assert {
        log.actor_id for log in factories.logs_of(session, app.application_id, "auto_pass")
    } == {None}
    # nobody was asked to do the skipped tasks
    assigned = factories.outbox_of(session, app.application_id, Kind.TASK_ASSIGNED)
    assert [o.recipient_id for o in assigned] == [school.dean.id]


def test_auto_pass_can_be_switched_off(hall, session, school):
    key = flow_of(
        session,
        [{"key": "head", "name": "系主任", "approver": {"type": "dept_head"}}],
        options={"auto_pass_applicant": False},
    )
    app = submit(hall, school.se_head, key)
    [task] = factories.tasks_of(session, app.application_id)
    assert task.status is TaskStatus.PENDING


def test_auto_pass_in_an_all_step_counts_as_that_persons_approval(hall, session, school):
    key = flow_of(
        session,
        [
            {
                "key": "a",
                "name": "会签",
                "mode": "all",
                "approver": persons(school.teacher, school.dean),
            }
        ],
    )
    app = submit(hall, school.teacher, key)
    tasks = by_assignee(factories.tasks_of(session, app.application_id))
    assert tasks[school.teacher.id].status is TaskStatus.SKIPPED
    assert tasks[school.dean.id].status is TaskStatus.PENDING
    hall.decide(school.dean.id, tasks[school.dean.id].id, APPROVE)
    assert status_of(session, app.application_id) is AppStatus.APPROVED


def test_auto_pass_in_an_any_step_passes_it(hall, session, school):
    key = flow_of(
        session, [{"key": "a", "name": "或签", "approver": persons(school.dean, school.teacher)}]
    )
    assert submit(hall, school.teacher, key).status == "approved"


def test_nobody_found_goes_to_the_department_admin_flagged(hall, session, school):
    key = flow_of(session, [{"key": "c", "name": "辅导员", "approver": {"type": "counsellor"}}])
    app = submit(hall, school.teacher, key)  # staff have no counsellor
    [task] = factories.tasks_of(session, app.application_id)
    assert task.assignee_id == school.cs_admin.id
    assert task.origin is TaskOrigin.FALLBACK
    assert task.flagged
    session.expire_all()
    flagged = session.get(Application, app.application_id)
    assert flagged is not None
    assert flagged.flagged
    [flag] = factories.outbox_of(session, app.application_id, Kind.FLAGGED)
    assert flag.recipient_id == school.cs_admin.id
    [log] = factories.logs_of(session, app.application_id, "fallback")
    assert log.detail["assignees"] == [school.cs_admin.userid]
    hall.decide(school.cs_admin.id, task.id, APPROVE)
    assert status_of(session, app.application_id) is AppStatus.APPROVED


def test_fallback_to_the_information_center_when_no_admin(hall, session, school):
    spec = factories.simple_spec(
        "JWC", form=FORM, flow=[{"key": "c", "name": "辅导员", "approver": {"type": "counsellor"}}]
    )
    key = factories.process(session, spec).process.key
    app = submit(hall, school.teacher, key)
    [task] = factories.tasks_of(session, app.application_id)
    assert (task.assignee_id, task.origin) == (school.it_admin.id, TaskOrigin.FALLBACK)


def test_fallback_round_is_any_of_and_never_auto_passes(hall, session, school):
    second_admin = factories.person(
        session, "二号管理员", dept=school.cs, roles=(RoleCode.DEPT_ADMIN,)
    )
    key = flow_of(
        session,
        [
            {
                "key": "c",
                "name": "会签",
                "mode": "all",
                "approver": {"type": "persons", "userids": ["gone"]},
            }
        ],
    )
    app = submit(hall, school.cs_admin, key)
    tasks = by_assignee(factories.tasks_of(session, app.application_id))
    assert tasks[school.cs_admin.id].status is TaskStatus.PENDING  # the admin must look
    hall.decide(second_admin.id, tasks[second_admin.id].id, APPROVE)
    tasks = by_assignee(factories.tasks_of(session, app.application_id))
    assert tasks[school.cs_admin.id].status is TaskStatus.CANCELLED
    assert status_of(session, app.application_id) is AppStatus.APPROVED


def test_nobody_at_all_refuses_the_submission(hall, session, school):
    spec = factories.simple_spec(
        "JWC", form=FORM, flow=[{"key": "c", "name": "辅导员", "approver": {"type": "counsellor"}}]
    )
    key = factories.process(session, spec).process.key
    school.it_admin.grants.clear()
    session.flush()
    before = factories.snapshot(session)
    with pytest.raises(Conflict, match="联系信息中心"):
        submit(hall, school.teacher, key)
    assert factories.snapshot(session) == before


def test_delegation_sends_the_task_to_the_delegate(hall, session, school, clock):
    today = date(2026, 9, 1)
    factories.delegation(
        session, school.dean, school.deputy, start=today, end=today + timedelta(days=3)
    )
    key = flow_of(session, [{"key": "a", "name": "院长", "approver": persons(school.dean)}])
    app = submit(hall, school.teacher, key)
    [task] = factories.tasks_of(session, app.application_id)
    assert task.assignee_id == school.deputy.id
    [assign] = factories.logs_of(session, app.application_id, "assign")
    assert assign.detail["delegated_from"] == school.dean.userid
    [card] = factories.outbox_of(session, app.application_id, Kind.TASK_ASSIGNED)
    assert card.payload["delegated_from"] == school.dean.name  # the card says whose it is
    clock.advance(days=4)  # the delegation ended
    later = submit(hall, school.teacher, key)
    [task] = factories.tasks_of(session, later.application_id)
    assert task.assignee_id == school.dean.id


def test_revoked_or_future_delegations_do_not_apply(hall, session, school):
    factories.delegation(
        session,
        school.dean,
        school.deputy,
        start=date(2026, 9, 1),
        end=date(2026, 9, 2),
        revoked=True,
    )
    factories.delegation(
        session, school.dean, school.counsellor, start=date(2026, 9, 5), end=date(2026, 9, 9)
    )
    key = flow_of(session, [{"key": "a", "name": "院长", "approver": persons(school.dean)}])
    app = submit(hall, school.teacher, key)
    [task] = factories.tasks_of(session, app.application_id)
    assert task.assignee_id == school.dean.id


def test_step_cc_rules_tell_people_when_the_step_passes(hall, session, school):
    key = flow_of(
        session,
        [
            {
                "key": "a",
                "name": "院长",
                "approver": persons(school.dean),
                "cc": [persons(school.jwc_head), {"type": "counsellor"}],
            },
            {"key": "b", "name": "教务", "approver": persons(school.jwc_clerk)},
        ],
    )
    app = submit(hall, school.student, key)
    assert not factories.outbox_of(session, app.application_id, Kind.CC)
    [task] = factories.tasks_of(session, app.application_id)
    hall.decide(school.dean.id, task.id, APPROVE)
    cc = factories.outbox_of(session, app.application_id, Kind.CC)
    assert {o.recipient_id for o in cc} == {school.jwc_head.id, school.counsellor.id}
    followers = session.query(Follower).filter_by(application_id=app.application_id).all()
    assert {(f.person_id, f.reason) for f in followers} == {
        (school.jwc_head.id, "cc"),
        (school.counsellor.id, "cc"),
    }


def test_a_chain_of_heads_in_sequence_approves_level_by_level(hall, session, school):
    key = flow_of(
        session,
        [
            {
                "key": "heads",
                "name": "逐级审批",
                "approver": {"type": "dept_head_chain", "levels": 2},
                "mode": "sequential",
            }
        ],
    )
    app_id = submit(hall, school.teacher, key).application_id
    first, second = factories.tasks_of(session, app_id)
    assert (first.assignee_id, first.status) == (school.se_head.id, TaskStatus.PENDING)
    assert (second.assignee_id, second.status) == (school.dean.id, TaskStatus.WAITING)
    hall.decide(school.se_head.id, first.id, Decision("approve"))
    first, second = factories.tasks_of(session, app_id)
    assert second.status == TaskStatus.PENDING
    assert status_of(session, app_id) is AppStatus.PENDING
    hall.decide(school.dean.id, second.id, Decision("approve"))
    assert status_of(session, app_id) is AppStatus.APPROVED
