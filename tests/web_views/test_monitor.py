"""办件监控: an administrator sees the pending to-dos of their department's processes and
can 改派 one to someone else; nobody else sees the page or can reassign."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from hall.clock import utcnow
from hall.models import Outbox, Task
from hall.outbox import Kind
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
