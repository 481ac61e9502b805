"""The nightly sync: staging tables → system tables in the seed's order, in one transaction.

Steps: first-level departments → second-level departments → people → department–person
relations → user roles → visible scope of processes. Each step compares the feed with what
the hall holds and writes only the difference (insert, update, deactivate), in bulk: the
departments and people are planned first, then written with executemany; relations are
set-based SQL; roles are a set difference written in bulk. On PostgreSQL the people rows that
would change nothing are found in one set-based statement first (`sync.unchanged`) and never
reach Python, and the roles' difference is taken in SQL. Nobody is ever deleted: a person
who leaves is deactivated with their history, and comes back with it.

A feed that would deactivate more than `threshold` of the active departments or people
(an empty or truncated feed) is refused before anything is written, unless forced. Any
failure rolls the whole run back. Every run leaves a `SyncRun` report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any, NamedTuple, TypeVar, cast

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from hall.clock import Clock, SystemClock
from hall.db import Database
from hall.models import (
    Department,
    GrantSource,
    Membership,
    Person,
    PersonKind,
    PersonStatus,
    ProcessDefinition,
    ProcessScope,
    RoleCode,
    RoleGrant,
)
from hall.processes import refresh_scope, version_spec
from sync.feed import (
    STUDENT_PROFILE,
    DeptFeed,
    DeptRecord,
    ExistingDept,
    FeedRow,
    PersonRecord,
    check_person,
    keyless_rows,
    people_stream,
    read_departments,
    table_of,
)
from sync.models import SyncRun, SyncStatus
from sync.report import STEPS, Problems, StepCounts, SyncReport
from sync.unchanged import COUNSELLORS, PARAMS, UNCHANGED, derived_grants, mark_unchanged

log = logging.getLogger("sync")
_T = TypeVar("_T")
_PERSON = cast("Table", Person.__table__)
_MEMBERSHIP = cast("Table", Membership.__table__)

DEFAULT_THRESHOLD = 0.05  # at most 5 % of active departments or people deactivated per run
CHUNK = 1000  # rows per bulk statement
LOCK_KEY = 20231018  # PostgreSQL advisory lock: one sync at a time

# Posts that make their holder a role of their own department (ZW of JZG_T_USER).
HEAD_POSTS = frozenset({"校长", "处长", "院长", "主任", "馆长", "部长", "所长", "系主任", "科长"})
DEPUTY_SECRETARY_POSTS = frozenset({"副书记", "党委副书记", "学院副书记", "党总支副书记"})
COUNSELLOR_POSTS = frozenset({"辅导员"})
MANAGED_KINDS = (PersonKind.STAFF, PersonKind.STUDENT)


class SyncRefused(Exception):
    """The feed would deactivate too much; nothing was written."""


class _Existing(NamedTuple):
    """A `person` row as the merge sees it."""

    id: int
    userid: str
    kind: PersonKind
    number: str | None
    name: str
    gender: str | None
    mobile: str | None
    email: str | None
    post: str | None
    status: PersonStatus
    department_id: int | None
    profile: dict[str, Any]
    counsellor_id: int | None


@dataclass
class _PeoplePlan:
    inserts: list[PersonRecord] = field(default_factory=list)
    updates: list[tuple[_Existing, PersonRecord]] = field(default_factory=list)
    deactivate: list[int] = field(default_factory=list)
    # (userid, FDYGH, current counsellor id) of every valid student, for the second pass.
    counsellors: list[tuple[str, str | None, int | None]] = field(default_factory=list)
    active_before: int = 0
    counts: StepCounts = field(default_factory=StepCounts)


@dataclass
class _Run:
    session: Session
    clock: Clock
    # PostgreSQL: the keys of the people rows found unchanged in SQL are in `UNCHANGED`,
    # and the roles step is set-based SQL too.
    filtered: bool = False
    problems: Problems = field(default_factory=Problems)
    steps: dict[str, StepCounts] = field(
        default_factory=lambda: {name: StepCounts() for name, _label in STEPS}
    )

    @property
    def now(self) -> Any:
        return self.clock.now()


# ------------------------------------------------------------------------------ the run


def run_sync(
    db: Database,
    *,
    force: bool = False,
    trigger: str = "cli",
    threshold: float = DEFAULT_THRESHOLD,
    clock: Clock | None = None,
) -> SyncReport:
    """Synchronise the staging tables into the hall; returns the (stored) report."""
    clock = clock or SystemClock()
    started_at = clock.now()
    began = time.perf_counter()
    status, message = SyncStatus.OK, None
    run: _Run | None = None
    try:
        with db.unit_of_work() as session:
            run = _Run(session=session, clock=clock)
            _lock(session)
            try:
                _synchronise(run, force=force, threshold=threshold)
            except SyncRefused as exc:
                session.rollback()
                status, message = SyncStatus.REFUSED, str(exc)
            if status is SyncStatus.OK:
                report = _report(
                    run,
                    status=status,
                    trigger=trigger,
                    forced=force,
                    started_at=started_at,
                    began=began,
                    message=None,
                )
                _store(session, report)
                return report
    except Exception as exc:
        log.exception("sync failed; the run was rolled back")
        status, message = SyncStatus.FAILED, f"{type(exc).__name__}: {exc}"
    report = _report(
        run,
        status=status,
        trigger=trigger,
        forced=force,
        started_at=started_at,
        began=began,
        message=message,
    )
    with db.unit_of_work() as session:
        _store(session, report)
    return report


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        got = session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        if not got:
            raise RuntimeError("另一个同步正在运行")
    # SQLite: the unit of work began with BEGIN IMMEDIATE, which already serialises writers.


def _report(
    run: _Run | None,
    *,
    status: SyncStatus,
    trigger: str,
    forced: bool,
    started_at: Any,
    began: float,
    message: str | None,
) -> SyncReport:
    clock_now = run.clock.now() if run else started_at
    steps = run.steps if run else {name: StepCounts() for name, _label in STEPS}
    if status is not SyncStatus.OK:
        # Nothing was written: keep only what was rejected, so the report tells why.
        steps = {name: StepCounts(rejected=c.rejected) for name, c in steps.items()}
    return SyncReport(
        status=status,
        trigger=trigger,
        forced=forced,
        started_at=started_at,
        finished_at=clock_now,
        duration=time.perf_counter() - began,
        steps=steps,
        problems=run.problems if run else Problems(),
        message=message,
    )


def _store(session: Session, report: SyncReport) -> None:
    row = SyncRun(
        started_at=report.started_at,
        finished_at=report.finished_at,
        status=report.status,
        trigger=report.trigger[:20],
        forced=report.forced,
        counts=report.counts_dict(),
        rejected=[r.as_dict() for r in report.problems.rejected],
        rejected_total=report.problems.rejected_total,
        warnings=[w.as_dict() for w in report.problems.warnings],
        message=report.message,
        duration=round(report.duration, 3),
    )
    session.add(row)
    session.flush()
    report.run_id = row.id


def _synchronise(run: _Run, *, force: bool, threshold: float) -> None:
    session = run.session
    existing = {
        d.code: d
        for d in (
            ExistingDept(*row)
            for row in session.execute(
                select(
                    Department.id,
                    Department.code,
                    Department.name,
                    Department.parent_id,
                    Department.level,
                    Department.sort,
                    Department.active,
                )
            )
        )
    }
    feed = read_departments(session, existing, run.problems)
    run.steps["departments_level1"].rejected = feed.rejected_by_level[1]
    run.steps["departments_level2"].rejected = feed.rejected_by_level[2]
    dept_plan = _plan_departments(run, feed, existing)
    _check_threshold(
        "部门", dept_plan.deactivations, dept_plan.active_before, threshold=threshold, force=force
    )
    if session.get_bind().dialect.name == "postgresql":
        mark_unchanged(session, [code for code, on in dept_plan.after.items() if not on])
        run.filtered = True
    people = _plan_people(run, dept_plan.after)
    _check_threshold(
        "人员", len(people.deactivate), people.active_before, threshold=threshold, force=force
    )
    codes = _write_departments(run, dept_plan)
    _write_people(run, people, codes)
    _relations(run)
    _roles(run)
    _scopes(run)


def _check_threshold(
    what: str, deactivations: int, active: int, *, threshold: float, force: bool
) -> None:
    if force or active == 0 or deactivations <= threshold * active:
        return
    raise SyncRefused(
        f"本次将停用 {deactivations} 个{what}，占现有 {active} 个的 "
        f"{deactivations / active:.1%}，超过 {threshold:.0%} 的阈值；"
        "数据源可能为空或不完整。确认无误后可用 --force 强制执行。"
    )


# ------------------------------------------------------------------------- departments


@dataclass
class _DeptPlan:
    inserts: list[DeptRecord] = field(default_factory=list)
    updates: list[tuple[ExistingDept, DeptRecord]] = field(default_factory=list)
    deactivate: list[ExistingDept] = field(default_factory=list)
    active_before: int = 0
    # code → active, for every department the hall has after the run
    after: dict[str, bool] = field(default_factory=dict)

    @property
    def deactivations(self) -> int:
        leaving = sum(1 for old, new in self.updates if old.active and not new.active)
        return len(self.deactivate) + leaving


def _step(level: int) -> str:
    return "departments_level1" if level <= 1 else "departments_level2"


def _plan_departments(run: _Run, feed: DeptFeed, existing: dict[str, ExistingDept]) -> _DeptPlan:
    plan = _DeptPlan(active_before=sum(1 for d in existing.values() if d.active))
    code_of = {d.id: d.code for d in existing.values()}
    for record in feed.valid.values():
        old = existing.get(record.code)
        plan.after[record.code] = record.active
        step = run.steps[_step(record.level)]
        if old is None:
            if record.active:
                plan.inserts.append(record)
                step.inserted += 1
            continue
        same = (
            old.name == record.name
            and (code_of.get(old.parent_id) if old.parent_id else None) == record.parent
            and old.level == record.level
            and old.sort == record.sort
            and old.active == record.active
        )
        if same:
            step.unchanged += 1
            continue
        plan.updates.append((old, record))
        if old.active and not record.active:
            step.deactivated += 1
        else:
            step.updated += 1
    for code, old in existing.items():
        if code in feed.valid:
            continue
        if code in feed.rejected_keys:
            plan.after[code] = old.active  # its row was rejected: left as it is
            continue
        plan.after[code] = False
        if old.active:
            plan.deactivate.append(old)
            run.steps[_step(old.level)].deactivated += 1
        else:
            run.steps[_step(old.level)].unchanged += 1
    return plan


def _write_departments(run: _Run, plan: _DeptPlan) -> dict[str, int]:
    session, now = run.session, run.now
    codes = dict(session.execute(select(Department.code, Department.id)).all())
    levels = sorted({r.level for r in plan.inserts} | {r.level for _o, r in plan.updates})
    for level in levels:
        rows = [
            {
                "code": r.code,
                "name": r.name,
                "parent_id": codes[r.parent] if r.parent else None,
                "level": r.level,
                "sort": r.sort,
                "active": r.active,
                "updated_at": now,
            }
            for r in plan.inserts
            if r.level == level
        ]
        if rows:
            session.execute(insert(Department), rows)
            codes = dict(session.execute(select(Department.code, Department.id)).all())
        changes = [
            {
                "id": old.id,
                "name": r.name,
                "parent_id": codes[r.parent] if r.parent else None,
                "level": r.level,
                "sort": r.sort,
                "active": r.active,
                "updated_at": now,
            }
            for old, r in plan.updates
            if r.level == level
        ]
        if changes:
            session.execute(update(Department), changes)
    for chunk in _chunks([d.id for d in plan.deactivate]):
        session.execute(
            update(Department).where(Department.id.in_(chunk)).values(active=False, updated_at=now)
        )
    return codes


# ------------------------------------------------------------------------------ people


def _existing_people(session: Session, *, filtered: bool) -> Iterator[_Existing]:
    p = _PERSON.c
    key = p.userid.collate("C") if session.get_bind().dialect.name == "postgresql" else p.userid
    query = select(
        p.id,
        p.userid,
        p.kind,
        p.number,
        p.name,
        p.gender,
        p.mobile,
        p.email,
        p.post,
        p.status,
        p.department_id,
        p.profile,
        p.counsellor_id,
    ).order_by(key)
    if filtered:
        query = query.where(~exists().where(UNCHANGED.c.userid == p.userid))
    result = session.execute(query, execution_options={"yield_per": 5000})
    for partition in result.partitions():
        yield from map(_Existing._make, partition)


def _plan_people(run: _Run, departments: dict[str, bool]) -> _PeoplePlan:
    """Walk the feed (by key) alongside `person` (by userid): a merge join in one pass."""
    session = run.session
    plan = _PeoplePlan()
    counts = run.steps["people"]
    counts.rejected += keyless_rows(session, run.problems)
    dept_ids = dict(session.execute(select(Department.code, Department.id)).all())
    people = _existing_people(session, filtered=run.filtered)
    current = next(people, None)

    def absent(old: _Existing) -> None:
        if old.kind not in MANAGED_KINDS:
            return
        if old.status is PersonStatus.ACTIVE:
            plan.deactivate.append(old.id)
            counts.deactivated += 1
        else:
            counts.unchanged += 1

    if run.filtered:
        same, active = session.execute(
            select(func.count(), func.count().filter(UNCHANGED.c.active))
        ).one()
        counts.unchanged += same
        plan.active_before += active
    stream = people_stream(session, UNCHANGED if run.filtered else None)
    for key, group in groupby(stream, key=lambda r: r.k):
        rows = list(group)
        while current is not None and current.userid < key:
            if current.kind in MANAGED_KINDS and current.status is PersonStatus.ACTIVE:
                plan.active_before += 1
            absent(current)
            current = next(people, None)
        match = None
        if current is not None and current.userid == key:
            match, current = current, next(people, None)
            if match.kind in MANAGED_KINDS and match.status is PersonStatus.ACTIVE:
                plan.active_before += 1
        _plan_person(run, plan, rows, match=match, departments=departments, dept_ids=dept_ids)
    while current is not None:
        if current.kind in MANAGED_KINDS and current.status is PersonStatus.ACTIVE:
            plan.active_before += 1
        absent(current)
        current = next(people, None)
    return plan


def _plan_person(
    run: _Run,
    plan: _PeoplePlan,
    rows: Sequence[FeedRow],
    *,
    match: _Existing | None,
    departments: dict[str, bool],
    dept_ids: dict[str, int],
) -> None:
    counts = run.steps["people"]
    if len(rows) > 1:
        tables = sorted({table_of(r.kind) for r in rows})
        for r in rows:
            run.problems.reject(
                table_of(r.kind), r.k, f"工号/学号重复（{len(rows)} 行，见 {'、'.join(tables)}）"
            )
        counts.rejected += len(rows)
        return
    row = rows[0]
    checked = check_person(row, departments)
    if isinstance(checked, str):
        run.problems.reject(table_of(row.kind), row.k, checked)
        counts.rejected += 1
        return
    if match is not None and match.kind not in MANAGED_KINDS:
        run.problems.reject(table_of(row.kind), row.k, "与校外人员的账号冲突")
        counts.rejected += 1
        return
    if checked.kind is PersonKind.STUDENT and checked.active:
        plan.counsellors.append(
            (checked.userid, checked.counsellor, match.counsellor_id if match else None)
        )
    if match is None:
        if checked.active:  # someone who already left is not brought in
            plan.inserts.append(checked)
            counts.inserted += 1
        return
    if _same(match, checked, dept_ids.get(checked.department)):
        counts.unchanged += 1
        return
    plan.updates.append((match, checked))
    if match.status is PersonStatus.ACTIVE and not checked.active:
        plan.deactivate.append(match.id)
        counts.deactivated += 1
    else:
        counts.updated += 1


def _profile(old: dict[str, Any] | None, record: PersonRecord) -> dict[str, Any]:
    """The student's profile with the keys the sync owns replaced; other keys kept."""
    merged = {k: v for k, v in (old or {}).items() if k not in STUDENT_PROFILE}
    merged.update(record.profile or {})
    return merged


def _values(record: PersonRecord, dept_id: int | None, old: _Existing | None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "kind": record.kind,
        "number": record.userid,
        "name": record.name,
        "gender": record.gender,
        "mobile": record.mobile,
        "status": PersonStatus.ACTIVE if record.active else PersonStatus.INACTIVE,
        "department_id": dept_id,
    }
    if record.kind is PersonKind.STAFF:
        values["email"] = record.email
        values["post"] = record.post
    else:
        values["profile"] = _profile(old.profile if old else None, record)
    return values


def _same(old: _Existing, record: PersonRecord, dept_id: int | None) -> bool:
    wanted = _values(record, dept_id, old)
    return all(getattr(old, name) == value for name, value in wanted.items())


def _write_people(run: _Run, plan: _PeoplePlan, codes: dict[str, int]) -> None:
    """Staff first, then updates and departures, then students with their counsellors."""
    session, now = run.session, run.now
    staff_rows = [r for r in plan.inserts if r.kind is PersonKind.STAFF]
    _insert_people(session, staff_rows, codes, now, {})
    updated: set[str] = set()
    for update_chunk in _chunks(plan.updates):
        rows = []
        for old, record in update_chunk:
            values = _values(record, codes[record.department], old)
            rows.append({"id": old.id, **values, "updated_at": now})
            updated.add(old.userid)
        session.execute(update(Person), rows)
    leaving = set(plan.deactivate) - {old.id for old, _r in plan.updates}
    for id_chunk in _chunks(sorted(leaving)):
        session.execute(
            update(Person)
            .where(Person.id.in_(id_chunk))
            .values(status=PersonStatus.INACTIVE, updated_at=now)
        )
    staff = dict(
        session.execute(
            select(Person.userid, Person.id).where(
                Person.kind == PersonKind.STAFF, Person.status == PersonStatus.ACTIVE
            )
        ).all()
    )
    students = [r for r in plan.inserts if r.kind is PersonKind.STUDENT]
    _insert_people(session, students, codes, now, staff)
    _write_counsellors(run, plan, staff, updated)


def _insert_people(
    session: Session,
    records: Sequence[PersonRecord],
    codes: dict[str, int],
    now: Any,
    staff: dict[str, int],
) -> None:
    for chunk in _chunks(records):
        rows = []
        for record in chunk:
            values = _values(record, codes[record.department], None)
            values.setdefault("profile", {})
            counsellor = staff.get(record.counsellor) if record.counsellor else None
            rows.append(
                {
                    "userid": record.userid,
                    **values,
                    "counsellor_id": counsellor,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        session.execute(insert(Person), rows)


def _write_counsellors(
    run: _Run, plan: _PeoplePlan, staff: dict[str, int], updated: set[str]
) -> None:
    """FDYGH → counsellor_id for students already in the hall (new ones got it inserted)."""
    session, now = run.session, run.now
    inserted = {r.userid for r in plan.inserts}
    counts = run.steps["people"]
    changes: list[dict[str, Any]] = []
    counsellors = plan.counsellors
    if run.filtered:
        # Students left out of the plan as unchanged: only those whose counsellor moves
        # or is unknown, merged in key order so the warnings read as before.
        found = [
            (str(userid), number, current)
            for userid, number, current in session.execute(text(COUNSELLORS), PARAMS)
        ]
        counsellors = sorted([*counsellors, *found], key=lambda c: c[0])
    for userid, number, current in counsellors:
        wanted = staff.get(number) if number else None
        if number and wanted is None:
            run.problems.warn(
                "XS_JBXX", userid, f"辅导员工号 {number} 不存在或不在职，未设置辅导员"
            )
        if userid in inserted or wanted == current:
            continue
        changes.append({"b_userid": userid, "b_counsellor": wanted})
        if userid not in updated:
            counts.updated += 1
            counts.unchanged -= 1
    p = _PERSON
    statement = (
        update(p)
        .where(p.c.userid == bindparam("b_userid"))
        .values(counsellor_id=bindparam("b_counsellor"), updated_at=now)
    )
    conn = session.connection()
    for chunk in _chunks(changes):
        conn.execute(statement, list(chunk))


# --------------------------------------------------------------------------- relations


def _managed(p: Any) -> Any:
    return and_(
        p.kind.in_([k.value for k in MANAGED_KINDS]),
        p.status == PersonStatus.ACTIVE.value,
        p.department_id.is_not(None),
    )


def _relations(run: _Run) -> None:
    """Each active member's primary membership follows `person.department_id` and post.

    Secondary memberships (kept by the information center) are not touched; those of people
    who left stay as history.
    """
    session = run.session
    conn = session.connection()
    p = _PERSON.c
    m = _MEMBERSHIP
    counts = run.steps["relations"]
    total = session.scalar(select(func.count()).select_from(_PERSON).where(_managed(p)))
    stale = delete(m).where(
        m.c.primary.is_(True),
        exists().where(
            p.id == m.c.person_id,
            p.kind.in_([k.value for k in MANAGED_KINDS]),
            p.status == PersonStatus.ACTIVE.value,
            or_(p.department_id.is_(None), p.department_id != m.c.department_id),
        ),
    )
    counts.deactivated = conn.execute(stale).rowcount
    fix = (
        update(m)
        .where(
            exists().where(
                p.id == m.c.person_id,
                p.department_id == m.c.department_id,
                _managed(p),
                or_(m.c.primary.is_(False), m.c.post.is_distinct_from(p.post)),
            )
        )
        .values(
            primary=True,
            post=select(p.post).where(p.id == m.c.person_id).scalar_subquery(),
        )
    )
    counts.updated = conn.execute(fix).rowcount
    missing = (
        select(p.id, p.department_id, literal(value=True), p.post)
        .where(_managed(p))
        .where(~exists().where(m.c.person_id == p.id, m.c.department_id == p.department_id))
    )
    added = conn.execute(
        insert(m).from_select(["person_id", "department_id", "primary", "post"], missing),
        execution_options={"preserve_rowcount": True},
    )
    counts.inserted = added.rowcount
    counts.unchanged = max(0, (total or 0) - counts.inserted - counts.updated)


# ------------------------------------------------------------------------------- roles


def _roles(run: _Run) -> None:
    """Derived grants (source sync) follow the data; manual grants are never touched."""
    session = run.session
    counts = run.steps["roles"]
    if run.filtered:
        added, removed, wanted_total = derived_grants(
            session,
            head_posts=HEAD_POSTS,
            deputy_posts=DEPUTY_SECRETARY_POSTS,
            counsellor_posts=COUNSELLOR_POSTS,
        )
        counts.inserted, counts.deactivated = added, removed
        counts.unchanged = wanted_total - added
        return
    counsellors = set(
        session.scalars(
            select(Person.counsellor_id)
            .where(
                Person.kind == PersonKind.STUDENT,
                Person.status == PersonStatus.ACTIVE,
                Person.counsellor_id.is_not(None),
            )
            .distinct()
        )
    )
    manual = set(
        session.execute(
            select(RoleGrant.person_id, RoleGrant.role_code, RoleGrant.department_id).where(
                RoleGrant.source == GrantSource.MANUAL
            )
        )
    )
    current: dict[tuple[int, RoleCode, int | None], int] = {
        (pid, role, dept): gid
        for gid, pid, role, dept in session.execute(
            select(
                RoleGrant.id, RoleGrant.person_id, RoleGrant.role_code, RoleGrant.department_id
            ).where(RoleGrant.source == GrantSource.SYNC)
        )
    }
    wanted: set[tuple[int, RoleCode, int | None]] = set()
    query = select(Person.id, Person.kind, Person.post, Person.department_id).where(
        Person.kind.in_(MANAGED_KINDS), Person.status == PersonStatus.ACTIVE
    )
    for pid, kind, post, dept in session.execute(query, execution_options={"yield_per": 5000}):
        wanted.update(_derived(pid, kind, post, dept, pid in counsellors))
    wanted -= manual
    add = [
        {"person_id": pid, "role_code": role, "department_id": dept, "source": GrantSource.SYNC}
        for pid, role, dept in wanted
        if (pid, role, dept) not in current
    ]
    remove = [gid for key, gid in current.items() if key not in wanted]
    for chunk in _chunks(add):
        session.execute(insert(RoleGrant), chunk)
    for id_chunk in _chunks(remove):
        session.execute(delete(RoleGrant).where(RoleGrant.id.in_(id_chunk)))
    counts.inserted = len(add)
    counts.deactivated = len(remove)
    counts.unchanged = len(wanted) - len(add)


def _derived(
    pid: int, kind: PersonKind, post: str | None, dept: int | None, counsels: bool
) -> Iterable[tuple[int, RoleCode, int | None]]:
    if kind is PersonKind.STUDENT:
        yield pid, RoleCode.STUDENT, None
        return
    yield pid, RoleCode.STAFF, None
    if dept is None:
        return
    if post in HEAD_POSTS:
        yield pid, RoleCode.DEPT_HEAD, dept
    if post in DEPUTY_SECRETARY_POSTS:
        yield pid, RoleCode.DEPUTY_SECRETARY, dept
    if counsels or post in COUNSELLOR_POSTS:
        yield pid, RoleCode.COUNSELLOR, dept


# ------------------------------------------------------------------------------ scopes


def _scopes(run: _Run) -> None:
    """Every process's visible departments, expanded again over the synced tree."""
    session = run.session
    counts = run.steps["scopes"]
    session.flush()
    processes = session.scalars(
        select(ProcessDefinition)
        .where(ProcessDefinition.current_version_id.is_not(None))
        .order_by(ProcessDefinition.id)
    ).all()
    for process in processes:
        assert process.current_version is not None
        before = _scope(session, process.id)
        refresh_scope(session, process, version_spec(process.current_version))
        session.flush()
        after = _scope(session, process.id)
        if before == after:
            counts.unchanged += 1
        elif not before:
            counts.inserted += 1
        else:
            counts.updated += 1


def _scope(session: Session, process_id: int) -> set[int]:
    return set(
        session.scalars(
            select(ProcessScope.department_id).where(ProcessScope.process_id == process_id)
        )
    )


# ----------------------------------------------------------------------------- helpers


def _chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


# ------------------------------------------------------------------------------- reads


def list_runs(session: Session, limit: int = 30) -> list[SyncReport]:
    """The latest runs, newest first (for the admin page and `hall sync runs`)."""
    runs = session.scalars(select(SyncRun).order_by(SyncRun.id.desc()).limit(limit))
    return [SyncReport.from_run(run) for run in runs]


def get_run(session: Session, run_id: int) -> SyncReport | None:
    run = session.get(SyncRun, run_id)
    return SyncReport.from_run(run) if run else None


def record_push(db: Database, run_id: int, push: dict[str, Any]) -> None:
    """Attach the summary of the WeCom push that followed run `run_id`."""
    with db.unit_of_work() as session:
        session.execute(update(SyncRun).where(SyncRun.id == run_id).values(push=push))
