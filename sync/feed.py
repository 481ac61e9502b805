"""Reading and checking the staging tables' rows.

Rows are normalised (trimmed; empty means missing) and checked one by one; a bad row becomes
a `Rejection` with a reason in Chinese for the report, the rest goes on. Department rows are
few and read whole (the tree needs them all for parents and cycles). People are many and are
streamed in key order, staff and students merged into one stream, so the sync can walk them
alongside the `person` table without holding either in memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Table,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.orm import Session

from hall.models import PersonKind
from sync.report import Problems
from sync.staging import JZG_T_BM, JZG_T_USER, XS_JBXX

NAME_MAX = 64  # Person.name, Department.name and WeCom's limit for both
CODE_MAX = 32  # Department.code, Person.number
POST_MAX = 64
EMAIL_MAX = 128
MAX_DEPTH = 14  # WeCom allows 15 levels, its root (the school) being one of them
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
USERID_RE = re.compile(r"^[0-9A-Za-z_\-@.]{1,64}$")  # WeCom's userid alphabet
DEPT_NAME_FORBIDDEN = frozenset('\\:*?"<>|')
GENDERS = {"1": "男", "2": "女", "男": "男", "女": "女", "男性": "男", "女性": "女"}
STAFF_ACTIVE = "在职"
STUDENT_ACTIVE = "在读"
BATCH = 2000  # rows fetched per round trip when streaming


def clean(value: Any) -> str | None:
    """A staging value trimmed; empty strings are missing values."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _too_long(value: str | None, limit: int) -> bool:
    return value is not None and len(value) > limit


# ------------------------------------------------------------------------- departments


@dataclass(frozen=True)
class DeptRecord:
    """A valid JZG_T_BM row."""

    code: str
    name: str
    parent: str | None
    level: int  # computed from the tree; BMJB must agree when given
    sort: int
    active: bool


@dataclass(frozen=True)
class ExistingDept:
    id: int
    code: str
    name: str
    parent_id: int | None
    level: int
    sort: int
    active: bool


@dataclass
class DeptFeed:
    valid: dict[str, DeptRecord]
    rejected_keys: set[str]  # codes present in the feed whose rows were rejected
    rejected_by_level: dict[int, int]


def _dept_row_problem(row: Mapping[str, str | None]) -> str | None:
    name = row["BMMC"]
    if name is None:
        return "缺少部门名称 BMMC"
    if len(name) > NAME_MAX:
        return f"部门名称超过 {NAME_MAX} 个字"
    if DEPT_NAME_FORBIDDEN & set(name):
        return '部门名称含有企业微信不允许的字符 \\:*?"<>|'
    if len(row["BMDM"] or "") > CODE_MAX:
        return f"部门代码超过 {CODE_MAX} 个字符"
    if row["SFYX"] not in {"1", "0"}:
        return "有效标志 SFYX 只能是 1 或 0"
    if row["PX"] is not None and not re.fullmatch(r"-?\d{1,9}", row["PX"]):
        return "排序号 PX 不是整数"
    if row["BMJB"] is not None and not re.fullmatch(r"\d{1,2}", row["BMJB"]):
        return "部门级别 BMJB 不是数字"
    if row["SJBMDM"] is not None and row["SJBMDM"] == row["BMDM"]:
        return "上级部门是其自身（部门树存在环）"
    return None


def _row_level(row: Mapping[str, str | None]) -> int:
    """The level a rejected row claims, to count it under the right step."""
    if row["BMJB"] is not None and row["BMJB"].isdigit():
        return 1 if int(row["BMJB"]) <= 1 else 2
    return 1 if row["SJBMDM"] is None else 2


def read_departments(
    session: Session, existing: Mapping[str, ExistingDept], problems: Problems
) -> DeptFeed:
    """Every JZG_T_BM row checked: keys, duplicates, names, parents, cycles, levels."""
    table = "JZG_T_BM"
    rows: dict[str, list[dict[str, str | None]]] = {}
    feed = DeptFeed(valid={}, rejected_keys=set(), rejected_by_level={1: 0, 2: 0})

    def reject(row: Mapping[str, str | None], reason: str) -> None:
        problems.reject(table, row["BMDM"], reason)
        feed.rejected_by_level[_row_level(row)] += 1
        if row["BMDM"] is not None:
            feed.rejected_keys.add(row["BMDM"])

    for raw in session.execute(select(JZG_T_BM)).mappings():
        row = {k: clean(v) for k, v in raw.items()}
        if row["BMDM"] is None:
            reject(row, "缺少部门代码 BMDM")
            continue
        rows.setdefault(row["BMDM"], []).append(row)

    candidates: dict[str, dict[str, str | None]] = {}
    for code, group in rows.items():
        if len(group) > 1:
            for row in group:
                reject(row, f"部门代码重复（{len(group)} 行）")
            continue
        problem = _dept_row_problem(group[0])
        if problem:
            reject(group[0], problem)
        else:
            candidates[code] = group[0]

    # Walk up from every candidate: a parent must be a candidate, or a department we keep
    # because its own row was rejected; a walk that comes back to itself is a cycle.
    depth: dict[str, int] = {}
    effective: dict[str, bool] = {}  # active, and every ancestor active
    parent_ok: dict[str, bool] = {}
    failed: dict[str, str] = {}

    def fail(path: list[str], reason: str) -> None:
        failed[path[-1]] = reason
        for item, parent in pairwise(path):
            failed.setdefault(item, f"上级部门 {parent} 未通过检查")

    for start in candidates:
        path: list[str] = []
        code = start
        base, base_active = 0, True
        while True:
            if code in depth:
                base, base_active = depth[code], effective[code]
                break
            if code in failed:
                fail([*path, code], failed[code])
                path = []
                break
            if code in path:
                for item in path[path.index(code) :]:
                    failed[item] = "部门树存在环"
                fail(path, "部门树存在环")
                path = []
                break
            path.append(code)
            parent = candidates[code]["SJBMDM"]
            if parent is None:
                break
            if parent in candidates:
                code = parent
                continue
            kept = existing.get(parent)
            if parent in feed.rejected_keys and kept is not None:
                base, base_active = kept.level, kept.active
            else:
                fail(path, f"上级部门 {parent} 不存在或未通过检查")
                path = []
            break
        for item in reversed(path):
            base += 1
            depth[item] = base
            parent_ok[item] = base_active
            base_active = base_active and candidates[item]["SFYX"] == "1"
            effective[item] = base_active

    for code, row in candidates.items():
        if code in failed:
            reject(row, failed[code])
            continue
        level = depth[code]
        parent = row["SJBMDM"]
        if row["BMJB"] is not None and int(row["BMJB"]) != level:
            reject(row, f"部门级别 BMJB={row['BMJB']} 与上级部门不一致（应为 {level}）")
        elif level > MAX_DEPTH:
            reject(row, f"部门层级超过 {MAX_DEPTH} 级")
        elif row["SFYX"] == "1" and not parent_ok[code]:
            reject(row, f"上级部门 {parent} 已停用")
        else:
            feed.valid[code] = DeptRecord(
                code=code,
                name=row["BMMC"] or "",
                parent=parent,
                level=level,
                sort=int(row["PX"] or 0),
                active=row["SFYX"] == "1",
            )
    # A child whose parent was rejected in the last pass cannot stay either.
    changed = True
    while changed:
        changed = False
        for code, record in list(feed.valid.items()):
            if record.parent is not None and record.parent not in feed.valid:
                kept = existing.get(record.parent)
                if record.parent in feed.rejected_keys and kept is not None:
                    continue
                del feed.valid[code]
                reject(candidates[code], f"上级部门 {record.parent} 未通过检查")
                changed = True
    return feed


# ------------------------------------------------------------------------------ people


class PersonRecord(NamedTuple):
    """A valid JZG_T_USER or XS_JBXX row, normalised to the hall's fields."""

    userid: str
    kind: PersonKind
    name: str
    gender: str | None
    mobile: str | None
    email: str | None  # staff only: students' email is not the data center's
    post: str | None  # staff only
    active: bool
    department: str
    profile: dict[str, str] | None  # students only: the keys the sync owns
    counsellor: str | None  # students only: FDYGH


class FeedRow(NamedTuple):
    """One row of the merged people stream (staff columns or student columns)."""

    kind: str
    k: str
    XM: str | None
    XB: str | None
    dept: str | None
    SJH: str | None
    DZYX: str | None
    ZW: str | None
    status: str | None
    ZYMC: str | None
    BJMC: str | None
    NJ: str | None
    XSLB: str | None
    FDYGH: str | None


# Profile keys the sync owns for students (others, e.g. a supervisor, are kept as they are).
STUDENT_PROFILE = {"major": "ZYMC", "class": "BJMC", "grade": "NJ", "level": "XSLB"}


def _key(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    trimmed = func.trim(column)
    # Python compares strings by code point; PostgreSQL must sort the same way to merge.
    return trimmed.collate("C") if dialect == "postgresql" else trimmed


def _norm(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """`clean()` in SQL: trimmed, and empty strings are missing values."""
    return func.nullif(func.trim(column), "")


def _text(value: str | None) -> ColumnElement[Any]:
    return cast(literal(value), String) if value is not None else cast(null(), String)


def people_stream(session: Session, unchanged: Table | None = None) -> Iterator[FeedRow]:
    """Staff and students with a key, merged and ordered by key (byte order).

    `unchanged`: a table of keys (`userid`) found unchanged in SQL, left out of the stream.
    """
    dialect = session.get_bind().dialect.name
    u, x = JZG_T_USER.c, XS_JBXX.c
    none = _text(None)
    staff: Select[Any] = select(
        _text(PersonKind.STAFF.value).label("kind"),
        _key(u.GH, dialect).label("k"),
        _norm(u.XM).label("XM"),
        _norm(u.XB).label("XB"),
        _norm(u.BMDM).label("dept"),
        _norm(u.SJH).label("SJH"),
        _norm(u.DZYX).label("DZYX"),
        _norm(u.ZW).label("ZW"),
        _norm(u.RYZT).label("status"),
        none.label("ZYMC"),
        none.label("BJMC"),
        none.label("NJ"),
        none.label("XSLB"),
        none.label("FDYGH"),
    ).where(func.trim(u.GH) != "")
    students: Select[Any] = select(
        _text(PersonKind.STUDENT.value).label("kind"),
        _key(x.XH, dialect).label("k"),
        _norm(x.XM).label("XM"),
        _norm(x.XB).label("XB"),
        _norm(x.YXDM).label("dept"),
        _norm(x.SJH).label("SJH"),
        none.label("DZYX"),
        none.label("ZW"),
        _norm(x.XJZT).label("status"),
        _norm(x.ZYMC).label("ZYMC"),
        _norm(x.BJMC).label("BJMC"),
        _norm(x.NJ).label("NJ"),
        _norm(x.XSLB).label("XSLB"),
        _norm(x.FDYGH).label("FDYGH"),
    ).where(func.trim(x.XH) != "")
    if unchanged is not None:
        staff = staff.where(~exists().where(unchanged.c.userid == func.trim(u.GH)))
        students = students.where(~exists().where(unchanged.c.userid == func.trim(x.XH)))
    union = staff.union_all(students).order_by("k")
    result = session.execute(union, execution_options={"yield_per": BATCH})
    for partition in result.partitions():
        yield from map(FeedRow._make, partition)


def keyless_rows(session: Session, problems: Problems) -> int:
    """Reject the people rows without a staff or student number; returns how many."""
    count = 0
    for table, column, label in (
        ("JZG_T_USER", JZG_T_USER.c.GH, "工号 GH"),
        ("XS_JBXX", XS_JBXX.c.XH, "学号 XH"),
    ):
        name_col = JZG_T_USER.c.XM if table == "JZG_T_USER" else XS_JBXX.c.XM
        query = select(name_col).where(or_(column.is_(None), func.trim(column) == ""))
        for (name,) in session.execute(query):
            problems.reject(table, None, f"缺少{label}（姓名：{clean(name) or '空'}）")
            count += 1
    return count


def table_of(kind: str) -> str:
    return "JZG_T_USER" if kind == PersonKind.STAFF.value else "XS_JBXX"


def check_person(row: FeedRow, departments: Mapping[str, bool]) -> PersonRecord | str:
    """A valid record, or the reason the row is rejected.

    `departments` maps every department code the hall will have after this run to whether
    it is active.
    """
    staff = row.kind == PersonKind.STAFF.value
    label = "工号" if staff else "学号"
    if not USERID_RE.match(row.k) or len(row.k) > CODE_MAX:
        return f"{label}格式无效（最多 {CODE_MAX} 个字母、数字或 _-@.）"
    if row.XM is None:
        return "缺少姓名 XM"
    if len(row.XM) > NAME_MAX:
        return f"姓名超过 {NAME_MAX} 个字"
    if row.status is None:
        return "缺少人员状态 RYZT" if staff else "缺少学籍状态 XJZT"
    if row.dept is None:
        return "缺少所在部门 BMDM" if staff else "缺少学院代码 YXDM"
    active = row.status == (STAFF_ACTIVE if staff else STUDENT_ACTIVE)
    dept_active = departments.get(row.dept)
    if dept_active is None:
        return f"所在部门 {row.dept} 不存在"
    if active and not dept_active:
        return f"所在部门 {row.dept} 已停用"
    mobile = row.SJH
    if mobile is not None:
        mobile = mobile.removeprefix("+86").replace(" ", "").replace("-", "")
        if not MOBILE_RE.match(mobile):
            return f"手机号 {row.SJH} 无效"
    if (
        staff
        and row.DZYX is not None
        and (len(row.DZYX) > EMAIL_MAX or not EMAIL_RE.match(row.DZYX))
    ):
        return f"邮箱 {row.DZYX} 无效"
    if _too_long(row.ZW, POST_MAX):
        return f"职务超过 {POST_MAX} 个字"
    gender = GENDERS.get(row.XB or "")
    profile: dict[str, str] | None = None
    if not staff:
        values = {"ZYMC": row.ZYMC, "BJMC": row.BJMC, "NJ": row.NJ, "XSLB": row.XSLB}
        profile = {}
        for key, col in STUDENT_PROFILE.items():
            value = values[col]
            if value is not None:
                profile[key] = value
    return PersonRecord(
        userid=row.k,
        kind=PersonKind.STAFF if staff else PersonKind.STUDENT,
        name=row.XM,
        gender=gender,
        mobile=mobile,
        email=row.DZYX if staff else None,
        post=row.ZW if staff else None,
        active=active,
        department=row.dept,
        profile=profile,
        counsellor=None if staff else row.FDYGH,
    )
