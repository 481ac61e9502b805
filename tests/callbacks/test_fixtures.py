"""Every fixture in fixtures/ through the real endpoint, encrypted as WeCom would, with its
exact outcome: the passive reply and what changed in the database and Redis."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callbacks.commands import SHORT_HELP
from callbacks.contacts import BATCH_JOBS_KEY, CHANGES_KEY
from callbacks.handlers import CHOOSE_TARGET, RETURN_ON_THE_WEB, UNKNOWN_COUNTER
from cards import NO_TARGET
from hall.models import Application, Outbox, Task
from hall.outbox import Kind
from hall.states import AppStatus, TaskStatus
from tests.callbacks.conftest import School, pending_task, submit
from tests.callbacks.wecom_peer import FIXTURES, WeComPeer, fixture_xml


def _fill(wecom: WeComPeer, name: str, **values: object) -> str:
    return fixture_xml(name, corp_id=wecom.corp_id, agent_id=wecom.agent_id, **values)


def _click(wecom: WeComPeer, session: Session, school: School, name: str, **extra: object):
    app_id = submit(wecom_db(wecom), school)
    task = pending_task(session, app_id)
    response = wecom.post(_fill(wecom, name, userid=school.head.userid, task_id=task.id, **extra))
    session.expire_all()
    return app_id, task, response


def wecom_db(wecom: WeComPeer):
    app = wecom.client.application
    return app.extensions["hall.db"]


def _results(session: Session, app_id: int) -> list[dict[str, object]]:
    rows = session.scalars(
        select(Outbox).where(
            Outbox.application_id == app_id, Outbox.kind == Kind.APPLICATION_RESULT
        )
    ).all()
    return [dict(r.payload) for r in rows]


def test_every_fixture_has_a_test():
    names = {p.stem for p in FIXTURES.glob("*.xml")}
    tested = {
        "template_card_event__approve",
        "template_card_event__reject",
        "template_card_event__return",
        "template_card_event__transfer",
        "template_card_event__transfer_without_choice",
        "template_card_menu_event__todo",
        "enter_agent__open_app",
        "text__todo",
        "text__progress",
        "text__help",
        "change_contact__update_user",
        "change_contact__create_party",
        "batch_job_result__sync_user",
        "unknown__location",
        "unknown__image",
    }
    assert names == tested


@pytest.mark.parametrize(
    "case",
    [
        ("approve", "已同意", AppStatus.APPROVED, TaskStatus.APPROVED, "approved"),
        ("reject", "已驳回", AppStatus.REJECTED, TaskStatus.REJECTED, "rejected"),
    ],
)
def test_template_card_event(wecom, session, school, case):
    variant, button, app_status, task_status, outcome = case
    app_id, task, response = _click(wecom, session, school, f"template_card_event__{variant}")
    reply = wecom.open_reply(response)
    assert reply.msg_type == "update_button"
    assert reply.button == button
    assert reply.fields["ToUserName"] == school.head.userid
    assert reply.fields["FromUserName"] == wecom.corp_id
    assert session.get(Application, app_id).status == app_status
    assert session.get(Task, task.id).status == task_status
    assert session.get(Task, task.id).acted_by_id == school.head.id
    assert [r["outcome"] for r in _results(session, app_id)] == [outcome]


def test_template_card_event__return_asks_for_the_reason_on_the_web(wecom, session, school):
    # Cards now open the page's 退回 form; one sent before that still clicks back, and a
    # return without a reason is refused with where to give it. Nothing changes.
    app_id, task, response = _click(wecom, session, school, "template_card_event__return")
    reply = wecom.open_reply(response)
    assert (reply.msg_type, reply.fields["Content"]) == ("text", RETURN_ON_THE_WEB)
    assert session.get(Task, task.id).status == TaskStatus.PENDING
    assert session.get(Application, app_id).status == AppStatus.PENDING
    assert _results(session, app_id) == []


def test_template_card_event__transfer(wecom, session, school):
    app_id, task, response = _click(
        wecom, session, school, "template_card_event__transfer", target=school.colleague.userid
    )
    reply = wecom.open_reply(response)
    assert (reply.msg_type, reply.button) == ("update_button", "已转交")
    assert session.get(Task, task.id).status == TaskStatus.TRANSFERRED
    new = pending_task(session, app_id)
    assert new.assignee_id == school.colleague.id
    assert session.get(Application, app_id).status == AppStatus.PENDING


def test_transfer_with_the_preselected_please_choose_option_transfers_nobody(
    wecom, session, school
):
    # WeCom preselects the dropdown's first option, which is 请选择, not a person.
    app_id, task, response = _click(
        wecom, session, school, "template_card_event__transfer", target=NO_TARGET
    )
    reply = wecom.open_reply(response)
    assert (reply.msg_type, reply.fields["Content"]) == ("text", CHOOSE_TARGET)
    assert session.get(Task, task.id).status == TaskStatus.PENDING
    assert _results(session, app_id) == []


def test_template_card_event__transfer_without_choice(wecom, session, school):
    app_id, task, response = _click(
        wecom, session, school, "template_card_event__transfer_without_choice"
    )
    reply = wecom.open_reply(response)
    assert reply.msg_type == "text"
    assert reply.fields["Content"] == CHOOSE_TARGET
    assert session.get(Task, task.id).status == TaskStatus.PENDING
    assert _results(session, app_id) == []


def _beijing(moment: datetime | None) -> str:
    assert moment is not None
    return f"{moment.astimezone(timezone(timedelta(hours=8))):%m-%d %H:%M}"


def _todo_line(session: Session, app_id: int) -> str:
    task = pending_task(session, app_id)
    return (
        f'1. <a href="http://127.0.0.1:5000/login/wecom?next=%2Fgo%2Fapplication%2F{app_id}">'
        f"张三的测试事项</a>（负责人审批，{_beijing(task.activated_at)}）"  # when it arrived
    )


def test_template_card_menu_event__todo(wecom, session, school):
    app_id, _task, response = _click(wecom, session, school, "template_card_menu_event__todo")
    reply = wecom.open_reply(response)
    assert reply.msg_type == "text"
    assert reply.fields["Content"] == "您有1条待办：\n" + _todo_line(session, app_id)


def test_text__todo(wecom, session, school):
    app_id = submit(wecom_db(wecom), school)
    reply = wecom.open_reply(wecom.post(_fill(wecom, "text__todo", userid=school.head.userid)))
    assert reply.msg_type == "text"
    assert reply.fields["ToUserName"] == school.head.userid
    assert reply.fields["Content"] == "您有1条待办：\n" + _todo_line(session, app_id)


def test_text__todo_with_nothing_pending(wecom, school):
    reply = wecom.open_reply(wecom.post(_fill(wecom, "text__todo", userid=school.head.userid)))
    assert reply.fields["Content"] == "您当前没有待办。"


def test_text__progress(wecom, session, school):
    app_id = submit(wecom_db(wecom), school)
    reply = wecom.open_reply(
        wecom.post(_fill(wecom, "text__progress", userid=school.applicant.userid))
    )
    sent = _beijing(session.get(Application, app_id).submitted_at)
    assert reply.fields["Content"] == (
        "您的申请（共1件）：\n"
        f'1. <a href="http://127.0.0.1:5000/login/wecom?next=%2Fgo%2Fapplication%2F{app_id}">'
        f"张三的测试事项</a>（{sent}）：审批中·负责人审批"
    )


def test_text__help(wecom, session, school):
    response = wecom.post(_fill(wecom, "text__help", userid=school.head.userid))
    assert (response.status_code, response.data) == (200, b"")  # the card comes by the outbox
    [row] = session.scalars(select(Outbox).where(Outbox.kind == Kind.HELP)).all()
    assert (row.recipient_id, row.application_id, row.task_id) == (school.head.id, None, None)


def test_text__help_from_an_unknown_member_queues_nothing(wecom, session, school):
    reply = wecom.open_reply(wecom.post(_fill(wecom, "text__help", userid="nobody")))
    assert reply.fields["Content"] == "未在办事大厅找到您的账号，请联系信息中心。"
    assert session.scalars(select(Outbox)).all() == []


def test_text_from_an_unknown_member(wecom, school):
    reply = wecom.open_reply(wecom.post(_fill(wecom, "text__todo", userid="nobody")))
    assert reply.fields["Content"] == "未在办事大厅找到您的账号，请联系信息中心。"


def test_enter_agent__open_app(wecom, school, redis_conn):
    response = wecom.post(_fill(wecom, "enter_agent__open_app", userid=school.head.userid))
    assert response.status_code == 200
    assert response.data == b""
    assert redis_conn.hgetall(f"{UNKNOWN_COUNTER}:app") == {}


@pytest.mark.parametrize("peer", ["contacts_wecom", "wecom"])
def test_change_contact__update_user(request, peer, redis_conn):
    sender: WeComPeer = request.getfixturevalue(peer)
    response = sender.post(fixture_xml("change_contact__update_user", corp_id=sender.corp_id))
    assert (response.status_code, response.data) == (200, b"")
    entries = [json.loads(e) for e in redis_conn.lrange(CHANGES_KEY, 0, -1)]
    assert entries == [
        {
            "change_type": "update_user",
            "subject": "20190001",
            "create_time": 1788220804,
            "fields": {
                "UserID": "20190001",
                "Name": "张三",
                "Department": "2,3",
                "MainDepartment": "2",
                "IsLeaderInDept": "0,0",
                "Position": "辅导员",
                "Mobile": "13800000000",
                "Gender": "1",
                "Email": "zhangsan@example.edu.cn",
                "Status": "1",
                "Alias": "zhangsan",
            },
        }
    ]


def test_change_contact__create_party(contacts_wecom, redis_conn):
    response = contacts_wecom.post(
        fixture_xml("change_contact__create_party", corp_id=contacts_wecom.corp_id)
    )
    assert (response.status_code, response.data) == (200, b"")
    entries = [json.loads(e) for e in redis_conn.lrange(CHANGES_KEY, 0, -1)]
    assert entries == [
        {
            "change_type": "create_party",
            "subject": "12",
            "create_time": 1788220805,
            "fields": {"Id": "12", "Name": "基础医学院", "ParentId": "1", "Order": "100"},
        }
    ]


def test_batch_job_result__sync_user(contacts_wecom, redis_conn):
    response = contacts_wecom.post(
        fixture_xml("batch_job_result__sync_user", corp_id=contacts_wecom.corp_id)
    )
    assert (response.status_code, response.data) == (200, b"")
    stored = redis_conn.hget(BATCH_JOBS_KEY, "S0MrnndvRG5fadSlLwiBqiDDbM143UqTmKP3152FZk4")
    assert json.loads(stored) == {
        "job_type": "sync_user",
        "errcode": 0,
        "errmsg": "ok",
        "create_time": 1788220806,
    }


@pytest.mark.parametrize(("name", "counted"), [("location", "location"), ("image", "image")])
def test_unknown(wecom, school, redis_conn, name, counted):
    response = wecom.post(_fill(wecom, f"unknown__{name}", userid=school.head.userid))
    assert (response.status_code, response.data) == (200, b"")
    assert redis_conn.hgetall(f"{UNKNOWN_COUNTER}:app") == {counted.encode(): b"1"}


def test_card_click_on_the_contacts_endpoint_is_only_counted(
    contacts_wecom, session, school, redis_conn
):
    app_id = submit(wecom_db(contacts_wecom), school)
    task = pending_task(session, app_id)
    xml = fixture_xml(
        "template_card_event__approve",
        corp_id=contacts_wecom.corp_id,
        agent_id="1000002",
        userid=school.head.userid,
        task_id=task.id,
    )
    response = contacts_wecom.post(xml)
    assert (response.status_code, response.data) == (200, b"")
    session.expire_all()
    assert session.get(Task, task.id).status == TaskStatus.PENDING
    assert redis_conn.hgetall(f"{UNKNOWN_COUNTER}:contacts") == {b"template_card_event": b"1"}


def test_a_second_help_within_the_minute_is_a_short_text(wecom, session, school):
    first = wecom.post(_fill(wecom, "text__help", userid=school.head.userid))
    assert first.data == b""
    # Another message (a new MsgId), not WeCom's retry of the first.
    other = _fill(wecom, "text__help", userid=school.head.userid).replace("456003<", "456004<")
    again = wecom.open_reply(wecom.post(other))
    assert again.fields["Content"] == SHORT_HELP
    assert len(session.scalars(select(Outbox).where(Outbox.kind == Kind.HELP)).all()) == 1
