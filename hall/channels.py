"""Notification channels: the interface the delivery jobs send through, and the two built in.

A channel is a plain object with a `name` (stored on each Delivery, at most 20 characters),
`accepts(outbox)` (does this channel carry this message at all?) and `send(session, outbox)`
(deliver it or raise; raise `PermanentError` when retrying cannot help). Channels are built
by the composition root (web/worker.py) and collected in a `ChannelRegistry`; the relay fans
every outbox row out to each registered channel and the delivery job looks the channel up
by name. hall/ itself knows no transport: WeCom cards and SMS plug in from their packages.

`render` turns an outbox row into the zh_CN title and body people read, re-reading the
application, task and people by id. Payload keys it understands (all optional; those the
engine's `notify` adds are fallbacks for rows whose application is gone):
`title`, `serial`, `process`, `step`; `outcome` (application_result: approved / rejected /
returned / handled); `comment` (a decision's or CC's comment); `reason` (task_cancelled,
flagged: a zh_CN phrase such as "已由他人处理", "申请人已撤回"); `due_at` (ISO time of a to-do's
deadline); `overdue_since` (urge from the deadline timer: the deadline it passed);
`resubmitted` (task_assigned: the applicant resubmitted after a return); `signed_by`
(task_assigned: the signer added before this reviewer, who agreed); `returned_by` and
`return_reason` (task_assigned: a later step sent the application back, who and why);
`reassigned_from` (task_assigned: the reviewer who left, whose to-do this was);
`reassigned_by` (task_assigned: the administrator who gave it to this reviewer);
`delegated_from` (task_assigned: the reviewer who is away and delegated it); `by`
or `actor_id` (who urged, commented, CC'd, or rejected or returned); `body` or `comment_id`
(comment); `text` (kinds this module does not know).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from hall.models import Application, Comment, Notification, Outbox, Person, Task
from hall.outbox import Kind
from hall.processes import version_spec
from hall.services import handling_results, result_outcome
from hall.states import AppStatus

TITLE_MAX = 200  # Notification.title's column size
BODY_MAX = 2000  # long enough for any notice; comments are cut with an ellipsis
CHANNEL_NAME_MAX = 20  # Delivery.channel's column size
CHINA_TIME = timezone(timedelta(hours=8), "CST")  # times people read are Beijing time


class ChannelError(Exception):
    """A channel could not deliver now; the delivery is retried with backoff."""


class PermanentError(ChannelError):
    """A channel can never deliver this message (no such user, invalid payload): no retry."""


class Refused(PermanentError):
    """The far end refused this message for good (an SMS gateway's 'bad number'): no retry,
    but what the channel wrote about it (its log row, marked failed) is kept."""


class Deferred(ChannelError):
    """The far end asked us to wait (a rate limit): retry after `retry_after` seconds.

    Not a failure of the message: it never makes a delivery DEAD, however often it happens.
    """

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Channel(Protocol):
    """What the relay and the delivery job need from a channel."""

    @property
    def name(self) -> str: ...

    def accepts(self, outbox: Outbox) -> bool:
        """Whether this channel carries this message at all (otherwise: SKIPPED)."""
        ...

    def send(self, session: Session, outbox: Outbox) -> None:
        """Deliver the message, or raise (`PermanentError`: do not retry).

        `session` is the delivery job's transaction; writes made here commit together
        with the delivery's SENT state, and are rolled back if this raises (but for
        `Refused`, whose writes record the refusal and commit with the DEAD state).
        """
        ...


class ChannelRegistry:
    """The channels a hall delivers through, in registration order, unique by name."""

    def __init__(self, channels: Iterable[Channel] = ()) -> None:
        self._channels: dict[str, Channel] = {}
        for channel in channels:
            self.register(channel)

    def register(self, channel: Channel) -> None:
        name = channel.name
        if not name or len(name) > CHANNEL_NAME_MAX:
            raise ValueError(f"a channel name has 1 to {CHANNEL_NAME_MAX} characters: {name!r}")
        if name in self._channels:
            raise ValueError(f"channel {name!r} is registered twice")
        self._channels[name] = channel

    def get(self, name: str) -> Channel | None:
        return self._channels.get(name)

    @property
    def names(self) -> list[str]:
        return list(self._channels)

    def __iter__(self) -> Iterator[Channel]:
        return iter(self._channels.values())

    def __len__(self) -> int:
        return len(self._channels)


# --------------------------------------------------------------------- rendering


@dataclass(frozen=True, slots=True)
class Message:
    """What a person reads, channel-neutral: a title line and a short body."""

    title: str
    body: str


OUTCOME_PHRASES = {
    "approved": "已通过",
    "rejected": "已驳回",
    "returned": "被退回修改",
    "handled": "已办结",
    "withdrawn": "已撤回",
    "revoked": "已撤销",
}
_STATUS_OUTCOMES = {
    AppStatus.APPROVED: "approved",
    AppStatus.REJECTED: "rejected",
    AppStatus.RETURNED: "returned",
    AppStatus.WITHDRAWN: "withdrawn",
    AppStatus.REVOKED: "revoked",
}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class _Facts:
    """What the templates need, read by id; every field has a readable fallback."""

    title: str
    serial: str
    process: str
    applicant: str
    step: str
    actor: str


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    return value if isinstance(value, str) else ""


def _actor_name(session: Session, payload: dict[str, Any]) -> str:
    if name := _text(payload, "by"):
        return name
    person_id = payload.get("actor_id")
    who = session.get(Person, person_id) if isinstance(person_id, int) else None
    return who.name if who is not None else ""


def _step_name(app: Application | None, task: Task | None) -> str:
    if app is None or task is None:
        return ""
    for step in app.version.spec.get("flow", []):
        if isinstance(step, dict) and step.get("key") == task.step_key:
            return str(step.get("name", ""))
    return ""


def _facts(session: Session, outbox: Outbox) -> tuple[_Facts, Application | None]:
    payload = outbox.payload or {}
    app = session.get(Application, outbox.application_id) if outbox.application_id else None
    task = session.get(Task, outbox.task_id) if outbox.task_id else None
    if app is None and task is not None:
        app = task.application
    facts = _Facts(
        title=app.title if app else (_text(payload, "title") or "办件"),
        serial=app.serial if app else _text(payload, "serial"),
        process=app.version.name if app else _text(payload, "process"),
        applicant=app.applicant.name if app else "",
        step=_step_name(app, task) or _text(payload, "step"),
        actor=_actor_name(session, payload),
    )
    return facts, app


def result_of(app: Application, outcome: str) -> tuple[str, list[tuple[str, str]]]:
    """The outcome people read (a handled application's reads 已办结) and what its handling
    steps filled in, as (label, text) pairs."""
    spec = version_spec(app.version)
    return result_outcome(outcome, spec), handling_results(spec, app.result or {})


def _serial_note(facts: _Facts) -> str:
    return f"（办件编号 {facts.serial}）" if facts.serial else ""


def _outcome(outbox: Outbox, app: Application | None) -> str:
    outcome = (outbox.payload or {}).get("outcome")
    if isinstance(outcome, str) and outcome in OUTCOME_PHRASES:
        return outcome
    if app is not None and app.status in _STATUS_OUTCOMES:
        return _STATUS_OUTCOMES[app.status]
    return "handled"


def beijing(iso: str) -> str:
    """An ISO time with its zone as people read it (Beijing time), or "" if it is not one."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return ""
    if moment.tzinfo is None:
        return ""
    return f"{moment.astimezone(CHINA_TIME):%m月%d日 %H:%M}"


def _deadline(payload: dict[str, Any]) -> str:
    due = beijing(_text(payload, "due_at"))
    return f"请于{due}前处理。" if due else ""


def _render_task_assigned(outbox: Outbox, f: _Facts, _app: Application | None) -> Message:
    payload = outbox.payload or {}
    again = bool(payload.get("resubmitted"))
    who = f"{f.applicant}{'修改后重新提交' if again else '提交'}的" if f.applicant else ""
    what = f"「{f.process}」" if f.process else "申请"
    step = f"当前环节：{f.step}。" if f.step else ""
    signer = _text(payload, "signed_by")
    signed = f"您加签的{signer}已同意。" if signer else ""
    gone = _text(payload, "reassigned_from")
    if gone:
        signed += f"原处理人{gone}已停用，转由您处理。"
    if away := _text(payload, "delegated_from"):
        signed += f"{away}外出期间委托您处理。"
    if admin := _text(payload, "reassigned_by"):
        signed += f"{admin}将此待办改派给您。"
    back = _text(payload, "returned_by")
    if back:
        reason = _text(payload, "return_reason")
        signed += f"{back}退回：{sentence(reason)}" if reason else f"{back}退回，请重新处理。"
    return Message(
        f"您有一条新的待办：{f.title}",
        f"{who}{what}{_serial_note(f)}等待您处理。{signed}{step}{_deadline(payload)}",
    )


def sentence(text: str) -> str:
    """`text` ended with a full stop unless it already ends a sentence."""
    text = text.strip()
    return text if not text or text[-1] in "。！？.!?" else f"{text}。"


def decided_where(f: _Facts) -> str:
    """The step a rejection or return came from, and who made it: 辅导员审批（姚鹏）."""
    if not f.step:
        return ""
    return f"{f.step}（{f.actor}）" if f.actor else f.step


def result_step(session: Session, outbox: Outbox) -> str:
    """`decided_where` for an application_result row (empty for an approval)."""
    facts, _app = _facts(session, outbox)
    return decided_where(facts)


def _render_result(outbox: Outbox, f: _Facts, app: Application | None) -> Message:
    outcome = _outcome(outbox, app)
    results: list[tuple[str, str]] = []
    if app is not None:
        outcome, results = result_of(app, outcome)
    comment = (outbox.payload or {}).get("comment")
    lines = [f"办件编号 {f.serial}。" if f.serial else ""]
    lines.extend(f"{label}：{text}。" for label, text in results)
    if outcome in {"rejected", "returned"} and (where := decided_where(f)):
        lines.append(f"处理环节：{where}。")
    if isinstance(comment, str) and comment:
        label = "退回原因" if outcome == "returned" else "审批意见"
        lines.append(f"{label}：{sentence(comment)}")
    if outcome == "returned":
        lines.append("请修改后重新提交。")
    return Message(f"您的申请{OUTCOME_PHRASES[outcome]}：{f.title}", "".join(lines))


def _render_cc(outbox: Outbox, f: _Facts, _app: Application | None) -> Message:
    whose = f"{f.applicant}的" if f.applicant else ""
    by = f"{f.actor}将" if f.actor else ""
    comment = _text(outbox.payload or {}, "comment")
    note = f"附言：{comment}" if comment else ""
    return Message(
        f"抄送：{whose}申请「{f.title}」",
        f"{by}「{f.process or f.title}」{_serial_note(f)}抄送给您，仅供知悉。{note}",
    )


def _render_urge(outbox: Outbox, f: _Facts, _app: Application | None) -> Message:
    since = beijing(_text(outbox.payload or {}, "overdue_since"))  # the deadline timer's
    if since and not f.actor:
        return Message(
            f"超时提醒：请尽快处理「{f.title}」",
            f"此申请已超过办理时限（{since}），请尽快处理{_serial_note(f)}。",
        )
    by = f"{f.actor}催办了此申请，" if f.actor else "此申请已等待较长时间，"
    return Message(f"催办：请尽快处理「{f.title}」", f"{by}请尽快处理{_serial_note(f)}。")


def _render_step_notify(_outbox: Outbox, f: _Facts, _app: Application | None) -> Message:
    whose = f"{f.applicant}的" if f.applicant else ""
    return Message(
        f"报备：{f.title}",
        f"{whose}「{f.process or f.title}」{_serial_note(f)}已报备给您，无需审批。",
    )


WITHDRAWN_REASONS = frozenset({"withdrawn", "申请人已撤回"})
HANDLED_ELSEWHERE_REASONS = frozenset({"", "已由他人处理"})


def _render_cancelled(outbox: Outbox, f: _Facts, _app: Application | None) -> Message:
    reason = _text(outbox.payload or {}, "reason")
    if reason in WITHDRAWN_REASONS:
        return Message(
            f"申请已撤回：{f.title}", f"申请人已撤回此申请{_serial_note(f)}，您无需再处理。"
        )
    if label := _text(outbox.payload or {}, "label"):  # the hall decided it (超时自动同意)
        return Message(f"待办{label}：{f.title}", f"{reason}{_serial_note(f)}，您无需再处理。")
    if reason in HANDLED_ELSEWHERE_REASONS:
        by = f"（{f.actor}）" if f.actor else ""
        return Message(
            f"待办已由他人处理：{f.title}",
            f"此待办{_serial_note(f)}已由他人{by}处理，您无需再处理。",
        )
    return Message(f"待办已取消：{f.title}", f"{reason}{_serial_note(f)}，此待办无需再处理。")


def _render_flagged(outbox: Outbox, f: _Facts, _app: Application | None) -> Message:
    step = f"「{f.step}」环节" if f.step else "审批环节"
    reason = _text(outbox.payload or {}, "reason") or "按规则未找到审批人"
    return Message(
        f"办件需要您处理：{f.title}",
        f"{step}{reason}{_serial_note(f)}，请指定处理人或直接处理。",
    )


def _render_comment(session: Session, outbox: Outbox, f: _Facts) -> Message:
    payload = outbox.payload or {}
    comment_id = payload.get("comment_id")
    comment = session.get(Comment, comment_id) if isinstance(comment_id, int) else None
    author = comment.author.name if comment else f.actor
    text = comment.body if comment else (_text(payload, "body") or _text(payload, "comment"))
    body = f"{author}：{text}" if author else text
    return Message(f"新评论：{f.title}", body)


def _render_overdue(outbox: Outbox, _f: _Facts, _app: Application | None) -> Message:
    payload = outbox.payload or {}
    count = payload.get("count")
    since = beijing(_text(payload, "since"))
    oldest = f"最早的已于{since}超时。" if since else ""
    return Message(
        f"超时待办：{count}件",
        f"您管理的事项中有{count}件待办已超过办理时限一天以上。{oldest}"
        "请在「办件监控」中查看，必要时改派。",
    )


def _render_revoked(outbox: Outbox, f: _Facts, _app: Application | None) -> Message:
    reason = _text(outbox.payload or {}, "comment")
    why = f"撤销原因：{sentence(reason)}" if reason else ""
    who = f.applicant or "申请人"
    what = f"「{f.process or f.title}」{_serial_note(f)}"
    return Message(
        f"申请已撤销：{f.title}", f"{who}撤销了已通过的{what}，原审批结果不再有效。{why}"
    )


def _render_help(_outbox: Outbox, _f: _Facts, _app: Application | None) -> Message:
    return Message("使用帮助", "")  # only logged: the card itself is built by the WeCom channel


_TEMPLATES = {
    Kind.TASK_ASSIGNED: _render_task_assigned,
    Kind.APPLICATION_RESULT: _render_result,
    Kind.CC: _render_cc,
    Kind.URGE: _render_urge,
    Kind.STEP_NOTIFY: _render_step_notify,
    Kind.TASK_CANCELLED: _render_cancelled,
    Kind.FLAGGED: _render_flagged,
    Kind.OVERDUE: _render_overdue,
    Kind.HELP: _render_help,
    Kind.REVOKED: _render_revoked,
}


def render(session: Session, outbox: Outbox) -> Message:
    """The zh_CN title and body for an outbox row, read fresh from the database."""
    facts, app = _facts(session, outbox)
    if outbox.kind == Kind.COMMENT:
        message = _render_comment(session, outbox, facts)
    elif (template := _TEMPLATES.get(outbox.kind)) is not None:
        message = template(outbox, facts, app)
    else:
        text = (outbox.payload or {}).get("text")
        message = Message("您有一条新消息", str(text) if text else facts.title)
    return Message(_cut(message.title, TITLE_MAX), _cut(message.body, BODY_MAX))


# ---------------------------------------------------------------------- channels


# TASK_DECIDED only corrects the decider's WeCom card and HELP answers a WeCom chat message:
# neither is news for the hall's own message list.
WECOM_ONLY = frozenset({Kind.TASK_DECIDED, Kind.HELP})


class InAppChannel:
    """The hall's own to-do and notice lists: one Notification row per message."""

    name = "inapp"

    def accepts(self, outbox: Outbox) -> bool:
        return outbox.recipient_id is not None and outbox.kind not in WECOM_ONLY

    def send(self, session: Session, outbox: Outbox) -> None:
        if outbox.recipient_id is None:
            raise PermanentError("an in-app notice needs a recipient")
        already = session.scalar(select(Notification.id).where(Notification.outbox_id == outbox.id))
        if already is not None:
            return  # a retried job after a commit we did not hear about: never twice
        message = render(session, outbox)
        session.add(
            Notification(
                person_id=outbox.recipient_id,
                kind=outbox.kind,
                title=message.title,
                body=message.body,
                application_id=outbox.application_id,
                outbox_id=outbox.id,
            )
        )
        session.flush()


class LogChannel:
    """One structured line per message on the `hall.deliver` logger (audit, development)."""

    name = "log"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("hall.deliver")

    def accepts(self, outbox: Outbox) -> bool:  # noqa: ARG002 - every message is logged
        return True

    def send(self, session: Session, outbox: Outbox) -> None:
        message = render(session, outbox)
        recipient = session.get(Person, outbox.recipient_id) if outbox.recipient_id else None
        fields = {
            "outbox_id": outbox.id,
            "kind": outbox.kind,
            "recipient": recipient.userid if recipient else None,
            "application_id": outbox.application_id,
            "task_id": outbox.task_id,
            "title": message.title,
        }
        self.logger.info(
            "deliver %s", json.dumps(fields, ensure_ascii=False), extra={"hall": fields}
        )
