"""批量同意 through /api/v1: exactly the listed tasks, each on its own; the answer says what
became of each, and a retry with the same Idempotency-Key approves nothing twice."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hall.models import Task
from hall.states import TaskStatus
from tests.web.conftest import Api, School

PATH = "/api/v1/tasks/batch-decision"


def _submit(api: Api, who: Any, reason: str) -> int:
    response = api.post(
        "/api/v1/applications", who, {"process": "leave", "form": {"reason": reason}}
    )
    assert response.status_code == 201, response.get_json()
    application_id: int = response.get_json()["application_id"]
    return application_id


def _task_of(session: Session, application_id: int) -> Task:
    session.expire_all()
    task = session.scalar(select(Task).where(Task.application_id == application_id))
    assert task is not None
    return task


def test_exactly_the_listed_tasks_and_what_became_of_each(api: Api, school: School, session):
    apps = [_submit(api, school.alice, f"第{i}件") for i in range(3)]
    first, second, untouched = (_task_of(session, a) for a in apps)
    done = api.post(f"/api/v1/tasks/{second.id}/decision", school.bob, {"action": "approve"})
    assert done.status_code == 200
    theirs = _task_of(session, _submit(api, school.carol, "别人的"))
    theirs.assignee_id = school.dave.id  # someone else's to-do
    session.commit()

    body = {"task_ids": [first.id, second.id, theirs.id, first.id], "comment": "同意"}
    response = api.post(PATH, school.bob, body, headers={"Idempotency-Key": "b-1"})
    assert response.status_code == 200, response.get_json()
    items = response.get_json()["items"]
    assert [(i["task_id"], i["outcome"]) for i in items] == [
        (first.id, "approved"),
        (second.id, "already_decided"),
        (theirs.id, "failed"),
    ]
    assert items[0]["serial"]
    assert items[0]["message"] == "已同意"
    assert items[2]["code"] == "not_found"
    statuses = [_task_of(session, a).status for a in apps]
    assert statuses == [TaskStatus.APPROVED, TaskStatus.APPROVED, TaskStatus.PENDING]
    assert _task_of(session, theirs.application_id).status is TaskStatus.PENDING
    assert untouched.status is TaskStatus.PENDING

    again = api.post(PATH, school.bob, body, headers={"Idempotency-Key": "b-1"})
    assert [i["outcome"] for i in again.get_json()["items"]] == [
        "approved",  # replayed, not decided twice
        "already_decided",
        "failed",
    ]


def test_english_and_bad_bodies(api: Api, school: School):
    task_id = 999_999
    en = api.post(PATH, school.bob, {"task_ids": [task_id]}, headers={"Accept-Language": "en"})
    assert en.get_json()["items"][0]["message"] == "Not found"
    bodies: list[dict[str, Any]] = [
        {"task_ids": []},
        {"task_ids": ["1"]},
        {"task_ids": list(range(1, 102))},
        {},
    ]
    for body in bodies:
        response = api.post(PATH, school.bob, body)
        assert response.status_code == 422, body
    assert api.post(PATH, None, {"task_ids": [1]}).status_code == 401
