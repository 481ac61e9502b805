"""Self-registration services: register (match, write the middle table, queue the push in
the same transaction), retry a failed push, and read the table for the pages.

Registering is idempotent per CAS identity: a second registration shows the row's current
state and queues a push again only when the last one failed (or the person was rejected
before and matches now). A mismatch is recorded on a new or rejected row; a row that
already matched keeps its state (a wrong choice on the page does not undo a good one).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hall.clock import Clock, SystemClock
from hall.db import Database
from hall.errors import Conflict, NotFound
from hall.models import Delivery, DeliveryStatus, Person, PersonKind
from hall.outbox import emit
from selfreg.matching import Claim, Match, Mismatch, match
from selfreg.models import Registration, RegSource, RegStatus

log = logging.getLogger("selfreg")

PUSH_KIND = "selfreg_push"  # the outbox kind the join channel carries
CHANNEL = "selfreg"  # the join channel's name (on its deliveries)
PAGE_SIZE = 50
MAX_QUERY = 64
status_column = Registration.__table__.c.status  # the column behind the read-only `status`


@dataclass(frozen=True, slots=True)
class RegistrationView:
    """A middle-table row as the pages show it; `retry_*` describe a push WeCom has not
    taken yet (rate-limited or unreachable), read from its delivery."""

    id: int
    userid: str
    name: str
    kind: PersonKind
    department_code: str | None
    department_name: str | None
    source: RegSource
    status: RegStatus
    reason: str | None
    errcode: int | None
    errmsg: str | None
    attempts: int
    registrations: int
    created_at: datetime
    updated_at: datetime
    joined_at: datetime | None
    retry_error: str | None = None
    retry_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one registration did. `mismatch` explains a refusal of this attempt, even when
    the row (matched earlier) kept its state; `queued` says a push was queued."""

    registration: RegistrationView
    queued: bool
    mismatch: str | None = None


@dataclass(frozen=True, slots=True)
class TablePage:
    rows: list[RegistrationView]
    total: int  # rows matching the filter
    page: int
    pages: int
    counts: dict[RegStatus, int]  # the whole table, by status


def _view(row: Registration, delivery: Delivery | None = None) -> RegistrationView:
    waiting = (
        delivery is not None
        and row.status == RegStatus.PENDING
        and delivery.status in {DeliveryStatus.RETRY, DeliveryStatus.QUEUED}
        and delivery.attempts > 0
    )
    return RegistrationView(
        id=row.id,
        userid=row.userid,
        name=row.name,
        kind=row.kind,
        department_code=row.department_code,
        department_name=row.department_name,
        source=row.source,
        status=row.status,
        reason=row.reason,
        errcode=row.errcode,
        errmsg=row.errmsg,
        attempts=row.attempts,
        registrations=row.registrations,
        created_at=row.created_at,
        updated_at=row.updated_at,
        joined_at=row.joined_at,
        retry_error=delivery.last_error if waiting and delivery is not None else None,
        retry_at=delivery.next_attempt_at if waiting and delivery is not None else None,
    )


def _locked(session: Session, userid: str) -> Registration | None:
    stmt = select(Registration).where(Registration.userid == userid).with_for_update()
    return session.scalars(stmt).one_or_none()


def _describe(row: Registration, person: Person | None, claim: Claim, now: datetime) -> None:
    """Copy who this is (the school's record when there is one) onto the row."""
    row.kind = claim.kind
    row.source = claim.source
    row.person_id = person.id if person is not None else None
    row.name = (person.name if person is not None else claim.cas_name or "")[:64]
    department = person.department if person is not None else None
    row.department_code = department.code if department is not None else None
    row.department_name = department.name if department is not None else None
    row.updated_at = now


def _queue_push(session: Session, row: Registration) -> None:
    """The outbox row that makes the relay push this registration; same transaction."""
    session.flush()  # a new row needs its id in the payload
    outbox = emit(
        session,
        PUSH_KIND,
        recipient_id=None,  # nothing for the in-app list or the card channel
        registration_id=row.id,
        userid=row.userid,
        text=f"自助注册：将 {row.userid}（{row.name}）推送到企业微信",
    )
    session.flush()
    row.outbox_id = outbox.id


def _insert(session: Session, row: Registration) -> Registration | None:
    """Insert a new row; None when a concurrent registration of the same userid won."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


def register(db: Database, claim: Claim, *, clock: Clock | None = None) -> Outcome:
    """Match `claim`, record the outcome on the middle table and queue a push if due."""
    now = (clock or SystemClock()).now()
    with db.unit_of_work() as session:
        result = match(session, claim)
        person = result.person
        for _ in range(2):  # the second pass only after losing an insert race
            row = _locked(session, claim.userid)
            if row is not None:
                break
            status = RegStatus.PENDING if isinstance(result, Match) else RegStatus.REJECTED
            fresh = Registration(status=status, userid=claim.userid, attempts=0, created_at=now)
            _describe(fresh, person, claim, now)
            fresh.reason = result.reason if isinstance(result, Mismatch) else None
            if _insert(session, fresh) is None:
                continue
            if isinstance(result, Match):
                _queue_push(session, fresh)
            log.info("self-registration of %s: %s", claim.userid, fresh.status.value)
            mismatch = result.reason if isinstance(result, Mismatch) else None
            return Outcome(_view(fresh), queued=isinstance(result, Match), mismatch=mismatch)
        if row is None:
            raise RuntimeError(f"self-registration of {claim.userid}: the row vanished")
        return _again(session, row, result, claim, now)


def _again(
    session: Session, row: Registration, result: Match | Mismatch, claim: Claim, now: datetime
) -> Outcome:
    """A registration of someone the table already has."""
    row.registrations += 1
    if isinstance(result, Mismatch):
        if row.status == RegStatus.REJECTED:
            row.fire("reject")
            _describe(row, result.person, claim, now)
            row.reason = result.reason
        log.info("self-registration of %s refused again (%s)", row.userid, row.status.value)
        return Outcome(_view(row), queued=False, mismatch=result.reason)
    if row.status in {RegStatus.REJECTED, RegStatus.FAILED}:
        row.fire("match" if row.status == RegStatus.REJECTED else "retry")
        _describe(row, result.person, claim, now)
        row.reason = None
        _queue_push(session, row)
        log.info("self-registration of %s queued again", row.userid)
        return Outcome(_view(row), queued=True)
    return Outcome(_view(row), queued=False)  # pending or joined: nothing to redo


def retry(db: Database, registration_id: int, *, clock: Clock | None = None) -> RegistrationView:
    """The information center pushes a failed registration again."""
    now = (clock or SystemClock()).now()
    with db.unit_of_work() as session:
        stmt = select(Registration).where(Registration.id == registration_id).with_for_update()
        row = session.scalars(stmt).one_or_none()
        if row is None:
            raise NotFound("注册记录不存在", registration_id=registration_id)
        if row.status != RegStatus.FAILED:
            raise Conflict("只能重试推送失败的注册", status=row.status.value)
        row.fire("retry")
        row.updated_at = now
        _queue_push(session, row)
        log.info("self-registration of %s re-queued by the information center", row.userid)
        return _view(row)


def _with_delivery() -> Select[Registration, Delivery]:
    return select(Registration, Delivery).outerjoin(
        Delivery,
        and_(Delivery.outbox_id == Registration.outbox_id, Delivery.channel == CHANNEL),
    )


def get(db: Database, registration_id: int) -> RegistrationView | None:
    with db.reader() as session:
        found = session.execute(_with_delivery().where(Registration.id == registration_id)).first()
        return None if found is None else _view(found[0], found[1])


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def table(
    db: Database,
    *,
    status: RegStatus | None = None,
    query: str = "",
    page: int = 1,
    per_page: int = PAGE_SIZE,
) -> TablePage:
    """One page of the middle table, most recently changed first, filtered by status and
    by a userid prefix or a part of the name."""
    conditions = []
    if status is not None:
        conditions.append(status_column == status)
    query = query.strip()[:MAX_QUERY]
    if query:
        conditions.append(
            or_(
                Registration.userid.like(_like(query) + "%", escape="\\"),
                Registration.name.like("%" + _like(query) + "%", escape="\\"),
            )
        )
    with db.reader() as session:
        total = session.scalar(select(func.count(Registration.id)).where(*conditions)) or 0
        pages = max(1, -(-total // per_page))
        page = min(max(1, page), pages)
        found = session.execute(
            _with_delivery()
            .where(*conditions)
            .order_by(Registration.updated_at.desc(), Registration.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
        counts = dict.fromkeys(RegStatus, 0)
        for value, count in session.execute(
            select(status_column, func.count()).group_by(status_column)
        ):
            counts[RegStatus(value)] = count
        return TablePage(
            rows=[_view(row, delivery) for row, delivery in found],
            total=total,
            page=page,
            pages=pages,
            counts=counts,
        )
