"""The application counts (`stats_applications`) and the monthly task figures
(`stats_monthly`) give exactly what the applications and the days give, on both backends:
after a rebuild, with changes the fold has not read yet, after the fold, and before they
are complete (a migrated database until `hall stats rebuild`)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from hall import stats, stats_daily
from hall.models import ActionLog, Application, StatsWatermark, Task, TaskOrigin
from hall.states import AppStatus, TaskStatus
from tests import factories

NOW = datetime(2026, 9, 30, 4, 0, tzinfo=UTC)
RECENT = NOW - timedelta(minutes=1)  # still settling: the fold reads it again
LONG = stats.Period(date(2026, 6, 20), date(2026, 9, 29))  # July and August whole
MONTH = stats.Period(date(2026, 9, 1), date(2026, 9, 30))
COUNTED = ("processes", "approval", "departments", "months")
_serial = iter(range(1, 100_000))


@pytest.fixture
def school(session):
    s = factories.school(session)
    s.cs_proc = factories.process(session, factories.simple_spec("CS", name="学院事项"))
    s.jwc_proc = factories.process(session, factories.simple_spec("JWC", name="教务事项"))
    session.flush()
    return s


def _application(session, version, applicant, created, status, *, spent=None, logged=None):
    app = Application(
        serial=f"R{next(_serial):06d}",
        process_id=version.process_id,
        version_id=version.id,
        applicant_id=applicant.id,
        department_id=applicant.department_id,
        title="t",
        form={"reason": "x"},
        created_at=created,
    )
    app._set_status(AppStatus(status))
    session.add(app)
    session.flush()
    if spent is not None:
        task = Task(
            application_id=app.id,
            step_index=0,
            step_key="s0",
            assignee_id=applicant.id,
            origin=TaskOrigin.FLOW,
            activated_at=created,
            decided_at=created + timedelta(hours=spent),
            due_at=created + timedelta(hours=24),
        )
        task._set_status(TaskStatus.APPROVED)
        session.add(task)
    if logged is not None:
        session.add(ActionLog(application_id=app.id, action="submit", created_at=logged))
    session.flush()
    return app


def _random_school(session, school, rng):
    statuses = ["approved", "approved", "rejected", "pending", "returned", "withdrawn", "draft"]
    for _ in range(150):
        created = NOW - timedelta(days=rng.randrange(120), minutes=rng.randrange(1440))
        version = rng.choice([school.cs_proc, school.jwc_proc])
        applicant = rng.choice([school.student, school.teacher, school.dean])
        status = rng.choice(statuses)
        spent = rng.uniform(0.01, 100) if status in {"approved", "rejected"} else None
        app = _application(session, version, applicant, created, status, spent=spent)
        if rng.random() < 0.1:
            app.department_id = None  # counted as "not recorded"
    # Either side of local midnight at a month's end (16:00 UTC).
    for created in (
        datetime(2026, 8, 31, 15, 59, tzinfo=UTC),
        datetime(2026, 8, 31, 16, 0, tzinfo=UTC),
    ):
        _application(session, school.cs_proc, school.student, created, "approved", spent=2)
    session.flush()


def _counts(session, viewer, period):
    result = stats.report(session, viewer, period, NOW)
    return {key: result.tables[key].rows for key in COUNTED}, result.totals


def _direct(session, viewer, period, monkeypatch):
    """The same figures counted from the applications themselves."""
    with monkeypatch.context() as patch:
        patch.setattr(stats_daily, "unfolded_days", lambda *_args: None)
        return _counts(session, viewer, period)


def _assert_exact(session, school, monkeypatch):
    for viewer in (school.cs_admin.id, school.it_admin.id):
        for period in (LONG, MONTH):
            assert _counts(session, viewer, period) == _direct(session, viewer, period, monkeypatch)


def test_application_counts_match_the_applications(session, school, monkeypatch):
    _random_school(session, school, random.Random(11))
    before = _counts(session, school.it_admin.id, LONG)
    assert stats_daily.rebuild(session, NOW) > 0
    mark = session.get(StatsWatermark, 1)
    assert mark is not None
    assert mark.complete
    assert _counts(session, school.it_admin.id, LONG) == before
    assert len(before[0]["departments"]) == 3
    assert before[0]["months"][0] == ("2026-06", before[0]["months"][0][1])
    _assert_exact(session, school, monkeypatch)

    # Changes the fold has not read: their days are counted from the applications.
    pending = session.scalars(
        select(Application).where(stats.app_status == AppStatus.PENDING)
    ).first()
    assert pending is not None
    pending._set_status(AppStatus.WITHDRAWN)
    session.add(ActionLog(application_id=pending.id, action="withdraw", created_at=RECENT))
    for days_ago in (3, 4, 40):
        created = NOW - timedelta(days=days_ago)
        _application(session, school.jwc_proc, school.teacher, created, "pending", logged=RECENT)
    session.flush()
    unfolded = stats_daily.unfolded_days(session, None, LONG.start_at, LONG.end_at)
    assert unfolded
    assert sum(len(days) for days in unfolded.values()) >= 3
    _assert_exact(session, school, monkeypatch)
    assert _counts(session, school.it_admin.id, LONG) != before

    # Folded (the entries still settle, so they stay unfolded too): the same figures.
    assert stats_daily.fold(session, NOW).days >= 3
    _assert_exact(session, school, monkeypatch)
    stats_daily.fold(session, NOW + stats_daily.SETTLE)
    assert stats_daily.unfolded_days(session, None, LONG.start_at, LONG.end_at) == {}
    _assert_exact(session, school, monkeypatch)


def test_incomplete_aggregates_are_not_read(session, school, monkeypatch):
    _random_school(session, school, random.Random(12))
    stats_daily.rebuild(session, NOW)
    mark = session.get(StatsWatermark, 1)
    assert mark is not None
    mark.complete = False  # as the migration leaves an existing watermark
    session.flush()
    assert stats_daily.unfolded_days(session, None, LONG.start_at, LONG.end_at) is None
    # An application the aggregates miss is counted: the applications are read.
    _application(session, school.cs_proc, school.student, NOW - timedelta(days=2), "approved")
    _assert_exact(session, school, monkeypatch)
    # A fold of an existing watermark does not make them complete; a rebuild does.
    stats_daily.fold(session, NOW)
    assert not mark.complete
    stats_daily.rebuild(session, NOW)
    assert mark.complete
    _assert_exact(session, school, monkeypatch)


def _figures(session, school, period, monkeypatch, *, monthly):
    processes = [school.cs_proc.process_id, school.jwc_proc.process_id]
    with monkeypatch.context() as patch:
        if not monthly:
            patch.setattr(stats_daily, "_complete", lambda _session: False)
        return dict(stats_daily.read(session, processes, period.start, period.end))


def test_months_sum_their_days(session, school, monkeypatch):
    _random_school(session, school, random.Random(13))
    stats_daily.rebuild(session, NOW)
    for period in (LONG, MONTH, stats.Period(date(2026, 8, 3), date(2026, 8, 20))):
        daily = _figures(session, school, period, monkeypatch, monthly=False)
        assert daily
        assert _figures(session, school, period, monkeypatch, monthly=True) == daily
    # A day the fold rewrites rewrites its month.
    created = datetime(2026, 8, 10, 2, 0, tzinfo=UTC)
    _application(
        session,
        school.cs_proc,
        school.teacher,
        created,
        "approved",
        spent=500,
        logged=NOW - timedelta(hours=1),
    )
    before = _figures(session, school, LONG, monkeypatch, monthly=True)
    stats_daily.fold(session, NOW)
    after = _figures(session, school, LONG, monkeypatch, monthly=True)
    assert after != before
    assert after == _figures(session, school, LONG, monkeypatch, monthly=False)


def test_whole_months_of_a_range():
    whole = stats_daily._whole_months
    assert whole(date(2025, 11, 30), date(2026, 11, 29)) == (
        date(2025, 12, 1),
        date(2026, 10, 1),
        date(2026, 11, 1),
    )
    assert whole(date(2026, 1, 31), date(2026, 3, 31)) == (
        date(2026, 2, 1),
        date(2026, 3, 1),
        date(2026, 4, 1),
    )
    assert whole(date(2026, 9, 1), date(2026, 9, 30)) == (
        date(2026, 9, 1),
        date(2026, 9, 1),
        date(2026, 10, 1),
    )
    assert whole(date(2026, 9, 2), date(2026, 9, 30)) is None
    assert whole(date(2026, 8, 2), date(2026, 9, 29)) is None
