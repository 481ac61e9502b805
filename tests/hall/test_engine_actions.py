"""Return, resubmit, transfer, add signer, withdraw, urge, comment and CC."""

from __future__ import annotations

from typing import Any, cast

import pytest
from sqlalchemy.orm import Session

from hall.errors import (
    AlreadyDecided,
    Conflict,
    Invalid,
    NotFound,
    RateLimited,
    ReasonRequired,
)
from hall.models import Application, Attachment, Comment, Follower, Person, Task, TaskOrigin
from hall.outbox import Kind
from hall.services import Decision
from hall.states import AppStatus, TaskStatus
from tests import factories

APPROVE = Decision("approve")


def persons(*people: Person) -> dict[str, Any]:
    return {"type": "persons", "userids": [p.userid for p in people]}


def flow_of(session: Session, flow: list[dict[str, Any]], **extra: Any) -> str:
    spec = factories.simple_spec("CS", flow=flow, **extra)
    return factories.process(session, spec).process.key


def app_of(session: Session, app_id: int) -> Application:
    session.expire_all()
    app = session.get(Application, app_id)
    assert app is not None
    return app


def open_task(session: Session, app_id: int, person: Person) -> Task:
    tasks = factories.tasks_of(session, app_id)
    [task] = [t for t in tasks if t.assignee_id == person.id and t.status is TaskStatus.PENDING]
    return task


@pytest.fixture
def three_steps(session, school):
    """dean → all-of (jwc_clerk + jwc_clerk2) → jwc_head."""
    return flow_of(
        session,
        [
            {"key": "dean", "name": "院长", "approver": persons(school.dean)},
            {
                "key": "office",
                "name": "教务会签",
                "mode": "all",
                "approver": persons(school.jwc_clerk, school.jwc_clerk2),
            },
            {"key": "head", "name": "处长", "approver": persons(school.jwc_head)},
        ],
    )


# ------------------------------------------------------------------ return


def test_return_to_applicant_and_resubmit_resumes_at_the_returner(
    hall, session, school, three_steps
):
    app = hall.submit(school.teacher.id, three_steps, {"reason": "出差"})
    hall.decide(school.dean.id, open_task(session, app.application_id, school.dean).id, APPROVE)
    clerk = open_task(session, app.application_id, school.jwc_clerk)
    result = hall.decide(school.jwc_clerk.id, clerk.id, Decision("return", comment="补充行程"))
    assert (result.status, result.message, result.task_status) == ("returned", "已退回", "returned")
    returned = app_of(session, app.application_id)
    assert returned.resume_step == 1
    assert returned.current_step is None
    other = next(
        t
        for t in factories.tasks_of(session, app.application_id)
        if t.assignee_id == school.jwc_clerk2.id
    )
    assert other.status is TaskStatus.CANCELLED
    [outcome] = factories.outbox_of(session, app.application_id, Kind.APPLICATION_RESULT)
    assert (outcome.payload["outcome"], outcome.payload["comment"]) == ("returned", "补充行程")
    with pytest.raises(Invalid):
        hall.resubmit(school.teacher.id, app.application_id, {"reason": ""})
    again = hall.resubmit(school.teacher.id, app.application_id, {"reason": "出差，附行程"})
    assert (again.status, again.message) == ("pending", "已重新提交")
    tasks = factories.tasks_of(session, app.application_id)
    fresh = [t for t in tasks if t.status is TaskStatus.PENDING]
    assert {(t.step_key, t.round) for t in fresh} == {("office", 2)}
    assert app_of(session, app.application_id).form == {"reason": "出差，附行程"}


def test_resubmit_from_start_when_the_process_says_so(hall, session, school):
    key = flow_of(
        session,
        [
            {"key": "dean", "name": "院长", "approver": persons(school.dean)},
            {"key": "head", "name": "处长", "approver": persons(school.jwc_head)},
        ],
        options={"resubmit_from": "start"},
    )
    app = hall.submit(school.teacher.id, key, {"reason": "x"})
    hall.decide(school.dean.id, open_task(session, app.application_id, school.dean).id, APPROVE)
    head = open_task(session, app.application_id, school.jwc_head)
    hall.decide(
        school.jwc_head.id, head.id, Decision("return", comment="请补充行程", return_to="applicant")
    )
    hall.resubmit(school.teacher.id, app.application_id, {"reason": "y"})
    task = open_task(session, app.application_id, school.dean)
    assert (task.step_key, task.round) == ("dean", 2)


@pytest.mark.parametrize(
    "case", [(None, "applicant"), ("", "dean"), ("  \n ", "applicant"), ("\t", "dean")]
)
def test_a_return_without_a_reason_is_refused_and_changes_nothing(
    hall, session, school, three_steps, case
):
    comment, return_to = case
    app = hall.submit(school.teacher.id, three_steps, {"reason": "出差"})
    hall.decide(school.dean.id, open_task(session, app.application_id, school.dean).id, APPROVE)
    clerk = open_task(session, app.application_id, school.jwc_clerk)
    before = factories.snapshot(session)
    with pytest.raises(ReasonRequired) as refused:
        hall.decide(
            school.jwc_clerk.id, clerk.id, Decision("return", comment=comment, return_to=return_to)
        )
    assert refused.value.detail["fields"] == {"comment": "请填写退回原因，说明需要修改什么"}
    assert isinstance(refused.value, Invalid)  # the API answers 422 with the field
    assert factories.snapshot(session) == before


def test_return_to_an_earlier_step_from_inside_an_all_of_step(hall, session, school, three_steps):
    app = hall.submit(school.teacher.id, three_steps, {"reason": "出差"})
    hall.decide(school.dean.id, open_task(session, app.application_id, school.dean).id, APPROVE)
    hall.decide(
        school.jwc_clerk.id, open_task(session, app.application_id, school.jwc_clerk).id, APPROVE
    )
    clerk2 = open_task(session, app.application_id, school.jwc_clerk2)
    result = hall.decide(
        school.jwc_clerk2.id, clerk2.id, Decision("return", return_to="dean", comment="院长再看看")
    )
    assert result.status == "pending"
    dean = open_task(session, app.application_id, school.dean)
    assert (dean.step_key, dean.round) == ("dean", 2)
    # The reopened to-do says who sent it back and why (cards and in-app messages show it).
    reopened = factories.outbox_of(session, app.application_id, Kind.TASK_ASSIGNED)[-1]
    assert reopened.task_id == dean.id
    assert reopened.payload["returned_by"] == school.jwc_clerk2.name
    assert reopened.payload["return_reason"] == "院长再看看"
    assert app_of(session, app.application_id).current_step == 0
    hall.decide(school.dean.id, dean.id, APPROVE)
    # the all-of step runs again as a new round: both clerks decide again
    round2 = [
        t
        for t in factories.tasks_of(session, app.application_id)
        if t.step_key == "office" and t.round == 2
    ]
    assert {t.assignee_id for t in round2} == {school.jwc_clerk.id, school.jwc_clerk2.id}
    assert {t.status for t in round2} == {TaskStatus.PENDING}
    for task in round2:
        hall.decide(task.assignee_id, task.id, APPROVE)
    hall.decide(
        school.jwc_head.id, open_task(session, app.application_id, school.jwc_head).id, APPROVE
    )
    assert app_of(session, app.application_id).status is AppStatus.APPROVED
    [log] = [
        entry
        for entry in factories.logs_of(session, app.application_id, "return")
        if entry.actor_id == school.jwc_clerk2.id
    ]
    assert log.detail == {"to": "dean"}


def test_return_to_a_later_unknown_or_skipped_step_is_invalid(hall, session, school):
    key = flow_of(
        session,
        [
            # passed automatically (the applicant is its approver): it would only pass again
            {"key": "self", "name": "本人确认", "approver": {"type": "applicant"}},
            {"key": "cc", "name": "报备", "kind": "notify", "approver": persons(school.vp)},
            {
                "key": "skipped",
                "name": "不适用",
                "approver": persons(school.vp),
                "condition": {"subject": "form.reason", "op": "==", "value": "never"},
            },
            {"key": "dean", "name": "院长", "approver": persons(school.dean)},
            {"key": "head", "name": "处长", "approver": persons(school.jwc_head)},
        ],
    )
    app = hall.submit(school.teacher.id, key, {"reason": "x"})
    dean = open_task(session, app.application_id, school.dean)
    before = factories.snapshot(session)
    for target in ("head", "skipped", "dean", "nope", "self", "cc"):
        with pytest.raises(Invalid) as err:
            hall.decide(
                school.dean.id, dean.id, Decision("return", comment="重看", return_to=target)
            )
        assert list(cast("dict[str, str]", err.value.detail["fields"])) == ["return_to"]
    assert factories.snapshot(session) == before


def test_steps_may_forbid_return_transfer_and_add_signer(hall, session, school):
    key = flow_of(
        session,
        [
            {
                "key": "a",
                "name": "院长",
                "approver": persons(school.dean),
                "allow_return": False,
                "allow_transfer": False,
                "allow_add_signer": False,
            }
        ],
    )
    app = hall.submit(school.teacher.id, key, {"reason": "x"})
    task = open_task(session, app.application_id, school.dean)
    before = factories.snapshot(session)
    for decision in (
        Decision("return", comment="请补充材料"),
        Decision("transfer", target_userid=school.deputy.userid),
        Decision("add_signer", target_userid=school.deputy.userid),
    ):
        with pytest.raises(Conflict):
            hall.decide(school.dean.id, task.id, decision)
    assert factories.snapshot(session) == before


# ---------------------------------------------------------------- transfer


def test_transfer_hands_the_task_on(hall, session, school):
    key = flow_of(session, [{"key": "a", "name": "院长", "approver": persons(school.dean)}])
    app = hall.submit(school.teacher.id, key, {"reason": "x"})
    mine = open_task(session, app.application_id, school.dean)
    result = hall.decide(
        school.dean.id,
        mine.id,
        Decision("transfer", target_userid=school.deputy.userid, comment="请代办"),
    )
    assert (result.task_status, result.message, result.status) == (
        "transferred",
        "已转交",
        "pending",
    )
    theirs = open_task(session, app.application_id, school.deputy)
    assert (theirs.origin, theirs.parent_id, theirs.step_key, theirs.round) == (
        TaskOrigin.TRANSFER,
        mine.id,
        "a",
        1,
    )
    assigned = factories.outbox_of(session, app.application_id, Kind.TASK_ASSIGNED)
    assert [o.recipient_id for o in assigned] == [school.dean.id, school.deputy.id]
    with pytest.raises(AlreadyDecided):
        hall.decide(school.dean.id, mine.id, APPROVE)
    hall.decide(school.deputy.id, theirs.id, APPROVE)
    assert app_of(session, app.application_id).status is AppStatus.APPROVED
    # a transfer is a reviewer's action: the withdraw window is closed
    with pytest.raises(Conflict):
        hall.withdraw(school.teacher.id, app.application_id)


def test_transfer_targets_are_checked(hall, session, school):
    key = flow_of(
        session,
        [
            {
                "key": "a",
                "name": "会签",
                "mode": "all",
                "approver": persons(school.dean, school.deputy),
            }
        ],
    )
    app = hall.submit(school.teacher.id, key, {"reason": "x"})
    task = open_task(session, app.application_id, school.dean)
    before = factories.snapshot(session)
    cases = {
        None: "请选择人员",
        "nobody": "人员不存在",
        school.dean.userid: "不能选择自己",
        school.teacher.userid: "不能选择申请人",
        school.deputy.userid: "该人员已在处理此环节",
    }
    for target, message in cases.items():
        with pytest.raises(Invalid) as err:
            hall.decide(school.dean.id, task.id, Decision("transfer", target_userid=target))
        assert err.value.detail["fields"] == {"target_userid": message}
    assert factories.snapshot(session) == before


# -------------------------------------------------------------- add signer


def test_add_signer_before_waits_for_the_added_person(hall, session, school):
    key = flow_of(session, [{"key": "a", "name": "院长", "approver": persons(school.dean)}])
    app = hall.submit(school.teacher.id, key, {"reason": "x"})
    mine = open_task(session, app.application_id, school.dean)
    result = hall.decide(
        school.dean.id,
        mine.id,
        Decision("add_signer", target_userid=school.deputy.userid, position="before"),
    )
    assert (result.task_status, result.message) == ("waiting", "已加签")
    added = open_task(session, app.application_id, school.deputy)
    assert (added.origin, added.parent_id) == (TaskOrigin.ADD_BEFORE, mine.id)
    with pytest.raises(Conflict, match="还没有轮到您处理"):
        hall.decide(school.dean.id, mine.id, APPROVE)
    hall.decide(school.deputy.id, added.id, APPROVE)
    back = open_task(session, app.application_id, school.dean)
    assert back.id == mine.id
    assert app_of(session, app.application_id).status is AppStatus.PENDING
    assigned = factories.outbox_of(session, app.application_id, Kind.TASK_ASSIGNED)
    assert [o.recipient_id for o in assigned] == [school.dean.id, school.deputy.id, school.dean.id]
    assert assigned[-1].payload["signed_by"] == school.deputy.name  # the card says who agreed
    assert "signed_by" not in assigned[0].payload
    hall.decide(school.dean.id, mine.id, APPROVE)
    assert app_of(session, app.application_id).status is AppStatus.APPROVED


def test_add_signer_after_completes_the_step_only_after_the_chain(hall, session, school):
    key = flow_of(
        session,
        [
            {"key": "a", "name": "或签", "approver": persons(school.dean, school.deputy)},
            {"key": "b", "name": "处长", "approver": persons(school.jwc_head)},
        ],
    )
    app = hall.submit(school.teacher.id, key, {"reason": "x"})
    mine = open_task(session, app.application_id, school.dean)
    result = hall.decide(
        school.dean.id, mine.id, Decision("add_signer", target_userid=school.vp.userid)
    )
    assert (result.task_status, result.status) == ("approved", "pending")
    tasks = {t.assignee_id: t for t in factories.tasks_of(session, app.application_id)}
    assert tasks[school.deputy.id].status is TaskStatus.CANCELLED  # my decision counted
    added = tasks[school.vp.id]
    assert (added.status, added.origin, added.parent_id) == (
        TaskStatus.PENDING,
        TaskOrigin.ADD_AFTER,
        mine.id,
    )
    assert school.jwc_head.id not in tasks  # step a is not done yet
    hall.decide(school.vp.id, added.id, APPROVE)
    assert open_task(session, app.application_id, school.jwc_head).step_key == "b"


def test_add_signer_inside_an_all_of_step(hall, session, school):
    key = flow_of(
        session,
        [
            {
                "key": "a",
                "name": "会签",
                "mode": "all",
                "approver": persons(school.dean, school.deputy),
            }
        ],
    )
    app = hall.submit(school.teacher.id, key, {"reason": "x"})
    dean = open_task(session, app.application_id, school.dean)
    hall.decide(
        school.dean.id,
        dean.id,
        Decision("add_signer", target_userid=school.vp.userid, position="before"),
    )
    hall.decide(school.deputy.id, open_task(session, app.application_id, school.deputy).id, APPROVE)
    assert app_of(session, app.application_id).status is AppStatus.PENDING
    hall.decide(school.vp.id, open_task(session, app.application_id, school.vp).id, APPROVE)
    assert app_of(session, app.application_id).status is AppStatus.PENDING
    hall.decide(school.dean.id, dean.id, APPROVE)
    assert app_of(session, app.application_id).status is AppStatus.APPROVED


def test_added_signer_may_transfer_and_the_chain_still_resumes(hall, session, school):
    key = flow_of(session, [{"key": "a", "name": "院长", "approver": persons(school.dean)}])
    app = hall.submit(school.teacher.id, key, {"reason": "x"})
    mine = open_task(session, app.application_id, school.dean)
    hall.decide(
        school.dean.id,
        mine.id,
        Decision("add_signer", target_userid=school.vp.userid, position="before"),
    )
    added = open_task(session, app.application_id, school.vp)
    hall.decide(school.vp.id, added.id, Decision("transfer", target_userid=school.president.userid))
    hall.decide(
        school.president.id, open_task(session, app.application_id, school.president).id, APPROVE
    )
    assert open_task(session, app.application_id, school.dean).id == mine.id


def test_bad_add_signer_position_is_invalid(hall, session, school):
    key = flow_of(session, [{"key": "a", "name": "院长", "approver": persons(school.dean)}])
    app = hall.submit(school.teacher.id, key, {"reason": "x"})
    task = open_task(session, app.application_id, school.dean)
    with pytest.raises(Invalid):
        hall.decide(
            school.dean.id,
            task.id,
            Decision("add_signer", target_userid=school.vp.userid, position="beside"),  # type: ignore[arg-type]
        )
    with pytest.raises(Invalid):
        hall.decide(school.dean.id, task.id, Decision("shrug"))  # type: ignore[arg-type]


# ---------------------------------------------------------------- withdraw


def test_withdraw_before_anyone_acted(hall, session, school, three_steps):
    app = hall.submit(school.teacher.id, three_steps, {"reason": "x"})
    dean = open_task(session, app.application_id, school.dean)
    with pytest.raises(NotFound):
        hall.withdraw(school.dean.id, app.application_id)  # only the applicant
    result = hall.withdraw(school.teacher.id, app.application_id, comment="不去了")
    assert (result.status, result.message) == ("withdrawn", "已撤回")
    assert factories.tasks_of(session, app.application_id)[0].status is TaskStatus.CANCELLED
    [cancelled] = factories.outbox_of(session, app.application_id, Kind.TASK_CANCELLED)
    assert (cancelled.recipient_id, cancelled.task_id) == (school.dean.id, dean.id)
    assert cancelled.payload["reason"] == "申请人已撤回"
    [log] = factories.logs_of(session, app.application_id, "withdraw")
    assert (log.from_status, log.to_status, log.comment) == ("pending", "withdrawn", "不去了")
    with pytest.raises(Conflict):
        hall.withdraw(school.teacher.id, app.application_id)


def test_withdraw_is_refused_once_a_reviewer_acted(hall, session, school, three_steps):
    app = hall.submit(school.teacher.id, three_steps, {"reason": "x"})
    hall.decide(school.dean.id, open_task(session, app.application_id, school.dean).id, APPROVE)
    before = factories.snapshot(session)
    with pytest.raises(Conflict, match="已有审批人处理"):
        hall.withdraw(school.teacher.id, app.application_id)
    assert factories.snapshot(session) == before


def test_withdraw_allowed_when_returned_and_after_a_fresh_resubmission(
    hall, session, school, three_steps
):
    app = hall.submit(school.teacher.id, three_steps, {"reason": "x"})
    hall.decide(
        school.dean.id,
        open_task(session, app.application_id, school.dean).id,
        Decision("return", comment="改"),
    )
    hall.resubmit(school.teacher.id, app.application_id, {"reason": "y"})
    # the dean's earlier return was before this submission: the window is open again
    assert hall.withdraw(school.teacher.id, app.application_id).status == "withdrawn"
    other = hall.submit(school.teacher.id, three_steps, {"reason": "x"})
    hall.decide(
        school.dean.id,
        open_task(session, other.application_id, school.dean).id,
        Decision("return", comment="改"),
    )
    assert hall.withdraw(school.teacher.id, other.application_id).status == "withdrawn"


def test_auto_pass_does_not_close_the_withdraw_window(hall, session, school):
    key = flow_of(
        session,
        [
            {"key": "self", "name": "本人", "approver": {"type": "applicant"}},
            {"key": "dean", "name": "院长", "approver": persons(school.dean)},
        ],
    )
    app = hall.submit(school.teacher.id, key, {"reason": "x"})
    assert hall.withdraw(school.teacher.id, app.application_id).status == "withdrawn"


# -------------------------------------------------------------------- urge


def test_urge_tells_current_reviewers_and_is_rate_limited(hall, session, school, clock):
    key = flow_of(
        session,
        [{"key": "a", "name": "或签", "approver": persons(school.dean, school.deputy)}],
        options={"urge_interval_minutes": 60},
    )
    app = hall.submit(school.teacher.id, key, {"reason": "x"})
    with pytest.raises(NotFound):
        hall.urge(school.dean.id, app.application_id)
    # The reviewers get the interval to see the new to-do before the first urge.
    clock.advance(minutes=45)
    before = factories.snapshot(session)
    with pytest.raises(RateLimited) as early:
        hall.urge(school.teacher.id, app.application_id)
    assert early.value.message == "审批人刚收到待办，请15分钟后再催办"
    assert early.value.detail["retry_after"] == 15 * 60 + 1
    assert factories.snapshot(session) == before
    clock.advance(minutes=15)
    result = hall.urge(school.teacher.id, app.application_id)
    assert result.message == "已催办"
    urges = factories.outbox_of(session, app.application_id, Kind.URGE)
    assert {o.recipient_id for o in urges} == {school.dean.id, school.deputy.id}
    assert app_of(session, app.application_id).last_urged_at == clock.now()
    clock.advance(minutes=20)
    before = factories.snapshot(session)
    with pytest.raises(RateLimited) as err:
        hall.urge(school.teacher.id, app.application_id)
    assert err.value.message == "催办过于频繁，请40分钟后再试"
    assert err.value.detail["retry_after"] == 40 * 60 + 1
    assert factories.snapshot(session) == before
    clock.advance(minutes=40)
    hall.urge(school.teacher.id, app.application_id)
    assert len(factories.outbox_of(session, app.application_id, Kind.URGE)) == 4
    assert len(factories.logs_of(session, app.application_id, "urge")) == 2


def test_a_step_just_reached_gets_its_own_wait_before_an_urge(hall, session, school, clock):
    key = flow_of(
        session,
        [
            {"key": "a", "name": "院长", "approver": persons(school.dean)},
            {"key": "b", "name": "处长", "approver": persons(school.jwc_head)},
        ],
    )
    app = hall.submit(school.teacher.id, key, {"reason": "x"})
    clock.advance(hours=5)
    hall.decide(school.dean.id, open_task(session, app.application_id, school.dean).id, APPROVE)
    clock.advance(minutes=10)
    with pytest.raises(RateLimited) as early:  # 处长 got the to-do 10 minutes ago
        hall.urge(school.teacher.id, app.application_id)
    assert early.value.message == "审批人刚收到待办，请20分钟后再催办"
    clock.advance(minutes=20)
    hall.urge(school.teacher.id, app.application_id)
    [urge] = factories.outbox_of(session, app.application_id, Kind.URGE)
    assert urge.recipient_id == school.jwc_head.id


def test_urge_default_interval_and_only_while_pending(hall, session, school, clock):
    key = flow_of(session, [{"key": "a", "name": "院长", "approver": persons(school.dean)}])
    app = hall.submit(school.teacher.id, key, {"reason": "x"})
    clock.advance(minutes=29)
    with pytest.raises(RateLimited):  # the to-do is 29 minutes old
        hall.urge(school.teacher.id, app.application_id)
    clock.advance(minutes=1)
    hall.urge(school.teacher.id, app.application_id)
    clock.advance(minutes=29)
    with pytest.raises(RateLimited):  # the last urge is 29 minutes old
        hall.urge(school.teacher.id, app.application_id)
    clock.advance(minutes=1)
    hall.urge(school.teacher.id, app.application_id)
    hall.decide(school.dean.id, open_task(session, app.application_id, school.dean).id, APPROVE)
    clock.advance(hours=1)
    with pytest.raises(Conflict):
        hall.urge(school.teacher.id, app.application_id)


# ------------------------------------------------------------ comment, cc


def test_comment_by_anyone_who_can_see(hall, session, school):
    key = flow_of(
        session, [{"key": "a", "name": "或签", "approver": persons(school.dean, school.deputy)}]
    )
    app = hall.submit(school.teacher.id, key, {"reason": "x"})
    result = hall.comment(school.dean.id, app.application_id, "  请补充预算  ")
    assert result.message == "已评论"
    notes = factories.outbox_of(session, app.application_id, Kind.COMMENT)
    assert {o.recipient_id for o in notes} == {school.teacher.id, school.deputy.id}
    assert notes[0].payload["body"] == "请补充预算"
    hall.comment(school.teacher.id, app.application_id, "已补充")
    notes = factories.outbox_of(session, app.application_id, Kind.COMMENT)[2:]
    assert {o.recipient_id for o in notes} == {school.dean.id, school.deputy.id}
    bodies = session.query(Comment.body).filter_by(application_id=app.application_id).all()
    assert [b for (b,) in bodies] == ["请补充预算", "已补充"]
    before = factories.snapshot(session)
    with pytest.raises(NotFound):
        hall.comment(school.student.id, app.application_id, "路过")
    with pytest.raises(Invalid):
        hall.comment(school.dean.id, app.application_id, "   ")
    with pytest.raises(Invalid):
        hall.comment(school.dean.id, app.application_id, "长" * 2001)
    assert factories.snapshot(session) == before


def test_cc_adds_followers_who_may_then_comment(hall, session, school):
    key = flow_of(session, [{"key": "a", "name": "院长", "approver": persons(school.dean)}])
    app = hall.submit(school.teacher.id, key, {"reason": "x"})
    result = hall.cc(
        school.dean.id,
        app.application_id,
        [school.jwc_head.userid, school.vp.userid],
        comment="知悉",
    )
    assert result.message == "已抄送"
    cc = factories.outbox_of(session, app.application_id, Kind.CC)
    assert {o.recipient_id for o in cc} == {school.jwc_head.id, school.vp.id}
    assert cc[0].payload["comment"] == "知悉"
    followers = session.query(Follower).filter_by(application_id=app.application_id).all()
    assert {(f.person_id, f.reason) for f in followers} == {
        (school.jwc_head.id, "cc"),
        (school.vp.id, "cc"),
    }
    # again: nobody is added twice, nobody told twice
    hall.cc(school.teacher.id, app.application_id, [school.vp.userid])
    assert len(factories.outbox_of(session, app.application_id, Kind.CC)) == 2
    hall.comment(school.vp.id, app.application_id, "收到")
    # a follower may read and comment, but not CC others
    with pytest.raises(Conflict):
        hall.cc(school.vp.id, app.application_id, [school.president.userid])
    with pytest.raises(NotFound):
        hall.cc(school.student.id, app.application_id, [school.president.userid])
    before = factories.snapshot(session)
    for bad in ([], ["nobody"], "x", [school.vp.userid] * 51):
        with pytest.raises(Invalid):
            hall.cc(school.dean.id, app.application_id, bad)
    assert factories.snapshot(session) == before


# ------------------------------------------------------------ files on a decision


def test_a_decision_carries_the_reviewers_own_fresh_files(hall, session, school):
    key = flow_of(session, [{"key": "a", "name": "院长", "approver": persons(school.dean)}])
    app = hall.submit(school.teacher.id, key, {"reason": "x"})
    task = open_task(session, app.application_id, school.dean)
    own = factories.attachment(session, school.dean, filename="签字页.pdf")
    other = factories.attachment(session, school.deputy)
    session.commit()
    before = factories.snapshot(session)
    for bad in ((own.id, other.id), (own.id, own.id), (own.id, 10**12)):
        with pytest.raises(Invalid) as refused:
            hall.decide(school.dean.id, task.id, Decision("approve", attachments=bad))
        fields = refused.value.detail["fields"]
        assert isinstance(fields, dict)
        assert set(fields) == {"decision_files"}
    # A decision refused for another reason links nothing either.
    with pytest.raises(ReasonRequired):
        hall.decide(school.dean.id, task.id, Decision("return", attachments=(own.id,)))
    assert factories.snapshot(session) == before
    session.expire_all()
    assert session.get(Attachment, own.id).application_id is None

    hall.decide(school.dean.id, task.id, Decision("approve", attachments=(own.id,)))
    session.expire_all()
    linked = session.get(Attachment, own.id)
    assert (linked.application_id, linked.field_key) == (app.application_id, f"decision:{task.id}")
    # Once attached, the file cannot be attached to another decision.
    again = hall.submit(school.teacher.id, key, {"reason": "y"})
    second = open_task(session, again.application_id, school.dean)
    with pytest.raises(Invalid):
        hall.decide(school.dean.id, second.id, Decision("approve", attachments=(own.id,)))
