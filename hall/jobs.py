"""Queue jobs: importable module-level functions that take ids and re-read everything.

The worker's composition root (web/worker.py) binds a `JobContext` (database, channels,
clock, limits) once at start-up; a job finds it with `current()`. Tests bind their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from hall.channels import ChannelRegistry
from hall.clock import Clock, SystemClock
from hall.db import Database
from hall.deliveries import attempt


@dataclass(frozen=True)
class JobContext:
    """What jobs need from the process they run in."""

    db: Database
    channels: ChannelRegistry
    max_attempts: int
    clock: Clock = field(default_factory=SystemClock)


class _Binding:
    context: JobContext | None = None


def bind(context: JobContext) -> None:
    """Make `context` the one jobs in this process use (the worker calls this at start-up)."""
    _Binding.context = context


def unbind() -> None:
    _Binding.context = None


@contextmanager
def bound(context: JobContext) -> Iterator[JobContext]:
    """Bind `context` for the duration of a block (tests, one-off CLI runs)."""
    previous = _Binding.context
    bind(context)
    try:
        yield context
    finally:
        _Binding.context = previous


def current() -> JobContext:
    context = _Binding.context
    if context is None:
        raise RuntimeError("no job context: start jobs through web.worker.run_worker")
    return context


def deliver(delivery_id: int) -> str:
    """Send one delivery through its channel once; failures are recorded for a retry."""
    ctx = current()
    outcome = attempt(
        ctx.db, ctx.channels, delivery_id, clock=ctx.clock, max_attempts=ctx.max_attempts
    )
    return outcome.value
