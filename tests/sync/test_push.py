"""The push against the sandbox WeCom served over real HTTP, with its call counts."""

from __future__ import annotations

from sqlalchemy import select

from hall.models import Department
from sync.models import PushObject, WeComPushState
from sync.push import Pusher
from sync.services import run_sync
from tests.sync.conftest import person, small_school, staff, write_feed


def _calls(wecom) -> int:
    return sum(n for endpoint, n in wecom.store.calls().items() if endpoint != "gettoken")


def test_initial_push_uses_batch_jobs_then_small_diffs_use_the_api(db, session, wecom):
    write_feed(session, small_school())
    run_sync(db)
    with wecom.contacts() as client:
        first = Pusher(db, client).push()
    assert first.mode == "batch"
    assert first.stopped is None
    assert first.members == {"created": 12, "updated": 0, "disabled": 0, "failed": 0, "waiting": 0}
    assert first.departments["created"] == 5
    # upload + replaceparty + getresult, then upload + syncuser + getresult
    assert _calls(wecom) == first.calls == 6
    college = session.scalar(select(Department).where(Department.code == "20"))
    office = session.scalar(select(Department).where(Department.code == "2001"))
    assert college is not None
    assert office is not None
    tree = {d["id"]: d for d in wecom.store.list_departments(None)}
    assert tree[college.wecom_id]["name"] == "临床医学院"
    assert tree[college.wecom_id]["parentid"] == 1
    assert tree[office.wecom_id]["parentid"] == college.wecom_id
    user = wecom.store.get_user("200004")
    assert user["enable"] == 1
    assert user["department"] == [
        session.scalar(select(Department.wecom_id).where(Department.code == "2002"))
    ]

    # Nothing changed: nothing is sent.
    with wecom.contacts() as client:
        idle = Pusher(db, client).push()
    assert idle.calls == 0

    # One leaves, one is renamed, one joins: three member calls, no department call.
    feed = small_school()
    del feed["JZG_T_USER"][5]
    feed["JZG_T_USER"][0]["XM"] = "郑新名"
    feed["JZG_T_USER"].append(staff("100003", "新同事", "30", "科员"))
    write_feed(session, feed)
    run_sync(db, force=True)
    before = _calls(wecom)
    with wecom.contacts() as client:
        nightly = Pusher(db, client).push()
    assert nightly.mode == "api"
    assert nightly.members == {"created": 1, "updated": 1, "disabled": 1, "failed": 0, "waiting": 0}
    assert _calls(wecom) - before == nightly.calls == 3
    assert wecom.store.get_user("200004")["enable"] == 0  # disabled, not deleted
    assert wecom.store.get_user("100001")["name"] == "郑新名"
    assert wecom.store.get_user("100003")["department"] == [
        session.scalar(select(Department.wecom_id).where(Department.code == "30"))
    ]


def test_errors_are_recorded_per_person_and_retried_with_new_data(db, session, wecom):
    write_feed(session, small_school())
    run_sync(db)
    with wecom.contacts() as client:
        Pusher(db, client).push()
    feed = small_school()
    # Two people with one mobile: WeCom refuses the second (60104 mobile exists).
    feed["JZG_T_USER"].append(
        staff("100009", "撞号", "10", "科员", SJH=feed["JZG_T_USER"][0]["SJH"])
    )
    write_feed(session, feed)
    run_sync(db)
    with wecom.contacts() as client:
        report = Pusher(db, client).push()
    assert report.members["failed"] == 1
    assert report.errors[0]["key"] == "100009"
    assert report.errors[0]["errcode"] == 60104
    who = person(session, "100009")
    state = session.scalar(
        select(WeComPushState).where(
            WeComPushState.kind == PushObject.PERSON, WeComPushState.object_id == who.id
        )
    )
    assert state is not None
    assert state.errcode == 60104
    assert state.fingerprint is None
    assert state.attempts == 1
    # The same data is retried a limited number of times, then waits for a change.
    for _ in range(2):
        with wecom.contacts() as client:
            Pusher(db, client).push()
    with wecom.contacts() as client:
        waiting = Pusher(db, client).push()
    assert waiting.members["waiting"] == 1
    assert waiting.calls == 0
    feed["JZG_T_USER"][-1]["SJH"] = "13912345678"
    write_feed(session, feed)
    run_sync(db)
    with wecom.contacts() as client:
        fixed = Pusher(db, client).push()
    assert fixed.members["created"] == 1
    session.expire_all()
    session.refresh(state)
    assert state.errcode is None
    assert state.fingerprint is not None
    assert wecom.store.get_user("100009")["mobile"] == "13912345678"


def test_a_rate_limit_stops_the_push_and_the_rest_goes_next_time(db, session, wecom):
    write_feed(session, small_school())
    run_sync(db)
    with wecom.contacts() as client:
        Pusher(db, client).push()
    feed = small_school()
    for row in feed["JZG_T_USER"]:
        row["ZW"] = row["ZW"] + "（兼）"
    write_feed(session, feed)
    run_sync(db)
    wecom.store.inject("rate_limit", 1, path="user/update")
    with wecom.contacts() as client:
        stopped = Pusher(db, client).push()
    assert stopped.stopped is not None
    assert "45009" in stopped.stopped
    with wecom.contacts() as client:
        rest = Pusher(db, client).push()
    assert rest.stopped is None
    assert rest.members["updated"] == 6
    assert wecom.store.get_user("100001")["position"] == "处长（兼）"
