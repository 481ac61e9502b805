"""Row factories for tests: small, explicit, with sensible defaults."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hall.definitions import parse_spec
from hall.models import (
    ActionLog,
    Application,
    Attachment,
    Comment,
    Delegation,
    Department,
    Follower,
    GrantSource,
    IdempotencyRecord,
    Membership,
    Outbox,
    Person,
    PersonKind,
    ProcessVersion,
    RoleCode,
    RoleGrant,
    SerialCounter,
    Task,
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


def handling_step(userid: str, *result_fields: dict[str, Any]) -> dict[str, Any]:
    """A handling step (技术员处理) carried out by one person, who fills `result_fields`."""
    return {
        "key": "fix",
        "name": "技术员处理",
        "kind": "handle",
        "approver": {"type": "persons", "userids": [userid]},
        "result_fields": list(result_fields),
    }


def resolution_field(*, required: bool = True) -> dict[str, Any]:
    """处理结果: the text a handling step's handler writes for the applicant."""
    return {"key": "resolution", "label": "处理结果", "type": "text", "required": required}


def delegation(
    session: Session,
    delegator: Person,
    delegate: Person,
    *,
    start: date,
    end: date,
    revoked: bool = False,
) -> Delegation:
    """`delegator` is away from `start` to `end`; their new tasks go to `delegate`."""
    row = Delegation(
        delegator_id=delegator.id,
        delegate_id=delegate.id,
        start_date=start,
        end_date=end,
        revoked_at=datetime(2026, 1, 1, tzinfo=UTC) if revoked else None,
    )
    session.add(row)
    session.flush()
    return row


def attachment(
    session: Session,
    uploader: Person,
    *,
    filename: str = "证明.pdf",
    size: int = 200 * 1024,
) -> Attachment:
    """Metadata of a file `uploader` uploaded (not yet attached to an application)."""
    n = next(_seq)
    row = Attachment(
        uploader_id=uploader.id,
        filename=filename,
        content_type="application/octet-stream",
        size=size,
        sha256=f"{n:064x}",
        storage_key=f"test/{n}",
    )
    session.add(row)
    session.flush()
    return row


def school(session: Session) -> SimpleNamespace:
    """A small school for engine tests: a college with a sub-department, two offices,
    heads, a counsellor, a deputy secretary, leaders in charge, administrators, a student."""
    s = SimpleNamespace()
    s.root = department(session, "示范大学", code="SCH")
    s.vp = person(session, "王副校长", dept=s.root, roles=(RoleCode.SCHOOL_LEADER,))
    s.president = person(session, "赵校长", dept=s.root, roles=(RoleCode.SCHOOL_LEADER,))
    s.root.leader_in_charge_id = s.president.id
    s.cs = department(session, "计算机学院", code="CS", parent=s.root, leader_in_charge_id=s.vp.id)
    s.se = department(session, "软件工程系", code="CS_SE", parent=s.cs)
    s.jwc = department(session, "教务处", code="JWC", parent=s.root)
    s.it = department(session, "信息中心", code="XXZX", parent=s.root)
    s.dean = person(session, "李院长", dept=s.cs, roles=(RoleCode.DEPT_HEAD,))
    s.deputy = person(session, "周副书记", dept=s.cs, roles=(RoleCode.DEPUTY_SECRETARY,))
    s.counsellor = person(session, "陈辅导员", dept=s.cs, roles=(RoleCode.COUNSELLOR,))
    s.cs_admin = person(session, "吴管理员", dept=s.cs, roles=(RoleCode.DEPT_ADMIN,))
    s.se_head = person(session, "孙主任", dept=s.se, roles=(RoleCode.DEPT_HEAD,))
    s.teacher = person(session, "钱老师", dept=s.se, post="讲师")
    s.jwc_head = person(session, "郑处长", dept=s.jwc, roles=(RoleCode.DEPT_HEAD,))
    s.jwc_clerk = person(session, "冯老师", dept=s.jwc, roles=(RoleCode.PROCESS_ADMIN,))
    s.jwc_clerk2 = person(session, "卫老师", dept=s.jwc, roles=(RoleCode.PROCESS_ADMIN,))
    s.it_admin = person(session, "蒋工程师", dept=s.it, roles=(RoleCode.INFO_CENTER,))
    s.student = person(
        session,
        "林同学",
        kind=PersonKind.STUDENT,
        dept=s.cs,
        counsellor_id=s.counsellor.id,
        profile={"major": "软件工程", "class": "软工2301", "grade": "2023", "level": "本科"},
    )
    session.flush()
    return s


def tasks_of(session: Session, application_id: int) -> list[Task]:
    """The application's tasks as committed by the services, oldest first."""
    session.expire_all()
    query = select(Task).where(Task.application_id == application_id).order_by(Task.id)
    return list(session.scalars(query))


def outbox_of(session: Session, application_id: int, kind: str | None = None) -> list[Outbox]:
    session.expire_all()
    query = select(Outbox).where(Outbox.application_id == application_id)
    if kind is not None:
        query = query.where(Outbox.kind == kind)
    return list(session.scalars(query.order_by(Outbox.id)))


def logs_of(session: Session, application_id: int, action: str | None = None) -> list[ActionLog]:
    session.expire_all()
    query = select(ActionLog).where(ActionLog.application_id == application_id)
    if action is not None:
        query = query.where(ActionLog.action == action)
    return list(session.scalars(query.order_by(ActionLog.id)))


def snapshot(session: Session) -> dict[str, Any]:
    """Row counts and every status, to prove a refused request changed nothing."""
    session.expire_all()
    tables = (
        Application,
        Task,
        ActionLog,
        Outbox,
        Follower,
        Comment,
        IdempotencyRecord,
        SerialCounter,
    )
    counts = {t.__tablename__: session.scalar(select(func.count()).select_from(t)) for t in tables}
    app_t, task_t = Application.__table__.c, Task.__table__.c
    apps = session.execute(
        select(app_t.id, app_t.status, app_t.row_version).order_by(app_t.id)
    ).all()
    tasks = session.execute(select(task_t.id, task_t.status).order_by(task_t.id)).all()
    counters = session.execute(select(SerialCounter.day, SerialCounter.value)).all()
    return {"counts": counts, "apps": apps, "tasks": tasks, "counters": counters}


def visit_spec(**invite: Any) -> dict[str, Any]:
    """An off-campus visit (入校预约) in department SEC that staff invite to: the inviter
    fills the time and the reason and is the host, who then confirms."""
    return simple_spec(
        "SEC",
        key="visit",
        name="访客入校预约",
        audience=["offcampus"],
        form=[
            {
                "key": "name",
                "label": "访客姓名",
                "type": "text",
                "required": True,
                "prefill": "name",
            },
            {
                "key": "mobile",
                "label": "手机号",
                "type": "mobile",
                "required": True,
                "prefill": "mobile",
            },
            {"key": "idno", "label": "身份证号", "type": "idcard", "required": True},
            {"key": "host", "label": "接待人", "type": "person", "required": True},
            {"key": "window", "label": "来访时段", "type": "datetime_range", "required": True},
            {"key": "reason", "label": "来访事由", "type": "text", "required": True},
        ],
        flow=[
            {
                "key": "host_ok",
                "name": "接待人确认",
                "approver": {"type": "form_person", "field": "host"},
            }
        ],
        options={"invite": {"host_field": "host", "fields": ["window", "reason"], **invite}},
    )


VISITOR_PHONE = "13877310009"


def visit_school(session: Session) -> SimpleNamespace:
    """`visit_spec` (invitations only) published, with its people: a host and a colleague
    in SEC, a student, the invited visitor's off-campus account and another number's."""
    sec = department(session, "保卫处", code="SEC")
    people = SimpleNamespace(
        host=person(session, "周老师", dept=sec, userid="host1"),
        colleague=person(session, "吴老师", dept=sec, userid="host2"),
        student=person(session, "学生甲", kind=PersonKind.STUDENT, dept=sec),
        visitor=person(
            session,
            "来访者",
            kind=PersonKind.OFFCAMPUS,
            userid=f"oc{VISITOR_PHONE}",
            mobile=VISITOR_PHONE,
        ),
        stranger=person(
            session,
            "陌生人",
            kind=PersonKind.OFFCAMPUS,
            userid="oc13877310008",
            mobile="13877310008",
        ),
    )
    process(session, visit_spec(only=True))
    session.commit()
    return people
