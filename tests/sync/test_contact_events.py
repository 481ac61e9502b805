"""WeCom's change_contact events clear the hall's record of what WeCom holds, so the next
push sends the data center's version again; foreign and malformed entries are counted."""

from __future__ import annotations

from sqlalchemy import select

from callbacks.contacts import CHANGES_KEY, RedisContactLog
from callbacks.events import ContactChange
from sync.contact_events import drain
from sync.models import PushObject, WeComPushState
from tests import factories


def _change(kind: str, subject: str, **fields: str) -> ContactChange:
    return ContactChange(
        type="change_contact",
        to_user="corp",
        from_user="sys",
        create_time="1788220804",
        agent_id="",
        change_type=kind,
        subject=subject,
        fields=fields,
    )


def _pushed(session, kind: PushObject, object_id: int) -> None:
    session.add(WeComPushState(kind=kind, object_id=object_id, fingerprint="f" * 64))


def _fingerprints(session) -> dict[tuple[str, int], str | None]:
    rows = session.execute(
        select(WeComPushState.kind, WeComPushState.object_id, WeComPushState.fingerprint)
    )
    return {(k.value, i): f for k, i, f in rows}


def test_changes_made_in_wecom_mark_those_objects_for_the_next_push(db, session, redis_conn):
    dept = factories.department(session, "护理学院", wecom_id=7)
    other = factories.department(session, "药学院", wecom_id=8)
    edited = factories.person(session, "张三", userid="T20010001", dept=dept)
    removed = factories.person(session, "李四", dept=dept)
    untouched = factories.person(session, "王五", dept=dept)
    for who in (edited, removed, untouched):
        _pushed(session, PushObject.PERSON, who.id)
    for d in (dept, other):
        _pushed(session, PushObject.DEPARTMENT, d.id)
    session.commit()
    log = RedisContactLog(redis_conn)
    log.contact_changed(_change("update_user", "t20010001", Mobile="13900000000"))  # any case
    log.contact_changed(_change("delete_user", removed.userid))
    log.contact_changed(_change("delete_party", "7"))
    log.contact_changed(_change("create_user", "made-in-console"))  # not ours
    log.contact_changed(_change("update_tag", "3"))  # tags are not the hall's
    redis_conn.rpush(CHANGES_KEY, b"{not json")

    report = drain(db, redis_conn)

    assert report.read == 6
    assert report.invalidated == {"person": 2, "department": 1}
    assert (report.foreign, report.malformed) == (2, 1)
    assert redis_conn.llen(CHANGES_KEY) == 0
    session.expire_all()
    states = _fingerprints(session)
    assert states[("person", edited.id)] is None
    assert states[("person", removed.id)] is None
    assert states[("person", untouched.id)] == "f" * 64
    assert states[("department", dept.id)] is None
    assert states[("department", other.id)] == "f" * 64


def test_draining_twice_is_harmless_and_an_empty_list_reads_nothing(db, session, redis_conn):
    who = factories.person(session, "赵六")
    _pushed(session, PushObject.PERSON, who.id)
    session.commit()
    RedisContactLog(redis_conn).contact_changed(_change("delete_user", who.userid))
    assert drain(db, redis_conn).invalidated == {"person": 1}
    again = drain(db, redis_conn)
    assert (again.read, sum(again.invalidated.values())) == (0, 0)


def test_more_changes_than_a_batch_are_all_applied(db, session, redis_conn):
    people = [factories.person(session, f"成员{i}") for i in range(5)]
    for who in people:
        _pushed(session, PushObject.PERSON, who.id)
    session.commit()
    log = RedisContactLog(redis_conn)
    for who in people:
        log.contact_changed(_change("update_user", who.userid, Position="科员"))
    report = drain(db, redis_conn, batch=2)
    assert report.read == 5
    assert report.invalidated == {"person": 5}
