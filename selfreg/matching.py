"""Does a CAS-authenticated identity belong in the school's WeCom? Compare it with the
people the nightly sync brought in from the data center.

A match needs: the userid exists in the hall, is active (在职 / 在读), is of the type the
person chose (教职工 / 学生; off-campus people never join), has the same name when CAS
released one, and — when WeCom's member verification sent them — is the very member WeCom
named. Every refusal comes with a zh_CN explanation that says what to do (its English is in
web/catalogue/selfreg.py).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hall.models import Person, PersonKind, PersonStatus
from selfreg.models import RegSource

JOINING_KINDS = frozenset({PersonKind.STAFF, PersonKind.STUDENT})
KIND_LABELS = {PersonKind.STAFF: "教职工", PersonKind.STUDENT: "学生"}

NOT_FOUND = (
    "学校数据中没有 {userid}。新入职教职工和新生的信息在数据中心同步后次日生效；"
    "如有疑问，请联系信息中心。"
)
INACTIVE = (
    "学校数据中 {userid} 已不在职或不在读，不能加入学校企业微信。"
    "如有疑问，教职工请联系人事处，学生请联系学生处。"
)
WRONG_KIND = {
    PersonKind.STAFF: "学校数据中 {userid} 是教职工，请返回选择「教职工」后重试。",
    PersonKind.STUDENT: "学校数据中 {userid} 是学生，请返回选择「学生」后重试。",
    PersonKind.OFFCAMPUS: "{userid} 是校外人员账号，校外人员不加入学校企业微信。",
}
NAME_MISMATCH = (
    "统一身份认证中的姓名与学校数据中 {userid} 的姓名不一致，请联系信息中心核对后再注册。"
)
NOT_THE_MEMBER = (
    "统一身份认证账号 {userid} 与正在加入企业微信的成员 {member} 不是同一人，请用本人的账号登录。"
)


@dataclass(frozen=True)
class Claim:
    """Who CAS says the person is, and what they chose on the page."""

    userid: str  # CAS's principal, never what was typed
    kind: PersonKind  # the chosen user type
    source: RegSource
    cas_name: str | None = None  # CAS's `name` attribute, when released
    wecom_userid: str | None = None  # the member WeCom's verification code named


@dataclass(frozen=True)
class Match:
    person: Person


@dataclass(frozen=True)
class Mismatch:
    reason: str  # zh_CN, shown to the person and on the information center's page
    person: Person | None = None


def _same_name(a: str, b: str) -> bool:
    # Full-width and half-width forms, stray spaces and the middle dot variants of
    # minority names (·, •, ・) must not turn a person away.
    def norm(value: str) -> str:
        text = unicodedata.normalize("NFKC", value)
        for dot in ("•", "・", "‧", "∙"):
            text = text.replace(dot, "·")
        return "".join(text.split()).casefold()

    return norm(a) == norm(b)


def match(session: Session, claim: Claim) -> Match | Mismatch:
    """Compare `claim` with the synced people; read-only."""
    userid = claim.userid
    if claim.wecom_userid is not None and claim.wecom_userid.casefold() != userid.casefold():
        return Mismatch(NOT_THE_MEMBER.format(userid=userid, member=claim.wecom_userid))
    person = session.scalar(select(Person).where(Person.userid == userid))
    if person is None:
        return Mismatch(NOT_FOUND.format(userid=userid))
    if person.kind not in JOINING_KINDS:
        return Mismatch(WRONG_KIND[person.kind].format(userid=userid), person)
    if person.status != PersonStatus.ACTIVE:
        return Mismatch(INACTIVE.format(userid=userid), person)
    if person.kind != claim.kind:
        return Mismatch(WRONG_KIND[person.kind].format(userid=userid), person)
    if claim.cas_name and not _same_name(claim.cas_name, person.name):
        return Mismatch(NAME_MISMATCH.format(userid=userid), person)
    return Match(person)
