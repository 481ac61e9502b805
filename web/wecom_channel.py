"""The WeCom card channel: outbox rows become template cards in the reviewer's WeCom.

| outbox kind          | what the recipient gets                                          |
|----------------------|------------------------------------------------------------------|
| `task_assigned`      | the reviewer's button card (同意 / 驳回 / 退回, 转交 when allowed;  |
|                      | a handling step: 办结, or a 去办理 link when it asks for fields;  |
|                      | a consent: 同意 / 不同意)                                          |
| `urge`               | a fresh reviewer card marked 【催办】 (the old one may be buried); |
|                      | the old card turns into 请在新卡片处理                              |
| `task_cancelled`     | the reviewer's card turns into "已由他人处理" / "申请人已撤回"       |
|                      | (`update_template_card`); a notice card when the code is spent   |
| `application_result` | the applicant's result card (text_notice)                        |
| `cc`                 | a CC notice card                                                 |
| `task_decided`       | the decider's own card shows "已同意"/… after a web-view decision  |
| `overdue`            | an administrator's digest of overdue to-dos, opening 办件监控       |
| `help`               | the help card answering a chat message that is no command        |
| `revoked`            | an approver's notice: the applicant took the approval back (撤销)  |

Cards are built by `cards/` from plain views read here; the WeCom client is `wework/`'s.
The card's `task_id` and `response_code` are stored on the Task (in the delivery job's
transaction), so a later update can reach exactly that card. Off-campus people have no WeCom
account: their messages are skipped here (SMS and the in-app list carry them).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from cards import (
    Candidate,
    HelpLinks,
    LinkBuilder,
    NoticeView,
    Reminder,
    ReplaceName,
    ReviewView,
    Row,
    cc_card,
    handled_elsewhere_card,
    help_card,
    overdue_digest_card,
    result_card,
    review_card,
    revoked_card,
)
from config import Settings
from hall import queries
from hall.channels import (
    OUTCOME_PHRASES,
    Deferred,
    PermanentError,
    beijing,
    result_of,
    result_step,
)
from hall.clock import Clock, SystemClock
from hall.definitions import FieldType, ProcessSpec
from hall.models import Application, Outbox, Person, PersonKind, PersonStatus, Task
from hall.outbox import Kind
from hall.processes import version_spec
from hall.queries import count_todo
from hall.services import display_value
from hall.states import TaskStatus
from wework.client import WeComClient, app_client
from wework.errors import RateLimited, WeComError, WeComUnavailable

log = logging.getLogger("hall.deliver.wecom")

CARRIED = frozenset(
    {
        Kind.TASK_ASSIGNED,
        Kind.URGE,
        Kind.TASK_CANCELLED,
        Kind.TASK_DECIDED,
        Kind.APPLICATION_RESULT,
        Kind.CC,
        Kind.OVERDUE,
        Kind.HELP,
        Kind.REVOKED,
    }
)
# WeCom errcodes after which sending the same message again cannot help.
HOPELESS = frozenset({81013, 60111, 40058, 40003, 60011, 82001})
MAX_CANDIDATES = 10
FALLBACK_ROWS = 3  # rows shown when a process marks no key fields


def _result_card(view: NoticeView, outcome: str) -> dict[str, Any]:
    phrase = OUTCOME_PHRASES.get(outcome, OUTCOME_PHRASES["handled"])
    return result_card(view, outcome=outcome, phrase=phrase)


class WeComCardChannel:
    """Delivers outbox rows as WeCom template cards through the hall's app."""

    name = "wecom"

    def __init__(self, client: WeComClient, links: LinkBuilder, clock: Clock | None = None) -> None:
        self.client = client
        self.links = links
        self.clock: Clock = clock or SystemClock()

    @property
    def _help_links(self) -> HelpLinks:
        return HelpLinks(
            todo=self.links.todo(),
            applications=self.links.my_applications(),
            home=self.links.home(),
        )

    @classmethod
    def from_settings(cls, settings: Settings, connection: redis.Redis) -> WeComCardChannel:
        return cls(app_client(settings, connection), LinkBuilder(settings.base_url))

    def accepts(self, outbox: Outbox) -> bool:
        return outbox.kind in CARRIED and outbox.recipient_id is not None

    def send(self, session: Session, outbox: Outbox) -> None:
        try:
            self._deliver(session, outbox)
        except RateLimited as exc:
            # WeCom's 45009/45033 or the per-member limit: wait as told, never give up on it.
            raise Deferred(str(exc), retry_after=exc.retry_after) from exc

    def _deliver(self, session: Session, outbox: Outbox) -> None:
        recipient = session.get(Person, outbox.recipient_id) if outbox.recipient_id else None
        if recipient is None:
            raise PermanentError("the recipient does not exist")
        if recipient.kind == PersonKind.OFFCAMPUS or recipient.status != PersonStatus.ACTIVE:
            log.info("outbox %s: %s has no WeCom account, skipped", outbox.id, recipient.userid)
            return
        payload = outbox.payload or {}
        if outbox.kind == Kind.OVERDUE:  # about many applications: opens 办件监控
            since = beijing(str(payload.get("since") or ""))
            count = int(payload.get("count") or 0)
            url = self.links.overdue_monitor()
            self._send(recipient, overdue_digest_card(count=count, since=since, monitor_url=url))
            return
        if outbox.kind == Kind.HELP:  # counted when sent: the figure is fresh on arrival
            self._send(
                recipient,
                help_card(pending=count_todo(session, recipient.id), links=self._help_links),
            )
            return
        task = session.get(Task, outbox.task_id) if outbox.task_id else None
        app = session.get(Application, outbox.application_id) if outbox.application_id else None
        if app is None and task is not None:
            app = task.application
        if app is None:
            raise PermanentError(f"outbox {outbox.id} names no application")
        if outbox.kind in {Kind.TASK_ASSIGNED, Kind.URGE}:
            self._review(session, outbox, recipient, app, task)
        elif outbox.kind == Kind.TASK_CANCELLED:
            self._cancelled(
                recipient,
                app,
                task,
                str(payload.get("reason", "")),
                moved=bool(payload.get("to")),
                label=str(payload.get("label") or ""),
            )
        elif outbox.kind == Kind.TASK_DECIDED:
            self._decided(recipient, app, task, str(payload.get("label") or ""))
        elif outbox.kind == Kind.APPLICATION_RESULT:
            # What handling steps filled in (处理结果, a pickup code ...) is what the
            # applicant waits for: it goes on the card, which then reads 已办结.
            outcome, results = result_of(app, str(payload.get("outcome") or "handled"))
            rows = [Row(label, text) for label, text in results]
            if outcome in {"rejected", "returned"} and (where := result_step(session, outbox)):
                rows.append(Row("处理环节", where))  # which step said no, and who
            view = self._notice_view(app, comment=str(payload.get("comment") or ""), rows=rows)
            self._send(recipient, _result_card(view, outcome))
        elif outbox.kind == Kind.REVOKED:
            view = self._notice_view(app, comment=str(payload.get("comment") or ""))
            self._send(recipient, revoked_card(view, applicant_name=app.applicant.name))
        else:
            view = self._notice_view(app, comment=str(payload.get("comment") or ""))
            card = cc_card(view, applicant_name=app.applicant.name, by=str(payload.get("by") or ""))
            self._send(recipient, card)

    # ------------------------------------------------------------------ kinds

    def _review(
        self,
        session: Session,
        outbox: Outbox,
        recipient: Person,
        app: Application,
        task: Task | None,
    ) -> None:
        if task is None or task.status != TaskStatus.PENDING or task.assignee_id != recipient.id:
            log.info("outbox %s: task no longer pending, no card", outbox.id)
            return
        spec = version_spec(app.version)
        step = spec.flow[task.step_index]
        candidates = self._candidates(session, recipient, app) if step.allow_transfer else ()
        payload = outbox.payload or {}
        view = ReviewView(
            task_id=task.id,
            round=task.round,
            process_name=spec.name,
            serial=app.serial,
            applicant_name=app.applicant.name,
            applicant_department=app.department.name if app.department else "",
            step_name=step.name,
            detail_url=self.links.application(app.id),
            rows=key_rows(spec, app.form, session),
            allow_return=step.allow_return,
            transfer_candidates=candidates,
            kind=step.kind.value,
            fill_in=step.asks_for_results,
            resubmitted=bool(payload.get("resubmitted")),
            signed_by=str(payload.get("signed_by") or ""),
            return_url=self.links.return_form(app.id),
            returned_by=str(payload.get("returned_by") or ""),
            return_reason=str(payload.get("return_reason") or ""),
            reassigned_from=str(payload.get("reassigned_from") or ""),
            reassigned_by=str(payload.get("reassigned_by") or ""),
            delegated_from=str(payload.get("delegated_from") or ""),
        )
        reminder = None
        if outbox.kind == Kind.URGE:
            by = str(payload.get("by") or "")
            now = self.clock.now()
            since = task.activated_at or task.created_at
            waited = int((now - since).total_seconds() // 3600)
            late = int((now - task.due_at).total_seconds() // 3600) if task.due_at else 0
            reminder = Reminder(by, max(waited, 0), max(late, 0))
        nonce = f"o{outbox.id}{secrets.token_hex(4)}"
        card = review_card(view, nonce=nonce, reminder=reminder)
        result = self._send(recipient, card)
        if task.card_task_id and task.card_response_code:
            self._supersede(recipient, task.card_task_id, task.card_response_code)
        task.card_task_id = card["task_id"]
        task.card_response_code = result
        session.flush()

    def _supersede(self, recipient: Person, card_task_id: str, code: str) -> None:
        """Grey out the task's earlier card once a 【催办】 card replaced it: only the newest
        card's code is kept, so the old one's buttons could never be updated after the
        decision. Cosmetic and after the new card is out: no failure here may fail (and so
        resend) the delivery."""
        try:
            self.client.message.update_template_card(
                code, userids=[recipient.userid], replace_name=ReplaceName.SUPERSEDED.value
            )
        except WeComError as exc:  # RateLimited and WeComUnavailable included
            log.info("card %s: not greyed out (%s)", card_task_id, exc)

    def _cancelled(
        self,
        recipient: Person,
        app: Application,
        task: Task | None,
        reason: str,
        *,
        moved: bool,
        label: str = "",
    ) -> None:
        """`moved`: the to-do went to someone else (a delegate), not decided by them;
        `label`: what the button turns into instead (超时自动同意: the hall decided)."""
        withdrawn = reason == "withdrawn" or "撤回" in reason
        name = ReplaceName.WITHDRAWN if withdrawn else ReplaceName.HANDLED_ELSEWHERE
        if moved and not withdrawn:
            name = ReplaceName.TRANSFERRED
        if task is None or not task.card_task_id:
            return  # this reviewer never got a card: nothing on their phone to correct
        if not self._replace_button(recipient, task, label or name.value):
            view = self._notice_view(app, comment="" if withdrawn else reason)
            title = f"待办{label}" if label else ""
            self._send(recipient, handled_elsewhere_card(view, withdrawn=withdrawn, title=title))

    def _decided(self, recipient: Person, app: Application, task: Task | None, label: str) -> None:
        """The reviewer decided in the web view: their card must not stay clickable."""
        if task is None or not task.card_task_id:
            return
        label = label or ReplaceName.HANDLED.value
        if not self._replace_button(recipient, task, label):
            view = self._notice_view(app, comment=f"您已在网页端处理：{label}")
            self._send(recipient, _result_card(view, "handled"))

    def _replace_button(self, recipient: Person, task: Task, label: str) -> bool:
        """Turn the card's buttons into `label`; False when its response code is spent
        or expired (single use, 72 h), so the caller sends a notice instead."""
        code = task.card_response_code
        task.card_response_code = None  # a response code works once, whatever happens
        if not code:
            return False
        try:
            self.client.message.update_template_card(
                code, userids=[recipient.userid], replace_name=label
            )
        except (RateLimited, WeComUnavailable):
            task.card_response_code = code  # not used up: the retry may still use it
            raise
        except WeComError as exc:
            log.info("card %s: update refused (%s), sending a notice", task.card_task_id, exc)
            return False
        return True

    # ---------------------------------------------------------------- helpers

    def _send(self, recipient: Person, card: dict[str, Any]) -> str | None:
        """Send one card; the response code of an interactive card, or None."""
        try:
            result = self.client.message.send_template_card([recipient.userid], card)
        except (RateLimited, WeComUnavailable):
            raise
        except WeComError as exc:
            if exc.errcode in HOPELESS:
                raise PermanentError(str(exc)) from exc
            raise
        if result.deferred_users:
            raise RateLimited(
                None, "per-member message limit reached", retry_after=result.retry_after
            )
        if recipient.userid.lower() in {u.lower() for u in result.invalid_users}:
            raise PermanentError(f"{recipient.userid} is not a member WeCom can reach")
        return result.response_code

    def _notice_view(
        self, app: Application, *, comment: str, rows: list[Row] | None = None
    ) -> NoticeView:
        return NoticeView(
            title=app.title,
            process_name=app.version.name,
            serial=app.serial,
            detail_url=self.links.application(app.id),
            rows=tuple(rows or ()),
            comment=comment,
        )

    @staticmethod
    def _candidates(session: Session, reviewer: Person, app: Application) -> tuple[Candidate, ...]:
        """Colleagues in the reviewer's department a task may be transferred to."""
        if reviewer.department_id is None:
            return ()
        people = session.scalars(
            select(Person)
            .where(
                Person.department_id == reviewer.department_id,
                Person.id.not_in([reviewer.id, app.applicant_id]),
                Person.kind == PersonKind.STAFF,
                Person.status == PersonStatus.ACTIVE,
            )
            .order_by(Person.name, Person.id)
            .limit(MAX_CANDIDATES)
        ).all()
        return tuple(Candidate(p.userid, p.name) for p in people)


def key_rows(spec: ProcessSpec, form: dict[str, Any], session: Session) -> list[Row]:
    """The form's key fields as card rows (or its first few fields when none is marked);
    a person field reads as the person's name."""
    fields = [f for f in spec.form if f.type != FieldType.ATTACHMENT]
    marked = [f for f in fields if f.key_field] or fields[:FALLBACK_ROWS]
    shown = [f for f in marked if f.key in form]
    people = queries.person_labels(
        session, [form[f.key] for f in shown if f.type == FieldType.PERSON]
    )
    return [Row(f.label, display_value(f, form.get(f.key), people) or "—") for f in shown]
