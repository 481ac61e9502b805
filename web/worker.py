"""The worker's composition root: database, Redis, channels, the relay and an RQ worker.

`hall worker` and `hall run` call `run_worker(settings)`. It builds everything here (nothing
at import), binds the job context, starts the relay loop in a thread and runs an RQ worker
(with RQ's scheduler, for timed jobs) in the calling thread, which must be the process's
main thread: RQ installs its SIGINT/SIGTERM handlers there.

RQ appears only in this module; the core reaches the queue through `RQDispatcher`'s two
methods, handed to the relay as plain callables.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry
from rq import Queue, SimpleWorker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from config import Settings, SettingsError
from hall import jobs, stats_daily
from hall import reminders as hall_reminders
from hall.channels import ChannelRegistry, InAppChannel, LogChannel
from hall.clock import Clock, SystemClock
from hall.db import Database
from hall.relay import Relay
from selfreg.push import JoinChannel
from sync import contact_events
from sync import jobs as sync_jobs
from web.sms_channel import SmsChannel
from web.wecom_channel import WeComCardChannel

log = logging.getLogger("hall.worker")

QUEUE_NAME = "hall"
DELIVERY_JOB_TIMEOUT = 120  # seconds; channels bound their own network timeouts below this
DELIVERY_RESULT_TTL = 3600  # the database is the record; RQ keeps finished jobs an hour
DELIVERY_FAILURE_TTL = 7 * 24 * 3600
QUEUED_GRACE = timedelta(minutes=5)  # a QUEUED delivery's job missing this long is re-queued
_ALIVE = frozenset({JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED})
_RELAY_STOP_TIMEOUT = 30.0


def make_redis(url: str) -> redis.Redis:
    """A Redis client from `redis://`, `rediss://` or `unix:///path/redis.socket` URLs."""
    if not url:
        raise SettingsError("HALL_REDIS_URL: no Redis configured (`hall run` starts one)")
    # A few quick retries ride out a blip; a longer outage is the relay's to wait out.
    retry = Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=3)
    return redis.Redis.from_url(
        url, socket_connect_timeout=5, health_check_interval=30, retry=retry
    )


def make_queue(connection: redis.Redis) -> Queue:
    """The hall's one RQ queue on `connection` (web processes enqueue, workers consume)."""
    return Queue(QUEUE_NAME, connection=connection)


def build_channels(settings: Settings, connection: redis.Redis) -> ChannelRegistry:
    """Every channel the hall delivers through, in order; a new channel is one more line.

    WeCom cards go through the real API or, in sandbox mode, the simulator served by the
    web process at HALL_BASE_URL; its access token lives in Redis (`connection`). SMS go
    through HALL_SMS_PROVIDER (the sandbox gateway, likewise served by the web process).
    """
    return ChannelRegistry(
        [
            InAppChannel(),
            LogChannel(),
            WeComCardChannel.from_settings(settings, connection),
            JoinChannel.from_settings(settings, connection),  # self-registration pushes
            SmsChannel(settings, connection),  # off-campus codes and results
        ]
    )


class RQDispatcher:
    """The relay's view of RQ: put a delivery job on the queue, ask if a job is alive."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    def job_alive(self, job_id: str) -> bool:
        try:
            job = Job.fetch(job_id, connection=self.queue.connection)
        except NoSuchJobError:
            return False
        return job.get_status(refresh=False) in _ALIVE

    def enqueue(self, delivery_id: int, job_id: str) -> None:
        """Idempotent: a job still alive under this id is left alone, a dead one replaced."""
        if self.job_alive(job_id):
            return
        self.queue.enqueue(
            jobs.deliver,
            delivery_id,
            job_id=job_id,
            job_timeout=DELIVERY_JOB_TIMEOUT,
            result_ttl=DELIVERY_RESULT_TTL,
            failure_ttl=DELIVERY_FAILURE_TTL,
            description=f"deliver({delivery_id})",
        )


def build_relay(
    db: Database,
    channels: ChannelRegistry,
    queue: Queue,
    *,
    clock: Clock | None = None,
) -> Relay:
    dispatcher = RQDispatcher(queue)
    return Relay(
        db=db,
        channels=channels,
        enqueue=dispatcher.enqueue,
        job_alive=dispatcher.job_alive,
        clock=clock or SystemClock(),
        grace=QUEUED_GRACE,
    )


def drain(relay: Relay, worker: SimpleWorker) -> int:
    """Relay and work until a relay pass finds nothing new; returns the passes made."""
    passes = 0
    while True:
        report = relay.run_once()
        passes += 1
        if report.queue_error:
            raise ConnectionError(f"the queue is unavailable: {report.queue_error}")
        worker.work(burst=True)
        if not report.busy:
            return passes


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    """Run the relay and an RQ worker until stopped (SIGINT/SIGTERM), or, with `burst`,
    until the outbox and the queue are empty."""
    db = Database(settings.database_url)
    connection = make_redis(settings.redis_url)
    try:
        channels = build_channels(settings, connection)
        queue = make_queue(connection)
        relay = build_relay(db, channels, queue)
        worker = SimpleWorker([queue], connection=connection)
        context = jobs.JobContext(
            db=db, channels=channels, max_attempts=settings.delivery_max_attempts
        )
        sync_jobs.bind(sync_jobs.SyncContext(db=db, settings=settings, redis=connection))
        with jobs.bound(context):
            log.info("worker starting: queue %r, channels %s", QUEUE_NAME, channels.names)
            if burst:
                drain(relay, worker)
                return
            stop = threading.Event()
            loop = threading.Thread(
                target=relay.run_forever,
                args=(stop, settings.relay_interval_seconds),
                name="hall-relay",
                daemon=True,
            )
            loop.start()
            folder = threading.Thread(  # the statistics' daily aggregates, every minute
                target=stats_daily.fold_forever,
                args=(db, stop, SystemClock(), stats_daily.FOLD_INTERVAL),
                name="hall-stats-fold",
                daemon=True,
            )
            folder.start()
            contacts = threading.Thread(  # WeCom's change_contact events, every minute
                target=contact_events.drain_forever,
                args=(db, connection, stop),
                name="hall-wecom-contacts",
                daemon=True,
            )
            contacts.start()
            reminders = threading.Thread(  # to-dos past their deadline remind their reviewer
                target=hall_reminders.remind_forever,
                args=(db, stop, SystemClock(), hall_reminders.INTERVAL),
                name="hall-reminders",
                daemon=True,
            )
            reminders.start()
            sync_jobs.arm(queue, settings.sync_cron)  # the nightly sync, re-armed by each run
            try:
                worker.work(with_scheduler=True)
            finally:
                stop.set()
                loop.join(_RELAY_STOP_TIMEOUT)
                folder.join(_RELAY_STOP_TIMEOUT)
                contacts.join(_RELAY_STOP_TIMEOUT)
                reminders.join(_RELAY_STOP_TIMEOUT)
    finally:
        connection.close()
        db.dispose()
