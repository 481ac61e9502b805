"""The person picker's search (htmx): people by name or number, as a list of choices."""

from __future__ import annotations

from flask import Response, request

from web.views import reads
from web.views.common import db, page, page_blueprint, person_id

bp = page_blueprint("people", __name__)


@bp.get("/people/search")
def search() -> Response:
    text = request.args.get("q", "")
    with db().reader() as s:
        hits = reads.search_people(s, text, exclude_id=person_id())
    return page("hall/_people.html", hits=hits, q=text.strip())
