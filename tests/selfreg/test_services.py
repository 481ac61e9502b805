"""The self-registration services on PostgreSQL and SQLite: the middle table row and its
push in one transaction, idempotent re-registration, recorded refusals, retry, the table."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hall.clock import FrozenClock
from hall.errors import Conflict, NotFound
from hall.models import Delivery, DeliveryStatus, Outbox, OutboxStatus, PersonKind
from selfreg import matching, services
from selfreg.models import IllegalRegistrationTransition, Registration, RegSource, RegStatus
from tests import factories
from tests.selfreg.conftest import claim, school

STAFF, STUDENT = PersonKind.STAFF, PersonKind.STUDENT


@pytest.fixture(params=["postgresql", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    result: str = request.param
    return result


def rows(session) -> list[Registration]:
    session.expire_all()
    return list(session.scalars(select(Registration).order_by(Registration.id)))


def pushes(session) -> list[Outbox]:
    session.expire_all()
    query = select(Outbox).where(Outbox.kind == services.PUSH_KIND).order_by(Outbox.id)
    return list(session.scalars(query))


def set_status(session, registration_id: int, *events: str) -> None:
    row = session.get(Registration, registration_id)
    for event in events:
        row.fire(event)
    session.commit()


def test_a_match_writes_the_row_and_queues_its_push_together(db, session, people):
    clock = FrozenClock()
    outcome = services.register(db, claim("2023010001", cas_name="林同学"), clock=clock)

    assert outcome.queued
    assert outcome.mismatch is None
    [row] = rows(session)
    assert row.status == RegStatus.PENDING
    assert (row.userid, row.name, row.kind, row.source) == (
        "2023010001",
        "林同学",
        STUDENT,
        RegSource.QR,
    )
    assert row.person_id == people.student.id
    assert (row.department_code, row.department_name) == ("LCYX", "临床医学院")
    assert (row.attempts, row.registrations, row.reason) == (0, 1, None)
    assert row.created_at == row.updated_at == clock.now()
    [push] = pushes(session)
    assert row.outbox_id == push.id
    assert push.status == OutboxStatus.PENDING
    assert push.recipient_id is None  # no in-app notice, no card
    assert push.payload["registration_id"] == row.id
    assert outcome.registration.id == row.id
    assert outcome.registration.status == RegStatus.PENDING


def test_when_queuing_fails_nothing_is_written(db, session, people, monkeypatch):
    def broken(*_args: object, **_kw: object) -> None:
        raise RuntimeError("the outbox is down")

    monkeypatch.setattr(services, "emit", broken)
    with pytest.raises(RuntimeError, match="the outbox is down"):
        services.register(db, claim("2023010001"))
    assert rows(session) == []
    assert pushes(session) == []


def test_registering_again_shows_the_state_and_queues_nothing(db, session, people):
    first = services.register(db, claim("2023010001"))
    again = services.register(db, claim("2023010001"))
    assert not again.queued
    assert again.registration.id == first.registration.id
    assert again.registration.status == RegStatus.PENDING
    assert again.registration.registrations == 2
    assert len(pushes(session)) == 1

    set_status(session, first.registration.id, "join")
    joined = services.register(db, claim("2023010001"))
    assert not joined.queued
    assert joined.registration.status == RegStatus.JOINED
    assert len(pushes(session)) == 1


def test_registering_again_after_a_failed_push_queues_it_again(db, session, people):
    first = services.register(db, claim("2023010001"))
    set_status(session, first.registration.id, "fail")
    again = services.register(db, claim("2023010001", source=RegSource.WECOM))
    assert again.queued
    [row] = rows(session)
    assert row.status == RegStatus.PENDING
    assert row.source == RegSource.WECOM
    first_push, second_push = pushes(session)
    assert row.outbox_id == second_push.id != first_push.id


@pytest.mark.parametrize(
    "case",
    [
        ("nobody", STUDENT, {"cas_name": "无名"}, matching.NOT_FOUND),
        ("2019010001", STUDENT, {}, matching.INACTIVE),
        ("2023010001", STAFF, {}, matching.WRONG_KIND[STUDENT]),
        ("o13700000001", STAFF, {}, matching.WRONG_KIND[PersonKind.OFFCAMPUS]),
        ("2023010001", STUDENT, {"cas_name": "林某"}, matching.NAME_MISMATCH),
        ("2023010001", STUDENT, {"wecom_userid": "20010001"}, matching.NOT_THE_MEMBER),
    ],
)
def test_a_mismatch_is_recorded_and_nothing_is_pushed(db, session, people, case):
    userid, kind, extra, reason = case
    outcome = services.register(db, claim(userid, kind, **extra))
    assert not outcome.queued
    expected = reason.format(userid=userid, member=extra.get("wecom_userid", ""))
    assert outcome.mismatch == expected
    [row] = rows(session)
    assert row.status == RegStatus.REJECTED
    assert row.reason == expected
    assert row.kind == kind  # as chosen
    assert row.outbox_id is None
    assert pushes(session) == []
    if userid == "nobody":
        assert (row.person_id, row.name, row.department_code) == (None, "无名", None)


def test_a_refused_person_who_matches_later_is_queued(db, session, people):
    refused = services.register(db, claim("2023010001", STAFF))
    assert refused.registration.status == RegStatus.REJECTED
    refused_again = services.register(db, claim("2023010001", STUDENT, cas_name="林某"))
    assert refused_again.registration.reason == matching.NAME_MISMATCH.format(userid="2023010001")
    matched = services.register(db, claim("2023010001", STUDENT))
    assert matched.queued
    [row] = rows(session)
    assert (row.status, row.reason, row.registrations) == (RegStatus.PENDING, None, 3)
    assert len(pushes(session)) == 1


def test_a_wrong_choice_after_a_match_does_not_undo_it(db, session, people):
    services.register(db, claim("2023010001"))
    wrong = services.register(db, claim("2023010001", STAFF))
    assert wrong.mismatch == matching.WRONG_KIND[STUDENT].format(userid="2023010001")
    assert not wrong.queued
    [row] = rows(session)
    assert (row.status, row.reason, row.kind) == (RegStatus.PENDING, None, STUDENT)


def test_the_information_center_retries_only_failed_pushes(db, session, people):
    clock = FrozenClock()
    first = services.register(db, claim("2023010001"), clock=clock)
    with pytest.raises(Conflict, match="只能重试推送失败的注册"):
        services.retry(db, first.registration.id)
    set_status(session, first.registration.id, "fail")
    clock.advance(minutes=5)
    view = services.retry(db, first.registration.id, clock=clock)
    assert view.status == RegStatus.PENDING
    assert view.updated_at == clock.now()
    assert len(pushes(session)) == 2
    with pytest.raises(NotFound):
        services.retry(db, 999_999)


def test_status_changes_only_through_declared_transitions(db, session, people):
    outcome = services.register(db, claim("2023010001"))
    row = session.get(Registration, outcome.registration.id)
    with pytest.raises(AttributeError):
        row.status = RegStatus.JOINED
    with pytest.raises(IllegalRegistrationTransition, match="cannot retry from pending"):
        row.fire("retry")
    with pytest.raises(IllegalRegistrationTransition, match="no transition named"):
        row.fire("teleport")
    assert row.fire("join") == RegStatus.JOINED


def test_a_view_shows_why_a_push_waits(db, session, people):
    outcome = services.register(db, claim("2023010001"))
    now = FrozenClock().now()
    session.add(
        Delivery(
            outbox_id=rows(session)[0].outbox_id,
            channel=services.CHANNEL,
            status=DeliveryStatus.RETRY,
            attempts=1,
            last_error="RateLimited: WeCom user/create: errcode=45009",
            next_attempt_at=now + timedelta(minutes=1),
        )
    )
    session.commit()
    view = services.get(db, outcome.registration.id)
    assert view is not None
    assert view.retry_error == "RateLimited: WeCom user/create: errcode=45009"
    assert view.retry_at == now + timedelta(minutes=1)
    assert services.get(db, 999_999) is None


def _many(db, session, n: int) -> None:
    dept = factories.department(session, "护理学院", code="HLXY")
    for i in range(n):
        factories.person(session, f"学生{i:02d}", kind=STUDENT, dept=dept, userid=f"2024{i:06d}")
    session.commit()
    clock = FrozenClock()
    for i in range(n):
        clock.advance(seconds=1)
        kind = STAFF if i % 10 == 0 else STUDENT  # every tenth chose wrongly
        services.register(db, claim(f"2024{i:06d}", kind), clock=clock)


def test_the_table_counts_filters_searches_and_pages(db, session, people):
    _many(db, session, 60)
    first = services.table(db)
    assert first.total == 60
    assert (first.page, first.pages) == (1, 2)
    assert len(first.rows) == services.PAGE_SIZE
    assert first.rows[0].userid == "2024000059"  # most recently changed first
    assert first.counts == {
        RegStatus.PENDING: 54,
        RegStatus.REJECTED: 6,
        RegStatus.JOINED: 0,
        RegStatus.FAILED: 0,
    }
    second = services.table(db, page=2)
    assert [r.userid for r in second.rows][-1] == "2024000000"
    assert len(second.rows) == 10
    assert services.table(db, page=99).page == 2  # past the end: the last page

    rejected = services.table(db, status=RegStatus.REJECTED)
    assert rejected.total == 6
    assert {r.status for r in rejected.rows} == {RegStatus.REJECTED}
    assert rejected.counts == first.counts  # the summary is the whole table's

    by_number = services.table(db, query="202400001")
    assert sorted(r.userid for r in by_number.rows) == [f"20240000{i}" for i in range(10, 20)]
    by_name = services.table(db, query="学生05")
    assert [r.userid for r in by_name.rows] == ["2024000005"]
    both = services.table(db, status=RegStatus.REJECTED, query="学生1")
    assert [r.userid for r in both.rows] == ["2024000010"]
    assert services.table(db, query="%").total == 0  # wildcards are literal
    assert services.table(db, query="_").total == 0


@pytest.mark.pg_only
def test_two_registrations_at_once_make_one_row_and_one_push(committed_db):
    with committed_db.unit_of_work() as s:
        school(s)
    barrier = threading.Barrier(2)
    outcomes: list[services.Outcome] = []
    errors: list[BaseException] = []

    def go() -> None:
        try:
            barrier.wait(timeout=5)
            outcomes.append(services.register(committed_db, claim("2023010001")))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    assert sorted(o.queued for o in outcomes) == [False, True]
    with committed_db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Registration)) == 1
        assert s.scalar(select(func.count()).select_from(Outbox)) == 1
        assert s.scalar(select(Registration.registrations)) == 2
