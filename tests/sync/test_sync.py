"""The sync's steps, its bad-feed protection and its reports, on PostgreSQL and SQLite."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from hall.models import (
    Application,
    Department,
    GrantSource,
    Membership,
    Person,
    PersonStatus,
    ProcessScope,
    ProcessVersion,
    RoleCode,
    RoleGrant,
)
from sync.models import SyncRun, SyncStatus
from sync.services import list_runs, run_sync
from tests import factories
from tests.sync.conftest import counts, dept, person, small_school, staff, student, write_feed


def _grants(session, userid: str) -> set[tuple[RoleCode, str | None, GrantSource]]:
    who = person(session, userid)
    rows = session.execute(
        select(RoleGrant.role_code, Department.code, RoleGrant.source)
        .outerjoin(Department, Department.id == RoleGrant.department_id)
        .where(RoleGrant.person_id == who.id)
    ).all()
    return {(r, c, s) for r, c, s in rows}


def test_first_sync_builds_the_school_in_order(db, session):
    write_feed(session, small_school())
    report = run_sync(db)
    assert report.ok
    assert counts(report, "departments_level1") == {
        "inserted": 3,
        "updated": 0,
        "deactivated": 0,
        "unchanged": 0,
        "rejected": 0,
    }
    assert counts(report, "departments_level2")["inserted"] == 2
    assert counts(report, "people")["inserted"] == 12
    assert counts(report, "relations")["inserted"] == 12
    office = session.scalar(select(Department).where(Department.code == "2001"))
    assert office is not None
    assert office.level == 2
    assert office.parent is not None
    assert office.parent.code == "20"
    first = person(session, "2023000000")
    assert first.counsellor is not None
    assert first.counsellor.userid == "200003"
    assert first.profile == {
        "major": "临床医学",
        "class": "临床2301班",
        "grade": "2023",
        "level": "本科",
    }
    assert person(session, "2023000005").counsellor_id is None
    assert _grants(session, "100001") == {
        (RoleCode.STAFF, None, GrantSource.SYNC),
        (RoleCode.DEPT_HEAD, "10", GrantSource.SYNC),
    }
    assert (RoleCode.DEPUTY_SECRETARY, "20", GrantSource.SYNC) in _grants(session, "200002")
    assert (RoleCode.COUNSELLOR, "20", GrantSource.SYNC) in _grants(session, "200003")
    assert _grants(session, "2023000001") == {(RoleCode.STUDENT, None, GrantSource.SYNC)}
    again = run_sync(db)
    assert again.ok
    assert again.changes == 0
    assert counts(again, "people")["unchanged"] == 12


def test_changes_are_diffs_and_leavers_are_deactivated_not_deleted(db, session):
    write_feed(session, small_school())
    run_sync(db)
    feed = small_school()
    feed["JZG_T_BM"][0]["BMMC"] = "人力资源处"
    feed["JZG_T_USER"][4]["BMDM"] = "2001"  # 陈老师 moves to the college office
    feed["JZG_T_USER"][5]["RYZT"] = "退休"  # 钱老师 retires
    feed["XS_JBXX"][0]["SJH"] = "13700000000"
    write_feed(session, feed)
    report = run_sync(db, threshold=0.5)
    assert report.ok, report.message
    assert counts(report, "departments_level1")["updated"] == 1
    assert counts(report, "people") == {
        "inserted": 0,
        "updated": 2,
        "deactivated": 1,
        "unchanged": 9,
        "rejected": 0,
    }
    assert counts(report, "relations") == {
        "inserted": 1,
        "updated": 0,
        "deactivated": 1,
        "unchanged": 10,
        "rejected": 0,
    }
    teacher = person(session, "200003")
    memberships = session.execute(
        select(Department.code, Membership.primary)
        .join(Membership, Membership.department_id == Department.id)
        .where(Membership.person_id == teacher.id)
    ).all()
    assert memberships == [("2001", True)]
    retired = person(session, "200004")
    assert retired.status is PersonStatus.INACTIVE
    assert _grants(session, "200004") == set()  # derived grants go with the job
    assert session.scalar(select(func.count()).select_from(Person)) == 12


def test_bad_rows_are_rejected_with_reasons_and_the_rest_goes_on(db, session):
    feed = small_school()
    feed["JZG_T_BM"] += [
        dept("", "无代码部门"),
        dept("40", "重复部门"),
        dept("40", "重复部门二"),
        dept("50", "孤儿部门", "99"),
        dept("60", "环甲", "61", level="2"),
        dept("61", "环乙", "60", level="2"),
        dept("62", "环下属", "60", level="3"),
        dept("70", "名" * 65),
        dept("71", "坏名字*"),
    ]
    feed["JZG_T_USER"] += [
        staff("", "无工号", "10"),
        staff("300001", "重复甲", "10"),
        staff("300001", "重复乙", "10"),
        staff("300002", "手机坏", "10", SJH="12345"),
        staff("300003", "长" * 65, "10"),
        staff("300004", "无部门", "99"),
        staff("300005", "孤儿部门的人", "50"),
    ]
    feed["XS_JBXX"] += [
        student("200001", "与工号重复", "20"),
        student("2023999999", "辅导员不存在", "20", "999999"),
    ]
    write_feed(session, feed)
    report = run_sync(db)
    assert report.ok
    reasons = {(r.table, r.key): r.reason for r in report.problems.rejected}
    assert reasons[("JZG_T_BM", None)] == "缺少部门代码 BMDM"
    assert reasons[("JZG_T_BM", "40")].startswith("部门代码重复")
    assert "99 不存在" in reasons[("JZG_T_BM", "50")]
    assert reasons[("JZG_T_BM", "60")] == "部门树存在环"
    assert reasons[("JZG_T_BM", "61")] == "部门树存在环"
    assert "未通过检查" in reasons[("JZG_T_BM", "62")]
    assert "超过 64" in reasons[("JZG_T_BM", "70")]
    assert "不允许的字符" in reasons[("JZG_T_BM", "71")]
    assert reasons[("JZG_T_USER", None)].startswith("缺少工号")
    assert reasons[("JZG_T_USER", "300001")].startswith("工号/学号重复")
    assert reasons[("JZG_T_USER", "300002")] == "手机号 12345 无效"
    assert "超过 64" in reasons[("JZG_T_USER", "300003")]
    assert reasons[("JZG_T_USER", "300004")] == "所在部门 99 不存在"
    assert reasons[("JZG_T_USER", "300005")] == "所在部门 50 不存在"
    assert reasons[("XS_JBXX", "200001")].startswith("工号/学号重复")
    assert reasons[("JZG_T_USER", "200001")].startswith("工号/学号重复")
    assert report.problems.rejected_total == len(report.problems.rejected) == 18
    assert counts(report, "departments_level1")["rejected"] == 5
    assert counts(report, "departments_level2")["rejected"] == 4
    assert counts(report, "people")["rejected"] == 9
    # The rest went on: valid people and departments are there, rejected ones are not.
    codes = set(session.scalars(select(Department.code)))
    assert codes == {"10", "20", "2001", "2002", "30"}
    assert person(session, "2023999999").counsellor_id is None
    assert [w.key for w in report.problems.warnings] == ["2023999999"]
    assert session.scalar(select(func.count()).select_from(Person)) == 12 - 1 + 1
    stored = session.get(SyncRun, report.run_id)
    assert stored is not None
    assert stored.rejected_total == 18
    assert {"table", "key", "reason"} == set(stored.rejected[0])


def test_a_rejected_row_leaves_the_person_as_they_are(db, session):
    write_feed(session, small_school())
    run_sync(db)
    feed = small_school()
    feed["JZG_T_USER"][1]["SJH"] = "not-a-phone"
    feed["JZG_T_USER"][1]["XM"] = "改名"
    write_feed(session, feed)
    report = run_sync(db)
    assert report.ok
    clerk = person(session, "100002")
    assert clerk.status is PersonStatus.ACTIVE  # not deactivated for a bad row
    assert clerk.name == "冯科员"
    assert counts(report, "people")["rejected"] == 1
    assert counts(report, "people")["deactivated"] == 0


def test_an_empty_feed_is_refused_and_nothing_changes(db, session):
    write_feed(session, small_school())
    run_sync(db)
    write_feed(session, {"JZG_T_BM": small_school()["JZG_T_BM"]})
    report = run_sync(db)
    assert report.status is SyncStatus.REFUSED
    assert "超过 5% 的阈值" in (report.message or "")
    assert report.changes == 0
    active = session.scalar(
        select(func.count()).select_from(Person).where(Person.status == PersonStatus.ACTIVE)
    )
    assert active == 12
    stored = session.get(SyncRun, report.run_id)
    assert stored is not None
    assert stored.status is SyncStatus.REFUSED
    # Departments too: a truncated department feed is refused before anything is written.
    feed = small_school()
    feed["JZG_T_BM"] = feed["JZG_T_BM"][:2]
    write_feed(session, feed)
    assert run_sync(db).status is SyncStatus.REFUSED
    assert session.scalar(select(func.count()).where(Department.active.is_(True))) == 5


def test_force_applies_a_large_deactivation(db, session):
    write_feed(session, small_school())
    run_sync(db)
    feed = small_school()
    feed["XS_JBXX"] = []
    write_feed(session, feed)
    report = run_sync(db, force=True)
    assert report.ok
    assert report.forced
    assert counts(report, "people")["deactivated"] == 6
    # The students' base roles, and 陈老师 counsels nobody now.
    assert counts(report, "roles")["deactivated"] == 7
    assert person(session, "2023000001").status is PersonStatus.INACTIVE


def test_a_failing_step_rolls_the_whole_run_back(db, session):
    write_feed(session, small_school())
    run_sync(db)
    version = factories.process(session, factories.simple_spec("10", visible_to=["20"]))
    session.commit()
    # A stored definition naming a department the hall does not have: the scope step fails.
    session.execute(
        update(ProcessVersion)
        .where(ProcessVersion.id == version.id)
        .values(spec={**version.spec, "visible_to": ["NOPE"]})
    )
    session.commit()
    feed = small_school()
    feed["JZG_T_USER"][0]["XM"] = "新名字"
    feed["JZG_T_BM"].append(dept("2003", "外科学教研室", "20"))
    write_feed(session, feed)
    report = run_sync(db)
    assert report.status is SyncStatus.FAILED
    assert "NOPE" in (report.message or "")
    assert person(session, "100001").name == "郑处长"  # earlier steps were rolled back
    assert session.scalar(select(Department).where(Department.code == "2003")) is None
    assert report.changes == 0
    assert list_runs(session, 1)[0].status is SyncStatus.FAILED


def test_a_returning_person_is_reactivated_with_their_history(db, session):
    write_feed(session, small_school())
    run_sync(db)
    teacher = person(session, "200003")
    version = factories.process(session, factories.simple_spec("20"))
    application = Application(
        serial="S0001",
        process_id=version.process_id,
        version_id=version.id,
        applicant_id=teacher.id,
        title="请假",
        form={"reason": "x"},
    )
    session.add(application)
    session.commit()
    feed = small_school()
    del feed["JZG_T_USER"][4]
    write_feed(session, feed)
    left = run_sync(db, force=True)
    assert counts(left, "people")["deactivated"] == 1
    assert person(session, "200003").status is PersonStatus.INACTIVE
    write_feed(session, small_school())
    back = run_sync(db)
    # The teacher, and the four students whose counsellor is back.
    assert counts(back, "people")["updated"] == 5
    returned = person(session, "200003")
    assert returned.id == teacher.id
    assert returned.status is PersonStatus.ACTIVE
    assert session.get(Application, application.id).applicant_id == teacher.id
    assert (RoleCode.COUNSELLOR, "20", GrantSource.SYNC) in _grants(session, "200003")


def test_roles_follow_posts_and_fdygh_while_manual_grants_stay(db, session):
    write_feed(session, small_school())
    run_sync(db)
    clerk = person(session, "100002")
    head = person(session, "100001")
    office = session.scalar(select(Department).where(Department.code == "10"))
    factories.grant(session, clerk, RoleCode.DEPT_ADMIN, office)
    # The information center also made the head a manual dept_head: the sync must not touch it.
    session.execute(
        update(RoleGrant)
        .where(RoleGrant.person_id == head.id, RoleGrant.role_code == RoleCode.DEPT_HEAD)
        .values(source=GrantSource.MANUAL)
    )
    session.commit()
    feed = small_school()
    feed["JZG_T_USER"][0]["ZW"] = "科员"  # the head steps down
    feed["JZG_T_USER"][1]["ZW"] = "处长"  # the clerk becomes head
    for row in feed["XS_JBXX"]:
        row["FDYGH"] = "200004"  # another teacher counsels the students now
    write_feed(session, feed)
    report = run_sync(db)
    assert report.ok
    assert _grants(session, "100001") == {
        (RoleCode.STAFF, None, GrantSource.SYNC),
        (RoleCode.DEPT_HEAD, "10", GrantSource.MANUAL),
    }
    assert _grants(session, "100002") == {
        (RoleCode.STAFF, None, GrantSource.SYNC),
        (RoleCode.DEPT_HEAD, "10", GrantSource.SYNC),
        (RoleCode.DEPT_ADMIN, "10", GrantSource.MANUAL),
    }
    assert (RoleCode.COUNSELLOR, "20", GrantSource.SYNC) not in _grants(session, "200003")
    assert (RoleCode.COUNSELLOR, "2002", GrantSource.SYNC) in _grants(session, "200004")
    assert counts(report, "roles") == {
        "inserted": 2,
        "updated": 0,
        "deactivated": 1,
        "unchanged": 14,
        "rejected": 0,
    }
    counsellor = person(session, "2023000005").counsellor
    assert counsellor is not None
    assert counsellor.userid == "200004"


def test_process_scope_follows_the_synced_tree(db, session):
    write_feed(session, small_school())
    run_sync(db)
    version = factories.process(session, factories.simple_spec("10", visible_to=["20"]))
    session.commit()

    def scope() -> set[str]:
        return set(
            session.scalars(
                select(Department.code)
                .join(ProcessScope, ProcessScope.department_id == Department.id)
                .where(ProcessScope.process_id == version.process_id)
            )
        )

    assert scope() == {"20", "2001", "2002"}
    feed = small_school()
    feed["JZG_T_BM"].append(dept("2003", "外科学教研室", "20"))
    write_feed(session, feed)
    report = run_sync(db)
    assert counts(report, "scopes") == {
        "inserted": 0,
        "updated": 1,
        "deactivated": 0,
        "unchanged": 0,
        "rejected": 0,
    }
    session.expire_all()
    assert scope() == {"20", "2001", "2002", "2003"}


@pytest.mark.parametrize("backend", ["postgresql"])
def test_runs_are_listed_newest_first(db, session, backend):
    write_feed(session, small_school())
    first = run_sync(db, trigger="cron")
    second = run_sync(db)
    runs = list_runs(session, 10)
    assert [r.run_id for r in runs[:2]] == [second.run_id, first.run_id]
    assert runs[1].trigger == "cron"
    assert runs[0].steps["people"].unchanged == 12
    assert any("共 0 项变更" in line for line in runs[0].lines())


def test_a_second_run_finds_the_same_changes_whatever_filters_unchanged_rows(db, session):
    """PostgreSQL leaves unchanged rows out in SQL; every edge still counts as in Python."""
    feed = small_school()
    feed["XS_JBXX"][5]["FDYGH"] = "999999"  # an unknown counsellor: warned on every run
    write_feed(session, feed)
    first = run_sync(db)
    assert first.problems.warnings_total == 1
    student_row = person(session, "2023000001")
    student_row.profile = {**student_row.profile, "supervisor": "王教授"}  # not the sync's
    session.commit()
    feed["XS_JBXX"].append(dict(feed["XS_JBXX"][2]))  # a key twice: both rows rejected
    feed["XS_JBXX"][3]["XB"] = "2"  # the same gender, written differently
    feed["XS_JBXX"][4]["SJH"] = " +86 138-0000-0004 "  # the same mobile, written differently
    feed["JZG_T_USER"][1]["DZYX"] = "new@school.edu.cn"
    feed["JZG_T_USER"][3]["SJH"] = "12345"  # invalid now: rejected, the person kept
    feed["JZG_T_USER"][2]["GH"] = " 200001 "  # the key is trimmed
    feed["XS_JBXX"][0]["FDYGH"] = "200004"  # a new counsellor for an unchanged student
    write_feed(session, feed)
    report = run_sync(db)
    assert report.ok, report.message
    assert counts(report, "people") == {
        "inserted": 0,
        "updated": 2,
        "deactivated": 0,
        "unchanged": 8,
        "rejected": 3,
    }
    assert report.problems.warnings_total == 1
    assert {(r.table, r.key) for r in report.problems.rejected} == {
        ("XS_JBXX", "2023000002"),
        ("JZG_T_USER", "200002"),
    }
    assert person(session, "2023000001").profile["supervisor"] == "王教授"
    assert person(session, "2023000000").counsellor_id == person(session, "200004").id
    assert person(session, "100002").email == "new@school.edu.cn"
    again = run_sync(db)
    assert counts(again, "people")["unchanged"] == 10
    assert counts(again, "people")["rejected"] == 3
