"""通行码: the public page `/pass/<token>` of an approved application's gate pass.

The token signs (application id, serial) with the app's secret and carries no expiry:
whether the pass is valid is decided on every visit (`hall.passes`), so the guard who
scans it and the holder who shows it see the same live page. It shows the label, the
process, the applicant's masked name, the serial, the window and the time of checking,
with a QR code of the page's own address; nothing else personal.
"""

from __future__ import annotations

import segno
from flask import Response, current_app, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from markupsafe import Markup

from hall.passes import GatePassView, find_pass
from web.views.common import clock, db, page, page_blueprint
from web.views.present import mask_name

SALT = "hall.gate-pass.v1"
MAX_TOKEN = 256  # a real token is about 40 characters; never verify megabytes

bp = page_blueprint("passes", __name__, public=True)


def serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def token_for(application_id: int, serial: str) -> str:
    return serializer().dumps([application_id, serial])


def pass_path(application_id: int, serial: str) -> str:
    return url_for("passes.show", token=token_for(application_id, serial))


def _read(token: str) -> tuple[int, str] | None:
    try:
        payload = serializer().loads(token)
    except BadSignature:
        return None
    match payload:
        case [int() as app_id, str() as serial] if not isinstance(app_id, bool):
            return app_id, serial
    return None


def check(token: str) -> GatePassView | None:
    """The pass a token names as of now, or None (forged, unknown, or no gate pass)."""
    found = _read(token[:MAX_TOKEN])
    if found is None:
        return None
    with db().reader() as s:
        return find_pass(s, *found, clock().now())


@bp.get("/pass/<token>")
def show(token: str) -> Response:
    found = check(token)
    if found is None:
        return page("hall/pass.html", 404, found=None)
    base = current_app.extensions["hall.settings"].base_url.rstrip("/")
    url = base + pass_path(found.application_id, found.serial)
    return page(
        "hall/pass.html",
        found=found,
        applicant=mask_name(found.applicant_name),
        qr=Markup(qr_svg(url)),  # noqa: S704 - our own SVG
    )


def qr_svg(url: str) -> str:
    # A viewBox without a size: the page's CSS makes it big enough to scan from a phone.
    return segno.make(url, error="m").svg_inline(scale=4, dark="#111", border=2, omitsize=True)
