"""办事指南, open to everyone: what the school offers, what each service needs and how it
runs, before anyone signs in. Linked from the school's site and from the sign-in pages;
each service says how to sign in to apply (campus sign-in, or SMS for off-campus people).
Only services open to every department are listed: a scoped one is nobody else's business.
"""

from __future__ import annotations

from flask import Response, request
from flask.typing import ResponseReturnValue

from hall import queries
from hall.errors import NotFound
from web.views.catalog import AUDIENCES, by_category, for_audience
from web.views.common import db, not_found_page, page, page_blueprint

bp = page_blueprint("guide", __name__, public=True, knows_viewer=True)


@bp.get("/guide")
def index() -> Response:
    q = request.args.get("q", "").strip()[:50]
    audience = request.args.get("audience", "").strip()
    with db().reader() as s:
        found = queries.catalogue(s, None, q=q)
    items = for_audience(found.items, audience)
    return page(
        "hall/guide.html",
        grouped=by_category(items),
        total=len(items),
        audiences=AUDIENCES,
        q=q,
        audience=audience if audience in AUDIENCES else "",
    )


@bp.get("/guide/<key>")
def detail(key: str) -> ResponseReturnValue:
    try:
        with db().reader() as s:
            process = queries.process_guide(s, key[:64])
    except NotFound:
        return not_found_page()
    return page("hall/guide_detail.html", process=process)
