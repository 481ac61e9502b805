"""The read endpoints: me, the catalogue, my applications, details, tasks, notifications."""

from __future__ import annotations

from sqlalchemy import select
from werkzeug.test import TestResponse

from hall.models import ActionLog, Notification, Task
from hall.states import fire
from tests import factories
from tests.web.conftest import comment, decide, follow, make_application, notify

# ------------------------------------------------------------------------- me


def test_me_shows_person_roles_and_counts(api, school, session):
    make_application(session, school.leave, school.alice, reviewer=school.bob)
    make_application(session, school.leave, school.carol, reviewer=school.bob)
    notify(session, school.bob, "新待办")
    body = api.get("/api/v1/me", school.bob).json
    assert body == {
        "userid": "bob",
        "name": "李处长",
        "kind": "staff",
        "department": {"code": "CS", "name": "计算机学院"},
        "roles": [{"code": "dept_head", "department": {"code": "CS", "name": "计算机学院"}}],
        "counts": {"todo": 2, "unread_notifications": 1},
    }
    ivan = api.get("/api/v1/me", school.ivan).json
    assert ivan["department"] is None
    assert ivan["roles"] == [{"code": "info_center", "department": None}]
    assert api.get("/api/v1/me", school.carol).json["kind"] == "student"


# ------------------------------------------------------------------ catalogue


def _keys(response: TestResponse) -> list[str]:
    body = response.get_json()
    assert response.status_code == 200, body
    return [item["key"] for item in body["items"]]


def test_catalogue_shows_what_my_kind_and_department_may_use(api, school):
    assert _keys(api.get("/api/v1/processes", school.alice)) == ["leave"]
    assert sorted(_keys(api.get("/api/v1/processes", school.carol))) == ["dorm", "leave"]
    assert sorted(_keys(api.get("/api/v1/processes", school.dave))) == ["leave", "seminar"]
    body = api.get("/api/v1/processes", school.alice).json
    assert body["total"] == 1
    assert body["categories"] == ["人事"]
    assert body["items"][0] == {
        "key": "leave",
        "name": "教职工请假",
        "category": "人事",
        "department": {"code": "CS", "name": "计算机学院"},
        "description": "请假审批",
        "audience": ["staff", "student"],
        "promised_days": 3,
        "visits": 0,
        "immediate": False,
        "invite_only": False,
        "version": 1,
    }


def test_catalogue_filters(api, school):
    carol = school.carol
    assert _keys(api.get("/api/v1/processes?category=学生事务", carol)) == ["dorm"]
    assert _keys(api.get("/api/v1/processes?q=请假", carol)) == ["leave"]
    assert _keys(api.get("/api/v1/processes?q=DORM", carol)) == ["dorm"]
    assert sorted(_keys(api.get("/api/v1/processes?department=CS", carol))) == ["dorm", "leave"]
    assert _keys(api.get("/api/v1/processes?department=MATH", carol)) == []
    assert _keys(api.get("/api/v1/processes?q=不存在的事项", carol)) == []
    # categories list everything visible, not only the filtered page
    body = api.get("/api/v1/processes?category=人事", carol).json
    assert body["categories"] == ["人事", "学生事务"]


def test_inactive_processes_leave_the_catalogue(api, school, session):
    school.leave.process.active = False
    session.commit()
    assert _keys(api.get("/api/v1/processes", school.alice)) == []
    assert api.get("/api/v1/processes/leave", school.alice).status_code == 404


def test_process_detail_has_form_flow_and_my_prefill(api, school):
    response = api.get("/api/v1/processes/leave", school.alice)
    assert response.status_code == 200
    body = response.json
    assert body["key"] == "leave"
    assert [f["key"] for f in body["form"]] == ["reason", "phone"]
    assert body["form"][0]["required"] is True
    assert body["flow"] == [
        {
            "index": 0,
            "key": "head",
            "name": "负责人审批",
            "kind": "approval",
            "mode": "any",
            "conditional": False,
            "time_limit_hours": None,
            "allow_transfer": True,
            "allow_add_signer": True,
            "allow_return": True,
            "result_fields": [],
        }
    ]
    assert body["prefill"] == {"phone": school.alice.mobile}
    dorm = api.get("/api/v1/processes/dorm", school.carol).json
    assert dorm["prefill"] == {"major": "软件工程"}


def test_process_detail_is_404_when_not_for_me(api, school):
    assert api.get("/api/v1/processes/dorm", school.alice).status_code == 404  # audience
    assert api.get("/api/v1/processes/seminar", school.alice).status_code == 404  # scope
    assert api.get("/api/v1/processes/seminar", school.dave).status_code == 200
    missing = api.get("/api/v1/processes/nope", school.alice)
    assert missing.status_code == 404
    assert missing.json == {"error": {"code": "not_found", "message": "未找到"}}


def test_process_detail_shows_the_current_version(api, school, session):
    factories.process(
        session,
        factories.simple_spec("CS", key="leave", name="教职工请假（新）", category="人事"),
    )
    session.commit()
    body = api.get("/api/v1/processes/leave", school.alice).json
    assert body["version"] == 2
    assert body["name"] == "教职工请假（新）"


# ---------------------------------------------------------------- applications


def test_my_applications_newest_first_with_summary(api, school, session):
    bob = school.bob
    older = make_application(session, school.leave, school.alice, reviewer=bob, age_minutes=9)
    draft = make_application(session, school.leave, school.alice, submit=False, age_minutes=1)
    make_application(session, school.leave, school.carol, reviewer=school.bob)
    body = api.get("/api/v1/applications", school.alice).json
    assert body["total"] == 2
    assert (body["page"], body["per_page"]) == (1, 20)
    assert [a["id"] for a in body["items"]] == [draft.id, older.id]
    first, second = body["items"]
    assert first["status"] == "draft"
    assert first["current_step"] is None
    assert first["waiting_on"] == []
    assert second["status"] == "pending"
    assert second["process"] == {"key": "leave", "name": "教职工请假", "version": 1}
    assert second["current_step"] == {"index": 0, "key": "head", "name": "负责人审批"}
    assert second["waiting_on"] == [{"userid": "bob", "name": "李处长"}]
    assert second["title"] == "王小丽的教职工请假"


def test_my_applications_pages(api, school, session):
    made = [
        make_application(session, school.leave, school.alice, age_minutes=30 - i).id
        for i in range(7)
    ]
    newest_first = list(reversed(made))
    seen = []
    for page in (1, 2, 3):
        body = api.get(f"/api/v1/applications?page={page}&per_page=3", school.alice).json
        assert body["total"] == 7
        assert body["per_page"] == 3
        seen += [a["id"] for a in body["items"]]
    assert seen == newest_first
    beyond = api.get("/api/v1/applications?page=9&per_page=3", school.alice).json
    assert beyond["items"] == []
    assert beyond["total"] == 7


def test_my_applications_filters(api, school, session):
    pending = make_application(session, school.leave, school.alice, reviewer=school.bob)
    draft = make_application(session, school.leave, school.alice, submit=False)
    other = factories.process(session, factories.simple_spec("CS", key="travel", name="出差"))
    session.commit()
    travel = make_application(session, other, school.alice, submit=False)

    def ids(query: str) -> tuple[list[int], int]:
        response = api.get(f"/api/v1/applications?{query}", school.alice)
        assert response.status_code == 200, response.json
        return sorted(a["id"] for a in response.json["items"]), response.json["total"]

    assert ids("status=pending") == ([pending.id], 1)
    assert ids("status=draft") == (sorted([draft.id, travel.id]), 2)
    assert ids("process=travel") == ([travel.id], 1)
    assert ids("process=leave&status=draft") == ([draft.id], 1)
    assert ids("process=nosuch") == ([], 0)


def test_application_detail_has_tasks_timeline_and_comments(api, school, session):
    app = make_application(session, school.leave, school.alice, reviewer=school.bob)
    comment(session, app, school.alice, "麻烦尽快审批")
    response = api.get(f"/api/v1/applications/{app.id}", school.alice)
    assert response.status_code == 200
    body = response.json
    assert body["serial"] == app.serial
    assert body["form"] == {"reason": "参加会议"}
    assert body["result"] == {}
    assert body["applicant"] == {
        "userid": "alice",
        "name": "王小丽",
        "kind": "staff",
        "department": {"code": "CS", "name": "计算机学院"},
    }
    assert body["is_applicant"] is True
    assert body["my_task_id"] is None
    assert [s["key"] for s in body["flow"]] == ["head"]
    [task] = body["tasks"]
    assert task["assignee"] == {"userid": "bob", "name": "李处长"}
    assert task["status"] == "pending"
    assert task["step"] == {"index": 0, "key": "head", "name": "负责人审批"}
    assert [(e["action"], e["actor"]["name"]) for e in body["timeline"]] == [
        ("save_draft", "王小丽"),
        ("submit", "王小丽"),
    ]
    assert body["timeline"][1]["step"]["name"] == "负责人审批"
    assert [(c["author"]["userid"], c["body"]) for c in body["comments"]] == [
        ("alice", "麻烦尽快审批")
    ]
    as_reviewer = api.get(f"/api/v1/applications/{app.id}", school.bob).json
    assert as_reviewer["my_task_id"] == task["id"]
    assert as_reviewer["is_applicant"] is False


def test_detail_after_a_decision_shows_it_in_the_timeline(api, school, session):
    app = make_application(session, school.leave, school.alice, reviewer=school.bob)
    task = session.scalar(select(Task).where(Task.application_id == app.id))
    decide(session, task, "approve", "同意，注意安全")
    fire(app, "approve")
    session.commit()
    body = api.get(f"/api/v1/applications/{app.id}", school.alice).json
    assert body["status"] == "approved"
    assert body["waiting_on"] == []
    assert body["tasks"][0]["comment"] == "同意，注意安全"
    assert body["timeline"][-1]["action"] == "approve"
    assert body["timeline"][-1]["actor"] == {"userid": "bob", "name": "李处长"}


# ------------------------------------------------------------ the 404 rule


def test_only_those_involved_or_granted_see_an_application(api, school, session):
    app = make_application(session, school.leave, school.alice, reviewer=school.bob)
    path = f"/api/v1/applications/{app.id}"
    assert api.get(path, school.alice).status_code == 200  # applicant
    assert api.get(path, school.bob).status_code == 200  # holds a task
    assert api.get(path, school.erin).status_code == 200  # dept_admin of the owner
    assert api.get(path, school.ivan).status_code == 200  # information center
    hidden = api.get(path, school.dave)
    assert hidden.status_code == 404
    assert hidden.json == api.get("/api/v1/applications/99999999", school.dave).json
    assert api.get(path, school.carol).status_code == 404
    follow(session, app, school.carol)
    assert api.get(path, school.carol).status_code == 200  # CC'd


def test_a_reviewer_keeps_seeing_what_they_decided(api, school, session):
    app = make_application(session, school.leave, school.alice, reviewer=school.bob)
    decide(session, session.scalar(select(Task).where(Task.application_id == app.id)))
    assert api.get(f"/api/v1/applications/{app.id}", school.bob).status_code == 200


def test_admin_roles_reach_only_their_department(api, school, session):
    math_admin = factories.person(
        session, "数学管理员", dept=school.math, userid="mathadmin", roles=("process_admin",)
    )
    school_wide = factories.person(session, "全校管理员", userid="allpa")
    factories.grant(session, school_wide, "process_admin", None)
    session.commit()
    app = make_application(session, school.leave, school.alice)
    path = f"/api/v1/applications/{app.id}"
    assert api.get(path, math_admin).status_code == 404
    assert api.get(path, school_wide).status_code == 200


def test_my_applications_never_lists_others(api, school, session):
    make_application(session, school.leave, school.carol, reviewer=school.alice)
    body = api.get("/api/v1/applications", school.alice).json
    assert body == {"items": [], "total": 0, "page": 1, "per_page": 20}


# ----------------------------------------------------------------------- tasks


def test_todo_lists_my_pending_tasks_longest_waiting_first(api, school, session):
    bob = school.bob
    newer = make_application(session, school.leave, school.alice, reviewer=bob, age_minutes=5)
    older = make_application(
        session, school.students_only, school.carol, reviewer=school.bob, age_minutes=50
    )
    make_application(session, school.leave, school.dave, reviewer=school.erin)
    body = api.get("/api/v1/tasks?state=todo", school.bob).json
    assert body["total"] == 2
    assert [t["application"]["id"] for t in body["items"]] == [older.id, newer.id]
    first = body["items"][0]
    assert first["status"] == "pending"
    assert first["step"] == {"index": 0, "key": "head", "name": "负责人审批"}
    assert first["application"]["applicant"] == {"userid": "carol", "name": "陈同学"}
    assert first["application"]["process"] == {"key": "dorm", "name": "宿舍调换", "version": 1}
    assert first["application"]["status"] == "pending"
    assert api.get("/api/v1/tasks", school.bob).json == body  # todo is the default


def test_done_lists_what_i_decided_latest_first(api, school, session):
    a1 = make_application(session, school.leave, school.alice, reviewer=school.bob)
    a2 = make_application(session, school.leave, school.carol, reviewer=school.bob)
    make_application(session, school.leave, school.dave, reviewer=school.bob)
    t1 = session.scalar(select(Task).where(Task.application_id == a1.id))
    t2 = session.scalar(select(Task).where(Task.application_id == a2.id))
    decide(session, t1, "approve")
    decide(session, t2, "reject", "材料不全")
    done = api.get("/api/v1/tasks?state=done", school.bob).json
    assert done["total"] == 2
    assert [(t["id"], t["status"]) for t in done["items"]] == [
        (t2.id, "rejected"),
        (t1.id, "approved"),
    ]
    assert done["items"][0]["comment"] == "材料不全"
    assert api.get("/api/v1/tasks?state=todo", school.bob).json["total"] == 1


def test_tasks_page(api, school, session):
    for i in range(5):
        make_application(session, school.leave, school.alice, reviewer=school.bob, age_minutes=i)
    first = api.get("/api/v1/tasks?per_page=2", school.bob).json
    last = api.get("/api/v1/tasks?per_page=2&page=3", school.bob).json
    assert first["total"] == last["total"] == 5
    assert len(first["items"]) == 2
    assert len(last["items"]) == 1
    assert first["items"][0]["created_at"] <= first["items"][1]["created_at"]


# --------------------------------------------------------------- notifications


def test_notifications_newest_first_and_mark_read(api, school, session):
    app = make_application(session, school.leave, school.alice, reviewer=school.bob)
    first = notify(session, school.bob, "新待办：王小丽的教职工请假", app)
    second = notify(session, school.bob, "催办")
    notify(session, school.alice, "别人的消息")
    body = api.get("/api/v1/notifications", school.bob).json
    assert [n["id"] for n in body["items"]] == [second, first]
    assert (body["total"], body["unread"]) == (2, 2)
    assert body["items"][1]["application_id"] == app.id
    read = api.post(f"/api/v1/notifications/{first}/read", school.bob)
    assert read.status_code == 200
    assert read.json["read_at"] is not None
    again = api.post(f"/api/v1/notifications/{first}/read", school.bob, json={})
    assert again.json["read_at"] == read.json["read_at"]
    unread = api.get("/api/v1/notifications?unread=true", school.bob).json
    assert [n["id"] for n in unread["items"]] == [second]
    assert (unread["total"], unread["unread"]) == (1, 1)
    assert api.get("/api/v1/me", school.bob).json["counts"]["unread_notifications"] == 1


def test_someone_elses_notification_is_404_and_stays_unread(api, school, session):
    notice = notify(session, school.alice, "别人的消息")
    response = api.post(f"/api/v1/notifications/{notice}/read", school.bob)
    assert response.status_code == 404
    session.expire_all()
    assert session.get(Notification, notice).read_at is None


def test_a_delegate_who_acted_sees_the_application(api, school, session):
    app = make_application(session, school.leave, school.alice, reviewer=school.bob)
    path = f"/api/v1/applications/{app.id}"
    assert api.get(path, school.dave).status_code == 404
    task = session.scalar(select(Task).where(Task.application_id == app.id))
    task.acted_by_id = school.dave.id
    decide(session, task)
    body = api.get(path, school.dave).json
    assert body["tasks"][0]["acted_by"] == {"userid": "dave", "name": "赵老师"}
    assert body["tasks"][0]["assignee"]["userid"] == "bob"


def test_system_entries_have_no_actor(api, school, session):
    app = make_application(session, school.leave, school.alice, reviewer=school.bob)
    session.add(ActionLog(application_id=app.id, action="remind", step_index=0))
    session.commit()
    last = api.get(f"/api/v1/applications/{app.id}", school.alice).json["timeline"][-1]
    assert (last["action"], last["actor"]) == ("remind", None)
    assert last["step"] == {"index": 0, "key": "head", "name": "负责人审批"}
