"""The demo school as the data center would write it: the staging tables filled from the same
seeded org that `hall demo` loads, so `hall sync run` on the demo data is a round trip."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Table, delete, func, insert, inspect, select
from sqlalchemy.orm import Session

from hall.db import Database
from hall.demo import PRESIDENT, SEED, OrgData, build_demo_school
from hall.models import Person, PersonKind
from sync.report import SyncReport
from sync.services import run_sync
from sync.staging import JZG_T_BM, JZG_T_USER, STAGING_TABLES, XS_JBXX


@dataclass(frozen=True)
class FeedCounts:
    departments: int
    staff: int
    students: int


def org_rows(
    org: OrgData,
) -> tuple[list[dict[str, str]], list[dict[str, str]], list[dict[str, str]]]:
    """The three staging tables' rows for `org` (off-campus people are not the data center's)."""
    departments = [
        {
            "BMDM": d.code,
            "BMMC": d.name,
            "SJBMDM": d.parent or "",
            "BMJB": str(d.level),
            "PX": str(d.sort),
            "SFYX": "1" if d.active else "0",
        }
        for d in org.departments
    ]
    staff = [
        {
            "GH": p.number or p.userid,
            "XM": p.name,
            "XB": p.gender or "",
            "BMDM": p.department or "",
            "SJH": p.mobile or "",
            "DZYX": p.email or "",
            "ZW": p.post or "",
            "RYZT": "在职",
        }
        for p in org.people
        if p.kind is PersonKind.STAFF
    ]
    students = [
        {
            "XH": p.number or p.userid,
            "XM": p.name,
            "XB": p.gender or "",
            "YXDM": p.department or "",
            "ZYMC": str(p.profile.get("major", "")),
            "BJMC": str(p.profile.get("class", "")),
            "NJ": str(p.profile.get("grade", "")),
            "XSLB": str(p.profile.get("level", "")),
            "XJZT": "在读",
            "SJH": p.mobile or "",
            "FDYGH": p.counsellor or "",
        }
        for p in org.people
        if p.kind is PersonKind.STUDENT
    ]
    return departments, staff, students


def fill_staging(session: Session, org: OrgData) -> FeedCounts:
    """Replace the staging tables' content with `org` (what the data center does nightly)."""
    departments, staff, students = org_rows(org)
    for table in STAGING_TABLES:
        session.execute(delete(table))
    for table, rows in ((JZG_T_BM, departments), (JZG_T_USER, staff), (XS_JBXX, students)):
        _insert(session, table, rows)
    return FeedCounts(departments=len(departments), staff=len(staff), students=len(students))


def _insert(session: Session, table: Table, rows: Iterable[dict[str, str]]) -> None:
    batch = list(rows)
    if batch:
        session.execute(insert(table), batch)


def load_demo_feed(session: Session, seed: int = SEED) -> FeedCounts:
    """The demo school (the same seed as `hall demo`) into the staging tables."""
    return fill_staging(session, build_demo_school(seed))


@dataclass(frozen=True)
class DemoFeedResult:
    counts: FeedCounts
    report: SyncReport


def feed_demo_school(database: Database) -> DemoFeedResult | None:
    """When the demo school is in the hall and the staging tables are still empty, write
    the school into them and run the first sync, so the demo behaves like a school whose
    data center feeds the hall. None when there was nothing to do."""
    if not inspect(database.engine).has_table("sync_run"):
        return None
    with database.reader() as session:
        fed = session.scalar(select(func.count()).select_from(JZG_T_BM))
        president = session.scalar(select(Person.id).where(Person.userid == PRESIDENT))
    if fed or president is None:
        return None
    with database.unit_of_work() as session:
        counts = load_demo_feed(session)
    return DemoFeedResult(counts, run_sync(database, trigger="demo"))
