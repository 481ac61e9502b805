"""撤销: the applicant takes back an approved application within the process's window,
with a reason; everyone who approved is told; nothing else can be revoked."""

from __future__ import annotations

import pytest

from hall import queries, stats_daily
from hall.channels import render
from hall.definitions import DefinitionError, parse_spec
from hall.errors import Conflict, Invalid, NotFound
from hall.models import Application
from hall.outbox import Kind
from hall.services import Decision
from hall.states import AppStatus
from tests import factories
from tests.hall.test_engine_modes import flow_of, persons, status_of, submit


def _approved(hall, session, school, *, window: int | None = 72) -> int:
    steps = [
        {"key": "dean", "name": "院长审批", "approver": persons(school.dean)},
        {"key": "vp", "name": "副校长审批", "approver": persons(school.vp)},
    ]
    options = {"revoke_window_hours": window} if window else {}
    key = flow_of(session, steps, options=options)
    app_id = submit(hall, school.teacher, key).application_id
    for who in (school.dean, school.vp):
        [task] = [t for t in factories.tasks_of(session, app_id) if t.assignee_id == who.id]
        hall.decide(who.id, task.id, Decision("approve"))
    assert status_of(session, app_id) is AppStatus.APPROVED
    return app_id


def test_revoking_within_the_window_ends_it_and_tells_every_approver(hall, session, school, clock):
    app_id = _approved(hall, session, school)
    clock.advance(hours=71)
    result = hall.revoke(school.teacher.id, app_id, comment=" 会议取消 ")
    assert result.message == "已撤销"
    assert status_of(session, app_id) is AppStatus.REVOKED
    [entry] = factories.logs_of(session, app_id, "revoke")
    assert (entry.actor_id, entry.comment) == (school.teacher.id, "会议取消")
    assert (entry.from_status, entry.to_status) == ("approved", "revoked")
    told = factories.outbox_of(session, app_id, Kind.REVOKED)
    assert {o.recipient_id for o in told} == {school.dean.id, school.vp.id}
    assert len(told) == 2
    message = render(session, told[0])
    assert message.title.startswith("申请已撤销：")
    assert "撤销了已通过的" in message.body
    assert "撤销原因：会议取消。" in message.body


def test_after_the_window_it_stands(hall, session, school, clock):
    app_id = _approved(hall, session, school, window=24)
    clock.advance(hours=24, seconds=1)
    with pytest.raises(Conflict, match="已超过撤销期限（通过后24小时内）"):
        hall.revoke(school.teacher.id, app_id, comment="晚了")
    assert status_of(session, app_id) is AppStatus.APPROVED
    assert factories.outbox_of(session, app_id, Kind.REVOKED) == []


def test_a_process_without_a_window_cannot_be_revoked(hall, session, school):
    app_id = _approved(hall, session, school, window=None)
    with pytest.raises(Conflict, match="此事项通过后不能撤销"):
        hall.revoke(school.teacher.id, app_id, comment="想撤销")
    assert status_of(session, app_id) is AppStatus.APPROVED


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_reason_is_required(hall, session, school, reason):
    app_id = _approved(hall, session, school)
    with pytest.raises(Invalid) as refused:
        hall.revoke(school.teacher.id, app_id, comment=reason)
    assert refused.value.detail["fields"] == {"comment": "请填写撤销原因"}
    assert status_of(session, app_id) is AppStatus.APPROVED


def test_only_the_applicant_and_only_once(hall, session, school):
    app_id = _approved(hall, session, school)
    with pytest.raises(NotFound):
        hall.revoke(school.dean.id, app_id, comment="不是我的")
    hall.revoke(school.teacher.id, app_id, comment="不需要了")
    with pytest.raises(Conflict, match="只有已通过的申请可以撤销"):
        hall.revoke(school.teacher.id, app_id, comment="再来一次")
    assert len(factories.logs_of(session, app_id, "revoke")) == 1


def test_a_pending_application_is_withdrawn_not_revoked(hall, session, school):
    key = flow_of(
        session,
        [{"key": "dean", "name": "院长审批", "approver": persons(school.dean)}],
        options={"revoke_window_hours": 72},
    )
    app_id = submit(hall, school.teacher, key).application_id
    with pytest.raises(Conflict, match="只有已通过的申请可以撤销"):
        hall.revoke(school.teacher.id, app_id, comment="还在审")
    assert status_of(session, app_id) is AppStatus.PENDING


def test_the_window_is_checked_by_the_definition():
    spec = factories.simple_spec("CS", options={"revoke_window_hours": 0})
    with pytest.raises(DefinitionError):
        parse_spec(spec)
    assert parse_spec(factories.simple_spec("CS")).options.revoke_window_hours is None


def test_those_told_of_it_and_its_followers_are_told_too(hall, session, school, clock):
    steps = [
        {"key": "dean", "name": "院长审批", "approver": persons(school.dean)},
        {"key": "hr", "name": "人事处备案", "kind": "notify", "approver": persons(school.vp)},
    ]
    key = flow_of(session, steps, options={"revoke_window_hours": 72})
    app_id = submit(hall, school.teacher, key).application_id
    hall.cc(school.teacher.id, app_id, [school.president.userid])
    [task] = [t for t in factories.tasks_of(session, app_id) if t.assignee_id == school.dean.id]
    hall.decide(school.dean.id, task.id, Decision("approve"))
    session.expire_all()
    approved_at = session.get(Application, app_id).finished_at
    assert approved_at is not None
    clock.advance(hours=1)
    hall.revoke(school.teacher.id, app_id, comment="取消")
    told = {o.recipient_id for o in factories.outbox_of(session, app_id, Kind.REVOKED)}
    assert told == {school.dean.id, school.vp.id, school.president.id}
    session.expire_all()
    assert session.get(Application, app_id).finished_at == approved_at  # the result's time


def test_lists_and_statistics_tell_a_revoked_application_from_a_withdrawn_one(
    hall, db, session, school, clock
):
    app_id = _approved(hall, session, school)
    hall.revoke(school.teacher.id, app_id, comment="不需要了")
    revoked = queries.my_applications(session, school.teacher.id, status=AppStatus.REVOKED)
    assert [a.id for a in revoked.items] == [app_id]
    assert (
        queries.my_applications(session, school.teacher.id, status=AppStatus.WITHDRAWN).items == []
    )
    # the statistics' 撤回 column counts both ways of taking an application back
    assert stats_daily._COLUMN_OF[AppStatus.REVOKED] == stats_daily._COLUMN_OF[AppStatus.WITHDRAWN]
