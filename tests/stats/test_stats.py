"""Statistics: scope, date ranges, each chart's records, percentiles, exports."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook

from hall import stats
from hall.errors import Invalid, NotFound
from hall.models import Application, Task, TaskOrigin
from hall.states import AppStatus, TaskStatus
from tests import factories

NOW = datetime(2026, 9, 30, 4, 0, tzinfo=UTC)  # 12:00 in the school's time zone


@pytest.fixture
def school(session):
    s = factories.school(session)
    s.cs_proc = factories.process(session, factories.simple_spec("CS", name="学院事项"))
    s.jwc_proc = factories.process(session, factories.simple_spec("JWC", name="教务事项"))
    session.flush()
    return s


_serial = iter(range(1, 10_000))


def _application(session, version, applicant, status, created, *, hours=(), due=None):
    app = Application(
        serial=f"S{next(_serial):06d}",
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
    for step, spent in enumerate(hours):
        task = Task(
            application_id=app.id,
            step_index=step,
            step_key=f"s{step}",
            assignee_id=applicant.id,
            origin=TaskOrigin.FLOW,
            activated_at=created,
            decided_at=created + timedelta(hours=spent) if spent is not None else None,
            due_at=due,
        )
        task._set_status(TaskStatus.APPROVED if spent is not None else TaskStatus.PENDING)
        session.add(task)
    session.flush()
    return app


def test_percentile_matches_percentile_cont():
    assert stats.percentile([1, 2, 3, 4], 0.5) == 2.5
    assert stats.percentile([10], 0.9) == 10
    assert stats.percentile([0, 10], 0.9) == pytest.approx(9.0)


def test_periods_are_school_days():
    period = stats.parse_period("2026-09-01", "2026-09-30", NOW)
    assert period.start_at == datetime(2026, 8, 31, 16, 0, tzinfo=UTC)
    assert period.end_at == datetime(2026, 9, 30, 16, 0, tzinfo=UTC)
    assert stats.parse_period(None, None, NOW) == stats.Period(date(2026, 9, 1), date(2026, 9, 30))
    for start, end in [("2026-09-30", "2026-09-01"), ("x", None), ("2020-01-01", "2026-01-01")]:
        with pytest.raises(Invalid):
            stats.parse_period(start, end, NOW)


def test_outsiders_see_no_statistics(session, school):
    with pytest.raises(NotFound):
        stats.scope_of(session, school.student.id)
    with pytest.raises(NotFound):
        stats.scope_of(session, school.dean.id)


def test_report_counts_what_happened_in_range(session, school):
    day = datetime(2026, 9, 10, 2, 0, tzinfo=UTC)
    _application(session, school.cs_proc, school.student, "approved", day, hours=(1, 3))
    _application(session, school.cs_proc, school.student, "approved", day, hours=(2, 5))
    _application(session, school.cs_proc, school.teacher, "rejected", day, hours=(4,))
    _application(session, school.cs_proc, school.teacher, "pending", day, hours=(None,), due=day)
    _application(session, school.cs_proc, school.student, "draft", day)
    _application(session, school.cs_proc, school.student, "approved", day - timedelta(days=60))
    _application(session, school.jwc_proc, school.student, "approved", day, hours=(1,))
    for who in (school.student, school.student, school.teacher, None):
        stats.record_visit(session, school.cs_proc.process_id, who.id if who else None, day)
    period = stats.parse_period("2026-09-01", "2026-09-30", NOW)

    mine = stats.report(session, school.cs_admin.id, period, NOW)
    assert set(mine.scope.processes) == {school.cs_proc.process_id}
    assert mine.tables["processes"].rows == [("学院事项", 4, 2, 1, 1, 0)]
    assert mine.tables["approval"].rows == [("学院事项", 3, 2, 66.7)]
    assert mine.tables["months"].rows == [("2026-09", 4)]
    assert sorted(mine.tables["departments"].rows) == [("计算机学院", 2), ("软件工程系", 2)]
    assert mine.tables["visits"].rows == [("学院事项", 4, 2)]
    assert (mine.totals.visits, mine.totals.visitors) == (4, 2)
    assert mine.totals.approval_rate == 66.7
    handling = mine.tables["handling"].rows
    assert handling == [("学院事项", 1, "s0", 3, 2.0, 3.6), ("学院事项", 2, "s1", 2, 4.0, 4.8)]
    assert mine.tables["overdue"].rows == [("学院事项", 1, "s0", 1, 1, 1)]
    assert mine.tables["backlog"].rows == [("钱老师", 1, "2026-09-10")]

    everything = stats.report(session, school.it_admin.id, period, NOW)
    assert {r[0] for r in everything.tables["processes"].rows} == {"学院事项", "教务事项"}
    assert everything.totals.applications == 5


def test_one_chart_and_its_exports(session, school):
    day = datetime(2026, 9, 10, 2, 0, tzinfo=UTC)
    _application(session, school.cs_proc, school.student, "approved", day, hours=(1,))
    period = stats.parse_period("2026-09-01", "2026-09-30", NOW)
    table = stats.chart_table(session, school.cs_admin.id, "processes", period, NOW)
    assert table.rows == [("学院事项", 1, 1, 0, 0, 0)]
    with pytest.raises(NotFound):
        stats.chart_table(session, school.cs_admin.id, "nope", period, NOW)

    data = stats.to_csv(table)
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [list(table.columns), ["学院事项", "1", "1", "0", "0", "0"]]

    sheet = load_workbook(io.BytesIO(stats.to_xlsx(table))).active
    assert sheet is not None
    assert [list(r) for r in sheet.iter_rows(values_only=True)] == [
        list(table.columns),
        ["学院事项", 1, 1, 0, 0, 0],
    ]


def test_exports_defuse_formulas():
    table = stats.Table("x", "x", ("名称",), [("=HYPERLINK(1)",), (None,)])
    rows = list(csv.reader(io.StringIO(stats.to_csv(table).decode("utf-8-sig"))))
    assert rows[1:] == [["'=HYPERLINK(1)"], [""]]
