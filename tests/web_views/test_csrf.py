"""Every page form carries a CSRF token; a POST without it (or with a wrong one) is
refused before anything runs. The JSON API with bearer tokens and the callbacks are not
page forms and are not checked."""

from __future__ import annotations

import pytest

from hall.tokens import create_token
from tests.web_views.helpers import pending_task, submit, text


@pytest.fixture
def targets(school, db, session):
    app_id = submit(db, school.alice)
    task = pending_task(session, app_id)
    return {
        "alice": [
            ("/processes/simple/apply", {"action": "submit", "reason": "无令牌"}),
            (f"/applications/{app_id}/withdraw", {}),
            (f"/applications/{app_id}/urge", {}),
            (f"/applications/{app_id}/comment", {"body": "无令牌"}),
            ("/delegations", {"delegate": "carol", "start_date": "2030-01-01"}),
            ("/lang", {"lang": "en"}),
            ("/messages/read", {}),
        ],
        "bob": [
            (f"/tasks/{task.id}/decide", {"action": "approve"}),
            ("/tasks/batch", {"task_id": str(task.id)}),
            # as an administrator would (bob is not one: the token is checked first)
            (f"/monitor/tasks/{task.id}/reassign", {"target": "carol"}),
        ],
        "app_id": app_id,
    }


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_posts_without_a_valid_token_are_refused(client_for, school, session, targets, token):
    for who in ("alice", "bob"):
        client = client_for(getattr(school, who))
        for path, data in targets[who]:
            body = dict(data)
            if token is not None:
                body["csrf_token"] = token
            response = client.post(path, data=body)
            assert response.status_code == 400, path
            assert "请求已过期" in text(response)
    task = pending_task(session, targets["app_id"])
    assert task.application.status.value == "pending"
    assert task.application.last_urged_at is None


def test_upload_without_a_token_is_refused(client_for, school):
    response = client_for(school.alice).post(
        "/uploads", data={"process": "every", "field": "proof"}
    )
    assert response.status_code == 400


def test_the_token_of_another_session_is_refused(client_for, school):
    from tests.web_views.conftest import csrf_of  # noqa: PLC0415

    other = csrf_of(client_for(school.carol))
    response = client_for(school.alice).post(
        "/processes/simple/apply", data={"csrf_token": other, "action": "submit", "reason": "x"}
    )
    assert response.status_code == 400


def test_the_json_api_with_a_bearer_token_needs_no_csrf_token(client_for, school, db):
    with db.unit_of_work() as s:
        token = create_token(s, "alice")
    response = client_for(None).post(
        "/api/v1/applications",
        json={"process": "simple", "form": {"reason": "从接口提交"}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.get_json()
