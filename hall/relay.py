"""The relay: committed outbox rows → one Delivery per channel → a job on the queue.

One pass (`Relay.run_once`) does three things, each in its own short transaction:

1. fan out: claim PENDING outbox rows (PostgreSQL: FOR UPDATE SKIP LOCKED, so several
   relays share the work; SQLite: serialized by BEGIN IMMEDIATE), create a Delivery per
   registered channel (QUEUED, or SKIPPED when the channel does not carry the message),
   mark the rows RELAYED, and commit — before anything touches the queue;
2. promote RETRY deliveries whose `next_attempt_at` has come back to QUEUED;
3. dispatch: put QUEUED deliveries that are not on the queue yet (`job_id` is NULL) on
   it and record the job id; a QUEUED delivery whose job has vanished from the queue for
   longer than `grace` (Redis restarted empty, a worker died mid-job) is put on it again.

If the queue is down, step 3 stops and the deliveries stay QUEUED without a job id; the
next pass puts them on the queue. Nothing is lost, and since the delivery job skips
anything already sent, putting a job on the queue twice never sends twice.

The queue is reached only through the two callables the composition root injects, so the
core imports no RQ. For a QUEUED delivery, `next_attempt_at` holds when it was last put on
(or checked against) the queue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hall.channels import ChannelRegistry
from hall.clock import Clock, SystemClock
from hall.db import Database
from hall.deliveries import job_id_for
from hall.models import Delivery, DeliveryStatus, Outbox, OutboxStatus

log = logging.getLogger("hall.relay")

Enqueue = Callable[[int, str], None]
"""Put the job `deliver(delivery_id)` on the queue under the given job id; raise if down."""

JobAlive = Callable[[str], bool]
"""Whether a job with this id is still waiting, scheduled or running on the queue."""


@dataclass
class RelayReport:
    """What one pass did; `queue_error` is set when the queue could not be reached."""

    relayed: int = 0  # outbox rows fanned out
    deliveries: int = 0  # QUEUED deliveries created
    skipped: int = 0  # SKIPPED deliveries created (channel does not carry the message)
    promoted: int = 0  # RETRY deliveries due again
    enqueued: int = 0  # jobs put on the queue
    queue_error: str | None = None

    @property
    def busy(self) -> bool:
        """Whether the pass found work (another pass right away may find more)."""
        return bool(self.relayed or self.promoted or self.enqueued)


@dataclass
class Relay:
    db: Database
    channels: ChannelRegistry
    enqueue: Enqueue
    job_alive: JobAlive
    clock: Clock = field(default_factory=SystemClock)
    batch_size: int = 100
    grace: timedelta = timedelta(minutes=5)

    def run_once(self) -> RelayReport:
        report = RelayReport()
        self._fan_out(report)
        self._promote_due_retries(report)
        self._dispatch(report)
        return report

    def run_forever(self, stop: threading.Event, interval: float) -> None:
        """Pass after pass until `stop` is set; a failing pass is logged and retried."""
        while not stop.is_set():
            try:
                report = self.run_once()
            except Exception:
                log.exception("relay pass failed; trying again in %.1f s", interval)
                report = RelayReport()
            if report.queue_error:
                log.warning("queue unavailable, will retry: %s", report.queue_error)
            if not report.busy or report.queue_error:
                stop.wait(interval)

    # ------------------------------------------------------------------ steps

    def _fan_out(self, report: RelayReport) -> None:
        now = self.clock.now()
        with self.db.unit_of_work() as session:
            rows = session.scalars(
                select(Outbox)
                .where(Outbox.status == OutboxStatus.PENDING)
                .order_by(Outbox.id)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                for channel in self.channels:
                    accepted = channel.accepts(row)
                    session.add(
                        Delivery(
                            outbox_id=row.id,
                            channel=channel.name,
                            status=DeliveryStatus.QUEUED if accepted else DeliveryStatus.SKIPPED,
                            next_attempt_at=now if accepted else None,
                        )
                    )
                    report.deliveries += accepted
                    report.skipped += not accepted
                row.status = OutboxStatus.RELAYED
                row.relayed_at = now
            report.relayed = len(rows)

    def _promote_due_retries(self, report: RelayReport) -> None:
        now = self.clock.now()
        with self.db.unit_of_work() as session:
            due = session.scalars(
                select(Delivery)
                .where(Delivery.status == DeliveryStatus.RETRY, Delivery.next_attempt_at <= now)
                .order_by(Delivery.next_attempt_at, Delivery.id)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            for delivery in due:
                delivery.status = DeliveryStatus.QUEUED
                delivery.job_id = None
                delivery.next_attempt_at = now
            report.promoted = len(due)

    def _dispatch(self, report: RelayReport) -> None:
        now = self.clock.now()
        with self.db.unit_of_work() as session:
            candidates = self._undispatched(session, stale_before=now - self.grace)
            for delivery in candidates:
                try:
                    if self._put_on_queue(delivery, now):
                        report.enqueued += 1
                except Exception as exc:  # noqa: BLE001 - any queue failure waits for a pass
                    report.queue_error = f"{type(exc).__name__}: {exc}"
                    break

    def _put_on_queue(self, delivery: Delivery, now: datetime) -> bool:
        """Enqueue a delivery's job unless it is still alive; False when left alone."""
        if delivery.job_id is not None:
            if self.job_alive(delivery.job_id):
                delivery.next_attempt_at = now  # still waiting on the queue: look again later
                return False
            log.warning(
                "delivery %s: job %s left the queue unfinished; queuing it again",
                delivery.id,
                delivery.job_id,
            )
        job_id = job_id_for(delivery)
        self.enqueue(delivery.id, job_id)
        delivery.job_id = job_id
        delivery.next_attempt_at = now
        return True

    def _undispatched(self, session: Session, *, stale_before: datetime) -> list[Delivery]:
        return list(
            session.scalars(
                select(Delivery)
                .where(
                    Delivery.status == DeliveryStatus.QUEUED,
                    or_(Delivery.job_id.is_(None), Delivery.next_attempt_at <= stale_before),
                )
                .order_by(Delivery.id)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            )
        )
