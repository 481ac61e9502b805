"""The command endpoints, end to end through the real engine on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from hall.clock import FrozenClock
from hall.models import Application, Comment, Task
from tests import factories
from tests.web.conftest import Api, School

FORM = {"reason": "参加学术会议"}


def _submit(api: Api, who: Any, body: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    response = api.post(
        "/api/v1/applications", who, body or {"process": "leave", "form": FORM}, **kw
    )
    assert response.status_code == 201, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def _count(session, model) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _todo_id(api: Api, who: Any) -> int:
    items = api.get("/api/v1/tasks?state=todo", who).get_json()["items"]
    assert len(items) == 1
    task_id: int = items[0]["id"]
    return task_id


@pytest.fixture
def clock(app) -> FrozenClock:
    frozen = FrozenClock()
    app.extensions["hall.clock"] = frozen
    return frozen


# ---------------------------------------------------------------------- submit


def test_submit_creates_an_application_and_a_task(api, school: School):
    result = _submit(api, school.alice)
    assert result["status"] == "pending"
    assert result["message"] == "已提交"
    assert result["replayed"] is False
    mine = api.get("/api/v1/applications", school.alice).get_json()
    assert [a["id"] for a in mine["items"]] == [result["application_id"]]
    assert mine["items"][0]["serial"] == result["serial"]
    todo = api.get("/api/v1/tasks", school.bob).get_json()
    assert [t["application"]["id"] for t in todo["items"]] == [result["application_id"]]
    assert api.get("/api/v1/me", school.bob).get_json()["counts"]["todo"] == 1


def test_submit_with_an_idempotency_key_is_done_once(api, school: School, session):
    headers = {"Idempotency-Key": "submit-1"}
    first = _submit(api, school.alice, headers=headers)
    again = _submit(api, school.alice, headers=headers)
    assert again["application_id"] == first["application_id"]
    assert again["replayed"] is True
    assert _count(session, Application) == 1
    other = api.post(
        "/api/v1/applications",
        school.alice,
        {"process": "leave", "form": {"reason": "别的事"}},
        headers=headers,
    )
    assert other.status_code == 409
    assert _count(session, Application) == 1


def test_a_draft_then_its_submission(api, school: School):
    draft = _submit(api, school.alice, {"process": "leave", "form": {}, "draft": True})
    assert draft["status"] == "draft"
    detail = api.get(f"/api/v1/applications/{draft['application_id']}", school.alice).get_json()
    assert detail["status"] == "draft"
    body = {"process": "leave", "form": FORM, "application_id": draft["application_id"]}
    submitted = _submit(api, school.alice, body)
    assert submitted["application_id"] == draft["application_id"]
    assert submitted["status"] == "pending"


def test_submit_with_a_bad_form_changes_nothing(api, school: School, session):
    response = api.post("/api/v1/applications", school.alice, {"process": "leave", "form": {}})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid"
    assert "reason" in error["fields"]
    assert _count(session, Application) == 0


def test_submit_to_a_process_not_for_me_is_404(api, school: School, session):
    for key in ("dorm", "seminar", "nosuch"):
        response = api.post("/api/v1/applications", school.alice, {"process": key, "form": FORM})
        assert response.status_code == 404, key
    assert _count(session, Application) == 0


def test_someone_elses_draft_cannot_be_submitted(api, school: School, session):
    draft = _submit(api, school.alice, {"process": "leave", "form": {}, "draft": True})
    body = {"process": "leave", "form": FORM, "application_id": draft["application_id"]}
    assert api.post("/api/v1/applications", school.dave, body).status_code == 404
    detail = api.get(f"/api/v1/applications/{draft['application_id']}", school.alice)
    assert detail.get_json()["status"] == "draft"


# -------------------------------------------------------------------- decisions


def test_approve_finishes_and_shows_in_the_timeline(api, school: School):
    app_id = _submit(api, school.alice)["application_id"]
    task_id = _todo_id(api, school.bob)
    response = api.post(
        f"/api/v1/tasks/{task_id}/decision", school.bob, {"action": "approve", "comment": "同意"}
    )
    assert response.status_code == 200
    assert response.get_json()["status"] == "approved"
    assert response.get_json()["task_status"] == "approved"
    detail = api.get(f"/api/v1/applications/{app_id}", school.alice).get_json()
    assert detail["status"] == "approved"
    actions = [
        (e["action"], e["actor"]["userid"] if e["actor"] else None) for e in detail["timeline"]
    ]
    assert ("submit", "alice") in actions
    assert any(userid == "bob" for _a, userid in actions)
    done = api.get("/api/v1/tasks?state=done", school.bob).get_json()
    assert [t["id"] for t in done["items"]] == [task_id]
    assert api.get("/api/v1/tasks", school.bob).get_json()["total"] == 0


def test_a_second_decision_is_409_and_a_retry_is_replayed(api, school: School):
    _submit(api, school.alice)
    task_id = _todo_id(api, school.bob)
    path = f"/api/v1/tasks/{task_id}/decision"
    key = {"Idempotency-Key": "card-click-1"}
    first = api.post(path, school.bob, {"action": "approve"}, headers=key)
    assert first.status_code == 200
    retry = api.post(path, school.bob, {"action": "approve"}, headers=key)
    assert retry.status_code == 200
    assert retry.get_json()["replayed"] is True
    again = api.post(path, school.bob, {"action": "reject"})
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "already_decided"


def test_someone_elses_task_is_404_and_unchanged(api, school: School, session):
    _submit(api, school.alice)
    task_id = _todo_id(api, school.bob)
    for outsider in (school.dave, school.alice, school.carol):
        response = api.post(f"/api/v1/tasks/{task_id}/decision", outsider, {"action": "approve"})
        assert response.status_code == 404, outsider.userid
        assert response.get_json()["error"]["code"] == "not_found"
    assert (
        api.post("/api/v1/tasks/99999999/decision", school.bob, {"action": "approve"}).status_code
        == 404
    )
    session.expire_all()
    assert session.get(Task, task_id).status.value == "pending"


def test_return_to_the_applicant_then_resubmit(api, school: School):
    app_id = _submit(api, school.alice)["application_id"]
    task_id = _todo_id(api, school.bob)
    silent = api.post(
        f"/api/v1/tasks/{task_id}/decision",
        school.bob,
        {"action": "return", "return_to": "applicant"},
    )
    assert silent.status_code == 422  # a return must say what to change
    assert silent.get_json()["error"]["fields"] == {"comment": "请填写退回原因，说明需要修改什么"}
    returned = api.post(
        f"/api/v1/tasks/{task_id}/decision",
        school.bob,
        {"action": "return", "return_to": "applicant", "comment": "请补充事由"},
    )
    assert returned.status_code == 200
    assert returned.get_json()["status"] == "returned"
    path = f"/api/v1/applications/{app_id}/resubmit"
    assert api.post(path, school.dave, {"form": FORM}).status_code == 404
    response = api.post(path, school.alice, {"form": {"reason": "参加学术会议（已补充）"}})
    assert response.status_code == 200
    assert response.get_json()["status"] == "pending"
    detail = api.get(f"/api/v1/applications/{app_id}", school.alice).get_json()
    assert detail["form"]["reason"] == "参加学术会议（已补充）"
    assert api.post(path, school.alice, {"form": FORM}).status_code == 409


def test_transfer_moves_the_task(api, school: School):
    _submit(api, school.alice)
    task_id = _todo_id(api, school.bob)
    response = api.post(
        f"/api/v1/tasks/{task_id}/decision", school.bob, {"action": "transfer", "target": "erin"}
    )
    assert response.status_code == 200
    assert response.get_json()["task_status"] == "transferred"
    assert api.get("/api/v1/tasks", school.bob).get_json()["total"] == 0
    assert api.get("/api/v1/tasks", school.erin).get_json()["total"] == 1


def test_a_bad_transfer_target_is_422_on_the_target_field(api, school: School):
    _submit(api, school.alice)
    task_id = _todo_id(api, school.bob)
    response = api.post(
        f"/api/v1/tasks/{task_id}/decision", school.bob, {"action": "transfer", "target": "ghost"}
    )
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"target"}
    assert api.get("/api/v1/tasks", school.bob).get_json()["total"] == 1


# ------------------------------------------------------- withdraw, urge, comment, cc


def test_withdraw_by_the_applicant_only(api, school: School):
    app_id = _submit(api, school.alice)["application_id"]
    path = f"/api/v1/applications/{app_id}/withdraw"
    assert api.post(path, school.dave, {}).status_code == 404
    assert api.post(path, school.bob, {}).status_code == 404
    response = api.post(path, school.alice, {"comment": "不去了"})
    assert response.status_code == 200
    assert response.get_json()["status"] == "withdrawn"
    assert api.get("/api/v1/tasks", school.bob).get_json()["total"] == 0
    again = api.post(path, school.alice)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "conflict"


def test_urge_is_rate_limited(api, school: School, clock: FrozenClock):
    app_id = _submit(api, school.alice)["application_id"]
    path = f"/api/v1/applications/{app_id}/urge"
    assert api.post(path, school.dave).status_code == 404
    early = api.post(path, school.alice)  # the reviewer got the to-do just now
    assert early.status_code == 429
    assert early.get_json()["error"]["message"] == "审批人刚收到待办，请30分钟后再催办"
    clock.advance(minutes=30)
    first = api.post(path, school.alice)
    assert first.status_code == 200
    assert first.get_json()["message"] == "已催办"
    second = api.post(path, school.alice, {})
    assert second.status_code == 429
    assert second.get_json()["error"]["code"] == "rate_limited"
    assert int(second.headers["Retry-After"]) > 0
    clock.advance(minutes=31)
    assert api.post(path, school.alice).status_code == 200


def test_comments(api, school: School, session):
    app_id = _submit(api, school.alice)["application_id"]
    path = f"/api/v1/applications/{app_id}/comments"
    response = api.post(path, school.bob, {"body": "请补充会议通知"})
    assert response.status_code == 201
    assert api.post(path, school.dave, {"body": "路过"}).status_code == 404
    assert api.post(path, school.alice, {"body": ""}).status_code == 422
    detail = api.get(f"/api/v1/applications/{app_id}", school.alice).get_json()
    assert [(c["author"]["userid"], c["body"]) for c in detail["comments"]] == [
        ("bob", "请补充会议通知")
    ]
    assert _count(session, Comment) == 1


def test_cc_lets_others_read(api, school: School):
    app_id = _submit(api, school.alice)["application_id"]
    detail_path = f"/api/v1/applications/{app_id}"
    assert api.get(detail_path, school.carol).status_code == 404
    path = f"{detail_path}/cc"
    assert api.post(path, school.alice, {"userids": ["ghost"]}).status_code == 422
    assert api.post(path, school.dave, {"userids": ["carol"]}).status_code == 404
    response = api.post(path, school.alice, {"userids": ["carol"], "comment": "请知悉"})
    assert response.status_code == 200
    assert api.get(detail_path, school.carol).status_code == 200


def test_revoke_an_approved_application_with_a_reason(api, session, school: School):
    version = factories.process(
        session,
        factories.simple_spec(
            "CS", key="trip", name="出差审批", options={"revoke_window_hours": 48}
        ),
    )
    session.commit()
    submitted = api.post(
        "/api/v1/applications", school.alice, {"process": version.process.key, "form": FORM}
    )
    app_id = submitted.get_json()["application_id"]
    path = f"/api/v1/applications/{app_id}/revoke"
    early = api.post(path, school.alice, {"comment": "还没通过"})
    assert early.status_code == 409
    task_id = _todo_id(api, school.bob)
    assert (
        api.post(f"/api/v1/tasks/{task_id}/decision", school.bob, {"action": "approve"}).status_code
        == 200
    )
    assert api.post(path, school.bob, {"comment": "不是我的"}).status_code == 404
    assert api.post(path, school.alice, {}).status_code == 422  # the reason is required
    assert api.post(path, school.alice, {"comment": "  "}).status_code == 422
    response = api.post(path, school.alice, {"comment": "行程取消"})
    assert response.status_code == 200
    assert (response.get_json()["status"], response.get_json()["message"]) == (
        "revoked",
        "已撤销",
    )
    detail = api.get(f"/api/v1/applications/{app_id}", school.alice).get_json()
    assert [e["action"] for e in detail["timeline"]][-1] == "revoke"


def test_revoke_is_refused_where_the_process_allows_none(api, school: School):
    app_id = _submit(api, school.alice)["application_id"]
    task_id = _todo_id(api, school.bob)
    api.post(f"/api/v1/tasks/{task_id}/decision", school.bob, {"action": "approve"})
    refused = api.post(f"/api/v1/applications/{app_id}/revoke", school.alice, {"comment": "x"})
    assert refused.status_code == 409
    assert refused.get_json()["error"]["message"] == "此事项通过后不能撤销"
