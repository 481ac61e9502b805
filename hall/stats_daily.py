"""Daily aggregates of finished tasks, so the statistics page need not read every task.

Why: on a large department (1,000,000 applications, 3,000,000 tasks) the handling-time and
overdue charts read ~83,000 scattered task rows for 30 days and ~1,000,000 for a year:
0.9 s and 5 s even through a covering index (27,000 / 330,000 index probes, then a sort
for the percentiles). No index makes a year of that fast, so finished tasks are summed
once per process step and local day of their application's creation into `stats_daily`:
30 days are then ~90 rows, a year ~1,100.

What a row holds, for the finished (no longer waiting/pending) tasks of applications of
`process_id` created on local day `day` (drafts excluded), at step `step_index`/`step_key`:
`finished`; `decided`, the approved/rejected/returned ones with both times, and their
handling times `decided_at - activated_at` as a histogram; `timed`, those with a due time,
and `late`, those decided after it. Open tasks are not aggregated: the charts add them live
(they are few and have their own partial indexes), as "overdue now" depends on the clock.

Percentiles from the histogram: bucket 0 is [0, 60 s); bucket b >= 1 is
[60·r^(b-1), 60·r^b) seconds with r = 1.02. The median and the 90th percentile follow
`percentile_cont` (rank f·(n-1)): the two values around the rank, each placed as if a
bucket's tasks were spread evenly across it, are interpolated, so the error is below one
bucket's width: at most 2 % of the value (1.2 minutes under an hour's
minimum bucket), usually far less; the page shows hours to one decimal. Processes whose
range holds at most `stats.EXACT_LIMIT` finished tasks (most of the school) skip the
aggregates and get exact figures from the tasks.

Maintenance: every change to a task or an application writes `action_log` in the same
transaction (hall/engine.py). `fold` reads the entries after its watermark, and recomputes
from the tasks every (process, day) they touch: a recomputation replaces the day's rows,
so folding twice is harmless. The watermark only advances past entries older than
`SETTLE`: an entry whose id was taken by a transaction still open then (ids are allocated
before commit) is still read by the next fold. A transaction left open longer than that
is only counted by `rebuild` (`hall stats rebuild`), which recomputes every day. The
worker folds every `FOLD_INTERVAL`; the charts' aggregated figures lag that much.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from hall.clock import Clock
from hall.db import Database
from hall.engine import SCHOOL_TZ, local_date
from hall.models import ActionLog, Application, StatsDaily, StatsWatermark, Task
from hall.states import OPEN_TASK_STATES, AppStatus, TaskStatus

log = logging.getLogger("hall.stats")

RATIO = 1.02
FIRST = 60.0  # seconds: the end of bucket 0
_LOG_RATIO = math.log(RATIO)
SETTLE = timedelta(minutes=5)
FOLD_INTERVAL = 60.0  # seconds between the worker's folds
DECIDED = frozenset({TaskStatus.APPROVED, TaskStatus.REJECTED, TaskStatus.RETURNED})
OPEN = tuple(sorted(OPEN_TASK_STATES))
_WATERMARK_ID = 1
_task_status = Task.__table__.c.status
_app_status = Application.__table__.c.status

Key = tuple[int, date, int, str]  # process, day, step index, step key


# ---------------------------------------------------------------------- histogram


def bucket(seconds: float) -> int:
    if seconds < FIRST:
        return 0
    return int(math.log(seconds / FIRST) / _LOG_RATIO) + 1


def bucket_bounds(index: int) -> tuple[float, float]:
    if index == 0:
        return 0.0, FIRST
    return FIRST * RATIO ** (index - 1), FIRST * RATIO**index


def histogram_percentile(counts: dict[int, int], fraction: float) -> float:
    """`percentile_cont(fraction)` of the values a histogram counts: the two values around
    the rank, each placed evenly across its bucket, linearly interpolated (module docstring:
    each is off by less than its bucket's width, so the result too)."""
    total = sum(counts.values())
    if not total:
        raise ValueError("no values")
    rank = fraction * (total - 1)
    low = int(rank)
    below = _value_at(counts, low)
    if low + 1 >= total or rank == low:
        return below
    return below + (_value_at(counts, low + 1) - below) * (rank - low)


def _value_at(counts: dict[int, int], rank: int) -> float:
    """The `rank`-th smallest value (0-based), the n values of a bucket spread evenly."""
    seen = 0
    for index in sorted(counts):
        n = counts[index]
        if rank < seen + n:
            start, end = bucket_bounds(index)
            return start + (end - start) * (rank - seen + 0.5) / n
        seen += n
    raise ValueError("rank beyond the histogram")


@dataclass
class Figures:
    """One (process, day, step)'s finished tasks, or several summed."""

    finished: int = 0
    decided: int = 0
    histogram: dict[int, int] = field(default_factory=dict)
    timed: int = 0
    late: int = 0

    def add_task(
        self,
        status: str,
        activated_at: datetime | None,
        decided_at: datetime | None,
        due_at: datetime | None,
    ) -> None:
        self.finished += 1
        if status in DECIDED and activated_at is not None and decided_at is not None:
            self.decided += 1
            b = bucket(max(0.0, (decided_at - activated_at).total_seconds()))
            self.histogram[b] = self.histogram.get(b, 0) + 1
        if due_at is not None:
            self.timed += 1
            if decided_at is not None and decided_at > due_at:
                self.late += 1

    def merge(self, row: StatsDailyRow) -> None:
        self.finished += row.finished
        self.decided += row.decided
        self.timed += row.timed
        self.late += row.late
        for b, n in row.histogram.items():
            index = int(b)
            self.histogram[index] = self.histogram.get(index, 0) + int(n)


@dataclass(frozen=True)
class StatsDailyRow:
    finished: int
    decided: int
    histogram: dict[str, Any]
    timed: int
    late: int


# -------------------------------------------------------------------- computation


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), SCHOOL_TZ)
    return start, start + timedelta(days=1)


def _finished_tasks(process_id: int, start: datetime, end: datetime) -> Any:
    return (
        select(
            Application.created_at,
            Task.step_index,
            Task.step_key,
            _task_status,
            Task.activated_at,
            Task.decided_at,
            Task.due_at,
        )
        .select_from(Task)
        .join(Application, Application.id == Task.application_id)
        .where(
            Application.process_id == process_id,
            Application.created_at >= start,
            Application.created_at < end,
            _app_status != AppStatus.DRAFT,
            _task_status.not_in(OPEN),
        )
    )


def _compute(
    session: Session, process_id: int, start: datetime, end: datetime
) -> dict[Key, Figures]:
    figures: dict[Key, Figures] = defaultdict(Figures)
    rows = session.execute(
        _finished_tasks(process_id, start, end).execution_options(yield_per=20_000)
    )
    for created, index, key, status, began, ended, due in rows:
        figures[(process_id, local_date(created), index, key)].add_task(status, began, ended, due)
    return figures


def _write(session: Session, figures: dict[Key, Figures]) -> None:
    rows = [
        {
            "process_id": p,
            "day": d,
            "step_index": i,
            "step_key": k,
            "finished": f.finished,
            "decided": f.decided,
            "histogram": {str(b): n for b, n in sorted(f.histogram.items())},
            "timed": f.timed,
            "late": f.late,
        }
        for (p, d, i, k), f in figures.items()
    ]
    for chunk in range(0, len(rows), 5_000):
        session.execute(insert(StatsDaily), rows[chunk : chunk + 5_000])


def refold_days(session: Session, days: Iterable[tuple[int, date]]) -> int:
    """Recompute the rows of each (process, local day) from the tasks; returns the days."""
    done = 0
    for process_id, day in sorted(set(days)):
        session.execute(
            delete(StatsDaily).where(StatsDaily.process_id == process_id, StatsDaily.day == day)
        )
        _write(session, _compute(session, process_id, *_day_bounds(day)))
        done += 1
    return done


def rebuild(session: Session, now: datetime) -> int:
    """Recompute every row from the tasks and move the watermark to the newest log entry."""
    # Like `fold`, only entries that had time to settle count as read.
    newest = session.scalar(
        select(func.max(ActionLog.id)).where(ActionLog.created_at < now - SETTLE)
    )
    session.execute(delete(StatsDaily))
    processes = session.scalars(select(Application.process_id).distinct()).all()
    written = 0
    for process_id in processes:
        first, last = session.execute(
            select(func.min(Application.created_at), func.max(Application.created_at)).where(
                Application.process_id == process_id
            )
        ).one()
        if first is None or last is None:
            continue
        # A month at a time keeps the memory flat on a large process.
        day = local_date(first).replace(day=1)
        while day <= local_date(last):
            following = (day + timedelta(days=32)).replace(day=1)
            figures = _compute(session, process_id, _day_bounds(day)[0], _day_bounds(following)[0])
            _write(session, figures)
            written += len(figures)
            day = following
    _set_watermark(session, newest or 0, now)
    return written


def _watermark(session: Session) -> int:
    mark = session.get(StatsWatermark, _WATERMARK_ID, with_for_update=True)
    return mark.last_log_id if mark is not None else 0


def _set_watermark(session: Session, last_log_id: int, now: datetime) -> None:
    mark = session.get(StatsWatermark, _WATERMARK_ID, with_for_update=True)
    if mark is None:
        session.add(StatsWatermark(id=_WATERMARK_ID, last_log_id=last_log_id, folded_at=now))
    else:
        mark.last_log_id = max(mark.last_log_id, last_log_id)
        mark.folded_at = now
    session.flush()


@dataclass(frozen=True)
class FoldReport:
    entries: int
    days: int
    watermark: int


def fold(session: Session, now: datetime) -> FoldReport:
    """Recompute the days touched by the log entries after the watermark (idempotent)."""
    since = _watermark(session)
    entries = session.execute(
        select(ActionLog.id, ActionLog.created_at, Application.process_id, Application.created_at)
        .join(Application, Application.id == ActionLog.application_id)
        .where(ActionLog.id > since)
        .order_by(ActionLog.id)
    ).all()
    days = {(process_id, local_date(created)) for _i, _at, process_id, created in entries}
    refolded = refold_days(session, days)
    settled = [i for i, at, _p, _c in entries if at < now - SETTLE]
    unsettled = [i for i, at, _p, _c in entries if at >= now - SETTLE]
    mark = since
    if settled:
        # Everything up to the oldest entry still settling has been read for good.
        limit = min(unsettled) if unsettled else None
        mark = max(i for i in settled if limit is None or i < limit)
    _set_watermark(session, mark, now)
    return FoldReport(entries=len(entries), days=refolded, watermark=mark)


def fold_forever(db: Database, stop: threading.Event, clock: Clock, interval: float) -> None:
    """The worker's loop: fold, then wait `interval` seconds, until `stop` is set."""
    while not stop.is_set():
        try:
            with db.unit_of_work() as session:
                report = fold(session, clock.now())
            if report.days:
                log.info("statistics folded: %d entries, %d days", report.entries, report.days)
        except Exception:
            log.exception("statistics fold failed; retrying next interval")
        stop.wait(interval)


# ------------------------------------------------------------------------ reading


def read(
    session: Session, process_ids: Sequence[int], first: date, last: date
) -> dict[tuple[int, int, str], Figures]:
    """The aggregated figures per (process, step index, step key) over days first..last."""
    summed: dict[tuple[int, int, str], Figures] = defaultdict(Figures)
    if not process_ids:
        return summed
    rows = session.execute(
        select(
            StatsDaily.process_id,
            StatsDaily.step_index,
            StatsDaily.step_key,
            StatsDaily.finished,
            StatsDaily.decided,
            StatsDaily.histogram,
            StatsDaily.timed,
            StatsDaily.late,
        ).where(
            StatsDaily.process_id.in_(sorted(process_ids)),
            StatsDaily.day >= first,
            StatsDaily.day <= last,
        )
    )
    for p, i, k, finished, decided, histogram, timed, late in rows:
        summed[(p, i, k)].merge(StatsDailyRow(finished, decided, histogram, timed, late))
    return summed


def finished_per_process(
    session: Session, process_ids: Sequence[int] | None, first: date, last: date
) -> dict[int, int]:
    """Finished tasks per process over days first..last (None: every process)."""
    query = (
        select(StatsDaily.process_id, func.sum(StatsDaily.finished))
        .where(StatsDaily.day >= first, StatsDaily.day <= last)
        .group_by(StatsDaily.process_id)
    )
    if process_ids is not None:
        query = query.where(StatsDaily.process_id.in_(sorted(process_ids)))
    return {p: int(n) for p, n in session.execute(query)}


def read_overdue(
    session: Session, process_ids: Sequence[int], first: date, last: date
) -> dict[tuple[int, int, str], tuple[int, int]]:
    """Finished tasks with a due time and those decided late, per process step (summed in
    SQL: no histograms to read)."""
    rows = session.execute(
        select(
            StatsDaily.process_id,
            StatsDaily.step_index,
            StatsDaily.step_key,
            func.sum(StatsDaily.timed),
            func.sum(StatsDaily.late),
        )
        .where(
            StatsDaily.process_id.in_(sorted(process_ids)),
            StatsDaily.day >= first,
            StatsDaily.day <= last,
        )
        .group_by(StatsDaily.process_id, StatsDaily.step_index, StatsDaily.step_key)
    )
    return {(p, i, k): (int(timed), int(late)) for p, i, k, timed, late in rows}
