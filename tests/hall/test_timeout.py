"""Steps that decide by themselves at their time limit (`on_timeout`): 超时自动同意 moves
the flow on, 超时自动驳回 ends it; either way as the hall's own act, once, with the
reviewer's card told. Steps without it keep being reminded."""

from __future__ import annotations

from typing import Any

import pytest

from hall.channels import render
from hall.definitions import DefinitionError, parse_spec
from hall.outbox import Kind
from hall.reminders import remind_all, time_out_all
from hall.states import AppStatus, TaskStatus
from tests import factories
from tests.hall.test_engine_modes import flow_of, persons, status_of, submit


def _timed(school, action: str, *after: dict[str, Any]) -> list[dict[str, Any]]:
    first = {
        "key": "dean",
        "name": "院长审批",
        "approver": persons(school.dean, school.deputy),
        "time_limit_hours": 24,
        "on_timeout": action,
    }
    return [first, *after]


def test_approve_at_the_time_limit_moves_the_flow_on(hall, db, session, school, clock):
    later = {"key": "vp", "name": "副校长审批", "approver": persons(school.vp)}
    key = flow_of(session, _timed(school, "approve", later))
    app_id = submit(hall, school.teacher, key).application_id
    clock.advance(hours=23)
    assert time_out_all(db, clock) == 0  # not yet
    clock.advance(hours=2)
    assert time_out_all(db, clock) == 1  # the any-of round: one decision for both
    assert time_out_all(db, clock) == 0  # once

    dean, deputy, vp = factories.tasks_of(session, app_id)
    assert (dean.status, dean.acted_by_id, dean.comment) == (TaskStatus.APPROVED, None, None)
    assert deputy.status is TaskStatus.CANCELLED
    assert (vp.status, vp.assignee_id) == (TaskStatus.PENDING, school.vp.id)
    [entry] = factories.logs_of(session, app_id, "timeout_approve")
    assert (entry.actor_id, entry.comment) == (None, "超时自动同意")
    told = factories.outbox_of(session, app_id, Kind.TASK_CANCELLED)
    dean_told = next(o for o in told if o.recipient_id == school.dean.id)
    assert dean_told.payload["label"] == "超时自动同意"
    told_as = render(session, dean_told)
    assert told_as.title.startswith("待办超时自动同意：")
    assert told_as.body.startswith("办理时限已过，已超时自动同意")
    assert remind_all(db, clock.now()) == 0  # nothing left overdue to remind
    assert status_of(session, app_id) is AppStatus.PENDING


def test_reject_at_the_time_limit_ends_the_application(hall, db, session, school, clock):
    key = flow_of(session, _timed(school, "reject"))
    app_id = submit(hall, school.teacher, key).application_id
    clock.advance(hours=25)
    assert time_out_all(db, clock) == 1
    assert status_of(session, app_id) is AppStatus.REJECTED
    [result] = factories.outbox_of(session, app_id, Kind.APPLICATION_RESULT)
    assert result.recipient_id == school.teacher.id
    assert result.payload["comment"] == "超时自动驳回"
    assert "超时自动驳回" in render(session, result).body


def test_a_step_that_only_reminds_is_reminded(hall, db, session, school, clock):
    step = {"key": "a", "name": "院长", "approver": persons(school.dean), "time_limit_hours": 1}
    app_id = submit(hall, school.teacher, flow_of(session, [step])).application_id
    clock.advance(hours=2)
    assert time_out_all(db, clock) == 0
    assert remind_all(db, clock.now()) == 1
    [task] = factories.tasks_of(session, app_id)
    assert task.status is TaskStatus.PENDING


def test_a_decided_to_do_is_left_alone(hall, db, session, school, clock):
    key = flow_of(session, _timed(school, "reject"))
    app_id = submit(hall, school.teacher, key).application_id
    [task, _other] = factories.tasks_of(session, app_id)
    from hall.services import Decision  # noqa: PLC0415

    hall.decide(school.dean.id, task.id, Decision("approve"))
    clock.advance(hours=25)
    assert time_out_all(db, clock) == 0
    assert status_of(session, app_id) is AppStatus.APPROVED


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ({"on_timeout": "approve"}, "needs time_limit_hours"),
        (
            {
                "on_timeout": "approve",
                "time_limit_hours": 4,
                "kind": "handle",
                "result_fields": [factories.resolution_field()],
            },
            "only approval steps",
        ),
        ({"on_timeout": "later", "time_limit_hours": 4}, "on_timeout"),
    ],
)
def test_on_timeout_needs_a_time_limit_and_an_approval_step(step, problem):
    flow = [{"key": "a", "name": "审批", "approver": {"type": "applicant"}, **step}]
    with pytest.raises(DefinitionError, match=problem):
        parse_spec(factories.simple_spec("CS", flow=flow))


def test_specs_without_it_are_stored_without_it(session, school):
    """The pass finds deciding steps by the word in the stored spec (defaults are not)."""
    version = factories.process(session, factories.simple_spec("CS"))
    assert "on_timeout" not in str(version.spec)
