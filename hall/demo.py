"""The demo school: a small medical college generated deterministically, and the org loader.

`build_demo_school()` returns the school as plain rows shaped like the data center's staging
tables (departments with BMDM codes, staff with GH numbers, students with XH numbers), plus
the role grants and leaders in charge the information center keeps. `load_org()` writes
such rows into the system tables in the seed's sync order and is meant to be reused by the
nightly sync; `load_demo()` loads the school and publishes the process library into an
empty database.

Everything is seeded, so every run yields the same people under the same userids.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hall.clock import utcnow
from hall.models import (
    Department,
    GrantSource,
    Membership,
    Person,
    PersonKind,
    PersonStatus,
    RoleCode,
    RoleGrant,
)
from hall.process_library import load_library
from hall.processes import publish

SEED = 20231018
MAIN_CAMPUS = "主校区"
SOUTH_CAMPUS = "南校区"

# Memorable accounts, documented in `hall demo`'s output and the README.
PRESIDENT = "10000001"
VICE_PRESIDENT_ACADEMIC = "10000002"
VICE_PRESIDENT_SERVICES = "10000003"
OFFICE_SEAL_CLERK = "10010002"
HR_HEAD = "10020001"
HR_CLERK = "10020003"
ACADEMIC_REGISTRAR = "10030002"
STUDENT_AFFAIRS_CLERK = "10040002"
SECURITY_CLERK = "10050002"
IT_ADMIN = "10060002"
IT_TECHNICIAN = "10060003"
ARCHIVES_CLERK = "10070002"
CLINICAL_DEAN = "20010001"
CLINICAL_DEPUTY_SECRETARY = "20010002"
FIRST_COUNSELLOR = "20010003"
FIRST_TEACHER = "20010005"
FIRST_STUDENT = "2023010001"
ROOMMATE = "2023010002"
FIRST_POSTGRADUATE = "2023015001"
FIRST_ALUMNUS = "oc13877310001"

# ---------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class DeptRow:
    """A department as the data center's JZG_T_BM has it."""

    code: str  # BMDM
    name: str  # BMMC
    parent: str | None = None  # SJBMDM
    sort: int = 0  # PX
    campus: str | None = None
    active: bool = True  # SFYX

    @property
    def level(self) -> int:  # BMJB
        return 1 if self.parent is None else 2


@dataclass(frozen=True)
class PersonRow:
    """A person as JZG_T_USER / XS_JBXX have them (off-campus people come from the hall)."""

    userid: str
    kind: PersonKind
    name: str
    department: str | None  # BMDM / YXDM
    number: str | None = None  # GH / XH
    gender: str | None = None
    mobile: str | None = None
    email: str | None = None
    post: str | None = None  # ZW
    counsellor: str | None = None  # FDYGH
    profile: dict[str, Any] = field(default_factory=dict)
    # Secondary memberships: (department code, post), e.g. a teacher's 教研室.
    also_in: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class GrantRow:
    userid: str
    role: RoleCode
    department: str | None  # scope; None = school-wide
    source: GrantSource = GrantSource.SYNC


@dataclass
class OrgData:
    """A whole organisation in plain rows, ready for `load_org`."""

    departments: list[DeptRow] = field(default_factory=list)
    people: list[PersonRow] = field(default_factory=list)
    grants: list[GrantRow] = field(default_factory=list)
    leaders_in_charge: dict[str, str] = field(default_factory=dict)  # dept code → userid


@dataclass(frozen=True)
class LoadCounts:
    departments: int
    people: int
    memberships: int
    grants: int
    processes: int = 0
    changed: int = 0  # departments and people created or updated


# ---------------------------------------------------------------- the school's tree

LEADERS_CODE = "1000"

# (code, name, campus, [second-level units]); codes in the data center's BMDM style.
OFFICES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (LEADERS_CODE, "校领导", MAIN_CAMPUS, ()),
    ("1001", "党政办公室", MAIN_CAMPUS, ("综合科", "机要室")),
    ("1002", "人事处", MAIN_CAMPUS, ("人事科", "劳资科")),
    ("1003", "教务处", MAIN_CAMPUS, ("学籍科", "教学运行科")),
    ("1004", "学生工作处", MAIN_CAMPUS, ("学生管理科", "资助中心")),
    ("1005", "保卫处", MAIN_CAMPUS, ("治安科", "交通管理科")),
    ("1006", "信息中心", MAIN_CAMPUS, ("网络运维科", "应用开发科")),
    ("1007", "档案馆", MAIN_CAMPUS, ()),
    ("1008", "研究生院", MAIN_CAMPUS, ("培养办公室",)),
    ("1009", "财务处", MAIN_CAMPUS, ("会计科",)),
    ("1010", "后勤管理处", SOUTH_CAMPUS, ("宿舍管理中心",)),
)

# (code, name, campus, [second-level units], [(major, 本科 per grade, 硕士 per grade)]).
COLLEGES: tuple[tuple[str, str, str, tuple[str, ...], tuple[tuple[str, int, int], ...]], ...] = (
    (
        "2001",
        "临床医学院",
        MAIN_CAMPUS,
        ("学院办公室", "内科学教研室", "外科学教研室"),
        (("临床医学", 12, 3), ("医学影像学", 4, 0)),
    ),
    (
        "2002",
        "基础医学院",
        SOUTH_CAMPUS,
        ("学院办公室", "人体解剖学教研室", "生理学教研室"),
        (("基础医学", 6, 2),),
    ),
    (
        "2003",
        "护理学院",
        SOUTH_CAMPUS,
        ("学院办公室", "护理学系"),
        (("护理学", 9, 0),),
    ),
    (
        "2004",
        "药学院",
        SOUTH_CAMPUS,
        ("学院办公室", "药学系", "药物化学教研室"),
        (("药学", 6, 1),),
    ),
    (
        "2005",
        "计算机学院",
        MAIN_CAMPUS,
        ("学院办公室", "计算机科学系", "软件工程系"),
        (("计算机科学与技术", 5, 0), ("医学信息工程", 3, 0)),
    ),
)

UNDERGRADUATE_GRADES = ("2023", "2024", "2022", "2021")
POSTGRADUATE_GRADES = ("2023", "2024")

# Staff of the offices: (department code, post, roles); the first row of a department
# gets staff number <code>0001, the next <code>0002, and so on.
Role = tuple[RoleCode, str | None]
OFFICE_STAFF: tuple[tuple[str, str, tuple[Role, ...]], ...] = (
    (LEADERS_CODE, "校长", ((RoleCode.SCHOOL_LEADER, None), (RoleCode.DEPT_HEAD, LEADERS_CODE))),
    (LEADERS_CODE, "副校长", ((RoleCode.SCHOOL_LEADER, None),)),
    (LEADERS_CODE, "副校长", ((RoleCode.SCHOOL_LEADER, None),)),
    ("1001", "主任", ((RoleCode.DEPT_HEAD, "1001"),)),
    ("1001", "科员", ((RoleCode.PROCESS_ADMIN, "1001"), (RoleCode.DEPT_ADMIN, "1001"))),
    ("1002", "处长", ((RoleCode.DEPT_HEAD, "1002"),)),
    ("1002", "副处长", ()),
    ("1002", "科员", ((RoleCode.PROCESS_ADMIN, "1002"), (RoleCode.DEPT_ADMIN, "1002"))),
    ("1003", "处长", ((RoleCode.DEPT_HEAD, "1003"),)),
    ("1003", "科员", ((RoleCode.PROCESS_ADMIN, "1003"), (RoleCode.DEPT_ADMIN, "1003"))),
    ("1004", "处长", ((RoleCode.DEPT_HEAD, "1004"),)),
    ("1004", "科员", ((RoleCode.PROCESS_ADMIN, "1004"), (RoleCode.DEPT_ADMIN, "1004"))),
    ("1005", "处长", ((RoleCode.DEPT_HEAD, "1005"),)),
    ("1005", "科员", ((RoleCode.PROCESS_ADMIN, "1005"), (RoleCode.DEPT_ADMIN, "1005"))),
    ("1006", "主任", ((RoleCode.DEPT_HEAD, "1006"),)),
    (
        "1006",
        "工程师",
        ((RoleCode.INFO_CENTER, None), (RoleCode.DEPT_ADMIN, "1006")),
    ),
    ("1006", "技术员", ((RoleCode.PROCESS_ADMIN, "1006"),)),
    ("1006", "技术员", ((RoleCode.PROCESS_ADMIN, "1006"),)),
    ("1007", "馆长", ((RoleCode.DEPT_HEAD, "1007"),)),
    ("1007", "科员", ((RoleCode.PROCESS_ADMIN, "1007"), (RoleCode.DEPT_ADMIN, "1007"))),
    ("1008", "院长", ((RoleCode.DEPT_HEAD, "1008"),)),
    ("1008", "科员", ((RoleCode.DEPT_ADMIN, "1008"),)),
    ("1009", "处长", ((RoleCode.DEPT_HEAD, "1009"),)),
    ("1009", "科员", ((RoleCode.DEPT_ADMIN, "1009"),)),
    ("1010", "处长", ((RoleCode.DEPT_HEAD, "1010"),)),
    ("1010", "科员", ((RoleCode.PROCESS_ADMIN, "1010"), (RoleCode.DEPT_ADMIN, "1010"))),
)

# 分管校领导: which school leader is in charge of which first-level department.
LEADER_OF: dict[str, str] = {
    "1001": PRESIDENT,
    "1009": PRESIDENT,
    "1002": VICE_PRESIDENT_ACADEMIC,
    "1003": VICE_PRESIDENT_ACADEMIC,
    "1004": VICE_PRESIDENT_ACADEMIC,
    "1007": VICE_PRESIDENT_ACADEMIC,
    "1008": VICE_PRESIDENT_ACADEMIC,
    "1005": VICE_PRESIDENT_SERVICES,
    "1006": VICE_PRESIDENT_SERVICES,
    "1010": VICE_PRESIDENT_SERVICES,
    "2001": VICE_PRESIDENT_ACADEMIC,
    "2002": VICE_PRESIDENT_ACADEMIC,
    "2003": VICE_PRESIDENT_ACADEMIC,
    "2004": VICE_PRESIDENT_ACADEMIC,
    "2005": VICE_PRESIDENT_SERVICES,
    LEADERS_CODE: PRESIDENT,
}

TITLES = ("讲师", "副教授", "教授", "主治医师", "副主任医师")

# --------------------------------------------------------------------------- names

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦覃莫蒙黎陶龙秦雷"
)
GIVEN_MALE = "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波宁浩凯健俊帆峰博文斌志宇翔然晨轩睿"
GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀玲燕红婷雪琳晶欣颖佳怡慧倩璐瑶妍悦琪菲彤蕾雯嘉"


class _Names:
    """Chinese names from surname and given-name lists, unique within one school."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def make(self) -> tuple[str, str]:
        while True:
            gender = self.rng.choice(("男", "女"))
            chars = GIVEN_MALE if gender == "男" else GIVEN_FEMALE
            given = "".join(self.rng.choice(chars) for _ in range(self.rng.choice((1, 2, 2))))
            name = self.rng.choice(SURNAMES) + given
            if name not in self.used:
                self.used.add(name)
                return name, gender


class _Mobiles:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def make(self) -> str:
        while True:
            mobile = self.rng.choice(("139", "138", "135", "152", "177", "187", "199"))
            mobile += f"{self.rng.randrange(10**8):08d}"
            if mobile not in self.used:
                self.used.add(mobile)
                return mobile


# -------------------------------------------------------------------- the generator


def build_demo_school(seed: int = SEED) -> OrgData:
    """The demo school as plain rows; the same seed always gives the same school."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    names = _Names(rng)
    mobiles = _Mobiles(rng)
    org = OrgData()
    _departments(org)
    _office_staff(org, names, mobiles)
    _college_people(org, names, mobiles, rng)
    _alumni(org, names)
    for dept in org.departments:
        top = dept.parent or dept.code
        org.leaders_in_charge[dept.code] = LEADER_OF[top]
    return org


def _departments(org: OrgData) -> None:
    sort = 0
    for code, name, campus, units in (*OFFICES, *((c[0], c[1], c[2], c[3]) for c in COLLEGES)):
        sort += 10
        org.departments.append(DeptRow(code, name, sort=sort, campus=campus))
        for i, unit in enumerate(units, start=1):
            org.departments.append(
                DeptRow(f"{code}{i:02d}", unit, parent=code, sort=sort + i, campus=campus)
            )


def _staff(
    org: OrgData,
    names: _Names,
    mobiles: _Mobiles,
    *,
    userid: str,
    dept: str,
    post: str,
    roles: Iterable[Role],
    **extra: Any,
) -> PersonRow:
    name, gender = names.make()
    row = PersonRow(
        userid=userid,
        kind=PersonKind.STAFF,
        name=name,
        department=dept,
        number=userid,
        gender=gender,
        mobile=mobiles.make(),
        email=f"{userid}@demo.edu.cn",
        post=post,
        **extra,
    )
    org.people.append(row)
    for role, scope in roles:
        source = (
            GrantSource.SYNC
            if role in {RoleCode.DEPT_HEAD, RoleCode.DEPUTY_SECRETARY, RoleCode.COUNSELLOR}
            else GrantSource.MANUAL
        )
        org.grants.append(GrantRow(userid, role, scope, source))
    return row


def _office_staff(org: OrgData, names: _Names, mobiles: _Mobiles) -> None:
    seq: dict[str, int] = {}
    for dept, post, roles in OFFICE_STAFF:
        seq[dept] = seq.get(dept, 0) + 1
        _staff(
            org,
            names,
            mobiles,
            userid=f"{dept}{seq[dept]:04d}",
            dept=dept,
            post=post,
            roles=roles,
        )


def _college_people(org: OrgData, names: _Names, mobiles: _Mobiles, rng: random.Random) -> None:
    for number, (code, _name, _campus, _units, majors) in enumerate(COLLEGES, start=1):
        big = len(majors) > 1 or majors[0][1] >= 9
        plan: list[tuple[str, tuple[Role, ...], tuple[tuple[str, str], ...]]] = [
            ("院长", ((RoleCode.DEPT_HEAD, code),), ()),
            ("副书记", ((RoleCode.DEPUTY_SECRETARY, code),), ()),
            ("辅导员", ((RoleCode.COUNSELLOR, code),), ()),
        ]
        if big:
            plan.append(("辅导员", ((RoleCode.COUNSELLOR, code),), ()))
        plan.append(("教师", (), ((f"{code}02", "教师"),)))
        plan.append(
            ("科员", ((RoleCode.DEPT_ADMIN, code),), ((f"{code}01", "科员"),)),
        )
        counsellors: list[str] = []
        for i, (post, roles, also) in enumerate(plan, start=1):
            userid = f"{code}{i:04d}"
            profile = {"title": rng.choice(TITLES)} if post == "教师" else {}
            _staff(
                org,
                names,
                mobiles,
                userid=userid,
                dept=code,
                post=post,
                roles=roles,
                also_in=also,
                profile=profile,
            )
            if post == "辅导员":
                counsellors.append(userid)
        _students(
            org,
            names,
            mobiles,
            college_no=number,
            college=code,
            majors=majors,
            counsellors=counsellors,
        )


def _students(
    org: OrgData,
    names: _Names,
    mobiles: _Mobiles,
    *,
    college_no: int,
    college: str,
    majors: Sequence[tuple[str, int, int]],
    counsellors: Sequence[str],
) -> None:
    # The first counsellor looks after the two youngest grades, the last one the rest.
    for level, grades, digit in (
        ("本科", UNDERGRADUATE_GRADES, 0),
        ("硕士", POSTGRADUATE_GRADES, 5),
    ):
        for grade in grades:
            seq = 0
            for major, undergraduates, postgraduates in majors:
                count = undergraduates if level == "本科" else postgraduates
                for i in range(count):
                    seq += 1
                    xh = f"{grade}{college_no:02d}{digit}{seq:03d}"
                    young = level == "本科" and grade in UNDERGRADUATE_GRADES[:2]
                    name, gender = names.make()
                    klass = f"{major}{grade}级{i // 30 + 1}班" if level == "本科" else None
                    profile = {"major": major, "grade": grade, "level": level}
                    if klass:
                        profile["class"] = klass
                    else:
                        profile["supervisor"] = f"{names.make()[0]}教授"
                    org.people.append(
                        PersonRow(
                            userid=xh,
                            kind=PersonKind.STUDENT,
                            name=name,
                            department=college,
                            number=xh,
                            gender=gender,
                            mobile=mobiles.make(),
                            email=f"{xh}@stu.demo.edu.cn",
                            counsellor=counsellors[0] if young else counsellors[-1],
                            profile=profile,
                        )
                    )


def _alumni(org: OrgData, names: _Names) -> None:
    for i, (grade, major) in enumerate(
        (("2012", "临床医学"), ("2008", "护理学"), ("2015", "药学")), start=1
    ):
        mobile = f"1387731{i:04d}"
        name, gender = names.make()
        org.people.append(
            PersonRow(
                userid=f"oc{mobile}",
                kind=PersonKind.OFFCAMPUS,
                name=name,
                department=None,
                gender=gender,
                mobile=mobile,
                profile={"major": major, "grade": grade, "alumnus": True},
            )
        )


# ----------------------------------------------------------------------- the loader


def load_org(session: Session, org: OrgData) -> LoadCounts:
    """Write `org` into the system tables, inserting or updating by code and userid.

    Order follows the seed's sync: first-level departments, second-level departments,
    people, department–person relations, roles, then the leaders in charge. Grants from
    the sync source that `org` no longer lists are removed; manual grants stay.
    """
    now = utcnow()
    changed = 0
    depts = {d.code: d for d in session.scalars(select(Department))}
    for level in (1, 2):
        for d in (d for d in org.departments if d.level == level):
            dept = depts.get(d.code)
            if dept is None:
                dept = Department(code=d.code)
                session.add(dept)
                depts[d.code] = dept
            parent_id = depts[d.parent].id if d.parent else None
            if _assign(
                dept,
                name=d.name,
                parent_id=parent_id,
                level=d.level,
                sort=d.sort,
                campus=d.campus,
                active=d.active,
            ):
                dept.updated_at = now
                changed += 1
        session.flush()

    people = {p.userid: p for p in session.scalars(select(Person))}
    for row in org.people:
        who = people.get(row.userid)
        if who is None:
            who = Person(userid=row.userid, kind=row.kind, status=PersonStatus.ACTIVE)
            session.add(who)
            people[row.userid] = who
        if _assign(
            who,
            kind=row.kind,
            number=row.number,
            name=row.name,
            gender=row.gender,
            mobile=row.mobile,
            email=row.email,
            post=row.post,
            department_id=depts[row.department].id if row.department else None,
            profile=dict(row.profile),
        ):
            who.updated_at = now
            changed += 1
    session.flush()
    for row in org.people:
        who = people[row.userid]
        if _assign(who, counsellor_id=people[row.counsellor].id if row.counsellor else None):
            who.updated_at = now

    memberships = _load_memberships(session, org, depts, people)
    grants = _load_grants(session, org, depts, people)
    for code, userid in org.leaders_in_charge.items():
        if _assign(depts[code], leader_in_charge_id=people[userid].id):
            depts[code].updated_at = now
    session.flush()
    return LoadCounts(
        departments=len(org.departments),
        people=len(org.people),
        memberships=memberships,
        grants=grants,
        changed=changed,
    )


def _assign(obj: object, **values: Any) -> bool:
    """Set the attributes that differ; True when anything changed (or the row is new)."""
    new = getattr(obj, "id", None) is None
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed or new


def _load_memberships(
    session: Session,
    org: OrgData,
    depts: dict[str, Department],
    people: dict[str, Person],
) -> int:
    existing = {(m.person_id, m.department_id): m for m in session.scalars(select(Membership))}
    count = 0
    for row in org.people:
        wanted = [(row.department, row.post, True)] if row.department else []
        wanted += [(code, post, False) for code, post in row.also_in]
        for code, post, primary in wanted:
            if code is None:
                continue
            key = (people[row.userid].id, depts[code].id)
            member = existing.get(key)
            if member is None:
                member = Membership(person_id=key[0], department_id=key[1])
                session.add(member)
                existing[key] = member
            member.primary = primary
            member.post = post
            count += 1
    return count


def _load_grants(
    session: Session,
    org: OrgData,
    depts: dict[str, Department],
    people: dict[str, Person],
) -> int:
    existing = {
        (g.person_id, g.role_code, g.department_id): g for g in session.scalars(select(RoleGrant))
    }
    wanted: set[tuple[int, RoleCode, int | None]] = set()
    for row in org.grants:
        key = (
            people[row.userid].id,
            row.role,
            depts[row.department].id if row.department else None,
        )
        wanted.add(key)
        if key not in existing:
            grant = RoleGrant(
                person_id=key[0], role_code=key[1], department_id=key[2], source=row.source
            )
            session.add(grant)
            existing[key] = grant
    for key, grant in existing.items():
        if key not in wanted and grant.source == GrantSource.SYNC:
            session.delete(grant)
    return len(wanted)


# --------------------------------------------------------------------- the demo load


def has_people(session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(Person)))


def load_demo(session: Session, seed: int = SEED) -> LoadCounts | None:
    """Load the demo school and publish the process library into an empty database.

    Returns None, changing nothing, when the database already has people.
    """
    if has_people(session):
        return None
    counts = load_org(session, build_demo_school(seed))
    specs = load_library()
    for spec in specs:
        publish(session, spec)
    session.flush()
    return LoadCounts(
        departments=counts.departments,
        people=counts.people,
        memberships=counts.memberships,
        grants=counts.grants,
        processes=len(specs),
        changed=counts.changed,
    )


# Memorable people and what to try with them, shown by `hall demo`.
MEMORABLE: tuple[tuple[str, str], ...] = (
    (FIRST_STUDENT, "临床医学2023级本科生：学生请假、出校申请（通行码）、宿舍调整、网络报修"),
    (ROOMMATE, "同班同学：宿舍互换时的室友同意"),
    (FIRST_COUNSELLOR, "上述学生的辅导员：审批学生请假、出校申请"),
    (CLINICAL_DEPUTY_SECRETARY, "临床医学院副书记：请假超过 2 天时审批"),
    (ACADEMIC_REGISTRAR, "教务处学籍科：请假超过 7 天备案、毕业证明书补办"),
    (FIRST_TEACHER, "临床医学院教师：教职工请假、在职证明、VPN、用印"),
    (CLINICAL_DEAN, "临床医学院院长：部门负责人审批"),
    (HR_CLERK, "人事处科员：在职证明填写取件码、请假 6 天以上审批"),
    (HR_HEAD, "人事处处长"),
    (VICE_PRESIDENT_ACADEMIC, "分管人事、教学、学生工作的副校长：请假 15 天以上审批"),
    (PRESIDENT, "校长：合同章、法人章用印"),
    (IT_ADMIN, "信息中心管理员（info_center）：管理整个办事大厅"),
    (IT_TECHNICIAN, "信息中心技术员：网络报修、邮箱与 VPN 开通"),
    (SECURITY_CLERK, "保卫处科员：公务来访车辆"),
    (OFFICE_SEAL_CLERK, "党政办公室科员：用印、会议室"),
    (STUDENT_AFFAIRS_CLERK, "学生工作处科员：宿舍调整"),
    (ARCHIVES_CLERK, "档案馆科员：档案查询预约"),
    (FIRST_ALUMNUS, "校友（校外人员，手机 13877310001）：档案查询预约、毕业证明书补办"),
)
