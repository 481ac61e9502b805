"""Append-only rows (the action log, the outbox) written with Core, one INSERT per table.

A decision writes a log entry or three and a notification or two. As ORM objects they cost
the unit of work's bookkeeping (instrumented attributes, the dependency sort between
application, tasks and their rows, a RETURNING per outbox row) on the hall's busiest write,
a WeCom card click: about a tenth of its CPU (bench/callback_bench.py). Nothing reads them
back as objects in the same transaction. So `append` queues plain values on the session,
and they are inserted right after the flush that gives the application and tasks they point
at their ids: each flush's `after_flush`; before a query, as autoflush would (a query sees
them); and at commit for what no flush has written yet. A rollback forgets what was
appended inside it and not written yet (a savepoint's rollback, only its own).

Rows appended by one action keep their order: the table's ids grow in `append` order, and
the history (ordered by id) reads as the action happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Insert, event, insert
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from hall.models import Application, Base, Task

_PENDING = "hall.appends"


@dataclass(frozen=True, slots=True)
class _Row:
    model: type[Base]
    values: dict[str, Any]
    application: Application | None
    task: Task | None
    transaction: SessionTransaction | None  # the innermost one it was appended in

    def resolved(self) -> dict[str, Any]:
        """The values with the ids the flush has just given the application and task."""
        values = dict(self.values)
        # Always both keys: one INSERT's rows must all name the same columns.
        app, task = self.application, self.task
        values["application_id"] = app.id if app is not None else values.get("application_id")
        values["task_id"] = task.id if task is not None else values.get("task_id")
        return values


def append(
    session: Session,
    model: type[Base],
    values: dict[str, Any],
    *,
    application: Application | None = None,
    task: Task | None = None,
) -> None:
    """Insert a row of `model`'s table in the session's transaction, after its next flush.

    `application` / `task` fill the table's `application_id` / `task_id` once they have
    ids (a new application or task has none before the flush)."""
    innermost = session.get_nested_transaction() or session.get_transaction()
    row = _Row(model, values, application, task, innermost)
    session.info.setdefault(_PENDING, []).append(row)


def pending(session: Session) -> int:
    """How many appended rows are not written yet."""
    return len(session.info.get(_PENDING, ()))


def _write(session: Session) -> None:
    rows: list[_Row] | None = session.info.pop(_PENDING, None)
    if not rows:
        return
    by_model: dict[type[Base], list[dict[str, Any]]] = {}
    for row in rows:
        by_model.setdefault(row.model, []).append(row.resolved())
    connection = session.connection()
    for model, values in by_model.items():
        connection.execute(_insert(model), values)


@cache
def _insert(model: type[Base]) -> Insert:
    # One statement object per table: its cache key is computed once.
    return insert(model)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: object) -> None:
    _write(session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.info.get(_PENDING):
        _flush_and_write(session)


@event.listens_for(Session, "do_orm_execute")
def _before_query(state: ORMExecuteState) -> None:
    # What autoflush does for ORM objects: a query sees the rows appended before it.
    session = state.session
    if session.autoflush and session.info.get(_PENDING):
        _flush_and_write(session)


def _flush_and_write(session: Session) -> None:
    session.flush()
    _write(session)  # a flush with nothing else to write does not run `after_flush`


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous: SessionTransaction) -> None:
    """Drop the rows appended inside the transaction or savepoint rolled back (rows
    appended before a savepoint began stay: they belong to the transaction around it)."""
    rows: list[_Row] | None = session.info.get(_PENDING)
    if rows:
        session.info[_PENDING] = [row for row in rows if not _inside(row.transaction, previous)]


def _inside(transaction: SessionTransaction | None, outer: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False
