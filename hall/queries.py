"""The read side: what a person sees of the hall, as typed read models.

Each function takes a session and the viewer's person id and returns plain pydantic read
models; the JSON API serialises them as they are and documents them in its OpenAPI schema,
the web view renders them. Writes live in `hall.services`; the one exception here is
`mark_notification_read`, a read receipt on the viewer's own notice.

Performance (1M applications, 3M tasks): lists read one page through the indexes
`ix_application_applicant`, `ix_task_assignee_status`, `ix_task_assignee_decided` and
`ix_notification_person`, select only the columns they show, and load related rows for the
whole page in one query each (never one per row). Counts use the same index ranges.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Select, exists, func, or_, select, update
from sqlalchemy.orm import Session, joinedload

from hall.access import reach_of, visible_to
from hall.definitions import FormField, Material, ProcessSpec, parse_spec
from hall.errors import NotFound
from hall.forms import applicant_profile, prefill
from hall.models import (
    ActionLog,
    Application,
    Attachment,
    Comment,
    Department,
    Notification,
    Person,
    ProcessDefinition,
    ProcessScope,
    ProcessVersion,
    RoleGrant,
    Task,
    TaskOrigin,
)
from hall.states import AppStatus, TaskStatus

MAX_PER_PAGE = 100
MAX_PAGE = 10_000

# The status columns are private on the models (they change only through `fire`); reads
# filter on the table columns directly.
app_status_column = Application.__table__.c.status
task_status_column = Task.__table__.c.status

# A task counts as "done" (已办) by its assignee when they decided it themselves.
DECIDED_STATES = (
    TaskStatus.APPROVED,
    TaskStatus.REJECTED,
    TaskStatus.RETURNED,
    TaskStatus.TRANSFERRED,
)


class ReadModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------ small pieces


class PersonRef(ReadModel):
    userid: str
    name: str


class DepartmentRef(ReadModel):
    code: str
    name: str


class ProcessRef(ReadModel):
    key: str
    name: str
    version: int = Field(description="the process version the application runs on")


class StepRef(ReadModel):
    index: int
    key: str
    name: str


# ------------------------------------------------------------------------- me


class RoleOut(ReadModel):
    code: str
    department: DepartmentRef | None = Field(description="None: school-wide")


class Counts(ReadModel):
    todo: int = Field(description="my pending tasks (待办)")
    unread_notifications: int


class Me(ReadModel):
    userid: str
    name: str
    kind: Literal["staff", "student", "offcampus"]
    department: DepartmentRef | None
    roles: list[RoleOut]
    counts: Counts


def me(session: Session, person_id: int) -> Me:
    person = _load_person(session, person_id)
    grants = session.scalars(
        select(RoleGrant)
        .where(RoleGrant.person_id == person_id)
        .options(joinedload(RoleGrant.department))
        .order_by(RoleGrant.role_code, RoleGrant.id)
    ).all()
    return Me(
        userid=person.userid,
        name=person.name,
        kind=person.kind.value,
        department=_dept_ref(person.department),
        roles=[RoleOut(code=g.role_code.value, department=_dept_ref(g.department)) for g in grants],
        counts=Counts(
            todo=count_todo(session, person_id),
            unread_notifications=_count_notifications(session, person_id, unread_only=True),
        ),
    )


# ------------------------------------------------------------------ catalogue


class ProcessSummary(ReadModel):
    key: str
    name: str
    category: str
    department: DepartmentRef = Field(description="the owning department")
    description: str
    audience: list[Literal["staff", "student", "offcampus"]]
    promised_days: int | None = Field(description="承诺办结时限 (working days)")
    visits: int = Field(description="跑动次数")
    immediate: bool = Field(description="即办件")
    version: int
    invite_only: bool = Field(
        default=False,
        description="applied for only from a staff member's invitation (入校预约)",
    )


class ProcessList(ReadModel):
    items: list[ProcessSummary]
    total: int
    categories: list[str] = Field(description="categories of the visible processes")


class FlowStep(ReadModel):
    index: int
    key: str
    name: str
    kind: Literal["approval", "notify", "handle", "consent"]
    mode: Literal["single", "any", "all", "sequential"]
    conditional: bool = Field(description="the step runs only when its condition holds")
    time_limit_hours: int | None
    allow_transfer: bool
    allow_add_signer: bool
    allow_return: bool
    result_fields: list[FormField]


class ProcessDetail(ProcessSummary):
    basis: str
    contact: str
    materials: list[Material]
    form: list[FormField]
    flow: list[FlowStep]
    prefill: dict[str, Any] = Field(
        description="initial values: from my profile where a field says so, else its default"
    )


def _visible_processes(
    person: Person | None,
) -> Select[ProcessDefinition, ProcessVersion, Department]:
    """Active, published processes whose scope is empty or admits the person's department
    (the same rule `Hall.submit` applies, so the catalogue never offers what would be refused).
    For nobody (the public 办事指南): only the processes open to every department.

    The audience (a JSON list on the version) is checked in Python by the callers: the
    catalogue holds about a hundred processes, not millions.
    """
    scoped = exists().where(ProcessScope.process_id == ProcessDefinition.id)
    stmt = (
        select(ProcessDefinition, ProcessVersion, Department)
        .join(ProcessVersion, ProcessVersion.id == ProcessDefinition.current_version_id)
        .join(Department, Department.id == ProcessDefinition.department_id)
        .where(ProcessDefinition.active.is_(True))
    )
    if person is None:
        return stmt.where(~scoped)
    admitted = exists().where(
        ProcessScope.process_id == ProcessDefinition.id,
        ProcessScope.department_id == person.department_id,
    )
    return stmt.where(or_(~scoped, admitted))


def _summary(
    process: ProcessDefinition, version: ProcessVersion, dept: Department, spec: dict[str, Any]
) -> dict[str, Any]:
    return {
        "key": process.key,
        "name": version.name,
        "category": version.category,
        "department": DepartmentRef(code=dept.code, name=dept.name),
        "description": spec.get("description", ""),
        "audience": list(version.audience),
        "promised_days": spec.get("promised_days"),
        "visits": spec.get("visits", 0),
        "immediate": spec.get("immediate", False),
        "version": version.number,
        "invite_only": bool(((spec.get("options") or {}).get("invite") or {}).get("only")),
    }


def _load_person(session: Session, person_id: int) -> Person:
    person = session.scalar(
        select(Person).where(Person.id == person_id).options(joinedload(Person.department))
    )
    if person is None:
        raise NotFound("用户不存在")
    return person


def catalogue(
    session: Session,
    person_id: int | None,
    *,
    category: str | None = None,
    department: str | None = None,
    q: str | None = None,
) -> ProcessList:
    """The processes the person may apply for, by category and name; with no person, the
    public 办事指南: every process open to all departments, whoever it serves."""
    person = _load_person(session, person_id) if person_id is not None else None
    stmt = _visible_processes(person).order_by(
        ProcessVersion.category, ProcessVersion.name, ProcessDefinition.key
    )
    if department:
        stmt = stmt.where(Department.code == department)
    items: list[ProcessSummary] = []
    categories: set[str] = set()
    needle = q.strip().casefold() if q else ""
    for process, version, dept in session.execute(stmt):
        if person is not None and person.kind.value not in version.audience:
            continue
        categories.add(version.category)
        if category and version.category != category:
            continue
        spec = version.spec
        haystack = " ".join(
            (process.key, version.name, version.category, dept.name, spec.get("description", ""))
        ).casefold()
        if needle and needle not in haystack:
            continue
        items.append(ProcessSummary(**_summary(process, version, dept, spec)))
    return ProcessList(items=items, total=len(items), categories=sorted(categories))


def process_detail(session: Session, person_id: int, key: str) -> ProcessDetail:
    """The current version of a process the person may apply for, prefilled for them."""
    person = _load_person(session, person_id)
    row = session.execute(_visible_processes(person).where(ProcessDefinition.key == key)).first()
    if row is None or person.kind.value not in row[1].audience:
        raise NotFound("事项不存在")
    return _process_detail(*row, person=person)


def process_guide(session: Session, key: str) -> ProcessDetail:
    """A process as the public 办事指南 shows it: open to every department, nothing
    prefilled (there is nobody to prefill for)."""
    row = session.execute(_visible_processes(None).where(ProcessDefinition.key == key)).first()
    if row is None:
        raise NotFound("事项不存在")
    return _process_detail(*row, person=None)


def _process_detail(
    process: ProcessDefinition, version: ProcessVersion, dept: Department, *, person: Person | None
) -> ProcessDetail:
    spec = parse_spec(version.spec)
    return ProcessDetail(
        **_summary(process, version, dept, version.spec),
        basis=spec.basis,
        contact=spec.contact,
        materials=list(spec.materials),
        form=list(spec.form),
        flow=flow_steps(spec),
        prefill=prefill(spec.form, {}, applicant_profile(person)) if person is not None else {},
    )


def flow_steps(spec: ProcessSpec) -> list[FlowStep]:
    return [
        FlowStep(
            index=i,
            key=step.key,
            name=step.name,
            kind=step.kind.value,
            mode=step.mode.value,
            conditional=step.condition is not None,
            time_limit_hours=step.time_limit_hours,
            allow_transfer=step.allow_transfer,
            allow_add_signer=step.allow_add_signer,
            allow_return=step.allow_return,
            result_fields=list(step.result_fields),
        )
        for i, step in enumerate(spec.flow)
    ]


# ---------------------------------------------------------------- applications


class ApplicationSummary(ReadModel):
    id: int
    serial: str
    title: str
    process: ProcessRef
    status: AppStatus
    current_step: StepRef | None
    waiting_on: list[PersonRef] = Field(description="reviewers with a pending task now")
    created_at: datetime
    submitted_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime | None


class ApplicationPage(ReadModel):
    items: list[ApplicationSummary]
    total: int
    page: int
    per_page: int


class TaskOut(ReadModel):
    id: int
    step: StepRef
    round: int
    seq: int
    status: TaskStatus
    origin: TaskOrigin
    assignee: PersonRef
    acted_by: PersonRef | None = Field(description="the delegate who acted, if not the assignee")
    comment: str | None
    result: dict[str, Any]
    created_at: datetime
    activated_at: datetime | None
    decided_at: datetime | None
    due_at: datetime | None


class TimelineEntry(ReadModel):
    id: int
    action: str
    actor: PersonRef | None = Field(description="None: the system")
    task_id: int | None
    step: StepRef | None
    from_status: str | None
    to_status: str | None
    comment: str | None
    detail: dict[str, Any]
    created_at: datetime


class CommentOut(ReadModel):
    id: int
    author: PersonRef
    body: str
    task_id: int | None
    created_at: datetime


class AttachmentOut(ReadModel):
    id: int
    field: str | None = Field(
        description="the form field's key, or decision:<task id> for a reviewer's files"
    )
    filename: str
    size: int = Field(description="bytes")
    content_type: str = Field(description="by the file's content, not its name")
    sha256: str


def attachment_out(row: Attachment) -> AttachmentOut:
    return AttachmentOut(
        id=row.id,
        field=row.field_key,
        filename=row.filename,
        size=row.size,
        content_type=row.content_type,
        sha256=row.sha256,
    )


class ApplicantOut(PersonRef):
    kind: Literal["staff", "student", "offcampus"]
    department: DepartmentRef | None


class ApplicationDetail(ApplicationSummary):
    applicant: ApplicantOut
    form: dict[str, Any]
    result: dict[str, Any]
    flagged: bool
    last_urged_at: datetime | None
    flow: list[FlowStep]
    tasks: list[TaskOut]
    timeline: list[TimelineEntry]
    comments: list[CommentOut]
    attachments: list[AttachmentOut] = Field(
        description="files of the form and of decisions: GET /api/v1/attachments/{id}"
    )
    is_applicant: bool = Field(description="the viewer applied for it")
    my_task_id: int | None = Field(description="the viewer's pending task on it, if any")


class _Flows:
    """Step names per version id for one page of rows: one query for the whole page."""

    def __init__(self, session: Session, version_ids: Iterable[int]) -> None:
        ids = sorted(set(version_ids))
        self._steps: dict[int, list[tuple[str, str]]] = {}
        if ids:
            rows = session.execute(
                select(ProcessVersion.id, ProcessVersion.spec).where(ProcessVersion.id.in_(ids))
            )
            for version_id, spec in rows:
                self._steps[version_id] = [(s["key"], s["name"]) for s in spec.get("flow", ())]

    def by_index(self, version_id: int, index: int | None) -> StepRef | None:
        steps = self._steps.get(version_id, [])
        if index is None or not 0 <= index < len(steps):
            return None
        key, name = steps[index]
        return StepRef(index=index, key=key, name=name)

    def by_key(self, version_id: int, index: int, key: str) -> StepRef:
        steps = self._steps.get(version_id, [])
        name = next((n for k, n in steps if k == key), key)
        return StepRef(index=index, key=key, name=name)


def _waiting_on(session: Session, application_ids: Sequence[int]) -> dict[int, list[PersonRef]]:
    waiting: dict[int, list[PersonRef]] = {}
    if not application_ids:
        return waiting
    rows = session.execute(
        select(Task.application_id, Person.userid, Person.name)
        .join(Person, Person.id == Task.assignee_id)
        .where(Task.application_id.in_(application_ids), task_status_column == TaskStatus.PENDING)
        .order_by(Task.application_id, Task.id)
    )
    for application_id, userid, name in rows:
        waiting.setdefault(application_id, []).append(PersonRef(userid=userid, name=name))
    return waiting


_SUMMARY_COLUMNS = (
    Application.id,
    Application.serial,
    Application.title,
    app_status_column,
    Application.current_step,
    Application.version_id,
    Application.created_at,
    Application.submitted_at,
    Application.finished_at,
    Application.updated_at,
    ProcessDefinition.key,
    ProcessVersion.name,
    ProcessVersion.number,
)


def _summaries(session: Session, rows: Sequence[Any]) -> list[ApplicationSummary]:
    flows = _Flows(session, (r.version_id for r in rows))
    waiting = _waiting_on(session, [r.id for r in rows])
    return [
        ApplicationSummary(
            id=r.id,
            serial=r.serial,
            title=r.title,
            process=ProcessRef(key=r.key, name=r.name, version=r.number),
            status=r.status,
            current_step=flows.by_index(r.version_id, r.current_step),
            waiting_on=waiting.get(r.id, []),
            created_at=r.created_at,
            submitted_at=r.submitted_at,
            finished_at=r.finished_at,
            updated_at=r.updated_at,
        )
        for r in rows
    ]


def my_applications(
    session: Session,
    person_id: int,
    *,
    page: int = 1,
    per_page: int = 20,
    status: AppStatus | None = None,
    process: str | None = None,
) -> ApplicationPage:
    """The person's own applications (drafts included), newest first."""
    where: list[ColumnElement[bool]] = [Application.applicant_id == person_id]
    if status is not None:
        where.append(app_status_column == status)
    if process:
        process_id = session.scalar(
            select(ProcessDefinition.id).where(ProcessDefinition.key == process)
        )
        if process_id is None:
            return ApplicationPage(items=[], total=0, page=page, per_page=per_page)
        where.append(Application.process_id == process_id)
    total = session.scalar(select(func.count()).select_from(Application).where(*where)) or 0
    rows = session.execute(
        select(*_SUMMARY_COLUMNS)
        .join(ProcessDefinition, ProcessDefinition.id == Application.process_id)
        .join(ProcessVersion, ProcessVersion.id == Application.version_id)
        .where(*where)
        .order_by(Application.created_at.desc(), Application.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return ApplicationPage(
        items=_summaries(session, rows), total=total, page=page, per_page=per_page
    )


def _person_refs(session: Session, ids: Iterable[int | None]) -> dict[int, PersonRef]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = session.execute(
        select(Person.id, Person.userid, Person.name).where(Person.id.in_(wanted))
    )
    return {pid: PersonRef(userid=userid, name=name) for pid, userid, name in rows}


def application_detail(session: Session, person_id: int, application_id: int) -> ApplicationDetail:
    """Everything the person may see of one application; NotFound when they may not."""
    reach = reach_of(session, person_id)
    app = session.scalar(
        select(Application)
        .where(Application.id == application_id, visible_to(person_id, reach))
        .options(
            joinedload(Application.applicant).joinedload(Person.department),
            joinedload(Application.process),
            joinedload(Application.version),
        )
    )
    if app is None:
        raise NotFound("办件不存在", application_id=application_id)
    spec = parse_spec(app.version.spec)
    steps = flow_steps(spec)

    def step_ref(index: int | None) -> StepRef | None:
        if index is None or not 0 <= index < len(steps):
            return None
        s = steps[index]
        return StepRef(index=index, key=s.key, name=s.name)

    tasks = session.scalars(
        select(Task)
        .where(Task.application_id == app.id)
        .options(joinedload(Task.assignee))
        .order_by(Task.id)
    ).all()
    logs = session.scalars(
        select(ActionLog)
        .where(ActionLog.application_id == app.id)
        .options(joinedload(ActionLog.actor))
        .order_by(ActionLog.id)
    ).all()
    comments = session.scalars(
        select(Comment)
        .where(Comment.application_id == app.id)
        .options(joinedload(Comment.author))
        .order_by(Comment.id)
    ).all()
    attachments = session.scalars(
        select(Attachment).where(Attachment.application_id == app.id).order_by(Attachment.id)
    ).all()
    delegates = _person_refs(session, (t.acted_by_id for t in tasks))
    pending = [t for t in tasks if t.status == TaskStatus.PENDING]
    mine = next((t.id for t in pending if t.assignee_id == person_id), None)
    applicant = app.applicant
    return ApplicationDetail(
        id=app.id,
        serial=app.serial,
        title=app.title,
        process=ProcessRef(key=app.process.key, name=app.version.name, version=app.version.number),
        status=app.status,
        current_step=step_ref(app.current_step),
        waiting_on=[_ref(t.assignee) for t in pending],
        created_at=app.created_at,
        submitted_at=app.submitted_at,
        finished_at=app.finished_at,
        updated_at=app.updated_at,
        applicant=ApplicantOut(
            userid=applicant.userid,
            name=applicant.name,
            kind=applicant.kind.value,
            department=_dept_ref(applicant.department),
        ),
        form=app.form,
        result=app.result,
        flagged=app.flagged,
        last_urged_at=app.last_urged_at,
        flow=steps,
        tasks=[
            TaskOut(
                id=t.id,
                step=step_ref(t.step_index)
                or StepRef(index=t.step_index, key=t.step_key, name=t.step_key),
                round=t.round,
                seq=t.seq,
                status=t.status,
                origin=t.origin,
                assignee=_ref(t.assignee),
                acted_by=delegates.get(t.acted_by_id)
                if t.acted_by_id is not None and t.acted_by_id != t.assignee_id
                else None,
                comment=t.comment,
                result=t.result,
                created_at=t.created_at,
                activated_at=t.activated_at,
                decided_at=t.decided_at,
                due_at=t.due_at,
            )
            for t in tasks
        ],
        timeline=[
            TimelineEntry(
                id=log.id,
                action=log.action,
                actor=_ref(log.actor) if log.actor is not None else None,
                task_id=log.task_id,
                step=step_ref(log.step_index),
                from_status=log.from_status,
                to_status=log.to_status,
                comment=log.comment,
                detail=log.detail,
                created_at=log.created_at,
            )
            for log in logs
        ],
        comments=[
            CommentOut(
                id=c.id,
                author=_ref(c.author),
                body=c.body,
                task_id=c.task_id,
                created_at=c.created_at,
            )
            for c in comments
        ],
        attachments=[attachment_out(a) for a in attachments],
        is_applicant=app.applicant_id == person_id,
        my_task_id=mine,
    )


# ----------------------------------------------------------------------- tasks


class TaskApplication(ReadModel):
    id: int
    serial: str
    title: str
    process: ProcessRef
    status: AppStatus
    applicant: PersonRef
    submitted_at: datetime | None


class TaskItem(ReadModel):
    id: int
    status: TaskStatus
    step: StepRef
    round: int
    origin: TaskOrigin
    comment: str | None
    created_at: datetime
    activated_at: datetime | None
    decided_at: datetime | None
    due_at: datetime | None
    application: TaskApplication


class TaskPage(ReadModel):
    items: list[TaskItem]
    total: int  # exact for to-dos; for done tasks at most DONE_COUNT_CAP (see total_capped)
    page: int
    per_page: int
    total_capped: bool = False  # more done tasks exist than were counted


def _todo_where(person_id: int) -> list[ColumnElement[bool]]:
    return [Task.assignee_id == person_id, task_status_column == TaskStatus.PENDING]


def _done_where(person_id: int) -> list[ColumnElement[bool]]:
    return [
        Task.assignee_id == person_id,
        Task.decided_at.is_not(None),
        task_status_column.in_(DECIDED_STATES),
    ]


def _count(where: list[ColumnElement[bool]]) -> Select[int]:
    return select(func.count()).select_from(Task).where(*where)


def count_todo(session: Session, person_id: int) -> int:
    """How many tasks wait for the person (the index on assignee and status serves it)."""
    return int(session.scalar(_count(_todo_where(person_id))) or 0)


# A long-serving reviewer has decided tens of thousands of tasks; counting them all for a
# badge or a pager costs more than the page. Counting stops here (the last page reachable
# by MAX_PAGE of a normal page size lies well within it).
DONE_COUNT_CAP = 10_000


def count_done(session: Session, person_id: int, *, cap: int = DONE_COUNT_CAP) -> int:
    """How many tasks the person decided, counting no further than `cap`."""
    first = select(Task.id).where(*_done_where(person_id)).limit(cap).subquery()
    return int(session.scalar(select(func.count()).select_from(first)) or 0)


def my_tasks(
    session: Session,
    person_id: int,
    *,
    state: Literal["todo", "done"] = "todo",
    page: int = 1,
    per_page: int = 20,
) -> TaskPage:
    """待办: my pending tasks, the longest waiting first (by creation, the indexed column).
    已办: the tasks I decided, the latest decision first."""
    if state == "todo":
        where = _todo_where(person_id)
        order: tuple[ColumnElement[Any], ...] = (Task.created_at.asc(), Task.id.asc())
    else:
        where = _done_where(person_id)
        order = (Task.decided_at.desc(), Task.id.desc())
    if state == "todo":
        total = session.scalar(_count(where)) or 0
    else:
        total = count_done(session, person_id)
    applicant = Person.__table__.alias("applicant")
    rows = session.execute(
        select(
            Task.id,
            task_status_column.label("task_status"),
            Task.step_index,
            Task.step_key,
            Task.round,
            Task.origin,
            Task.comment,
            Task.created_at,
            Task.activated_at,
            Task.decided_at,
            Task.due_at,
            Application.id.label("application_id"),
            Application.serial,
            Application.title,
            app_status_column.label("app_status"),
            Application.submitted_at,
            Application.version_id,
            ProcessDefinition.key,
            ProcessVersion.name,
            ProcessVersion.number,
            applicant.c.userid,
            applicant.c.name.label("applicant_name"),
        )
        .join(Application, Application.id == Task.application_id)
        .join(ProcessDefinition, ProcessDefinition.id == Application.process_id)
        .join(ProcessVersion, ProcessVersion.id == Application.version_id)
        .join(applicant, applicant.c.id == Application.applicant_id)
        .where(*where)
        .order_by(*order)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    flows = _Flows(session, (r.version_id for r in rows))
    items = [
        TaskItem(
            id=r.id,
            status=r.task_status,
            step=flows.by_key(r.version_id, r.step_index, r.step_key),
            round=r.round,
            origin=r.origin,
            comment=r.comment,
            created_at=r.created_at,
            activated_at=r.activated_at,
            decided_at=r.decided_at,
            due_at=r.due_at,
            application=TaskApplication(
                id=r.application_id,
                serial=r.serial,
                title=r.title,
                process=ProcessRef(key=r.key, name=r.name, version=r.number),
                status=r.app_status,
                applicant=PersonRef(userid=r.userid, name=r.applicant_name),
                submitted_at=r.submitted_at,
            ),
        )
        for r in rows
    ]
    capped = state == "done" and total >= DONE_COUNT_CAP
    return TaskPage(items=items, total=total, page=page, per_page=per_page, total_capped=capped)


def task_application_id(session: Session, person_id: int, task_id: int) -> int:
    """The application of a task the person may see; NotFound otherwise."""
    reach = reach_of(session, person_id)
    found = session.scalar(
        select(Task.application_id)
        .join(Application, Application.id == Task.application_id)
        .where(Task.id == task_id, visible_to(person_id, reach))
    )
    if found is None:
        raise NotFound("待办不存在", task_id=task_id)
    return found


# --------------------------------------------------------------- notifications


class NotificationOut(ReadModel):
    id: int
    kind: str
    title: str
    body: str
    application_id: int | None
    created_at: datetime
    read_at: datetime | None


class NotificationPage(ReadModel):
    items: list[NotificationOut]
    total: int
    unread: int
    page: int
    per_page: int


def _notification_out(n: Notification) -> NotificationOut:
    return NotificationOut(
        id=n.id,
        kind=n.kind,
        title=n.title,
        body=n.body,
        application_id=n.application_id,
        created_at=n.created_at,
        read_at=n.read_at,
    )


def _count_notifications(session: Session, person_id: int, *, unread_only: bool) -> int:
    stmt = select(func.count()).select_from(Notification).where(Notification.person_id == person_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return session.scalar(stmt) or 0


def notifications(
    session: Session,
    person_id: int,
    *,
    page: int = 1,
    per_page: int = 20,
    unread_only: bool = False,
) -> NotificationPage:
    """The in-app notice list (消息), newest first."""
    stmt = select(Notification).where(Notification.person_id == person_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    rows = session.scalars(
        stmt.order_by(Notification.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    total = _count_notifications(session, person_id, unread_only=unread_only)
    unread = total if unread_only else _count_notifications(session, person_id, unread_only=True)
    return NotificationPage(
        items=[_notification_out(n) for n in rows],
        total=total,
        unread=unread,
        page=page,
        per_page=per_page,
    )


def mark_notification_read(
    session: Session, person_id: int, notification_id: int, now: datetime
) -> NotificationOut:
    """Mark one of the person's own notices read (idempotent: the first read time stays)."""
    notice = session.scalar(
        select(Notification).where(
            Notification.id == notification_id, Notification.person_id == person_id
        )
    )
    if notice is None:
        raise NotFound("消息不存在", notification_id=notification_id)
    if notice.read_at is None:
        notice.read_at = now
        session.flush()
    return _notification_out(notice)


def mark_all_notifications_read(session: Session, person_id: int, now: datetime) -> int:
    """Mark all of the person's unread notices read; how many there were."""
    result = session.execute(
        update(Notification)
        .where(Notification.person_id == person_id, Notification.read_at.is_(None))
        .values(read_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# ---------------------------------------------------------------------- helpers


def _ref(person: Person) -> PersonRef:
    return PersonRef(userid=person.userid, name=person.name)


def _dept_ref(dept: Department | None) -> DepartmentRef | None:
    return DepartmentRef(code=dept.code, name=dept.name) if dept is not None else None


def person_labels(
    session: Session, userids: list[str], *, with_userid: bool = True
) -> dict[str, str]:
    """userid → "name（userid）" for showing picked people again (or the name alone, for
    viewers outside the school, to whom a staff number means nothing it should)."""
    wanted = [u for u in userids if isinstance(u, str) and u]
    if not wanted:
        return {}
    rows = session.execute(select(Person.userid, Person.name).where(Person.userid.in_(wanted)))
    return {u: f"{n}（{u}）" if with_userid else n for u, n in rows}
