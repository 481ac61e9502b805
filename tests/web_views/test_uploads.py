"""Uploads: the field's size limit, the type by content (magic bytes) and not by name,
files stored outside the web root by a random key, served only to people who may see the
application, always as an attachment with nosniff."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from sqlalchemy import select

from hall.models import Attachment
from tests.e2e.test_journeys import tiny_png
from tests.web_views.conftest import csrf_of
from tests.web_views.helpers import post, text

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    return buffer.getvalue()


def upload(client, name: str, data: bytes, field: str = "proof", process: str = "every"):
    return client.post(
        "/uploads",
        data={
            "csrf_token": csrf_of(client),
            "process": process,
            "field": field,
            "file": (io.BytesIO(data), name),
        },
        content_type="multipart/form-data",
        headers={"Accept": "application/json"},
    )


def test_a_real_png_is_stored_outside_the_web_root(client_for, school, session, app):
    response = upload(client_for(school.alice), "证明.png", tiny_png())
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    assert answer["filename"] == "证明.png"
    row = session.scalar(select(Attachment).where(Attachment.id == answer["id"]))
    assert row is not None
    assert row.content_type == "image/png"
    assert row.uploader_id == school.alice.id
    assert "证明" not in row.storage_key
    stored = Path(app.extensions["hall.settings"].var_dir) / "uploads" / row.storage_key
    assert stored.read_bytes() == tiny_png()
    assert not str(stored.resolve()).startswith(str(Path(app.static_folder or "").resolve()))


def test_the_type_is_checked_by_content_not_by_name(client_for, school):
    client = client_for(school.alice)
    html_as_png = upload(client, "photo.png", b"<html><script>alert(1)</script></html>")
    assert html_as_png.status_code == 415
    pdf_as_png = upload(client, "photo.png", PDF)
    assert pdf_as_png.status_code == 415
    assert upload(client, "scan.pdf", PDF).status_code == 201


def test_a_real_file_of_a_type_the_field_does_not_accept_is_refused(client_for, school):
    response = upload(client_for(school.alice), "表格.docx", docx())
    assert response.status_code == 415
    assert "不允许" in response.get_json()["error"]


def test_the_size_limit_comes_from_the_field(client_for, school):
    # the field allows 0.01 MB (10485 bytes)
    big = PDF + b"0" * 11_000
    response = upload(client_for(school.alice), "big.pdf", big)
    assert response.status_code == 413
    assert "MB" in response.get_json()["error"]


def test_unknown_field_or_process_is_404(client_for, school):
    client = client_for(school.alice)
    assert upload(client, "a.pdf", PDF, field="reason").status_code == 404
    assert upload(client, "a.pdf", PDF, process="nope").status_code == 404


def test_path_in_the_filename_is_dropped(client_for, school, session):
    response = upload(client_for(school.alice), "../../etc/passwd.pdf", PDF)
    assert response.status_code == 201
    assert response.get_json()["filename"] == "passwd.pdf"


def _submit_with_attachment(client, school) -> tuple[int, int]:
    attachment_id = upload(client, "scan.pdf", PDF).get_json()["id"]
    response = post(
        client,
        "/processes/every/apply",
        {"action": "submit", "reason": "带附件", "kind": "sick", "proof": str(attachment_id)},
        page="/processes/every",
    )
    assert response.status_code == 302, text(response)[:2000]
    app_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    return app_id, attachment_id


def test_downloads_only_for_people_who_may_see_the_application(client_for, school):
    alice = client_for(school.alice)
    app_id, attachment_id = _submit_with_attachment(alice, school)
    page = text(alice.get(f"/applications/{app_id}"))
    assert f"/attachments/{attachment_id}" in page
    for who in (school.alice, school.bob):
        response = client_for(who).get(f"/attachments/{attachment_id}")
        assert response.status_code == 200
        assert response.data == PDF
        assert response.headers["Content-Disposition"].startswith("attachment")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.mimetype == "application/octet-stream"
        response.close()
    assert client_for(school.dave).get(f"/attachments/{attachment_id}").status_code == 404
    assert client_for(None).get(f"/attachments/{attachment_id}").status_code == 302


def test_an_unattached_upload_is_only_the_uploaders(client_for, school):
    attachment_id = upload(client_for(school.alice), "scan.pdf", PDF).get_json()["id"]
    own = client_for(school.alice).get(f"/attachments/{attachment_id}")
    assert own.status_code == 200
    own.close()
    assert client_for(school.bob).get(f"/attachments/{attachment_id}").status_code == 404


def test_someone_elses_upload_cannot_be_attached(client_for, school):
    attachment_id = upload(client_for(school.carol), "scan.pdf", PDF).get_json()["id"]
    response = post(
        client_for(school.alice),
        "/processes/every/apply",
        {"action": "submit", "reason": "借用附件", "kind": "sick", "proof": str(attachment_id)},
        page="/processes/every",
    )
    assert response.status_code == 422
    assert "附件不存在或不可用" in text(response)


# ------------------------------------------------------------ files on a decision


def _decision_upload(client, name: str = "签字页.pdf", data: bytes = PDF) -> int:
    response = upload(client, name, data, field="decision_files", process="")
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["id"])


def test_a_reviewer_attaches_files_to_a_decision(client_for, school, db, session):
    from tests.web_views.helpers import pending_task, submit  # noqa: PLC0415

    app_id = submit(db, school.alice)
    task = pending_task(session, app_id)
    bob = client_for(school.bob)
    assert "decision_files" in text(bob.get(f"/applications/{app_id}"))  # the panel asks
    scan = _decision_upload(bob)
    photo = _decision_upload(bob, "现场.png", tiny_png())
    response = post(
        bob,
        f"/tasks/{task.id}/decide",
        {"action": "approve", "comment": "已盖章", "decision_files": [str(scan), str(photo)]},
        page=f"/applications/{app_id}",
    )
    assert response.status_code == 302
    session.expire_all()
    rows = session.scalars(select(Attachment).where(Attachment.id.in_([scan, photo]))).all()
    assert {(r.application_id, r.field_key) for r in rows} == {(app_id, f"decision:{task.id}")}
    # The applicant sees them under 同意 in the history, and may download them.
    page = text(client_for(school.alice).get(f"/applications/{app_id}"))
    history = page[page.index("办理记录") :]
    assert history.index("已盖章") < history.index(f"/attachments/{scan}")
    assert "签字页.pdf" in history
    assert "现场.png" in history
    download = client_for(school.alice).get(f"/attachments/{scan}")
    assert (download.status_code, download.data) == (200, PDF)
    download.close()


def test_a_decision_refuses_files_that_are_not_the_reviewers_own_and_fresh(
    client_for, school, db, session
):
    from tests.web_views.helpers import pending_task, submit  # noqa: PLC0415

    app_id = submit(db, school.alice)
    task = pending_task(session, app_id)
    bob = client_for(school.bob)
    others = _decision_upload(client_for(school.carol), "别人的.pdf")
    own = _decision_upload(bob)
    refused = post(
        bob,
        f"/tasks/{task.id}/decide",
        {"action": "approve", "comment": "同意", "decision_files": [str(own), str(others)]},
        page=f"/applications/{app_id}",
    )
    assert refused.status_code == 422  # the page comes back, what was typed kept
    page = text(refused)
    assert "附件不存在或不可用" in page
    assert "同意</textarea>" in page
    assert f'value="{own}"' in page  # the own file stays listed
    assert "签字页.pdf" in page
    assert f'value="{others}"' not in page  # someone else's is not shown, not even its name
    assert "别人的.pdf" not in page
    session.expire_all()
    assert pending_task(session, app_id).id == task.id  # nothing decided, nothing linked
    assert session.get(Attachment, own).application_id is None
    too_many = [str(_decision_upload(bob)) for _ in range(6)]
    crowded = post(
        bob,
        f"/tasks/{task.id}/decide",
        {"action": "approve", "decision_files": too_many},
        page=f"/applications/{app_id}",
    )
    assert crowded.status_code == 422
    assert "最多上传5个文件" in text(crowded)
