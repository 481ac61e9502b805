"""办件监控: an administrator sees the pending to-dos of their department's processes and
can 改派 one to someone else; nobody else sees the page or can reassign."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from hall import exports
from hall.clock import utcnow
from hall.models import Outbox, ProcessDefinition, Task
from hall.outbox import Kind
from hall.services import Decision, Hall
from hall.states import TaskStatus
from tests import factories
from tests.web_views.helpers import pending_task, post, submit, text


@pytest.fixture
def admins(session, school):
    """The computer college's administrator, and the maths college's."""
    cs = school.alice.department
    math = school.dave.department
    cs_admin = factories.person(
        session, "吴管理员", dept=cs, userid="csadmin", roles=("dept_admin",)
    )
    math_admin = factories.person(
        session, "孙管理员", dept=math, userid="mathadmin", roles=("dept_admin",)
    )
    session.commit()
    return cs_admin, math_admin


def test_the_admin_sees_the_to_dos_longest_waiting_first(client_for, school, db, session, admins):
    cs_admin, math_admin = admins
    first = submit(db, school.alice, reason="第一件")
    second = submit(db, school.carol, reason="第二件")
    late = pending_task(session, first)
    late.activated_at = utcnow() - timedelta(days=3)
    late.due_at = utcnow() - timedelta(days=1)
    session.commit()
    page = text(client_for(cs_admin).get("/monitor"))
    assert "办件监控" in page
    assert page.index(f"/applications/{first}") < page.index(f"/applications/{second}")
    assert "3天" in page  # waiting
    assert page.count('<span class="tag tag-red">已超期</span>') == 1
    overdue = text(client_for(cs_admin).get("/monitor?overdue=1"))
    assert f"/applications/{first}" in overdue
    assert f"/applications/{second}" not in overdue
    # The maths college's administrator looks after none of these processes.
    assert "没有等待处理的待办" in text(client_for(math_admin).get("/monitor"))
    # Someone without an administrator's role gets the 404 page, and no menu entry.
    assert client_for(school.bob).get("/monitor").status_code == 404
    assert "/monitor" not in text(client_for(school.bob).get("/tasks"))


def test_reassign_gives_the_to_do_to_someone_else(client_for, school, db, session, admins):
    cs_admin, _ = admins
    app_id = submit(db, school.alice)
    task = pending_task(session, app_id)
    admin = client_for(cs_admin)
    response = post(
        admin,
        f"/monitor/tasks/{task.id}/reassign",
        {"target": "carol", "comment": "李处长出差", "back": "overdue=1"},
        page="/monitor",
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/monitor?overdue=1")
    assert "已改派" in text(admin.get("/monitor"))
    session.expire_all()
    assert session.get(Task, task.id).status is TaskStatus.TRANSFERRED
    new = pending_task(session, app_id)
    assert new.assignee_id == school.carol.id
    rows = session.scalars(select(Outbox).where(Outbox.application_id == app_id)).all()
    told = {(o.kind, o.recipient_id) for o in rows}
    assert (Kind.TASK_CANCELLED, school.bob.id) in told  # the old card turns 已由他人处理
    [assigned] = [o for o in rows if o.kind == Kind.TASK_ASSIGNED and o.task_id == new.id]
    assert assigned.payload["reassigned_by"] == "吴管理员"
    history = text(client_for(school.alice).get(f"/applications/{app_id}"))
    assert "吴管理员</strong>\n        改派" in history
    assert "李处长出差" in history


def test_reassign_refuses_bad_targets_and_strangers(client_for, school, db, session, admins):
    cs_admin, math_admin = admins
    app_id = submit(db, school.alice)
    task = pending_task(session, app_id)
    before = factories.snapshot(session)
    admin = client_for(cs_admin)
    for target, problem in (
        ("bob", "已是该待办的处理人"),
        ("alice", "不能选择申请人"),
        ("", "请选择人员"),
    ):
        post(admin, f"/monitor/tasks/{task.id}/reassign", {"target": target}, page="/monitor")
        assert problem in text(admin.get("/monitor"))
    # Another college's administrator, or a reviewer, cannot reach it at all.
    for who in (math_admin, school.carol):
        refused = post(
            client_for(who), f"/monitor/tasks/{task.id}/reassign", {"target": "carol"}, page="/"
        )
        assert refused.status_code == 404
    assert factories.snapshot(session) == before


# --------------------------------------------------------------------- 办件导出


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    body = response.get_data().decode("utf-8")
    assert body.startswith("\ufeff")  # Excel reads the Chinese headers right
    return list(csv.reader(io.StringIO(body[1:])))


def test_the_admin_exports_their_services_applications(client_for, school, db, session, admins):
    cs_admin, math_admin = admins
    first = submit(db, school.alice, reason="=HYPERLINK(1)")  # a formula stays text
    submit(db, school.carol, reason="第二件")
    Hall(db).decide(school.bob.id, pending_task(session, first).id, Decision("approve"))
    admin = client_for(cs_admin)
    assert "/monitor/export.xlsx" in text(admin.get("/monitor"))

    rows = _csv(admin.get("/monitor/export.csv"))
    assert rows[0][:7] == ["编号", "事项", "标题", "申请人", "工号/学号", "申请人部门", "状态"]
    assert [r[3] for r in rows[1:]] == [school.alice.name, school.carol.name]
    assert [r[6] for r in rows[1:]] == ["已通过", "审批中"]

    simple = session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == "simple"))
    one = _csv(admin.get(f"/monitor/export.csv?process={simple}&status=approved"))
    assert one[0][-1] == "事由"  # one process: its form fields are columns too
    assert [r[-1] for r in one[1:]] == ["'=HYPERLINK(1)"]

    xlsx = admin.get("/monitor/export.xlsx")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.get_data())).active
    assert sheet is not None
    assert sheet.max_row == 3
    # The maths college's administrator exports none of these; others get the 404 page.
    assert _csv(client_for(math_admin).get("/monitor/export.csv"))[1:] == []
    assert client_for(school.bob).get("/monitor/export.csv").status_code == 404
    assert client_for(math_admin).get(f"/monitor/export.csv?process={simple}").status_code == 404


def test_bad_export_requests_are_told(client_for, school, admins):
    admin = client_for(admins[0])
    for query in (
        "start=2026-13-01",
        "start=2026-05-02&end=2026-05-01",
        "start=9999-12-30&end=9999-12-31",  # the range's bounds overflow: told, not a 500
        "status=draft",
        "status=x",
    ):
        response = admin.get(f"/monitor/export.csv?{query}")
        assert response.status_code == 400, query
    assert admin.get("/monitor/export.pdf").status_code == 404
    assert client_for(school.bob).get("/monitor/export.csv?start=x").status_code == 404
    assert client_for(school.bob).get("/monitor/export.csv?status=x").status_code == 404


def test_an_export_too_big_is_refused_not_cut(client_for, school, db, admins, monkeypatch):
    monkeypatch.setattr(exports, "MAX_ROWS", 1)
    submit(db, school.alice)
    submit(db, school.carol)
    response = client_for(admins[0]).get("/monitor/export.csv")
    assert response.status_code == 400
    assert "超过 1 条，请缩短时间范围或选择一个事项" in text(response)
    english = client_for(admins[0]).get("/monitor/export.csv", headers={"Accept-Language": "en"})
    assert "Over 1 rows: choose a shorter range or one service" in text(english)
