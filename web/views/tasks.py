"""Reviewers: 待办 / 已办 lists (longest waiting first, overdue marked), one decision from
the application page, and batch approval of exactly the selected tasks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

from flask import Response, flash, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from hall import queries
from hall.definitions import DECISION_FILES
from hall.errors import AlreadyDecided, HallError, Invalid, NotFound, ResultInvalid
from hall.services import Decision
from web.i18n import gettext
from web.views import present, reads
from web.views.applications import detail_context
from web.views.common import (
    clock,
    db,
    flash_error,
    hall,
    invalid_fields,
    not_found_page,
    page,
    page_blueprint,
    person_id,
)
from web.views.formdata import read_form

bp = page_blueprint("tasks", __name__)

PER_PAGE = 50
BADGE_CAP = 1000  # the 已办 badge reads "999+" beyond this: an exact figure is not news
BATCH_MAX = 100
ACTIONS = ("approve", "reject", "return", "transfer", "add_signer")


def _list(state: Literal["todo", "done"]) -> Response:
    page_no = min(max(request.args.get("page", 1, type=int) or 1, 1), queries.MAX_PAGE)
    with db().reader() as s:
        found = queries.my_tasks(s, person_id(), state=state, page=page_no, per_page=PER_PAGE)
        fill_in = (
            reads.tasks_needing_results(s, [t.id for t in found.items])
            if state == "todo"
            else set()
        )
        done_total = (
            found.total if state == "done" else queries.count_done(s, person_id(), cap=BADGE_CAP)
        )
    now = clock().now()
    return page(
        "hall/tasks.html",
        state=state,
        found=found,
        fill_in=fill_in,
        done_total=done_total if done_total < BADGE_CAP else f"{BADGE_CAP - 1}+",
        now=now,
        waiting=present.waiting,
        url_args=lambda n: urlencode({"page": n}),
    )


@bp.get("/tasks")
def todo() -> Response:
    return _list("todo")


@bp.get("/tasks/done")
def done() -> Response:
    return _list("done")


def _decision(task_id: int) -> Decision:
    action = request.form.get("action", "")
    if action not in ACTIONS:
        raise Invalid("未知的操作", fields={"action": "未知的操作"})
    result = None
    if action in {"approve", "add_signer"}:
        with db().reader() as s:
            application_id = queries.task_application_id(s, person_id(), task_id)
            spec = reads.version_spec_of(s, application_id)
            index = reads.task_step_index(s, task_id)
        step = spec.flow[index]
        if step.result_fields:
            result = read_form(step.result_fields, request.form, prefix="result.")
    target = request.form.get(f"target_{action}", "").strip() or None
    files = request.form.getlist(DECISION_FILES.key)[: DECISION_FILES.max_files + 1]
    return Decision(
        action=action,  # type: ignore[arg-type]
        comment=request.form.get("comment", "").strip() or None,
        return_to=request.form.get("return_to") or None,
        target_userid=target,
        position="before" if request.form.get("position") == "before" else "after",
        result=result,
        attachments=tuple(int(f) for f in files if f.isdigit() and len(f) < 19),
    )


_OWN_FIELDS = frozenset({"comment", DECISION_FILES.key})  # the decision form's own fields


@bp.post("/tasks/<int:task_id>/decide")
def decide(task_id: int) -> BaseResponse:
    decision: Decision | None = None
    try:
        with db().reader() as s:
            application_id = queries.task_application_id(s, person_id(), task_id)
        decision = _decision(task_id)
        result = hall().decide(
            person_id(),
            task_id,
            decision,
            idempotency_key=request.form.get("idempotency_key") or None,
        )
    except NotFound:
        return not_found_page()
    except Invalid as exc:
        errors = invalid_fields(exc)
        if decision is None or (decision.result is None and not errors.keys() & _OWN_FIELDS):
            flash_error(exc)
            return redirect(url_for("applications.detail", application_id=application_id))
        # A handler's result fields, a return's missing reason, a file: the page comes back
        # with what they typed and uploaded and each problem, the form they used open.
        with db().reader() as s:
            files = reads.attachment_names(s, person_id(), decision.attachments)
        return page(
            "hall/application.html",
            422,
            values={**(decision.result or {}), DECISION_FILES.key: list(files)},
            errors=errors,
            files=files,
            comment=decision.comment or "",
            act=decision.action,
            return_to=decision.return_to or "",
            **detail_context(application_id),
        )
    except HallError as exc:
        flash_error(exc)
        return redirect(url_for("applications.detail", application_id=application_id))
    flash(gettext(result.message), "success")
    return redirect(url_for("applications.detail", application_id=application_id))


@dataclass
class BatchOutcome:
    approved: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _selected() -> list[int]:
    ids: list[int] = []
    for raw in request.form.getlist("task_id")[:BATCH_MAX]:
        if raw.isdigit() and len(raw) < 19 and int(raw) not in ids:
            ids.append(int(raw))
    return ids


@bp.post("/tasks/batch")
def batch() -> BaseResponse:
    """同意 exactly the selected tasks, each through Hall.decide with its own key."""
    ids = _selected()
    if not ids:
        flash(gettext("请先选择要同意的待办"), "error")
        return redirect(url_for("tasks.todo"))
    batch_key = request.form.get("batch_key", "")[:64] or "batch"
    comment = request.form.get("comment", "").strip() or None
    outcome = BatchOutcome()
    with db().reader() as s:
        serials = reads.task_serials(s, person_id(), ids)
    for task_id in ids:
        label = serials.get(task_id, f"#{task_id}")
        try:
            result = hall().decide(
                person_id(),
                task_id,
                Decision(action="approve", comment=comment),
                idempotency_key=f"web-batch:{batch_key}:{task_id}",
            )
        except AlreadyDecided:
            outcome.already.append(label)
        except HallError as exc:
            if isinstance(exc, ResultInvalid):  # a handling step: its result is typed in
                reason = gettext("需在详情页填写办理结果后办结")
            elif isinstance(exc, NotFound):
                reason = gettext("未找到")
            else:
                reason = exc.message
            outcome.failed.append(f"{label} {reason}")
        else:
            outcome.approved.append(result.serial)
    _flash_outcome(outcome)
    return redirect(url_for("tasks.todo"))


def _flash_outcome(outcome: BatchOutcome) -> None:
    if outcome.approved:
        flash(
            gettext("已同意 {n} 件", n=len(outcome.approved)) + "：" + "、".join(outcome.approved),
            "success",
        )
    if outcome.already:
        flash(gettext("{n} 件已被处理过", n=len(outcome.already)), "warning")
    if outcome.failed:
        detail: Any = "；".join(outcome.failed)
        flash(gettext("{n} 件未能处理：{detail}", n=len(outcome.failed), detail=detail), "error")
