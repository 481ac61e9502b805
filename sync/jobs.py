"""The nightly sync as an RQ job, re-armed after each run at the next time of `sync_cron`.

RQ's scheduler (the worker runs `work(with_scheduler=True)`) moves a job enqueued with
`enqueue_at` onto the queue when it is due. The job id carries the due time, so arming the
same night twice (two workers starting) finds the job already there. The cron expression is
read in the school's time zone (Asia/Shanghai): "0 2 * * *" is 02:00 in Beijing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis
from croniter import croniter  # type: ignore[import-untyped]
from rq import Queue, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from config import Settings
from hall.db import Database
from sync.services import record_push, run_sync
from sync.wecom import push_org

log = logging.getLogger("sync.jobs")

SCHOOL_TZ = ZoneInfo("Asia/Shanghai")
JOB_PREFIX = "hall-sync-"
JOB_TIMEOUT = 3600  # seconds; a whole school's first sync and push fit well within


@dataclass(frozen=True)
class SyncContext:
    db: Database
    settings: Settings
    redis: redis.Redis


class _Binding:
    context: SyncContext | None = None


def bind(context: SyncContext) -> None:
    _Binding.context = context


@contextmanager
def bound(context: SyncContext) -> Iterator[SyncContext]:
    previous = _Binding.context
    _Binding.context = context
    try:
        yield context
    finally:
        _Binding.context = previous


def next_run(cron: str, after: datetime) -> datetime:
    """The next time `cron` (school time) fires after `after`, in UTC."""
    local = after.astimezone(SCHOOL_TZ)
    following: datetime = croniter(cron, local).get_next(datetime)
    return following.astimezone(UTC)


def job_id(due: datetime) -> str:
    return JOB_PREFIX + due.astimezone(UTC).strftime("%Y%m%dT%H%M")


def arm(queue: Queue, cron: str, *, now: datetime | None = None) -> Job:
    """Schedule the next nightly sync on `queue` unless it is already scheduled."""
    due = next_run(cron, now or datetime.now(UTC))
    ident = job_id(due)
    try:
        job = Job.fetch(ident, connection=queue.connection)
    except NoSuchJobError:
        pass
    else:
        if job.get_status(refresh=False) in {JobStatus.SCHEDULED, JobStatus.QUEUED}:
            return job
    log.info("nightly sync scheduled for %s", due.isoformat())
    scheduled: Job = queue.enqueue_at(
        due,
        nightly_sync,
        cron,
        job_id=ident,
        job_timeout=JOB_TIMEOUT,
        description=f"nightly sync ({cron})",
    )
    return scheduled


def nightly_sync(cron: str) -> dict[str, Any]:
    """Run the sync, push the changes to WeCom, then arm the next night's run."""
    context = _Binding.context
    if context is None:
        raise RuntimeError("no sync context: start jobs through web.worker.run_worker")
    try:
        report = run_sync(context.db, trigger="cron")
        summary: dict[str, Any] = {"run_id": report.run_id, "status": report.status.value}
        if report.ok and report.run_id is not None:
            pushed = push_org(context.settings, context.db, context.redis)
            record_push(context.db, report.run_id, pushed.as_dict())
            summary["push"] = pushed.as_dict()
        return summary
    finally:
        current = get_current_job()
        if current is not None:
            arm(Queue(current.origin, connection=current.connection), cron)
