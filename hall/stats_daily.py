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

Applications: `stats_applications` counts the applications (drafts excluded) of
`process_id` created on local day `day` by applicants of `department_id`, by status, so the
application charts read a row per day and department instead of every application. These
counts are exact, not lagging: the days the fold has not caught up with (those of the log
entries after the watermark, visible to the reader) are counted from the applications
instead (`unfolded_days`).

Months: `stats_monthly` sums a calendar month's days per process step, rewritten from them
whenever the fold or `rebuild` writes one of its days; `read` takes the months a range
covers whole from it and only the rest day by day (a year: ~40 histograms, not ~1,100).

Both are trusted only once complete: the watermark's `complete` flag, set by `rebuild` and
by a first fold (which reads the whole log); until then the charts count every
application directly and read the task figures day by day.

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

from sqlalchemy import and_, case, delete, func, insert, literal, not_, select
from sqlalchemy.orm import Session

from hall.clock import Clock
from hall.db import Database
from hall.engine import SCHOOL_TZ, local_date
from hall.models import (
    ActionLog,
    Application,
    StatsApplications,
    StatsDaily,
    StatsMonthly,
    StatsWatermark,
    Task,
)
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
AppKey = tuple[int, date, int | None]  # process, day, applicant's department
# The columns of stats_applications after `applications`, and the statuses each counts.
COUNTED = ("approved", "rejected", "in_progress", "withdrawn")
_COLUMN_OF = {
    AppStatus.APPROVED: 1,
    AppStatus.REJECTED: 2,
    AppStatus.PENDING: 3,
    AppStatus.RETURNED: 3,
    AppStatus.WITHDRAWN: 4,
    AppStatus.REVOKED: 4,  # taken back too, after approval: the charts' 撤回 counts both
}


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

    def add(self, other: Figures) -> None:
        self.finished += other.finished
        self.decided += other.decided
        self.timed += other.timed
        self.late += other.late
        for b, n in other.histogram.items():
            self.histogram[b] = self.histogram.get(b, 0) + n

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


def _write(session: Session, figures: dict[Key, Figures], table: Any = StatsDaily) -> None:
    """Day rows into `stats_daily`, or month rows (keyed by the month's first day) into
    `stats_monthly`."""
    rows = [
        {
            "process_id": p,
            "day" if table is StatsDaily else "month": d,
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
        session.execute(insert(table), rows[chunk : chunk + 5_000])


def _by_month(figures: dict[Key, Figures]) -> dict[Key, Figures]:
    months: dict[Key, Figures] = defaultdict(Figures)
    for (p, d, i, k), f in figures.items():
        months[(p, d.replace(day=1), i, k)].add(f)
    return months


def _refold_months(session: Session, months: Iterable[tuple[int, date]]) -> None:
    """Rewrite each (process, month)'s `stats_monthly` rows from its `stats_daily` rows."""
    for process_id, month in sorted(set(months)):
        session.execute(
            delete(StatsMonthly).where(
                StatsMonthly.process_id == process_id, StatsMonthly.month == month
            )
        )
        following = (month + timedelta(days=32)).replace(day=1)
        summed: dict[Key, Figures] = defaultdict(Figures)
        for i, k, *row in session.execute(
            select(
                StatsDaily.step_index,
                StatsDaily.step_key,
                StatsDaily.finished,
                StatsDaily.decided,
                StatsDaily.histogram,
                StatsDaily.timed,
                StatsDaily.late,
            ).where(
                StatsDaily.process_id == process_id,
                StatsDaily.day >= month,
                StatsDaily.day < following,
            )
        ):
            summed[(process_id, month, i, k)].merge(StatsDailyRow(*row))
        _write(session, summed, StatsMonthly)


def _count_applications(
    session: Session, process_id: int, start: datetime, end: datetime
) -> dict[AppKey, list[int]]:
    """Applications, then each of `COUNTED`, per (process, local day, department)."""
    counts: dict[AppKey, list[int]] = defaultdict(lambda: [0] * (1 + len(COUNTED)))
    rows = session.execute(
        select(Application.created_at, Application.department_id, _app_status)
        .where(
            Application.process_id == process_id,
            Application.created_at >= start,
            Application.created_at < end,
            _app_status != AppStatus.DRAFT,
        )
        .execution_options(yield_per=20_000)
    )
    for created, department_id, status in rows:
        row = counts[(process_id, local_date(created), department_id)]
        row[0] += 1
        column = _COLUMN_OF.get(status)
        if column is not None:
            row[column] += 1
    return counts


def _write_applications(session: Session, counts: dict[AppKey, list[int]]) -> None:
    rows = [
        {
            "process_id": p,
            "day": d,
            "department_id": dept,
            "applications": n[0],
            **dict(zip(COUNTED, n[1:], strict=True)),
        }
        for (p, d, dept), n in counts.items()
    ]
    for chunk in range(0, len(rows), 5_000):
        session.execute(insert(StatsApplications), rows[chunk : chunk + 5_000])


def refold_days(session: Session, days: Iterable[tuple[int, date]]) -> int:
    """Recompute the rows of each (process, local day) from the tasks and applications;
    returns the days."""
    done = 0
    touched = set(days)
    for process_id, day in sorted(touched):
        session.execute(
            delete(StatsDaily).where(StatsDaily.process_id == process_id, StatsDaily.day == day)
        )
        session.execute(
            delete(StatsApplications).where(
                StatsApplications.process_id == process_id, StatsApplications.day == day
            )
        )
        _write(session, _compute(session, process_id, *_day_bounds(day)))
        _write_applications(session, _count_applications(session, process_id, *_day_bounds(day)))
        done += 1
    _refold_months(session, {(p, d.replace(day=1)) for p, d in touched})
    return done


def rebuild(session: Session, now: datetime) -> int:
    """Recompute every row from the tasks and move the watermark to the newest log entry."""
    # Like `fold`, only entries that had time to settle count as read.
    newest = session.scalar(
        select(func.max(ActionLog.id)).where(ActionLog.created_at < now - SETTLE)
    )
    session.execute(delete(StatsDaily))
    session.execute(delete(StatsApplications))
    session.execute(delete(StatsMonthly))
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
            bounds = _day_bounds(day)[0], _day_bounds(following)[0]
            figures = _compute(session, process_id, *bounds)
            _write(session, figures)
            months = _by_month(figures)
            _write(session, months, StatsMonthly)
            counts = _count_applications(session, process_id, *bounds)
            _write_applications(session, counts)
            written += len(figures) + len(months) + len(counts)
            day = following
    _set_watermark(session, newest or 0, now, complete=True)
    return written


def _watermark(session: Session) -> int:
    mark = session.get(StatsWatermark, _WATERMARK_ID, with_for_update=True)
    return mark.last_log_id if mark is not None else 0


def _set_watermark(
    session: Session, last_log_id: int, now: datetime, *, complete: bool = False
) -> None:
    """Move the watermark; `complete`: the application counts now hold every application.
    A first fold (no watermark yet) has read the whole log, so it makes them complete too."""
    mark = session.get(StatsWatermark, _WATERMARK_ID, with_for_update=True)
    if mark is None:
        session.add(
            StatsWatermark(id=_WATERMARK_ID, last_log_id=last_log_id, folded_at=now, complete=True)
        )
    else:
        mark.last_log_id = max(mark.last_log_id, last_log_id)
        mark.folded_at = now
        mark.complete = mark.complete or complete
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
    chosen = sorted(process_ids)
    day_spans = [(first, last)]
    whole = _whole_months(first, last) if _complete(session) else None
    if whole is not None:
        # The months the range covers whole from their sums, the days around them one by one.
        month_first, month_last, after = whole
        day_spans = [(first, month_first - timedelta(days=1)), (after, last)]
        months = session.execute(
            select(
                StatsMonthly.process_id,
                StatsMonthly.step_index,
                StatsMonthly.step_key,
                StatsMonthly.finished,
                StatsMonthly.decided,
                StatsMonthly.histogram,
                StatsMonthly.timed,
                StatsMonthly.late,
            ).where(
                StatsMonthly.process_id.in_(chosen),
                StatsMonthly.month >= month_first,
                StatsMonthly.month <= month_last,
            )
        )
        for p, i, k, *row in months:
            summed[(p, i, k)].merge(StatsDailyRow(*row))
    for span_first, span_last in day_spans:
        if span_first > span_last:
            continue
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
                StatsDaily.process_id.in_(chosen),
                StatsDaily.day >= span_first,
                StatsDaily.day <= span_last,
            )
        )
        for p, i, k, *row in rows:
            summed[(p, i, k)].merge(StatsDailyRow(*row))
    return summed


def _complete(session: Session) -> bool:
    return bool(
        session.scalar(select(StatsWatermark.complete).where(StatsWatermark.id == _WATERMARK_ID))
    )


def _whole_months(first: date, last: date) -> tuple[date, date, date] | None:
    """The first and the last month (their first days) that first..last covers whole, and
    the day after them; None when it covers no month whole."""
    month_first = (
        first if first.day == 1 else (first.replace(day=1) + timedelta(days=32)).replace(day=1)
    )
    following = last + timedelta(days=1)
    after = following if following.day == 1 else last.replace(day=1)
    if month_first >= after:
        return None
    month_last = (after - timedelta(days=1)).replace(day=1)
    return month_first, month_last, after


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


def unfolded_days(
    session: Session, process_ids: Sequence[int] | None, start: datetime, end: datetime
) -> dict[int, set[date]] | None:
    """The local days, per process, of the applications created in start..end (None: of
    every process) that log entries after the watermark touched: their counts in
    `stats_applications` may be stale, so the charts count them directly. None when the
    application counts are not complete (module docstring)."""
    mark = session.execute(
        select(StatsWatermark.last_log_id, StatsWatermark.complete).where(
            StatsWatermark.id == _WATERMARK_ID
        )
    ).one_or_none()
    if mark is None or not mark.complete:
        return None
    days: dict[int, set[date]] = defaultdict(set)
    # The entries first, through the primary key: joined, the planner misjudges how few
    # they are (a parallel plan, 15 ms to start its workers).
    touched = session.scalars(
        select(ActionLog.application_id).where(ActionLog.id > mark.last_log_id).distinct()
    ).all()
    if not touched:
        return days
    ordered = sorted(touched)
    for chunk in range(0, len(ordered), 5_000):  # a burst of activity stays within bind limits
        query = select(Application.process_id, Application.created_at).where(
            Application.id.in_(ordered[chunk : chunk + 5_000]),
            Application.created_at >= start,
            Application.created_at < end,
        )
        if process_ids is not None:
            query = query.where(Application.process_id.in_(sorted(process_ids)))
        for process_id, created in session.execute(query):
            days[process_id].add(local_date(created))
    return days


def read_applications(
    session: Session,
    process_ids: Sequence[int] | None,
    month_starts: Sequence[date],
    last: date,
    skip: dict[int, set[date]],
) -> list[tuple[Any, ...]]:
    """Applications per (process, department, month), then each of `COUNTED`, over days
    month_starts[0]..last (None: every process), leaving out the days in `skip`. The month
    is an index into `month_starts` (each the first day counted in its month)."""
    later = [(StatsApplications.day >= began, i) for i, began in enumerate(month_starts)][1:]
    month = (case(*reversed(later), else_=0) if later else literal(0)).label("month")
    conditions = [StatsApplications.day >= month_starts[0], StatsApplications.day <= last]
    if process_ids is not None:
        conditions.append(StatsApplications.process_id.in_(sorted(process_ids)))
    conditions.extend(
        not_(and_(StatsApplications.process_id == p, StatsApplications.day.in_(sorted(days))))
        for p, days in sorted(skip.items())
    )
    # Grouped in an outer query: the CASE's bound days would not match in a GROUP BY.
    days = (
        select(
            StatsApplications.process_id,
            StatsApplications.department_id,
            month,
            StatsApplications.applications,
            *(getattr(StatsApplications, c) for c in COUNTED),
        )
        .where(*conditions)
        .subquery()
    )
    groups = (days.c.process_id, days.c.department_id, days.c.month)
    rows = session.execute(
        select(
            *groups,
            func.sum(days.c.applications),
            *(func.sum(days.c[c]) for c in COUNTED),
        ).group_by(*groups)
    )
    return [(p, d, m, *(int(n) for n in counts)) for p, d, m, *counts in rows]
