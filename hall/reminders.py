"""Deadline reminders: a to-do past its step's time limit reminds its reviewer, daily.

A step with `time_limit_hours` gives each of its tasks a `due_at`. Once that has passed and
the task is still pending, `remind_overdue` sends the reviewer the same reminder an urge
sends (an `urge` outbox row without `by`: the WeCom card reads 【超时提醒】 with "提醒：已超过
办理时限N小时，请尽快处理。"), logs it in the application's history, and stamps
`Task.reminded_at`; a task still pending `REPEAT` later is reminded again, so a forgotten
to-do never goes quiet and a flow never freezes unnoticed.

A step may instead decide by itself at its time limit (`on_timeout`: 超时自动同意 or
超时自动驳回): `time_out_all` does so, as the hall's own act, before any reminder.

A to-do a day or more past its deadline is also reported to the administrators of its
service (its department's, else the information center): one digest each per pass
(`Kind.OVERDUE`, a WeCom card that opens 办件监控, where they can 改派 it).

A to-do whose reviewer is no longer active (the nightly sync or WeCom disabled them) would
wait forever: each pass also hands such tasks on (`reassign_all`, `Flow.reassign`) to whom
the step would pick now, else to the process's administrators. And a to-do whose reviewer
is away (a delegation, 委托代理, that began after it reached them) moves to the delegate
(`delegate_all`, `Flow.hand_to_delegate`).

The worker runs a pass every `INTERVAL` (`remind_forever`, a thread like the statistics'
fold); `hall remind` runs one by hand. Several workers may run passes at once: on PostgreSQL
the overdue tasks are claimed with FOR UPDATE SKIP LOCKED, on SQLite the write transaction
is serialized, and `reminded_at` is re-checked under the lock, so a task is reminded once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, String, cast, or_, select
from sqlalchemy.orm import Session, joinedload

from hall.clock import Clock
from hall.db import Database
from hall.definitions import TimeoutAction
from hall.engine import Flow, local_date
from hall.models import Application, Delegation, Person, PersonStatus, ProcessVersion, Task
from hall.outbox import Kind, emit
from hall.processes import version_spec
from hall.resolve import fallback_people
from hall.services import Hall
from hall.states import TaskStatus

log = logging.getLogger("hall.reminders")

INTERVAL = 300.0  # seconds between the worker's passes
REPEAT = timedelta(hours=24)  # a task still pending is reminded again after this long
# A to-do this far past its deadline is also reported to its service's administrators.
ESCALATE_AFTER = timedelta(hours=24)
BATCH = 200  # tasks per pass at most; the next pass takes the rest

_status = Task.__table__.c.status


@dataclass(frozen=True)
class RemindReport:
    reminded: int
    more: bool  # the pass stopped at BATCH: there may be more overdue tasks
    escalated: int = 0  # administrators told (one digest each)


def remind_overdue(session: Session, now: datetime, *, batch: int = BATCH) -> RemindReport:
    """Remind the reviewer of every pending task past its deadline and not reminded within
    `REPEAT`, oldest deadline first, at most `batch` of them; the caller commits."""
    tasks = session.scalars(
        select(Task)
        .options(
            joinedload(Task.application).joinedload(Application.version),
            # The engine's notify and log, below, read the application's tasks: one query
            # for the whole batch rather than one per application.
            joinedload(Task.application).selectinload(Application.tasks),
        )
        .where(
            _status == TaskStatus.PENDING,
            Task.due_at.is_not(None),
            Task.due_at <= now,
            or_(Task.reminded_at.is_(None), Task.reminded_at <= now - REPEAT),
        )
        .order_by(Task.due_at, Task.id)
        .limit(batch)
        .with_for_update(of=Task, skip_locked=True)
    ).all()
    for task in tasks:
        # The engine's own notify and log: the same payload and history entry as an urge.
        flow = Flow(session, task.application, now)
        due = task.due_at.isoformat() if task.due_at else None
        flow.notify(Kind.URGE, task.assignee_id, task=task, overdue_since=due)
        flow.log("remind", task=task, due_at=due)  # no actor: the hall's own timer
        task.reminded_at = now
    late = [t for t in tasks if t.due_at is not None and t.due_at <= now - ESCALATE_AFTER]
    escalated = _escalate(session, late)
    return RemindReport(reminded=len(tasks), more=len(tasks) == batch, escalated=escalated)


def _escalate(session: Session, late: list[Task]) -> int:
    """Tell the administrators of each service (its department's, else the information
    center) how many of its to-dos reminded in this pass are a day or more overdue: one
    digest per administrator, so a daily pass sends each of them at most one a day."""
    by_admin: dict[int, list[Task]] = {}
    admins_of: dict[int, list[Person]] = {}
    for task in late:
        department = task.application.process.department_id
        if department not in admins_of:
            admins_of[department] = fallback_people(session, department)
        for admin in admins_of[department]:
            by_admin.setdefault(admin.id, []).append(task)
    for admin_id, tasks in by_admin.items():
        oldest = min(t.due_at for t in tasks if t.due_at is not None)
        emit(
            session, Kind.OVERDUE, recipient_id=admin_id, count=len(tasks), since=oldest.isoformat()
        )
    return len(by_admin)


def remind_all(db: Database, now: datetime) -> int:
    """Passes of `remind_overdue`, each its own transaction, until one leaves nothing over;
    how many tasks were reminded."""
    total = 0
    while True:
        with db.unit_of_work() as session:
            report = remind_overdue(session, now)
        total += report.reminded
        if not report.more:
            return total


@dataclass(frozen=True)
class ReassignReport:
    handed_on: int  # tasks given to someone active
    stuck: int  # tasks nobody could take (no one the step picks, no administrator)


def _applications_with(db: Database, *where: ColumnElement[bool]) -> Iterator[int]:
    """Ids of applications with a pending task matching `where` (Task, and the assignee as
    Person), `BATCH` per query; each id once, even when handling it changed nothing."""
    seen: set[int] = set()
    while True:
        with db.reader() as session:
            ids = list(
                session.scalars(
                    select(Task.application_id)
                    .join(Person, Person.id == Task.assignee_id)
                    .where(_status == TaskStatus.PENDING, Task.application_id.not_in(seen), *where)
                    .distinct()
                    .order_by(Task.application_id)
                    .limit(BATCH)
                )
            )
        yield from ids
        seen.update(ids)
        if len(ids) < BATCH:
            return


def reassign_all(db: Database, clock: Clock) -> ReassignReport:
    """Hand on every pending task whose reviewer is no longer active, one application per
    transaction (`Hall.reassign_departed`)."""
    hall = Hall(db, clock)
    handed_on = stuck = 0
    for application_id in _applications_with(db, Person.status != PersonStatus.ACTIVE):
        done, left = hall.reassign_departed(application_id)
        handed_on += done
        stuck += left
        if left:
            log.warning(
                "application %s: %d task(s) of people who left have nobody to take them",
                application_id,
                left,
            )
    return ReassignReport(handed_on, stuck)


def _deciding_steps(session: Session) -> dict[int, set[int]]:
    """Version id → indexes of its steps that decide by themselves at their time limit.
    Specs are stored without defaults: only versions whose text names `on_timeout` can
    have one, so only those are parsed."""
    found: dict[int, set[int]] = {}
    candidates = select(ProcessVersion).where(
        cast(ProcessVersion.spec, String).contains('"on_timeout"')
    )
    for version in session.scalars(candidates):
        flow = version_spec(version).flow
        steps = {i for i, step in enumerate(flow) if step.on_timeout != TimeoutAction.REMIND}
        if steps:
            found[version.id] = steps
    return found


def time_out_all(db: Database, clock: Clock) -> int:
    """Carry out `on_timeout` (超时自动同意 / 超时自动驳回) for every to-do past its deadline
    on a step that decides by itself, one application per transaction (`Hall.time_out`);
    how many were decided. It runs before the reminders, which then skip them."""
    now = clock.now()
    with db.reader() as session:
        deciding = _deciding_steps(session)
    if not deciding:
        return 0
    hall = Hall(db, clock)
    decided = after = 0
    while True:
        with db.reader() as session:
            rows = session.execute(
                select(Task.id, Application.version_id, Task.step_index)
                .join(Application, Application.id == Task.application_id)
                .where(
                    _status == TaskStatus.PENDING,
                    Task.due_at.is_not(None),
                    Task.due_at <= now,
                    Application.version_id.in_(sorted(deciding)),
                    Task.id > after,
                )
                .order_by(Task.id)
                .limit(BATCH)
            ).all()
        for task_id, version_id, index in rows:
            if index in deciding[version_id] and hall.time_out(task_id) is not None:
                decided += 1
        if len(rows) < BATCH:
            return decided
        after = rows[-1][0]


def delegate_all(db: Database, clock: Clock, *, delegator_id: int | None = None) -> int:
    """Move the pending tasks of reviewers who are away to their delegates (委托代理), one
    application per transaction (`Hall.hand_to_delegates`); how many moved.

    New tasks go to the delegate when they are created (`hall.resolve.delegate`); this pass
    moves those that reached the reviewer before the delegation began, or that were waiting
    (a sequential step) and opened since. `delegator_id`: only that person's (run at once
    when they set a delegation that starts today).
    """
    today = local_date(clock.now())
    away = (
        select(Delegation.id)
        .where(
            Delegation.delegator_id == Task.assignee_id,
            Delegation.revoked_at.is_(None),
            Delegation.start_date <= today,
            Delegation.end_date >= today,
        )
        .exists()
    )
    where = [away] if delegator_id is None else [away, Task.assignee_id == delegator_id]
    hall = Hall(db, clock)
    return sum(hall.hand_to_delegates(app_id) for app_id in _applications_with(db, *where))


def remind_forever(db: Database, stop: threading.Event, clock: Clock, interval: float) -> None:
    """The worker's loop: remind all that is due, hand on the to-dos of people who left or
    are away, then wait `interval` seconds, until `stop` is set."""
    while not stop.is_set():
        try:
            timed_out = time_out_all(db, clock)
            if timed_out:
                log.info("to-dos decided at their time limit: %d", timed_out)
            reminded = remind_all(db, clock.now())
            if reminded:
                log.info("deadline reminders sent: %d", reminded)
            moved = reassign_all(db, clock)
            if moved.handed_on:
                log.info("to-dos of people who left handed on: %d", moved.handed_on)
            delegated = delegate_all(db, clock)
            if delegated:
                log.info("to-dos of people who are away moved to their delegates: %d", delegated)
        except Exception:
            log.exception("deadline reminders or hand-overs failed; retrying next interval")
        stop.wait(interval)
