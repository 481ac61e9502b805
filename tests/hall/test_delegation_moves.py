"""Delegation moves the to-dos a reviewer already had: one that starts today at once, a
later one on its first day (the worker's pass), and a sequential to-do that opens while
they are away. New to-dos already go to the delegate (tests/hall/test_engine_modes.py)."""

from __future__ import annotations

from datetime import date, timedelta

from hall.channels import render
from hall.delegations import Delegations
from hall.models import Application, Task, TaskOrigin
from hall.outbox import Kind
from hall.reminders import delegate_all
from hall.services import Decision
from hall.states import AppStatus, TaskStatus
from tests import factories
from tests.hall.test_engine_modes import flow_of, persons, submit

TODAY = date(2026, 9, 1)  # the clock fixture's day in Beijing


def _pending(session, application_id: int) -> list[Task]:
    session.expire_all()
    return [
        t for t in factories.tasks_of(session, application_id) if t.status is TaskStatus.PENDING
    ]


def test_a_delegation_starting_today_moves_the_to_dos_at_once(hall, db, session, school, clock):
    key = flow_of(session, [{"key": "a", "name": "院长", "approver": persons(school.dean)}])
    app_id = submit(hall, school.teacher, key).application_id
    [waiting] = _pending(session, app_id)
    assert waiting.assignee_id == school.dean.id

    result = Delegations(db, clock).create(
        school.dean.id, school.deputy.userid, TODAY, TODAY + timedelta(days=3)
    )
    assert (result.moved, result.delegate_name) == (1, school.deputy.name)
    assert result.message == f"已设置委托，1 件待办已转给{school.deputy.name}"

    old, new = factories.tasks_of(session, app_id)
    assert old.status is TaskStatus.TRANSFERRED
    assert (new.status, new.assignee_id, new.origin) == (
        TaskStatus.PENDING,
        school.deputy.id,
        TaskOrigin.TRANSFER,
    )
    [moved] = factories.logs_of(session, app_id, "delegate")
    assert moved.actor_id is None  # the hall's own act
    assert moved.detail["to"] == school.deputy.userid
    [told] = factories.outbox_of(session, app_id, Kind.TASK_CANCELLED)
    assert told.recipient_id == school.dean.id
    assert render(session, told).body.startswith(f"委托期间已转给{school.deputy.name}")
    assigned = factories.outbox_of(session, app_id, Kind.TASK_ASSIGNED)
    assert assigned[-1].recipient_id == school.deputy.id
    assert assigned[-1].payload["delegated_from"] == school.dean.name
    body = render(session, assigned[-1]).body
    assert f"{school.dean.name}外出期间委托您处理。" in body

    hall.decide(school.deputy.id, new.id, Decision("approve"))
    session.expire_all()
    application = session.get(Application, app_id)
    assert application is not None
    assert application.status is AppStatus.APPROVED


def test_a_later_delegation_moves_them_on_its_first_day(hall, db, session, school, clock):
    key = flow_of(session, [{"key": "a", "name": "院长", "approver": persons(school.dean)}])
    app_id = submit(hall, school.teacher, key).application_id
    start = TODAY + timedelta(days=2)
    result = Delegations(db, clock).create(
        school.dean.id, school.deputy.userid, start, start + timedelta(days=1)
    )
    assert result.moved == 0
    assert result.message == "已设置委托"
    assert delegate_all(db, clock) == 0
    assert [t.assignee_id for t in _pending(session, app_id)] == [school.dean.id]
    clock.advance(days=2)
    assert delegate_all(db, clock) == 1
    assert [t.assignee_id for t in _pending(session, app_id)] == [school.deputy.id]
    assert delegate_all(db, clock) == 0  # nothing left to move


def test_a_sequential_to_do_that_opens_during_the_leave_moves(hall, db, session, school, clock):
    step = {
        "key": "a",
        "name": "依次审批",
        "mode": "sequential",
        "approver": persons(school.vp, school.dean),
    }
    app_id = submit(hall, school.teacher, flow_of(session, [step])).application_id
    result = Delegations(db, clock).create(
        school.dean.id, school.deputy.userid, TODAY, TODAY + timedelta(days=3)
    )
    assert result.moved == 0  # the dean's turn has not come
    [vp_task] = _pending(session, app_id)
    hall.decide(school.vp.id, vp_task.id, Decision("approve"))
    assert [t.assignee_id for t in _pending(session, app_id)] == [school.dean.id]
    assert delegate_all(db, clock) == 1
    assert [t.assignee_id for t in _pending(session, app_id)] == [school.deputy.id]


def test_no_second_to_do_for_a_delegate_already_on_the_step(hall, db, session, school, clock):
    step = {
        "key": "a",
        "name": "会签",
        "mode": "all",
        "approver": persons(school.dean, school.deputy),
    }
    app_id = submit(hall, school.teacher, flow_of(session, [step])).application_id
    result = Delegations(db, clock).create(
        school.dean.id, school.deputy.userid, TODAY, TODAY + timedelta(days=3)
    )
    assert result.moved == 0
    pending = sorted(t.assignee_id for t in _pending(session, app_id))
    assert pending == sorted([school.dean.id, school.deputy.id])
    assert factories.logs_of(session, app_id, "delegate") == []


def test_a_revoked_delegation_moves_nothing(hall, db, session, school, clock):
    key = flow_of(session, [{"key": "a", "name": "院长", "approver": persons(school.dean)}])
    app_id = submit(hall, school.teacher, key).application_id
    start = TODAY + timedelta(days=1)
    delegations = Delegations(db, clock)
    result = delegations.create(school.dean.id, school.deputy.userid, start, start)
    delegations.revoke(school.dean.id, result.id)
    clock.advance(days=1)
    assert delegate_all(db, clock) == 0
    assert [t.assignee_id for t in _pending(session, app_id)] == [school.dean.id]
