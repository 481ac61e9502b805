"""Attachments in /api/v1: upload a file for a form field (or for a decision), then name
its id in the form (`POST /applications`) or the decision's `attachments`; download the
files of applications one may see. The checks and the storage are `web.files`, the same as
the pages' uploads."""

from __future__ import annotations

from flask import Response, current_app
from pydantic import BaseModel, ConfigDict, Field

from hall import queries
from hall.clock import SystemClock
from hall.errors import NotFound
from web import files
from web.api.registry import ApiCall, ApiError
from web.api.routes import api


class UploadIn(BaseModel):
    """The text parts of an upload (multipart/form-data; the file is the part `file`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str = Field(
        min_length=1,
        max_length=64,
        description="the attachment field's key; decision_files for a reviewer's files",
    )
    process: str = Field(
        default="", max_length=64, description="the process key (empty for decision_files)"
    )
    application_id: int | None = Field(
        default=None,
        ge=1,
        le=2**63 - 1,
        description="for a resubmission: the field of the version the application runs on",
    )


@api.route(
    "POST",
    "/attachments",
    summary="上传附件",
    tag="attachments",
    upload=UploadIn,
    response=queries.AttachmentOut,
    status=201,
    errors=(404,),
)
def upload_attachment(call: ApiCall) -> queries.AttachmentOut:
    """Store one file for an attachment field; the field sets its size limit and types.

    The file is mine until an application or a decision of mine names its id.
    """
    parts = call.body_as(UploadIn)
    assert call.file is not None  # the registry answers 422 without one
    spec = files.attachment_field(
        call.db, call.person_id, parts.process, parts.field, parts.application_id
    )
    clock = current_app.extensions.get("hall.clock") or SystemClock()
    try:
        return files.store(
            call.db,
            files.upload_root(),
            uploader_id=call.person_id,
            spec=spec,
            filename=call.file.filename or "",
            data=files.read_limited(call.file.stream, spec),
            now=clock.now(),
        )
    except files.Refused as exc:
        raise ApiError(exc.status, exc.code, limit=f"{exc.limit_mb or 0:g}") from None


@api.route(
    "GET",
    "/attachments/<int:attachment_id>",
    summary="下载附件",
    tag="attachments",
    response=None,
    binary=True,
)
def download_attachment(call: ApiCall, attachment_id: int) -> Response:
    """The file, as an attachment (application/octet-stream, never rendered)."""
    with call.db.reader() as session:
        row = files.readable(session, call.person_id, attachment_id)
        stored = (row.storage_key, row.filename) if row is not None else None
    response = files.download(files.upload_root(), *stored) if stored is not None else None
    if response is None:
        raise NotFound("附件不存在")
    return response
