"""The service catalogue (服务目录): by department, category and audience, with search and
the viewer's frequently used services."""

from __future__ import annotations

from flask import Response, request

from hall import invitations, queries
from hall.models import Person
from web.views import reads
from web.views.common import db, me, page, page_blueprint, person_id

bp = page_blueprint("catalog", __name__)

AUDIENCES = ("student", "staff", "offcampus")


def for_audience(
    items: list[queries.ProcessSummary], audience: str
) -> list[queries.ProcessSummary]:
    """The services for one audience (all of them for an unknown or empty one)."""
    return [p for p in items if audience not in AUDIENCES or audience in p.audience]


def by_category(items: list[queries.ProcessSummary]) -> dict[str, list[queries.ProcessSummary]]:
    """The services grouped by category, in the order they come."""
    grouped: dict[str, list[queries.ProcessSummary]] = {}
    for item in items:
        grouped.setdefault(item.category, []).append(item)
    return grouped


@bp.get("/")
def index() -> Response:
    q = request.args.get("q", "").strip()[:50]
    category = request.args.get("category", "").strip()[:32] or None
    department = request.args.get("department", "").strip()[:32] or None
    audience = request.args.get("audience", "").strip()
    with db().reader() as s:
        everything = queries.catalogue(s, person_id())
        found = queries.catalogue(s, person_id(), category=category, department=department, q=q)
        frequent_keys = reads.frequent_process_keys(s, person_id())
        invitable = []
        if me().kind == "staff":  # 入校预约 and the like: staff invite, visitors apply
            actor = s.get(Person, person_id())
            invitable = invitations.invitable_processes(s, actor) if actor else []
    items = for_audience(found.items, audience)
    by_key = {p.key: p for p in everything.items}
    departments = sorted({(p.department.code, p.department.name) for p in everything.items})
    return page(
        "hall/catalog.html",
        grouped=by_category(items),
        total=len(items),
        frequent=[by_key[k] for k in frequent_keys if k in by_key],
        categories=everything.categories,
        departments=departments,
        audiences=AUDIENCES,
        q=q,
        category=category or "",
        department=department or "",
        audience=audience if audience in AUDIENCES else "",
        invitable=invitable,
    )
