"""Small reads the pages need beyond `hall.queries`: frequently used services, the people
picker, delegations. Each takes a session and the viewer's id and returns plain data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from hall.access import Reach
from hall.definitions import ProcessSpec, parse_spec
from hall.errors import NotFound
from hall.models import (
    Application,
    Attachment,
    Delegation,
    Department,
    Person,
    PersonKind,
    PersonStatus,
    ProcessDefinition,
    ProcessVersion,
    Task,
)
from hall.processes import version_spec

PICKER_LIMIT = 10
PICKER_MIN_CHARS = 1
PICKER_MAX_CHARS = 32


def frequent_process_keys(session: Session, person_id: int, limit: int = 6) -> list[str]:
    """The keys of the processes the person applied for most (drafts included)."""
    rows = session.execute(
        select(ProcessDefinition.key, func.count(Application.id).label("n"))
        .join(ProcessDefinition, ProcessDefinition.id == Application.process_id)
        .where(Application.applicant_id == person_id)
        .group_by(ProcessDefinition.key)
        .order_by(func.count(Application.id).desc(), ProcessDefinition.key)
        .limit(limit)
    )
    return [key for key, _n in rows]


@dataclass(frozen=True)
class PersonHit:
    userid: str
    name: str
    department: str | None

    @property
    def label(self) -> str:
        where = f" · {self.department}" if self.department else ""
        return f"{self.name}（{self.userid}）{where}"


def search_people(session: Session, text: str, *, exclude_id: int | None = None) -> list[PersonHit]:
    """Active people by name (contains) or number/userid (prefix), for the person picker."""
    needle = text.strip()[:PICKER_MAX_CHARS]
    if len(needle) < PICKER_MIN_CHARS:
        return []
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    stmt = (
        select(Person.userid, Person.name, Department.name)
        .outerjoin(Department, Department.id == Person.department_id)
        .where(
            Person.status == PersonStatus.ACTIVE,
            # Off-campus accounts are anyone with a phone: never listed (their userid is
            # their number), and nobody transfers or copies to them.
            Person.kind != PersonKind.OFFCAMPUS,
            or_(
                Person.name.like(f"%{escaped}%", escape="\\"),
                Person.userid.like(f"{escaped}%", escape="\\"),
                Person.number.like(f"{escaped}%", escape="\\"),
            ),
        )
        .order_by(Person.name, Person.userid)
        .limit(PICKER_LIMIT)
    )
    if exclude_id is not None:
        stmt = stmt.where(Person.id != exclude_id)
    return [PersonHit(u, n, d) for u, n, d in session.execute(stmt)]


@dataclass(frozen=True)
class DelegationRow:
    id: int
    delegator: str
    delegate: str
    start_date: date
    end_date: date
    state: str  # active, scheduled, expired, revoked
    mine: bool  # the viewer is the delegator


def delegations(session: Session, person_id: int, today: date) -> list[DelegationRow]:
    """The person's delegations, given and received, newest first."""
    giver = aliased(Person)
    taker = aliased(Person)
    rows = session.execute(
        select(Delegation, giver.name, taker.name)
        .join(giver, giver.id == Delegation.delegator_id)
        .join(taker, taker.id == Delegation.delegate_id)
        .where(or_(Delegation.delegator_id == person_id, Delegation.delegate_id == person_id))
        .order_by(Delegation.start_date.desc(), Delegation.id.desc())
        .limit(100)
    )
    result = []
    for row, giver_name, taker_name in rows:
        if row.revoked_at is not None:
            state = "revoked"
        elif row.end_date < today:
            state = "expired"
        elif row.start_date > today:
            state = "scheduled"
        else:
            state = "active"
        result.append(
            DelegationRow(
                id=row.id,
                delegator=giver_name,
                delegate=taker_name,
                start_date=row.start_date,
                end_date=row.end_date,
                state=state,
                mine=row.delegator_id == person_id,
            )
        )
    return result


def held_a_task(session: Session, person_id: int, application_id: int) -> bool:
    """Whether the person was ever given a task of the application (a reviewer of it)."""
    found = session.scalar(
        select(Task.id)
        .where(Task.application_id == application_id, Task.assignee_id == person_id)
        .limit(1)
    )
    return found is not None


def version_spec_of(session: Session, application_id: int) -> ProcessSpec:
    """The spec of the version an application runs on (call after the access check)."""
    app = session.get(Application, application_id)
    if app is None:
        raise NotFound("办件不存在", application_id=application_id)
    return version_spec(app.version)


def attachment_names(session: Session, person_id: int, ids: Sequence[int]) -> dict[int, str]:
    """The file names of the person's own uploads among `ids`, in the order given (a form
    that comes back shows them; someone else's file, even its name, is not shown)."""
    if not ids:
        return {}
    rows = session.execute(
        select(Attachment.id, Attachment.filename).where(
            Attachment.id.in_(list(ids)), Attachment.uploader_id == person_id
        )
    )
    names = {row[0]: row[1] for row in rows}
    return {i: names[i] for i in ids if i in names}


def task_step_index(session: Session, task_id: int) -> int:
    index = session.scalar(select(Task.step_index).where(Task.id == task_id))
    if index is None:
        raise NotFound("待办不存在", task_id=task_id)
    return index


def task_serials(session: Session, person_id: int, task_ids: list[int]) -> dict[int, str]:
    """The application serial of each of the person's tasks among `task_ids`."""
    if not task_ids:
        return {}
    rows = session.execute(
        select(Task.id, Application.serial)
        .join(Application, Application.id == Task.application_id)
        .where(Task.id.in_(task_ids), Task.assignee_id == person_id)
    )
    return {row[0]: row[1] for row in rows}


def tasks_needing_results(session: Session, task_ids: list[int]) -> set[int]:
    """Those of `task_ids` whose step asks for results (处理结果 ...) that a batch approval
    cannot supply: the to-do page leaves them out of it."""
    if not task_ids:
        return set()
    rows = session.execute(
        select(Task.id, Task.step_index, Application.version_id)
        .join(Application, Application.id == Task.application_id)
        .where(Task.id.in_(task_ids))
    ).all()
    version_ids = {row.version_id for row in rows}
    specs = {
        version_id: parse_spec(spec)
        for version_id, spec in session.execute(
            select(ProcessVersion.id, ProcessVersion.spec).where(ProcessVersion.id.in_(version_ids))
        )
    }
    return {row.id for row in rows if specs[row.version_id].flow[row.step_index].asks_for_results}


# ------------------------------------------------------------------ monitoring


@dataclass(frozen=True)
class MonitorRow:
    """One pending to-do of a process an administrator looks after."""

    task_id: int
    application_id: int
    serial: str
    title: str
    process: str
    step: str
    assignee: str
    assignee_active: bool
    waiting_since: datetime | None
    due_at: datetime | None


@dataclass(frozen=True)
class MonitorProcess:
    id: int
    name: str


def monitored_processes(session: Session, reach: Reach) -> list[MonitorProcess]:
    """The processes whose to-dos `reach` covers (their owning department's)."""
    query = (
        select(ProcessDefinition.id, ProcessVersion.name)
        .join(ProcessVersion, ProcessVersion.id == ProcessDefinition.current_version_id)
        .where(reach.owned_processes())
        .order_by(ProcessVersion.name)
    )
    return [MonitorProcess(int(row[0]), row[1]) for row in session.execute(query)]


def monitor_tasks(
    session: Session,
    reach: Reach,
    *,
    now: datetime,
    process_id: int | None = None,
    overdue: bool = False,
    page: int = 1,
    size: int = 50,
) -> tuple[list[MonitorRow], bool]:
    """Pending to-dos of the processes `reach` covers, longest waiting first, one page;
    and whether there is another page. `overdue`: only those past their deadline."""
    task_status = Task.__table__.c.status
    query = (
        select(Task, Application, ProcessVersion, Person)
        .join(Application, Application.id == Task.application_id)
        .join(ProcessDefinition, ProcessDefinition.id == Application.process_id)
        .join(ProcessVersion, ProcessVersion.id == Application.version_id)
        .join(Person, Person.id == Task.assignee_id)
        .where(task_status == "pending", reach.owned_processes())
        .order_by(Task.activated_at, Task.id)
        .offset((max(page, 1) - 1) * size)
        .limit(size + 1)
    )
    if process_id is not None:
        query = query.where(Application.process_id == process_id)
    if overdue:
        query = query.where(Task.due_at.is_not(None), Task.due_at < now)
    found = session.execute(query).all()
    specs: dict[int, ProcessSpec] = {}  # the page's few versions, each parsed once
    rows = []
    for task, app, version, person in found[:size]:
        if version.id not in specs:
            specs[version.id] = version_spec(version)
        flow = specs[version.id].flow
        step = flow[task.step_index].name if task.step_index < len(flow) else task.step_key
        rows.append(
            MonitorRow(
                task_id=task.id,
                application_id=app.id,
                serial=app.serial,
                title=app.title,
                process=version.name,
                step=step,
                assignee=person.name,
                assignee_active=person.status == PersonStatus.ACTIVE,
                waiting_since=task.activated_at or task.created_at,
                due_at=task.due_at,
            )
        )
    return rows, len(found) > size
