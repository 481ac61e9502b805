"""The relay: fan-out per channel, idempotent passes, retries when due, queue outages."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select

from hall import jobs
from hall.channels import ChannelRegistry, InAppChannel, LogChannel
from hall.clock import FrozenClock
from hall.models import Delivery, DeliveryStatus, Notification, Outbox, OutboxStatus
from hall.outbox import Kind, emit
from hall.relay import Relay
from tests.hall.delivery_support import RecordingQueue, assigned, deliveries, scene
from web.worker import build_relay, make_queue, make_redis


@pytest.fixture
def clock():
    return FrozenClock()


@pytest.fixture
def queue():
    return RecordingQueue()


@pytest.fixture
def relay(db, clock, queue):
    channels = ChannelRegistry([InAppChannel(), LogChannel()])
    return Relay(db, channels, queue.enqueue, queue.job_alive, clock=clock)


def test_fan_out_creates_a_delivery_per_channel_and_queues_them(session, relay, queue, clock):
    s = scene(session)
    row = assigned(session, s)
    nobody = emit(session, Kind.FLAGGED, recipient_id=None, application_id=s.application.id)
    session.commit()

    report = relay.run_once()

    assert (report.relayed, report.deliveries, report.skipped, report.enqueued) == (2, 3, 1, 3)
    first = deliveries(session, row.id)
    assert {c: d.status for c, d in first.items()} == {
        "inapp": DeliveryStatus.QUEUED,
        "log": DeliveryStatus.QUEUED,
    }
    second = deliveries(session, nobody.id)
    assert second["inapp"].status == DeliveryStatus.SKIPPED
    assert second["inapp"].job_id is None
    assert second["log"].status == DeliveryStatus.QUEUED
    for d in (first["inapp"], first["log"], second["log"]):
        assert d.job_id == f"delivery-{d.id}-0"
        assert d.next_attempt_at == clock.now()
    assert sorted(queue.jobs) == sorted(
        (d.id, f"delivery-{d.id}-0") for d in (first["inapp"], first["log"], second["log"])
    )
    session.refresh(row)
    assert row.status == OutboxStatus.RELAYED
    assert row.relayed_at == clock.now()


def test_relaying_twice_fans_out_and_enqueues_once(session, relay, queue):
    row = assigned(session, scene(session))
    session.commit()

    relay.run_once()
    again = relay.run_once()

    assert (again.relayed, again.deliveries, again.enqueued, again.busy) == (0, 0, 0, False)
    assert len(deliveries(session, row.id)) == 2
    assert len(queue.jobs) == 2


def test_rows_beyond_the_batch_wait_for_the_next_pass(session, relay, queue):
    s = scene(session)
    relay.batch_size = 2
    rows = [assigned(session, s) for _ in range(3)]
    session.commit()

    assert relay.run_once().relayed == 2
    assert relay.run_once().relayed == 1
    assert relay.run_once().relayed == 0
    assert all(len(deliveries(session, r.id)) == 2 for r in rows)
    assert len(queue.jobs) == 6


def test_queue_down_keeps_everything_and_a_later_pass_catches_up(session, relay, queue):
    row = assigned(session, scene(session))
    session.commit()
    queue.down = True

    report = relay.run_once()

    assert report.queue_error == "ConnectionError: queue down"
    assert report.relayed == 1
    assert report.enqueued == 0
    assert all(
        d.status == DeliveryStatus.QUEUED and d.job_id is None
        for d in deliveries(session, row.id).values()
    )

    queue.down = False
    later = relay.run_once()
    assert later.queue_error is None
    assert later.enqueued == 2
    assert all(d.job_id is not None for d in deliveries(session, row.id).values())


def test_due_retries_are_queued_again_with_the_next_job_id(session, relay, queue, clock):
    row = assigned(session, scene(session))
    session.commit()
    relay.run_once()
    inapp = deliveries(session, row.id)["inapp"]
    inapp.status = DeliveryStatus.RETRY
    inapp.attempts = 1
    inapp.next_attempt_at = clock.now() + timedelta(seconds=10)
    session.commit()

    assert relay.run_once().promoted == 0
    clock.advance(seconds=10)
    report = relay.run_once()

    assert (report.promoted, report.enqueued) == (1, 1)
    inapp = deliveries(session, row.id)["inapp"]
    assert inapp.status == DeliveryStatus.QUEUED
    assert inapp.job_id == f"delivery-{inapp.id}-1"
    assert queue.jobs[-1] == (inapp.id, f"delivery-{inapp.id}-1")


def test_a_job_lost_by_the_queue_is_queued_again_after_the_grace(session, relay, queue, clock):
    row = assigned(session, scene(session))
    session.commit()
    relay.run_once()
    inapp = deliveries(session, row.id)["inapp"]
    queue.alive.discard(inapp.job_id)  # e.g. Redis restarted without its data

    clock.advance(seconds=relay.grace.total_seconds() - 1)
    assert relay.run_once().enqueued == 0
    clock.advance(seconds=2)
    report = relay.run_once()

    # The log delivery's job is still alive: only looked at, not queued twice.
    assert report.enqueued == 1
    assert queue.jobs[-1] == (inapp.id, inapp.job_id)
    assert len(queue.jobs) == 3
    log = deliveries(session, row.id)["log"]
    assert log.next_attempt_at == clock.now()


def test_relay_with_redis_unreachable_loses_nothing(db, session, redis_conn):
    """A real Redis client on a closed port, then the real one: the job runs and delivers."""
    channels = ChannelRegistry([InAppChannel(), LogChannel()])
    row = assigned(session, scene(session))
    session.commit()

    dead = make_redis("redis://127.0.0.1:1/0")
    try:
        report = build_relay(db, channels, make_queue(dead)).run_once()
    finally:
        dead.close()
    assert report.queue_error is not None
    assert "Connection" in report.queue_error
    assert session.scalar(select(func.count()).select_from(Notification)) == 0

    queue = make_queue(redis_conn)
    assert build_relay(db, channels, queue).run_once().enqueued == 2
    with jobs.bound(jobs.JobContext(db=db, channels=channels, max_attempts=3)):
        SimpleWorker([queue], connection=redis_conn).work(burst=True)

    note = session.scalars(select(Notification).where(Notification.outbox_id == row.id)).one()
    assert note.person_id == row.recipient_id
    assert {d.status for d in deliveries(session, row.id).values()} == {DeliveryStatus.SENT}


@pytest.mark.pg_only
def test_concurrent_relays_share_the_outbox_without_doubles(committed_db):
    with committed_db.unit_of_work() as session:
        s = scene(session)
        for _ in range(40):
            assigned(session, s)

    queue = RecordingQueue()
    channels = ChannelRegistry([InAppChannel(), LogChannel()])
    lock = threading.Lock()
    errors: list[BaseException] = []

    def enqueue(delivery_id: int, job_id: str) -> None:
        with lock:
            queue.enqueue(delivery_id, job_id)

    def work() -> None:
        relay = Relay(committed_db, channels, enqueue, queue.job_alive, batch_size=5)
        try:
            while relay.run_once().busy:
                pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    with committed_db.reader() as session:
        pending = session.scalar(select(func.count()).where(Outbox.status == OutboxStatus.PENDING))
        total = session.scalar(select(func.count()).select_from(Delivery))
    assert pending == 0
    assert total == 80
    job_ids = [job_id for _, job_id in queue.jobs]
    assert len(job_ids) == 80
    assert len(set(job_ids)) == 80
