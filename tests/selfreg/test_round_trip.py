"""The whole self-registration over real HTTP: the page, the sandbox CAS, the middle table,
the outbox, the relay, an RQ worker, the join channel and the sandbox WeCom — for the QR
code and for WeCom's member verification, with the queue down and WeCom rate-limiting."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import redis
from rq import SimpleWorker
from sqlalchemy import select

from hall import jobs
from hall.channels import ChannelRegistry, InAppChannel, LogChannel
from hall.clock import SystemClock
from hall.models import Delivery, DeliveryStatus, Notification
from hall.relay import Relay
from selfreg.models import Registration, RegSource, RegStatus
from selfreg.push import JoinChannel
from tests.selfreg.conftest import People
from tests.selfreg.test_pages import register
from tests.sso.conftest import Hall
from web.worker import build_relay, drain, make_queue
from wework.sandbox import sandbox_store
from wework.sandbox.store import SandboxStore


@dataclass
class Running:
    hall: Hall
    store: SandboxStore
    relay: Relay
    worker: SimpleWorker
    context: jobs.JobContext

    def work(self) -> None:
        with jobs.bound(self.context):
            drain(self.relay, self.worker)


@pytest.fixture
def running(make_hall, people: People, redis_conn: redis.Redis) -> Iterator[Running]:
    hall = make_hall()
    store = sandbox_store(hall.app)
    store.create_department({"id": 2, "name": "临床医学院", "parentid": 1})
    db = hall.app.extensions["hall.db"]
    join = JoinChannel.from_settings(hall.settings, redis_conn)
    channels = ChannelRegistry([InAppChannel(), LogChannel(), join])
    queue = make_queue(redis_conn)
    context = jobs.JobContext(db=db, channels=channels, max_attempts=3)
    try:
        yield Running(
            hall,
            store,
            build_relay(db, channels, queue),
            SimpleWorker([queue], connection=redis_conn),
            context,
        )
    finally:
        join.close()


def _rows(session) -> list[tuple[str, RegStatus, RegSource]]:
    session.expire_all()
    query = select(Registration).order_by(Registration.id)
    return [(r.userid, r.status, r.source) for r in session.scalars(query)]


def test_a_student_scans_signs_in_is_matched_pushed_and_activated(running, session) -> None:
    browser = running.hall.browser()
    status = register(browser, running.hall, "2023010001", "student")
    assert "正在加入学校企业微信" in status
    with pytest.raises(Exception, match="userid not found"):
        running.store.get_user("2023010001")  # nothing reaches WeCom from the web request

    running.work()

    assert _rows(session) == [("2023010001", RegStatus.JOINED, RegSource.QR)]
    member = running.store.get_user("2023010001")
    assert (member["status"], member["department"], member["name"]) == (1, [2], "林同学")
    assert "您已加入学校企业微信" in browser.get(running.hall.url("/join/status")).text
    phone = browser.get(running.hall.url("/_sandbox/wecom/?userid=2023010001")).text
    assert "已激活" in phone
    # the push is nobody's notice: the in-app channel skips it, the log and join channels send
    assert session.scalar(select(Notification.id)) is None
    deliveries = dict(session.execute(select(Delivery.channel, Delivery.status)).all())
    assert deliveries == {
        "inapp": DeliveryStatus.SKIPPED,
        "log": DeliveryStatus.SENT,
        "selfreg": DeliveryStatus.SENT,
    }

    admin = running.hall.browser()
    running.hall.sign_in(admin, "10060002", "/admin/selfreg")
    table = admin.get(running.hall.url("/admin/selfreg")).text
    assert '<tr data-userid="2023010001">' in table
    assert "已加入" in table


def test_a_joining_member_verifies_through_the_hall(running, session) -> None:
    running.store.create_user(
        {"userid": "20010001", "name": "钱老师", "department": [1], "mobile": "13900000001"}
    )
    browser = running.hall.browser()
    # WeCom's member verification sends the joining member to the hall with a code
    landed = browser.get(running.store.begin_verification("20010001"))
    assert "企业微信成员 20010001 正在加入" in landed.text
    assert "正在加入学校企业微信" in register(browser, running.hall, "20010001", "staff")
    running.work()
    assert _rows(session) == [("20010001", RegStatus.JOINED, RegSource.WECOM)]
    member = running.store.get_user("20010001")
    assert (member["status"], member["position"]) == (1, "科员")
    calls = running.store.calls()
    assert (calls["user/create"], calls["user/update"], calls["user/authsucc"]) == (1, 1, 1)


def test_nothing_is_lost_while_the_queue_is_down_or_wecom_rate_limits(running, session) -> None:
    browser = running.hall.browser()
    register(browser, running.hall, "2023010001", "student")

    def down(_delivery_id: int, _job_id: str) -> None:
        raise redis.ConnectionError("Redis is down")

    broken = Relay(
        db=running.context.db,
        channels=running.context.channels,
        enqueue=down,
        job_alive=lambda _job: False,
        clock=SystemClock(),
    )
    assert broken.run_once().queue_error == "ConnectionError: Redis is down"
    assert _rows(session) == [("2023010001", RegStatus.PENDING, RegSource.QR)]

    running.store.inject("rate_limit", 1, path="user/create")
    running.work()  # the queue is back; WeCom says "too fast"
    assert _rows(session) == [("2023010001", RegStatus.PENDING, RegSource.QR)]
    admin = running.hall.browser()
    running.hall.sign_in(admin, "10060002", "/admin/selfreg")
    assert "等待重试" in admin.get(running.hall.url("/admin/selfreg")).text

    [waiting] = session.scalars(select(Delivery).where(Delivery.status == DeliveryStatus.RETRY))
    assert waiting.channel == "selfreg"
    assert waiting.next_attempt_at is not None
    waiting.next_attempt_at -= timedelta(minutes=2)  # a minute later
    session.commit()
    running.work()
    assert _rows(session) == [("2023010001", RegStatus.JOINED, RegSource.QR)]
    assert running.store.get_user("2023010001")["status"] == 1
