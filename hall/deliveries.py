"""Deliveries: one outbox message through one channel, attempted, retried, given up, shown.

`attempt` is what the delivery job runs. It locks the delivery row (PostgreSQL: FOR UPDATE;
SQLite: the BEGIN IMMEDIATE of hall/db.py), skips anything not QUEUED (so a job that runs
twice sends once), and calls the channel inside a savepoint of the same transaction: the
channel's writes and the SENT state commit together (a `Refused` message's record of the
refusal commits with its DEAD state). A failure is recorded on the row with
an exponential backoff; the relay re-queues it when due; after `max_attempts` it is DEAD and
stays visible to the information center, who may `retry_delivery` it.

Channels that talk to the network must bound their own timeouts: the row stays locked
while they send.
"""

from __future__ import annotations

import enum
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hall.channels import ChannelRegistry, Deferred, PermanentError, Refused
from hall.clock import Clock, SystemClock
from hall.db import Database
from hall.errors import Conflict, NotFound
from hall.models import Delivery, DeliveryStatus, Outbox

log = logging.getLogger("hall.deliver")

BACKOFF_BASE_SECONDS = 10.0
BACKOFF_CAP_SECONDS = 3600.0
ERROR_MAX = 2000  # last_error keeps the start of long messages

_jitter_source = random.Random()  # noqa: S311 - jitter spreads retries, it guards nothing


def backoff(failures: int, *, jitter: Callable[[], float] = _jitter_source.random) -> timedelta:
    """Delay before the next attempt after `failures` failed ones: 10 s · 2^(n-1), capped at
    an hour, with "equal jitter" (between half and all of it) so retries do not stampede."""
    exponent = min(max(failures - 1, 0), 30)
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**exponent)
    return timedelta(seconds=ceiling / 2 + (ceiling / 2) * jitter())


def job_id_for(delivery: Delivery) -> str:
    """The RQ job id of a delivery's next attempt: deterministic, unique per attempt."""
    return f"delivery-{delivery.id}-{delivery.attempts}"


class Outcome(enum.StrEnum):
    """What one run of the delivery job did (its return value, shown by RQ)."""

    SENT = "sent"
    RETRY = "retry"
    DEAD = "dead"
    NOT_QUEUED = "not_queued"  # already sent, dead, or waiting for its retry time
    MISSING = "missing"  # the delivery no longer exists (its application was deleted)


def _locked_delivery(session: Session, delivery_id: int) -> Delivery | None:
    stmt = select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    return session.scalars(stmt).one_or_none()


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text[:ERROR_MAX]


def attempt(
    db: Database,
    channels: ChannelRegistry,
    delivery_id: int,
    *,
    clock: Clock,
    max_attempts: int,
    jitter: Callable[[], float] = _jitter_source.random,
) -> Outcome:
    """Try to send one delivery once. Never raises for a channel's failure: records it."""
    with db.unit_of_work() as session:
        delivery = _locked_delivery(session, delivery_id)
        if delivery is None:
            return Outcome.MISSING
        if delivery.status != DeliveryStatus.QUEUED:
            return Outcome.NOT_QUEUED
        try:
            _send(session, channels, delivery)
        except Exception as exc:  # noqa: BLE001 - any channel failure is recorded, not raised
            return _record_failure(
                delivery, exc, now=clock.now(), max_attempts=max_attempts, jitter=jitter
            )
        delivery.status = DeliveryStatus.SENT
        delivery.sent_at = clock.now()
        delivery.next_attempt_at = None
        log.info(
            "sent delivery %s (%s, outbox %s)", delivery.id, delivery.channel, delivery.outbox_id
        )
        return Outcome.SENT


def _send(session: Session, channels: ChannelRegistry, delivery: Delivery) -> None:
    """Call the channel in a savepoint: its writes vanish if it raises (but for `Refused`,
    whose writes record the refusal), the lock stays."""
    outbox = session.get(Outbox, delivery.outbox_id)
    if outbox is None:
        raise PermanentError(f"outbox row {delivery.outbox_id} is gone")
    channel = channels.get(delivery.channel)
    if channel is None:
        raise LookupError(f"channel {delivery.channel!r} is not configured on this worker")
    refused = None
    with session.begin_nested():
        try:
            channel.send(session, outbox)
        except Refused as exc:
            refused = exc  # the savepoint commits the channel's record of the refusal
    if refused is not None:
        raise refused


def _record_failure(
    delivery: Delivery,
    exc: Exception,
    *,
    now: datetime,
    max_attempts: int,
    jitter: Callable[[], float],
) -> Outcome:
    delivery.attempts += 1  # also for deferrals: each try has its own job id
    delivery.last_error = _describe(exc)
    if isinstance(exc, Deferred):
        delivery.status = DeliveryStatus.RETRY
        delivery.next_attempt_at = now + timedelta(seconds=max(1.0, exc.retry_after))
        log.info(
            "delivery %s (%s) deferred until %s: %s",
            delivery.id,
            delivery.channel,
            delivery.next_attempt_at.isoformat(),
            delivery.last_error,
        )
        return Outcome.RETRY
    if isinstance(exc, PermanentError) or delivery.attempts >= max_attempts:
        delivery.status = DeliveryStatus.DEAD
        delivery.next_attempt_at = None
        log.error(
            "delivery %s (%s) is dead after %s attempt(s): %s",
            delivery.id,
            delivery.channel,
            delivery.attempts,
            delivery.last_error,
        )
        return Outcome.DEAD
    delivery.status = DeliveryStatus.RETRY
    delivery.next_attempt_at = now + backoff(delivery.attempts, jitter=jitter)
    log.warning(
        "delivery %s (%s) failed, attempt %s, retry at %s: %s",
        delivery.id,
        delivery.channel,
        delivery.attempts,
        delivery.next_attempt_at.isoformat(),
        delivery.last_error,
    )
    return Outcome.RETRY


# ----------------------------------------------------------------- admin services


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """A failed delivery as the information center's page shows it."""

    id: int
    outbox_id: int
    kind: str
    recipient_id: int | None
    application_id: int | None
    channel: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime


FAILED_STATES = (DeliveryStatus.RETRY, DeliveryStatus.DEAD)


def failed_deliveries(
    db: Database,
    *,
    statuses: Sequence[DeliveryStatus] = FAILED_STATES,
    channel: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[DeliveryView]:
    """Deliveries that failed at least once and are not sent, newest first (keyset paging)."""
    stmt = (
        select(Delivery, Outbox)
        .join(Outbox, Outbox.id == Delivery.outbox_id)
        .where(Delivery.status.in_(list(statuses)))
        .order_by(Delivery.id.desc())
        .limit(max(1, min(limit, 500)))
    )
    if channel is not None:
        stmt = stmt.where(Delivery.channel == channel)
    if before_id is not None:
        stmt = stmt.where(Delivery.id < before_id)
    with db.reader() as session:
        return [
            DeliveryView(
                id=d.id,
                outbox_id=d.outbox_id,
                kind=o.kind,
                recipient_id=o.recipient_id,
                application_id=o.application_id,
                channel=d.channel,
                status=d.status,
                attempts=d.attempts,
                last_error=d.last_error,
                next_attempt_at=d.next_attempt_at,
                created_at=d.created_at,
            )
            for d, o in session.execute(stmt).all()
        ]


def retry_delivery(db: Database, delivery_id: int, *, clock: Clock | None = None) -> None:
    """Send a DEAD (or waiting RETRY) delivery again now: the next relay pass queues it.

    A DEAD delivery gets one more attempt (its count is kept, so a new failure makes it
    DEAD again and the history stays honest).
    """
    now = (clock or SystemClock()).now()
    with db.unit_of_work() as session:
        delivery = _locked_delivery(session, delivery_id)
        if delivery is None:
            raise NotFound("投递记录不存在", delivery_id=delivery_id)
        if delivery.status not in FAILED_STATES:
            raise Conflict("只能重试失败的投递", status=delivery.status.value)
        delivery.status = DeliveryStatus.QUEUED
        delivery.job_id = None  # not on the queue yet: the relay's next pass puts it there
        delivery.next_attempt_at = now
        log.info("delivery %s re-queued by an administrator", delivery.id)
