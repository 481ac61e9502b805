"""Real races on PostgreSQL: committed data, real threads, row locks.

Every request runs in its own thread and its own connection, released together by a
barrier, so they really meet at the application row lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from hall.db import Database
from hall.errors import AlreadyDecided, HallError
from hall.models import ActionLog, Application, Task
from hall.services import ActionResult, Decision, Hall
from hall.states import AppStatus, TaskStatus
from tests import factories

pytestmark = pytest.mark.pg_only


def race(n: int, call: Callable[[int], ActionResult]) -> list[ActionResult | HallError]:
    """Run `call(i)` in n threads released at the same instant; collect results or errors."""
    barrier = threading.Barrier(n)
    results: list[ActionResult | HallError | None] = [None] * n
    crashes: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call(i)
        except HallError as exc:
            results[i] = exc
        except BaseException as exc:  # surfaced below: a crash fails the test
            crashes.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not crashes, crashes
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


@pytest.fixture
def world(committed_db: Database) -> SimpleNamespace:
    with committed_db.unit_of_work() as session:
        school = factories.school(session)
        spec = factories.simple_spec(
            "CS",
            flow=[
                {
                    "key": "a",
                    "name": "或签",
                    "mode": "any",
                    "approver": {
                        "type": "persons",
                        "userids": [school.dean.userid, school.deputy.userid],
                    },
                }
            ],
        )
        school.process_key = factories.process(session, spec).process.key
    return school


def submit(hall: Hall, world: SimpleNamespace) -> tuple[int, dict[int, int]]:
    result = hall.submit(world.teacher.id, world.process_key, {"reason": "出差"})
    with hall.db.reader() as session:
        tasks = session.scalars(select(Task).where(Task.application_id == result.application_id))
        return result.application_id, {t.assignee_id: t.id for t in tasks}


def decisions(db: Database, app_id: int) -> int:
    with db.reader() as session:
        query = select(func.count()).where(
            ActionLog.application_id == app_id,
            ActionLog.action.in_(["approve", "reject"]),
            ActionLog.actor_id.is_not(None),
        )
        return session.scalar(query) or 0


def test_two_reviewers_of_an_any_step_decide_at_the_same_instant(committed_db, world):
    hall = Hall(committed_db)
    app_id, tasks = submit(hall, world)
    reviewers = [(world.dean.id, Decision("approve")), (world.deputy.id, Decision("reject"))]

    outcomes = race(
        2, lambda i: hall.decide(reviewers[i][0], tasks[reviewers[i][0]], reviewers[i][1])
    )

    won = [r for r in outcomes if isinstance(r, ActionResult)]
    lost = [r for r in outcomes if isinstance(r, HallError)]
    assert len(won) == 1
    assert len(lost) == 1
    assert isinstance(lost[0], AlreadyDecided)
    assert decisions(committed_db, app_id) == 1
    with committed_db.reader() as session:
        app = session.get(Application, app_id)
        assert app is not None
        assert app.status.value == won[0].status
        assert app.status in {AppStatus.APPROVED, AppStatus.REJECTED}
        statuses = sorted(t.status.value for t in app.tasks)
    assert statuses in (["approved", "cancelled"], ["cancelled", "rejected"])


def test_twenty_double_clicks_make_one_decision(committed_db, world):
    hall = Hall(committed_db)
    app_id, tasks = submit(hall, world)
    dean_task = tasks[world.dean.id]

    outcomes = race(20, lambda _i: hall.decide(world.dean.id, dean_task, Decision("approve")))

    assert sum(isinstance(r, ActionResult) for r in outcomes) == 1
    assert all(isinstance(r, AlreadyDecided) for r in outcomes if not isinstance(r, ActionResult))
    assert decisions(committed_db, app_id) == 1
    with committed_db.reader() as session:
        app = session.get(Application, app_id)
        assert app is not None
        assert app.status is AppStatus.APPROVED
        statuses = {t.assignee_id: t.status for t in app.tasks}
    assert statuses == {world.dean.id: TaskStatus.APPROVED, world.deputy.id: TaskStatus.CANCELLED}


def test_idempotent_retries_from_threads_replay_one_decision(committed_db, world):
    hall = Hall(committed_db)
    app_id, tasks = submit(hall, world)
    dean_task = tasks[world.dean.id]

    outcomes = race(
        12,
        lambda _i: hall.decide(
            world.dean.id, dean_task, Decision("approve"), idempotency_key="card:42:approve"
        ),
    )

    results = [r for r in outcomes if isinstance(r, ActionResult)]
    assert len(results) == 12  # every retry is answered with the one decision
    assert sum(not r.replayed for r in results) == 1
    assert {(r.status, r.task_status, r.task_id) for r in results} == {
        ("approved", "approved", dean_task)
    }
    assert decisions(committed_db, app_id) == 1


def test_concurrent_submissions_get_distinct_serials(committed_db, world):
    hall = Hall(committed_db)

    outcomes = race(
        16, lambda _i: hall.submit(world.teacher.id, world.process_key, {"reason": "x"})
    )

    serials = sorted(r.serial for r in outcomes if isinstance(r, ActionResult))
    assert len(serials) == 16
    day = serials[0][:8]
    assert serials == [f"{day}{n:05d}" for n in range(1, 17)]


def test_concurrent_submissions_with_one_key_make_one_application(committed_db, world):
    hall = Hall(committed_db)
    form: dict[str, Any] = {"reason": "x"}

    outcomes = race(
        8,
        lambda _i: hall.submit(
            world.teacher.id, world.process_key, form, idempotency_key="submit-once"
        ),
    )

    results = [r for r in outcomes if isinstance(r, ActionResult)]
    assert len(results) == 8
    assert len({r.application_id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    with committed_db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Application)) == 1
        pending = session.scalar(
            select(func.count()).select_from(Task).where(Task._status == TaskStatus.PENDING)
        )
    assert pending == 2
