"""Channels: the registry, zh_CN rendering of every kind, the in-app and log channels."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import func, select

from hall.channels import (
    ChannelRegistry,
    InAppChannel,
    LogChannel,
    Message,
    PermanentError,
    render,
)
from hall.models import Comment, Notification, Outbox, Person
from hall.outbox import Kind, emit
from hall.services import Decision, Hall
from hall.states import AppStatus, fire
from tests import factories
from tests.hall.delivery_support import FlakyChannel, assigned, scene

# ---------------------------------------------------------------------- registry


def test_registry_keeps_order_and_finds_by_name():
    inapp, log = InAppChannel(), LogChannel()
    registry = ChannelRegistry([inapp, log])
    assert registry.names == ["inapp", "log"]
    assert list(registry) == [inapp, log]
    assert registry.get("log") is log
    assert registry.get("sms") is None
    assert len(registry) == 2


def test_registry_refuses_duplicates_and_long_names():
    registry = ChannelRegistry([InAppChannel()])
    with pytest.raises(ValueError, match="twice"):
        registry.register(InAppChannel())
    with pytest.raises(ValueError, match="characters"):
        registry.register(FlakyChannel(name="x" * 21))
    assert registry.names == ["inapp"]


# --------------------------------------------------------------------- rendering


def test_task_assigned_names_the_todo_applicant_process_and_step(session):
    s = scene(session)
    message = render(session, assigned(session, s))
    assert message.title == "您有一条新的待办：王同学的请假申请"
    assert "王同学提交的「请假申请」" in message.body
    assert "QJ20260901001" in message.body
    assert "当前环节：负责人审批" in message.body


def test_a_to_do_sent_back_by_a_later_step_says_who_and_why(session):
    s = scene(session)
    row = assigned(session, s)
    row.payload = {"returned_by": "赵处长", "return_reason": "请核对出差天数"}
    assert "赵处长退回：请核对出差天数。当前环节：负责人审批" in render(session, row).body
    row.payload = {"returned_by": "赵处长"}  # a row queued before returns needed a reason
    assert "赵处长退回，请重新处理。" in render(session, row).body


def test_a_to_do_back_after_an_added_signer_says_who_agreed(session):
    s = scene(session)
    row = assigned(session, s)
    row.payload = {"signed_by": "王五"}
    assert "您加签的王五已同意。当前环节：负责人审批" in render(session, row).body


@pytest.mark.parametrize(
    ("outcome", "title"),
    [
        ("approved", "您的申请已通过：王同学的请假申请"),
        ("rejected", "您的申请已驳回：王同学的请假申请"),
        ("returned", "您的申请被退回修改：王同学的请假申请"),
        ("handled", "您的申请已办结：王同学的请假申请"),
    ],
)
def test_result_titles_follow_the_outcome(session, outcome, title):
    s = scene(session)
    row = emit(
        session,
        Kind.APPLICATION_RESULT,
        recipient_id=s.applicant.id,
        application_id=s.application.id,
        outcome=outcome,
        comment="材料齐全",
    )
    session.flush()
    message = render(session, row)
    assert message.title == title
    label = "退回原因" if outcome == "returned" else "审批意见"
    assert f"{label}：材料齐全。" in message.body
    assert ("重新提交" in message.body) == (outcome == "returned")


def test_result_without_outcome_reads_the_application_status(session):
    s = scene(session)
    fire(s.application, "submit")
    fire(s.application, "reject")
    session.flush()
    row = emit(
        session,
        Kind.APPLICATION_RESULT,
        recipient_id=s.applicant.id,
        application_id=s.application.id,
    )
    session.flush()
    assert s.application.status == AppStatus.REJECTED
    assert render(session, row).title == "您的申请已驳回：王同学的请假申请"


def test_other_kinds_render_their_own_wording(session):
    s = scene(session)
    common = {"application_id": s.application.id, "task_id": s.task.id}
    cases = {
        Kind.CC: "抄送：王同学的申请「王同学的请假申请」",
        Kind.URGE: "催办：请尽快处理「王同学的请假申请」",
        Kind.STEP_NOTIFY: "报备：王同学的请假申请",
        Kind.TASK_CANCELLED: "待办已由他人处理：王同学的请假申请",
        Kind.FLAGGED: "办件需要您处理：王同学的请假申请",
    }
    for kind, title in cases.items():
        row = emit(session, kind, recipient_id=s.reviewer.id, **common)
        session.flush()
        assert render(session, row).title == title, kind


def test_urge_names_who_urged_and_withdrawal_says_so(session):
    s = scene(session)
    urge = emit(
        session,
        Kind.URGE,
        recipient_id=s.reviewer.id,
        application_id=s.application.id,
        actor_id=s.applicant.id,
    )
    withdrawn = emit(
        session,
        Kind.TASK_CANCELLED,
        recipient_id=s.reviewer.id,
        application_id=s.application.id,
        reason="withdrawn",
    )
    session.flush()
    assert render(session, urge).body.startswith("王同学催办了此申请")
    assert render(session, withdrawn).title == "申请已撤回：王同学的请假申请"


def test_comment_quotes_its_author_and_text(session):
    s = scene(session)
    comment = Comment(application_id=s.application.id, author_id=s.reviewer.id, body="请补充假条")
    session.add(comment)
    session.flush()
    row = emit(
        session,
        Kind.COMMENT,
        recipient_id=s.applicant.id,
        application_id=s.application.id,
        comment_id=comment.id,
    )
    session.flush()
    message = render(session, row)
    assert message.title == "新评论：王同学的请假申请"
    assert message.body == "李处长：请补充假条"


def test_unknown_kind_and_missing_application_still_render(session):
    s = scene(session)
    row = emit(session, "system_notice", recipient_id=s.applicant.id, text="系统将于今晚维护")
    session.flush()
    message = render(session, row)
    assert (message.title, message.body) == ("您有一条新消息", "系统将于今晚维护")


def test_long_titles_are_cut_to_the_column(session):
    s = scene(session)
    s.application.title = "长" * 200
    session.flush()
    title = render(session, assigned(session, s)).title
    assert len(title) == 200
    assert title.endswith("…")


# ---------------------------------------------------------------------- channels


def test_inapp_accepts_only_messages_with_a_recipient(session):
    s = scene(session)
    channel = InAppChannel()
    nobody = emit(session, Kind.FLAGGED, recipient_id=None, application_id=s.application.id)
    session.flush()
    assert channel.accepts(assigned(session, s))
    assert not channel.accepts(nobody)
    with pytest.raises(PermanentError):
        channel.send(session, nobody)


def test_inapp_writes_one_notification_even_when_sent_twice(session):
    s = scene(session)
    row = assigned(session, s)
    channel = InAppChannel()
    channel.send(session, row)
    channel.send(session, row)
    notes = session.scalars(select(Notification).where(Notification.outbox_id == row.id)).all()
    assert len(notes) == 1
    note = notes[0]
    assert (note.person_id, note.kind, note.application_id) == (
        s.reviewer.id,
        Kind.TASK_ASSIGNED,
        s.application.id,
    )
    assert note.title == "您有一条新的待办：王同学的请假申请"
    assert note.read_at is None
    count = session.scalar(select(func.count()).select_from(Notification))
    assert count == 1


def test_log_channel_writes_one_structured_line(session, caplog):
    s = scene(session)
    row = assigned(session, s)
    channel = LogChannel()
    assert channel.accepts(row)
    with caplog.at_level(logging.INFO, logger="hall.deliver"):
        channel.send(session, row)
    records = [r for r in caplog.records if r.name == "hall.deliver"]
    assert len(records) == 1
    line = records[0].getMessage()
    assert line.startswith("deliver ")
    fields = json.loads(line.removeprefix("deliver "))
    assert fields == {
        "outbox_id": row.id,
        "kind": "task_assigned",
        "recipient": s.reviewer.userid,
        "application_id": s.application.id,
        "task_id": s.task.id,
        "title": "您有一条新的待办：王同学的请假申请",
    }


# ---------------------------------------- the payload shape the engine's notify writes


def test_engine_payloads_render_their_details(session):
    s = scene(session)
    common = {"application_id": s.application.id, "task_id": s.task.id}

    def rendered(kind: str, recipient: Person, **payload: Any) -> Message:
        row = emit(session, kind, recipient_id=recipient.id, **common, **payload)
        session.flush()
        return render(session, row)

    todo = rendered(Kind.TASK_ASSIGNED, s.reviewer, due_at="2026-11-29T10:00:00+00:00")
    assert todo.body.endswith("请于11月29日 18:00前处理。")
    returned = rendered(Kind.TASK_CANCELLED, s.reviewer, reason="申请已被退回")
    assert returned.title == "待办已取消：王同学的请假申请"
    assert returned.body.startswith("申请已被退回")
    elsewhere = rendered(Kind.TASK_CANCELLED, s.reviewer, reason="已由他人处理")
    assert elsewhere.title == "待办已由他人处理：王同学的请假申请"
    withdrawn = rendered(Kind.TASK_CANCELLED, s.reviewer, reason="申请人已撤回")
    assert withdrawn.title == "申请已撤回：王同学的请假申请"
    flagged = rendered(Kind.FLAGGED, s.reviewer, reason="审批规则没有找到处理人，已转给部门管理员")
    assert flagged.body.startswith("「负责人审批」环节审批规则没有找到处理人")
    cc = rendered(Kind.CC, s.reviewer, by="赵老师", comment="请知悉")
    assert cc.body.startswith("赵老师将「请假申请」")
    assert cc.body.endswith("附言：请知悉")
    comment = rendered(Kind.COMMENT, s.applicant, by="李处长", body="请补充假条")
    assert comment.body == "李处长：请补充假条"
    urge = rendered(Kind.URGE, s.reviewer, by="王同学")
    assert urge.body.startswith("王同学催办了此申请")


def test_payload_facts_stand_in_when_the_application_is_gone(session):
    s = scene(session)
    row = emit(
        session,
        Kind.APPLICATION_RESULT,
        recipient_id=s.applicant.id,
        title="已删除的申请",
        serial="X1",
        outcome="approved",
    )
    session.flush()
    message = render(session, row)
    assert message.title == "您的申请已通过：已删除的申请"
    assert message.body == "办件编号 X1。"


def test_a_handled_application_reads_banjie_with_what_its_handler_filled_in(db, session):
    dept = factories.department(session, "信息中心")
    tech = factories.person(session, "杜技术员", dept=dept)
    applicant = factories.person(session, "周同学", kind="student", dept=dept)
    choice = {"key": "cause", "label": "故障原因", "type": "choice",
              "options": [{"value": "line", "label": "线路"}]}  # fmt: skip
    step = factories.handling_step(tech.userid, factories.resolution_field(), choice)
    spec = factories.simple_spec(dept.code, name="报修", flow=[step])
    key = factories.process(session, spec).process.key
    session.commit()
    hall = Hall(db)
    app_id = hall.submit(applicant.id, key, {"reason": "断网"}).application_id
    [task] = factories.tasks_of(session, app_id)
    result = {"resolution": "更换网线", "cause": "line"}
    hall.decide(tech.id, task.id, Decision("approve", result=result))
    message = result_message(session, app_id)
    assert message.title == "您的申请已办结：周同学的报修"
    assert "处理结果：更换网线。故障原因：线路。" in message.body


def test_a_rejection_says_at_which_step_and_by_whom(db, session):
    hall, head, _applicant, app_id, task = waiting_at_the_head(db, session)
    hall.decide(head.id, task.id, Decision("reject", comment="理由不充分"))
    message = result_message(session, app_id)
    assert message.title == "您的申请已驳回：孙同学的调课"
    assert "处理环节：负责人审批（李主任）。" in message.body
    assert "审批意见：理由不充分" in message.body


def result_message(session, app_id: int) -> Message:
    """The applicant's rendered application_result for `app_id` (there is one)."""
    row = session.scalars(
        select(Outbox).where(
            Outbox.application_id == app_id, Outbox.kind == Kind.APPLICATION_RESULT
        )
    ).one()
    return render(session, row)


def test_a_resubmission_tells_the_reviewer_it_was_changed_and_sent_again(db, session):
    hall, head, applicant, app_id, task = waiting_at_the_head(db, session)
    hall.decide(head.id, task.id, Decision("return", comment="请补充行程", return_to="applicant"))
    hall.resubmit(applicant.id, app_id, {"reason": "与考试冲突"})
    first, again = session.scalars(
        select(Outbox)
        .where(Outbox.application_id == app_id, Outbox.kind == Kind.TASK_ASSIGNED)
        .order_by(Outbox.id)
    ).all()
    assert "resubmitted" not in first.payload
    assert "孙同学提交的「调课」" in render(session, first).body
    assert again.payload["resubmitted"] is True
    assert "孙同学修改后重新提交的「调课」" in render(session, again).body


def waiting_at_the_head(db, session) -> tuple[Hall, Person, Person, int, Any]:
    """孙同学's 调课, submitted and waiting at 李主任 (负责人审批)."""
    dept = factories.department(session, "教务处")
    head = factories.person(session, "李主任", dept=dept, roles=("dept_head",))
    applicant = factories.person(session, "孙同学", kind="student", dept=dept)
    key = factories.process(session, factories.simple_spec(dept.code, name="调课")).process.key
    session.commit()
    hall = Hall(db)
    app_id = hall.submit(applicant.id, key, {"reason": "冲突"}).application_id
    [task] = factories.tasks_of(session, app_id)
    return hall, head, applicant, app_id, task
