"""Self-registration tests: a small school whose people can register, the sandbox WeCom over
real HTTP (tests/wework), and a live hall with its sandbox CAS (tests/sso)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from hall.models import Department, Person, PersonKind, PersonStatus, RoleCode
from selfreg.matching import Claim
from selfreg.models import RegSource
from tests import factories
from tests.sso.conftest import make_hall
from tests.wework.conftest import wecom

__all__ = ["make_hall", "wecom"]  # fixtures shared with tests/sso and tests/wework


@dataclass
class People:
    college: Department  # pushed to WeCom already (wecom_id 2)
    office: Department  # not in WeCom yet
    student: Person  # active student of the college
    teacher: Person  # active staff of the office
    graduate: Person  # a student who left
    visitor: Person  # off-campus
    it_admin: Person  # the information center


def school(session: Session) -> People:
    college = factories.department(session, "临床医学院", code="LCYX", wecom_id=2)
    office = factories.department(session, "人事处", code="RSC")
    it = factories.department(session, "信息中心", code="XXZX")
    people = People(
        college=college,
        office=office,
        student=factories.person(
            session,
            "林同学",
            kind=PersonKind.STUDENT,
            dept=college,
            userid="2023010001",
            gender="女",
            mobile="13800000001",
        ),
        teacher=factories.person(
            session, "钱老师", dept=office, userid="20010001", post="科员", mobile="13900000001"
        ),
        graduate=factories.person(
            session,
            "周学长",
            kind=PersonKind.STUDENT,
            dept=college,
            userid="2019010001",
            status=PersonStatus.INACTIVE,
        ),
        visitor=factories.person(
            session, "王女士", kind=PersonKind.OFFCAMPUS, userid="o13700000001"
        ),
        it_admin=factories.person(
            session, "蒋工程师", dept=it, userid="10060002", roles=(RoleCode.INFO_CENTER,)
        ),
    )
    session.commit()
    return people


@pytest.fixture
def people(session: Session) -> People:
    return school(session)


def claim(userid: str, kind: PersonKind = PersonKind.STUDENT, **kw: object) -> Claim:
    """What someone claims on the join page (by QR unless `source` says otherwise)."""
    kw.setdefault("source", RegSource.QR)
    return Claim(userid=userid, kind=kind, **kw)  # type: ignore[arg-type]
