"""The transactional outbox: actions write notification rows in their own transaction.

The engine queues its rows through `hall.appends` (`Flow.notify`: plain values, one INSERT
after the flush); `emit` adds one as an ORM object, for callers that need the row itself
(its id, say). The relay (hall/relay.py) later fans committed rows out into per-channel
deliveries on the queue.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hall.models import Outbox


class Kind:
    """Message kinds, the contract between the engine and the channels."""

    TASK_ASSIGNED = "task_assigned"  # a reviewer has a new to-do
    TASK_CANCELLED = "task_cancelled"  # someone else decided (any-of), or it was withdrawn
    APPLICATION_RESULT = "application_result"  # approved / rejected / returned / handled
    CC = "cc"  # 抄送
    URGE = "urge"  # 催办 reminder to the current reviewers
    STEP_NOTIFY = "step_notify"  # 报备: a notify-only step told this person
    FLAGGED = "flagged"  # the rule found nobody; the department administrator must act
    COMMENT = "comment"  # a new comment on an application the recipient follows
    # The recipient decided outside their WeCom card (web view, API): the card must say so.
    TASK_DECIDED = "task_decided"
    # An administrator's daily digest: to-dos of their services a day or more past the
    # time limit (hall/reminders.py); `count`, `since` (the oldest deadline, ISO).
    OVERDUE = "overdue"
    # The member wrote the app's chat something that is no command: the help card (WeCom
    # only; no application).
    HELP = "help"
    # The applicant took back an approved application (撤销): the approvers are told.
    REVOKED = "revoked"


def emit(
    session: Session,
    kind: str,
    *,
    recipient_id: int | None,
    application_id: int | None = None,
    task_id: int | None = None,
    **payload: Any,
) -> Outbox:
    """Queue a notification in the caller's transaction; it is sent only if that commits."""
    row = Outbox(
        kind=kind,
        recipient_id=recipient_id,
        application_id=application_id,
        task_id=task_id,
        payload=payload,
    )
    session.add(row)
    return row
