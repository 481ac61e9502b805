"""Delivery jobs on a real RQ: sent once, retried with backoff, dead and visible, re-queued."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config import load_settings
from hall import jobs
from hall.channels import ChannelRegistry, Deferred, InAppChannel
from hall.clock import FrozenClock
from hall.deliveries import Outcome, attempt, backoff, failed_deliveries, retry_delivery
from hall.errors import Conflict, NotFound
from hall.models import Delivery, DeliveryStatus, Notification, Outbox, OutboxStatus, Task
from hall.outbox import Kind
from hall.relay import Relay
from hall.services import Decision, Hall
from tests import factories
from tests.conftest import REDIS_URL
from tests.hall.delivery_support import FlakyChannel, assigned, deliveries, scene
from web.worker import RQDispatcher, build_relay, make_queue, make_redis, run_worker

MAX_ATTEMPTS = 3


@dataclass
class Wiring:
    """Relay, queue and worker wired like web/worker.py does, around the test's database."""

    relay: Relay
    worker: SimpleWorker
    context: jobs.JobContext
    clock: FrozenClock
    dispatcher: RQDispatcher
    flaky: FlakyChannel = field(default_factory=FlakyChannel)

    def pass_and_work(self) -> None:
        report = self.relay.run_once()
        assert report.queue_error is None
        with jobs.bound(self.context):
            self.worker.work(burst=True)


@pytest.fixture
def wired(db, redis_conn):
    clock = FrozenClock()
    flaky = FlakyChannel()
    channels = ChannelRegistry([InAppChannel(), flaky])
    queue = make_queue(redis_conn)
    return Wiring(
        relay=build_relay(db, channels, queue, clock=clock),
        worker=SimpleWorker([queue], connection=redis_conn),
        context=jobs.JobContext(db, channels, max_attempts=MAX_ATTEMPTS, clock=clock),
        clock=clock,
        dispatcher=RQDispatcher(queue),
        flaky=flaky,
    )


def notifications(session: Session, outbox_id: int) -> int:
    stmt = select(func.count()).where(Notification.outbox_id == outbox_id)
    return int(session.scalar(stmt) or 0)


# ------------------------------------------------------------------------ backoff


def test_backoff_doubles_from_ten_seconds_with_jitter_and_stops_at_an_hour():
    top = [backoff(n, jitter=lambda: 1.0).total_seconds() for n in range(1, 12)]
    assert top[:4] == [10, 20, 40, 80]
    assert top[-1] == 3600
    assert backoff(1, jitter=lambda: 0.0).total_seconds() == 5
    assert backoff(50, jitter=lambda: 0.0).total_seconds() == 1800
    spread = {backoff(3).total_seconds() for _ in range(50)}
    assert all(20 <= s <= 40 for s in spread)
    assert len(spread) > 1


# ------------------------------------------------------------------ happy and twice


def test_a_relayed_message_is_delivered_by_the_worker(session, wired):
    wired.flaky.failures = 0
    row = assigned(session, scene(session))
    session.commit()

    wired.pass_and_work()

    assert {d.status for d in deliveries(session, row.id).values()} == {DeliveryStatus.SENT}
    assert all(d.sent_at == wired.clock.now() for d in deliveries(session, row.id).values())
    assert notifications(session, row.id) == 1
    assert wired.flaky.sent == [row.id]
    inapp = deliveries(session, row.id)["inapp"]
    job = wired.worker.queues[0].fetch_job(inapp.job_id)
    assert job is not None
    assert job.args == (inapp.id,)  # jobs take ids
    assert job.return_value() == "sent"


def test_running_the_same_job_twice_sends_once(session, wired):
    wired.flaky.failures = 0
    row = assigned(session, scene(session))
    session.commit()
    wired.pass_and_work()
    inapp = deliveries(session, row.id)["inapp"]

    with jobs.bound(wired.context):
        assert jobs.deliver(inapp.id) == "not_queued"
        assert jobs.deliver(10**9) == "missing"

    assert notifications(session, row.id) == 1
    assert wired.flaky.calls == 1


def test_enqueue_is_idempotent_while_the_job_waits(session, wired, redis_conn):
    row = assigned(session, scene(session))
    session.commit()
    wired.relay.run_once()
    inapp = deliveries(session, row.id)["inapp"]

    wired.dispatcher.enqueue(inapp.id, inapp.job_id)

    assert wired.dispatcher.job_alive(inapp.job_id)
    assert wired.worker.queues[0].count == 2  # one job per delivery, not three
    assert not wired.dispatcher.job_alive("delivery-0-0")


# --------------------------------------------------------------- retry and dead


def test_a_failing_channel_retries_with_backoff_then_goes_dead(session, wired):
    row = assigned(session, scene(session))
    session.commit()

    wired.pass_and_work()
    flaky = deliveries(session, row.id)["flaky"]
    assert flaky.status == DeliveryStatus.RETRY
    assert flaky.attempts == 1
    assert flaky.last_error == "ChannelError: gateway timeout #1"
    first_delay = flaky.next_attempt_at - wired.clock.now()
    assert timedelta(seconds=5) <= first_delay <= timedelta(seconds=10)
    assert deliveries(session, row.id)["inapp"].status == DeliveryStatus.SENT

    wired.pass_and_work()  # not due yet: nothing happens
    assert wired.flaky.calls == 1

    wired.clock.advance(seconds=10)
    wired.pass_and_work()
    flaky = deliveries(session, row.id)["flaky"]
    assert (flaky.status, flaky.attempts) == (DeliveryStatus.RETRY, 2)
    assert flaky.job_id == f"delivery-{flaky.id}-1"
    second_delay = flaky.next_attempt_at - wired.clock.now()
    assert timedelta(seconds=10) <= second_delay <= timedelta(seconds=20)

    wired.clock.advance(seconds=20)
    wired.pass_and_work()
    flaky = deliveries(session, row.id)["flaky"]
    assert (flaky.status, flaky.attempts) == (DeliveryStatus.DEAD, MAX_ATTEMPTS)
    assert flaky.next_attempt_at is None
    assert flaky.last_error == "ChannelError: gateway timeout #3"

    wired.clock.advance(hours=2)
    wired.pass_and_work()  # dead stays dead, and stays visible
    assert wired.flaky.calls == MAX_ATTEMPTS
    [view] = failed_deliveries(wired.context.db)
    assert (view.id, view.status, view.channel, view.kind) == (
        flaky.id,
        DeliveryStatus.DEAD,
        "flaky",
        Kind.TASK_ASSIGNED,
    )
    assert view.recipient_id == row.recipient_id
    assert notifications(session, row.id) == 1


def test_a_permanent_error_is_dead_at_once(session, wired):
    wired.flaky.permanent = True
    row = assigned(session, scene(session))
    session.commit()

    wired.pass_and_work()

    flaky = deliveries(session, row.id)["flaky"]
    assert (flaky.status, flaky.attempts) == (DeliveryStatus.DEAD, 1)
    assert flaky.last_error == "PermanentError: no such WeCom user"


def test_a_rate_limited_delivery_waits_as_told_and_never_goes_dead(session, db):
    class Throttled:
        name = "throttled"

        def accepts(self, outbox: Outbox) -> bool:
            return True

        def send(self, session: Session, outbox: Outbox) -> None:
            raise Deferred("per-member message limit reached", retry_after=120)

    channels = ChannelRegistry([Throttled()])
    row = assigned(session, scene(session))
    session.commit()
    queue: list[int] = []
    Relay(db, channels, lambda d, _j: queue.append(d), lambda _j: True).run_once()
    clock = FrozenClock()

    for _ in range(MAX_ATTEMPTS + 2):  # more tries than a failing channel would get
        outcome = attempt(db, channels, queue[0], clock=clock, max_attempts=MAX_ATTEMPTS)
        assert outcome == Outcome.RETRY
        delivery = deliveries(session, row.id)["throttled"]
        session.expire_all()
        assert delivery.status == DeliveryStatus.RETRY
        assert delivery.next_attempt_at == clock.now() + timedelta(seconds=120)
        with db.unit_of_work() as s:  # due again: the relay would queue it
            s.get(Delivery, delivery.id).status = DeliveryStatus.QUEUED
        clock.advance(seconds=120)


def test_a_channel_missing_on_this_worker_is_retried_not_lost(session, wired, db):
    row = assigned(session, scene(session))
    session.commit()
    wired.relay.run_once()
    flaky = deliveries(session, row.id)["flaky"]

    outcome = attempt(
        db,
        ChannelRegistry([InAppChannel()]),
        flaky.id,
        clock=wired.clock,
        max_attempts=MAX_ATTEMPTS,
    )

    assert outcome == Outcome.RETRY
    flaky = deliveries(session, row.id)["flaky"]
    assert flaky.last_error == "LookupError: channel 'flaky' is not configured on this worker"


def test_a_failed_send_leaves_no_partial_writes(session, db):
    class WritesThenFails:
        name = "halfway"

        def accepts(self, outbox: Outbox) -> bool:
            return True

        def send(self, session: Session, outbox: Outbox) -> None:
            InAppChannel().send(session, outbox)
            raise RuntimeError("gateway closed the connection")

    channels = ChannelRegistry([WritesThenFails()])
    row = assigned(session, scene(session))
    session.commit()
    queue = []
    Relay(db, channels, lambda d, j: queue.append(d), lambda _j: True).run_once()

    outcome = attempt(db, channels, queue[0], clock=FrozenClock(), max_attempts=MAX_ATTEMPTS)

    assert outcome == Outcome.RETRY
    assert notifications(session, row.id) == 0


# -------------------------------------------------------------- admin services


def test_an_administrator_retries_a_dead_delivery(session, wired):
    wired.flaky.permanent = True
    wired.flaky.failures = 1
    row = assigned(session, scene(session))
    session.commit()
    wired.pass_and_work()
    dead = deliveries(session, row.id)["flaky"]
    assert dead.status == DeliveryStatus.DEAD

    retry_delivery(wired.context.db, dead.id, clock=wired.clock)
    wired.pass_and_work()

    sent = deliveries(session, row.id)["flaky"]
    assert (sent.status, sent.attempts) == (DeliveryStatus.SENT, 1)
    assert sent.job_id == f"delivery-{sent.id}-1"
    assert wired.flaky.sent == [row.id]
    assert failed_deliveries(wired.context.db) == []
    with pytest.raises(Conflict):
        retry_delivery(wired.context.db, sent.id)
    with pytest.raises(NotFound):
        retry_delivery(wired.context.db, 10**9)


def test_failed_deliveries_filter_and_page(session, wired):
    s = scene(session)
    rows = [assigned(session, s) for _ in range(3)]
    session.commit()
    wired.pass_and_work()
    ids = sorted(deliveries(session, r.id)["flaky"].id for r in rows)

    views = failed_deliveries(wired.context.db)
    assert [v.id for v in views] == ids[::-1]
    assert all(v.status == DeliveryStatus.RETRY for v in views)
    page = failed_deliveries(wired.context.db, limit=2, before_id=ids[2])
    assert [v.id for v in page] == [ids[1], ids[0]]
    assert failed_deliveries(wired.context.db, statuses=[DeliveryStatus.DEAD]) == []
    assert failed_deliveries(wired.context.db, channel="inapp") == []


def test_jobs_need_a_bound_context():
    with pytest.raises(RuntimeError, match="no job context"):
        jobs.deliver(1)


# --------------------------------------------------------- PostgreSQL, for real


@pytest.mark.pg_only
def test_the_same_job_running_twice_at_once_sends_once(committed_db):
    @dataclass
    class SlowChannel:
        name: str = "slow"
        sent: list[int] = field(default_factory=list)

        def accepts(self, outbox: Outbox) -> bool:
            return True

        def send(self, session: Session, outbox: Outbox) -> None:
            time.sleep(0.3)  # long enough for the twin to reach the row lock
            self.sent.append(outbox.id)

    with committed_db.unit_of_work() as session:
        row = assigned(session, scene(session))
    slow = SlowChannel()
    channels = ChannelRegistry([slow])
    queued: list[int] = []
    Relay(committed_db, channels, lambda d, j: queued.append(d), lambda _j: True).run_once()
    outcomes: list[Outcome] = []

    def run() -> None:
        outcomes.append(
            attempt(committed_db, channels, queued[0], clock=FrozenClock(), max_attempts=3)
        )

    twins = [threading.Thread(target=run) for _ in range(2)]
    for t in twins:
        t.start()
    for t in twins:
        t.join()

    assert sorted(outcomes) == sorted([Outcome.SENT, Outcome.NOT_QUEUED])
    assert slow.sent == [row.id]


@pytest.mark.pg_only
def test_end_to_end_through_run_worker(committed_db, redis_conn, tmp_path):
    """emit in a committed transaction → `run_worker(burst=True)` → the notice is there.

    No WeCom (not even the sandbox) answers at this base URL: the card delivery is kept
    for a retry, visible, while the in-app notice is delivered.
    """
    with committed_db.unit_of_work() as session:
        row = assigned(session, scene(session))
        recipient_id = row.recipient_id
    settings = load_settings(
        var_dir=tmp_path,
        secret_key="test",
        database_url=committed_db.engine.url.render_as_string(hide_password=False),
        redis_url=REDIS_URL,
        base_url="http://127.0.0.1:9",
    )

    run_worker(settings, burst=True)

    with committed_db.reader() as session:
        note = session.scalars(select(Notification).where(Notification.outbox_id == row.id)).one()
        assert note.person_id == recipient_id
        assert note.title == "您有一条新的待办：王同学的请假申请"
        assert session.get(Outbox, row.id).status == OutboxStatus.RELAYED
        statuses = dict(session.execute(select(Delivery.channel, Delivery.status)).all())
    assert statuses == {
        "inapp": DeliveryStatus.SENT,
        "log": DeliveryStatus.SENT,
        "wecom": DeliveryStatus.RETRY,
        "selfreg": DeliveryStatus.SKIPPED,  # carries only self-registration pushes
        "sms": DeliveryStatus.SKIPPED,  # codes and off-campus results only
    }
    assert redis_conn.llen(f"rq:queue:{make_queue(redis_conn).name}") == 0


def test_make_redis_accepts_unix_socket_urls():
    client = make_redis("unix:///tmp/hall-test/redis.socket")
    try:
        kwargs = client.connection_pool.connection_kwargs
        assert kwargs["path"] == "/tmp/hall-test/redis.socket"
    finally:
        client.close()


def test_the_engine_services_notify_through_relay_and_worker(session, wired):
    """Submit and approve with the hall's own services; both people see their notices."""
    wired.flaky.failures = 0
    dept = factories.department(session, "人事处")
    head = factories.person(session, "周处长", dept=dept, roles=("dept_head",))
    staff = factories.person(session, "吴老师", dept=dept)
    version = factories.process(session, factories.simple_spec(dept.code, name="用印申请"))
    session.commit()
    services = Hall(wired.context.db, wired.clock)

    submitted = services.submit(staff.id, version.process.key, {"reason": "合同盖章"})
    wired.pass_and_work()
    [todo] = session.scalars(select(Notification).where(Notification.person_id == head.id))
    assert todo.title.startswith("您有一条新的待办：")
    assert todo.application_id == submitted.application_id

    task_id = session.scalars(
        select(Task.id).where(Task.application_id == submitted.application_id)
    ).one()
    services.decide(head.id, task_id, Decision("approve", comment="同意"))
    wired.pass_and_work()
    [result] = session.scalars(select(Notification).where(Notification.person_id == staff.id))
    assert result.title.startswith("您的申请已通过：")
    assert result.kind == Kind.APPLICATION_RESULT
    assert failed_deliveries(wired.context.db) == []
