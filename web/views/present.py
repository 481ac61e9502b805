"""How read models are shown: the flow diagram's step states, timeline wording, waiting
times, masked names. Pure functions of `hall.queries` read models."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from hall.queries import ApplicationDetail, AttachmentOut, TaskOut, TimelineEntry
from hall.states import AppStatus, TaskStatus
from web.i18n import STATUS_LABELS, gettext


def status_word(detail: ApplicationDetail) -> str:
    """How the page names an application's status (zh_CN), where the status alone says too
    little: a service that was carried out reads 已办结."""
    status = detail.status.value
    if status == "approved" and any(step.kind == "handle" for step in detail.flow):
        return "已办结"
    return STATUS_LABELS[status]


# What each logged action is called on the page (zh_CN message ids); others are hidden.
ACTION_LABELS: dict[str, str] = {
    "save_draft": "保存了草稿",
    "submit": "提交了申请",
    "resubmit": "重新提交了申请",
    "approve": "同意",
    "handled": "办结",  # `approve` on a handling step, as `timeline` shows it
    "reject": "驳回",
    "return": "退回",
    "transfer": "转交",
    "add_signer": "加签",
    "withdraw": "撤回了申请",
    "revoke": "撤销了已通过的申请",
    "urge": "催办了",
    "remind": "超时提醒",  # the hall's own deadline reminder (hall/reminders.py)
    "reassign": "自动转交（原处理人已停用）",  # the hall's own hand-over (Flow.reassign)
    "admin_reassign": "改派",  # an administrator's (Hall.admin_reassign)
    "delegate": "委托转交（审批人外出）",  # the hall's own move (Flow.hand_to_delegate)
    "timeout_approve": "超时自动同意",  # the step's on_timeout (Flow.time_out)
    "timeout_reject": "超时自动驳回",
    "comment": "评论了",
    "cc": "抄送",
    "auto_pass": "自动通过",
    "notify": "已报备",
    "approved": "已通过",
    "rejected": "已驳回",
    "returned": "退回修改",
}

HANDLED = "handled"

KIND_LABELS = {"approval": "审批", "notify": "报备", "handle": "办理环节", "consent": "确认"}

PASSED = frozenset({TaskStatus.APPROVED, TaskStatus.NOTIFIED})


@dataclass(frozen=True)
class StepView:
    index: int
    name: str
    kind: str
    state: str  # passed, current, skipped, failed, returned, pending
    people: list[str]
    conditional: bool

    @property
    def state_label(self) -> str:
        return gettext(
            {
                "passed": "已通过",
                "current": "当前环节",
                "skipped": "已跳过",
                "failed": "未通过",
                "returned": "已退回",
                "pending": "未开始",
            }[self.state]
        )


def _step_state(
    detail: ApplicationDetail, index: int, tasks: list[TaskOut], skipped_steps: set[int]
) -> str:
    step = detail.current_step
    if detail.status == AppStatus.PENDING and step is not None and step.index == index:
        return "current"
    if tasks:
        statuses = {t.status for t in tasks}
        if TaskStatus.REJECTED in statuses:
            return "failed"
        if TaskStatus.RETURNED in statuses:  # sent back for changes: not a refusal
            return "returned"
        if statuses & PASSED:
            return "passed"
        if statuses <= {TaskStatus.SKIPPED}:
            return "skipped"
        if statuses & {TaskStatus.PENDING, TaskStatus.WAITING}:
            return "current"
        return "pending"
    return "skipped" if index in skipped_steps else "pending"


def flow_view(detail: ApplicationDetail) -> list[StepView]:
    """Each step of the application's flow with its state in the latest round."""
    skipped_steps = {
        e.step.index for e in detail.timeline if e.action == "skip_step" and e.step is not None
    }
    views = []
    for step in detail.flow:
        mine = [t for t in detail.tasks if t.step.index == step.index]
        latest = max((t.round for t in mine), default=0)
        current = [t for t in mine if t.round == latest]
        people = list(dict.fromkeys(t.assignee.name for t in current))
        views.append(
            StepView(
                index=step.index,
                name=step.name,
                kind=gettext(KIND_LABELS.get(step.kind, step.kind)),
                state=_step_state(detail, step.index, current, skipped_steps),
                people=people,
                conditional=step.conditional,
            )
        )
    return views


def timeline(detail: ApplicationDetail) -> list[TimelineEntry]:
    """The entries people read: who did what, when, with their comment. Passing a handling
    step reads 办结 rather than 同意."""
    handling = {s.index for s in detail.flow if s.kind == "handle"}
    shown: list[TimelineEntry] = []
    for e in detail.timeline:
        if e.action not in ACTION_LABELS:
            continue
        if shown and _echoes(e, shown[-1]):
            continue
        handled = e.action == "approve" and e.step is not None and e.step.index in handling
        shown.append(e.model_copy(update={"action": HANDLED}) if handled else e)
    return shown


# The application's own entry that a reviewer's decision causes, under the same name.
_ECHOES = {"rejected": "reject", "returned": "return"}


def _echoes(entry: TimelineEntry, before: TimelineEntry) -> bool:
    """Whether `entry` only repeats `before`: 驳回 then 已驳回 by the same person."""
    return (
        _ECHOES.get(entry.action) == before.action
        and entry.actor is not None
        and before.actor is not None
        and entry.actor.userid == before.actor.userid
    )


# The entries a decision's files are shown under (their actor made the decision).
DECISIONS = frozenset({"approve", HANDLED, "reject", "return", "transfer", "add_signer"})


def decision_files(
    entries: Iterable[TimelineEntry], attachments: Iterable[AttachmentOut]
) -> dict[int, list[AttachmentOut]]:
    """Timeline entry id → the files attached to that decision. Files are kept by task
    (field key `decision:<task id>`); a task decided twice (加签 before oneself, then 同意)
    shows them under its last decision."""
    by_task: dict[int, list[AttachmentOut]] = {}
    for a in attachments:
        prefix, _, task_id = (a.field or "").partition(":")
        if prefix == "decision" and task_id.isdigit():
            by_task.setdefault(int(task_id), []).append(a)
    last: dict[int, int] = {}
    for e in entries:
        if e.action in DECISIONS and e.actor is not None and e.task_id in by_task:
            last[e.task_id] = e.id
    return {entry_id: by_task[task_id] for task_id, entry_id in last.items()}


def action_label(action: str) -> str:
    return gettext(ACTION_LABELS.get(action, action))


def waiting(since: datetime | None, now: datetime) -> str:
    if since is None:
        return ""
    delta = max(now - since, timedelta(0))
    if delta < timedelta(hours=1):
        return gettext("{n}分钟", n=max(1, int(delta.total_seconds() // 60)))
    if delta < timedelta(days=1):
        return gettext("{n}小时", n=int(delta.total_seconds() // 3600))
    return gettext("{n}天", n=delta.days)


def mask_name(name: str) -> str:
    """王小丽 → 王*丽, 李明 → 李*, Alice → A***e."""
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
