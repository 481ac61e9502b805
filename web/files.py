"""Attachments, shared by the pages (`/uploads`) and the API (`/api/v1/attachments`).

An upload names the form field it is for; the field's spec sets its size limit and the
types it accepts, and the type is checked by the file's content, not its name. Files live
outside the web root, under `<var_dir>/uploads/`, by a random key; the name people gave
the file is kept only as metadata. Downloads go only to people who may see the
application (an unattached file: only to its uploader), always as an attachment with
nosniff, so a file can never run as a page of the hall.
"""

from __future__ import annotations

import hashlib
import io
import math
import secrets
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from flask import Response, current_app, send_file
from sqlalchemy import select
from sqlalchemy.orm import Session

from hall import queries
from hall.access import can_view
from hall.db import Database
from hall.definitions import DECISION_FILES, FieldType, FormField
from hall.errors import NotFound
from hall.forms import MB
from hall.models import Application, Attachment
from hall.processes import version_spec


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
    """`<var_dir>/uploads`, absolute: send_file reads a relative path from the app's
    package folder, not from the working directory `var_dir` is relative to."""
    return (Path(current_app.extensions["hall.settings"].var_dir) / "uploads").resolve()


class Refused(Exception):
    """An upload that is not stored. `code` is stable (the API's error code)."""

    def __init__(self, status: int, code: str, *, limit_mb: float | None = None) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.limit_mb = limit_mb


TOO_LARGE = "file_too_large"  # 413: over the field's limit
WRONG_TYPE = "file_type"  # 415: content not an accepted type, or an empty file


def attachment_field(
    db: Database, person_id: int, process_key: str, field_key: str, application_id: int | None
) -> FormField:
    """The attachment field an upload is for, or NotFound.

    No process and `decision_files`: a reviewer's files for a decision. An application id:
    a field of the version it runs on, for its own applicant (a resubmission). Otherwise a
    field of the current version of a process the person may apply for.
    """
    if not process_key and field_key == DECISION_FILES.key:
        return DECISION_FILES
    with db.reader() as s:
        if application_id is not None:
            detail = queries.application_detail(s, person_id, application_id)
            if not detail.is_applicant:
                raise NotFound("申请不存在")
            app = s.get(Application, application_id)
            if app is None:
                raise NotFound("申请不存在")
            fields = list(version_spec(app.version).form)
        else:
            fields = queries.process_detail(s, person_id, process_key).form
    for spec in fields:
        if spec.key == field_key and spec.type == FieldType.ATTACHMENT:
            return spec
    raise NotFound("字段不存在")


def read_limited(stream: IO[bytes], spec: FormField) -> bytes:
    """At most the field's limit + 1 bytes: one more than allowed is enough to refuse it."""
    limit = math.floor(spec.max_size_mb * MB)
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise Refused(413, TOO_LARGE, limit_mb=spec.max_size_mb)
    return data


def store(
    db: Database,
    root: Path,
    *,
    uploader_id: int,
    spec: FormField,
    filename: str,
    data: bytes,
    now: datetime,
) -> queries.AttachmentOut:
    """Check `data` against the field and keep it; Refused changes nothing."""
    if len(data) > math.floor(spec.max_size_mb * MB):
        raise Refused(413, TOO_LARGE, limit_mb=spec.max_size_mb)
    if not data:
        raise Refused(415, WRONG_TYPE)
    name = clean_filename(filename)
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    kind = sniff(data[:64], io.BytesIO(data))
    accept = {a.lower().lstrip(".") for a in spec.accept}
    if kind is None or ext not in kind.extensions or (accept and ext not in accept):
        raise Refused(415, WRONG_TYPE)
    key = secrets.token_hex(20)
    path = root / key[:2] / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    try:
        with db.unit_of_work() as s:
            row = Attachment(
                uploader_id=uploader_id,
                field_key=spec.key,
                filename=name,
                content_type=kind.mime,
                size=len(data),
                sha256=digest,
                storage_key=f"{key[:2]}/{key}",
                created_at=now,
            )
            s.add(row)
            s.flush()
            return queries.attachment_out(row)
    except BaseException:
        path.unlink(missing_ok=True)  # no row points at it: nothing would ever remove it
        raise


def readable(session: Session, person_id: int, attachment_id: int) -> Attachment | None:
    """The attachment if this person may download it, else None (hidden reads as absent)."""
    row = session.scalar(select(Attachment).where(Attachment.id == attachment_id))
    if row is None:
        return None
    if row.application_id is not None:
        return row if can_view(session, person_id, row.application_id) else None
    return row if row.uploader_id == person_id else None


def download(root: Path, storage_key: str, filename: str) -> Response | None:
    """The file as a download that no browser will render, or None if its bytes are gone."""
    path = root / storage_key
    if not path.is_file():
        return None
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
