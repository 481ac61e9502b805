"""To-dos of people who left (sync or WeCom disabled them) are handed on, so no flow waits
for someone who is gone: to whom the step picks now, else the process's administrators."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete

from hall.channels import render
from hall.errors import AlreadyDecided, Invalid, NotFound
from hall.models import Person, PersonStatus, RoleCode, RoleGrant, TaskOrigin
from hall.outbox import Kind
from hall.reminders import reassign_all
from hall.services import Decision
from hall.states import AppStatus, TaskStatus
from tests import factories

_ADMIN_ROLES = [RoleCode.DEPT_ADMIN, RoleCode.INFO_CENTER]


def _process(session, step: dict[str, Any]) -> str:
    spec = factories.simple_spec("CS", flow=[{"key": "a", "name": "审批", **step}])
    return factories.process(session, spec).process.key


def _dean_and_deputy(hall, session, school, mode: str) -> int:
    """A teacher's application waiting on the dean and the deputy, in `mode`."""
    people = [school.dean.userid, school.deputy.userid]
    key = _process(session, {"mode": mode, "approver": {"type": "persons", "userids": people}})
    application_id: int = hall.submit(school.teacher.id, key, {"reason": "x"}).application_id
    return application_id


def _leave(session, *people: Person) -> None:
    for who in people:
        who.status = PersonStatus.INACTIVE
    session.commit()


def _open(session, app_id: int):
    return [t for t in factories.tasks_of(session, app_id) if t.status is TaskStatus.PENDING]


def test_a_leavers_to_do_goes_to_whom_the_step_picks_now(hall, db, session, school, clock):
    key = _process(session, {"approver": {"type": "counsellor"}})
    app_id = hall.submit(school.student.id, key, {"reason": "x"}).application_id
    # The counsellor leaves; the nightly sync gives the student a new one.
    successor = factories.person(session, "杨辅导员", dept=school.cs)
    school.student.counsellor_id = successor.id
    _leave(session, school.counsellor)

    report = reassign_all(db, clock)
    assert (report.handed_on, report.stuck) == (1, 0)
    [old, new] = factories.tasks_of(session, app_id)
    assert old.status is TaskStatus.TRANSFERRED
    assert (new.status, new.assignee_id, new.origin) == (
        TaskStatus.PENDING,
        successor.id,
        TaskOrigin.TRANSFER,
    )
    [log] = factories.logs_of(session, app_id, "reassign")
    assert log.actor_id is None  # the hall's own act
    assert log.detail == {"to": successor.userid, "departed": school.counsellor.userid}
    assigned = factories.outbox_of(session, app_id, Kind.TASK_ASSIGNED)[-1]
    assert assigned.recipient_id == successor.id
    assert "原处理人陈辅导员已停用，转由您处理。" in render(session, assigned).body
    # The new reviewer decides; a second pass has nothing to do.
    hall.decide(successor.id, new.id, Decision("approve"))
    assert reassign_all(db, clock).handed_on == 0
    assert factories.tasks_of(session, app_id)[0].application.status is AppStatus.APPROVED


def test_without_anyone_the_step_picks_the_administrators_take_it(hall, db, session, school, clock):
    key = _process(session, {"approver": {"type": "persons", "userids": [school.dean.userid]}})
    app_id = hall.submit(school.teacher.id, key, {"reason": "x"}).application_id
    _leave(session, school.dean)
    assert reassign_all(db, clock).handed_on == 1
    [task] = _open(session, app_id)
    assert task.assignee_id == school.cs_admin.id  # the owning department's administrator


def test_an_any_of_step_with_a_colleague_left_on_it_adds_nobody(hall, db, session, school, clock):
    app_id = _dean_and_deputy(hall, session, school, "any")
    _leave(session, school.dean)
    assert reassign_all(db, clock).handed_on == 1
    tasks = factories.tasks_of(session, app_id)
    assert [(t.assignee_id, t.status) for t in tasks] == [
        (school.dean.id, TaskStatus.CANCELLED),
        (school.deputy.id, TaskStatus.PENDING),
    ]


def test_an_all_of_step_gets_a_replacement_for_the_leaver(hall, db, session, school, clock):
    app_id = _dean_and_deputy(hall, session, school, "all")
    _leave(session, school.dean)
    assert reassign_all(db, clock).handed_on == 1
    assert {t.assignee_id for t in _open(session, app_id)} == {
        school.deputy.id,
        school.cs_admin.id,
    }
    for task in _open(session, app_id):
        hall.decide(task.assignee_id, task.id, Decision("approve"))
    assert factories.tasks_of(session, app_id)[0].application.status is AppStatus.APPROVED


def test_nobody_to_take_it_changes_nothing_and_is_reported(hall, db, session, school, clock):
    key = _process(session, {"approver": {"type": "persons", "userids": [school.dean.userid]}})
    app_id = hall.submit(school.teacher.id, key, {"reason": "x"}).application_id
    session.execute(delete(RoleGrant).where(RoleGrant.role_code.in_(_ADMIN_ROLES)))
    _leave(session, school.dean)
    before = factories.snapshot(session)
    report = reassign_all(db, clock)
    assert (report.handed_on, report.stuck) == (0, 1)
    assert factories.snapshot(session) == before
    assert [t.assignee_id for t in _open(session, app_id)] == [school.dean.id]  # next pass


def test_active_reviewers_and_finished_applications_are_left_alone(
    hall, db, session, school, clock
):
    key = _process(session, {"approver": {"type": "persons", "userids": [school.dean.userid]}})
    waiting = hall.submit(school.teacher.id, key, {"reason": "x"}).application_id
    done = hall.submit(school.student.id, key, {"reason": "y"}).application_id
    [task] = _open(session, done)
    hall.decide(school.dean.id, task.id, Decision("reject", comment="不符合条件"))
    before = factories.snapshot(session)
    assert reassign_all(db, clock).handed_on == 0
    assert factories.snapshot(session) == before
    assert [t.assignee_id for t in _open(session, waiting)] == [school.dean.id]


# ------------------------------------------------------------- 改派 by an administrator


def test_an_administrator_reassigns_a_to_do(hall, session, school):
    key = _process(session, {"approver": {"type": "persons", "userids": [school.dean.userid]}})
    app_id = hall.submit(school.teacher.id, key, {"reason": "x"}).application_id
    [task] = _open(session, app_id)
    before = factories.snapshot(session)
    # Only administrators of the owning department (CS) or the information center.
    for stranger in (school.jwc_head, school.deputy):
        with pytest.raises(NotFound):
            hall.admin_reassign(stranger.id, task.id, school.deputy.userid)
    for bad in (school.dean.userid, school.teacher.userid, "nobody"):
        with pytest.raises(Invalid):
            hall.admin_reassign(school.cs_admin.id, task.id, bad)
    assert factories.snapshot(session) == before

    result = hall.admin_reassign(school.cs_admin.id, task.id, school.deputy.userid, "院长出差")
    assert result.message == "已改派"
    [new] = _open(session, app_id)
    assert (new.assignee_id, new.parent_id) == (school.deputy.id, task.id)
    [log] = factories.logs_of(session, app_id, "admin_reassign")
    assert (log.actor_id, log.comment, log.detail) == (
        school.cs_admin.id,
        "院长出差",
        {"to": school.deputy.userid},
    )
    assigned = factories.outbox_of(session, app_id, Kind.TASK_ASSIGNED)[-1]
    assert "吴管理员将此待办改派给您。" in render(session, assigned).body
    # The information center reaches every department; a decided task is not reassigned.
    hall.admin_reassign(school.it_admin.id, new.id, school.dean.userid)
    [again] = _open(session, app_id)
    hall.decide(school.dean.id, again.id, Decision("approve"))
    with pytest.raises(AlreadyDecided):
        hall.admin_reassign(school.it_admin.id, again.id, school.deputy.userid)
