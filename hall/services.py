"""The hall's command API: one method, one unit of work.

Entry points (API views, WeCom callbacks, CLI, jobs) call these and map the domain errors:
NotFound → 404, Invalid → 422, Conflict/AlreadyDecided → 409, RateLimited → 429.
Every method that changes an application locks its row first (SELECT ... FOR UPDATE on
PostgreSQL; SQLite serialises writers with BEGIN IMMEDIATE), then reads task state.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, joinedload

from hall import invitations
from hall.access import reach_of
from hall.clock import Clock, SystemClock
from hall.db import Database
from hall.definitions import DECISION_FILES, FieldType, FormField, ProcessSpec, Step, StepKind
from hall.engine import Flow, local_date
from hall.errors import (
    AlreadyDecided,
    Conflict,
    Invalid,
    InviteOnly,
    NotFound,
    RateLimited,
    ReasonRequired,
    UnknownPerson,
)
from hall.forms import (
    SessionReferences,
    applicant_profile,
    attachment_ids,
    prefill,
    validate_form,
)
from hall.models import (
    Application,
    Attachment,
    Comment,
    Follower,
    IdempotencyRecord,
    Invitation,
    Person,
    PersonKind,
    PersonStatus,
    ProcessDefinition,
    ProcessScope,
    ProcessVersion,
    SerialCounter,
    Task,
)
from hall.outbox import Kind, emit
from hall.processes import get_process, version_spec
from hall.states import AppStatus, TaskStatus, fire

DEFAULT_URGE_MINUTES = 30
COMMENT_MAX = 2000
RETURN_REASON_MISSING = "请填写退回原因，说明需要修改什么"
SAME_REVIEWER = "已是该待办的处理人"
CC_MAX = 50
IDEMPOTENCY_KEY_MAX = 128
ACTIONS = ("approve", "reject", "return", "transfer", "add_signer")


@dataclass(frozen=True)
class Decision:
    action: Literal["approve", "reject", "return", "transfer", "add_signer"]
    comment: str | None = None
    return_to: str | None = None  # "applicant" (default for return) or an EARLIER step key
    target_userid: str | None = None  # transfer / add_signer target
    position: Literal["before", "after"] = "after"  # add_signer
    result: dict[str, Any] | None = None  # handling steps: the result fields the handler fills
    # Files the reviewer uploaded for this decision (DECISION_FILES), any action.
    attachments: tuple[int, ...] = ()


@dataclass(frozen=True)
class ActionResult:
    application_id: int
    serial: str
    status: str  # AppStatus value after the action
    task_id: int | None = None
    task_status: str | None = None
    message: str = ""  # short zh_CN text, e.g. "已同意", "已驳回", "已退回", "已提交"
    replayed: bool = False  # answered from an idempotency record (a card click: the task)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActionResult:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class _KeyTaken(Exception):
    """Another request stored the same idempotency key first; answer from its record."""


class _Idempotency:
    """Replay or remember one request's answer under (actor, key)."""

    def __init__(self, actor_id: int, key: str | None, operation: str, request: Any) -> None:
        if key is not None and not 0 < len(key) <= IDEMPOTENCY_KEY_MAX:
            raise Invalid("幂等键无效", fields={"idempotency_key": "长度应为1到128个字符"})
        self.actor_id = actor_id
        self.key = key
        body = json.dumps([operation, request], sort_keys=True, ensure_ascii=False, default=str)
        self.fingerprint = hashlib.sha256(body.encode()).hexdigest()

    def _record(self, session: Session) -> IdempotencyRecord | None:
        return session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.actor_id == self.actor_id, IdempotencyRecord.key == self.key
            )
        )

    def replay(self, session: Session) -> ActionResult | None:
        if self.key is None:
            return None
        record = self._record(session)
        if record is None:
            return None
        if record.fingerprint != self.fingerprint:
            raise Conflict("该幂等键已用于另一个请求")
        return ActionResult.from_dict({**record.response, "replayed": True})

    def remember(self, session: Session, result: ActionResult, now: Any) -> None:
        if self.key is None or result.replayed:
            return
        response = result.to_dict()
        response.pop("replayed")
        session.add(
            IdempotencyRecord(
                actor_id=self.actor_id,
                key=self.key,
                fingerprint=self.fingerprint,
                response=response,
                created_at=now,
            )
        )
        # No savepoint: if another request stored this key first, this whole unit of work
        # (the decision with it) must roll back anyway, and the caller replays theirs.
        try:
            session.flush()
        except IntegrityError:
            raise _KeyTaken from None


_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def _refuse_uninvited(spec: ProcessSpec) -> None:
    if spec.options.invite is not None and spec.options.invite.only:
        raise InviteOnly("本事项须由校内教职工邀请后办理")


def _check_host(session: Session, field: str, values: Mapping[str, Any], actor: Person) -> None:
    """A process staff invite to has a member of staff as its host: never the applicant
    (whose own step would pass by itself, and give them a pass they approved)."""
    userid = values.get(field)
    host = session.scalar(select(Person).where(Person.userid == userid)) if userid else None
    if (
        host is None
        or host.kind != PersonKind.STAFF
        or host.status != PersonStatus.ACTIVE
        or host.id == actor.id
    ):
        raise Invalid("表单填写有误", fields={field: "接待人须为本校在职教职工"})


def display_value(spec: FormField, value: Any, people: Mapping[str, str] | None = None) -> str:
    """A form value as people read it (option labels, ranges, lists; a person field's
    userid as `people` names it, see `queries.person_labels`)."""
    if value is None:
        return ""
    if spec.type == FieldType.PERSON and isinstance(value, str):
        return (people or {}).get(value, value)
    labels = {o.value: o.label for o in spec.options}
    if spec.type == FieldType.CHOICE:
        return labels.get(value, str(value))
    if spec.type == FieldType.MULTICHOICE and isinstance(value, list):
        return "、".join(labels.get(v, str(v)) for v in value)
    if isinstance(value, dict) and {"start", "end"} <= set(value):
        # 2026-12-03T09:00 is stored (ISO), 2026-12-03 09:00 is read
        return f"{str(value['start']).replace('T', ' ')} 至 {str(value['end']).replace('T', ' ')}"
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def handling_results(spec: ProcessSpec, result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What the handling steps filled in (处理结果, a certificate number, a pickup code ...)
    as (label, text) pairs in the flow's order: what the applicant waits to read."""
    shown = []
    for step in spec.flow:
        for spec_field in step.result_fields:
            value = result.get(spec_field.key)
            if spec_field.type != FieldType.ATTACHMENT and value not in (None, "", [], {}):
                shown.append((spec_field.label, display_value(spec_field, value)))
    return shown


def result_outcome(outcome: str, spec: ProcessSpec) -> str:
    """An approved application of a process that handling steps carry out reads 已办结."""
    handled = any(step.kind == StepKind.HANDLE for step in spec.flow)
    return "handled" if outcome == AppStatus.APPROVED.value and handled else outcome


def render_title(spec: ProcessSpec, applicant: Person, form: Mapping[str, Any]) -> str:
    values = {"applicant": applicant.name, "process": spec.name}
    if "{department}" in spec.title_template:  # a query: only when the title shows it
        values["department"] = applicant.department.name if applicant.department else ""
    for field in spec.form:
        if field.type != FieldType.ATTACHMENT:
            values[field.key] = display_value(field, form.get(field.key))
    title = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), spec.title_template)
    return title.strip()[:200] or spec.name


def _lock_statement(application_id: ColumnElement[int]) -> Select[Application]:
    # One round trip: the row lock (on the application only) plus what every action
    # reads next, its version and its applicant.
    return (
        select(Application)
        .options(joinedload(Application.version), joinedload(Application.applicant))
        .where(Application.id == application_id)
        .with_for_update(of=Application)
        .execution_options(populate_existing=True)
    )


# The statements of a card click, built once: building a statement and its cache key costs
# more CPU than running it from the compiled cache (bench/callback_bench.py).
_LOCK_APPLICATION = _lock_statement(bindparam("application_id"))
_LOCK_TASK_APPLICATION = _lock_statement(
    select(Task.application_id).where(Task.id == bindparam("task_id")).scalar_subquery()
)
_PERSON_BY_USERID = select(Person).where(Person.userid == bindparam("userid"))
_PERSON_BY_USERID_ANY_CASE = select(Person).where(func.lower(Person.userid) == bindparam("lower"))
_CLICKER = aliased(Person, name="clicker")
# A card click's lock also finds who clicked (same userid) and loads the application's
# tasks, which the engine reads next: two round trips fewer.
_LOCK_TASK_APPLICATION_AND_CLICKER = (
    _LOCK_TASK_APPLICATION.add_columns(_CLICKER)
    .outerjoin(_CLICKER, _CLICKER.userid == bindparam("userid"))
    .options(joinedload(Application.tasks))
)


def _locked(
    session: Session, statement: Select[Application], params: dict[str, int]
) -> Application:
    app = session.scalar(statement, params)
    if app is None:
        raise NotFound("申请不存在")
    return app


class Hall:
    """Application services; each method is one unit of work (opens db.unit_of_work(), commits)."""

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock: Clock = clock or SystemClock()

    # ------------------------------------------------------------ plumbing

    def _run(
        self, guard: _Idempotency | None, work: Callable[[Session], ActionResult]
    ) -> ActionResult:
        try:
            with self.db.unit_of_work() as session:
                result = work(session)
                if guard is not None:
                    guard.remember(session, result, self.clock.now())
                return result
        except _KeyTaken:
            assert guard is not None
            with self.db.reader() as session:
                replayed = guard.replay(session)
            if replayed is None:
                raise Conflict("请求正在处理，请稍后重试") from None
            return replayed

    @staticmethod
    def _actor(session: Session, actor_id: int) -> Person:
        actor = session.get(Person, actor_id)
        if actor is None or actor.status != PersonStatus.ACTIVE:
            raise NotFound("用户不存在")
        return actor

    @staticmethod
    def _lock(session: Session, application_id: int) -> Application:
        return _locked(session, _LOCK_APPLICATION, {"application_id": application_id})

    @staticmethod
    def _lock_task(session: Session, task_id: int) -> Application:
        """Lock the application of task `task_id`, in the same one round trip."""
        try:
            return _locked(session, _LOCK_TASK_APPLICATION, {"task_id": task_id})
        except NotFound:
            raise NotFound("待办不存在") from None

    def _flow(self, session: Session, app: Application) -> Flow:
        return Flow(session, app, self.clock.now())

    @staticmethod
    def _result(app: Application, message: str, task: Task | None = None) -> ActionResult:
        return ActionResult(
            application_id=app.id,
            serial=app.serial,
            status=app.status.value,
            task_id=task.id if task is not None else None,
            task_status=task.status.value if task is not None else None,
            message=message,
        )

    def _can_see(self, session: Session, app: Application, person_id: int) -> bool:
        if app.applicant_id == person_id:
            return True
        if any(t.assignee_id == person_id for t in app.tasks):
            return True
        follower = session.scalar(
            select(Follower.id).where(
                Follower.application_id == app.id, Follower.person_id == person_id
            )
        )
        return follower is not None

    def _version_for(self, session: Session, actor: Person, process_key: str) -> ProcessVersion:
        """The current version of a process the actor may apply for."""
        process: ProcessDefinition = get_process(session, process_key)
        version = process.current_version
        assert version is not None  # get_process guarantees a published version
        if not process.active or actor.kind.value not in version.audience:
            raise NotFound("事项不存在")
        scoped = set(
            session.scalars(
                select(ProcessScope.department_id).where(ProcessScope.process_id == process.id)
            )
        )
        if scoped and actor.department_id not in scoped:
            raise NotFound("事项不存在")
        return version

    def _next_serial(self, session: Session) -> str:
        day = local_date(self.clock.now()).strftime("%Y%m%d")
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        stmt = (
            insert(SerialCounter)
            .values(day=day, value=1)
            .on_conflict_do_update(
                index_elements=[SerialCounter.day], set_={"value": SerialCounter.value + 1}
            )
            .returning(SerialCounter.value)
        )
        number = session.execute(stmt).scalar_one()
        return f"{day}{number:05d}"

    def _clean_form(
        self,
        session: Session,
        spec: ProcessSpec,
        actor: Person,
        form: Any,
        application_id: int | None,
        *,
        partial: bool = False,
    ) -> dict[str, Any]:
        if not isinstance(form, Mapping):
            raise Invalid("表单格式不正确", fields={"_form": "表单格式不正确"})
        refs = SessionReferences(session, actor.id, application_id)
        if partial:
            data = form
        else:
            # The profile reads the applicant's department: only when a field asks for it.
            asks = any(field.prefill for field in spec.form)
            data = prefill(spec.form, form, applicant_profile(actor) if asks else {})
        check = validate_form(spec.form, data, refs, partial=partial)
        if not check.ok:
            raise Invalid("表单填写有误", fields=check.errors)
        if not partial and spec.options.invite is not None:
            _check_host(session, spec.options.invite.host_field, check.values, actor)
        return check.values

    def _clean_invited(
        self,
        session: Session,
        spec: ProcessSpec,
        actor: Person,
        form: Any,
        application_id: int | None,
        *,
        invitation: Invitation | None,
    ) -> dict[str, Any]:
        """`_clean_form` with the inviter's fields put back over the invitee's. A problem
        with those (a rule changed since, the host left) is not the invitee's to fix."""
        try:
            return self._clean_form(
                session, spec, actor, invitations.overriding(invitation, form), application_id
            )
        except Invalid as exc:
            fields = exc.detail.get("fields")
            if invitation is None or not isinstance(fields, dict):
                raise
            theirs = {k: v for k, v in fields.items() if k not in invitation.values}
            if len(theirs) == len(fields):
                raise
            stale = "邀请内容已失效，请联系邀请人重新邀请"
            raise Invalid(stale, fields={**theirs, "_form": stale}) from None

    def _link_attachments(
        self, session: Session, spec: ProcessSpec, app: Application, actor: Person
    ) -> None:
        linked = attachment_ids(spec.form, app.form)
        if not linked:
            return
        session.flush()  # the application's id, for the attachments to point at
        rows = session.scalars(
            select(Attachment).where(
                Attachment.id.in_(list(linked)), Attachment.uploader_id == actor.id
            )
        )
        for row in rows:
            row.application_id = app.id
            row.field_key = linked[row.id]

    def _own(self, session: Session, actor: Person, application_id: int) -> Application:
        """Lock one of the actor's applications (someone else's is "not found")."""
        app = self._lock(session, application_id)
        if app.applicant_id != actor.id:
            raise NotFound("申请不存在")
        return app

    @staticmethod
    def _still_draft(app: Application) -> Application:
        if app.status != AppStatus.DRAFT:
            raise Conflict("该申请已提交，不能再按草稿处理")
        return app

    def _new_application(
        self, session: Session, actor: Person, version: ProcessVersion, serial: str
    ) -> Application:
        app = Application(
            serial=serial,
            process=version.process,
            process_id=version.process_id,
            version=version,
            version_id=version.id,
            tasks=[],  # known empty: the engine need not load it
            _status=AppStatus.DRAFT,  # the initial state; every later one is a transition
            result={},  # read by the flow before the first flush
            flagged=False,
            applicant=actor,
            applicant_id=actor.id,
            department_id=actor.department_id,
            title="",
            form={},
            created_at=self.clock.now(),
        )
        session.add(app)
        return app

    # ---------------------------------------------------------- applicant

    def save_draft(
        self,
        actor_id: int,
        process_key: str,
        form: dict[str, Any],
        *,
        application_id: int | None = None,
    ) -> ActionResult:
        def work(session: Session) -> ActionResult:
            actor = self._actor(session, actor_id)
            version = self._version_for(session, actor, process_key)
            _refuse_uninvited(version_spec(version))  # a draft it could never submit
            if application_id is None:
                app = self._new_application(session, actor, version, f"D{uuid.uuid4().hex[:20]}")
            else:
                app = self._still_draft(self._own(session, actor, application_id))
                if app.process_id != version.process_id:
                    raise NotFound("申请不存在")
                app.version_id = version.id
                app.version = version
            spec = version_spec(version)
            values = self._clean_form(session, spec, actor, form, app.id, partial=True)
            app.form = values
            app.title = render_title(spec, actor, values)
            app.updated_at = self.clock.now()
            fire(app, "save_draft")
            session.flush()
            self._link_attachments(session, spec, app, actor)
            flow = self._flow(session, app)
            flow.log("save_draft", actor_id=actor.id, to_status=app.status.value)
            return self._result(app, "已保存草稿")

        return self._run(None, work)

    def submit(
        self,
        actor_id: int,
        process_key: str,
        form: dict[str, Any],
        *,
        application_id: int | None = None,
        idempotency_key: str | None = None,
        invitation_id: int | None = None,
    ) -> ActionResult:
        """Submit a new application (or one of the actor's drafts). With `invitation_id`,
        the invitation's fields override the form's, and the submission uses it up."""
        guard = _Idempotency(
            actor_id,
            idempotency_key,
            "submit",
            [process_key, form, application_id, invitation_id],
        )

        def work(session: Session) -> ActionResult:
            actor = self._actor(session, actor_id)
            draft = None
            if application_id is not None:
                draft = self._own(session, actor, application_id)
            replayed = guard.replay(session)
            if replayed is not None:
                return replayed
            if draft is not None:
                self._still_draft(draft)
            version = self._version_for(session, actor, process_key)
            if draft is not None and draft.process_id != version.process_id:
                raise NotFound("申请不存在")
            spec = version_spec(version)
            invitation = None
            if invitation_id is None:
                _refuse_uninvited(spec)
            else:
                invitation = invitations.take(
                    session, self.clock.now(), actor, version.process_id, invitation_id
                )
            values = self._clean_invited(
                session, spec, actor, form, application_id, invitation=invitation
            )
            serial = self._next_serial(session)
            if draft is None:
                app = self._new_application(session, actor, version, serial)
            else:
                app = draft
                app.serial = serial
                app.version_id = version.id
                app.version = version
                app.department_id = actor.department_id
            now = self.clock.now()
            app.form = values
            app.title = render_title(spec, actor, values)
            app.submitted_at = now
            # No flush yet: the application's INSERT then carries the status and step the
            # flow gives it below, instead of an INSERT followed by an UPDATE.
            self._link_attachments(session, spec, app, actor)
            flow = self._flow(session, app)
            flow.fire_app("submit", "submit", actor_id=actor.id)
            flow.start(0)
            session.flush()  # what the flow wrote goes out in one go; the result needs the id
            if invitation is not None:
                invitation.application_id = app.id
            return self._result(app, "已提交")

        return self._run(guard, work)

    def resubmit(
        self,
        actor_id: int,
        application_id: int,
        form: dict[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> ActionResult:
        guard = _Idempotency(actor_id, idempotency_key, "resubmit", [application_id, form])

        def work(session: Session) -> ActionResult:
            actor = self._actor(session, actor_id)
            app = self._own(session, actor, application_id)
            replayed = guard.replay(session)
            if replayed is not None:
                return replayed
            if app.status != AppStatus.RETURNED:
                raise Conflict("只有被退回的申请可以重新提交")
            flow = self._flow(session, app)
            invitation = invitations.of_application(session, app.id)
            values = self._clean_invited(
                session, flow.spec, actor, form, app.id, invitation=invitation
            )
            app.form = values
            app.title = render_title(flow.spec, actor, values)
            self._link_attachments(session, flow.spec, app, actor)
            resume = app.resume_step if flow.spec.options.resubmit_from == "returner" else None
            app.resume_step = None
            flow.fire_app("resubmit", "resubmit", actor_id=actor.id)
            flow.resubmitted = True
            flow.start(resume or 0)
            return self._result(app, "已重新提交")

        return self._run(guard, work)

    def withdraw(
        self, actor_id: int, application_id: int, *, comment: str | None = None
    ) -> ActionResult:
        def work(session: Session) -> ActionResult:
            actor = self._actor(session, actor_id)
            app = self._own(session, actor, application_id)
            _check_comment(comment)
            if app.status not in {AppStatus.DRAFT, AppStatus.PENDING, AppStatus.RETURNED}:
                raise Conflict("该申请已结束，不能撤回")
            flow = self._flow(session, app)
            if app.status == AppStatus.PENDING and flow.reviewer_acted():
                raise Conflict("已有审批人处理，不能撤回")
            flow.withdraw(actor.id, comment)
            invitations.reopen(session, app.id)
            return self._result(app, "已撤回")

        return self._run(None, work)

    def revoke(self, actor_id: int, application_id: int, *, comment: str) -> ActionResult:
        """撤销: the applicant takes back an approved application within the process's
        `revoke_window_hours` of its result; the approvers are told why."""

        def work(session: Session) -> ActionResult:
            actor = self._actor(session, actor_id)
            app = self._own(session, actor, application_id)
            _check_comment(comment)
            if not isinstance(comment, str) or not comment.strip():
                raise Invalid(REVOKE_REASON, fields={"comment": REVOKE_REASON})
            if app.status != AppStatus.APPROVED:
                raise Conflict("只有已通过的申请可以撤销")
            flow = self._flow(session, app)
            until = revoke_deadline(flow.spec, app.finished_at)
            if until is None:
                raise Conflict("此事项通过后不能撤销")
            if self.clock.now() > until:
                hours = flow.spec.options.revoke_window_hours
                raise Conflict(f"已超过撤销期限（通过后{hours}小时内）")
            flow.revoke(actor.id, comment.strip())
            return self._result(app, "已撤销")

        return self._run(None, work)

    def urge(self, actor_id: int, application_id: int) -> ActionResult:
        def work(session: Session) -> ActionResult:
            actor = self._actor(session, actor_id)
            app = self._own(session, actor, application_id)
            if app.status != AppStatus.PENDING:
                raise Conflict("只有审批中的申请可以催办")
            flow = self._flow(session, app)
            interval = timedelta(
                minutes=flow.spec.options.urge_interval_minutes or DEFAULT_URGE_MINUTES
            )
            now = self.clock.now()
            pending = flow.pending_tasks()
            # A reviewer gets the interval to see a new to-do before the first urge, and
            # again after each urge: a 【催办】 card right behind the to-do's own is noise.
            received = min((t.activated_at or t.created_at for t in pending), default=now)
            waits = [(received + interval, "审批人刚收到待办，请{n}分钟后再催办")]
            if app.last_urged_at is not None:
                waits.append((app.last_urged_at + interval, "催办过于频繁，请{n}分钟后再试"))
            ready, message = max(waits)
            if now < ready:
                wait = ready - now
                wait_minutes = max(1, -(-int(wait.total_seconds()) // 60))
                raise RateLimited(
                    message.format(n=wait_minutes), retry_after=int(wait.total_seconds()) + 1
                )
            for task in pending:
                flow.notify(Kind.URGE, task.assignee_id, task=task, by=actor.name)
            app.last_urged_at = now
            app.updated_at = now
            flow.log(
                "urge",
                actor_id=actor.id,
                step_index=app.current_step,
                recipients=[t.assignee.userid for t in pending],
            )
            return self._result(app, "已催办")

        return self._run(None, work)

    # ------------------------------------------------------------ administrators

    def admin_reassign(
        self, admin_id: int, task_id: int, target_userid: str, comment: str | None = None
    ) -> ActionResult:
        """改派: an administrator of the process's department (or the information center)
        gives a pending task to someone else, for instance when its reviewer is away
        without a delegation. Anyone else gets NotFound."""

        def work(session: Session) -> ActionResult:
            admin = self._actor(session, admin_id)
            app = self._lock_task(session, task_id)
            if not reach_of(session, admin.id).covers(app.process.department_id):
                raise NotFound("待办不存在")
            flow = self._flow(session, app)
            task = session.get(Task, task_id)
            if task is None or task.status != TaskStatus.PENDING:
                raise AlreadyDecided("该待办已处理")
            _check_comment(comment)
            if target_userid.strip() == task.assignee.userid:
                raise Invalid(SAME_REVIEWER, fields={"target_userid": SAME_REVIEWER})
            # The task's own reviewer stands in for "oneself" in the usual checks.
            decision = Decision(action="transfer", target_userid=target_userid)
            target = self._target(session, flow, task, task.assignee, decision)
            new = flow.reassign_to(task, target, admin.id, comment)
            return self._result(app, "已改派", new)

        return self._run(None, work)

    # ------------------------------------------------------------- the hall

    def reassign_departed(self, application_id: int) -> tuple[int, int]:
        """Hand on the application's pending tasks whose reviewer is no longer active (the
        nightly sync or WeCom disabled them): (handed on, left because nobody could take
        them). A flow must not wait for someone who has left."""

        with self.db.unit_of_work() as session:
            app = self._lock(session, application_id)
            if app.status != AppStatus.PENDING:
                return 0, 0
            flow = self._flow(session, app)
            departed = [t for t in flow.pending_tasks() if t.assignee.status != PersonStatus.ACTIVE]
            stuck = sum(1 for task in departed if flow.reassign(task) is None)
            return len(departed) - stuck, stuck

    def time_out(self, task_id: int) -> str | None:
        """Carry out the step's `on_timeout` on a to-do past its deadline: the label
        (超时自动同意 / 超时自动驳回), or None when it is no longer pending and overdue or its
        step only reminds."""
        with self.db.unit_of_work() as session:
            application_id = session.scalar(select(Task.application_id).where(Task.id == task_id))
            if application_id is None:
                return None
            app = self._lock(session, application_id)
            if app.status != AppStatus.PENDING:
                return None
            flow = self._flow(session, app)
            task = next((t for t in flow.tasks if t.id == task_id), None)
            now = self.clock.now()
            if task is None or task.status != TaskStatus.PENDING:
                return None
            if task.due_at is None or task.due_at > now:
                return None
            return flow.time_out(task)

    def hand_to_delegates(self, application_id: int) -> int:
        """Move the application's pending tasks whose reviewer is away (a delegation that
        began after the task reached them) to the delegate; how many moved."""
        with self.db.unit_of_work() as session:
            app = self._lock(session, application_id)
            if app.status != AppStatus.PENDING:
                return 0
            flow = self._flow(session, app)
            return sum(1 for t in flow.pending_tasks() if flow.hand_to_delegate(t) is not None)

    # ---------------------------------------------------------- everyone

    def comment(self, actor_id: int, application_id: int, body: str) -> ActionResult:
        def work(session: Session) -> ActionResult:
            actor = self._actor(session, actor_id)
            app = self._lock(session, application_id)
            if not self._can_see(session, app, actor.id):
                raise NotFound("申请不存在")
            if app.status == AppStatus.DRAFT:
                raise Conflict("草稿不能评论")
            text = body.strip() if isinstance(body, str) else ""
            if not text:
                raise Invalid("请填写评论内容", fields={"body": "请填写评论内容"})
            if len(text) > COMMENT_MAX:
                raise Invalid("评论过长", fields={"body": f"不能超过{COMMENT_MAX}个字"})
            now = self.clock.now()
            session.add(
                Comment(application_id=app.id, author_id=actor.id, body=text, created_at=now)
            )
            flow = self._flow(session, app)
            flow.log("comment", actor_id=actor.id, step_index=app.current_step, comment=text)
            recipients = [app.applicant_id, *(t.assignee_id for t in flow.pending_tasks())]
            for recipient in dict.fromkeys(recipients):
                if recipient != actor.id:
                    flow.notify(Kind.COMMENT, recipient, by=actor.name, body=text[:200])
            return self._result(app, "已评论")

        return self._run(None, work)

    def cc(
        self,
        actor_id: int,
        application_id: int,
        userids: list[str],
        *,
        comment: str | None = None,
    ) -> ActionResult:
        def work(session: Session) -> ActionResult:
            actor = self._actor(session, actor_id)
            app = self._lock(session, application_id)
            if not self._can_see(session, app, actor.id):
                raise NotFound("申请不存在")
            reviewer = any(t.assignee_id == actor.id for t in app.tasks)
            if app.applicant_id != actor.id and not reviewer:
                raise Conflict("只有申请人或审批人可以抄送")
            if actor.kind == PersonKind.OFFCAMPUS:  # a phone number is no reason to card staff
                raise Conflict("校外人员不能抄送")
            if app.status == AppStatus.DRAFT:
                raise Conflict("草稿不能抄送")
            _check_comment(comment)
            people = _active_people(session, userids)
            flow = self._flow(session, app)
            added = flow.add_followers(people, "cc")
            for who in added:
                flow.notify(Kind.CC, who.id, by=actor.name, comment=comment)
            flow.log(
                "cc",
                actor_id=actor.id,
                step_index=app.current_step,
                comment=comment,
                userids=[p.userid for p in added],
            )
            return self._result(app, "已抄送")

        return self._run(None, work)

    # ----------------------------------------------------------- reviewer

    def decide(
        self,
        actor_id: int,
        task_id: int,
        decision: Decision,
        *,
        idempotency_key: str | None = None,
        via_card: bool = False,
    ) -> ActionResult:
        """Decide a task. `via_card`: the decision came from the task's own WeCom card,
        whose button the callback's reply already updated; otherwise a card sent for the
        task is told to show the decision (TASK_DECIDED)."""
        guard = _Idempotency(actor_id, idempotency_key, "decide", [task_id, asdict(decision)])
        return self._run(
            guard,
            lambda session: self._decide(
                session,
                self._actor(session, actor_id),
                task_id,
                decision,
                guard=guard,
                via_card=via_card,
            ),
        )

    def decide_as(self, userid: str, task_id: int, decision: Decision) -> ActionResult:
        """A decision from the task's WeCom card, by the WeCom userid that clicked.

        The userid is mapped to the person by the statement that locks the application: a
        card click is the hall's busiest write, and a read of its own for the mapping would
        cost it a round trip. Raises `UnknownPerson` for a userid that names no active
        person.

        No idempotency record is written: a retry of the same click (WeCom delivers a
        callback up to 3 times) finds the task already decided by this reviewer in the
        way the click asks, and answers as the first delivery did (`_card_replay`). The
        record would be one more INSERT on every click for what the task already says."""

        def work(session: Session) -> ActionResult:
            params = {"task_id": task_id, "userid": userid}
            result = session.execute(_LOCK_TASK_APPLICATION_AND_CLICKER, params)
            row = result.unique().one_or_none()
            if row is None:
                raise NotFound("待办不存在")
            app, actor = row
            if actor is None:  # maybe in another case: WeCom's userids ignore it
                actor = person_by_userid(session, userid)
            if actor is None or actor.status != PersonStatus.ACTIVE:
                raise UnknownPerson("用户不存在")
            return self._decide(
                session, actor, task_id, decision, guard=None, via_card=True, locked=app
            )

        return self._run(None, work)

    def _decide(
        self,
        session: Session,
        actor: Person,
        task_id: int,
        decision: Decision,
        *,
        guard: _Idempotency | None,
        via_card: bool,
        locked: Application | None = None,
    ) -> ActionResult:
        """`locked`: the task's application, when the caller has locked it already."""
        app = locked if locked is not None else self._lock_task(session, task_id)
        flow = self._flow(session, app)  # loads the application's tasks, this one too
        task = session.get(Task, task_id)
        open_ = task is not None and task.status == TaskStatus.PENDING
        mine = task is not None and task.assignee_id == actor.id
        if not (mine and open_ and app.status == AppStatus.PENDING):
            # Only a task that can no longer be decided may have been decided by this very
            # request before (a retry): look for its answer only then, not on every decision.
            if guard is not None:
                replayed = guard.replay(session)
            else:
                replayed = self._card_replay(app, task, actor, decision) if mine else None
            if replayed is not None:
                return replayed
            if task is None or not mine:
                raise NotFound("待办不存在")
            if task.status == TaskStatus.WAITING and app.status == AppStatus.PENDING:
                raise Conflict("还没有轮到您处理")
            raise AlreadyDecided("该待办已处理")
        assert task is not None  # mine
        message = self._apply(session, flow, task, actor, decision)
        if task.card_task_id and not via_card:
            emit(
                session,
                Kind.TASK_DECIDED,
                recipient_id=actor.id,
                application_id=app.id,
                task_id=task.id,
                label=message,
            )
        return self._result(app, message, task)

    @staticmethod
    def _card_replay(
        app: Application, task: Task | None, actor: Person, decision: Decision
    ) -> ActionResult | None:
        """The answer to a repeated card click: the task shows this reviewer already made it."""
        status, message = _DECIDED_AS.get(decision.action, (None, ""))
        if task is None or task.acted_by_id != actor.id or task.status != status:
            return None
        step = version_spec(app.version).flow[task.step_index]
        return replace(Hall._result(app, _decided_label(step, message), task), replayed=True)

    def _apply(
        self, session: Session, flow: Flow, task: Task, actor: Person, decision: Decision
    ) -> str:
        if decision.action not in ACTIONS:
            raise Invalid("未知的操作", fields={"action": "未知的操作"})
        _check_comment(decision.comment)
        for row in _decision_files(session, actor, decision.attachments):
            # Linked in the decision's transaction: a refused decision links nothing.
            row.application_id = flow.app.id
            row.field_key = decision_files_key(task.id)
        step = flow.step(task.step_index)
        if decision.action == "approve":
            flow.approve(task, actor.id, decision.comment, decision.result)
            flow.after_pass(task)
            return _decided_label(step, "已同意")
        if decision.action == "reject":
            flow.reject(task, actor.id, decision.comment)
            return _decided_label(step, "已驳回")
        if decision.action == "return":
            if not step.allow_return:
                raise Conflict("该环节不允许退回")
            if not (decision.comment or "").strip():
                raise ReasonRequired("退回须填写原因", fields={"comment": RETURN_REASON_MISSING})
            flow.return_(task, actor.id, decision.comment, decision.return_to or "applicant")
            return "已退回"
        target = self._target(session, flow, task, actor, decision)
        if decision.action == "transfer":
            if not step.allow_transfer:
                raise Conflict("该环节不允许转交")
            flow.transfer(task, actor.id, target, decision.comment)
            return "已转交"
        if not step.allow_add_signer:
            raise Conflict("该环节不允许加签")
        if decision.position == "before":
            flow.add_before(task, actor.id, target, decision.comment)
        elif decision.position == "after":
            flow.add_after(task, actor.id, target, decision.comment, decision.result)
        else:
            raise Invalid("加签位置无效", fields={"position": "应为 before 或 after"})
        return "已加签"

    @staticmethod
    def _target(
        session: Session, flow: Flow, task: Task, actor: Person, decision: Decision
    ) -> Person:
        userid = decision.target_userid
        problem = None
        target = None
        if not isinstance(userid, str) or not userid.strip():
            problem = "请选择人员"
        else:
            target = session.scalar(select(Person).where(Person.userid == userid.strip()))
            if target is None or target.status != PersonStatus.ACTIVE:
                problem = "人员不存在"
            elif target.id == actor.id:
                problem = "不能选择自己"
            elif target.id == flow.app.applicant_id:
                problem = "不能选择申请人"
            elif any(
                t.assignee_id == target.id and t.status in {TaskStatus.PENDING, TaskStatus.WAITING}
                for t in flow.round_tasks(task.step_index, task.round)
            ):
                problem = "该人员已在处理此环节"
        if problem is not None or target is None:
            raise Invalid(
                problem or "请选择人员", fields={"target_userid": problem or "请选择人员"}
            )
        return target


def _decided_label(step: Step, label: str) -> str:
    """A decision's word for the step's kind: a handling step is 已办理, not 已同意; a
    consent refused is 已拒绝, not 已驳回."""
    if step.kind == StepKind.HANDLE and label == "已同意":
        return "已办理"
    if step.kind == StepKind.CONSENT and label == "已驳回":
        return "已拒绝"
    return label


# What a task looks like once its reviewer has made each decision a card can carry.
_DECIDED_AS = {
    "approve": (TaskStatus.APPROVED, "已同意"),
    "reject": (TaskStatus.REJECTED, "已驳回"),
    "return": (TaskStatus.RETURNED, "已退回"),
    "transfer": (TaskStatus.TRANSFERRED, "已转交"),
}


def decision_files_key(task_id: int) -> str:
    """`Attachment.field_key` of the files attached to the decision on task `task_id`."""
    return f"decision:{task_id}"


def _decision_files(session: Session, actor: Person, ids: Sequence[int]) -> list[Attachment]:
    """The actor's own, not yet attached uploads `ids`, or Invalid."""

    def refuse(problem: str) -> Invalid:
        return Invalid("附件有误", fields={DECISION_FILES.key: problem})

    if not ids:
        return []
    if len(ids) > DECISION_FILES.max_files:
        raise refuse(f"最多上传{DECISION_FILES.max_files}个文件")
    if len(set(ids)) != len(ids):
        raise refuse("附件不能重复")
    rows = list(
        session.scalars(
            select(Attachment).where(
                Attachment.id.in_(list(ids)),
                Attachment.uploader_id == actor.id,
                Attachment.application_id.is_(None),
            )
        )
    )
    if len(rows) != len(ids):
        raise refuse("附件不存在或不可用")
    return rows


REVOKE_REASON = "请填写撤销原因"


def revoke_deadline(spec: ProcessSpec, finished_at: datetime | None) -> datetime | None:
    """Until when an approved application of `spec` may be revoked (None: it may not)."""
    hours = spec.options.revoke_window_hours
    if hours is None or finished_at is None:
        return None
    return finished_at + timedelta(hours=hours)


def _check_comment(comment: str | None) -> None:
    if comment is not None and (not isinstance(comment, str) or len(comment) > COMMENT_MAX):
        raise Invalid("意见过长", fields={"comment": f"不能超过{COMMENT_MAX}个字"})


def person_by_userid(session: Session, userid: str) -> Person | None:
    """The person a WeCom userid names (WeCom compares userids case-insensitively)."""
    if not userid or len(userid) > 64:
        return None
    found = session.scalar(_PERSON_BY_USERID, {"userid": userid})
    if found is None:
        found = session.scalar(_PERSON_BY_USERID_ANY_CASE, {"lower": userid.lower()})
    return found


def _active_people(session: Session, userids: Any) -> list[Person]:
    if (
        not isinstance(userids, list)
        or not userids
        or len(userids) > CC_MAX
        or not all(isinstance(u, str) for u in userids)
    ):
        raise Invalid("请选择抄送人", fields={"userids": f"请选择1到{CC_MAX}人"})
    rows = session.scalars(
        select(Person).where(Person.userid.in_(userids), Person.status == PersonStatus.ACTIVE)
    ).all()
    by_userid = {p.userid: p for p in rows}
    missing = [u for u in userids if u not in by_userid]
    if missing:
        raise Invalid("人员不存在", fields={"userids": "人员不存在：" + "、".join(missing)})
    return [by_userid[u] for u in dict.fromkeys(userids)]
