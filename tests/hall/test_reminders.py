"""Deadline reminders: overdue to-dos remind their reviewer once, then daily; nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hall.channels import render
from hall.clock import FrozenClock
from hall.db import Database
from hall.models import ActionLog, Outbox, Task
from hall.outbox import Kind
from hall.reminders import REPEAT, remind_overdue
from hall.services import Decision, Hall
from tests import factories

SUBMITTED = datetime(2026, 9, 1, 1, 0, tzinfo=UTC)


def _reminders(session: Session) -> list[Outbox]:
    return list(session.scalars(select(Outbox).where(Outbox.kind == Kind.URGE).order_by(Outbox.id)))


def _leave(db: Database, session: Session, hours: int | None) -> tuple[Hall, int, Task]:
    """An application waiting at 李主任, whose step allows `hours` (None: no time limit)."""
    dept = factories.department(session, "教务处")
    factories.person(session, "李主任", dept=dept, roles=("dept_head",))
    applicant = factories.person(session, "孙同学", kind="student", dept=dept)
    step: dict[str, Any] = {"key": "head", "name": "负责人审批", "approver": {"type": "dept_head"}}
    if hours is not None:
        step["time_limit_hours"] = hours
    key = factories.process(session, factories.simple_spec(dept.code, flow=[step])).process.key
    session.commit()
    hall = Hall(db, FrozenClock(SUBMITTED))
    app_id = hall.submit(applicant.id, key, {"reason": "冲突"}).application_id
    [task] = factories.tasks_of(session, app_id)
    return hall, app_id, task


def _pass(db: Database, now: datetime) -> int:
    with db.unit_of_work() as s:
        return remind_overdue(s, now).reminded


def test_an_overdue_task_reminds_its_reviewer_once_then_daily(db, session):
    _hall, app_id, task = _leave(db, session, hours=24)
    assert task.due_at == SUBMITTED + timedelta(hours=24)
    assert _pass(db, SUBMITTED + timedelta(hours=23)) == 0  # not due yet
    due = SUBMITTED + timedelta(hours=25)
    assert _pass(db, due) == 1
    assert _pass(db, due + timedelta(hours=1)) == 0  # once a day at most
    [row] = _reminders(session)
    assert (row.recipient_id, row.task_id, row.application_id) == (
        task.assignee_id,
        task.id,
        app_id,
    )
    assert "by" not in row.payload  # the hall's own reminder, not someone's urge
    message = render(session, row)
    assert message.title == "超时提醒：请尽快处理「孙同学的测试事项」"
    assert "此申请已超过办理时限（09月02日 09:00），请尽快处理" in message.body  # Beijing time
    [entry] = session.scalars(select(ActionLog).where(ActionLog.action == "remind")).all()
    assert (entry.actor_id, entry.task_id) == (None, task.id)
    session.expire_all()
    assert session.get(Task, task.id).reminded_at == due
    assert _pass(db, due + REPEAT) == 1  # still pending a day later: reminded again
    assert len(_reminders(session)) == 2


def test_a_day_overdue_is_reported_to_the_services_administrators(db, session):
    _hall, _app_id, task = _leave(db, session, hours=24)
    dept = session.get(Task, task.id).application.process.department
    admin = factories.person(session, "吴管理员", dept=dept, roles=("dept_admin",))
    session.commit()
    due = SUBMITTED + timedelta(hours=24)
    with db.unit_of_work() as s:
        first = remind_overdue(s, due + timedelta(hours=1))
    assert (first.reminded, first.escalated) == (1, 0)  # an hour late: the reviewer only
    with db.unit_of_work() as s:
        second = remind_overdue(s, due + REPEAT + timedelta(hours=1))
    assert (second.reminded, second.escalated) == (1, 1)
    [digest] = session.scalars(select(Outbox).where(Outbox.kind == Kind.OVERDUE)).all()
    assert digest.recipient_id == admin.id
    assert digest.payload == {"count": 1, "since": due.isoformat()}
    message = render(session, digest)
    assert message.title == "超时待办：1件"
    assert "最早的已于09月02日 09:00超时" in message.body
    assert "请在「办件监控」中查看，必要时改派" in message.body


def test_decided_undue_and_unlimited_tasks_are_left_alone(db, session):
    hall, _app_id, task = _leave(db, session, hours=2)
    hall.decide(task.assignee_id, task.id, Decision("approve"))
    _none, _other, unlimited = _leave(db, session, hours=None)
    assert unlimited.due_at is None
    assert _pass(db, SUBMITTED + timedelta(days=30)) == 0
    assert _reminders(session) == []


def test_a_pass_takes_a_batch_and_the_next_the_rest(db, session):
    for _ in range(3):
        _leave(db, session, hours=1)
    late = SUBMITTED + timedelta(hours=2)
    with db.unit_of_work() as s:
        first = remind_overdue(s, late, batch=2)
    assert (first.reminded, first.more) == (2, True)
    with db.unit_of_work() as s:
        rest = remind_overdue(s, late, batch=2)
    assert (rest.reminded, rest.more) == (1, False)
    assert len({r.task_id for r in _reminders(session)}) == 3


@pytest.mark.pg_only
def test_two_workers_at_once_remind_each_task_once(committed_db):
    with committed_db.unit_of_work() as s:
        _leave(committed_db, s, hours=1)
    late = SUBMITTED + timedelta(hours=2)
    first = committed_db.sessions()
    try:
        assert remind_overdue(first, late).reminded == 1  # holds the task's row lock
        with committed_db.unit_of_work() as second:
            assert remind_overdue(second, late).reminded == 0  # skipped, not waited for
        first.commit()
    finally:
        first.close()
    assert _pass(committed_db, late) == 0  # and it is stamped now
    with committed_db.reader() as s:
        assert len(_reminders(s)) == 1
