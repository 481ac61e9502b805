"""The process designer (desktop): department administrators edit their department's
processes, the information center any. Outsiders get the 404 page on every route.

The editor page holds the draft in the browser and saves it to the server on every change
(`POST /designer/<key>/save`, JSON with the CSRF header); the answer carries the problems
(shown next to their fields), the change list against the published version, and the
live preview (the applicant's form, rendered by the same partial as the apply page) with
the flow diagram. "Who would approve this" posts the preview form; publishing is a form.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from pydantic import ValidationError
from werkzeug.wrappers import Response as BaseResponse

from hall.conditions import describe
from hall.definitions import (
    PREFILL_SOURCES,
    FieldType,
    FormField,
    Mode,
    ProcessSpec,
    RuleType,
    StepKind,
)
from hall.designer import Designer, DraftView
from hall.errors import Conflict, HallError, Invalid, NotFound
from hall.models import RoleCode
from web.views.common import (
    clock,
    db,
    flash_error,
    invalid_fields,
    not_found_page,
    page,
    page_blueprint,
    person_id,
)
from web.views.formdata import read_form

bp = page_blueprint("designer", __name__)


def designer() -> Designer:
    return Designer(db(), clock())


def _choices() -> dict[str, Any]:
    """The vocabularies the editor offers (types, rules, roles, modes)."""
    return {
        "field_types": [t.value for t in FieldType],
        "step_kinds": [k.value for k in StepKind],
        "modes": [m.value for m in Mode],
        "rule_types": [r.value for r in RuleType],
        "roles": [r.value for r in RoleCode],
        "prefill": sorted(PREFILL_SOURCES),
        "ops": ["==", "!=", ">", ">=", "<", "<=", "in", "not_in", "contains", "empty", "not_empty"],
        "audiences": ["student", "staff", "offcampus"],
    }


def _preview_spec(data: dict[str, Any]) -> tuple[list[FormField], ProcessSpec | None]:
    """The fields that validate on their own (for the preview) and the whole spec if valid."""
    try:
        spec = ProcessSpec.model_validate(data)
    except ValidationError:
        spec = None
    if spec is not None:
        return list(spec.form), spec
    fields = []
    for raw in data.get("form") or ():
        try:
            fields.append(FormField.model_validate(raw))
        except ValidationError:
            continue
    return fields, None


def _preview_context(view: DraftView) -> dict[str, Any]:
    fields, spec = _preview_spec(view.data)
    steps = []
    raw_steps = view.data.get("flow") if isinstance(view.data.get("flow"), list) else []
    if spec is not None:
        steps = [
            {
                "name": s.name,
                "kind": s.kind.value,
                "mode": s.mode.value,
                "condition": describe(s.condition) if s.condition is not None else "",
                "rule": s.approver.type.value,
                "limit": s.time_limit_hours,
            }
            for s in spec.flow
        ]
    else:
        steps = [
            {"name": str(s.get("name") or s.get("key") or "?"), "kind": "", "mode": ""}
            for s in raw_steps or ()
            if isinstance(s, dict)
        ]
    return {
        "view": view,
        "fields": fields,
        "steps": steps,
        "values": {},
        "errors": {},
        "files": {},
        "people": {},
    }


def _preview_html(view: DraftView) -> str:
    return render_template("designer/_preview.html", **_preview_context(view))


def _state(view: DraftView) -> dict[str, Any]:
    return {
        "revision": view.revision,
        "valid": view.valid,
        "problems": [
            {"path": p.path, "where": p.where, "message": p.message} for p in view.problems
        ],
        "changes": [c.text for c in view.changes],
        "preview": _preview_html(view),
    }


@bp.get("/designer/")
def index() -> Response:
    try:
        rows = designer().processes(person_id())
        departments = designer().departments(person_id())
    except NotFound:
        return not_found_page()
    return page("designer/index.html", rows=rows, departments=departments, errors={}, form={})


@bp.post("/designer/new")
def create() -> BaseResponse:
    form = {k: request.form.get(k, "").strip() for k in ("key", "name", "department")}
    try:
        designer().create(
            person_id(), key=form["key"], name=form["name"], department_code=form["department"]
        )
    except Invalid as exc:
        try:
            rows = designer().processes(person_id())
            departments = designer().departments(person_id())
        except NotFound:
            return not_found_page()
        return page(
            "designer/index.html",
            422,
            rows=rows,
            departments=departments,
            errors=invalid_fields(exc),
            form=form,
        )
    except NotFound:
        return not_found_page()
    return redirect(url_for("designer.edit", key=form["key"]))


@bp.get("/designer/<key>")
def edit(key: str) -> Response:
    try:
        view = designer().open_draft(person_id(), key)
    except NotFound:
        return not_found_page()
    context = _preview_context(view)
    context.pop("view")
    return page("designer/edit.html", view=view, state=_state(view), choices=_choices(), **context)


@bp.post("/designer/<key>/save")
def save(key: str) -> ResponseReturnValue:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        return jsonify(error="草稿格式不对"), 400
    revision = body.get("revision")
    try:
        view = designer().save(
            person_id(),
            key,
            body["data"],
            revision=revision if isinstance(revision, int) else None,
        )
    except NotFound:
        return jsonify(error="未找到"), 404
    except Conflict as exc:
        return jsonify(error=exc.message, revision=exc.detail.get("revision")), 409
    except Invalid as exc:
        return jsonify(error=exc.message), 422
    return jsonify(_state(view))


@bp.post("/designer/<key>/who")
def who(key: str) -> Response:
    """Who would approve: the preview form's values as the sample, the chosen applicant."""
    applicant = request.form.get("applicant", "").strip()
    try:
        view = designer().open_draft(person_id(), key)
        fields, _spec = _preview_spec(view.data)
        sample = read_form(fields, request.form)
        steps = designer().who_would_approve(person_id(), key, applicant, sample)
    except NotFound:
        return not_found_page()
    except Invalid as exc:
        return page("designer/_who.html", 200, steps=[], error=exc.message, applicant=applicant)
    return page("designer/_who.html", steps=steps, error="", applicant=applicant)


@bp.post("/designer/<key>/publish")
def publish(key: str) -> BaseResponse:
    revision = request.form.get("revision", "")
    try:
        result = designer().publish(
            person_id(), key, revision=int(revision) if revision.isdigit() else None
        )
    except NotFound:
        return not_found_page()
    except HallError as exc:
        flash_error(exc)
        return redirect(url_for("designer.edit", key=key))
    return page("designer/published.html", result=result)


@bp.post("/designer/<key>/discard")
def discard(key: str) -> BaseResponse:
    try:
        designer().discard(person_id(), key)
    except NotFound:
        return not_found_page()
    return redirect(url_for("designer.index"))
