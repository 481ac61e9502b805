"""Idempotent retries, and refused decisions that must change nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hall.clock import FrozenClock
from hall.errors import AlreadyDecided, Conflict, Invalid, NotFound, UnknownPerson
from hall.models import Application, IdempotencyRecord, Person, Task
from hall.services import ActionResult, Decision, Hall
from hall.states import TaskStatus
from tests import factories

APPROVE = Decision("approve", comment="同意")


@pytest.fixture
def school(session):
    return factories.school(session)


@pytest.fixture
def hall(db):
    return Hall(db, FrozenClock(datetime(2026, 9, 1, 1, 0, tzinfo=UTC)))


def persons(*people: Person) -> dict[str, Any]:
    return {"type": "persons", "userids": [p.userid for p in people]}


@pytest.fixture
def any_of(session, school):
    spec = factories.simple_spec(
        "CS",
        flow=[{"key": "a", "name": "或签", "approver": persons(school.dean, school.deputy)}],
    )
    return factories.process(session, spec).process.key


def pending(session: Session, app_id: int, who: Person) -> Task:
    [task] = [
        t
        for t in factories.tasks_of(session, app_id)
        if t.assignee_id == who.id and t.status is TaskStatus.PENDING
    ]
    return task


def records(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(IdempotencyRecord)) or 0


def test_a_retried_decision_is_replayed(hall, session, school, any_of):
    app = hall.submit(school.teacher.id, any_of, {"reason": "x"})
    task = pending(session, app.application_id, school.dean)
    first = hall.decide(school.dean.id, task.id, APPROVE, idempotency_key="card-1-approve")
    assert not first.replayed
    after_first = factories.snapshot(session)
    again = hall.decide(school.dean.id, task.id, APPROVE, idempotency_key="card-1-approve")
    assert again == ActionResult(**{**first.to_dict(), "replayed": True})
    assert factories.snapshot(session) == after_first
    assert len(factories.logs_of(session, app.application_id, "approve")) == 1


def test_a_repeated_card_click_is_answered_from_the_task_without_a_record(
    hall, session, school, any_of
):
    app = hall.submit(school.teacher.id, any_of, {"reason": "x"})
    task = pending(session, app.application_id, school.dean)
    other = pending(session, app.application_id, school.deputy)
    first = hall.decide_as(school.dean.userid, task.id, Decision("approve"))
    assert (first.message, first.replayed) == ("已同意", False)
    after_first = factories.snapshot(session)
    again = hall.decide_as(school.dean.userid, task.id, Decision("approve"))  # WeCom's retry
    assert again == replace(first, replayed=True)
    assert factories.snapshot(session) == after_first
    assert records(session) == 0
    # The same reviewer asking for another decision, and the any-of loser, are refused.
    with pytest.raises(AlreadyDecided):
        hall.decide_as(school.dean.userid, task.id, Decision("reject"))
    with pytest.raises(AlreadyDecided):
        hall.decide_as(school.deputy.userid, other.id, Decision("approve"))
    with pytest.raises(NotFound):  # a task that was never theirs
        hall.decide_as(school.deputy.userid, task.id, Decision("approve"))
    assert factories.snapshot(session) == after_first
    assert len(factories.logs_of(session, app.application_id, "approve")) == 1


def test_a_card_click_finds_its_reviewer_whatever_the_userids_case(hall, session, school, any_of):
    app = hall.submit(school.teacher.id, any_of, {"reason": "x"})
    task = pending(session, app.application_id, school.dean)
    before = factories.snapshot(session)
    for stranger in ("nobody", ""):
        with pytest.raises(UnknownPerson):
            hall.decide_as(stranger, task.id, Decision("approve"))
    with pytest.raises(NotFound):  # no such task: refused before asking who clicked
        hall.decide_as(school.dean.userid, 10**12, Decision("approve"))
    assert factories.snapshot(session) == before
    # WeCom compares userids ignoring case: a click may carry another case than ours.
    result = hall.decide_as(school.dean.userid.swapcase(), task.id, Decision("approve"))
    assert (result.message, result.task_status) == ("已同意", "approved")


def test_same_key_for_a_different_request_conflicts(hall, session, school, any_of):
    app = hall.submit(school.teacher.id, any_of, {"reason": "x"})
    task = pending(session, app.application_id, school.dean)
    hall.decide(school.dean.id, task.id, APPROVE, idempotency_key="k1")
    before = factories.snapshot(session)
    with pytest.raises(Conflict, match="幂等键"):
        hall.decide(school.dean.id, task.id, Decision("reject"), idempotency_key="k1")
    assert factories.snapshot(session) == before


def test_keys_are_per_actor(hall, session, school, any_of):
    one = hall.submit(school.teacher.id, any_of, {"reason": "x"}, idempotency_key="same")
    two = hall.submit(school.student.id, any_of, {"reason": "x"}, idempotency_key="same")
    assert one.application_id != two.application_id
    assert not two.replayed


def test_a_retried_submit_creates_one_application(hall, session, school, any_of):
    form = {"reason": "x"}
    first = hall.submit(school.teacher.id, any_of, form, idempotency_key="submit-1")
    again = hall.submit(school.teacher.id, any_of, form, idempotency_key="submit-1")
    assert again.replayed
    assert again.application_id == first.application_id
    assert session.scalar(select(func.count()).select_from(Application)) == 1
    with pytest.raises(Conflict):
        hall.submit(school.teacher.id, any_of, {"reason": "y"}, idempotency_key="submit-1")


def test_a_retried_resubmit_is_replayed(hall, session, school, any_of):
    app = hall.submit(school.teacher.id, any_of, {"reason": "x"})
    task = pending(session, app.application_id, school.dean)
    hall.decide(school.dean.id, task.id, Decision("return", comment="请补充材料"))
    first = hall.resubmit(
        school.teacher.id, app.application_id, {"reason": "y"}, idempotency_key="r"
    )
    again = hall.resubmit(
        school.teacher.id, app.application_id, {"reason": "y"}, idempotency_key="r"
    )
    assert (first.replayed, again.replayed) == (False, True)
    assert again.status == "pending"


def test_failed_requests_leave_no_record_and_may_be_retried(hall, session, school, any_of):
    app = hall.submit(school.teacher.id, any_of, {"reason": "x"})
    task = pending(session, app.application_id, school.dean)
    with pytest.raises(Invalid):
        hall.decide(
            school.dean.id, task.id, Decision("approve", comment="长" * 2001), idempotency_key="k"
        )
    assert records(session) == 0
    assert hall.decide(school.dean.id, task.id, APPROVE, idempotency_key="k").status == "approved"


def test_bad_keys_are_invalid(hall, session, school, any_of):
    with pytest.raises(Invalid):
        hall.submit(school.teacher.id, any_of, {"reason": "x"}, idempotency_key="")
    with pytest.raises(Invalid):
        hall.submit(school.teacher.id, any_of, {"reason": "x"}, idempotency_key="k" * 129)


def test_deciding_twice_is_already_decided_and_changes_nothing(hall, session, school, any_of):
    app = hall.submit(school.teacher.id, any_of, {"reason": "x"})
    task = pending(session, app.application_id, school.dean)
    other = pending(session, app.application_id, school.deputy)
    hall.decide(school.dean.id, task.id, APPROVE)
    before = factories.snapshot(session)
    with pytest.raises(AlreadyDecided, match="该待办已处理"):
        hall.decide(school.dean.id, task.id, APPROVE)
    with pytest.raises(AlreadyDecided):  # the any-of loser: the task was cancelled
        hall.decide(school.deputy.id, other.id, Decision("reject"))
    assert factories.snapshot(session) == before


def test_someone_elses_or_unknown_task_is_not_found(hall, session, school, any_of):
    app = hall.submit(school.teacher.id, any_of, {"reason": "x"})
    task = pending(session, app.application_id, school.dean)
    before = factories.snapshot(session)
    for actor, task_id in (
        (school.jwc_head.id, task.id),
        (school.teacher.id, task.id),  # not even the applicant
        (school.dean.id, 10**9),
        (10**9, task.id),
    ):
        with pytest.raises(NotFound):
            hall.decide(actor, task_id, APPROVE)
    assert factories.snapshot(session) == before


def test_a_finished_application_refuses_every_action(hall, session, school, any_of):
    app = hall.submit(school.teacher.id, any_of, {"reason": "x"})
    task = pending(session, app.application_id, school.dean)
    hall.decide(school.dean.id, task.id, Decision("reject", comment="不符合条件"))
    before = factories.snapshot(session)
    with pytest.raises(AlreadyDecided):
        hall.decide(school.dean.id, task.id, APPROVE)
    with pytest.raises(Conflict):
        hall.withdraw(school.teacher.id, app.application_id)
    with pytest.raises(Conflict):
        hall.urge(school.teacher.id, app.application_id)
    with pytest.raises(Conflict):
        hall.resubmit(school.teacher.id, app.application_id, {"reason": "y"})
    with pytest.raises(NotFound):
        hall.resubmit(school.dean.id, app.application_id, {"reason": "y"})
    assert factories.snapshot(session) == before


def test_withdrawn_application_tasks_are_already_decided(hall, session, school, any_of):
    app = hall.submit(school.teacher.id, any_of, {"reason": "x"})
    task = pending(session, app.application_id, school.dean)
    hall.withdraw(school.teacher.id, app.application_id)
    with pytest.raises(AlreadyDecided):
        hall.decide(school.dean.id, task.id, APPROVE)
