"""Row factories for tests: small, explicit, with sensible defaults."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy.orm import Session

from hall.definitions import parse_spec
from hall.models import (
    Department,
    GrantSource,
    Membership,
    Person,
    PersonKind,
    ProcessVersion,
    RoleCode,
    RoleGrant,
)
from hall.processes import publish

_seq = itertools.count(1)


def department(
    session: Session,
    name: str = "计算机学院",
    *,
    code: str | None = None,
    parent: Department | None = None,
    **kw: Any,
) -> Department:
    dept = Department(
        code=code or f"D{next(_seq):05d}",
        name=name,
        parent=parent,
        level=(parent.level + 1) if parent else 1,
        **kw,
    )
    session.add(dept)
    session.flush()
    return dept


def person(
    session: Session,
    name: str = "张三",
    *,
    kind: PersonKind | str = PersonKind.STAFF,
    dept: Department | None = None,
    userid: str | None = None,
    roles: tuple[RoleCode | str, ...] = (),
    role_dept: Department | None = None,
    **kw: Any,
) -> Person:
    n = next(_seq)
    who = Person(
        userid=userid or f"u{n:06d}",
        kind=PersonKind(kind),
        number=f"{n:08d}",
        name=name,
        department=dept,
        mobile=kw.pop("mobile", f"139{n:08d}"),
        **kw,
    )
    session.add(who)
    session.flush()
    if dept is not None:
        session.add(Membership(person_id=who.id, department_id=dept.id, primary=True))
    for role in roles:
        grant(session, who, role, role_dept if role_dept is not None else dept)
    session.flush()
    return who


def grant(
    session: Session,
    who: Person,
    role: RoleCode | str,
    dept: Department | None = None,
) -> RoleGrant:
    row = RoleGrant(
        person_id=who.id,
        role_code=RoleCode(role),
        department_id=dept.id if dept else None,
        source=GrantSource.MANUAL,
    )
    session.add(row)
    session.flush()
    return row


def process(session: Session, spec: dict[str, Any]) -> ProcessVersion:
    """Publish a spec given as plain data (the same shape as the YAML files)."""
    return publish(session, parse_spec(spec))


def simple_spec(dept_code: str, **overrides: Any) -> dict[str, Any]:
    """A one-field, one-step process; override any top-level key."""
    spec: dict[str, Any] = {
        "key": f"p{next(_seq)}",
        "name": "测试事项",
        "department": dept_code,
        "category": "测试",
        "audience": ["staff", "student"],
        "form": [
            {"key": "reason", "label": "事由", "type": "text", "required": True, "max_length": 200}
        ],
        "flow": [{"key": "head", "name": "负责人审批", "approver": {"type": "dept_head"}}],
    }
    spec.update(overrides)
    return spec
