"""Declared state machines for applications and tasks.

States are enums; every change of state is a named transition with its allowed sources.
Models keep the status in a private column and expose it read-only, so the only way to
change it is `fire(obj, event)`; an undeclared move raises `IllegalTransition`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar, Generic, Protocol, TypeVar


class AppStatus(enum.StrEnum):
    DRAFT = "draft"
    PENDING = "pending"  # 审批中: some step is open
    RETURNED = "returned"  # 退回修改: waiting for the applicant to resubmit
    APPROVED = "approved"  # 已通过 / 已办结
    REJECTED = "rejected"  # 已驳回
    WITHDRAWN = "withdrawn"  # 已撤回: taken back before anyone acted
    REVOKED = "revoked"  # 已撤销: taken back after its approval, within the window


class TaskStatus(enum.StrEnum):
    WAITING = "waiting"  # not yet its turn (sequential, or behind an added signer)
    PENDING = "pending"  # 待办
    APPROVED = "approved"  # 同意 (or consent given, or handled)
    REJECTED = "rejected"  # 驳回
    RETURNED = "returned"  # 退回
    TRANSFERRED = "transferred"  # 转交: a new task carries on
    CANCELLED = "cancelled"  # closed by someone else's decision or a withdrawal
    SKIPPED = "skipped"  # passed automatically (applicant or repeated approver)
    NOTIFIED = "notified"  # 报备: a notify-only step, nothing to decide


OPEN_TASK_STATES = frozenset({TaskStatus.WAITING, TaskStatus.PENDING})
FINAL_APP_STATES = frozenset(
    {AppStatus.APPROVED, AppStatus.REJECTED, AppStatus.WITHDRAWN, AppStatus.REVOKED}
)

S = TypeVar("S", AppStatus, TaskStatus)


@dataclass(frozen=True, slots=True)
class Transition(Generic[S]):
    name: str
    sources: frozenset[S]
    target: S


class IllegalTransition(RuntimeError):
    """A transition was fired from a state that does not allow it."""


def _table(*rows: tuple[str, set[S], S]) -> dict[str, Transition[S]]:
    return {name: Transition(name, frozenset(src), dst) for name, src, dst in rows}


A = AppStatus
APP_TRANSITIONS: dict[str, Transition[AppStatus]] = _table(
    ("save_draft", {A.DRAFT}, A.DRAFT),
    ("submit", {A.DRAFT}, A.PENDING),
    ("resubmit", {A.RETURNED}, A.PENDING),
    ("approve", {A.PENDING}, A.APPROVED),
    ("reject", {A.PENDING}, A.REJECTED),
    ("return_to_applicant", {A.PENDING}, A.RETURNED),
    ("withdraw", {A.DRAFT, A.PENDING, A.RETURNED}, A.WITHDRAWN),
    # 撤销: the applicant takes back an approved application, within the process's window.
    ("revoke", {A.APPROVED}, A.REVOKED),
)

T = TaskStatus
TASK_TRANSITIONS: dict[str, Transition[TaskStatus]] = _table(
    ("activate", {T.WAITING}, T.PENDING),
    ("block", {T.PENDING}, T.WAITING),
    ("approve", {T.PENDING}, T.APPROVED),
    ("reject", {T.PENDING}, T.REJECTED),
    ("return", {T.PENDING}, T.RETURNED),
    ("transfer", {T.PENDING}, T.TRANSFERRED),
    ("cancel", {T.WAITING, T.PENDING}, T.CANCELLED),
    ("skip", {T.WAITING, T.PENDING}, T.SKIPPED),
    ("notify", {T.WAITING, T.PENDING}, T.NOTIFIED),
)


class _Stateful(Protocol[S]):
    TRANSITIONS: ClassVar[dict[str, Transition[S]]]

    @property
    def status(self) -> S: ...

    def _set_status(self, value: S) -> None: ...


def can_fire(obj: _Stateful[S], event: str) -> bool:
    transition = obj.TRANSITIONS.get(event)
    return transition is not None and obj.status in transition.sources


def fire(obj: _Stateful[S], event: str) -> Transition[S]:
    """Apply the declared transition `event` to obj, or raise IllegalTransition."""
    transition = obj.TRANSITIONS.get(event)
    if transition is None:
        raise IllegalTransition(f"{type(obj).__name__}: no transition named {event!r}")
    if obj.status not in transition.sources:
        raise IllegalTransition(f"{type(obj).__name__}: cannot {event} from {obj.status.value}")
    obj._set_status(transition.target)  # noqa: SLF001 - the one sanctioned writer
    return transition
