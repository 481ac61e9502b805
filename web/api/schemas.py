"""Request and response models of /api/v1 that are not read models of `hall.queries`.

Request bodies are strict (no unknown fields, no type coercion: `"5"` is not a number);
query strings are parsed leniently (they are always text) but equally closed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hall.definitions import DECISION_FILES, KEY_RE
from hall.queries import MAX_PAGE, MAX_PER_PAGE
from hall.states import AppStatus

MAX_ID = 2**63 - 1  # BIGINT: a larger id cannot exist, and must not reach the database
MAX_FORM_FIELDS = 200
MAX_COMMENT = 2000
MAX_BATCH = 100  # tasks in one batch approval, as on the 待办 page
MAX_DECISION_FILES = DECISION_FILES.max_files
Userid = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------------ query


class Paging(Query):
    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    per_page: int = Field(default=20, ge=1, le=MAX_PER_PAGE)


class ProcessesQuery(Query):
    category: str | None = Field(default=None, max_length=32)
    department: str | None = Field(default=None, max_length=32, description="a department code")
    q: str | None = Field(default=None, max_length=100, description="words of the name")


class ApplicationsQuery(Paging):
    status: AppStatus | None = None
    process: str | None = Field(default=None, max_length=64, description="a process key")


class TasksQuery(Paging):
    state: Literal["todo", "done"] = Field(default="todo", description="待办 or 已办")


class NotificationsQuery(Paging):
    unread: bool = Field(default=False, description="only unread notices")


# ------------------------------------------------------------------------- body


class SubmitIn(Body):
    process: str = Field(pattern=KEY_RE, description="the process key")
    form: dict[str, Any] = Field(default_factory=dict, max_length=MAX_FORM_FIELDS)
    draft: bool = Field(default=False, description="save a draft instead of submitting")
    application_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="a draft of mine to update or submit"
    )


class ResubmitIn(Body):
    form: dict[str, Any] = Field(max_length=MAX_FORM_FIELDS)


class WithdrawIn(Body):
    comment: str | None = Field(default=None, max_length=500)


class RevokeIn(Body):
    comment: str = Field(min_length=1, max_length=500, description="撤销原因")


class UrgeIn(Body):
    """No fields: an empty body or `{}`."""


class CommentIn(Body):
    body: str = Field(min_length=1, max_length=MAX_COMMENT)


class CcIn(Body):
    userids: list[Userid] = Field(min_length=1, max_length=50)
    comment: str | None = Field(default=None, max_length=500)


class DecisionIn(Body):
    action: Literal["approve", "reject", "return", "transfer", "add_signer"]
    comment: str | None = Field(
        default=None,
        max_length=MAX_COMMENT,
        description="required to return (the reason: what needs to change)",
    )
    return_to: str | None = Field(
        default=None, max_length=64, description='"applicant" or the key of an earlier step'
    )
    target: str | None = Field(
        default=None, max_length=64, description="transfer / add_signer: the target's userid"
    )
    position: Literal["before", "after"] = Field(default="after", description="add_signer")
    result: dict[str, Any] | None = Field(
        default=None, max_length=MAX_FORM_FIELDS, description="handling steps' result fields"
    )
    attachments: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(
        default_factory=list,
        max_length=MAX_DECISION_FILES,
        description="ids of my uploads for field decision_files (POST /attachments)",
    )


class BatchDecisionIn(Body):
    """同意 exactly these tasks of mine, each on its own (one failing stops none)."""

    task_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(
        min_length=1, max_length=MAX_BATCH, description="my pending tasks to approve"
    )
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)


class BatchItemOut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: int
    outcome: Literal["approved", "already_decided", "failed"]
    code: str | None = Field(default=None, description="the error code when not approved")
    message: str
    application_id: int | None = None
    serial: str | None = None


class BatchDecisionOut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    items: list[BatchItemOut] = Field(description="one per task id, in the order given")


class ReadIn(Body):
    """No fields: an empty body or `{}`."""


# --------------------------------------------------------------------- response


class ActionResultOut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    application_id: int
    serial: str
    status: AppStatus
    task_id: int | None = None
    task_status: str | None = None
    message: str = ""
    replayed: bool = Field(
        default=False, description="answered from an earlier request with the same key"
    )


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(description="stable: not_found, invalid, conflict, already_decided, ...")
    message: str
    fields: dict[str, str] | None = Field(default=None, description="per-field messages")


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    error: ErrorDetail
