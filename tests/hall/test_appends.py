"""hall.appends: action-log and outbox rows written by Core after the flush, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from hall.appends import append, pending
from hall.db import Database
from hall.models import ActionLog, Application, Outbox, Task, TaskOrigin
from hall.states import TaskStatus
from tests import factories

NOW = datetime(2026, 9, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def application_id(hall, session, school) -> int:
    spec = factories.simple_spec(
        "CS", flow=[{"key": "c", "name": "辅导员审批", "approver": {"type": "counsellor"}}]
    )
    factories.process(session, spec)
    application_id: int = hall.submit(
        school.student.id, spec["key"], {"reason": "测试"}
    ).application_id
    return application_id


def _log(session, app: Application | None, action: str, task: Task | None = None) -> None:
    assert app is not None
    values = {"action": action, "detail": {"n": action}, "created_at": NOW}
    append(session, ActionLog, values, application=app, task=task)


def _actions(session, application_id: int) -> list[tuple[str, int | None]]:
    return [(log.action, log.task_id) for log in factories.logs_of(session, application_id)]


def test_rows_get_the_ids_of_objects_flushed_with_them(db: Database, session, application_id):
    before = _actions(session, application_id)
    with db.unit_of_work() as work:
        app = work.get(Application, application_id)
        assert app is not None
        task = Task(
            application=app,
            step_index=0,
            step_key="c",
            assignee_id=app.applicant_id,
            origin=TaskOrigin.FLOW,
            _status=TaskStatus.PENDING,
        )
        work.add(task)
        _log(work, app, "first", task)  # the task has no id yet
        append(
            work,
            Outbox,
            {"kind": "cc", "recipient_id": None, "payload": {"x": 1}, "created_at": NOW},
            application=app,
            task=task,
        )
        _log(work, app, "second")
        assert task.id is None
    assert task.id is not None
    assert _actions(session, application_id) == [*before, ("first", task.id), ("second", None)]
    [row] = factories.outbox_of(session, application_id, "cc")
    assert (row.task_id, row.payload, row.status.value) == (task.id, {"x": 1}, "pending")


def test_a_commit_with_nothing_else_to_flush_writes_them(db: Database, session, application_id):
    with db.unit_of_work() as work:
        app = work.get(Application, application_id)
        _log(work, app, "alone")
        assert pending(work) == 1
    assert _actions(session, application_id)[-1] == ("alone", None)


def test_a_query_sees_the_rows_appended_before_it(db: Database, application_id):
    with db.unit_of_work() as work:
        app = work.get(Application, application_id)
        _log(work, app, "seen")
        count = work.scalar(select(func.count()).where(ActionLog.action == "seen"))
        assert count == 1
        assert pending(work) == 0


def test_a_rollback_forgets_them(db: Database, session, application_id):
    before = _actions(session, application_id)

    def refused() -> None:
        with db.unit_of_work() as work:
            _log(work, work.get(Application, application_id), "lost")
            raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        refused()
    with db.unit_of_work() as work:
        work.get(Application, application_id)  # a later unit of work writes nothing of it
    assert _actions(session, application_id) == before


def test_a_savepoint_rollback_forgets_only_its_own(db: Database, session, application_id):
    before = _actions(session, application_id)
    with db.unit_of_work() as work:
        app = work.get(Application, application_id)
        _log(work, app, "outer")

        def refused() -> None:
            with work.begin_nested():
                _log(work, app, "inner")
                raise RuntimeError("refused")

        with pytest.raises(RuntimeError):
            refused()
        assert pending(work) == 1
    assert _actions(session, application_id) == [*before, ("outer", None)]
