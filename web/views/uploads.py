"""Attachments: upload (size limit from the field's spec, type checked by the file's
content, not its name) and download (only to people who may see the application).

Files live outside the web root, under `<var_dir>/uploads/`, by a random key; the name
people gave the file is kept only as metadata. Downloads are always
`Content-Disposition: attachment` with `X-Content-Type-Options: nosniff`.
"""

from __future__ import annotations

import hashlib
import io
import math
import secrets
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from flask import Response, current_app, jsonify, request, send_file
from sqlalchemy import select

from hall import queries
from hall.access import can_view
from hall.definitions import DECISION_FILES, FieldType, FormField
from hall.errors import NotFound
from hall.forms import MB
from hall.models import Attachment
from web.i18n import gettext
from web.views import reads
from web.views.common import clock, db, not_found_page, page_blueprint, person_id

bp = page_blueprint("uploads", __name__)

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Kind:
    name: str
    mime: str
    extensions: frozenset[str]


PDF = Kind("pdf", "application/pdf", frozenset({"pdf"}))
PNG = Kind("png", "image/png", frozenset({"png"}))
JPEG = Kind("jpeg", "image/jpeg", frozenset({"jpg", "jpeg"}))
GIF = Kind("gif", "image/gif", frozenset({"gif"}))
WEBP = Kind("webp", "image/webp", frozenset({"webp"}))
OLE = Kind("ole", "application/x-ole-storage", frozenset({"doc", "xls", "ppt"}))
ZIP = Kind("zip", "application/zip", frozenset({"zip"}))
_OOXML = {
    "word/": Kind(
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        frozenset({"docx"}),
    ),
    "xl/": Kind(
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        frozenset({"xlsx"}),
    ),
    "ppt/": Kind(
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        frozenset({"pptx"}),
    ),
}


def sniff(head: bytes, whole: io.BufferedIOBase | io.BytesIO) -> Kind | None:
    """The file's kind by its magic bytes (Office Open XML by the zip's contents)."""
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:6] in {b"GIF87a", b"GIF89a"}:
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return OLE
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(whole) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return None
        for prefix, kind in _OOXML.items():
            if "[Content_Types].xml" in names and any(n.startswith(prefix) for n in names):
                return kind
        return ZIP
    return None


def clean_filename(raw: str) -> str:
    """A display name: no path, no control characters, at most 120 characters."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C"
    )
    name = name.strip().lstrip(".")
    if len(name) > 120:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:110] + dot + ext[:9]) if dot else name[:120]
    return name or "file"


def upload_root() -> Path:
    return Path(current_app.extensions["hall.settings"].var_dir) / "uploads"


def _field_spec(process_key: str, field_key: str, application_id: int | None) -> FormField:
    if not process_key and field_key == DECISION_FILES.key:
        return DECISION_FILES  # a reviewer's files for a decision (linked when it is made)
    with db().reader() as s:
        if application_id is not None:
            detail = queries.application_detail(s, person_id(), application_id)
            if not detail.is_applicant:
                raise NotFound("申请不存在")
            fields = list(reads.version_spec_of(s, application_id).form)
        else:
            fields = queries.process_detail(s, person_id(), process_key).form
    for spec in fields:
        if spec.key == field_key and spec.type == FieldType.ATTACHMENT:
            return spec
    raise NotFound("字段不存在")


def _refuse(message: str, status: int = 422) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


@bp.post("/uploads")
def upload() -> Response:
    try:
        spec = _field_spec(
            request.form.get("process", ""),
            request.form.get("field", ""),
            request.form.get("application", type=int),
        )
    except NotFound:
        return _refuse(gettext("未找到"), 404)
    limit = math.floor(spec.max_size_mb * MB)
    stream = request.files.get("file")
    if stream is None or not stream.filename:
        return _refuse(gettext("上传文件"), 400)
    data = stream.stream.read(limit + 1)
    if len(data) > limit:
        return _refuse(gettext("文件超过{n}MB", n=f"{spec.max_size_mb:g}"), 413)
    if not data:
        return _refuse(gettext("文件类型不允许"))
    filename = clean_filename(stream.filename)
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    kind = sniff(data[:64], io.BytesIO(data))
    accept = {a.lower().lstrip(".") for a in spec.accept}
    if kind is None or ext not in kind.extensions or (accept and ext not in accept):
        return _refuse(gettext("文件类型不允许"), 415)
    key = secrets.token_hex(20)
    path = upload_root() / key[:2] / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    with db().unit_of_work() as s:
        row = Attachment(
            uploader_id=person_id(),
            field_key=spec.key,
            filename=filename,
            content_type=kind.mime,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            storage_key=f"{key[:2]}/{key}",
            created_at=clock().now(),
        )
        s.add(row)
        s.flush()
        answer = {"id": row.id, "filename": row.filename, "size": row.size}
    response = jsonify(answer)
    response.status_code = 201
    return response


@bp.get("/attachments/<int:attachment_id>")
def download(attachment_id: int) -> Response:
    with db().reader() as s:
        row = s.scalar(select(Attachment).where(Attachment.id == attachment_id))
        allowed = row is not None and (
            can_view(s, person_id(), row.application_id)
            if row.application_id is not None
            else row.uploader_id == person_id()
        )
        stored = (row.storage_key, row.filename) if row is not None and allowed else None
    if stored is None:
        return not_found_page()
    storage_key, filename = stored
    path = upload_root() / storage_key
    if not path.is_file():
        return not_found_page()
    response = send_file(
        path,
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=filename,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
