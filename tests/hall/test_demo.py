"""The demo school loads on both databases, is stable across runs and is complete enough
for every demo process to find real people.

Loading takes a fraction of a second, so the school is loaded once per backend into a
module-wide transaction (rolled back at the end) and the tests read it; tests that change
it do so inside a savepoint they roll back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from hall import demo
from hall.db import Database
from hall.models import (
    Department,
    GrantSource,
    Membership,
    Person,
    PersonKind,
    ProcessDefinition,
    RoleCode,
    RoleGrant,
)
from hall.process_library import load_library
from hall.resolve import resolve_rule


@dataclass
class Loaded:
    db: Database
    connection: Connection
    counts: demo.LoadCounts


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def loaded(request: pytest.FixtureRequest) -> Iterator[Loaded]:
    name = "pg_engine" if request.param == "postgresql" else "sqlite_engine"
    engine = request.getfixturevalue(name)
    connection = engine.connect()
    outer = connection.begin()
    try:
        database = Database.bound_to(connection)
        with database.unit_of_work() as session:
            counts = demo.load_demo(session)
        assert counts is not None
        yield Loaded(database, connection, counts)
    finally:
        outer.rollback()
        connection.close()


def _person(session: Session, userid: str) -> Person:
    who = session.scalar(select(Person).where(Person.userid == userid))
    assert who is not None, userid
    return who


def _holders(session: Session, role: RoleCode, dept_code: str | None) -> list[str]:
    query = select(Person.userid).join(RoleGrant, RoleGrant.person_id == Person.id)
    query = query.where(RoleGrant.role_code == role)
    if dept_code is None:
        query = query.where(RoleGrant.department_id.is_(None))
    else:
        dept = select(Department.id).where(Department.code == dept_code).scalar_subquery()
        query = query.where(RoleGrant.department_id == dept)
    return sorted(session.scalars(query))


def test_demo_school_loads_with_its_people_tree_and_processes(loaded: Loaded):
    db, counts = loaded.db, loaded.counts
    assert counts.processes >= 8

    with db.reader() as session:
        kinds = Counter(session.scalars(select(Person.kind)))
        assert 40 <= kinds[PersonKind.STAFF] <= 70
        assert 180 <= kinds[PersonKind.STUDENT] <= 220
        assert kinds[PersonKind.OFFCAMPUS] >= 3
        assert sum(kinds.values()) == counts.people

        depts = session.scalars(select(Department)).all()
        assert len(depts) == counts.departments
        assert {d.campus for d in depts} == {demo.MAIN_CAMPUS, demo.SOUTH_CAMPUS}
        names = {d.name for d in depts if d.level == 1}
        assert {"党政办公室", "人事处", "教务处", "学生工作处", "保卫处", "信息中心"} <= names
        assert {"档案馆", "研究生院", "财务处", "临床医学院", "护理学院", "计算机学院"} <= names
        for dept in depts:
            assert (dept.parent is None) == (dept.level == 1)
            if dept.parent is not None:
                assert dept.code.startswith(dept.parent.code)
            # Every department has its 分管校领导, and it is a school leader.
            assert dept.leader_in_charge is not None
            assert dept.leader_in_charge.post in {"校长", "副校长"}

        processes = session.scalar(select(func.count()).select_from(ProcessDefinition))
        assert processes == counts.processes


def test_every_role_is_granted_where_the_flows_need_it(loaded: Loaded):
    with loaded.db.reader() as session:
        leaders = _holders(session, RoleCode.SCHOOL_LEADER, None)
        assert 2 <= len(leaders) <= 3
        assert demo.IT_ADMIN in _holders(session, RoleCode.INFO_CENTER, None)
        assert _holders(session, RoleCode.PROCESS_ADMIN, "1002") == [demo.HR_CLERK]
        assert demo.IT_TECHNICIAN in _holders(session, RoleCode.PROCESS_ADMIN, "1006")
        assert _holders(session, RoleCode.PROCESS_ADMIN, "1005") == [demo.SECURITY_CLERK]
        assert _holders(session, RoleCode.PROCESS_ADMIN, "1007") == [demo.ARCHIVES_CLERK]
        assert _holders(session, RoleCode.DEPUTY_SECRETARY, "2001") == [
            demo.CLINICAL_DEPUTY_SECRETARY
        ]
        for pilot in ("1001", "1002", "1003", "1004", "1005", "1006", "1007"):
            assert _holders(session, RoleCode.DEPT_ADMIN, pilot), pilot

        grants: dict[tuple[RoleCode, str | None], list[str]] = {}
        for role, code, userid in session.execute(
            select(RoleGrant.role_code, Department.code, Person.userid)
            .join(Person, Person.id == RoleGrant.person_id)
            .outerjoin(Department, Department.id == RoleGrant.department_id)
        ):
            grants.setdefault((role, code), []).append(userid)

        # Every staff member's department has one head; role holders hold matching posts.
        people = session.scalars(select(Person)).all()
        posts = {
            RoleCode.DEPT_HEAD: {"校长", "主任", "处长", "院长", "馆长"},
            RoleCode.DEPUTY_SECRETARY: {"副书记"},
            RoleCode.COUNSELLOR: {"辅导员"},
        }
        by_userid = {p.userid: p for p in people}
        for (role, _code), userids in grants.items():
            for userid in userids:
                assert by_userid[userid].post in posts.get(role, {by_userid[userid].post})
        staff = [p for p in people if p.kind == PersonKind.STAFF]
        for who in staff:
            assert who.department is not None
            assert len(grants[RoleCode.DEPT_HEAD, who.department.code]) == 1

        # Every student has a counsellor of their own college, and the college a 副书记.
        students = [p for p in people if p.kind == PersonKind.STUDENT]
        for student in students:
            assert student.counsellor is not None
            assert student.department is not None
            code = student.department.code
            assert student.counsellor.userid in grants[RoleCode.COUNSELLOR, code]
            assert grants[RoleCode.DEPUTY_SECRETARY, code]
            assert {"major", "grade", "level"} <= set(student.profile)

        alumni = [p for p in people if p.kind == PersonKind.OFFCAMPUS]
        assert all(who.mobile and who.department_id is None for who in alumni)


def test_memorable_accounts_are_who_the_output_says(loaded: Loaded):
    with loaded.db.reader() as session:
        for userid, _note in demo.MEMORABLE:
            _person(session, userid)
        student = _person(session, demo.FIRST_STUDENT)
        assert student.kind == PersonKind.STUDENT
        assert student.counsellor is not None
        assert student.counsellor.userid == demo.FIRST_COUNSELLOR
        roommate = _person(session, demo.ROOMMATE)
        assert roommate.profile["class"] == student.profile["class"]
        assert _person(session, demo.FIRST_POSTGRADUATE).profile["level"] == "硕士"
        teacher = _person(session, demo.FIRST_TEACHER)
        assert teacher.post == "教师"
        assert teacher.department is not None
        assert teacher.department.leader_in_charge is not None
        assert teacher.department.leader_in_charge.userid == demo.VICE_PRESIDENT_ACADEMIC
        # A teacher also belongs to a 教研室 (second level), primary in the college.
        posts = session.execute(
            select(Department.level, Membership.primary)
            .join(Membership, Membership.department_id == Department.id)
            .where(Membership.person_id == teacher.id)
        ).all()
        assert sorted(posts) == [(1, True), (2, False)]
        assert _person(session, demo.FIRST_ALUMNUS).mobile == "13877310001"


def test_second_load_changes_nothing(loaded: Loaded):
    db = loaded.db
    with db.unit_of_work() as session:
        assert demo.load_demo(session) is None
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == len(
            demo.build_demo_school().people
        )


def _identities(db: Database) -> list[tuple[str, str, str | None]]:
    with db.reader() as session:
        rows = session.execute(select(Person.userid, Person.name, Person.mobile)).all()
    return sorted((userid, name, mobile) for userid, name, mobile in rows)


def test_userids_and_names_are_stable_across_runs(loaded: Loaded):
    # Each backend's database was loaded fresh by its own run of the generator; both hold
    # exactly what a new run generates now, so userids never drift between runs.
    again = demo.build_demo_school()
    assert _identities(loaded.db) == sorted((p.userid, p.name, p.mobile) for p in again.people)
    assert again == demo.build_demo_school()
    assert again != demo.build_demo_school(seed=demo.SEED + 1)
    userids = [p.userid for p in again.people]
    names = [p.name for p in again.people]
    assert len(set(userids)) == len(userids)
    assert len(set(names)) == len(names)


def test_load_org_updates_in_place_for_a_later_sync(loaded: Loaded):
    savepoint = loaded.connection.begin_nested()
    try:
        _reload_changed_org(loaded.db)
    finally:
        savepoint.rollback()


def _reload_changed_org(db: Database) -> None:
    org = demo.build_demo_school()
    with db.unit_of_work() as session:
        teacher = _person(session, demo.FIRST_TEACHER)
        extra = RoleGrant(
            person_id=teacher.id, role_code=RoleCode.DEPT_ADMIN, source=GrantSource.MANUAL
        )
        session.add(extra)

    # The data center renames a department, promotes the teacher and drops a counsellor.
    org.departments = [
        replace(d, name="临床医学院（附属医院）") if d.code == "2001" else d
        for d in org.departments
    ]
    org.people = [
        replace(p, post="副院长") if p.userid == demo.FIRST_TEACHER else p for p in org.people
    ]
    org.grants = [
        g for g in org.grants if not (g.userid == "20010004" and g.role == RoleCode.COUNSELLOR)
    ]
    with db.reader() as session:
        student_stamp = _person(session, demo.FIRST_STUDENT).updated_at
    assert student_stamp is not None  # set when the row was created
    with db.unit_of_work() as session:
        counts = demo.load_org(session, org)
    assert counts.changed == 2  # only the renamed department and the promoted teacher
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == counts.people
        clinical = session.scalar(select(Department).where(Department.code == "2001"))
        assert clinical is not None
        assert clinical.name == "临床医学院（附属医院）"
        teacher = _person(session, demo.FIRST_TEACHER)
        assert teacher.post == "副院长"
        assert teacher.updated_at is not None
        assert teacher.updated_at > student_stamp
        assert _person(session, demo.FIRST_STUDENT).updated_at == student_stamp
        # Sync-derived grants follow the data; manual grants stay.
        assert "20010004" not in _holders(session, RoleCode.COUNSELLOR, "2001")
        assert {g.role_code for g in teacher.grants} == {RoleCode.DEPT_ADMIN}


TYPICAL_APPLICANTS = {
    PersonKind.STUDENT: (demo.FIRST_STUDENT, demo.FIRST_POSTGRADUATE, "2023030001"),
    PersonKind.STAFF: (demo.FIRST_TEACHER, demo.FIRST_COUNSELLOR, demo.HR_CLERK, "10060004"),
    PersonKind.OFFCAMPUS: (demo.FIRST_ALUMNUS,),
}


def test_every_approver_rule_of_the_library_finds_real_people(loaded: Loaded):
    # Every step is checked whatever its condition, for typical applicants of the audience.
    form = {
        "swap_with": demo.ROOMMATE,
        "substitute": demo.CLINICAL_DEAN,
        "host": demo.FIRST_TEACHER,
    }
    with loaded.db.reader() as session:
        for spec in load_library():
            for audience in spec.audience:
                for userid in TYPICAL_APPLICANTS[PersonKind(audience.value)]:
                    applicant = _person(session, userid)
                    for step in spec.flow:
                        for rule in (step.approver, *step.cc):
                            found = resolve_rule(session, rule, applicant, form)
                            assert found, f"{spec.key}.{step.key} finds nobody for {userid}"


def _step_people(session: Session, process: str, step: str, applicant: str) -> list[str]:
    spec = next(s for s in load_library() if s.key == process)
    rule = next(s.approver for s in spec.flow if s.key == step)
    who = _person(session, applicant)
    return [p.userid for p in resolve_rule(session, rule, who, {"swap_with": demo.ROOMMATE})]


def test_the_memorable_people_are_the_ones_the_flows_reach(loaded: Loaded):
    student, teacher = demo.FIRST_STUDENT, demo.FIRST_TEACHER
    expected = {
        ("student_leave", "counsellor", student): [demo.FIRST_COUNSELLOR],
        ("leave_campus", "counsellor", student): [demo.FIRST_COUNSELLOR],
        ("student_leave", "deputy_secretary", student): [demo.CLINICAL_DEPUTY_SECRETARY],
        ("student_leave", "academic_affairs", student): [demo.ACADEMIC_REGISTRAR],
        ("dorm_change", "roommate_consent", student): [demo.ROOMMATE],
        ("dorm_change", "student_affairs", student): [demo.STUDENT_AFFAIRS_CLERK],
        ("staff_leave", "dept_head", teacher): [demo.CLINICAL_DEAN],
        ("staff_leave", "hr", teacher): [demo.HR_CLERK],
        ("staff_leave", "leader_in_charge", teacher): [demo.VICE_PRESIDENT_ACADEMIC],
        ("employment_certificate", "issue", teacher): [demo.HR_CLERK],
        ("seal_use", "president", teacher): [demo.PRESIDENT],
        ("seal_use", "stamp", teacher): [demo.OFFICE_SEAL_CLERK],
        ("visitor_car", "gate_sync", teacher): [demo.SECURITY_CLERK],
        ("archive_search", "verify", demo.FIRST_ALUMNUS): [demo.ARCHIVES_CLERK],
        ("diploma_reissue", "registrar", demo.FIRST_ALUMNUS): [demo.ACADEMIC_REGISTRAR],
    }
    with loaded.db.reader() as session:
        for (process, step, applicant), people in expected.items():
            assert _step_people(session, process, step, applicant) == people, (process, step)
        technicians = _step_people(session, "network_repair", "repair", student)
        assert demo.IT_TECHNICIAN in technicians
        assert len(technicians) == 2
