"""Approver rules → people.

`resolve_rule` turns a step's rule into the active people it names, in a stable order.
`delegate` swaps people who are away for their active delegates. `fallback_people` names
who gets a step when its rule finds nobody: the owning department's administrators, else
the information center, so an application is never silently stuck.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from itertools import islice
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from hall.conditions import ApplicantFacts
from hall.definitions import ApproverRule, RuleType
from hall.models import (
    Delegation,
    Department,
    Person,
    PersonStatus,
    RoleCode,
    RoleGrant,
)

MAX_DEPTH = 32  # guards against a cycle in a damaged department tree

# Built once, as the statements of a card click are (see hall/services.py): a decision that
# opens the next step runs a rule's query and the delegation lookup.
_HOLDERS = (
    select(Person)
    .join(RoleGrant, RoleGrant.person_id == Person.id)
    .where(RoleGrant.role_code == bindparam("role"))
    .order_by(Person.id)
)
_HOLDERS_IN = _HOLDERS.where(RoleGrant.department_id == bindparam("department_id"))
_HOLDERS_SCHOOL_WIDE = _HOLDERS.where(RoleGrant.department_id.is_(None))
_HOLDERS_IN_CODE = _HOLDERS.join(Department, Department.id == RoleGrant.department_id).where(
    Department.code == bindparam("code")
)
_DELEGATIONS = (
    select(Delegation)
    .where(
        Delegation.delegator_id.in_(bindparam("delegators", expanding=True)),
        Delegation.start_date <= bindparam("today"),
        Delegation.end_date >= bindparam("today"),
        Delegation.revoked_at.is_(None),
    )
    .order_by(Delegation.created_at, Delegation.id)
)


@dataclass(frozen=True)
class Assignee:
    person: Person
    delegated_from: Person | None = None  # the person whose task this is, while away


def _active(people: Iterable[Person | None]) -> list[Person]:
    seen: set[int] = set()
    result = []
    for who in people:
        if who is None or who.status != PersonStatus.ACTIVE or who.id in seen:
            continue
        seen.add(who.id)
        result.append(who)
    return result


def _ancestors(dept: Department | None) -> Iterator[Department]:
    """`dept` and the departments above it, nearest first. Each parent is a query, so the
    chain is loaded only as far as the caller walks it."""
    seen: list[Department] = []
    while dept is not None and len(seen) < MAX_DEPTH and dept not in seen:
        seen.append(dept)
        yield dept
        dept = dept.parent


def role_holders(session: Session, role: RoleCode | str, dept_id: int | None) -> list[Person]:
    """Active holders of `role` scoped to `dept_id` (school-wide grants when None)."""
    if dept_id is None:
        return _active(session.scalars(_HOLDERS_SCHOOL_WIDE, {"role": RoleCode(role)}))
    return _active(session.scalars(_HOLDERS_IN, {"role": RoleCode(role), "department_id": dept_id}))


def _department(session: Session, code: str | None) -> Department | None:
    if code is None:
        return None
    return session.scalar(select(Department).where(Department.code == code))


def resolve_rule(
    session: Session, rule: ApproverRule, applicant: Person, form: Mapping[str, Any]
) -> list[Person]:
    """The active people `rule` names for this applicant and form, first-choice first."""
    kind = rule.type
    if kind == RuleType.PERSONS:
        rows = session.scalars(select(Person).where(Person.userid.in_(rule.userids))).all()
        by_userid = {p.userid: p for p in rows}
        return _active(by_userid.get(u) for u in rule.userids)
    if kind == RuleType.APPLICANT:
        return _active([applicant])
    if kind == RuleType.COUNSELLOR:
        return _active([applicant.counsellor])
    if kind == RuleType.FORM_PERSON:
        userid = form.get(rule.field or "")
        if not isinstance(userid, str):
            return []
        return _active([session.scalar(select(Person).where(Person.userid == userid))])
    if kind == RuleType.ROLE_IN_DEPT:
        # One query by the department's code (the commonest rule of office steps).
        params = {"role": RoleCode(rule.role or ""), "code": rule.department}
        return _active(session.scalars(_HOLDERS_IN_CODE, params))
    if kind == RuleType.ROLE_IN_APPLICANT_DEPT:
        # The nearest department up the applicant's chain that has holders of the role.
        for dept in _ancestors(applicant.department):
            people = role_holders(session, rule.role or "", dept.id)
            if people:
                return people
        return []
    if kind == RuleType.DEPT_HEAD_CHAIN:
        found: list[Person] = []
        for dept in islice(_ancestors(applicant.department), rule.levels):
            found += [
                p for p in role_holders(session, RoleCode.DEPT_HEAD, dept.id) if p not in found
            ]
        return found
    if kind == RuleType.DEPT_HEAD:
        chain = list(islice(_ancestors(applicant.department), rule.levels))
        if len(chain) < rule.levels:
            return []
        return role_holders(session, RoleCode.DEPT_HEAD, chain[rule.levels - 1].id)
    # LEADER_IN_CHARGE: the first department up the chain with a leader in charge.
    start = _department(session, rule.department) if rule.department else applicant.department
    for dept in _ancestors(start):
        if dept.leader_in_charge_id is not None:
            return _active([dept.leader_in_charge])
    return []


def superiors(session: Session, person: Person) -> list[Person]:
    """Who is above `person`: up their department chain, the first department with a head
    other than them, else with a leader in charge other than them (分管领导)."""
    for dept in _ancestors(person.department):
        heads = [p for p in role_holders(session, RoleCode.DEPT_HEAD, dept.id) if p.id != person.id]
        if heads:
            return heads
        leader = dept.leader_in_charge
        if leader is not None and leader.id != person.id:
            found = _active([leader])
            if found:
                return found
    return []


def not_own_approver(
    session: Session, people: list[Person], applicant: Person, applicant_approver: str
) -> list[Person]:
    """With `applicant_approver: superior` (the process's option), the applicant never
    approves their own application: the others the rule found, else their superiors."""
    if applicant_approver != "superior" or all(p.id != applicant.id for p in people):
        return people
    others = [p for p in people if p.id != applicant.id]
    return others or superiors(session, applicant)


def delegate(session: Session, people: Iterable[Person], today: date) -> list[Assignee]:
    """Replace each person with their active delegate (one hop), keeping the order."""
    result: list[Assignee] = []
    seen: set[int] = set()
    people = list(people)
    # One query for everyone: the newest active delegation of each delegator wins.
    delegators = [who.id for who in people]
    rows = session.scalars(_DELEGATIONS, {"delegators": delegators, "today": today}).all()
    newest = {row.delegator_id: row for row in rows}  # later rows overwrite earlier ones
    for who in people:
        row = newest.get(who.id)
        deputy = session.get(Person, row.delegate_id) if row is not None else None
        if deputy is not None and deputy.status == PersonStatus.ACTIVE and deputy.id != who.id:
            entry = Assignee(deputy, delegated_from=who)
        else:
            entry = Assignee(who)
        if entry.person.id not in seen:
            seen.add(entry.person.id)
            result.append(entry)
    return result


def fallback_people(session: Session, owning_dept_id: int) -> list[Person]:
    """Who handles a step nobody was found for: the department's administrators, else IT."""
    people = role_holders(session, RoleCode.DEPT_ADMIN, owning_dept_id)
    if people:
        return people
    return _active(session.scalars(_HOLDERS, {"role": RoleCode.INFO_CENTER}))


def applicant_facts(session: Session, applicant: Person) -> ApplicantFacts:
    roles = session.scalars(
        select(RoleGrant.role_code).where(RoleGrant.person_id == applicant.id).distinct()
    )
    level = (applicant.profile or {}).get("level")
    return ApplicantFacts(
        kind=applicant.kind.value,
        post=applicant.post,
        department=applicant.department.code if applicant.department else None,
        level=level if isinstance(level, str) else None,
        roles=tuple(sorted(r.value for r in roles)),
    )
