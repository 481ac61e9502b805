"""Verifiable approval records: a signed token of (application id, serial, status,
finished_at) in a QR code, checked on the public page `/verify/<token>`.

The page shows only what a checker needs — serial, process, status, date and the
applicant's masked name — and whether the application still has the recorded status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Response, current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from hall import queries
from hall.models import Application, Person, ProcessVersion
from web.views.common import db, page, page_blueprint
from web.views.present import mask_name

SALT = "hall.approval-record.v1"
DEFAULT_MAX_AGE = 5 * 365 * 24 * 3600  # a record stays checkable for five years

bp = page_blueprint("records", __name__, public=True)


def serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _stamp(finished_at: datetime | None) -> str | None:
    return finished_at.isoformat(timespec="seconds") if finished_at else None


def token_for(detail: queries.ApplicationDetail) -> str:
    payload = [detail.id, detail.serial, detail.status.value, _stamp(detail.finished_at)]
    return serializer().dumps(payload)


def verify_url(detail: queries.ApplicationDetail) -> str:
    base = current_app.extensions["hall.settings"].base_url.rstrip("/")
    return f"{base}/verify/{token_for(detail)}"


@dataclass(frozen=True)
class Verified:
    serial: str
    process: str
    applicant: str  # masked
    status: str  # as recorded
    current_status: str
    date: str | None  # finished (or submitted) date
    unchanged: bool


def check(token: str) -> Verified | None:
    """The record a token vouches for, or None (forged, expired, or unknown)."""
    max_age = int(current_app.config.get("HALL_RECORD_MAX_AGE", DEFAULT_MAX_AGE))
    try:
        payload = serializer().loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        return None
    if not (isinstance(payload, list) and len(payload) == 4 and isinstance(payload[0], int)):
        return None
    app_id, serial, status, finished = payload
    with db().reader() as s:
        row = s.execute(
            select(Application, ProcessVersion.name, Person.name)
            .join(ProcessVersion, ProcessVersion.id == Application.version_id)
            .join(Person, Person.id == Application.applicant_id)
            .where(Application.id == app_id, Application.serial == serial)
        ).first()
        if row is None:
            return None
        app, process_name, applicant_name = row
        when = app.finished_at or app.submitted_at
        return Verified(
            serial=app.serial,
            process=process_name,
            applicant=mask_name(applicant_name),
            status=str(status),
            current_status=app.status.value,
            date=when.date().isoformat() if when else None,
            unchanged=app.status.value == status and _stamp(app.finished_at) == finished,
        )


@bp.get("/verify/<token>")
def verify(token: str) -> Response:
    found = check(token[:1024])
    return page("hall/verify.html", 200 if found else 404, found=found)
