"""Who may see an application. One rule, used by the JSON API and the web view alike.

A person sees an application when they
- applied for it,
- hold or held a task on it (as the assignee, or as the delegate who acted),
- follow it (CC'd, named in it: `Follower`),
- or a role grants it: `dept_admin` / `process_admin` of the department that owns the
  process (a grant without a department covers every department), `info_center` everywhere.

Anything else is reported as "not found": the hall never reveals that an application exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, false, or_, select, true
from sqlalchemy.orm import Session, aliased

from hall.errors import NotFound
from hall.models import (
    Application,
    Follower,
    ProcessDefinition,
    RoleCode,
    RoleGrant,
    Task,
)

# Roles that let a person read applications of a department's processes.
ADMIN_ROLES = frozenset({RoleCode.DEPT_ADMIN, RoleCode.PROCESS_ADMIN})


@dataclass(frozen=True, slots=True)
class Reach:
    """What a person's roles let them read beyond their own involvement."""

    everywhere: bool
    departments: frozenset[int]

    @property
    def administers(self) -> bool:
        """Whether the roles reach any department's processes at all."""
        return self.everywhere or bool(self.departments)

    def covers(self, department_id: int) -> bool:
        """Whether the processes owned by `department_id` are within reach."""
        return self.everywhere or department_id in self.departments

    def owned_processes(self) -> ColumnElement[bool]:
        """A SQL condition on `ProcessDefinition`: its department is within reach."""
        if self.everywhere:
            return true()
        return ProcessDefinition.department_id.in_(sorted(self.departments))


def reach_of(session: Session, person_id: int) -> Reach:
    """Collect the person's role grants that widen what they may read (one query)."""
    rows = session.execute(
        select(RoleGrant.role_code, RoleGrant.department_id).where(
            RoleGrant.person_id == person_id,
            RoleGrant.role_code.in_([RoleCode.INFO_CENTER, *ADMIN_ROLES]),
        )
    ).all()
    everywhere = any(
        code == RoleCode.INFO_CENTER or department_id is None for code, department_id in rows
    )
    departments = frozenset(d for _code, d in rows if d is not None)
    return Reach(everywhere=everywhere, departments=departments)


def visible_to(person_id: int, reach: Reach) -> ColumnElement[bool]:
    """A SQL condition on `Application`: the person may read the row."""
    if reach.everywhere:
        return true()
    # An alias, so the condition also works inside a query that selects from Task itself.
    task = aliased(Task)
    clauses: list[ColumnElement[bool]] = [
        Application.applicant_id == person_id,
        exists().where(
            task.application_id == Application.id,
            or_(task.assignee_id == person_id, task.acted_by_id == person_id),
        ),
        exists().where(Follower.application_id == Application.id, Follower.person_id == person_id),
    ]
    if reach.departments:
        owned = select(ProcessDefinition.id).where(
            ProcessDefinition.department_id.in_(sorted(reach.departments))
        )
        clauses.append(Application.process_id.in_(owned))
    return or_(false(), *clauses)


def can_view(session: Session, person_id: int, application_id: int) -> bool:
    """True when the person may read the application (False also when it does not exist)."""
    reach = reach_of(session, person_id)
    found = session.scalar(
        select(Application.id).where(Application.id == application_id, visible_to(person_id, reach))
    )
    return found is not None


def require_view(session: Session, person_id: int, application_id: int) -> None:
    """Raise NotFound unless the person may read the application."""
    if not can_view(session, person_id, application_id):
        raise NotFound("办件不存在", application_id=application_id)
