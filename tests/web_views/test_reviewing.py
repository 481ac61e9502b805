"""Reviewers: to-do and done lists, decisions from the application page, batch approval
of exactly the selected tasks, delegation while away."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from hall.clock import utcnow
from hall.models import Application, Delegation, Task
from hall.services import Decision, Hall
from tests import factories
from tests.web_views.helpers import pending_task, post, submit, text


def test_todo_lists_longest_waiting_first_and_marks_overdue(client_for, school, db, session):
    first = submit(db, school.alice, reason="第一件")
    second = submit(db, school.carol, reason="第二件")
    overdue = pending_task(session, first)
    overdue.due_at = utcnow() - timedelta(hours=2)
    session.commit()
    page = text(client_for(school.bob).get("/tasks"))
    assert page.index(f"/applications/{first}") < page.index(f"/applications/{second}")
    assert page.count("已超期") == 1
    assert 'class="overdue"' in page
    assert '<span class="badge" aria-label="2">2</span>' in page


def test_approve_from_the_application_page(client_for, school, db, session):
    app_id = submit(db, school.alice)
    task = pending_task(session, app_id)
    bob = client_for(school.bob)
    response = post(
        bob,
        f"/tasks/{task.id}/decide",
        {"action": "approve", "comment": "同意参会", "idempotency_key": "k1"},
        page=f"/applications/{app_id}",
    )
    assert response.status_code == 302
    assert "已同意" in text(bob.get(response.headers["Location"]))
    session.expire_all()
    app = session.get(Application, app_id)
    assert app is not None
    assert app.status.value == "approved"
    done = text(bob.get("/tasks/done"))
    assert f"/applications/{app_id}" in done
    assert "同意参会" in done
    # the same form posted twice (a double click) is answered from the first decision
    again = post(
        bob,
        f"/tasks/{task.id}/decide",
        {"action": "approve", "comment": "同意参会", "idempotency_key": "k1"},
        page=f"/applications/{app_id}",
    )
    assert again.status_code == 302
    assert "已同意" in text(bob.get(again.headers["Location"]))


def test_reject_needs_no_more_than_a_click_and_shows_to_the_applicant(
    client_for, school, db, session
):
    app_id = submit(db, school.alice)
    task = pending_task(session, app_id)
    post(
        client_for(school.bob),
        f"/tasks/{task.id}/decide",
        {"action": "reject", "comment": "时间冲突"},
    )
    page = text(client_for(school.alice).get(f"/applications/{app_id}"))
    assert "已驳回" in page
    assert "时间冲突" in page
    assert 'class="failed"' in page  # the step in the flow diagram
    assert page.count("时间冲突") == 1  # 驳回 once, not again as the application's 已驳回


def test_a_return_reads_returned_not_failed_and_is_told_once(client_for, school, db, session):
    app_id = submit(db, school.alice)
    task = pending_task(session, app_id)
    post(
        client_for(school.bob),
        f"/tasks/{task.id}/decide",
        {"action": "return", "return_to": "applicant", "comment": "请补充行程"},
    )
    page = text(client_for(school.alice).get(f"/applications/{app_id}"))
    assert 'class="returned"' in page  # the step in the flow diagram: amber, not red
    assert 'class="failed"' not in page
    assert "审批 · 已退回" in page
    assert page.count("请补充行程") == 1
    assert "退回修改 ·" not in page  # the application's echo of the same return


def test_a_return_without_a_reason_comes_back_with_the_form_open(client_for, school, db, session):
    app_id = submit(db, school.alice)
    task = pending_task(session, app_id)
    bob = client_for(school.bob)
    # The 退回 button of a WeCom card opens the page with the return form open.
    opened = text(bob.get(f"/applications/{app_id}?act=return"))
    assert "<details open>" in opened
    assert "填写退回原因，说明需要修改什么" in opened  # the reason box asks for it
    assert re.search(r'<textarea id="decision-comment"[^>]*autofocus', opened)
    assert "<details open>" not in text(bob.get(f"/applications/{app_id}"))

    response = post(
        bob,
        f"/tasks/{task.id}/decide",
        {"action": "return", "return_to": "applicant", "comment": "   "},
        page=f"/applications/{app_id}",
    )
    assert response.status_code == 422
    page = text(response)
    assert "请填写退回原因，说明需要修改什么" in page
    assert 'aria-invalid="true" aria-describedby="decision-comment-error"' in page
    assert "<details open>" in page
    session.expire_all()
    assert pending_task(session, app_id).id == task.id  # nothing decided
    assert session.get(Application, app_id).status.value == "pending"


def test_transfer_to_a_colleague_with_the_picker_value(client_for, school, db, session):
    app_id = submit(db, school.alice)
    task = pending_task(session, app_id)
    response = post(
        client_for(school.bob),
        f"/tasks/{task.id}/decide",
        {"action": "transfer", "target_transfer": "carol", "comment": "请张老师处理"},
    )
    assert response.status_code == 302
    assert pending_task(session, app_id).assignee_id == school.carol.id
    assert "审批操作" in text(client_for(school.carol).get(f"/applications/{app_id}"))


def test_transfer_without_a_person_says_so(client_for, school, db, session):
    app_id = submit(db, school.alice)
    task = pending_task(session, app_id)
    bob = client_for(school.bob)
    response = post(bob, f"/tasks/{task.id}/decide", {"action": "transfer"})
    assert "请选择人员" in text(bob.get(response.headers["Location"]))
    assert pending_task(session, app_id).id == task.id


def test_batch_approves_exactly_the_selected(client_for, school, db, session):
    ids = [submit(db, school.alice, reason=f"第{n}件") for n in range(3)]
    tasks = [pending_task(session, i) for i in ids]
    bob = client_for(school.bob)
    chosen = [str(tasks[0].id), str(tasks[2].id)]
    response = post(
        bob, "/tasks/batch", {"task_id": chosen, "batch_key": "b1", "comment": "批量同意"}
    )
    assert response.status_code == 302
    summary = text(bob.get("/tasks"))
    assert "已同意 2 件" in summary
    session.expire_all()
    statuses = [session.get(Application, i).status.value for i in ids]
    assert statuses == ["approved", "pending", "approved"]
    comments = session.scalars(
        select(Task.comment).where(Task.id.in_([tasks[0].id, tasks[2].id]))
    ).all()
    assert comments == ["批量同意", "批量同意"]
    # resending the batch, plus one decided elsewhere meanwhile: reported, nothing re-done
    again = post(bob, "/tasks/batch", {"task_id": [*chosen, str(tasks[1].id)], "batch_key": "b2"})
    assert again.status_code == 302
    page = text(bob.get("/tasks"))
    assert "2 件已被处理过" in page
    assert "已同意 1 件" in page


def test_batch_with_someone_elses_task_is_not_decided(client_for, school, db, session):
    from hall.models import Department  # noqa: PLC0415
    from tests import factories  # noqa: PLC0415

    math = session.get(Department, school.dave.department_id)
    factories.person(session, "数学主任", dept=math, userid="mhead", roles=("dept_head",))
    session.commit()
    mine = submit(db, school.alice)
    theirs = submit(db, school.dave)  # decided by the MATH head, not by bob
    their_task = pending_task(session, theirs)
    my_task = pending_task(session, mine)
    bob = client_for(school.bob)
    ids = [str(my_task.id), str(their_task.id)]
    post(bob, "/tasks/batch", {"task_id": ids, "batch_key": "b3"})
    page = text(bob.get("/tasks"))
    assert "已同意 1 件" in page
    assert "1 件未能处理" in page
    session.expire_all()
    assert session.get(Application, theirs).status.value == "pending"


def test_batch_names_what_needs_a_result_typed_in(client_for, school, db, session):
    from tests import factories  # noqa: PLC0415

    step = factories.handling_step(school.bob.userid, factories.resolution_field())
    factories.process(session, factories.simple_spec("CS", key="repair", flow=[step]))
    session.commit()
    plain = submit(db, school.alice)
    handled = submit(db, school.alice, process="repair", reason="断网")
    ids = [str(pending_task(session, i).id) for i in (plain, handled)]
    bob = client_for(school.bob)
    listing = text(bob.get("/tasks"))
    # The page leaves it out of the batch: no checkbox to tick, a tag saying why.
    assert f'name="task_id" value="{ids[0]}"' in listing
    assert f'name="task_id" value="{ids[1]}"' not in listing
    assert f'disabled id="task-{ids[1]}"' in listing
    assert listing.count("需填写结果") == 1
    post(bob, "/tasks/batch", {"task_id": ids, "batch_key": "b5"})  # a crafted form: refused
    page = text(bob.get("/tasks"))
    assert "已同意 1 件" in page
    serial = session.get(Application, handled).serial
    assert f"1 件未能处理：{serial} 需在详情页填写办理结果后办结" in page
    session.expire_all()
    assert session.get(Application, handled).status.value == "pending"


def test_batch_without_selection_changes_nothing(client_for, school, db, session):
    app_id = submit(db, school.alice)
    bob = client_for(school.bob)
    response = post(bob, "/tasks/batch", {"batch_key": "b4"})
    assert response.status_code == 302
    assert "请先选择要同意的待办" in text(bob.get("/tasks"))
    assert pending_task(session, app_id).assignee_id == school.bob.id


def test_delegation_sends_new_tasks_to_the_delegate(client_for, school, db, session):
    from hall.engine import local_date  # noqa: PLC0415

    today = local_date(utcnow())
    bob = client_for(school.bob)
    response = post(
        bob,
        "/delegations",
        {
            "delegate": "carol",
            "start_date": today.isoformat(),
            "end_date": (today + timedelta(days=3)).isoformat(),
        },
        page="/delegations",
    )
    assert response.status_code == 302, text(response)[:2000]
    page = text(bob.get("/delegations"))
    assert "生效中" in page
    assert "张老师" in page
    app_id = submit(db, school.alice)
    assert pending_task(session, app_id).assignee_id == school.carol.id
    assert f"/applications/{app_id}" in text(client_for(school.carol).get("/tasks"))
    assert "委托给我的" in text(client_for(school.carol).get("/delegations"))

    row = session.scalar(select(Delegation).where(Delegation.delegator_id == school.bob.id))
    assert row is not None
    # only the delegator may revoke
    assert post(client_for(school.carol), f"/delegations/{row.id}/revoke", {}).status_code == 404
    assert post(bob, f"/delegations/{row.id}/revoke", {}).status_code == 302
    assert "已撤销" in text(bob.get("/delegations"))
    later = submit(db, school.alice, reason="撤销之后")
    assert pending_task(session, later).assignee_id == school.bob.id


def test_delegation_refuses_bad_input_and_keeps_it(client_for, school):
    bob = client_for(school.bob)
    response = post(
        bob,
        "/delegations",
        {"delegate": "bob", "start_date": "2000-01-01", "end_date": "1999-01-01"},
        page="/delegations",
    )
    assert response.status_code == 422
    page = text(response)
    assert "开始日期不能早于今天" in page
    assert "结束日期不能早于开始日期" in page
    assert 'value="2000-01-01"' in page
    missing = post(bob, "/delegations", {"delegate": "", "start_date": "x"}, page="/delegations")
    assert missing.status_code == 422
    assert "请选择人员" in text(missing)


def test_handling_step_result_fields_keep_input_and_show_to_the_applicant(
    client_for, school, db, session
):
    from tests import factories  # noqa: PLC0415

    factories.process(
        session,
        factories.simple_spec(
            "CS",
            key="account",
            name="邮箱开通",
            flow=[
                {
                    "key": "issue",
                    "name": "开通邮箱",
                    "kind": "handle",
                    "approver": {"type": "persons", "userids": ["bob"]},
                    "result_fields": [
                        {
                            "key": "mailbox",
                            "label": "邮箱账号",
                            "type": "text",
                            "required": True,
                            "pattern": "[a-z]{3,16}",
                            "pattern_message": "3到16个小写字母",
                        }
                    ],
                }
            ],
        ),
    )
    session.commit()
    app_id = submit(db, school.alice, process="account", reason="新教师入职")
    task = pending_task(session, app_id)
    bob = client_for(school.bob)
    form = text(bob.get(f"/applications/{app_id}"))
    assert 'name="result.mailbox"' in form
    assert "办理操作 · 开通邮箱" in form
    assert 'value="approve">办结</button>' in form  # not 同意: the step is carried out
    refused = post(
        bob,
        f"/tasks/{task.id}/decide",
        {"action": "approve", "result.mailbox": "AB", "comment": "已开通"},
        page=f"/applications/{app_id}",
    )
    assert refused.status_code == 422
    page = text(refused)
    assert "3到16个小写字母" in page
    assert 'value="AB"' in page
    assert "已开通</textarea>" in page
    done = post(
        bob,
        f"/tasks/{task.id}/decide",
        {"action": "approve", "result.mailbox": "wangxl", "comment": "已开通"},
        page=f"/applications/{app_id}",
    )
    assert done.status_code == 302
    mine = text(client_for(school.alice).get(f"/applications/{app_id}"))
    assert "办理结果" in mine
    assert "wangxl" in mine
    assert "已通过" in mine
    assert re.search(r"<strong>\S+</strong>\s*办结 · 开通邮箱", mine)


def test_the_menu_marks_to_do_for_the_reviewer_and_my_applications_for_the_applicant(
    client_for, school, db, session
):
    app_id = submit(db, school.alice)
    path = f"/applications/{app_id}"
    reviewer = client_for(school.bob).get(path).get_data(as_text=True)
    assert 'href="/tasks" aria-current="page"' in reviewer
    assert 'href="/applications" aria-current' not in reviewer
    applicant = client_for(school.alice).get(path).get_data(as_text=True)
    assert 'href="/applications" aria-current="page"' in applicant
    assert 'href="/tasks" aria-current' not in applicant


def test_the_return_menu_offers_only_steps_the_engine_accepts(client_for, school, db, session):
    """Not a step that only passed automatically, not a notify-only one: picking either
    would be refused."""
    factories.process(
        session,
        factories.simple_spec(
            "CS",
            key="chain",
            flow=[
                {"key": "self", "name": "本人确认", "approver": {"type": "applicant"}},
                {
                    "key": "cc",
                    "name": "报备同事",
                    "kind": "notify",
                    "approver": {"type": "persons", "userids": [school.dave.userid]},
                },
                {
                    "key": "colleague",
                    "name": "同事审核",
                    "approver": {"type": "persons", "userids": [school.carol.userid]},
                },
                {"key": "head", "name": "负责人审批", "approver": {"type": "dept_head"}},
            ],
        ),
    )
    session.commit()
    app_id = submit(db, school.alice, process="chain")
    Hall(db).decide(school.carol.id, pending_task(session, app_id).id, Decision("approve"))
    page = text(client_for(school.bob).get(f"/applications/{app_id}"))
    menu = re.search(r'<select id="return-to" name="return_to">(.*?)</select>', page, re.DOTALL)
    assert menu is not None, page
    offered = re.findall(r'<option value="([^"]*)"', menu.group(1))
    assert offered == ["applicant", "colleague"]


def test_a_delegation_from_today_takes_the_waiting_to_dos_along(client_for, school, db, session):
    from hall.engine import local_date  # noqa: PLC0415

    app_id = submit(db, school.alice)
    bob = client_for(school.bob)
    assert f"/applications/{app_id}" in text(bob.get("/tasks"))
    today = local_date(utcnow())
    response = post(
        bob,
        "/delegations",
        {"delegate": "carol", "start_date": today.isoformat(), "end_date": today.isoformat()},
        page="/delegations",
    )
    assert response.status_code == 302, text(response)[:2000]
    assert "已设置委托，1 件待办已转给张老师" in text(bob.get("/delegations"))
    assert f"/applications/{app_id}" not in text(bob.get("/tasks"))
    assert f"/applications/{app_id}" in text(client_for(school.carol).get("/tasks"))
    timeline = text(bob.get(f"/applications/{app_id}"))
    assert "委托转交（审批人外出）" in timeline
