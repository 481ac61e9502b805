"""Bad input is refused with a clear 4xx, changes nothing, and is logged on "hall.api"."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import func, select

from hall.models import Application, Task
from hall.states import TaskStatus
from tests.web.conftest import Api, School, make_application


def _applications(session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(Application)) or 0)


@pytest.fixture
def pending_task(session, school: School) -> Task:
    app = make_application(session, school.leave, school.alice, reviewer=school.bob)
    task: Task | None = session.scalar(select(Task).where(Task.application_id == app.id))
    assert task is not None
    return task


BAD_SUBMITS: list[tuple[Any, str]] = [
    ({"process": "leave", "form": {"reason": "x"}, "urgent": True}, "urgent"),
    ({"process": "leave", "form": "reason=x"}, "form"),
    ({"process": 5, "form": {}}, "process"),
    ({"process": "leave", "form": {}, "draft": "yes"}, "draft"),
    ({"process": "leave", "form": {}, "application_id": "7"}, "application_id"),
    ({"process": "Leave!", "form": {}}, "process"),
    ({"form": {"reason": "x"}}, "process"),
    ({"process": "leave", "form": {f"f{i}": i for i in range(201)}}, "form"),
]


@pytest.mark.parametrize(("body", "field"), BAD_SUBMITS)
def test_bad_submit_bodies_are_422_naming_the_field(api: Api, school, session, body, field):
    response = api.post("/api/v1/applications", school.alice, body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid"
    assert error["message"] == "提交的内容有误"
    assert field in error["fields"]
    assert _applications(session) == 0


def test_field_messages_are_readable(api: Api, school):
    body = {"process": "leave", "form": {}, "urgent": 1, "draft": "yes"}
    fields = api.post("/api/v1/applications", school.alice, body).get_json()["error"]["fields"]
    assert fields == {"urgent": "不支持的字段", "draft": "应为 true 或 false"}
    english = api.post(
        "/api/v1/applications", school.alice, body, headers={"Accept-Language": "en-US,en;q=0.9"}
    ).get_json()["error"]
    assert english["message"] == "The request is invalid"
    assert english["fields"] == {"urgent": "unknown field", "draft": "must be true or false"}


BAD_DECISIONS: list[tuple[Any, str]] = [
    ({"action": "approve", "sign": "bob"}, "sign"),
    ({"action": "approve_all"}, "action"),
    ({"action": "approve", "comment": 5}, "comment"),
    ({"action": "approve", "comment": "很" * 2001}, "comment"),
    ({"action": "add_signer", "target": "erin", "position": "middle"}, "position"),
    ({"action": "approve", "result": ["done"]}, "result"),
    ({}, "action"),
]


@pytest.mark.parametrize(("body", "field"), BAD_DECISIONS)
def test_bad_decisions_change_nothing(api: Api, school, pending_task, *, session, body, field):
    response = api.post(f"/api/v1/tasks/{pending_task.id}/decision", school.bob, body)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]
    session.expire_all()
    assert session.get(Task, pending_task.id).status == TaskStatus.PENDING


def test_a_body_that_is_not_an_object_is_422(api: Api, school, session):
    for body in ([1, 2], "leave", 3):
        response = api.post("/api/v1/applications", school.alice, body)
        assert response.status_code == 422
        assert response.get_json()["error"]["fields"] == {"body": "应为对象"}
    assert _applications(session) == 0


def test_invalid_json_is_400(api: Api, school, session):
    response = api.post(
        "/api/v1/applications",
        school.alice,
        data=b'{"process": "leave", ',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == {
        "code": "invalid_json",
        "message": "请求体不是合法的 JSON",
    }
    assert _applications(session) == 0


def test_a_body_that_is_not_json_is_415(api: Api, school, session):
    response = api.post(
        "/api/v1/applications", school.alice, data="process=leave", content_type="text/plain"
    )
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"
    assert _applications(session) == 0


def test_an_oversized_body_is_413(api: Api, school, session):
    body = {"process": "leave", "form": {"reason": "长" * 300_000}}
    response = api.post("/api/v1/applications", school.alice, body)
    assert response.status_code == 413
    assert response.get_json()["error"] == {
        "code": "too_large",
        "message": "请求体过大（上限 256 KB）",
    }
    assert _applications(session) == 0


@pytest.mark.parametrize(
    "query",
    [
        "per_page=101",
        "per_page=0",
        "page=0",
        "page=abc",
        "status=lost",
        "sort=id",
        "page=99999999999999999999999",
    ],
)
def test_bad_query_strings_are_422(api: Api, school, query):
    response = api.get(f"/api/v1/applications?{query}", school.alice)
    assert response.status_code == 422, query
    assert response.get_json()["error"]["fields"]


def test_bad_task_state_and_unknown_parameters(api: Api, school):
    assert api.get("/api/v1/tasks?state=later", school.bob).status_code == 422
    response = api.get("/api/v1/me?debug=1", school.bob)
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"debug": "不支持的字段"}
    assert api.get("/api/v1/processes?q=" + "长" * 101, school.bob).status_code == 422


def test_ids_beyond_bigint_are_404_not_500(api: Api, school):
    huge = 2**63
    assert api.get(f"/api/v1/applications/{huge}", school.alice).status_code == 404
    decision = api.post(f"/api/v1/tasks/{huge}/decision", school.bob, {"action": "approve"})
    assert decision.status_code == 404


def test_a_bad_idempotency_key_is_422(api: Api, school, session, pending_task):
    for key in ("k" * 129, "带中文的键"):
        response = api.post(
            f"/api/v1/tasks/{pending_task.id}/decision",
            school.bob,
            {"action": "approve"},
            headers={"Idempotency-Key": key},
        )
        assert response.status_code == 422
        assert set(response.get_json()["error"]["fields"]) == {"Idempotency-Key"}
    session.expire_all()
    assert session.get(Task, pending_task.id).status == TaskStatus.PENDING


def test_bad_input_is_logged(api: Api, school, caplog):
    with caplog.at_level(logging.INFO, logger="hall.api"):
        api.post("/api/v1/applications", school.alice, {"process": "leave", "oops": 1})
        api.get("/api/v1/me", None)
    records = [r for r in caplog.records if r.name == "hall.api"]
    assert len(records) == 2
    warning, info = records
    assert warning.levelno == logging.WARNING
    assert "POST /api/v1/applications -> 422 invalid" in warning.getMessage()
    assert "oops" in warning.getMessage()
    assert f"person={school.alice.id}" in warning.getMessage()
    assert info.levelno == logging.INFO
    assert "-> 401 unauthorized" in info.getMessage()


def test_english_messages_for_domain_errors(api: Api, school, session, pending_task):
    english = {"Accept-Language": "en"}
    missing = api.get("/api/v1/applications/424242", school.alice, headers=english)
    assert missing.get_json()["error"] == {"code": "not_found", "message": "Not found"}
    unauthorized = api.get("/api/v1/me", None, headers=english)
    assert unauthorized.get_json()["error"]["message"] == "Sign in first"
    path = f"/api/v1/tasks/{pending_task.id}/decision"
    assert api.post(path, school.bob, {"action": "approve"}).status_code == 200
    again = api.post(path, school.bob, {"action": "approve"}, headers=english)
    assert again.status_code == 409
    assert again.get_json()["error"] == {
        "code": "already_decided",
        "message": "This task has already been decided",
    }
    chinese = api.post(path, school.bob, {"action": "approve"}, headers={"Accept-Language": "zh"})
    assert chinese.get_json()["error"]["message"] == "该待办已处理"


def test_unknown_api_paths_and_methods_answer_json(app):
    client = app.test_client()
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"
    wrong = client.delete("/api/v1/openapi.json")
    assert wrong.status_code == 405
    assert wrong.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["Allow"]
    # Outside the API the app's own pages answer as before (HTML, not the API's JSON).
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert not page.is_json
