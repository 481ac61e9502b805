"""The daily aggregates (hall/stats_daily.py) give the figures the tasks give, on both
backends: exact counts, percentiles within the histogram's documented 2 %."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from hall import stats, stats_daily
from hall.models import ActionLog, Application, StatsDaily, StatsWatermark, Task, TaskOrigin
from hall.states import AppStatus, TaskStatus
from tests import factories

NOW = datetime(2026, 9, 30, 4, 0, tzinfo=UTC)
PERIOD = stats.Period(NOW.date() - timedelta(days=29), NOW.date())
_serial = iter(range(1, 100_000))


@pytest.fixture
def school(session):
    s = factories.school(session)
    s.cs_proc = factories.process(session, factories.simple_spec("CS", name="学院事项"))
    session.flush()
    return s


def _application(session, school, created, steps, *, status="approved", logged=None):
    """An application with tasks `(status, hours spent or None, due in hours or None)`."""
    app = Application(
        serial=f"D{next(_serial):06d}",
        process_id=school.cs_proc.process_id,
        version_id=school.cs_proc.id,
        applicant_id=school.student.id,
        department_id=school.student.department_id,
        title="t",
        form={"reason": "x"},
        created_at=created,
    )
    app._set_status(AppStatus(status))
    session.add(app)
    session.flush()
    for index, (task_status, spent, due) in enumerate(steps):
        task = Task(
            application_id=app.id,
            step_index=index,
            step_key=f"s{index}",
            assignee_id=school.teacher.id,
            origin=TaskOrigin.FLOW,
            activated_at=created,
            decided_at=created + timedelta(hours=spent) if spent is not None else None,
            due_at=created + timedelta(hours=due) if due is not None else None,
        )
        task._set_status(TaskStatus(task_status))
        session.add(task)
    if logged is not None:
        session.add(ActionLog(application_id=app.id, action="submit", created_at=logged))
    session.flush()
    return app


def _random_school(session, school, rng):
    for _ in range(60):
        created = NOW - timedelta(days=rng.randrange(40), minutes=rng.randrange(1440))
        finished = rng.random() < 0.8
        steps = []
        for _step in range(rng.randrange(1, 4)):
            due = rng.choice([None, 24, 48])
            if finished:
                outcome = rng.choice(["approved", "approved", "rejected", "returned", "skipped"])
                steps.append((outcome, rng.uniform(0.01, 120), due))
            else:
                steps.append((rng.choice(["pending", "waiting"]), None, due))
        _application(session, school, created, steps, status="approved" if finished else "pending")


def _report(session, school, monkeypatch, limit):
    monkeypatch.setattr(stats, "EXACT_LIMIT", limit)
    result = stats.report(session, school.cs_admin.id, PERIOD, NOW)
    return result.tables["handling"].rows, result.tables["overdue"].rows


def _assert_close(aggregated, exact):
    assert [r[:4] for r in aggregated] == [r[:4] for r in exact]  # process, step, count
    for mine, truth in zip(aggregated, exact, strict=True):
        for got, want in zip(mine[4:], truth[4:], strict=True):
            # 2 % of the value, plus the rounding of both to 0.1 hour
            assert got == pytest.approx(want, rel=0.02, abs=0.1)


def test_aggregates_match_the_tasks(session, school, monkeypatch):
    _random_school(session, school, random.Random(5))
    exact = _report(session, school, monkeypatch, limit=10**9)
    assert stats_daily.rebuild(session, NOW) > 0
    aggregated = _report(session, school, monkeypatch, limit=0)
    _assert_close(aggregated[0], exact[0])
    assert aggregated[1] == exact[1]  # overdue figures are counts: exact
    assert exact[1]  # the data has overdue steps
    # Under the limit the tasks are read: exact even with aggregates present.
    assert _report(session, school, monkeypatch, limit=10**9) == exact


def test_fold_recomputes_touched_days_idempotently(session, school, monkeypatch):
    _random_school(session, school, random.Random(9))
    stats_daily.rebuild(session, NOW)
    old = NOW - timedelta(hours=1)
    recent = NOW - timedelta(minutes=1)
    # An application decided after the rebuild, logged long enough ago to settle.
    _application(session, school, NOW - timedelta(days=3), [("approved", 5, 1)], logged=old)
    before = _report(session, school, monkeypatch, limit=0)
    first = stats_daily.fold(session, NOW)
    assert (first.entries, first.days) == (1, 1)
    after = _report(session, school, monkeypatch, limit=0)
    assert after != before
    exact = _report(session, school, monkeypatch, limit=10**9)
    _assert_close(after[0], exact[0])
    assert after[1] == exact[1]

    # One still settling: folded now, and read again by the next fold.
    _application(session, school, NOW - timedelta(days=2), [("rejected", 2, None)], logged=recent)
    second = stats_daily.fold(session, NOW)
    assert second.entries == 1
    assert second.watermark == first.watermark
    rows = session.execute(select(StatsDaily).order_by(StatsDaily.day)).scalars().all()
    snapshot = [(r.day, r.step_key, r.finished, r.decided, r.histogram, r.late) for r in rows]
    third = stats_daily.fold(session, NOW + stats_daily.SETTLE)
    assert third.entries == 1
    assert third.watermark > second.watermark
    session.expire_all()
    rows = session.execute(select(StatsDaily).order_by(StatsDaily.day)).scalars().all()
    assert [(r.day, r.step_key, r.finished, r.decided, r.histogram, r.late) for r in rows] == (
        snapshot
    )
    assert stats_daily.fold(session, NOW + stats_daily.SETTLE).entries == 0
    mark = session.get(StatsWatermark, 1)
    assert mark is not None
    assert mark.last_log_id == third.watermark

    exact = _report(session, school, monkeypatch, limit=10**9)
    folded = _report(session, school, monkeypatch, limit=0)
    _assert_close(folded[0], exact[0])
    assert folded[1] == exact[1]


def test_histogram_percentiles_stay_within_two_percent():
    rng = random.Random(3)
    for size in (1, 2, 7, 100, 5_000):
        values = [rng.uniform(0, 200 * 3600) for _ in range(size)]
        counts: dict[int, int] = {}
        for v in values:
            counts[stats_daily.bucket(v)] = counts.get(stats_daily.bucket(v), 0) + 1
        for fraction in (0.5, 0.9):
            truth = stats.percentile(values, fraction)
            got = stats_daily.histogram_percentile(counts, fraction)
            assert got == pytest.approx(truth, rel=0.021, abs=60)
    with pytest.raises(ValueError, match="no values"):
        stats_daily.histogram_percentile({}, 0.5)


def test_buckets_cover_their_values():
    for seconds in (0, 59.9, 60, 61, 3600, 86_400 * 30):
        low, high = stats_daily.bucket_bounds(stats_daily.bucket(seconds))
        assert low <= seconds < high


def test_months_split_at_local_midnight(session, school):
    # 23:30 on 31 August and 00:30 on 1 September in the school's time zone.
    late_august = datetime(2026, 8, 31, 15, 30, tzinfo=UTC)
    early_september = datetime(2026, 8, 31, 16, 30, tzinfo=UTC)
    for created in (late_august, early_september, early_september):
        _application(session, school, created, [("approved", 1, None)])
    period = stats.parse_period("2026-07-15", "2026-09-30", NOW)
    table = stats.chart_table(session, school.cs_admin.id, "months", period, NOW)
    assert table.rows == [("2026-08", 1), ("2026-09", 2)]
