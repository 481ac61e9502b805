"""Submit → the reviewer's card in the sandbox WeCom → a click → approved → the applicant's
result card. Real HTTP both ways: the app serves on a loopback port, the WeCom channel calls
the simulator's API there, and the simulator's phone posts an encrypted callback back."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import redis
from rq import SimpleWorker
from sqlalchemy import select
from werkzeug.serving import BaseWSGIServer, make_server

import wework.sandbox
from cards import NO_TARGET
from config import Settings, load_settings
from hall import jobs
from hall.channels import ChannelRegistry, InAppChannel
from hall.clock import FrozenClock, utcnow
from hall.db import Database
from hall.delegations import Delegations
from hall.engine import local_date
from hall.models import (
    Application,
    Delivery,
    DeliveryStatus,
    Notification,
    Outbox,
    Person,
    Task,
)
from hall.outbox import Kind
from hall.reminders import remind_overdue
from hall.services import Decision, Hall
from hall.states import AppStatus, TaskStatus
from tests import factories
from tests.callbacks.wecom_peer import add_member, cards_of
from tests.conftest import REDIS_URL
from tests.net import free_port
from web.app import create_app
from web.wecom_channel import WeComCardChannel
from web.worker import build_relay, drain, make_queue
from wework.sandbox.phone import press_button, say
from wework.sandbox.store import SandboxStore


@dataclass
class Served:
    settings: Settings
    db: Database
    store: SandboxStore
    drain: Callable[[], None]


@pytest.fixture
def served(committed_db: Database, redis_conn: redis.Redis, tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    settings = load_settings(
        var_dir=tmp_path,
        secret_key="test",
        sandbox=True,
        base_url=f"http://127.0.0.1:{port}",
        redis_url=REDIS_URL,
    )
    app = create_app(settings, database=committed_db, redis=redis_conn)
    if "wework.sandbox" not in app.extensions:
        wework.sandbox.init_app(app, redis_conn)
    server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    channel = WeComCardChannel.from_settings(settings, redis_conn)
    channels = ChannelRegistry([InAppChannel(), channel])
    queue = make_queue(redis_conn)
    relay = build_relay(committed_db, channels, queue)
    worker = SimpleWorker([queue], connection=redis_conn)
    context = jobs.JobContext(db=committed_db, channels=channels, max_attempts=3)

    def deliver() -> None:
        with jobs.bound(context):
            drain(relay, worker)

    try:
        yield Served(settings, committed_db, SandboxStore(redis_conn, settings), deliver)
    finally:
        channel.client.close()
        server.shutdown()
        thread.join(10)
        server.server_close()


@pytest.mark.pg_only
def test_a_person_field_reads_as_the_persons_name_on_the_card(served: Served) -> None:
    with served.db.unit_of_work() as s:
        dept = factories.department(s, "计算机学院")
        head = factories.person(s, "李主任", dept=dept, roles=("dept_head",))
        factories.person(s, "王老师", dept=dept, userid="wang")
        applicant = factories.person(s, "张三", dept=dept)
        form = [
            {"key": "reason", "label": "事由", "type": "text", "required": True},
            {"key": "substitute", "label": "代课教师", "type": "person", "key_field": True},
        ]
        key = factories.process(s, factories.simple_spec(dept.code, form=form)).process.key
    add_member(served.store, head)
    Hall(served.db).submit(applicant.id, key, {"reason": "出差", "substitute": "wang"})
    served.drain()
    [message] = cards_of(served.store, head.userid)
    rows = message["template_card"]["horizontal_content_list"]
    assert {"keyname": "代课教师", "value": "王老师（wang）"} in rows


@pytest.mark.pg_only
def test_submit_card_click_approved_result_card(served: Served) -> None:
    db = served.db
    with db.unit_of_work() as s:
        dept = factories.department(s, "计算机学院")
        head = factories.person(s, "李主任", dept=dept, roles=("dept_head",))
        colleague = factories.person(s, "王老师", dept=dept)
        applicant = factories.person(s, "张三", dept=dept)
        spec = factories.simple_spec(dept.code, name="教职工请假")
        spec["form"][0]["key_field"] = True
        key = factories.process(s, spec).process.key
    for who in (head, colleague, applicant):
        add_member(served.store, who)

    app_id = Hall(db).submit(applicant.id, key, {"reason": "参加学术会议"}).application_id
    served.drain()

    # The reviewer's card arrived, built by cards/ and accepted by the simulator.
    [message] = cards_of(served.store, head.userid)
    card = message["template_card"]
    assert card["card_type"] == "button_interaction"
    assert card["main_title"]["title"] == "教职工请假"
    assert card["horizontal_content_list"] == [{"keyname": "事由", "value": "参加学术会议"}]
    assert [b.get("key") for b in card["button_list"]][:2] == [
        f"approve:{_task(db, app_id).id}",
        f"reject:{_task(db, app_id).id}",
    ]
    # 退回 opens the page's return form (a card cannot take the reason), through OAuth.
    back = card["button_list"][2]
    assert (back["text"], back["type"]) == ("退回", 1)
    assert parse_qs(urlsplit(back["url"]).query)["next"] == [f"/applications/{app_id}?act=return"]
    assert card["button_selection"]["option_list"] == [
        {"id": NO_TARGET, "text": "请选择"},
        {"id": colleague.userid, "text": "王老师"},
    ]
    task = _task(db, app_id)
    assert task.card_task_id == message["task_id"]
    assert task.card_response_code == message["response_code"]

    # The reviewer taps 同意 on the phone: an encrypted callback over HTTP.
    delivery = press_button(
        served.store, served.settings, head.userid, message["task_id"], f"approve:{task.id}"
    )
    assert delivery.ok
    assert delivery.reply_fields["MsgType"] == "update_button"
    assert delivery.reply_fields["ReplaceName"] == "已同意"
    assert _app_status(db, app_id) == AppStatus.APPROVED
    assert _task_status(db, task.id) == TaskStatus.APPROVED

    # The result card reaches the applicant through the outbox and the worker.
    served.drain()
    [result] = cards_of(served.store, applicant.userid)
    assert result["template_card"]["card_type"] == "text_notice"
    assert result["template_card"]["main_title"]["title"] == "您的申请已通过"
    assert cards_of(served.store, head.userid)[0]["replace_name"] == "已同意"
    with db.reader() as s:
        statuses = {d.channel: d.status for d in s.scalars(select(Delivery))}
    assert statuses == {"inapp": DeliveryStatus.SENT, "wecom": DeliveryStatus.SENT}


@pytest.mark.pg_only
def test_any_of_step_the_other_reviewers_card_turns_handled(served: Served) -> None:
    db = served.db
    with db.unit_of_work() as s:
        dept = factories.department(s, "教务处")
        first = factories.person(s, "赵老师", dept=dept)
        second = factories.person(s, "钱老师", dept=dept)
        applicant = factories.person(s, "孙同学", kind="student", dept=dept)
        spec = factories.simple_spec(
            dept.code,
            flow=[
                {
                    "key": "any",
                    "name": "任一人审批",
                    "mode": "any",
                    "allow_transfer": False,
                    "approver": {"type": "persons", "userids": [first.userid, second.userid]},
                }
            ],
        )
        key = factories.process(s, spec).process.key
    for who in (first, second, applicant):
        add_member(served.store, who)
    app_id = Hall(db).submit(applicant.id, key, {"reason": "调课"}).application_id
    served.drain()
    [mine] = cards_of(served.store, first.userid)
    [theirs] = cards_of(served.store, second.userid)
    assert "button_selection" not in mine["template_card"]
    task_id = mine["template_card"]["button_list"][0]["key"].split(":")[1]

    delivery = press_button(
        served.store, served.settings, first.userid, mine["task_id"], f"reject:{task_id}"
    )
    assert delivery.reply_fields["ReplaceName"] == "已驳回"
    served.drain()

    assert cards_of(served.store, second.userid)[0]["replace_name"] == "已由他人处理"
    assert theirs["task_id"] != mine["task_id"]
    [result] = cards_of(served.store, applicant.userid)
    assert result["template_card"]["main_title"]["title"] == "您的申请已驳回"
    rows = result["template_card"]["horizontal_content_list"]
    assert {"keyname": "处理环节", "value": "任一人审批（赵老师）"} in rows  # where, and who
    assert _app_status(db, app_id) == AppStatus.REJECTED
    with db.reader() as s:
        other = s.scalars(
            select(Task).where(Task.application_id == app_id, Task.assignee_id == second.id)
        ).one()
        assert other.status == TaskStatus.CANCELLED
        assert other.card_response_code is None  # spent on the update


@pytest.mark.pg_only
def test_handling_step_cards_banjie_or_link_to_the_form(served: Served) -> None:
    """办结 decides a handling step from the card; a step asking for 处理结果 links there."""
    db = served.db
    with db.unit_of_work() as s:
        dept = factories.department(s, "信息中心")
        tech = factories.person(s, "杜技术员", dept=dept)
        applicant = factories.person(s, "周同学", kind="student", dept=dept)
        keys = {}
        for required in (False, True):
            step = factories.handling_step(
                tech.userid, factories.resolution_field(required=required)
            )
            spec = factories.simple_spec(
                dept.code, name="报修" if required else "开通", flow=[step]
            )
            keys[required] = factories.process(s, spec).process.key
    for who in (tech, applicant):
        add_member(served.store, who)
    hall = Hall(db)
    plain_id = hall.submit(applicant.id, keys[False], {"reason": "开通邮箱"}).application_id
    form_id = hall.submit(applicant.id, keys[True], {"reason": "网络故障"}).application_id
    served.drain()
    cards = {
        m["template_card"]["main_title"]["title"]: m for m in cards_of(served.store, tech.userid)
    }

    plain = cards["开通"]
    task_id = _task(db, plain_id).id
    assert plain["template_card"]["button_list"][0] == {
        "text": "办结", "style": 1, "key": f"approve:{task_id}"
    }  # fmt: skip
    delivery = press_button(
        served.store, served.settings, tech.userid, plain["task_id"], f"approve:{task_id}"
    )
    assert delivery.reply_fields["ReplaceName"] == "已办理"
    assert _app_status(db, plain_id) == AppStatus.APPROVED

    first = cards["报修"]["template_card"]["button_list"][0]
    assert (first["type"], first["text"]) == (1, "去办理")
    assert first["url"] == cards["报修"]["template_card"]["card_action"]["url"]  # via OAuth
    assert first["url"].endswith(f"/login/wecom?next=%2Fgo%2Fapplication%2F{form_id}")
    assert _task_status(db, _task(db, form_id).id) == TaskStatus.PENDING

    # Handled in the web view with its result: the technician's card shows 已办理, and the
    # applicant's card reads 已办结 and carries the result they were waiting for.
    hall.decide(
        tech.id, _task(db, form_id).id, Decision("approve", result={"resolution": "更换网线"})
    )
    served.drain()
    by_title = {
        m["template_card"]["main_title"]["desc"]: m["template_card"]
        for m in cards_of(served.store, applicant.userid)
    }
    assert set(by_title) == {"周同学的开通", "周同学的报修"}
    for card in by_title.values():
        assert card["main_title"]["title"] == "您的申请已办结"
    rows = by_title["周同学的报修"]["horizontal_content_list"]
    assert {"keyname": "处理结果", "value": "更换网线"} in rows
    assert {r["keyname"] for r in by_title["周同学的开通"]["horizontal_content_list"]} == {
        "事项",
        "办件编号",
    }
    form_card = cards["报修"]["task_id"]
    [updated] = [m for m in cards_of(served.store, tech.userid) if m["task_id"] == form_card]
    assert updated["replace_name"] == "已办理"


@dataclass(frozen=True)
class TaskRow:
    id: int
    card_task_id: str | None
    card_response_code: str | None


def _task(db: Database, app_id: int) -> TaskRow:
    with db.reader() as s:
        task = s.scalars(select(Task).where(Task.application_id == app_id)).one()
        return TaskRow(task.id, task.card_task_id, task.card_response_code)


def _app_status(db: Database, app_id: int) -> AppStatus:
    with db.reader() as s:
        app = s.get(Application, app_id)
        assert app is not None
        return app.status


def _task_status(db: Database, task_id: int) -> TaskStatus:
    with db.reader() as s:
        task = s.get(Task, task_id)
        assert task is not None
        return task.status


# ------------------------------------------------- the channel's other message kinds


@dataclass
class Scene:
    head: Person
    colleague: Person
    applicant: Person
    app_id: int


def _scene(served: Served) -> Scene:
    """An application waiting at 李主任, whose card has been delivered."""
    with served.db.unit_of_work() as s:
        dept = factories.department(s, "计算机学院")
        head = factories.person(s, "李主任", dept=dept, roles=("dept_head",))
        colleague = factories.person(s, "王老师", dept=dept)
        applicant = factories.person(s, "张三", dept=dept)
        key = factories.process(s, factories.simple_spec(dept.code, name="用印申请")).process.key
    for who in (head, colleague, applicant):
        add_member(served.store, who)
    app_id = Hall(served.db).submit(applicant.id, key, {"reason": "盖章"}).application_id
    served.drain()
    return Scene(head, colleague, applicant, app_id)


def _an_hour_later(served: Served) -> Hall:
    """The hall an hour on: the reviewer has had the to-do long enough to be urged."""
    return Hall(served.db, FrozenClock(utcnow() + timedelta(hours=1)))


@pytest.mark.pg_only
def test_urge_sends_a_fresh_reminder_card(served: Served) -> None:
    scene = _scene(served)
    _an_hour_later(served).urge(scene.applicant.id, scene.app_id)
    served.drain()
    first, reminder = cards_of(served.store, scene.head.userid)
    card = reminder["template_card"]
    assert card["main_title"]["title"] == "【催办】用印申请"
    assert card["sub_title_text"] == "张三催办：请尽快处理。"
    assert reminder["task_id"] != first["task_id"]
    task = _task(served.db, scene.app_id)
    assert (task.card_task_id, task.card_response_code) == (
        reminder["task_id"],
        reminder["response_code"],
    )
    # The first card is greyed out (only the newest card's code is kept for the decision);
    # the reminder answers the decision and then shows it.
    assert first["replace_name"] == "请在新卡片处理"
    assert "replace_name" not in reminder or not reminder["replace_name"]
    Hall(served.db).decide(scene.head.id, task.id, Decision("approve"))
    served.drain()
    first, reminder = cards_of(served.store, scene.head.userid)
    assert (first["replace_name"], reminder["replace_name"]) == ("请在新卡片处理", "已同意")


@pytest.mark.pg_only
def test_a_task_past_its_deadline_gets_the_timers_reminder_card(served: Served) -> None:
    scene = _scene(served)
    with served.db.unit_of_work() as s:
        task = s.get(Task, _task(served.db, scene.app_id).id)
        assert task is not None
        task.due_at = utcnow() - timedelta(hours=5)
        assert remind_overdue(s, utcnow()).reminded == 1
    served.drain()
    first, reminder = cards_of(served.store, scene.head.userid)
    card = reminder["template_card"]
    assert card["main_title"]["title"] == "【超时提醒】用印申请"
    assert card["sub_title_text"] == "提醒：已超过办理时限5小时，请尽快处理。"
    assert first["replace_name"] == "请在新卡片处理"


@pytest.mark.pg_only
def test_a_day_overdue_reaches_the_administrators_phone(served: Served) -> None:
    scene = _scene(served)
    with served.db.unit_of_work() as s:
        head = s.get(Person, scene.head.id)
        assert head is not None
        admin = factories.person(s, "吴管理员", dept=head.department, roles=("dept_admin",))
        task = s.get(Task, _task(served.db, scene.app_id).id)
        assert task is not None
        task.due_at = utcnow() - timedelta(hours=30)
        assert remind_overdue(s, utcnow()).escalated == 1
    add_member(served.store, admin)
    served.drain()
    [digest] = cards_of(served.store, admin.userid)
    card = digest["template_card"]
    assert card["card_type"] == "text_notice"
    assert card["main_title"]["title"] == "1件待办超时未办"
    assert parse_qs(urlsplit(card["card_action"]["url"]).query)["next"] == ["/monitor?overdue=1"]


@pytest.mark.pg_only
def test_an_urge_whose_old_card_cannot_be_greyed_out_is_still_delivered(served: Served) -> None:
    scene = _scene(served)
    old = _task(served.db, scene.app_id)
    assert old.card_response_code is not None
    served.store.use_response_code(old.card_response_code)  # spent: the update is refused
    _an_hour_later(served).urge(scene.applicant.id, scene.app_id)
    served.drain()
    first, reminder = cards_of(served.store, scene.head.userid)
    assert first["replace_name"] is None
    assert reminder["template_card"]["main_title"]["title"] == "【催办】用印申请"
    assert _task(served.db, scene.app_id).card_task_id == reminder["task_id"]
    with served.db.reader() as s:
        assert {d.status for d in s.scalars(select(Delivery))} == {DeliveryStatus.SENT}


@pytest.mark.pg_only
def test_cc_sends_a_notice_card(served: Served) -> None:
    scene = _scene(served)
    Hall(served.db).cc(scene.applicant.id, scene.app_id, [scene.colleague.userid], comment="知悉")
    served.drain()
    [notice] = cards_of(served.store, scene.colleague.userid)
    assert notice["template_card"]["card_type"] == "text_notice"
    assert notice["template_card"]["main_title"]["title"] == "抄送：张三的申请"


@pytest.mark.pg_only
def test_a_spent_response_code_falls_back_to_a_notice(served: Served) -> None:
    scene = _scene(served)
    task = _task(served.db, scene.app_id)
    assert task.card_response_code is not None
    served.store.use_response_code(task.card_response_code)  # e.g. spent by an update
    Hall(served.db).withdraw(scene.applicant.id, scene.app_id)
    served.drain()
    card, notice = cards_of(served.store, scene.head.userid)
    assert card["replace_name"] is None
    assert notice["template_card"]["main_title"]["title"] == "申请已撤回"
    assert _task(served.db, scene.app_id).card_response_code is None
    with served.db.reader() as s:
        statuses = {d.status for d in s.scalars(select(Delivery))}
    assert statuses == {DeliveryStatus.SENT}


@pytest.mark.pg_only
def test_a_member_unknown_to_wecom_is_a_permanent_failure(served: Served) -> None:
    with served.db.unit_of_work() as s:
        dept = factories.department(s, "财务处")
        factories.person(s, "刘处长", dept=dept, roles=("dept_head",))
        applicant = factories.person(s, "陈老师", dept=dept)
        key = factories.process(s, factories.simple_spec(dept.code)).process.key
    Hall(served.db).submit(applicant.id, key, {"reason": "报销"})
    served.drain()  # nobody of 财务处 is in the simulator's contacts
    with served.db.reader() as s:
        statuses = {(d.channel, d.status) for d in s.scalars(select(Delivery))}
        errors = [d.last_error for d in s.scalars(select(Delivery)) if d.channel == "wecom"]
    assert statuses == {("inapp", DeliveryStatus.SENT), ("wecom", DeliveryStatus.DEAD)}
    assert errors
    assert all("81013" in (e or "") for e in errors)


@pytest.mark.pg_only
def test_a_step_sent_back_by_a_later_one_gets_a_card_saying_who_and_why(served: Served) -> None:
    with served.db.unit_of_work() as s:
        dept = factories.department(s, "计算机学院")
        head = factories.person(s, "李主任", dept=dept, roles=("dept_head",))
        clerk = factories.person(s, "王老师", dept=dept)
        applicant = factories.person(s, "张三", dept=dept)
        flow = [
            {"key": "head", "name": "负责人审批", "approver": {"type": "dept_head"}},
            {
                "key": "seal",
                "name": "用印登记",
                "approver": {"type": "persons", "userids": [clerk.userid]},
            },
        ]
        spec = factories.simple_spec(dept.code, name="用印申请", flow=flow)
        key = factories.process(s, spec).process.key
    for who in (head, clerk, applicant):
        add_member(served.store, who)
    hall = Hall(served.db)
    app_id = hall.submit(applicant.id, key, {"reason": "盖章"}).application_id
    served.drain()
    hall.decide(head.id, _task(served.db, app_id).id, Decision("approve"))
    back = Decision("return", comment="请核对盖章份数", return_to="head")
    with served.db.reader() as s:
        pending = select(Task.id).where(Task.application_id == app_id, Task.assignee_id == clerk.id)
        clerk_task = s.scalars(pending).one()
    hall.decide(clerk.id, clerk_task, back)
    served.drain()
    first, again = cards_of(served.store, head.userid)
    card = again["template_card"]
    assert card["sub_title_text"] == "王老师退回：请核对盖章份数"
    assert first["replace_name"] == "已同意"
    assert card["button_list"][2]["url"].endswith(quote(f"/applications/{app_id}?act=return", ""))


def test_a_decision_in_the_web_view_updates_the_deciders_own_card(served: Served) -> None:
    scene = _scene(served)
    task = _task(served.db, scene.app_id)
    Hall(served.db).decide(scene.head.id, task.id, Decision(action="reject", comment="材料不全"))
    served.drain()
    [card] = cards_of(served.store, scene.head.userid)
    assert card["replace_name"] == "已驳回"  # no stale 同意 button left on the phone
    assert _task(served.db, scene.app_id).card_response_code is None
    with served.db.reader() as s:
        notes = s.scalars(select(Notification.kind).where(Notification.person_id == scene.head.id))
        assert "task_decided" not in set(notes)  # no in-app notice of one's own decision


@pytest.mark.pg_only
def test_a_web_decision_with_a_spent_code_sends_a_notice(served: Served) -> None:
    scene = _scene(served)
    task = _task(served.db, scene.app_id)
    assert task.card_response_code is not None
    served.store.use_response_code(task.card_response_code)
    Hall(served.db).decide(scene.head.id, task.id, Decision(action="approve"))
    served.drain()
    card, notice = cards_of(served.store, scene.head.userid)
    assert card["replace_name"] is None
    assert notice["template_card"]["card_type"] == "text_notice"
    assert "您已在网页端处理：已同意" in str(notice["template_card"])


@pytest.mark.pg_only
def test_a_card_click_does_not_update_the_card_twice(served: Served) -> None:
    scene = _scene(served)
    [message] = cards_of(served.store, scene.head.userid)
    task = _task(served.db, scene.app_id)
    press_button(
        served.store, served.settings, scene.head.userid, message["task_id"], f"approve:{task.id}"
    )
    served.drain()
    with served.db.reader() as s:
        kinds = set(s.scalars(select(Outbox.kind).where(Outbox.recipient_id == scene.head.id)))
    assert "task_decided" not in kinds


@pytest.mark.pg_only
def test_a_message_that_is_no_command_gets_the_help_card(served: Served) -> None:
    scene = _scene(served)  # one to-do waits at 李主任
    delivery = say(served.store, served.settings, scene.head.userid, "怎么请假？")
    assert (delivery.ok, delivery.reply_fields) == (True, {})  # the card comes by the outbox
    served.drain()
    _review, help_message = cards_of(served.store, scene.head.userid)
    card = help_message["template_card"]
    assert (card["card_type"], card["main_title"]["title"]) == (
        "text_notice",
        "网上办事大厅使用帮助",
    )
    assert card["emphasis_content"] == {"title": "1", "desc": "条待办等您处理"}
    targets = [parse_qs(urlsplit(j["url"]).query)["next"] for j in card["jump_list"]]
    assert targets == [["/tasks"], ["/applications"], ["/"]]
    # WeCom's only: nothing lands in the hall's own message list.
    with served.db.reader() as s:
        assert s.scalars(select(Notification).where(Notification.kind == Kind.HELP)).all() == []
    # The applicant has nothing to review: no figure on their card.
    say(served.store, served.settings, scene.applicant.userid, "hi")
    served.drain()
    [*_rest, mine] = cards_of(served.store, scene.applicant.userid)
    assert "emphasis_content" not in mine["template_card"]


@pytest.mark.pg_only
def test_a_delegation_moves_the_card_to_the_delegates_phone(served: Served) -> None:
    scene = _scene(served)
    [before] = cards_of(served.store, scene.head.userid)
    today = local_date(utcnow())
    result = Delegations(served.db).create(
        scene.head.id, scene.colleague.userid, today, today + timedelta(days=2)
    )
    assert result.moved == 1
    served.drain()
    [card] = cards_of(served.store, scene.head.userid)
    assert card["replace_name"] == "已转交"  # the absent head's card can no longer decide
    [theirs] = cards_of(served.store, scene.colleague.userid)
    assert theirs["template_card"]["main_title"]["title"] == "用印申请"
    assert theirs["template_card"]["sub_title_text"] == "李主任外出期间委托您处理。"
    with served.db.reader() as s:
        moved = s.scalars(
            select(Task).where(
                Task.application_id == scene.app_id, Task.__table__.c.status == TaskStatus.PENDING
            )
        ).one()
        assert (moved.assignee_id, moved.card_task_id) == (scene.colleague.id, theirs["task_id"])
    assert before["task_id"] != theirs["task_id"]


@pytest.mark.pg_only
def test_a_to_do_decided_at_its_time_limit_greys_out_its_card(served: Served) -> None:
    with served.db.unit_of_work() as s:
        dept = factories.department(s, "后勤处")
        head = factories.person(s, "周处长", dept=dept, roles=("dept_head",))
        applicant = factories.person(s, "吴老师", dept=dept)
        spec = factories.simple_spec(
            dept.code,
            name="车辆报备",
            flow=[
                {
                    "key": "head",
                    "name": "处长审批",
                    "approver": {"type": "dept_head"},
                    "time_limit_hours": 2,
                    "on_timeout": "approve",
                }
            ],
        )
        key = factories.process(s, spec).process.key
    for who in (head, applicant):
        add_member(served.store, who)
    app_id = Hall(served.db).submit(applicant.id, key, {"reason": "出车"}).application_id
    served.drain()
    later = Hall(served.db, FrozenClock(utcnow() + timedelta(hours=3)))
    assert later.time_out(_task(served.db, app_id).id) == "超时自动同意"
    served.drain()
    [card] = cards_of(served.store, head.userid)
    assert card["replace_name"] == "超时自动同意"
    [result] = cards_of(served.store, applicant.userid)
    assert result["template_card"]["main_title"]["title"] == "您的申请已通过"
