"""Flow progression: steps, tasks and their decisions on one locked application.

A `Flow` works inside the caller's unit of work on an application row the caller has
locked. It changes statuses only through `hall.states.fire`, writes an `ActionLog` row for
everything it does and queues notifications as outbox rows (both with `hall.appends`), all
in the caller's transaction. It imports no web, queue or WeCom code.

Vocabulary:
- a step's *round* is one activation of it (the first pass, or a re-run after a return);
- a *slot* is one original task of a round (origin FLOW or FALLBACK) with the tasks that
  descend from it through transfers and added signers. In an any-of step the first slot
  that decides wins; in an all-of step every slot must end approved.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hall.appends import append
from hall.conditions import ApplicantFacts, Facts, describe, evaluate
from hall.definitions import (
    Mode,
    ProcessSpec,
    Step,
    StepKind,
    TimeoutAction,
    condition_subjects,
)
from hall.errors import Conflict, Invalid, ResultInvalid
from hall.forms import SessionReferences, validate_form
from hall.models import (
    ActionLog,
    Application,
    Base,
    Follower,
    Outbox,
    Person,
    PersonStatus,
    Task,
    TaskOrigin,
)
from hall.outbox import Kind
from hall.processes import version_spec
from hall.resolve import (
    Assignee,
    applicant_facts,
    delegate,
    fallback_people,
    not_own_approver,
    resolve_rule,
)
from hall.states import FINAL_APP_STATES, OPEN_TASK_STATES, AppStatus, TaskStatus, fire

SCHOOL_TZ = ZoneInfo("Asia/Shanghai")
PASSED_TASK_STATES = frozenset({TaskStatus.APPROVED, TaskStatus.SKIPPED, TaskStatus.NOTIFIED})
# What counts as "a reviewer acted" for the withdraw window (auto-passes and 报备 do not).
REVIEWER_ACTIONS = frozenset({"approve", "reject", "return", "transfer", "add_signer"})
APPLICANT_ENTRIES = frozenset({"submit", "resubmit"})
ROOT_ORIGINS = frozenset({TaskOrigin.FLOW, TaskOrigin.FALLBACK})


def local_date(moment: datetime) -> date:
    """The school's calendar day of an aware moment."""
    return moment.astimezone(SCHOOL_TZ).date()


def _name(person: Person | None) -> str | None:
    return person.name if person is not None else None


def returnable_indexes(
    kinds: Sequence[str], tasks: Iterable[tuple[int, str]], before: int
) -> list[int]:
    """The earlier steps a task of step `before` may send the application back to.

    A step qualifies when someone reviewed it: a notify-only step decides nothing, and a
    step whose every task passed automatically (the applicant, a repeated approver) would
    only pass again at once. `kinds` are the flow's step kinds, `tasks` (step index,
    status) pairs of the application's tasks. The web view offers exactly these.
    """
    reviewed = {i for i, status in tasks if i < before and status != TaskStatus.SKIPPED}
    return [i for i in sorted(reviewed) if kinds[i] != StepKind.NOTIFY]


@dataclass
class Flow:
    """The engine bound to one locked application for one action."""

    session: Session
    app: Application
    now: datetime
    # The applicant resubmitted after a return: the reviewers' new to-dos say so.
    resubmitted: bool = False
    # What the to-dos this action opens tell their reviewers about how they came: who sent
    # the application back and why (returned_by, return_reason), whose to-do this was
    # (reassigned_from), which administrator gave it (reassigned_by). Payload keys of
    # task_assigned, see hall.channels.
    handover: dict[str, str] | None = None

    def __post_init__(self) -> None:
        self.spec: ProcessSpec = version_spec(self.app.version)
        self.tasks: list[Task] = self.app.tasks  # loaded once, kept current by appends

    # ------------------------------------------------------------ plumbing

    def log(
        self,
        action: str,
        *,
        actor_id: int | None = None,
        task: Task | None = None,
        step_index: int | None = None,
        from_status: str | None = None,
        to_status: str | None = None,
        comment: str | None = None,
        **detail: Any,
    ) -> None:
        if step_index is None and task is not None:
            step_index = task.step_index
        self._append(
            ActionLog,
            task,
            actor_id=actor_id,
            action=action,
            step_index=step_index,
            from_status=from_status,
            to_status=to_status,
            comment=comment,
            detail=detail,
        )

    def notify(
        self, kind: str, recipient_id: int | None, *, task: Task | None = None, **payload: Any
    ) -> None:
        if task is not None:
            payload.setdefault("step", self.spec.flow[task.step_index].name)
        payload.setdefault("serial", self.app.serial)
        payload.setdefault("title", self.app.title)
        payload.setdefault("process", self.spec.name)
        self._append(Outbox, task, kind=kind, recipient_id=recipient_id, payload=payload)

    def _append(self, model: type[Base], task: Task | None, **values: Any) -> None:
        """A row of this application (and `task`), stamped now; see hall.appends."""
        values["created_at"] = self.now
        append(self.session, model, values, application=self.app, task=task)

    def fire_app(
        self, event: str, action: str, *, actor_id: int | None, comment: str | None = None
    ) -> None:
        before, step_index = self.app.status, self.app.current_step
        fire(self.app, event)
        self.app.updated_at = self.now
        if self.app.status != AppStatus.PENDING:
            self.app.current_step = None
        if self.app.status in FINAL_APP_STATES:
            self.app.finished_at = self.now
        self.log(
            action,
            actor_id=actor_id,
            step_index=step_index,
            from_status=before.value,
            to_status=self.app.status.value,
            comment=comment,
        )

    def fire_task(
        self,
        task: Task,
        event: str,
        action: str,
        *,
        actor_id: int | None,
        comment: str | None = None,
        **detail: Any,
    ) -> None:
        before = task.status
        fire(task, event)
        if task.status not in OPEN_TASK_STATES:
            task.decided_at = self.now
        if actor_id is not None:
            task.acted_by_id = actor_id
            task.comment = comment
        self.log(
            action,
            actor_id=actor_id,
            task=task,
            from_status=before.value,
            to_status=task.status.value,
            comment=comment,
            **detail,
        )

    def step(self, index: int) -> Step:
        return self.spec.flow[index]

    def round_tasks(self, index: int, round_: int) -> list[Task]:
        return [t for t in self.tasks if t.step_index == index and t.round == round_]

    def open_tasks(self) -> list[Task]:
        return [t for t in self.tasks if t.status in OPEN_TASK_STATES]

    def pending_tasks(self) -> list[Task]:
        return [t for t in self.tasks if t.status == TaskStatus.PENDING]

    @staticmethod
    def slot(task: Task) -> Task:
        root = task
        while root.origin not in ROOT_ORIGINS and root.parent is not None:
            root = root.parent
        return root

    def mode(self, index: int, round_: int) -> Mode:
        # A round handed to administrators is any-of whatever the step says.
        if any(t.origin == TaskOrigin.FALLBACK for t in self.round_tasks(index, round_)):
            return Mode.ANY
        return self.step(index).mode

    # ----------------------------------------------------------- flow runs

    def start(self, index: int = 0) -> None:
        """Run the flow from step `index` (submission, resubmission)."""
        self.run_from(index)

    def run_from(self, index: int, *, force_first: bool = False) -> None:
        """Enter steps from `index` until one waits for people or the flow ends."""
        # The applicant's facts cost queries (roles, department): read them only when a
        # remaining step's condition asks about the applicant.
        asks = any(
            s.startswith("applicant.")
            for step in self.spec.flow[index:]
            for s in condition_subjects(step.condition)
        )
        facts = Facts(
            form=self.app.form,
            applicant=applicant_facts(self.session, self.app.applicant)
            if asks
            else ApplicantFacts(),
        )
        current = index
        while current < len(self.spec.flow):
            step = self.step(current)
            forced = force_first and current == index
            if not forced and step.condition is not None and not evaluate(step.condition, facts):
                self.log(
                    "skip_step",
                    step_index=current,
                    step=step.key,
                    condition=describe(step.condition),
                )
                current += 1
                continue
            round_ = self.activate(current)
            if not self.settle(current, round_):
                return
            self.step_passed(current)
            current += 1
        self.finish()

    def activate(self, index: int) -> int:
        """Create the tasks of a new round of step `index`; return the round number."""
        step = self.step(index)
        round_ = 1 + max((t.round for t in self.tasks if t.step_index == index), default=0)
        self.app.current_step = index
        self.app.updated_at = self.now
        # Resolving reads only org data (people, roles, delegations), which a flow never
        # changes: no need to flush the flow's pending writes first. They go out with the
        # new tasks' INSERT, one unit-of-work flush instead of two.
        with self.session.no_autoflush:
            people = resolve_rule(self.session, step.approver, self.app.applicant, self.app.form)
            people = not_own_approver(
                self.session, people, self.app.applicant, self.spec.options.applicant_approver
            )
            fallback = not people
            if fallback:
                people = fallback_people(self.session, self.app.process.department_id)
                if not people:
                    raise Conflict("该环节找不到处理人，也没有管理员可以接手，请联系信息中心")
            elif step.mode == Mode.SINGLE:
                people = people[:1]
            assignees = delegate(self.session, people, local_date(self.now))
        origin = TaskOrigin.FALLBACK if fallback else TaskOrigin.FLOW
        mode = Mode.ANY if fallback else step.mode
        if step.kind == StepKind.NOTIFY:
            for entry in assignees:
                task = self.new_task(index, round_, entry, origin=origin, flagged=fallback)
                self.fire_task(task, "notify", "notify", actor_id=None)
                self.notify(Kind.STEP_NOTIFY, task.assignee_id, task=task)
            if fallback:
                self.flag(index, assignees)
            return round_
        if not fallback and mode in {Mode.ANY, Mode.SINGLE}:
            auto = [a for a in assignees if self.auto_pass_reason(index, a.person)]
            if auto:  # the first decision counts, and this one is already made
                assignees = auto[:1]
        tasks = [
            self.new_task(
                index,
                round_,
                entry,
                origin=origin,
                flagged=fallback,
                seq=seq,
                waiting=mode == Mode.SEQUENTIAL and seq > 0,
            )
            for seq, entry in enumerate(assignees)
        ]
        if fallback:
            self.flag(index, assignees)
        for task, entry in zip(tasks, assignees, strict=True):
            if task.status == TaskStatus.PENDING:
                self.open(task, auto=not fallback, delegated_from=_name(entry.delegated_from))
        return round_

    def new_task(
        self,
        index: int,
        round_: int,
        entry: Assignee,
        *,
        origin: TaskOrigin,
        flagged: bool = False,
        seq: int = 0,
        waiting: bool = False,
        parent: Task | None = None,
    ) -> Task:
        # The task is inserted by the unit of work's one flush at commit, so what the flow
        # reads back before then (status, ids of existing rows) is set here, not by defaults.
        assert parent is None or parent.id is not None  # Task.parent is read-only
        task = Task(
            application=self.app,
            application_id=self.app.id,
            step_index=index,
            step_key=self.step(index).key,
            round=round_,
            seq=seq,
            assignee=entry.person,
            assignee_id=entry.person.id,
            origin=origin,
            parent=parent,
            parent_id=parent.id if parent is not None else None,
            flagged=flagged,
            _status=TaskStatus.PENDING,
            created_at=self.now,
        )
        if not waiting:
            self._stamp(task)  # before the INSERT: no second UPDATE when it opens
        self.session.add(task)
        if waiting:
            fire(task, "block")
        detail: dict[str, Any] = {"assignee": entry.person.userid, "origin": origin.value}
        if entry.delegated_from is not None:
            detail["delegated_from"] = entry.delegated_from.userid
        self.log("assign", task=task, to_status=task.status.value, **detail)
        return task

    def _stamp(self, task: Task) -> None:
        """The moment a task becomes someone's to-do, and its deadline."""
        task.activated_at = self.now
        hours = self.step(task.step_index).time_limit_hours
        task.due_at = self.now + timedelta(hours=hours) if hours else None

    def open(
        self,
        task: Task,
        *,
        auto: bool = True,
        signed_by: str | None = None,
        delegated_from: str | None = None,
    ) -> bool:
        """Make `task` someone's to-do; True when it passed automatically instead.
        `signed_by`: the signer added before this reviewer, who has just agreed;
        `delegated_from`: the reviewer who is away, whose delegate this one is."""
        if task.status == TaskStatus.WAITING:
            fire(task, "activate")
            self._stamp(task)
        elif task.activated_at is None:
            self._stamp(task)
        reason = self.auto_pass_reason(task.step_index, task.assignee) if auto else None
        if reason is not None and task.origin == TaskOrigin.FLOW:
            self.fire_task(task, "skip", "auto_pass", actor_id=None, reason=reason)
            return True
        extra: dict[str, Any] = {"resubmitted": True} if self.resubmitted else {}
        if self.handover is not None:
            extra.update(self.handover)
        if signed_by:
            extra["signed_by"] = signed_by
        if delegated_from:
            extra["delegated_from"] = delegated_from
        self.notify(
            Kind.TASK_ASSIGNED,
            task.assignee_id,
            task=task,
            due_at=task.due_at.isoformat() if task.due_at else None,
            **extra,
        )
        return False

    def auto_pass_reason(self, index: int, person: Person) -> str | None:
        if self.step(index).kind not in {StepKind.APPROVAL, StepKind.CONSENT}:
            return None
        options = self.spec.options
        if options.auto_pass_applicant and person.id == self.app.applicant.id:
            return "applicant"
        if options.auto_pass_repeat and any(
            t.step_index < index
            and t.assignee_id == person.id
            and t.status in PASSED_TASK_STATES
            and t.status != TaskStatus.NOTIFIED
            for t in self.tasks
        ):
            return "repeat"
        return None

    def flag(self, index: int, assignees: list[Assignee]) -> None:
        self.app.flagged = True
        self.log(
            "fallback",
            step_index=index,
            step=self.step(index).key,
            assignees=[a.person.userid for a in assignees],
        )
        for entry in assignees:
            self.notify(
                Kind.FLAGGED,
                entry.person.id,
                step=self.step(index).name,
                reason="审批规则没有找到处理人，已转给部门管理员",
            )

    def settle(self, index: int, round_: int) -> bool:
        """Open the next waiting task if nothing is pending; True when the round is done."""
        while True:
            open_ = [t for t in self.round_tasks(index, round_) if t.status in OPEN_TASK_STATES]
            if not open_:
                return True
            if any(t.status == TaskStatus.PENDING for t in open_):
                return False
            queued = [t for t in open_ if t.origin in ROOT_ORIGINS]
            # Tasks of this action have no id before the flush: after stored ones, in order.
            nxt = min(queued or open_, key=lambda t: (t.seq, t.id is None, t.id or 0))
            self.open(nxt, auto=bool(queued))

    def step_passed(self, index: int) -> None:
        step = self.step(index)
        self.log("step_passed", step_index=index, step=step.key)
        people: list[Person] = []
        for rule in step.cc:
            people.extend(resolve_rule(self.session, rule, self.app.applicant, self.app.form))
        for who in self.add_followers(people, "cc"):
            self.notify(Kind.CC, who.id, step=step.name, by=None)

    def add_followers(self, people: list[Person], reason: str) -> list[Person]:
        """Add followers (not the applicant, not twice); return the people newly added."""
        if not people:
            return []
        known = (
            set(
                self.session.scalars(
                    select(Follower.person_id).where(Follower.application_id == self.app.id)
                )
            )
            if self.app.id is not None
            else set()  # a new application (submit, not flushed yet) has none
        )
        added = []
        for who in people:
            if who.id in known or who.id == self.app.applicant_id:
                continue
            known.add(who.id)
            self.session.add(
                Follower(application=self.app, person_id=who.id, reason=reason, created_at=self.now)
            )
            added.append(who)
        return added

    def finish(self) -> None:
        self.fire_app("approve", "approved", actor_id=None)
        # The last approval's comment goes to the applicant with the result (同意，注意安全).
        last = max(
            (t for t in self.tasks if t.status == TaskStatus.APPROVED and t.acted_by_id),
            key=lambda t: (t.decided_at or self.now, t.id or 0),
            default=None,
        )
        self.notify(
            Kind.APPLICATION_RESULT,
            self.app.applicant_id,
            outcome=AppStatus.APPROVED.value,
            result=dict(self.app.result),
            comment=last.comment if last is not None else None,
        )

    def cancel_open(self, reason: str, *, only: list[Task] | None = None) -> None:
        for task in only if only is not None else self.open_tasks():
            if task.status not in OPEN_TASK_STATES:
                continue
            announced = task.activated_at is not None
            self.fire_task(task, "cancel", "cancel", actor_id=None, reason=reason)
            if announced:
                self.notify(Kind.TASK_CANCELLED, task.assignee_id, task=task, reason=reason)

    # ------------------------------------------------------------ decisions

    def approve(
        self,
        task: Task,
        actor_id: int,
        comment: str | None,
        result: dict[str, Any] | None,
        *,
        action: str = "approve",
        **detail: Any,
    ) -> None:
        step = self.step(task.step_index)
        if step.kind == StepKind.HANDLE:
            refs = SessionReferences(self.session, actor_id, self.app.id)
            check = validate_form(step.result_fields, result or {}, refs)
            if not check.ok:
                raise ResultInvalid("办理结果填写有误", fields=check.errors)
            task.result = check.values
            self.app.result = {**self.app.result, **check.values}
        elif result:
            raise Invalid("该环节无需填写办理结果", fields={"result": "该环节无需填写办理结果"})
        self.fire_task(task, "approve", action, actor_id=actor_id, comment=comment, **detail)

    def after_pass(self, task: Task) -> None:
        """A task of the current round passed: move its step (and maybe the flow) on."""
        anchor = task
        while anchor.origin == TaskOrigin.TRANSFER and anchor.parent is not None:
            anchor = anchor.parent
        parent = anchor.parent
        waiting = parent is not None and parent.status == TaskStatus.WAITING
        if anchor.origin == TaskOrigin.ADD_BEFORE and parent is not None and waiting:
            self.open(parent, auto=False, signed_by=task.assignee.name)  # who asked goes on
            return
        index, round_ = task.step_index, task.round
        if self.mode(index, round_) in {Mode.ANY, Mode.SINGLE}:
            mine = self.slot(task)
            others = [
                t
                for t in self.round_tasks(index, round_)
                if t.status in OPEN_TASK_STATES and self.slot(t) is not mine
            ]
            self.cancel_open("已由他人处理", only=others)
        if self.settle(index, round_):
            self.step_passed(index)
            self.run_from(index + 1)

    def reject(
        self, task: Task, actor_id: int | None, comment: str | None, *, action: str = "reject"
    ) -> None:
        self.fire_task(task, "reject", action, actor_id=actor_id, comment=comment)
        self.cancel_open("申请已被驳回")
        self.fire_app("reject", "rejected", actor_id=actor_id, comment=comment)
        self.notify(
            Kind.APPLICATION_RESULT,
            self.app.applicant_id,
            task=task,  # the applicant is told at which step, and by whom
            actor_id=actor_id,
            outcome=AppStatus.REJECTED.value,
            comment=comment,
        )

    def time_out(self, task: Task) -> str | None:
        """A to-do past its deadline on a step that then decides by itself (`on_timeout`):
        approved, or the application rejected, as the hall's own act (no actor); the
        reviewer's card is told. Its label, or None when the step only reminds."""
        action = self.step(task.step_index).on_timeout
        if action == TimeoutAction.APPROVE:
            label = "超时自动同意"
            self.fire_task(task, "approve", "timeout_approve", actor_id=None, comment=label)
            self.after_pass(task)
        elif action == TimeoutAction.REJECT:
            label = "超时自动驳回"
            self.reject(task, None, label, action="timeout_reject")
        else:
            return None
        reason = f"办理时限已过，已{label}"
        self.notify(Kind.TASK_CANCELLED, task.assignee_id, task=task, reason=reason, label=label)
        return label

    def returnable_steps(self, task: Task) -> dict[str, int]:
        """Earlier steps this task may send the application back to (key → index)."""
        kinds = [step.kind for step in self.spec.flow]
        indexes = returnable_indexes(
            kinds, ((t.step_index, t.status) for t in self.tasks), task.step_index
        )
        return {self.step(i).key: i for i in indexes}

    def return_(self, task: Task, actor_id: int, comment: str | None, return_to: str) -> None:
        if return_to == "applicant":
            self.fire_task(
                task, "return", "return", actor_id=actor_id, comment=comment, to="applicant"
            )
            self.cancel_open("申请已被退回")
            self.app.resume_step = task.step_index
            self.fire_app("return_to_applicant", "returned", actor_id=actor_id, comment=comment)
            self.notify(
                Kind.APPLICATION_RESULT,
                self.app.applicant_id,
                task=task,
                actor_id=actor_id,
                outcome=AppStatus.RETURNED.value,
                comment=comment,
            )
            return
        target = self.returnable_steps(task).get(return_to)
        if target is None:
            raise Invalid(
                "只能退回给申请人或之前经过的环节",
                fields={"return_to": "只能退回给申请人或之前经过的环节"},
            )
        self.fire_task(task, "return", "return", actor_id=actor_id, comment=comment, to=return_to)
        self.cancel_open(f"已退回到「{self.step(target).name}」")
        actor = self.session.get(Person, actor_id)  # the decider: already in the session
        self.handover = {"returned_by": actor.name if actor else "", "return_reason": comment or ""}
        self.run_from(target, force_first=True)

    def _hand_to(self, task: Task, target: Person, origin: TaskOrigin) -> Task:
        """A new open task in `task`'s place in the step, for `target` (or their delegate)."""
        entry = delegate(self.session, [target], local_date(self.now))[0]
        new = self.new_task(
            task.step_index, task.round, entry, origin=origin, seq=task.seq, parent=task
        )
        self.open(new, auto=False, delegated_from=_name(entry.delegated_from))
        return new

    def reassign(self, task: Task) -> Task | None:
        """Hand a pending task whose reviewer is no longer active (left the school, account
        disabled) to whom the step would pick now, else to the process's administrators;
        None when nobody can take it. The hall's own act, logged as 自动转交."""
        gone = task.assignee
        round_ = self.round_tasks(task.step_index, task.round)
        if self.mode(task.step_index, task.round) == Mode.ANY:
            # Any one decision counts: a colleague still on it is enough, nobody is added.
            stays = [
                t
                for t in round_
                if t is not task
                and t.status == TaskStatus.PENDING
                and t.assignee.status == PersonStatus.ACTIVE
            ]
            if stays:
                self.fire_task(task, "cancel", "reassign", actor_id=None, departed=gone.userid)
                return stays[0]
        open_ = {t.assignee_id for t in round_ if t.status in OPEN_TASK_STATES}
        with self.session.no_autoflush:
            chosen = resolve_rule(
                self.session, self.step(task.step_index).approver, self.app.applicant, self.app.form
            )
            free = [p for p in chosen if p.id not in open_]
            if not free:
                admins = fallback_people(self.session, self.app.process.department_id)
                free = [p for p in admins if p.id not in open_]
        if not free:
            return None
        target = free[0]
        self.fire_task(
            task, "transfer", "reassign", actor_id=None, to=target.userid, departed=gone.userid
        )
        self.handover = {"reassigned_from": gone.name}
        return self._hand_to(task, target, TaskOrigin.TRANSFER)

    def hand_to_delegate(self, task: Task) -> Task | None:
        """Move a pending task of a reviewer who is away to their delegate (委托代理), for a
        delegation that began after the task reached them; its card is told. None when
        they have no active delegation today, or when the delegate already holds an open
        task of the same round (they decide there; a second one would be a duplicate)."""
        absent = task.assignee
        entry = delegate(self.session, [absent], local_date(self.now))[0]
        deputy = entry.person
        if entry.delegated_from is None:
            return None
        round_ = self.round_tasks(task.step_index, task.round)
        if any(t.assignee_id == deputy.id and t.status in OPEN_TASK_STATES for t in round_):
            return None
        self.fire_task(task, "transfer", "delegate", actor_id=None, to=deputy.userid)
        self.notify(
            Kind.TASK_CANCELLED,
            absent.id,
            task=task,
            reason=f"委托期间已转给{deputy.name}",
            to=deputy.userid,
        )
        return self._hand_to(task, absent, TaskOrigin.TRANSFER)  # _hand_to applies delegation

    def reassign_to(self, task: Task, target: Person, actor_id: int, comment: str | None) -> Task:
        """An administrator's 改派: the task goes to `target`; its reviewer's card is told."""
        self.fire_task(
            task,
            "transfer",
            "admin_reassign",
            actor_id=actor_id,
            comment=comment,
            to=target.userid,
        )
        self.notify(Kind.TASK_CANCELLED, task.assignee_id, task=task, reason="已由管理员改派")
        admin = self.session.get(Person, actor_id)  # the actor: already in the session
        self.handover = {"reassigned_by": admin.name if admin else ""}
        return self._hand_to(task, target, TaskOrigin.TRANSFER)

    def transfer(self, task: Task, actor_id: int, target: Person, comment: str | None) -> Task:
        self.fire_task(
            task, "transfer", "transfer", actor_id=actor_id, comment=comment, to=target.userid
        )
        return self._hand_to(task, target, TaskOrigin.TRANSFER)

    def add_before(self, task: Task, actor_id: int, target: Person, comment: str | None) -> Task:
        self.fire_task(
            task,
            "block",
            "add_signer",
            actor_id=actor_id,
            comment=comment,
            to=target.userid,
            position="before",
        )
        return self._hand_to(task, target, TaskOrigin.ADD_BEFORE)

    def add_after(
        self,
        task: Task,
        actor_id: int,
        target: Person,
        comment: str | None,
        result: dict[str, Any] | None,
    ) -> Task:
        self.approve(
            task, actor_id, comment, result, action="add_signer", to=target.userid, position="after"
        )
        new = self._hand_to(task, target, TaskOrigin.ADD_AFTER)
        self.after_pass(task)
        return new

    # ------------------------------------------------------------ applicant

    def reviewer_acted(self) -> bool:
        """Did a reviewer act since the last (re)submission? (auto-passes do not count)"""
        entered = self.session.scalar(
            select(func.max(ActionLog.id)).where(
                ActionLog.application_id == self.app.id, ActionLog.action.in_(APPLICANT_ENTRIES)
            )
        )
        query = select(ActionLog.id).where(
            ActionLog.application_id == self.app.id,
            ActionLog.action.in_(REVIEWER_ACTIONS),
            ActionLog.actor_id.is_not(None),
        )
        if entered is not None:
            query = query.where(ActionLog.id > entered)
        return self.session.scalar(query.limit(1)) is not None

    def withdraw(self, actor_id: int, comment: str | None) -> None:
        self.cancel_open("申请人已撤回")
        self.fire_app("withdraw", "withdraw", actor_id=actor_id, comment=comment)

    def revoke(self, actor_id: int, comment: str) -> None:
        """撤销 an approved application. Everyone who relied on the approval is told: who
        approved or handled it (or acted for them), who was told of it (报备), who follows
        it (CC'd). The result time stays the approval's: statistics measure handling."""
        relied = {
            who
            for t in self.tasks
            if t.status in {TaskStatus.APPROVED, TaskStatus.NOTIFIED}
            for who in (t.assignee_id, t.acted_by_id)
            if who is not None
        }
        relied |= set(
            self.session.scalars(
                select(Follower.person_id).where(Follower.application_id == self.app.id)
            )
        )
        finished = self.app.finished_at
        self.fire_app("revoke", "revoke", actor_id=actor_id, comment=comment)
        self.app.finished_at = finished
        for person_id in sorted(relied - {actor_id}):
            self.notify(Kind.REVOKED, person_id, comment=comment, actor_id=actor_id)
