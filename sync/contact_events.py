"""WeCom's `change_contact` events keep the hall's view of WeCom current.

The callback (`callbacks/contacts.py`) appends each event to a Redis list; this module
drains it. The hall records what WeCom holds of each person and department as the digest
of what it last pushed (`WeComPushState.fingerprint`). When WeCom reports that someone
changed or removed such an object outside the hall — an administrator in the WeCom console,
a member editing their own profile — that record no longer describes WeCom, so it is
cleared: the next push (nightly, or `hall sync push`) sends the data center's version again,
which stays the one source of truth. Objects the hall never pushed are only counted.

Reading is at-least-once: entries are read, applied in one transaction, and only then
trimmed from the list; applying an entry twice clears an already-cleared record.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field

import redis
from sqlalchemy import func, select, update

from callbacks.contacts import CHANGES_KEY
from hall.db import Database
from hall.models import Department, Person
from sync.models import PushObject, WeComPushState

log = logging.getLogger("hall.sync.contacts")

BATCH = 1000
LOCK_KEY = "hall:wecom:contact_changes:lock"
DRAIN_INTERVAL = 60.0  # seconds between drains in the worker

MEMBER_CHANGES = frozenset({"create_user", "update_user", "delete_user"})
PARTY_CHANGES = frozenset({"create_party", "update_party", "delete_party"})


@dataclass
class ContactChangeReport:
    read: int = 0
    invalidated: Counter[str] = field(default_factory=Counter)  # kind → records cleared
    foreign: int = 0  # objects the hall does not know (made in WeCom, tags, ...)
    malformed: int = 0

    def line(self) -> str:
        return (
            f"企业微信通讯录变更 {self.read} 条：需重新推送 人员 {self.invalidated['person']}、"
            f"部门 {self.invalidated['department']}；非本系统对象 {self.foreign}；"
            f"无法识别 {self.malformed}"
        )


def drain(db: Database, connection: redis.Redis, *, batch: int = BATCH) -> ContactChangeReport:
    """Apply every queued contact change (in batches); one drainer at a time."""
    report = ContactChangeReport()
    lock = connection.lock(LOCK_KEY, timeout=300, blocking=False)
    if not lock.acquire():
        return report  # another worker is draining
    try:
        while True:
            raw = connection.lrange(CHANGES_KEY, 0, batch - 1)
            if not raw:
                break
            _apply(db, [_parse(entry, report) for entry in raw], report)
            connection.ltrim(CHANGES_KEY, len(raw), -1)
            report.read += len(raw)
    finally:
        lock.release()
    if report.read:
        log.info(report.line())
    return report


def drain_forever(
    db: Database, connection: redis.Redis, stop: threading.Event, interval: float = DRAIN_INTERVAL
) -> None:
    """The worker's loop: drain now and then until `stop` is set; errors are logged."""
    while not stop.wait(interval):
        try:
            drain(db, connection)
        except Exception:
            log.exception("draining WeCom contact changes failed; next try in %ss", interval)


def _parse(entry: bytes | str, report: ContactChangeReport) -> dict[str, object] | None:
    try:
        data = json.loads(entry)
    except ValueError:
        report.malformed += 1
        return None
    if not isinstance(data, dict) or not isinstance(data.get("change_type"), str):
        report.malformed += 1
        return None
    return data


def _apply(
    db: Database, changes: list[dict[str, object] | None], report: ContactChangeReport
) -> None:
    userids: set[str] = set()
    party_ids: set[int] = set()
    for change in changes:
        if change is None:
            continue
        kind = change["change_type"]
        subject = str(change.get("subject") or "")
        fields = change.get("fields")
        renamed = fields.get("NewUserID") if isinstance(fields, dict) else None
        if kind in MEMBER_CHANGES and subject:
            userids.add(subject.lower())
            if isinstance(renamed, str) and renamed:
                userids.add(renamed.lower())
        elif kind in PARTY_CHANGES and subject.isdigit():
            party_ids.add(int(subject))
        else:
            report.foreign += 1  # tags, or a change without a subject
    with db.unit_of_work() as session:
        # WeCom userids are case-insensitive; the hall stores them as the data center gave.
        people: dict[str, int] = dict(
            session.execute(
                select(func.lower(Person.userid), Person.id).where(
                    func.lower(Person.userid).in_(sorted(userids))
                )
            ).all()
            if userids
            else []
        )
        departments: dict[int | None, int] = dict(
            session.execute(
                select(Department.wecom_id, Department.id).where(
                    Department.wecom_id.in_(sorted(party_ids))
                )
            ).all()
            if party_ids
            else []
        )
        report.foreign += len(userids - people.keys()) + len(party_ids - departments.keys())
        targets = (
            (PushObject.PERSON, people.values()),
            (PushObject.DEPARTMENT, departments.values()),
        )
        for kind, ids in targets:
            if not ids:
                continue
            cleared = session.execute(
                update(WeComPushState)
                .where(
                    WeComPushState.kind == kind,
                    WeComPushState.object_id.in_(sorted(ids)),
                    WeComPushState.fingerprint.is_not(None),
                )
                .values(fingerprint=None)
            )
            report.invalidated[kind.value] += int(cleared.rowcount or 0)  # type: ignore[attr-defined]
