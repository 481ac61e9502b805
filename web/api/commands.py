"""The command endpoints of /api/v1: each parses (done by the registry), checks that the
person may see the application at all (hall.access: else 404), calls one `Hall` service,
and answers its `ActionResult`."""

from __future__ import annotations

from flask import current_app

from hall import access
from hall.errors import AlreadyDecided, HallError, Invalid, NotFound
from hall.services import ActionResult, Decision, Hall
from web.api.messages import message
from web.api.registry import ApiCall
from web.api.routes import api
from web.api.schemas import (
    ActionResultOut,
    BatchDecisionIn,
    BatchDecisionOut,
    BatchItemOut,
    CcIn,
    CommentIn,
    DecisionIn,
    ResubmitIn,
    RevokeIn,
    SubmitIn,
    UrgeIn,
    WithdrawIn,
)

APPLICATION = "/applications/<int:application_id>"


def _hall(call: ApiCall) -> Hall:
    return Hall(call.db, clock=current_app.extensions.get("hall.clock"))


def _out(result: ActionResult) -> ActionResultOut:
    return ActionResultOut.model_validate(result.to_dict())


def _require_view(call: ApiCall, application_id: int) -> None:
    with call.db.reader() as session:
        access.require_view(session, call.person_id, application_id)


@api.route(
    "POST",
    "/applications",
    summary="提交申请 / 保存草稿",
    tag="applications",
    body=SubmitIn,
    response=ActionResultOut,
    status=201,
    idempotency=True,
    errors=(404, 409),
)
def submit_application(call: ApiCall) -> ActionResultOut:
    """Submit a new application (or a saved draft: `application_id`); `draft: true` saves."""
    body = call.body_as(SubmitIn)
    hall = _hall(call)
    if body.draft:
        result = hall.save_draft(
            call.person_id, body.process, body.form, application_id=body.application_id
        )
    else:
        result = hall.submit(
            call.person_id,
            body.process,
            body.form,
            application_id=body.application_id,
            idempotency_key=call.idempotency_key,
        )
    return _out(result)


@api.route(
    "POST",
    f"{APPLICATION}/resubmit",
    summary="重新提交",
    tag="applications",
    body=ResubmitIn,
    response=ActionResultOut,
    idempotency=True,
    errors=(409,),
)
def resubmit_application(call: ApiCall, application_id: int) -> ActionResultOut:
    """Resubmit a returned application with a corrected form."""
    _require_view(call, application_id)
    body = call.body_as(ResubmitIn)
    result = _hall(call).resubmit(
        call.person_id, application_id, body.form, idempotency_key=call.idempotency_key
    )
    return _out(result)


@api.route(
    "POST",
    f"{APPLICATION}/withdraw",
    summary="撤回",
    tag="applications",
    body=WithdrawIn,
    response=ActionResultOut,
    errors=(409,),
)
def withdraw_application(call: ApiCall, application_id: int) -> ActionResultOut:
    """Withdraw my application before any reviewer acted."""
    _require_view(call, application_id)
    comment = call.body_as(WithdrawIn).comment
    return _out(_hall(call).withdraw(call.person_id, application_id, comment=comment))


@api.route(
    "POST",
    f"{APPLICATION}/revoke",
    summary="撤销（通过后）",
    tag="applications",
    body=RevokeIn,
    response=ActionResultOut,
    errors=(409,),
)
def revoke_application(call: ApiCall, application_id: int) -> ActionResultOut:
    """Take back my approved application, within the process's `revoke_window_hours` of
    its result; the reason is required and reaches everyone who approved it."""
    _require_view(call, application_id)
    comment = call.body_as(RevokeIn).comment
    return _out(_hall(call).revoke(call.person_id, application_id, comment=comment))


@api.route(
    "POST",
    f"{APPLICATION}/urge",
    summary="催办",
    tag="applications",
    body=UrgeIn,
    response=ActionResultOut,
    errors=(409, 429),
)
def urge_application(call: ApiCall, application_id: int) -> ActionResultOut:
    """Remind the current reviewers of my pending application (at most once per interval)."""
    _require_view(call, application_id)
    return _out(_hall(call).urge(call.person_id, application_id))


@api.route(
    "POST",
    f"{APPLICATION}/comments",
    summary="评论",
    tag="applications",
    body=CommentIn,
    response=ActionResultOut,
    status=201,
    errors=(409,),
)
def comment_application(call: ApiCall, application_id: int) -> ActionResultOut:
    """Comment on an application I may see."""
    _require_view(call, application_id)
    text = call.body_as(CommentIn).body
    return _out(_hall(call).comment(call.person_id, application_id, text))


@api.route(
    "POST",
    f"{APPLICATION}/cc",
    summary="抄送",
    tag="applications",
    body=CcIn,
    response=ActionResultOut,
    errors=(409,),
)
def cc_application(call: ApiCall, application_id: int) -> ActionResultOut:
    """Let more people read the application (applicant or reviewers only)."""
    _require_view(call, application_id)
    body = call.body_as(CcIn)
    return _out(_hall(call).cc(call.person_id, application_id, body.userids, comment=body.comment))


@api.route(
    "POST",
    "/tasks/<int:task_id>/decision",
    summary="审批决定",
    tag="tasks",
    body=DecisionIn,
    response=ActionResultOut,
    idempotency=True,
    errors=(409,),
)
def decide_task(call: ApiCall, task_id: int) -> ActionResultOut:
    """Approve, reject, return, transfer or add a signer on my pending task.

    No read-side check first: the service answers 404 for any task not assigned to the
    caller, inside the same transaction that decides it."""
    body = call.body_as(DecisionIn)
    decision = Decision(
        action=body.action,
        comment=body.comment,
        return_to=body.return_to,
        target_userid=body.target,
        position=body.position,
        result=body.result,
        attachments=tuple(body.attachments),
    )
    try:
        result = _hall(call).decide(
            call.person_id, task_id, decision, idempotency_key=call.idempotency_key
        )
    except Invalid as exc:
        raise _renamed(exc, {"target_userid": "target"}) from None
    return _out(result)


@api.route(
    "POST",
    "/tasks/batch-decision",
    summary="批量同意",
    tag="tasks",
    body=BatchDecisionIn,
    response=BatchDecisionOut,
    idempotency=True,
)
def batch_decide(call: ApiCall) -> BatchDecisionOut:
    """Approve exactly the listed tasks, each in its own transaction; the answer says, per
    task, approved, already decided, or why not. A retry with the same Idempotency-Key
    approves nothing twice."""
    body = call.body_as(BatchDecisionIn)
    hall = _hall(call)
    items = []
    for task_id in dict.fromkeys(body.task_ids):
        key = f"api-batch:{call.idempotency_key}:{task_id}" if call.idempotency_key else None
        try:
            result = hall.decide(
                call.person_id,
                task_id,
                Decision(action="approve", comment=body.comment),
                idempotency_key=key,
            )
        except HallError as exc:
            outcome = "already_decided" if isinstance(exc, AlreadyDecided) else "failed"
            english = call.locale == "en" or isinstance(exc, NotFound)
            text = message(exc.code, call.locale) if english else exc.message
            items.append(
                BatchItemOut(task_id=task_id, outcome=outcome, code=exc.code, message=text)
            )
        else:
            items.append(
                BatchItemOut(
                    task_id=task_id,
                    outcome="approved",
                    message=message("approved", call.locale),
                    application_id=result.application_id,
                    serial=result.serial,
                )
            )
    return BatchDecisionOut(items=items)


def _renamed(exc: Invalid, names: dict[str, str]) -> Invalid:
    """The service's field names as this API's body spells them."""
    fields = exc.detail.get("fields")
    if not isinstance(fields, dict):
        return exc
    detail = {**exc.detail, "fields": {names.get(k, k): v for k, v in fields.items()}}
    return Invalid(exc.message, **detail)
