"""Attachments in the pages: `POST /uploads` (the form's file inputs) and
`GET /attachments/<id>`. The checks and the storage are `web.files`, shared with the API."""

from __future__ import annotations

from flask import Response, jsonify, request

from hall.errors import NotFound
from web import files
from web.i18n import gettext
from web.views.common import clock, db, not_found_page, page_blueprint, person_id

bp = page_blueprint("uploads", __name__)


def _refuse(message: str, status: int = 422) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


@bp.post("/uploads")
def upload() -> Response:
    try:
        spec = files.attachment_field(
            db(),
            person_id(),
            request.form.get("process", ""),
            request.form.get("field", ""),
            request.form.get("application", type=int),
        )
    except NotFound:
        return _refuse(gettext("未找到"), 404)
    stream = request.files.get("file")
    if stream is None or not stream.filename:
        return _refuse(gettext("上传文件"), 400)
    try:
        stored = files.store(
            db(),
            files.upload_root(),
            uploader_id=person_id(),
            spec=spec,
            filename=stream.filename,
            data=files.read_limited(stream.stream, spec),
            now=clock().now(),
        )
    except files.Refused as exc:
        if exc.code == files.TOO_LARGE:
            return _refuse(gettext("文件超过{n}MB", n=f"{spec.max_size_mb:g}"), 413)
        return _refuse(gettext("文件类型不允许"), 415)
    response = jsonify(id=stored.id, filename=stored.filename, size=stored.size)
    response.status_code = 201
    return response


@bp.get("/attachments/<int:attachment_id>")
def download(attachment_id: int) -> Response:
    with db().reader() as s:
        row = files.readable(s, person_id(), attachment_id)
        stored = (row.storage_key, row.filename) if row is not None else None
    if stored is None:
        return not_found_page()
    response = files.download(files.upload_root(), *stored)
    return response if response is not None else not_found_page()
