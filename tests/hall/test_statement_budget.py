"""How many SQL statements the busiest writes cost: submit, and a decision from a card.

Timing tests would be noise on a shared machine (speed lives in bench/), but the number of
statements is exact and is what the decision path's cost grows with: one more lazy load
or one more flush in these paths shows up here first. The budgets are today's counts; a
change that lowers one should lower the budget with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from hall.db import Database
from hall.queries import my_tasks
from hall.services import Decision, Hall
from hall.states import AppStatus
from tests import factories

# Data statements only: the savepoints that isolate each test are not the service's cost.
DATA = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")

# The action-log and outbox rows go out in one INSERT per table (hall/appends.py).
SUBMIT_BUDGET = {"postgresql": 12, "sqlite": 12}
# A click that opens the next step: the locked application with the clicker and its tasks,
# the next approvers (the applicant's department, its deputy secretaries, their delegations),
# then the writes, all in one flush (a card click writes no idempotency record: a retry
# finds the task already decided, see `Hall.decide_as`).
DECIDE_NEXT_BUDGET = {"postgresql": 9, "sqlite": 9}
DECIDE_LAST_BUDGET = {"postgresql": 5, "sqlite": 5}


@contextmanager
def counted(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(DATA):
            seen.append(" ".join(statement.split())[:120])

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


@pytest.fixture
def school(session):
    return factories.school(session)


def two_step_leave(session, school) -> str:
    spec = factories.simple_spec(
        "CS",
        flow=[
            {"key": "counsellor", "name": "辅导员审批", "approver": {"type": "counsellor"}},
            {"key": "deputy", "name": "副书记审批", "approver": {"type": "role_in_applicant_dept",
             "role": "deputy_secretary"}},
        ],
    )  # fmt: skip
    key: str = factories.process(session, spec).process.key
    session.commit()
    return key


def test_submit_and_card_decisions_stay_within_their_statement_budgets(
    backend, db, session, school
):
    key = two_step_leave(session, school)
    hall = Hall(db)

    with counted(db) as submit:
        result = hall.submit(school.student.id, key, {"reason": "回家"}, idempotency_key="s1")
    assert result.status == AppStatus.PENDING.value
    assert len(submit) <= SUBMIT_BUDGET[backend], "\n".join(submit)

    [task_id] = todo(db, school.counsellor.id)
    with counted(db) as first:
        moved = hall.decide_as(school.counsellor.userid, task_id, Decision(action="approve"))
    assert moved.status == AppStatus.PENDING.value
    assert len(first) <= DECIDE_NEXT_BUDGET[backend], "\n".join(first)

    [task_id] = todo(db, school.deputy.id)  # the next step reached the deputy secretary
    with counted(db) as last:
        done = hall.decide_as(school.deputy.userid, task_id, Decision(action="approve"))
    assert done.status == AppStatus.APPROVED.value
    assert len(last) <= DECIDE_LAST_BUDGET[backend], "\n".join(last)


def todo(db: Database, person_id: int) -> list[int]:
    with db.reader() as s:
        return [item.id for item in my_tasks(s, person_id).items]
