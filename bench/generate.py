"""Generate a large hall on PostgreSQL with COPY: 1,000,000 applications, 3,000,000 tasks.

The org (departments, people, roles) and the processes go through the ORM and the real
publish service; the bulk rows go through COPY so generation takes minutes, not hours.
Everything is seeded, so two runs build the same data.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from hall.definitions import parse_spec
from hall.models import (
    Department,
    GrantSource,
    Person,
    PersonKind,
    RoleCode,
    RoleGrant,
)
from hall.processes import publish

BENCH_PROCESS = {
    "key": "bench_leave",
    "name": "请假（基准测试）",
    "department": "B000",
    "category": "人事",
    "audience": ["staff", "student"],
    "form": [
        {
            "key": "reason",
            "label": "事由",
            "type": "text",
            "required": True,
            "max_length": 200,
            "key_field": True,
        },
        {
            "key": "days",
            "label": "天数",
            "type": "number",
            "required": True,
            "min": 1,
            "max": 30,
            "integer": True,
            "key_field": True,
        },
    ],
    "flow": [
        {"key": "head", "name": "负责人审批", "approver": {"type": "dept_head"}},
        {
            "key": "hr",
            "name": "人事处审批",
            "approver": {"type": "role_in_dept", "role": "process_admin", "department": "B000"},
        },
        {
            "key": "leader",
            "name": "分管领导审批",
            "approver": {"type": "role_in_dept", "role": "dept_head", "department": "B000"},
        },
    ],
}


@dataclass
class World:
    applicants: list[int]
    reviewers: list[int]  # the department heads; reviewers[0] is the busiest
    heavy_applicant: int
    process_id: int
    version_id: int


def build_org(session: Session, *, departments: int = 100, people: int = 20_000) -> World:
    rng = random.Random(7)
    now = datetime.now(UTC)
    office = Department(code="B000", name="人事处", level=1)
    session.add(office)
    depts = [office]
    depts.extend(
        Department(code=f"B{i:03d}", name=f"学院{i}", level=1) for i in range(1, departments)
    )
    session.add_all(depts)
    session.flush()
    reviewers = []
    for i, dept in enumerate(depts):
        head = Person(
            userid=f"h{i:04d}",
            kind=PersonKind.STAFF,
            number=f"h{i:04d}",
            name=f"负责人{i}",
            department_id=dept.id,
            created_at=now,
        )
        session.add(head)
        session.flush()
        session.add(
            RoleGrant(
                person_id=head.id,
                role_code=RoleCode.DEPT_HEAD,
                department_id=dept.id,
                source=GrantSource.MANUAL,
            )
        )
        reviewers.append(head.id)
    clerk = Person(
        userid="hr0001",
        kind=PersonKind.STAFF,
        number="hr0001",
        name="人事处科员",
        department_id=office.id,
        created_at=now,
    )
    session.add(clerk)
    session.flush()
    session.add(
        RoleGrant(
            person_id=clerk.id,
            role_code=RoleCode.PROCESS_ADMIN,
            department_id=office.id,
            source=GrantSource.MANUAL,
        )
    )
    session.flush()
    rows = []
    for i in range(people):
        dept = depts[rng.randrange(1, len(depts))]
        rows.append(
            {
                "userid": f"p{i:06d}",
                "kind": "student" if i % 10 else "staff",
                "number": f"p{i:06d}",
                "name": f"申请人{i}",
                "status": "active",
                "department_id": dept.id,
                "profile": "{}",
                "created_at": now,
            }
        )
    session.execute(
        text(
            "INSERT INTO person (userid, kind, number, name, status, department_id, profile,"
            " created_at) VALUES (:userid, :kind, :number, :name, :status, :department_id,"
            " CAST(:profile AS JSONB), :created_at)"
        ),
        rows,
    )
    applicants = list(
        session.scalars(text("SELECT id FROM person WHERE userid LIKE 'p%' ORDER BY id"))
    )
    session.execute(
        text(
            'INSERT INTO membership (person_id, department_id, "primary")'
            " SELECT id, department_id, true FROM person WHERE userid LIKE 'p%'"
        )
    )
    version = publish(session, parse_spec(BENCH_PROCESS))
    return World(
        applicants=applicants,
        reviewers=reviewers,
        heavy_applicant=applicants[0],
        process_id=version.process_id,
        version_id=version.id,
    )


def copy_bulk(engine: Engine, world: World, *, applications: int, tasks_per_app: int = 3) -> None:
    """COPY applications and their tasks: most finished, a realistic share still pending."""
    rng = random.Random(11)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    span = 3 * 365 * 24 * 3600
    heavy_every = max(1, applications // 2_000)  # the heavy applicant has a long history too
    # One pass decides each application's shape; two COPY passes write the rows.
    created = [start + timedelta(seconds=rng.randrange(span)) for _ in range(applications)]
    pending = bytes(rng.random() < 0.05 for _ in range(applications))
    hours = [rng.randrange(1, 72) for _ in range(applications)]
    busiest = world.reviewers[0]
    heads = [
        busiest if rng.random() < 0.1 else rng.choice(world.reviewers) for _ in range(applications)
    ]
    app_cols = (
        "id, serial, process_id, version_id, applicant_id, department_id, title,"
        " status, form, result, current_step, flagged, created_at, submitted_at,"
        " finished_at, row_version"
    )
    task_cols = (
        "id, application_id, step_index, step_key, round, seq, assignee_id,"
        " status, origin, flagged, result, created_at, activated_at, decided_at"
    )
    form = json.dumps({"reason": "家中有事", "days": 2}, ensure_ascii=False)
    keys = ("head", "hr", "leader")
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy(f"COPY application ({app_cols}) FROM STDIN") as copy:
            for i in range(applications):
                applicant = (
                    world.heavy_applicant
                    if i % heavy_every == 0
                    else world.applicants[i % len(world.applicants)]
                )
                done = None if pending[i] else created[i] + timedelta(hours=hours[i])
                status = "pending" if pending[i] else ("rejected" if i % 10 == 3 else "approved")
                copy.write_row(
                    (
                        i + 1,
                        f"B{i + 1:012d}",
                        world.process_id,
                        world.version_id,
                        applicant,
                        None,
                        "请假申请",
                        status,
                        form,
                        "{}",
                        0 if pending[i] else None,
                        False,
                        created[i],
                        created[i],
                        done,
                        1,
                    )
                )
        with cur.copy(f"COPY task ({task_cols}) FROM STDIN") as copy:
            task_id = 0
            for i in range(applications):
                for step in range(tasks_per_app):
                    task_id += 1
                    assignee = world.reviewers[1] if step == 1 else heads[i]
                    if pending[i]:
                        status, decided = ("pending" if step == 0 else "waiting"), None
                    else:
                        status = "approved"
                        decided = created[i] + timedelta(hours=hours[i] * (step + 1) / 3)
                    copy.write_row(
                        (
                            task_id,
                            i + 1,
                            step,
                            keys[step % 3],
                            1,
                            0,
                            assignee,
                            status,
                            "flow",
                            False,
                            "{}",
                            created[i],
                            created[i],
                            decided,
                        )
                    )
        raw.commit()
        cur.execute("SELECT setval('application_id_seq', (SELECT max(id) FROM application))")
        cur.execute("SELECT setval('task_id_seq', (SELECT max(id) FROM task))")
        raw.commit()
    finally:
        raw.close()
    # A live system's autovacuum keeps the visibility map current, which index-only scans
    # (the to-do count) rely on; a freshly COPY'd table has none until vacuumed.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


def timed(label: str, func: object, *args: object, **kwargs: object) -> object:
    began = time.perf_counter()
    result = func(*args, **kwargs)  # type: ignore[operator]
    print(f"  {label}: {time.perf_counter() - began:.1f} s")
    return result
