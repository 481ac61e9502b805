"""The OpenAPI document matches the Flask routes both ways, and real answers validate
against the schemas it documents."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from sqlalchemy import select
from werkzeug.test import TestResponse

from hall.models import Task
from tests.web.conftest import Api, School, comment, decide, make_application, notify
from tests.web.test_api_attachments import PDF, upload

FILE = {"type": "string", "contentMediaType": "application/octet-stream"}


def _document(api: Api) -> dict[str, Any]:
    response = api.get("/api/v1/openapi.json", None)
    assert response.status_code == 200
    doc: dict[str, Any] = response.get_json()
    return doc


def _flask_operations(app: Flask) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            methods = (rule.methods or set()) - {"HEAD", "OPTIONS"}
            found |= {(method.lower(), path) for method in methods}
    return found


def test_every_flask_route_is_documented_and_vice_versa(api, app):
    doc = _document(api)
    documented = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    flask_ops = _flask_operations(app)
    assert documented == flask_ops
    assert ("get", "/api/v1/applications/{application_id}") in flask_ops


def test_document_shape(api):
    doc = _document(api)
    assert doc["openapi"] == "3.1.0"
    Draft202012Validator.check_schema({"$defs": doc["components"]["schemas"]})
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            where = f"{method} {path}"
            assert op["summary"], where
            assert op["operationId"], where
            names = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert names == set(re.findall(r"{(\w+)}", path)), where
            for status, response in op["responses"].items():
                if "application/json" not in response["content"]:
                    assert response["content"] == {"application/octet-stream": {"schema": FILE}}
                    continue
                schema = response["content"]["application/json"]["schema"]
                ref = schema.get("$ref")
                if ref is not None:
                    assert (
                        ref.removeprefix("#/components/schemas/") in doc["components"]["schemas"]
                    ), (where, status)
            if path.endswith("openapi.json"):
                assert op["security"] == []
            else:
                assert "401" in op["responses"], where
    submit = doc["paths"]["/api/v1/applications"]["post"]
    assert submit["requestBody"]["required"] is True
    body_ref = submit["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = doc["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    assert body["additionalProperties"] is False
    list_apps = doc["paths"]["/api/v1/applications"]["get"]
    params = {p["name"]: p for p in list_apps["parameters"]}
    assert set(params) == {"page", "per_page", "status", "process"}
    assert params["per_page"]["schema"]["maximum"] == 100
    upload = doc["paths"]["/api/v1/attachments"]["post"]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["file"] == FILE
    assert set(form["required"]) == {"field", "file"}
    assert {"403", "404", "413", "415", "422"} <= set(upload["responses"])


class Checker:
    """Validates real answers against the operation's documented response schema."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.checked: set[tuple[str, str, str]] = set()

    def check(self, method: str, path: str, response: TestResponse) -> None:
        template = self._template(path)
        op = self.doc["paths"][template][method]
        status = str(response.status_code)
        assert status in op["responses"], (method, template, status, response.get_json())
        content = op["responses"][status]["content"]
        if response.mimetype == "application/octet-stream":
            assert "application/octet-stream" in content, (method, template, status)
            self.checked.add((method, template, status))
            return
        schema = content["application/json"]["schema"]
        root = {**schema, "components": self.doc["components"]}
        Draft202012Validator(root).validate(response.get_json())
        self.checked.add((method, template, status))

    def _template(self, path: str) -> str:
        path = path.split("?", 1)[0]
        templates: list[str] = list(self.doc["paths"])
        for template in templates:
            pattern = "^" + re.sub(r"\{\w+\}", r"[^/]+", template) + "$"
            if re.match(pattern, path):
                return template
        pytest.fail(f"no documented path for {path}")


def test_real_answers_validate_against_the_document(api: Api, school: School, session):
    checker = Checker(_document(api))

    def get(path: str, who: Any) -> None:
        checker.check("get", path, api.get(path, who))

    def post(path: str, who: Any, body: Any = None) -> None:
        checker.check("post", path, api.post(path, who, body))

    app = make_application(session, school.leave, school.alice, reviewer=school.bob)
    make_application(session, school.leave, school.alice, submit=False)
    comment(session, app, school.alice, "请尽快")
    task = session.scalar(select(Task).where(Task.application_id == app.id))
    other = make_application(session, school.leave, school.carol, reviewer=school.bob)
    decide(session, session.scalar(select(Task).where(Task.application_id == other.id)))
    notice = notify(session, school.bob, "新待办", app)

    get("/api/v1/openapi.json", None)
    get("/api/v1/me", school.bob)
    get("/api/v1/me", None)
    get("/api/v1/processes", school.alice)
    get("/api/v1/processes?q=请假&category=人事", school.alice)
    get("/api/v1/processes?per_page=3", school.alice)
    get("/api/v1/processes/leave", school.alice)
    get("/api/v1/processes/nope", school.alice)
    get("/api/v1/applications", school.alice)
    get("/api/v1/applications?status=pending&per_page=1", school.alice)
    get("/api/v1/applications?per_page=500", school.alice)
    get(f"/api/v1/applications/{app.id}", school.alice)
    get(f"/api/v1/applications/{app.id}", school.dave)
    get("/api/v1/tasks?state=todo", school.bob)
    get("/api/v1/tasks?state=done", school.bob)
    get("/api/v1/notifications", school.bob)
    post(f"/api/v1/notifications/{notice}/read", school.bob, {})
    post(f"/api/v1/notifications/{notice}/read", school.bob, {"x": 1})
    assert task is not None
    key = {"Idempotency-Key": "openapi-1"}
    checker.check(
        "post",
        f"/api/v1/tasks/{task.id}/decision",
        api.post(
            f"/api/v1/tasks/{task.id}/decision", school.bob, {"action": "approve"}, headers=key
        ),
    )
    post(f"/api/v1/tasks/{task.id}/decision", school.bob, {"action": "reject"})  # 409
    post("/api/v1/tasks/batch-decision", school.bob, {"task_ids": [task.id]})
    post("/api/v1/tasks/batch-decision", school.bob, {"task_ids": []})  # 422
    post("/api/v1/applications", school.alice, {"process": "leave", "form": {"reason": "开会"}})
    post("/api/v1/applications", school.alice, {"process": "leave", "form": {}})  # 422
    post("/api/v1/applications", school.alice, {"process": "leave", "form": {}, "draft": True})
    mine = api.get("/api/v1/applications?status=pending", school.alice).get_json()["items"]
    fresh = mine[0]["id"]
    post(f"/api/v1/applications/{fresh}/comments", school.alice, {"body": "补充说明"})
    post(f"/api/v1/applications/{fresh}/cc", school.alice, {"userids": ["carol"]})
    post(f"/api/v1/applications/{fresh}/urge", school.alice)  # 429: the to-do is brand new
    post(f"/api/v1/applications/{fresh}/withdraw", school.alice, {})
    post(f"/api/v1/applications/{fresh}/resubmit", school.alice, {"form": {"reason": "x"}})  # 409
    post(f"/api/v1/applications/{fresh}/withdraw", school.dave, {})  # 404
    post(f"/api/v1/applications/{fresh}/revoke", school.alice, {"comment": "x"})  # 409
    post(f"/api/v1/applications/{fresh}/revoke", school.alice, {})  # 422
    checker.check("post", "/api/v1/attachments", upload(api, school.bob, PDF))
    checker.check("post", "/api/v1/attachments", upload(api, school.bob, b"<html>"))  # 415
    checker.check("post", "/api/v1/attachments", upload(api, school.bob, PDF, field="x"))  # 404
    checker.check("post", "/api/v1/attachments", upload(api, school.bob, PDF, name=""))  # 422
    bob_file = upload(api, school.bob, PDF).get_json()["id"]
    own = api.get(f"/api/v1/attachments/{bob_file}", school.bob)
    checker.check("get", f"/api/v1/attachments/{bob_file}", own)
    own.close()
    get(f"/api/v1/attachments/{bob_file}", school.alice)  # 404: not attached, not hers
    statuses = {status for _m, _p, status in checker.checked}
    assert {"200", "201", "401", "404", "409", "422", "429"} <= statuses
    doc_ops = {(m, p) for p, ops in checker.doc["paths"].items() for m in ops}
    assert {(m, p) for m, p, _s in checker.checked} == doc_ops
