"""The join channel against the sandbox WeCom over real HTTP, through the hall's delivery
machinery (`hall.deliveries.attempt`), on PostgreSQL and SQLite: create or update the
member, admit them, and record WeCom's answer on the middle table row."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hall.channels import ChannelRegistry
from hall.clock import FrozenClock
from hall.db import Database
from hall.deliveries import Outcome, attempt
from hall.models import Delivery, DeliveryStatus, Outbox, Person, PersonKind, PersonStatus
from selfreg import services
from selfreg.matching import Claim
from selfreg.models import Registration, RegSource, RegStatus
from selfreg.push import NOT_IN_RECORDS, JoinChannel
from tests.selfreg.conftest import People
from tests.wework.conftest import Sandbox

MAX_ATTEMPTS = 3


@pytest.fixture(params=["postgresql", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    result: str = request.param
    return result


@dataclass
class Pusher:
    db: Database
    session: Session
    wecom: Sandbox
    channel: JoinChannel
    clock: FrozenClock

    def register(self, userid: str, kind: PersonKind = PersonKind.STUDENT) -> int:
        claim = Claim(userid=userid, kind=kind, source=RegSource.QR)
        return services.register(self.db, claim, clock=self.clock).registration.id

    def delivery(self, registration_id: int) -> Delivery:
        """The delivery the relay would have made for the row's latest push."""
        self.session.expire_all()
        row = self.session.get(Registration, registration_id)
        assert row is not None
        found = self.session.scalar(
            select(Delivery).where(
                Delivery.outbox_id == row.outbox_id, Delivery.channel == services.CHANNEL
            )
        )
        if found is None:
            found = Delivery(outbox_id=row.outbox_id, channel=services.CHANNEL)
            self.session.add(found)
            self.session.commit()
        return found

    def run(self, registration_id: int) -> Outcome:
        """One delivery attempt, as the job runs it (a due retry is queued again first)."""
        delivery = self.delivery(registration_id)
        if delivery.status == DeliveryStatus.RETRY:
            delivery.status = DeliveryStatus.QUEUED
            self.session.commit()
        return attempt(
            self.db,
            ChannelRegistry([self.channel]),
            delivery.id,
            clock=self.clock,
            max_attempts=MAX_ATTEMPTS,
        )

    def row(self, registration_id: int) -> Registration:
        self.session.expire_all()
        row = self.session.get(Registration, registration_id)
        assert row is not None
        return row


@pytest.fixture
def pusher(db: Database, session: Session, wecom: Sandbox, people: People) -> Iterator[Pusher]:
    wecom.store.create_department({"id": 2, "name": "临床医学院", "parentid": 1})
    clock = FrozenClock()
    channel = JoinChannel(wecom.contacts(), wecom.client(), max_attempts=MAX_ATTEMPTS, clock=clock)
    try:
        yield Pusher(db, session, wecom, channel, clock)
    finally:
        channel.close()


def test_a_new_member_is_created_admitted_and_the_row_joined(pusher: Pusher) -> None:
    reg = pusher.register("2023010001")
    pusher.clock.advance(seconds=3)
    assert pusher.run(reg) == Outcome.SENT

    row = pusher.row(reg)
    assert row.status == RegStatus.JOINED
    assert (row.attempts, row.errcode, row.errmsg) == (1, None, None)
    assert row.joined_at == row.updated_at == pusher.clock.now()
    member = pusher.wecom.store.get_user("2023010001")
    assert member["status"] == 1  # activated by user/authsucc
    assert member["department"] == [2]  # the college's WeCom id
    assert (member["name"], member["mobile"], member["gender"]) == ("林同学", "13800000001", "2")
    calls = pusher.wecom.store.calls()
    assert calls["user/create"] == 1
    assert calls["user/authsucc"] == 1
    assert "user/update" not in calls


def test_an_existing_member_is_updated_instead(pusher: Pusher) -> None:
    pusher.wecom.store.create_user(
        {"userid": "20010001", "name": "旧名字", "department": [1], "mobile": "13900000001"}
    )
    assert pusher.wecom.store.get_user("20010001")["status"] == 4  # pushed, not activated
    reg = pusher.register("20010001", PersonKind.STAFF)
    assert pusher.run(reg) == Outcome.SENT
    assert pusher.row(reg).status == RegStatus.JOINED
    member = pusher.wecom.store.get_user("20010001")
    assert (member["name"], member["position"], member["status"]) == ("钱老师", "科员", 1)
    assert member["department"] == [1]  # 人事处 is not in WeCom yet: the root
    assert pusher.wecom.store.calls()["user/update"] == 1


def test_a_rate_limit_waits_and_is_never_lost(pusher: Pusher) -> None:
    reg = pusher.register("2023010001")
    pusher.wecom.store.inject("rate_limit", 1, path="user/create")
    assert pusher.run(reg) == Outcome.RETRY
    delivery = pusher.delivery(reg)
    assert delivery.status == DeliveryStatus.RETRY
    assert delivery.next_attempt_at == pusher.clock.now() + timedelta(seconds=60)
    assert pusher.row(reg).status == RegStatus.PENDING
    view = services.get(pusher.db, reg)
    assert view is not None
    assert view.retry_error is not None
    assert "45009" in view.retry_error
    # rate limits never make a push fail, however often they happen
    for _ in range(MAX_ATTEMPTS + 1):
        pusher.wecom.store.inject("rate_limit", 1, path="user/create")
        assert pusher.run(reg) == Outcome.RETRY
    assert pusher.row(reg).status == RegStatus.PENDING
    assert pusher.run(reg) == Outcome.SENT
    assert pusher.row(reg).status == RegStatus.JOINED


def test_an_unreachable_wecom_is_retried_then_recorded_as_failed(pusher: Pusher) -> None:
    reg = pusher.register("2023010001")
    # The client tries 1 + 3 times per attempt; every try answers "system busy".
    pusher.wecom.store.inject("busy", 4 * MAX_ATTEMPTS, path="user/create")
    assert pusher.run(reg) == Outcome.RETRY
    assert pusher.run(reg) == Outcome.RETRY
    assert pusher.row(reg).status == RegStatus.PENDING
    assert pusher.run(reg) == Outcome.SENT  # the last allowed attempt: recorded on the row
    row = pusher.row(reg)
    assert (row.status, row.errcode, row.attempts) == (RegStatus.FAILED, -1, 1)
    assert "system busy" in (row.errmsg or "")
    # the information center retries once WeCom is back
    services.retry(pusher.db, reg)
    assert pusher.run(reg) == Outcome.SENT
    assert pusher.row(reg).status == RegStatus.JOINED
    assert pusher.row(reg).attempts == 2


def test_a_refusal_is_recorded_at_once_and_a_retry_after_the_fix_joins(
    pusher: Pusher, people: People
) -> None:
    pusher.wecom.store.create_user(
        {"userid": "someone", "name": "别人", "department": [1], "mobile": "13800000001"}
    )
    reg = pusher.register("2023010001")
    assert pusher.run(reg) == Outcome.SENT  # no retry can help: not queued again
    row = pusher.row(reg)
    assert (row.status, row.errcode) == (RegStatus.FAILED, 60104)  # mobile taken
    assert row.errmsg == "mobile exists"
    assert pusher.delivery(reg).status == DeliveryStatus.SENT

    student = pusher.session.get(Person, people.student.id)
    assert student is not None
    student.mobile = "13800000009"
    pusher.session.commit()
    services.retry(pusher.db, reg)
    assert pusher.run(reg) == Outcome.SENT
    assert pusher.row(reg).status == RegStatus.JOINED
    assert pusher.wecom.store.get_user("2023010001")["mobile"] == "13800000009"


def test_a_person_who_left_meanwhile_is_not_pushed(pusher: Pusher, people: People) -> None:
    reg = pusher.register("2023010001")
    student = pusher.session.get(Person, people.student.id)
    assert student is not None
    student.status = PersonStatus.INACTIVE
    pusher.session.commit()
    assert pusher.run(reg) == Outcome.SENT
    row = pusher.row(reg)
    assert (row.status, row.errmsg) == (RegStatus.FAILED, NOT_IN_RECORDS)
    assert "user/create" not in pusher.wecom.store.calls()


def test_a_superseded_or_finished_push_does_nothing(pusher: Pusher) -> None:
    reg = pusher.register("2023010001")
    old = pusher.delivery(reg)
    row = pusher.row(reg)
    row.fire("fail")
    pusher.session.commit()
    services.retry(pusher.db, reg)  # a newer push request replaces the old one
    assert (
        attempt(
            pusher.db,
            ChannelRegistry([pusher.channel]),
            old.id,
            clock=pusher.clock,
            max_attempts=MAX_ATTEMPTS,
        )
        == Outcome.SENT
    )
    assert pusher.row(reg).status == RegStatus.PENDING
    assert "user/create" not in pusher.wecom.store.calls()
    assert pusher.run(reg) == Outcome.SENT
    assert pusher.row(reg).status == RegStatus.JOINED
    outbox = pusher.session.get(Outbox, old.outbox_id)
    assert outbox is not None
    assert pusher.channel.accepts(outbox)
