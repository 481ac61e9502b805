"""`GET|POST /wecom/callback` (the app) and `GET|POST /wecom/contacts/callback` (contacts)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request

from callbacks.envelope import MAX_BODY, Rejected
from callbacks.service import APP, CONTACTS, CallbackService

log = logging.getLogger("hall.callbacks")

bp = Blueprint("wecom_callbacks", __name__)


def _body() -> bytes:
    """At most MAX_BODY + 1 bytes: one more than allowed is enough to refuse it."""
    if (request.content_length or 0) > MAX_BODY:
        raise Rejected(413, f"declared body of {request.content_length} bytes")
    return request.stream.read(MAX_BODY + 1)


def _serve(endpoint: str) -> Response:
    service: CallbackService = current_app.extensions["hall.callbacks"]
    try:
        if request.method == "GET":
            return Response(service.url_check(endpoint, request.args), mimetype="text/plain")
        reply = service.receive(endpoint, request.args, _body())
    except Rejected as exc:
        log.warning("WeCom %s callback refused from %s: %s", endpoint, request.remote_addr, exc)
        return Response(status=exc.status)
    return Response(reply or "", mimetype="application/xml" if reply else "text/plain")


@bp.route("/wecom/callback", methods=["GET", "POST"])
def app_callback() -> Response:
    return _serve(APP)


@bp.route("/wecom/contacts/callback", methods=["GET", "POST"])
def contacts_callback() -> Response:
    return _serve(CONTACTS)
