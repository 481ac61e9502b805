"""The statistics pages through the Flask test client on PostgreSQL: the 404 page for
everyone without a manager's role, exports (content types, file names, exactly the
records behind the chart for the range), bad date ranges, and the page in English."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from hall import stats
from hall.models import Application
from hall.states import AppStatus
from tests.role_pages import (
    EN,
    assert_missing,
    campus,
    client,
    gettext_ids,
    make_app,
    missing_page,
    text,
    untranslated,
    used_messages,
)
from web.i18n import CATALOGUE

RANGE = {"start": "2026-09-01", "end": "2026-09-30"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def backend():
    return "postgresql"


@pytest.fixture
def app(db, redis_conn, tmp_path):
    return make_app(db, redis_conn, tmp_path)


_serial = iter(range(1, 100_000))


def _application(session, version, applicant, status, created):
    row = Application(
        serial=f"R{next(_serial):06d}",
        process_id=version.process_id,
        version_id=version.id,
        applicant_id=applicant.id,
        department_id=applicant.department_id,
        title="t",
        form={"reason": "x"},
        created_at=created,
    )
    row._set_status(AppStatus(status))
    session.add(row)


@pytest.fixture
def school(session):
    s = campus(session)
    inside = datetime(2026, 9, 10, 2, 0, tzinfo=UTC)
    for status in ("approved", "approved", "rejected", "pending"):
        _application(session, s.cs_proc, s.student, status, inside)
    _application(session, s.jwc_proc, s.student, "approved", inside)
    # outside the range: the day before and the day after, in the school's time zone
    _application(
        session, s.cs_proc, s.student, "approved", datetime(2026, 8, 31, 15, 0, tzinfo=UTC)
    )
    _application(
        session, s.cs_proc, s.student, "rejected", datetime(2026, 9, 30, 16, 0, tzinfo=UTC)
    )
    session.commit()
    return s


def _chart_rows(page, key):
    panel = page.split(f'id="chart-{key}"')[1]
    found = re.search(r'<script type="application/json" class="chart-data">(.*?)</script>', panel)
    assert found is not None
    return json.loads(found.group(1))


def _plain(rows):
    return [["" if v is None else str(v) for v in row] for row in rows]


@pytest.mark.parametrize("who", ["student", "teacher", "dean"])
def test_every_route_is_the_404_page_without_the_role(app, school, who):
    c = client(app, getattr(school, who))
    missing = missing_page(c)
    for path in (
        "/stats/",
        "/stats/?start=2026-10-01&end=2026-09-01",
        "/stats/processes.csv",
        "/stats/processes.xlsx",
        "/stats/processes.csv?start=bad",  # a bad range does not come before the role
        "/stats/nope.csv",
        "/stats/processes.pdf",
    ):
        assert_missing(c.get(path), missing, path)
    assert "/stats/" not in text(c.get("/"))


def test_a_department_administrator_sees_their_department_only(app, school):
    page = text(client(app, school.cs_admin).get("/stats/", query_string=RANGE))
    rows = _chart_rows(page, "processes")["rows"]
    assert rows == [["学院请假", 4, 2, 1, 1, 0]]
    assert "教务缓考" not in page
    everything = _chart_rows(
        text(client(app, school.it_admin).get("/stats/", query_string=RANGE)), "processes"
    )
    assert sorted(r[0] for r in everything["rows"]) == ["学院请假", "教务缓考"]


@pytest.mark.parametrize("chart", stats.CHARTS)
def test_exports_hold_exactly_the_chart_records(app, school, chart):
    c = client(app, school.cs_admin)
    shown = _chart_rows(text(c.get("/stats/", query_string=RANGE)), chart)

    as_csv = c.get(f"/stats/{chart}.csv", query_string=RANGE)
    assert as_csv.status_code == 200
    assert as_csv.mimetype == "text/csv"
    assert as_csv.mimetype_params["charset"] == "utf-8"
    assert as_csv.data.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads UTF-8
    assert as_csv.headers["Content-Disposition"] == (
        f'attachment; filename="{chart}_2026-09-01_2026-09-30.csv"'
    )
    table = list(csv.reader(io.StringIO(as_csv.data.decode("utf-8-sig"))))
    assert table[0] == shown["columns"]
    assert table[1:] == _plain(shown["rows"])

    as_xlsx = c.get(f"/stats/{chart}.xlsx", query_string=RANGE)
    assert as_xlsx.status_code == 200
    assert as_xlsx.mimetype == XLSX
    assert as_xlsx.headers["Content-Disposition"] == (
        f'attachment; filename="{chart}_2026-09-01_2026-09-30.xlsx"'
    )
    sheet = load_workbook(io.BytesIO(as_xlsx.data)).active
    assert sheet is not None
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert cells[0] == shown["columns"]
    assert _plain(cells[1:]) == _plain(shown["rows"])


def test_the_range_decides_which_records_export(app, school):
    c = client(app, school.cs_admin)
    both_ends = c.get(
        "/stats/processes.csv", query_string={"start": "2026-08-31", "end": "2026-09-30"}
    )
    rows = list(csv.reader(io.StringIO(both_ends.data.decode("utf-8-sig"))))[1:]
    # 2026-09-30 16:00 UTC is already October 1st in the school's time zone
    assert rows == [["学院请假", "5", "3", "1", "1", "0"]]
    later = c.get("/stats/processes.csv", query_string={"start": "2026-10-01", "end": "2026-10-31"})
    assert list(csv.reader(io.StringIO(later.data.decode("utf-8-sig"))))[1:] == [
        ["学院请假", "1", "0", "1", "0", "0"]
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"start": "2026-10-01", "end": "2026-09-01"}, "开始日期晚于结束日期"),
        ({"start": "2026-02-30", "end": "2026-03-01"}, "日期格式不对"),
        ({"start": "2020-01-01", "end": "2026-01-01"}, "时间范围最长三年"),
        # the calendar's ends parse but overflow the range's UTC bounds: was a 500
        ({"start": "9999-12-01", "end": "9999-12-31"}, "日期超出范围"),
        ({"start": "0001-01-01", "end": "0001-01-02"}, "日期超出范围"),
    ],
)
def test_a_bad_range_is_a_clear_error(app, school, query, message):
    c = client(app, school.cs_admin)
    page = c.get("/stats/", query_string=query)
    assert page.status_code == 200
    assert f'<p class="error" id="range-error" role="alert">{message}</p>' in text(page)
    assert 'aria-invalid="true"' in text(page)
    export = c.get("/stats/processes.csv", query_string=query)
    assert export.status_code == 400
    assert export.mimetype == "text/html"
    assert message in text(export)
    english = c.get("/stats/processes.xlsx", query_string=query, headers=EN)
    assert english.status_code == 400
    assert CATALOGUE[message] in text(english)


def test_every_message_has_an_english_text():
    used = used_messages("stats") | gettext_ids("stats")
    source = Path(stats.__file__).read_text(encoding="utf-8")
    for found in re.finditer(r'Table\(\s*"\w+",\s*"([^"]+)",\s*\(([^)]*)\)', source):
        used.add(found.group(1))
        used |= set(re.findall(r'"([^"]+)"', found.group(2)))
    used |= {"（未记录）", "暂无数据"}
    missing = sorted(m for m in used if m not in CATALOGUE)
    assert missing == [], missing


def test_the_statistics_page_and_exports_in_english(app, school):
    c = client(app, school.it_admin)
    page = text(c.get("/stats/", query_string=RANGE, headers=EN))
    for english in ("Applications by service", "Approval rate", "Export CSV", "No data"):
        assert english in page
    user_data = ["学院请假", "教务缓考", school.cs.name, school.student.name, school.it_admin.name]
    assert untranslated(page, user_data) == []
    export = c.get("/stats/processes.csv", query_string=RANGE, headers=EN)
    header = next(csv.reader(io.StringIO(export.data.decode("utf-8-sig"))))
    assert header[:3] == ["Service", "Applications", "Approved"]
