"""Signing in to /api/v1: bearer tokens, the login session, and 401s that say Bearer."""

from __future__ import annotations

from sqlalchemy import select

from hall.models import ApiToken, PersonStatus
from hall.tokens import revoke_tokens
from tests.web.conftest import notify
from web.api import api as registry


def test_no_credentials_is_401_with_bearer_challenge(api, school):
    response = api.get("/api/v1/me", None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="hall"'
    assert response.json == {"error": {"code": "unauthorized", "message": "请先登录"}}


def test_every_route_but_the_document_needs_sign_in(api, app, school):
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1") or rule.rule.endswith("openapi.json"):
            continue
        path = rule.rule.replace("<int:", "<").replace("<process_key>", "leave")
        path = path.replace("<application_id>", "1").replace("<task_id>", "1")
        path = path.replace("<notification_id>", "1").replace("<attachment_id>", "1")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = api.client.open(path, method=method, json={})
            assert response.status_code == 401, (method, path)
            checked += 1
    assert checked == len(registry.routes) - 1  # all but openapi.json


def test_a_bad_token_is_refused_with_invalid_token(api, school):
    for header in ("Bearer hall_not-a-token", "Bearer ", "Basic YWxpY2U6cHc=", "hall_x"):
        response = api.client.get("/api/v1/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json["error"]["code"] == "invalid_token"
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_token_signs_in_and_records_its_use(api, school, session):
    response = api.get("/api/v1/me", school.alice)
    assert response.status_code == 200
    assert response.json["userid"] == "alice"
    mine = ApiToken.person_id == school.alice.id
    used = session.scalar(select(ApiToken.last_used_at).where(mine))
    assert used is not None


def test_a_revoked_token_is_refused(api, school, db):
    api.token(school.alice)
    with db.unit_of_work() as s:
        assert revoke_tokens(s, "alice") == 1
    assert api.get("/api/v1/me", school.alice).status_code == 401


def test_an_inactive_person_cannot_use_their_token(api, school, db, session):
    api.token(school.dave)
    school.dave.status = PersonStatus.INACTIVE
    session.commit()
    assert api.get("/api/v1/me", school.dave).status_code == 401


def test_the_login_session_signs_in(api, school):
    with api.client.session_transaction() as flask_session:
        flask_session["person_id"] = school.carol.id
    response = api.client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json["userid"] == "carol"


def test_a_session_of_an_unknown_person_is_401(api, school):
    with api.client.session_transaction() as flask_session:
        flask_session["person_id"] = 987_654_321
    assert api.client.get("/api/v1/me").status_code == 401


def test_session_writes_must_be_json(api, school, session):
    """A cross-site HTML form cannot post JSON: session-signed writes without it are refused."""
    notice = notify(session, school.carol, "新待办")
    with api.client.session_transaction() as flask_session:
        flask_session["person_id"] = school.carol.id
    path = f"/api/v1/notifications/{notice}/read"
    refused = api.client.post(path, data="", content_type="application/x-www-form-urlencoded")
    assert refused.status_code == 415
    assert api.client.post(path, json={}).status_code == 200


def test_the_openapi_document_needs_no_sign_in(api):
    response = api.get("/api/v1/openapi.json", None)
    assert response.status_code == 200
    assert response.json["openapi"] == "3.1.0"
