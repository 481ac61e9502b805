"""Statistics for process managers: visits, applications, approval rate, handling time,
overdue steps and reviewers' backlogs, over a date range, with CSV and XLSX export.

Scope: the information center (and school-wide administrators) see every process; a
department's `dept_admin` / `process_admin` see that department's processes; anyone else
gets "not found". Dates are the school's calendar days (Asia/Shanghai); a range includes
both ends. Applications count by the moment they were created (drafts excluded).

Every chart is a `Table`: the rows it draws are exactly the rows its export holds.
Handling time is `decided_at - activated_at` of decided tasks, in hours; the median and the
90th percentile are `percentile_cont` on PostgreSQL and the same linear interpolation in
Python on SQLite (which has no ordered-set aggregates).

Speed (1,000,000 applications in one department; bench/web_bench.py): handling time and
overdue steps read every task of the range, ~83,000 scattered rows for 30 days (0.9 s and
0.7 s through the covering index of migration 0003), a million for a year (5 s). For a
process whose range holds more than `EXACT_LIMIT` finished tasks they come from the daily
aggregates of `hall.stats_daily` (~90 rows for 30 days; percentiles from a histogram, within
2 %, lagging the worker's fold by a minute) plus the open tasks, read live through a partial
index; smaller processes keep the exact computation. The backlog counts pending tasks of
open applications (pending ones have no other: deciding, returning or withdrawing an
application cancels its open tasks, hall/engine.py) through two partial indexes instead of
joining every application of the scope. Months are counted against the months' boundaries
as instants (a CASE over `created_at`), not by formatting each row's local date.

The processes, departments and months charts share one reading (`_application_counts`):
per process, department and month, from the exact daily counts of `stats_applications`
(~30 rows for 30 days, ~365 for a year, instead of 27,000 / 330,000 applications) for the
days the fold is up to date with, and from the applications themselves, in one grouped
pass, for the days it is not (or for everything before the counts are complete); a year's
handling times merge the monthly histograms of `stats_monthly` (hall/stats_daily.py).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, insert, literal, or_, select, union_all
from sqlalchemy.orm import Session

from hall import stats_daily
from hall.access import reach_of
from hall.engine import SCHOOL_TZ, local_date
from hall.errors import Invalid, NotFound
from hall.models import (
    Application,
    Department,
    Person,
    ProcessDefinition,
    ProcessVersion,
    ProcessVisit,
    Task,
)
from hall.states import AppStatus, TaskStatus

DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366  # a range longer than this is refused (it would scan everything)
BACKLOG_ROWS = 20
# Above this many finished tasks in the range a process's handling and overdue figures come
# from the daily aggregates (hall/stats_daily.py), at or below it from the tasks themselves.
EXACT_LIMIT = 20_000
app_status = Application.__table__.c.status
task_status = Task.__table__.c.status
DECIDED = (TaskStatus.APPROVED, TaskStatus.REJECTED, TaskStatus.RETURNED)


# ------------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class Period:
    """Calendar days `start`..`end` (both included) in the school's time zone."""

    start: date
    end: date

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time(), SCHOOL_TZ).astimezone(UTC)

    @property
    def end_at(self) -> datetime:
        """The first moment after the range."""
        return datetime.combine(self.end + timedelta(days=1), time(), SCHOOL_TZ).astimezone(UTC)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def default_period(now: datetime) -> Period:
    today = local_date(now)
    return Period(today - timedelta(days=DEFAULT_DAYS - 1), today)


def parse_period(start: str | None, end: str | None, now: datetime) -> Period:
    """A period from `YYYY-MM-DD` strings; the last 30 days when both are missing."""
    if not start and not end:
        return default_period(now)
    fallback = default_period(now)
    try:
        first = date.fromisoformat(start) if start else fallback.start
        last = date.fromisoformat(end) if end else fallback.end
    except ValueError:
        raise Invalid("日期格式应为 YYYY-MM-DD", fields={"range": "日期格式不对"}) from None
    if first > last:
        raise Invalid("开始日期晚于结束日期", fields={"range": "开始日期晚于结束日期"})
    if (last - first).days + 1 > MAX_DAYS:
        raise Invalid("时间范围最长三年", fields={"range": "时间范围最长三年"})
    return Period(first, last)


# ----------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Table:
    """The records behind one chart."""

    key: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class Scope:
    """The processes a viewer's statistics cover (`everything` skips the filter)."""

    everything: bool
    processes: dict[int, tuple[str, str, str]]  # id → (key, name, department name)

    def where(self, column: Any) -> ColumnElement[bool]:
        if self.everything:
            return literal(value=True)
        condition: ColumnElement[bool] = column.in_(sorted(self.processes))
        return condition

    def name(self, process_id: int) -> str:
        found = self.processes.get(process_id)
        return found[1] if found else str(process_id)


def scope_of(session: Session, person_id: int) -> Scope:
    """The processes whose statistics the person may see; NotFound for everyone else."""
    reach = reach_of(session, person_id)
    if not reach.administers:
        raise NotFound("页面不存在")
    query = (
        select(ProcessDefinition.id, ProcessDefinition.key, ProcessVersion.name, Department.name)
        .join(Department, Department.id == ProcessDefinition.department_id)
        .outerjoin(ProcessVersion, ProcessVersion.id == ProcessDefinition.current_version_id)
        .where(reach.owned_processes())
    )
    processes = {pid: (key, name or key, dept) for pid, key, name, dept in session.execute(query)}
    return Scope(everything=reach.everywhere, processes=processes)


# ------------------------------------------------------------------------ visits


def record_visit(session: Session, process_id: int, person_id: int | None, now: datetime) -> None:
    """One insert per view of a process page (no reads, no locks)."""
    session.execute(
        insert(ProcessVisit).values(process_id=process_id, person_id=person_id, visited_at=now)
    )


def _visits(session: Session, scope: Scope, period: Period) -> Table:
    rows = session.execute(
        select(
            ProcessVisit.process_id,
            func.count(),
            func.count(func.distinct(ProcessVisit.person_id)),
        )
        .where(
            scope.where(ProcessVisit.process_id),
            ProcessVisit.visited_at >= period.start_at,
            ProcessVisit.visited_at < period.end_at,
        )
        .group_by(ProcessVisit.process_id)
    )
    data = sorted(((scope.name(p), n, people) for p, n, people in rows), key=lambda r: -r[1])
    return Table("visits", "访问量（按事项）", ("事项", "访问次数", "访问人数"), data)


def visit_totals(session: Session, scope: Scope, period: Period) -> tuple[int, int]:
    """Visits and distinct visitors over the whole scope (a person counts once)."""
    row = session.execute(
        select(func.count(), func.count(func.distinct(ProcessVisit.person_id))).where(
            scope.where(ProcessVisit.process_id),
            ProcessVisit.visited_at >= period.start_at,
            ProcessVisit.visited_at < period.end_at,
        )
    ).one()
    return int(row[0]), int(row[1])


# ------------------------------------------------------------------ applications


def _in_period(scope: Scope, period: Period) -> list[ColumnElement[bool]]:
    return [
        scope.where(Application.process_id),
        Application.created_at >= period.start_at,
        Application.created_at < period.end_at,
        app_status != AppStatus.DRAFT,
    ]


# (process, department, month index) → applications, approved, rejected, in progress,
# withdrawn: the records behind the processes, departments and months charts, read at once.
Counts = list[tuple[Any, ...]]


def _months(period: Period) -> list[tuple[str, date]]:
    """Each month the period touches with its first day in the period."""
    months = [(period.start.strftime("%Y-%m"), period.start)]
    first = period.start.replace(day=1)
    while True:
        first = (first + timedelta(days=32)).replace(day=1)
        if first > period.end:
            return months
        months.append((first.strftime("%Y-%m"), first))


def _application_counts(session: Session, scope: Scope, period: Period) -> Counts:
    """The period's applications per process, department and month: the daily counts of
    `stats_daily` where complete and up to date, the applications themselves elsewhere."""
    chosen = None if scope.everything else sorted(scope.processes)
    starts = [first for _label, first in _months(period)]
    unfolded = stats_daily.unfolded_days(session, chosen, period.start_at, period.end_at)
    if unfolded is None:
        return _counts_live(session, starts, [_in_period(scope, period)])
    rows = stats_daily.read_applications(session, chosen, starts, period.end, unfolded)
    if unfolded:
        # A range scan per run of days (one scan filtered by them all reads the whole range).
        parts = [
            [
                Application.process_id == p,
                Application.created_at >= Period(first, last).start_at,
                Application.created_at < Period(first, last).end_at,
                app_status != AppStatus.DRAFT,
            ]
            for p, days in sorted(unfolded.items())
            for first, last in _spans(days)
        ]
        rows.extend(_counts_live(session, starts, parts))
    return rows


def _spans(days: set[date]) -> list[tuple[date, date]]:
    """The days as runs of consecutive days (first, last)."""
    spans: list[tuple[date, date]] = []
    for day in sorted(days):
        if spans and spans[-1][1] + timedelta(days=1) == day:
            spans[-1] = (spans[-1][0], day)
        else:
            spans.append((day, day))
    return spans


def _counts_live(
    session: Session, starts: list[date], parts: list[list[ColumnElement[bool]]]
) -> Counts:
    """`_application_counts` from the applications each of `parts` selects (conditions, the
    parts disjoint): one pass, grouped in SQL."""
    later = [
        (Application.created_at >= Period(first, first).start_at, i)
        for i, first in enumerate(starts)
    ][1:]
    month = (case(*reversed(later), else_=0) if later else literal(0)).label("month")
    # Grouped in an outer query: the CASE's bound instants would not match in a GROUP BY.
    selects = [
        select(Application.process_id, Application.department_id, month, app_status).where(
            *conditions
        )
        for conditions in parts
    ]
    created = (selects[0] if len(selects) == 1 else union_all(*selects)).subquery()
    status = created.c.status

    def share(*statuses: AppStatus) -> Any:
        return func.count(case((status.in_(statuses), 1)))

    groups = (created.c.process_id, created.c.department_id, created.c.month)
    rows = session.execute(
        select(
            *groups,
            func.count(),
            share(AppStatus.APPROVED),
            share(AppStatus.REJECTED),
            share(AppStatus.PENDING, AppStatus.RETURNED),
            share(AppStatus.WITHDRAWN, AppStatus.REVOKED),
        ).group_by(*groups)
    )
    return [tuple(r) for r in rows]


def _by_process(scope: Scope, counts: Counts) -> Table:
    summed: dict[int, list[int]] = defaultdict(lambda: [0] * 5)
    for p, _d, _m, *figures in counts:
        summed[p] = [a + b for a, b in zip(summed[p], figures, strict=True)]
    rows: list[tuple[Any, ...]] = [(scope.name(p), *figures) for p, figures in summed.items()]
    data = sorted(rows, key=lambda r: (-r[1], r[0]))
    return Table(
        "processes",
        "申请量（按事项）",
        ("事项", "申请", "通过", "驳回", "办理中", "撤回"),
        data,
    )


def _by_department(session: Session, counts: Counts) -> Table:
    summed: dict[int | None, int] = defaultdict(int)
    for _p, d, _m, n, *_rest in counts:
        summed[d] += n
    names = dict(
        session.execute(
            select(Department.id, Department.name).where(
                Department.id.in_([d for d in summed if d is not None])
            )
        ).all()
    )
    data = sorted(
        (
            (names.get(d, "（未记录）") if d is not None else "（未记录）", n)
            for d, n in summed.items()
        ),
        key=lambda r: (-r[1], r[0]),
    )
    return Table("departments", "申请量（按申请人部门）", ("部门", "申请"), data)


def _by_month(period: Period, counts: Counts) -> Table:
    months = _months(period)
    summed: dict[int, int] = defaultdict(int)
    for _p, _d, m, n, *_rest in counts:
        summed[m] += n
    data = sorted((months[i][0], n) for i, n in summed.items())
    return Table("months", "申请量（按月）", ("月份", "申请"), data)


def _approval(processes: Table) -> Table:
    data = []
    for name, _n, ok, no, _open, _gone in processes.rows:
        decided = ok + no
        rate = round(100 * ok / decided, 1) if decided else None
        data.append((name, decided, ok, rate))
    return Table("approval", "通过率（按事项）", ("事项", "已决定", "通过", "通过率%"), data)


# ------------------------------------------------------------------ handling time


def _decided_tasks(scope: Scope, period: Period) -> list[ColumnElement[bool]]:
    return [
        *_in_period(scope, period),
        task_status.in_(DECIDED),
        Task.decided_at.is_not(None),
        Task.activated_at.is_not(None),
    ]


def percentile(values: Sequence[float], fraction: float) -> float:
    """`percentile_cont`: linear interpolation between the closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _hours(value: float | None) -> float | None:
    return None if value is None else round(value / 3600, 1)


def _aggregated(session: Session, scope: Scope, period: Period) -> list[int]:
    """The scope's processes whose range is large enough for the daily aggregates."""
    chosen = None if scope.everything else sorted(scope.processes)
    finished = stats_daily.finished_per_process(session, chosen, period.start, period.end)
    return sorted(p for p, n in finished.items() if n > EXACT_LIMIT)


def _live(scope: Scope, aggregated: list[int]) -> list[ColumnElement[bool]] | None:
    """The condition for the processes computed from the tasks; None when there are none."""
    if not aggregated:
        return []
    rest = sorted(set(scope.processes) - set(aggregated))
    return [Application.process_id.in_(rest)] if rest else None


def _handling(session: Session, scope: Scope, period: Period) -> Table:
    aggregated = _aggregated(session, scope, period)
    only = _live(scope, aggregated)
    rows = [] if only is None else _handling_live(session, scope, period, only)
    for (p, i, k), figures in stats_daily.read(
        session, aggregated, period.start, period.end
    ).items():
        if figures.decided:
            median = stats_daily.histogram_percentile(figures.histogram, 0.5)
            p90 = stats_daily.histogram_percentile(figures.histogram, 0.9)
            rows.append((p, i, k, figures.decided, median, p90))
    data = [
        (scope.name(p), i + 1, k, n, _hours(med), _hours(p90))
        for p, i, k, n, med, p90 in sorted(rows, key=lambda r: (scope.name(r[0]), r[1]))
    ]
    return Table(
        "handling",
        "办理用时（按步骤，小时）",
        ("事项", "步骤序号", "步骤", "已办件数", "中位数", "90%分位"),
        data,
    )


def _handling_live(
    session: Session, scope: Scope, period: Period, only: list[ColumnElement[bool]]
) -> list[tuple[Any, ...]]:
    join = Task.application_id == Application.id
    groups = (Application.process_id, Task.step_index, Task.step_key)
    rows: list[tuple[Any, ...]]
    if session.get_bind().dialect.name == "postgresql":
        seconds = func.extract("epoch", Task.decided_at - Task.activated_at)
        query = (
            select(
                *groups,
                func.count(),
                func.percentile_cont(0.5).within_group(seconds),
                func.percentile_cont(0.9).within_group(seconds),
            )
            .select_from(Task)
            .join(Application, join)
            .where(*_decided_tasks(scope, period), *only)
            .group_by(*groups)
        )
        rows = [
            (p, i, k, n, float(med), float(p90)) for p, i, k, n, med, p90 in session.execute(query)
        ]
    else:
        durations: dict[tuple[int, int, str], list[float]] = defaultdict(list)
        query = (
            select(*groups, Task.activated_at, Task.decided_at)
            .select_from(Task)
            .join(Application, join)
            .where(*_decided_tasks(scope, period), *only)
        )
        for p, i, k, began, ended in session.execute(query):
            assert began is not None
            assert ended is not None
            durations[(p, i, k)].append((ended - began).total_seconds())
        rows = [
            (p, i, k, len(v), percentile(v, 0.5), percentile(v, 0.9))
            for (p, i, k), v in durations.items()
        ]
    return rows


def _overdue(session: Session, scope: Scope, period: Period, now: datetime) -> Table:
    late = or_(
        and_(Task.decided_at.is_not(None), Task.decided_at > Task.due_at),
        and_(task_status == TaskStatus.PENDING, Task.due_at < now),
    )
    overdue_now = and_(task_status == TaskStatus.PENDING, Task.due_at < now)
    groups = (Application.process_id, Task.step_index, Task.step_key)
    aggregated = _aggregated(session, scope, period)
    only = _live(scope, aggregated)
    rows: list[tuple[Any, ...]] = []
    if only is not None:
        query = (
            select(
                *groups,
                func.count(),
                func.count(case((late, 1))),
                func.count(case((overdue_now, 1))),
            )
            .select_from(Task)
            .join(Application, Task.application_id == Application.id)
            .where(*_in_period(scope, period), Task.due_at.is_not(None), *only)
            .group_by(*groups)
        )
        rows.extend(tuple(r) for r in session.execute(query))
    if aggregated:
        rows.extend(_overdue_aggregated(session, aggregated, period, now))
    data = [
        (scope.name(p), i + 1, k, n, late_n, open_late)
        for p, i, k, n, late_n, open_late in sorted(rows, key=lambda r: (scope.name(r[0]), r[1]))
    ]
    return Table(
        "overdue",
        "超时（按步骤）",
        ("事项", "步骤序号", "步骤", "有时限的待办", "超时", "其中仍未处理"),
        data,
    )


def _overdue_aggregated(
    session: Session, processes: list[int], period: Period, now: datetime
) -> list[tuple[Any, ...]]:
    """Finished tasks from the aggregates plus the open ones with a due time, live."""
    figures = {
        key: [timed, late, 0]
        for key, (timed, late) in stats_daily.read_overdue(
            session, processes, period.start, period.end
        ).items()
    }
    overdue_now = and_(task_status == TaskStatus.PENDING, Task.due_at < now)
    open_due = session.execute(
        select(
            Application.process_id,
            Task.step_index,
            Task.step_key,
            func.count(),
            func.count(case((overdue_now, 1))),
        )
        .select_from(Task)
        .join(Application, Task.application_id == Application.id)
        .where(
            Application.process_id.in_(processes),
            Application.created_at >= period.start_at,
            Application.created_at < period.end_at,
            app_status != AppStatus.DRAFT,
            task_status.in_(sorted(stats_daily.OPEN)),
            Task.due_at.is_not(None),
        )
        .group_by(Application.process_id, Task.step_index, Task.step_key)
    )
    for p, i, k, n, late_now in open_due:
        counts = figures.setdefault((p, i, k), [0, 0, 0])
        counts[0] += n
        counts[1] += late_now
        counts[2] += late_now
    return [
        (p, i, k, n, late, open_late) for (p, i, k), (n, late, open_late) in figures.items() if n
    ]


def _backlog(session: Session, scope: Scope) -> Table:
    """Reviewers with the most pending tasks now (the range does not apply: it is today's)."""
    count = func.count().label("n")
    rows = session.execute(
        select(Task.assignee_id, count, func.min(Task.activated_at))
        .join(Application, Task.application_id == Application.id)
        .where(
            task_status == TaskStatus.PENDING,
            app_status.in_([AppStatus.PENDING, AppStatus.RETURNED]),
            scope.where(Application.process_id),
        )
        .group_by(Task.assignee_id)
        .order_by(count.desc(), Task.assignee_id)
        .limit(BACKLOG_ROWS)
    )
    found = list(rows)
    people = dict(
        session.execute(
            select(Person.id, Person.name).where(Person.id.in_([r[0] for r in found]))
        ).all()
    )
    data = [
        (people.get(pid, str(pid)), n, local_date(oldest).isoformat() if oldest else "")
        for pid, n, oldest in found
    ]
    return Table("backlog", "审批人待办积压（当前）", ("审批人", "待办", "最早一件始于"), data)


# ------------------------------------------------------------------------ report


@dataclass(frozen=True)
class Totals:
    visits: int
    visitors: int
    applications: int
    approved: int
    rejected: int
    in_progress: int

    @property
    def approval_rate(self) -> float | None:
        decided = self.approved + self.rejected
        return round(100 * self.approved / decided, 1) if decided else None


@dataclass(frozen=True)
class Report:
    period: Period
    scope: Scope
    totals: Totals
    tables: dict[str, Table]


CHARTS: tuple[str, ...] = (
    "months",
    "processes",
    "approval",
    "departments",
    "visits",
    "handling",
    "overdue",
    "backlog",
)


def _builders(
    session: Session, scope: Scope, period: Period, now: datetime
) -> dict[str, Callable[[], Table]]:
    def counts() -> Counts:
        return _application_counts(session, scope, period)

    return {
        "months": lambda: _by_month(period, counts()),
        "processes": lambda: _by_process(scope, counts()),
        "approval": lambda: _approval(_by_process(scope, counts())),
        "departments": lambda: _by_department(session, counts()),
        "visits": lambda: _visits(session, scope, period),
        "handling": lambda: _handling(session, scope, period),
        "overdue": lambda: _overdue(session, scope, period, now),
        "backlog": lambda: _backlog(session, scope),
    }


def report(session: Session, person_id: int, period: Period, now: datetime) -> Report:
    """Every chart's records for the person's scope over the period."""
    scope = scope_of(session, person_id)
    build = _builders(session, scope, period, now)
    # The processes, departments and months charts share one reading of the applications.
    counts = _application_counts(session, scope, period)
    shared = {
        "months": lambda: _by_month(period, counts),
        "processes": lambda: _by_process(scope, counts),
        "departments": lambda: _by_department(session, counts),
    }
    tables = {key: shared.get(key, build[key])() for key in CHARTS if key != "approval"}
    tables["approval"] = _approval(tables["processes"])
    visits, visitors = visit_totals(session, scope, period)
    rows = tables["processes"].rows
    totals = Totals(
        visits=visits,
        visitors=visitors,
        applications=sum(r[1] for r in rows),
        approved=sum(r[2] for r in rows),
        rejected=sum(r[3] for r in rows),
        in_progress=sum(r[4] for r in rows),
    )
    return Report(period=period, scope=scope, totals=totals, tables=tables)


def chart_table(
    session: Session, person_id: int, chart: str, period: Period, now: datetime
) -> Table:
    """One chart's records (for its export)."""
    if chart not in CHARTS:
        raise NotFound("没有这个图表")
    scope = scope_of(session, person_id)
    return _builders(session, scope, period, now)[chart]()


# ------------------------------------------------------------------------ export


def _cells(row: Iterable[Any]) -> list[Any]:
    return ["" if v is None else v for v in row]


def _safe_text(value: Any) -> Any:
    """Spreadsheet formula injection: text starting like a formula is kept as text."""
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        return "'" + value
    return value


def to_csv(table: Table) -> bytes:
    """UTF-8 with a BOM, so Excel opens the Chinese headers correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([_safe_text(v) for v in _cells(row)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(table: Table) -> bytes:
    from openpyxl import Workbook  # noqa: PLC0415 - loaded only when someone exports

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = table.key
    sheet.append(list(table.columns))
    for row in table.rows:
        sheet.append([_safe_text(v) for v in _cells(row)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
