"""The demo school as the data center would write it: the staging tables filled from the same
seeded org that `hall demo` loads, so `hall sync run` on the demo data is a round trip."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Table, delete, insert
from sqlalchemy.orm import Session

from hall.demo import SEED, OrgData, build_demo_school
from hall.models import PersonKind
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
