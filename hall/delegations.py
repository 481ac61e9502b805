"""Delegation (委托代理): while a reviewer is away, their to-dos go to a colleague.

The engine honours active delegations when it assigns tasks (`hall.resolve.delegate`), and
the worker's pass moves to-dos that reached the reviewer before the delegation began
(`hall.reminders.delegate_all`); a delegation that starts today moves them at once. These
services let a person set one for a date range and revoke it (what was moved stays with the
delegate). Each write is its own unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from hall.clock import Clock, SystemClock
from hall.db import Database
from hall.engine import local_date
from hall.errors import Conflict, Invalid, NotFound
from hall.models import Delegation, Person, PersonStatus
from hall.reminders import delegate_all

MAX_DAYS = 180


@dataclass(frozen=True)
class DelegationResult:
    id: int
    message: str
    moved: int = 0  # to-dos moved to the delegate at once (a delegation starting today)
    delegate_name: str = ""


class Delegations:
    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock: Clock = clock or SystemClock()

    def create(
        self, actor_id: int, delegate_userid: str, start: date, end: date
    ) -> DelegationResult:
        today = local_date(self.clock.now())
        problems: dict[str, str] = {}
        if start < today:
            problems["start_date"] = "开始日期不能早于今天"
        if end < start:
            problems["end_date"] = "结束日期不能早于开始日期"
        elif end - start > timedelta(days=MAX_DAYS - 1):
            problems["end_date"] = f"委托最长{MAX_DAYS}天"
        with self.db.unit_of_work() as session:
            actor = session.get(Person, actor_id)
            if actor is None or actor.status != PersonStatus.ACTIVE:
                raise NotFound("用户不存在")
            deputy = session.scalar(
                select(Person).where(
                    Person.userid == delegate_userid.strip(), Person.status == PersonStatus.ACTIVE
                )
            )
            if deputy is None:
                problems["delegate"] = "人员不存在"
            elif deputy.id == actor.id:
                problems["delegate"] = "不能委托给自己"
            if problems or deputy is None:
                raise Invalid("委托设置有误", fields=problems)
            overlapping = session.scalar(
                select(Delegation.id).where(
                    Delegation.delegator_id == actor.id,
                    Delegation.revoked_at.is_(None),
                    Delegation.start_date <= end,
                    Delegation.end_date >= start,
                )
            )
            if overlapping is not None:
                raise Conflict("这段时间已有委托，请先撤销原委托")
            row = Delegation(
                delegator_id=actor.id,
                delegate_id=deputy.id,
                start_date=start,
                end_date=end,
                created_at=self.clock.now(),
            )
            session.add(row)
            session.flush()
            result = DelegationResult(row.id, "已设置委托")
            deputy_name = deputy.name
        if start > today:
            return result
        moved = delegate_all(self.db, self.clock, delegator_id=actor_id)
        if not moved:
            return result
        return DelegationResult(
            result.id, f"已设置委托，{moved} 件待办已转给{deputy_name}", moved, deputy_name
        )

    def revoke(self, actor_id: int, delegation_id: int) -> DelegationResult:
        with self.db.unit_of_work() as session:
            row = session.scalar(
                select(Delegation)
                .where(Delegation.id == delegation_id, Delegation.delegator_id == actor_id)
                .with_for_update()
            )
            if row is None:
                raise NotFound("委托不存在")
            if row.revoked_at is None:
                row.revoked_at = self.clock.now()
            return DelegationResult(row.id, "已撤销委托")
