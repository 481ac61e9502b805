"""The hall's tables as SQLAlchemy 2 typed models (PostgreSQL and SQLite).

Conventions:
- ids are integers (BIGINT on PostgreSQL); timestamps are timezone-aware UTC.
- statuses live in a private column and change only through `hall.states.fire`.
- `ActionLog` is append-only (guarded here and by a database trigger in the migration).
- JSON columns are JSONB on PostgreSQL, JSON text on SQLite.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from hall.clock import utcnow
from hall.states import (
    APP_TRANSITIONS,
    TASK_TRANSITIONS,
    AppStatus,
    TaskStatus,
    Transition,
)

# Stable constraint names so Alembic migrations are identical on every database.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = BigInteger().with_variant(Integer, "sqlite")
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite forgets the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, _dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def value_enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as the value strings with a CHECK constraint; no PostgreSQL enum types to migrate.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        values_callable=lambda e: [m.value for m in e],
        length=20,
        create_constraint=True,
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JsonDoc,
        list[Any]: JsonDoc,
    }


# --------------------------------------------------------------------------- org


class PersonKind(enum.StrEnum):
    STAFF = "staff"
    STUDENT = "student"
    OFFCAMPUS = "offcampus"


class PersonStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"  # left the school; history kept, may return


class RoleCode(enum.StrEnum):
    DEPT_HEAD = "dept_head"  # 部门负责人 / 院长 / 处长
    DEPUTY_SECRETARY = "deputy_secretary"  # 学院副书记 (student affairs)
    DEPT_ADMIN = "dept_admin"  # 部门管理员: designs the department's processes
    COUNSELLOR = "counsellor"  # 辅导员
    PROCESS_ADMIN = "process_admin"  # 事项管理员: handles a department's applications
    INFO_CENTER = "info_center"  # 信息中心: administers the whole hall
    SCHOOL_LEADER = "school_leader"  # 校领导 (leaders in charge come from department rows)
    STAFF = "staff"  # base role by kind
    STUDENT = "student"  # base role by kind


class Department(Base):
    """A department of the school's tree; `code` is the data center's BMDM."""

    __tablename__ = "department"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    level: Mapped[int] = mapped_column(Integer, default=1)
    sort: Mapped[int] = mapped_column(Integer, default=0)
    campus: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # 分管校领导: the school leader in charge of this department, kept by the information center.
    leader_in_charge_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", use_alter=True))
    wecom_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    updated_at: Mapped[datetime | None]

    parent: Mapped[Department | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Department]] = relationship(back_populates="parent")
    leader_in_charge: Mapped[Person | None] = relationship(foreign_keys=[leader_in_charge_id])


class Person(Base):
    """Anyone the hall knows: staff, students (from the data center) and off-campus people."""

    __tablename__ = "person"
    __table_args__ = (
        Index("ix_person_kind_number", "kind", "number"),
        Index("ix_person_department_id", "department_id"),
        Index("ix_person_mobile", "mobile"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The WeCom userid and the login name: the staff or student number for school members.
    userid: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[PersonKind] = mapped_column(value_enum(PersonKind, "person_kind"))
    number: Mapped[str | None] = mapped_column(String(32))  # GH / XH
    name: Mapped[str] = mapped_column(String(64))
    gender: Mapped[str | None] = mapped_column(String(8))
    mobile: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(128))
    post: Mapped[str | None] = mapped_column(String(64))  # 职务 (ZW)
    status: Mapped[PersonStatus] = mapped_column(
        value_enum(PersonStatus, "person_status"), default=PersonStatus.ACTIVE
    )
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    counsellor_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    # Kind-specific profile facts (major, class, grade, student level, ...), prefill sources.
    profile: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]

    department: Mapped[Department | None] = relationship(foreign_keys=[department_id])
    counsellor: Mapped[Person | None] = relationship(remote_side=[id])
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )
    grants: Mapped[list[RoleGrant]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )


class Membership(Base):
    """Person ↔ department (a person may belong to several; one is primary)."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("person_id", "department_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    primary: Mapped[bool] = mapped_column(Boolean, default=True)
    post: Mapped[str | None] = mapped_column(String(64))

    person: Mapped[Person] = relationship(back_populates="memberships")
    department: Mapped[Department] = relationship()


class Role(Base):
    __tablename__ = "role"

    code: Mapped[RoleCode] = mapped_column(value_enum(RoleCode, "role_code"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))


class GrantSource(enum.StrEnum):
    SYNC = "sync"  # derived by the nightly sync; replaced by the next one
    MANUAL = "manual"  # granted by the information center; never touched by the sync


class RoleGrant(Base):
    """A role held by a person, scoped to a department (or school-wide when none)."""

    __tablename__ = "role_grant"
    __table_args__ = (
        UniqueConstraint("person_id", "role_code", "department_id", name="uq_role_grant"),
        Index("ix_role_grant_lookup", "role_code", "department_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    role_code: Mapped[RoleCode] = mapped_column(
        value_enum(RoleCode, "role_code"), ForeignKey("role.code")
    )
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    source: Mapped[GrantSource] = mapped_column(
        value_enum(GrantSource, "grant_source"), default=GrantSource.MANUAL
    )

    person: Mapped[Person] = relationship(back_populates="grants")
    department: Mapped[Department | None] = relationship()


# --------------------------------------------------------------------- processes


class ProcessDefinition(Base):
    """A service (事项) of the catalogue; its content lives in immutable versions."""

    __tablename__ = "process_definition"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    # The version new applications start on; None until the first publication.
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_version.id", use_alter=True)
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    department: Mapped[Department] = relationship()
    versions: Mapped[list[ProcessVersion]] = relationship(
        back_populates="process",
        foreign_keys="ProcessVersion.process_id",
        order_by="ProcessVersion.number",
    )
    current_version: Mapped[ProcessVersion | None] = relationship(
        foreign_keys=[current_version_id], post_update=True
    )


class ProcessVersion(Base):
    """One frozen version of a process: catalogue entry + form + flow as a validated spec."""

    __tablename__ = "process_version"
    __table_args__ = (UniqueConstraint("process_id", "number", name="uq_process_version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"))
    number: Mapped[int] = mapped_column(Integer)
    # Denormalised from the spec for catalogue queries.
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(32))
    audience: Mapped[list[Any]] = mapped_column()
    spec: Mapped[dict[str, Any]] = mapped_column()
    published_at: Mapped[datetime]
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))

    process: Mapped[ProcessDefinition] = relationship(
        back_populates="versions", foreign_keys=[process_id]
    )


class ProcessScope(Base):
    """Departments whose members may see a process (computed by the sync from the spec)."""

    __tablename__ = "process_scope"
    __table_args__ = (UniqueConstraint("process_id", "department_id", name="uq_process_scope"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id", ondelete="CASCADE"))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)


# ------------------------------------------------------------------ applications


class Application(Base):
    """An application (办件) on one frozen process version."""

    __tablename__ = "application"
    __table_args__ = (
        Index("ix_application_applicant", "applicant_id", "created_at"),
        Index("ix_application_status", "status", "created_at"),
    )
    TRANSITIONS: ClassVar[dict[str, Transition[AppStatus]]] = APP_TRANSITIONS

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    serial: Mapped[str] = mapped_column(String(32), unique=True)  # 办件编号, shown to people
    process_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))
    applicant_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    title: Mapped[str] = mapped_column(String(200))
    _status: Mapped[AppStatus] = mapped_column(
        "status", value_enum(AppStatus, "app_status"), default=AppStatus.DRAFT
    )
    form: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)  # handlers' result fields
    current_step: Mapped[int | None] = mapped_column(Integer)
    # On resubmission after a return, the flow resumes at this step.
    resume_step: Mapped[int | None] = mapped_column(Integer)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)  # needs an admin's eye
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]
    last_urged_at: Mapped[datetime | None]
    # Optimistic lock on top of the row lock: a stale writer fails instead of overwriting.
    row_version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": row_version}  # noqa: RUF012 - SQLAlchemy's own hook

    # Read-only ways to rows the application points at: the services set the ids
    # themselves, and a flush has four dependencies fewer to sort on every decision.
    process: Mapped[ProcessDefinition] = relationship(viewonly=True)
    version: Mapped[ProcessVersion] = relationship(viewonly=True)
    applicant: Mapped[Person] = relationship(foreign_keys=[applicant_id], viewonly=True)
    department: Mapped[Department | None] = relationship(viewonly=True)
    tasks: Mapped[list[Task]] = relationship(
        back_populates="application", order_by="Task.id", cascade="all, delete-orphan"
    )

    @property
    def status(self) -> AppStatus:
        return self._status

    def _set_status(self, value: AppStatus) -> None:
        self._status = value


class SerialCounter(Base):
    """The daily counter behind application serials (one row per local day, upserted)."""

    __tablename__ = "serial_counter"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)  # YYYYMMDD
    value: Mapped[int] = mapped_column(Integer, default=0)


class TaskOrigin(enum.StrEnum):
    FLOW = "flow"  # created by the step's approver rule
    TRANSFER = "transfer"  # 转交 from another task
    ADD_BEFORE = "add_before"  # 加签 before the adding reviewer
    ADD_AFTER = "add_after"  # 加签 after the adding reviewer
    FALLBACK = "fallback"  # the rule found nobody: the owning department's administrator


class Task(Base):
    """One person's part in one step of an application."""

    __tablename__ = "task"
    __table_args__ = (
        Index("ix_task_assignee_status", "assignee_id", "status", "created_at"),
        Index("ix_task_assignee_decided", "assignee_id", "decided_at"),
        Index("ix_task_application", "application_id", "step_index"),
    )
    TRANSITIONS: ClassVar[dict[str, Transition[TaskStatus]]] = TASK_TRANSITIONS

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id", ondelete="CASCADE"))
    step_index: Mapped[int] = mapped_column(Integer)
    step_key: Mapped[str] = mapped_column(String(64))
    # Every activation of a step (first pass, after a return) is a new round.
    round: Mapped[int] = mapped_column(Integer, default=1)
    seq: Mapped[int] = mapped_column(Integer, default=0)  # order within a sequential step
    assignee_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    _status: Mapped[TaskStatus] = mapped_column(
        "status", value_enum(TaskStatus, "task_status"), default=TaskStatus.PENDING
    )
    origin: Mapped[TaskOrigin] = mapped_column(
        value_enum(TaskOrigin, "task_origin"), default=TaskOrigin.FLOW
    )
    # transfer/add source; indexed so removing a task need not scan every task for children
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"), index=True)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    comment: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)  # handling steps' fields
    acted_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))  # delegate
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]  # the last deadline reminder (hall/reminders.py)
    # The WeCom card sent for this task, so it can be updated after a decision elsewhere.
    card_task_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    card_response_code: Mapped[str | None] = mapped_column(String(128))

    application: Mapped[Application] = relationship(back_populates="tasks")
    # Read-only, both: the engine sets `assignee_id` and `parent_id` itself (the person and
    # the parent task always exist before the task). A writable `parent` makes the task
    # table depend on itself, and every flush then sorts the tasks one by one: about a
    # tenth of a card click's CPU; `assignee` is one dependency less to sort.
    assignee: Mapped[Person] = relationship(foreign_keys=[assignee_id], viewonly=True)
    parent: Mapped[Task | None] = relationship(remote_side=[id], viewonly=True)

    @property
    def status(self) -> TaskStatus:
        return self._status

    def _set_status(self, value: TaskStatus) -> None:
        self._status = value


class Comment(Base):
    __tablename__ = "comment"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE"), index=True
    )
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    author: Mapped[Person] = relationship()


class Attachment(Base):
    """Metadata of an uploaded file; the bytes live outside the web root by `storage_key`."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE"), index=True
    )
    uploader_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    field_key: Mapped[str | None] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ActionLog(Base):
    """Append-only history of everything that happened to an application."""

    __tablename__ = "action_log"
    __table_args__ = (Index("ix_action_log_application", "application_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id", ondelete="CASCADE"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))  # None = the system
    action: Mapped[str] = mapped_column(String(32))
    step_index: Mapped[int | None] = mapped_column(Integer)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    actor: Mapped[Person | None] = relationship()
    # Lets a new application, its tasks and their entries go out in one flush, in FK order.
    application: Mapped[Application] = relationship()
    task: Mapped[Task | None] = relationship()


class Follower(Base):
    """Someone who may read an application without a task on it (CC'd, named in it)."""

    __tablename__ = "follower"
    __table_args__ = (
        UniqueConstraint("application_id", "person_id", name="uq_follower"),
        Index("ix_follower_person", "person_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    reason: Mapped[str] = mapped_column(String(20))  # cc, consent, ...
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    application: Mapped[Application] = relationship()


class IdempotencyRecord(Base):
    """The answer given to a decision carrying an idempotency key, replayed on a retry."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("actor_id", "key", name="uq_idempotency_actor_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    key: Mapped[str] = mapped_column(String(128))
    fingerprint: Mapped[str] = mapped_column(String(64))  # hash of the request it answered
    response: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delegation(Base):
    """While `delegator` is away (start..end), their new tasks go to `delegate`."""

    __tablename__ = "delegation"
    __table_args__ = (
        CheckConstraint("start_date <= end_date", name="dates_ordered"),
        Index("ix_delegation_lookup", "delegator_id", "start_date", "end_date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delegator_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    delegate_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Invitation(Base):
    """A school member's invitation to someone off campus to apply (入校预约).

    The SMS link names it (signed by the web layer); the invitee's submission uses it up,
    in the submission's own transaction. `values` are the fields the inviter filled,
    already validated, which the invitee's form cannot change.
    """

    __tablename__ = "invitation"
    __table_args__ = (Index("ix_invitation_host", "host_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"))
    host_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    name: Mapped[str] = mapped_column(String(32))  # the invitee, as the inviter wrote it
    phone: Mapped[str] = mapped_column(String(20))
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("application.id", ondelete="SET NULL"), unique=True
    )
    # The outbox row of its SMS: how the inviter learns whether the text went out.
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))

    process: Mapped[ProcessDefinition] = relationship(viewonly=True)
    host: Mapped[Person] = relationship(viewonly=True)


# ----------------------------------------------------------- outbox and channels


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"  # committed, not yet handed to the queue
    RELAYED = "relayed"  # fanned out into deliveries


class Outbox(Base):
    """A notification caused by an action, written in the action's own transaction."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "status", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # e.g. task_assigned, application_result
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("application.id", ondelete="SET NULL")
    )
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id", ondelete="SET NULL"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[OutboxStatus] = mapped_column(
        value_enum(OutboxStatus, "outbox_status"), default=OutboxStatus.PENDING
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    relayed_at: Mapped[datetime | None]

    # The engine links rows by reference: a new application or task has no id until the
    # unit of work's flush, which then writes them all in foreign-key order.
    application: Mapped[Application | None] = relationship()
    task: Mapped[Task | None] = relationship()


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"  # a job is (or should be) on the queue
    RETRY = "retry"  # failed; due again at next_attempt_at
    SENT = "sent"
    DEAD = "dead"  # gave up after max attempts; visible to the information center
    SKIPPED = "skipped"  # the channel does not carry this kind or recipient


class Delivery(Base):
    """One outbox message through one channel; the unit of retry."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("outbox_id", "channel", name="uq_delivery_outbox_channel"),
        Index("ix_delivery_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[DeliveryStatus] = mapped_column(
        value_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    outbox: Mapped[Outbox] = relationship()


class Notification(Base):
    """The in-app channel's notice list (消息): what a person was told, read or not."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_person", "person_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE")
    )
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class ApiToken(Base):
    """A bearer token for /api/v1; only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    person: Mapped[Person] = relationship()


@event.listens_for(Session, "before_flush")
def _action_log_is_append_only(session: Session, _ctx: object, _instances: object) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, ActionLog) and (obj in session.deleted or session.is_modified(obj)):
            raise RuntimeError("action_log is append-only")


# ------------------------------------------------------- designer and statistics


class ProcessDraft(Base):
    """A process definition being edited in the designer (one shared draft per process).

    `data` is the plain definition as the designer last saved it; it may be invalid (the
    designer shows the problems). `base_version_id` is the version it was started from,
    so publishing can show what changed. `revision` counts saves (stale-save detection).
    """

    __tablename__ = "process_draft"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    process_key: Mapped[str] = mapped_column(String(64), unique=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    base_version_id: Mapped[int | None] = mapped_column(ForeignKey("process_version.id"))
    data: Mapped[dict[str, Any]] = mapped_column()
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    department: Mapped[Department] = relationship()


class ProcessVisit(Base):
    """One view of a process page (the catalogue entry), for visit statistics."""

    __tablename__ = "process_visit"
    __table_args__ = (Index("ix_process_visit_process", "process_id", "visited_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    visited_at: Mapped[datetime] = mapped_column(default=utcnow)


# Statistics read these ranges without touching the tables' rows (index-only scans):
# applications of some processes in a date range with their status and department, the
# tasks of those applications with their timings, and the open tasks per reviewer.
Index(
    "ix_application_stats",
    Application.process_id,
    Application.created_at,
    postgresql_include=["status", "department_id"],
)
Index(
    "ix_task_open_by_assignee",
    Task.assignee_id,
    postgresql_where=Task.__table__.c.status == "pending",
    sqlite_where=Task.__table__.c.status == "pending",
    postgresql_include=["application_id", "activated_at"],
)


class StatsDaily(Base):
    """Finished tasks of one process step, by the local day their application was created:
    how many were decided, a histogram of their handling times (`hall.stats_daily`), and
    the overdue figures. Rebuilt per day from the tasks, so folding a day twice is harmless."""

    __tablename__ = "stats_daily"

    process_id: Mapped[int] = mapped_column(
        ForeignKey("process_definition.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    step_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    step_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    finished: Mapped[int] = mapped_column(Integer, default=0)  # tasks no longer open
    decided: Mapped[int] = mapped_column(Integer, default=0)  # with a handling time
    histogram: Mapped[dict[str, Any]] = mapped_column(default=dict)  # bucket → tasks
    timed: Mapped[int] = mapped_column(Integer, default=0)  # finished, with a due time
    late: Mapped[int] = mapped_column(Integer, default=0)  # decided after the due time


class StatsMonthly(Base):
    """`StatsDaily` summed over a calendar month (`month`: its first day), so a long range
    reads a row per month and step instead of one per day; rewritten with its days."""

    __tablename__ = "stats_monthly"

    process_id: Mapped[int] = mapped_column(
        ForeignKey("process_definition.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    step_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    step_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    finished: Mapped[int] = mapped_column(Integer, default=0)
    decided: Mapped[int] = mapped_column(Integer, default=0)
    histogram: Mapped[dict[str, Any]] = mapped_column(default=dict)
    timed: Mapped[int] = mapped_column(Integer, default=0)
    late: Mapped[int] = mapped_column(Integer, default=0)


class StatsApplications(Base):
    """Applications (drafts excluded) of one process created on one local day by applicants
    of one department, by status: maintained with `StatsDaily` by the same fold."""

    __tablename__ = "stats_applications"
    __table_args__ = (Index("ix_stats_applications_day", "process_id", "day"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    department_id: Mapped[int | None] = mapped_column(BigId)  # the applicant's, or none
    applications: Mapped[int] = mapped_column(Integer)
    approved: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    in_progress: Mapped[int] = mapped_column(Integer)  # pending or returned
    withdrawn: Mapped[int] = mapped_column(Integer)


class StatsWatermark(Base):
    """How far the statistics fold has read `action_log` (one row). `complete`: whether
    `stats_applications` counts every application and `stats_monthly` sums every day (a
    rebuild, or a first fold of the whole log, made it so; false after the migration that
    added them, until `hall stats rebuild`)."""

    __tablename__ = "stats_watermark"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_log_id: Mapped[int] = mapped_column(BigInteger, default=0)
    folded_at: Mapped[datetime | None]
    complete: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


# The live parts of the statistics: open tasks with a due time (overdue now), and the
# pending tasks of open applications (reviewers' backlogs), each a small partial index.
Index(
    "ix_task_open_due",
    Task.application_id,
    postgresql_where=Task.__table__.c.status.in_(["waiting", "pending"])
    & Task.__table__.c.due_at.is_not(None),
    sqlite_where=Task.__table__.c.status.in_(["waiting", "pending"])
    & Task.__table__.c.due_at.is_not(None),
    postgresql_include=["step_index", "step_key", "status", "due_at"],
)
Index(
    "ix_task_pending_application",
    Task.application_id,
    postgresql_where=Task.__table__.c.status == "pending",
    sqlite_where=Task.__table__.c.status == "pending",
    postgresql_include=["assignee_id", "activated_at"],
)
Index(
    "ix_application_open",
    Application.id,
    postgresql_where=Application.__table__.c.status.in_(["pending", "returned"]),
    sqlite_where=Application.__table__.c.status.in_(["pending", "returned"]),
    postgresql_include=["process_id"],
)
