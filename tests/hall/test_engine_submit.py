"""Submitting, drafts, serials, titles, prefill and the first step's tasks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from hall.clock import FrozenClock
from hall.errors import Conflict, Invalid, NotFound
from hall.models import Application, Attachment, PersonStatus, TaskOrigin
from hall.outbox import Kind
from hall.services import Decision, Hall
from hall.states import AppStatus, TaskStatus
from tests import factories


@pytest.fixture
def school(session):
    return factories.school(session)


@pytest.fixture
def clock():
    return FrozenClock(datetime(2026, 11, 29, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai


@pytest.fixture
def hall(db, clock):
    return Hall(db, clock)


LEAVE_FORM = [
    {"key": "kind", "label": "类型", "type": "choice", "required": True,
     "options": [{"value": "sick", "label": "病假"}, {"value": "personal", "label": "事假"}]},
    {"key": "period", "label": "起止日期", "type": "date_range", "required": True, "max_days": 30},
    {"key": "reason", "label": "事由", "type": "textarea", "required": True, "max_length": 500},
    {"key": "mobile", "label": "手机", "type": "mobile", "required": True,
     "prefill": "mobile"},
    {"key": "major", "label": "专业", "type": "text", "prefill": "profile.major"},
]  # fmt: skip


def leave_spec(**overrides: Any) -> dict[str, Any]:
    spec = factories.simple_spec(
        "CS",
        key="student_leave",
        name="学生请假",
        title_template="{applicant}的{kind}申请（{period}）",
        form=LEAVE_FORM,
        flow=[{"key": "counsellor", "name": "辅导员审批", "approver": {"type": "counsellor"}}],
    )
    spec.update(overrides)
    return spec


def leave_form(**overrides: Any) -> dict[str, Any]:
    form = {
        "kind": "sick",
        "period": {"start": "2026-12-01", "end": "2026-12-02"},
        "reason": "发烧就医",
    }
    form.update(overrides)
    return form


def test_submit_creates_application_tasks_logs_and_outbox(hall, session, school):
    factories.process(session, leave_spec())
    result = hall.submit(school.student.id, "student_leave", leave_form())

    assert result.status == "pending"
    assert result.message == "已提交"
    assert result.serial == "2026112900001"
    app = session.get(Application, result.application_id)
    assert app is not None
    assert app.title == "林同学的病假申请（2026-12-01 至 2026-12-02）"
    assert app.department_id == school.cs.id
    assert app.current_step == 0
    assert app.submitted_at == datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    # prefilled from the profile because the fields were absent
    assert app.form["mobile"] == school.student.mobile
    assert app.form["major"] == "软件工程"
    [task] = factories.tasks_of(session, app.id)
    assert task.assignee_id == school.counsellor.id
    assert task.status is TaskStatus.PENDING
    assert task.origin is TaskOrigin.FLOW
    assert task.round == 1
    [assigned] = factories.outbox_of(session, app.id, Kind.TASK_ASSIGNED)
    assert assigned.recipient_id == school.counsellor.id
    assert assigned.task_id == task.id
    assert assigned.payload["serial"] == app.serial
    assert assigned.payload["step"] == "辅导员审批"
    actions = [
        (log.action, log.from_status, log.to_status) for log in factories.logs_of(session, app.id)
    ]
    assert actions == [("submit", "draft", "pending"), ("assign", None, "pending")]


def test_serials_count_per_day(hall, session, school, clock):
    factories.process(session, leave_spec())
    first = hall.submit(school.student.id, "student_leave", leave_form())
    second = hall.submit(school.student.id, "student_leave", leave_form())
    clock.advance(hours=16)  # 02:00 UTC + 16 h = next day 02:00 in Shanghai
    third = hall.submit(school.student.id, "student_leave", leave_form())
    assert [first.serial, second.serial, third.serial] == [
        "2026112900001",
        "2026112900002",
        "2026113000001",
    ]


def test_shanghai_day_decides_the_serial_date(hall, session, school, clock):
    factories.process(session, leave_spec())
    clock.advance(hours=14)  # 16:00 UTC on the 29th is 00:00 on the 30th in Shanghai
    assert hall.submit(school.student.id, "student_leave", leave_form()).serial.startswith(
        "20261130"
    )


def test_invalid_form_is_refused_with_every_field_error_and_nothing_written(hall, session, school):
    factories.process(session, leave_spec())
    before = factories.snapshot(session)
    bad = {
        "kind": "holiday",
        "period": {"start": "2026-12-05", "end": "2026-12-01"},
        "reason": "",
        "mobile": "12345",
        "nickname": "x",
    }
    with pytest.raises(Invalid) as err:
        hall.submit(school.student.id, "student_leave", bad)
    assert err.value.detail["fields"] == {
        "kind": "请从选项中选择",
        "period": "结束不能早于开始",
        "reason": "请填写事由",
        "mobile": "请填写11位手机号码",
        "nickname": "未知字段",
    }
    assert factories.snapshot(session) == before


def test_oversized_and_wrong_type_values_are_invalid(hall, session, school):
    factories.process(session, leave_spec())
    before = factories.snapshot(session)
    with pytest.raises(Invalid) as err:
        hall.submit(school.student.id, "student_leave", leave_form(reason="很" * 501))
    assert err.value.detail["fields"] == {"reason": "不能超过500个字"}
    with pytest.raises(Invalid) as err:
        hall.submit(school.student.id, "student_leave", leave_form(reason=["a"]))
    assert err.value.detail["fields"] == {"reason": "应为文本"}
    with pytest.raises(Invalid) as err:
        hall.submit(school.student.id, "student_leave", leave_form(reason="x" * 300_000))
    assert err.value.detail["fields"] == {"_form": "表单内容过大"}
    assert factories.snapshot(session) == before


def test_unknown_process_actor_or_audience_is_not_found(hall, session, school):
    factories.process(session, leave_spec(audience=["staff"]))
    with pytest.raises(NotFound):
        hall.submit(school.student.id, "no_such_process", leave_form())
    with pytest.raises(NotFound):
        hall.submit(school.student.id, "student_leave", leave_form())  # students not served
    with pytest.raises(NotFound):
        hall.submit(999_999, "student_leave", leave_form())
    school.teacher.status = PersonStatus.INACTIVE
    session.flush()
    with pytest.raises(NotFound):
        hall.submit(school.teacher.id, "student_leave", leave_form())


def test_visible_to_limits_who_may_apply(hall, session, school):
    factories.process(session, leave_spec(visible_to=["JWC"]))
    session.flush()  # publishing leaves the scope rows pending
    with pytest.raises(NotFound):
        hall.submit(school.student.id, "student_leave", leave_form())
    factories.process(session, leave_spec(key="cs_leave", visible_to=["CS"]))
    session.flush()
    assert hall.submit(school.student.id, "cs_leave", leave_form()).status == "pending"


def test_draft_then_submit_keeps_the_application(hall, session, school):
    factories.process(session, leave_spec())
    draft = hall.save_draft(school.student.id, "student_leave", {"reason": "还没想好"})
    assert draft.status == "draft"
    assert draft.message == "已保存草稿"
    assert draft.serial.startswith("D")
    again = hall.save_draft(
        school.student.id, "student_leave", {"reason": "发烧"}, application_id=draft.application_id
    )
    assert again.application_id == draft.application_id
    with pytest.raises(Invalid):  # a draft still refuses unknown fields
        hall.save_draft(school.student.id, "student_leave", {"bogus": 1})
    result = hall.submit(
        school.student.id, "student_leave", leave_form(), application_id=draft.application_id
    )
    assert result.application_id == draft.application_id
    assert result.serial == "2026112900001"
    assert result.status == "pending"
    with pytest.raises(Conflict):
        hall.submit(
            school.student.id, "student_leave", leave_form(), application_id=draft.application_id
        )
    with pytest.raises(Conflict):
        hall.save_draft(school.student.id, "student_leave", {}, application_id=draft.application_id)
    actions = [log.action for log in factories.logs_of(session, draft.application_id)]
    assert actions[:3] == ["save_draft", "save_draft", "submit"]


def test_someone_elses_draft_is_not_found(hall, session, school):
    factories.process(session, leave_spec())
    draft = hall.save_draft(school.student.id, "student_leave", {"reason": "x"})
    other = factories.person(session, "别人", kind="student", dept=school.cs)
    with pytest.raises(NotFound):
        hall.submit(other.id, "student_leave", leave_form(), application_id=draft.application_id)
    with pytest.raises(NotFound):
        hall.withdraw(other.id, draft.application_id)


def test_draft_may_be_withdrawn(hall, session, school):
    factories.process(session, leave_spec())
    draft = hall.save_draft(school.student.id, "student_leave", {"reason": "x"})
    assert hall.withdraw(school.student.id, draft.application_id).status == "withdrawn"


def test_attachments_are_checked_and_linked(hall, session, school):
    spec = leave_spec(
        form=[
            *LEAVE_FORM,
            {"key": "proof", "label": "证明", "type": "attachment", "max_files": 2,
             "max_size_mb": 1, "accept": ["pdf", "jpg"]},
        ]
    )  # fmt: skip
    factories.process(session, spec)
    mine = factories.attachment(session, school.student, filename="诊断.pdf")
    big = factories.attachment(session, school.student, filename="大.pdf", size=2 * 1024 * 1024)
    exe = factories.attachment(session, school.student, filename="x.exe")
    theirs = factories.attachment(session, school.teacher, filename="别人的.pdf")
    cases = {
        "x": "附件格式不正确",
        (mine.id, mine.id): "附件不能重复",
        (mine.id, big.id, exe.id): "最多上传2个文件",
        (theirs.id,): "附件不存在或不可用",
        (big.id,): "大.pdf 超过1MB",
        (exe.id,): "x.exe 的类型不允许，请上传 jpg、pdf",
    }
    for value, message in cases.items():
        form = leave_form(proof=list(value) if isinstance(value, tuple) else value)
        with pytest.raises(Invalid) as err:
            hall.submit(school.student.id, "student_leave", form)
        assert err.value.detail["fields"] == {"proof": message}
    result = hall.submit(school.student.id, "student_leave", leave_form(proof=[mine.id]))
    session.expire_all()
    linked = session.get(Attachment, mine.id)
    assert linked is not None
    assert (linked.application_id, linked.field_key) == (result.application_id, "proof")
    # once attached, the file cannot be reused in another application
    with pytest.raises(Invalid):
        hall.submit(school.student.id, "student_leave", leave_form(proof=[mine.id]))


def test_title_template_falls_back_and_keeps_unknown_placeholders(hall, session, school):
    factories.process(session, leave_spec(title_template="{department}{applicant}：{nope}"))
    result = hall.submit(school.student.id, "student_leave", leave_form())
    app = session.get(Application, result.application_id)
    assert app is not None
    assert app.title == "计算机学院林同学：{nope}"


def test_submit_runs_on_the_version_current_at_submission(hall, session, school):
    factories.process(session, leave_spec())
    first = hall.submit(school.student.id, "student_leave", leave_form())
    factories.process(
        session,
        leave_spec(flow=[{"key": "dean", "name": "院长审批", "approver": {"type": "dept_head"}}]),
    )
    second = hall.submit(school.student.id, "student_leave", leave_form())
    [old] = factories.tasks_of(session, first.application_id)
    [new] = factories.tasks_of(session, second.application_id)
    assert old.assignee_id == school.counsellor.id
    assert new.assignee_id == school.dean.id
    # the old application keeps running on its own version
    hall.decide(school.counsellor.id, old.id, Decision("approve"))
    apps = session.scalars(select(Application).order_by(Application.id)).all()
    assert [a.status for a in apps] == [AppStatus.APPROVED, AppStatus.PENDING]
