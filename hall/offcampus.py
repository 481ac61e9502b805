"""Off-campus accounts: people the data center does not know (alumni, visitors, parents).

Their identity is a mobile number they proved with an SMS code; the account's userid is
`oc` + that number, the same shape the demo's alumni have.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hall.models import Person, PersonKind, PersonStatus

USERID_PREFIX = "oc"


def userid_for(phone: str) -> str:
    return f"{USERID_PREFIX}{phone}"


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    userid: str
    kind: PersonKind
    status: PersonStatus


def account_for_phone(session: Session, phone: str) -> Account | None:
    """The account `phone` signs in to: its off-campus account, else a school member's
    account with that number (whom the caller sends to the school's sign-in)."""
    people = list(
        session.scalars(
            select(Person).where(or_(Person.userid == userid_for(phone), Person.mobile == phone))
        )
    )
    people.sort(key=lambda p: (p.kind != PersonKind.OFFCAMPUS, p.userid != userid_for(phone), p.id))
    if not people:
        return None
    first = people[0]
    return Account(first.id, first.userid, first.kind, first.status)


class NotOpen(Exception):
    """The number's account exists but is not an active off-campus account."""


def open_account(session: Session, phone: str, name: str) -> Person:
    """The off-campus account of `phone`, created with `name` if there is none yet.

    Two tabs may submit at once: the second insert meets the unique userid, and the
    account the first made is the one returned. Raises `NotOpen` for an account that is
    not an active off-campus one.
    """
    userid = userid_for(phone)
    person = session.scalar(select(Person).where(Person.userid == userid))
    if person is None:
        try:
            with session.begin_nested():
                person = Person(
                    userid=userid,
                    kind=PersonKind.OFFCAMPUS,
                    name=name,
                    mobile=phone,
                    status=PersonStatus.ACTIVE,
                    profile={},
                )
                session.add(person)
        except IntegrityError:
            person = session.scalar(select(Person).where(Person.userid == userid))
            if person is None:
                raise
    if person.kind != PersonKind.OFFCAMPUS or person.status != PersonStatus.ACTIVE:
        raise NotOpen(userid)
    return person
