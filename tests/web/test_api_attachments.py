"""Files through /api/v1: upload for a form field or a decision, name the id, download what
one may see. Every refusal stores nothing: no row, no file."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from config import load_settings
from hall.models import Attachment, Person, ProcessVersion, Task
from tests import factories
from tests.e2e.test_journeys import tiny_png
from tests.web.conftest import Api, School
from web.app import create_app

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def upload(
    api: Api,
    who: Person | None,
    data: bytes,
    *,
    name: str = "scan.pdf",
    field: str = "decision_files",
    process: str = "",
    headers: dict[str, str] | None = None,
    **parts: Any,
) -> TestResponse:
    body: dict[str, Any] = {"field": field, "process": process, **parts}
    if name is not None:
        body["file"] = (io.BytesIO(data), name)
    return api.client.post(
        "/api/v1/attachments",
        data=body,
        content_type="multipart/form-data",
        headers=api.headers(who, headers),
    )


@pytest.fixture
def proofs(session: Session, school: School) -> ProcessVersion:
    """A process with a small attachment field: PDF or PNG, at most 0.01 MB (10,485 bytes)."""
    version = factories.process(
        session,
        factories.simple_spec(
            "CS",
            key="proofs",
            name="证明材料",
            form=[
                {"key": "reason", "label": "事由", "type": "text", "required": True},
                {
                    "key": "proof",
                    "label": "证明",
                    "type": "attachment",
                    "required": True,
                    "max_size_mb": 0.01,
                    "accept": ["pdf", "png"],
                },
            ],
        ),
    )
    session.commit()
    return version


def _stored(session: Session, app: Flask) -> tuple[int, int]:
    """Attachment rows and files on disk."""
    rows = session.scalar(select(func.count()).select_from(Attachment)) or 0
    root = Path(app.extensions["hall.settings"].var_dir) / "uploads"
    files = sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0
    return rows, files


def test_upload_then_apply_then_download(api: Api, school: School, proofs, session, app):
    response = upload(
        api, school.alice, tiny_png(), name="证明.png", process="proofs", field="proof"
    )
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    assert answer["filename"] == "证明.png"
    assert answer["field"] == "proof"
    assert answer["content_type"] == "image/png"
    assert answer["size"] == len(tiny_png())
    assert re.fullmatch(r"[0-9a-f]{64}", answer["sha256"])

    submitted = api.post(
        "/api/v1/applications",
        school.alice,
        {"process": "proofs", "form": {"reason": "报销", "proof": [answer["id"]]}},
    )
    assert submitted.status_code == 201, submitted.get_json()
    app_id = submitted.get_json()["application_id"]
    detail = api.get(f"/api/v1/applications/{app_id}", school.alice).get_json()
    assert [a["id"] for a in detail["attachments"]] == [answer["id"]]
    assert detail["attachments"][0]["field"] == "proof"

    path = f"/api/v1/attachments/{answer['id']}"
    for who in (school.alice, school.bob):  # the applicant and the reviewer holding the task
        got = api.get(path, who)
        assert got.status_code == 200
        assert got.data == tiny_png()
        assert got.mimetype == "application/octet-stream"
        assert got.headers["X-Content-Type-Options"] == "nosniff"
        assert got.headers["Content-Disposition"].startswith("attachment")
        got.close()
    hidden = api.get(path, school.dave)
    assert hidden.status_code == 404
    assert hidden.get_json()["error"]["code"] == "not_found"


def test_an_unattached_upload_is_only_its_uploaders(api: Api, school: School):
    mine = upload(api, school.bob, PDF).get_json()["id"]
    own = api.get(f"/api/v1/attachments/{mine}", school.bob)
    assert own.status_code == 200
    own.close()
    assert api.get(f"/api/v1/attachments/{mine}", school.alice).status_code == 404
    assert api.get(f"/api/v1/attachments/{mine}", school.ivan).status_code == 404
    assert api.get("/api/v1/attachments/999999999", school.bob).status_code == 404


def test_refused_uploads_store_nothing(api: Api, school: School, proofs, session, app):
    before = _stored(session, app)
    alice = school.alice

    def refused(response: TestResponse, status: int, code: str) -> dict[str, Any]:
        assert response.status_code == status, response.get_json()
        error: dict[str, Any] = response.get_json()["error"]
        assert error["code"] == code
        return error

    big = PDF + b"0" * 11_000
    error = refused(upload(api, alice, big, process="proofs", field="proof"), 413, "file_too_large")
    assert error["message"] == "文件超过 0.01 MB"
    html_as_pdf = b"<html><script>alert(1)</script></html>"
    refused(upload(api, alice, html_as_pdf, process="proofs", field="proof"), 415, "file_type")
    refused(
        upload(api, alice, PDF, name="scan.png", process="proofs", field="proof"), 415, "file_type"
    )
    refused(upload(api, alice, b"", process="proofs", field="proof"), 415, "file_type")
    refused(upload(api, alice, PDF, process="proofs", field="reason"), 404, "not_found")
    refused(upload(api, alice, PDF, process="nope", field="proof"), 404, "not_found")
    error = refused(
        upload(api, alice, PDF, name="", process="proofs", field="proof"), 422, "invalid"
    )
    assert error["fields"] == {"file": "必填"}
    error = refused(upload(api, alice, PDF, process="proofs", field="proof", x="1"), 422, "invalid")
    assert error["fields"] == {"x": "不支持的字段"}
    extra_file = api.client.post(
        "/api/v1/attachments",
        data={
            "field": "decision_files",
            "file": (io.BytesIO(PDF), "a.pdf"),
            "other": (io.BytesIO(PDF), "b.pdf"),
        },
        content_type="multipart/form-data",
        headers=api.headers(alice, None),
    )
    assert refused(extra_file, 422, "invalid")["fields"] == {"other": "不支持的字段"}
    as_json = api.post("/api/v1/attachments", alice, {"field": "decision_files"})
    refused(as_json, 415, "multipart_required")
    refused(upload(api, None, PDF), 401, "unauthorized")
    # someone else's application: its fields are not an outsider's to upload for
    refused(upload(api, school.dave, PDF, field="proof", application_id="1"), 404, "not_found")
    assert _stored(session, app) == before


def test_errors_speak_english_on_request(api: Api, school: School, proofs):
    big = PDF + b"0" * 11_000
    response = upload(
        api, school.alice, big, process="proofs", field="proof", headers={"Accept-Language": "en"}
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["message"] == "The file is larger than 0.01 MB"


def test_a_session_upload_needs_the_csrf_token(api: Api, school: School, session, app):
    with api.client.session_transaction() as flask_session:
        flask_session["person_id"] = school.bob.id
    before = _stored(session, app)
    refused = upload(api, None, PDF)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "csrf"
    refused = upload(api, None, PDF, headers={"X-CSRFToken": "forged"})
    assert refused.status_code == 403
    assert _stored(session, app) == before
    with app.test_request_context():
        from flask import session as request_session  # noqa: PLC0415 - inside this request
        from flask_wtf.csrf import generate_csrf  # noqa: PLC0415

        token = generate_csrf()
        raw = request_session["csrf_token"]
    with api.client.session_transaction() as flask_session:
        flask_session["csrf_token"] = raw
    accepted = upload(api, None, PDF, headers={"X-CSRFToken": token})
    assert accepted.status_code == 201, accepted.get_json()


def test_a_reviewer_attaches_files_to_a_decision(api: Api, school: School, session):
    submitted = api.post(
        "/api/v1/applications", school.alice, {"process": "leave", "form": {"reason": "开会"}}
    ).get_json()
    task_id = session.scalar(
        select(Task.id).where(Task.application_id == submitted["application_id"])
    )
    alices = upload(api, school.alice, PDF).get_json()["id"]
    path = f"/api/v1/tasks/{task_id}/decision"
    stolen = api.post(path, school.bob, {"action": "approve", "attachments": [alices]})
    assert stolen.status_code == 422, stolen.get_json()
    assert (
        api.post(path, school.bob, {"action": "approve", "attachments": ["1"]}).status_code == 422
    )
    bobs = upload(api, school.bob, PDF, name="批示.pdf").get_json()["id"]
    decided = api.post(path, school.bob, {"action": "approve", "attachments": [bobs]})
    assert decided.status_code == 200, decided.get_json()
    detail = api.get(f"/api/v1/applications/{submitted['application_id']}", school.alice)
    files = detail.get_json()["attachments"]
    assert [(f["id"], f["field"], f["filename"]) for f in files] == [
        (bobs, f"decision:{task_id}", "批示.pdf")
    ]
    download = api.get(f"/api/v1/attachments/{bobs}", school.alice)
    assert download.data == PDF
    download.close()
    assert api.get(f"/api/v1/attachments/{bobs}", school.dave).status_code == 404


def test_a_relative_var_dir_still_serves_the_files(
    db, school: School, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    """`make run` keeps its state in ./var: a download must read it from there, not from
    the app's package folder (where Flask's send_file resolves relative paths)."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings(
        var_dir=Path("var"),
        secret_key="test",
        database_url=db.engine.url.render_as_string(hide_password=False),
    )
    flask_app = create_app(settings, database=db)
    relative = Api(flask_app.test_client(), db)
    attachment_id = upload(relative, school.bob, PDF).get_json()["id"]
    assert (tmp_path / "var" / "uploads").is_dir()
    got = relative.get(f"/api/v1/attachments/{attachment_id}", school.bob)
    assert got.status_code == 200
    assert got.data == PDF
    got.close()
