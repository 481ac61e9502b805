"""The nightly sync's figures on PostgreSQL: 60,000 students, 6,000 staff, 800 departments.

Targets (issue: one source of truth for people): first sync <= 60 s; a nightly run with no
changes <= 5 s; with 1 % changed <= 8 s; peak memory <= 300 MB. The same three runs are timed
for a plain row-by-row ORM loop (the naive sync below) and shown as a ratio. Then the WeCom
API calls of the initial push of the whole school and of a 1 % push, against the sandbox WeCom
served over HTTP in a thread (it needs Redis: HALL_BENCH_REDIS_URL, default db 14 on
127.0.0.1). `run(database_url)` rebuilds the database's schema from scratch.
"""

from __future__ import annotations

import os
import random
import resource
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import redis
from flask import Flask
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from config import load_settings
from hall.db import Database, make_engine
from hall.migrate import upgrade
from hall.models import (
    Department,
    GrantSource,
    Membership,
    Person,
    PersonKind,
    PersonStatus,
    ProcessDefinition,
    RoleCode,
    RoleGrant,
)
from hall.processes import refresh_scope, version_spec
from sync.push import CSV_ROWS, Pusher
from sync.services import COUNSELLOR_POSTS, DEPUTY_SECRETARY_POSTS, HEAD_POSTS, run_sync
from sync.staging import JZG_T_BM, JZG_T_USER, XS_JBXX
from wework import sandbox
from wework.client import contacts_client

STUDENTS, STAFF, DEPARTMENTS, FIRST_LEVEL = 60_000, 6_000, 800, 40
TARGETS = {"first": 60.0, "nightly": 5.0, "one_percent": 8.0}
MEMORY_TARGET_MB = 300
NAIVE_SAMPLE = 0.10  # the naive loop runs on this share of the people, then is scaled
NAIVE_FULL_BUDGET = 180.0  # seconds: run the naive loop on the whole school if it fits
POSTS = ("教师", "教师", "教师", "科员", "辅导员", "工程师")


# ------------------------------------------------------------------------------ data


def _ensure_database(url: str) -> None:
    parsed = make_url(url)
    admin = make_engine(
        parsed.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        found = conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
        )
        if not found:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def _fresh(url: str) -> Database:
    _ensure_database(url)
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(db.engine)
    return db


def _departments() -> Iterator[dict[str, str]]:
    for i in range(FIRST_LEVEL):
        yield {
            "BMDM": f"{i + 1:02d}",
            "BMMC": f"学院{i + 1}",
            "SJBMDM": "",
            "BMJB": "1",
            "PX": str(i),
            "SFYX": "1",
        }
    for j in range(DEPARTMENTS - FIRST_LEVEL):
        parent = f"{j % FIRST_LEVEL + 1:02d}"
        yield {
            "BMDM": f"{parent}{j:04d}",
            "BMMC": f"教研室{j}",
            "SJBMDM": parent,
            "BMJB": "2",
            "PX": str(j),
            "SFYX": "1",
        }


def _fill_feed(db: Database, students: int = STUDENTS, staff_count: int = STAFF) -> None:
    """Write the school into the staging tables (streamed in chunks; not timed)."""
    rng = random.Random(20231018)
    firsts = [f"{i + 1:02d}" for i in range(FIRST_LEVEL)]
    seconds = [d["BMDM"] for d in _departments() if d["SJBMDM"]]
    counsellors: dict[str, list[str]] = {code: [] for code in firsts}
    with db.unit_of_work() as session:
        for table in (JZG_T_BM, JZG_T_USER, XS_JBXX):
            session.execute(table.delete())
        session.execute(insert(JZG_T_BM), list(_departments()))
        rows = []
        for i in range(staff_count):
            college = firsts[i % FIRST_LEVEL]
            if i < FIRST_LEVEL:
                post = "院长"
            elif i < 2 * FIRST_LEVEL:
                post = "副书记"
            else:
                post = POSTS[(i // FIRST_LEVEL) % len(POSTS)]
            gh = f"T{i:06d}"
            if post == "辅导员":
                counsellors[college].append(gh)
            dept = college if post != "教师" else seconds[i % len(seconds)]
            rows.append(
                {
                    "GH": gh,
                    "XM": f"教工{i}",
                    "XB": rng.choice("男女"),
                    "BMDM": dept,
                    "SJH": f"139{i:08d}",
                    "DZYX": f"{gh}@bench.edu.cn",
                    "ZW": post,
                    "RYZT": "在职",
                }
            )
        session.execute(insert(JZG_T_USER), rows)
        for start in range(0, students, 10_000):
            rows = []
            for i in range(start, min(start + 10_000, students)):
                college = firsts[i % FIRST_LEVEL]
                rows.append(
                    {
                        "XH": f"S{i:08d}",
                        "XM": f"学生{i}",
                        "XB": rng.choice("男女"),
                        "YXDM": college,
                        "ZYMC": f"专业{i % 7}",
                        "BJMC": f"{i % 30}班",
                        "NJ": str(2021 + i % 4),
                        "XSLB": "本科",
                        "XJZT": "在读",
                        "SJH": f"138{i:08d}",
                        "FDYGH": rng.choice(counsellors[college]),
                    }
                )
            session.execute(insert(XS_JBXX), rows)


def _change_one_percent(
    db: Database, round_no: int, students_count: int = STUDENTS, staff_count: int = STAFF
) -> int:
    """1 % of the people change (class, post, or they leave), in the staging tables."""
    with db.unit_of_work() as session:
        students = [f"S{i:08d}" for i in range(round_no, students_count, 100)]
        staff = [f"T{i:06d}" for i in range(2 * FIRST_LEVEL + round_no, staff_count, 100)]
        leaving = max(1, len(students) // 12)
        session.execute(
            update(XS_JBXX)
            .where(XS_JBXX.c.XH.in_(students[:-leaving]))
            .values(BJMC=XS_JBXX.c.BJMC + f"-{round_no}")
        )
        session.execute(
            update(XS_JBXX).where(XS_JBXX.c.XH.in_(students[-leaving:])).values(XJZT="毕业")
        )
        session.execute(
            update(JZG_T_USER)
            .where(JZG_T_USER.c.GH.in_(staff))
            .values(DZYX=func.concat("x", round_no, JZG_T_USER.c.DZYX))
        )
    return len(students) + len(staff)


# ------------------------------------------------------------------------ the naive one


def naive_sync(db: Database) -> None:
    """The same sync as a plain row-by-row ORM loop: one query (or more) per row."""
    with db.unit_of_work() as session:
        depts: dict[str, Department] = {}
        for row in session.execute(select(JZG_T_BM).order_by(JZG_T_BM.c.BMJB)).mappings():
            dept = session.scalar(select(Department).where(Department.code == row["BMDM"]))
            if dept is None:
                dept = Department(code=row["BMDM"])
                session.add(dept)
            parent = depts.get(row["SJBMDM"]) if row["SJBMDM"] else None
            dept.name, dept.level, dept.sort = row["BMMC"], int(row["BMJB"]), int(row["PX"])
            dept.parent, dept.active = parent, row["SFYX"] == "1"
            session.flush()
            depts[row["BMDM"]] = dept
        seen: set[str] = set()
        for row in session.execute(select(JZG_T_USER)).mappings().all():
            _naive_person(session, depts, seen, kind=PersonKind.STAFF, key=row["GH"], row=row)
        for row in session.execute(select(XS_JBXX)).mappings().all():
            who = _naive_person(
                session, depts, seen, kind=PersonKind.STUDENT, key=row["XH"], row=row
            )
            counsellor = session.scalar(select(Person).where(Person.userid == row["FDYGH"]))
            who.counsellor_id = counsellor.id if counsellor else None
        for who in session.scalars(select(Person)).all():
            if who.userid not in seen and who.kind != PersonKind.OFFCAMPUS:
                who.status = PersonStatus.INACTIVE
        session.flush()
        for who in session.scalars(select(Person)).all():
            _naive_relations_and_roles(session, who)
        for process in session.scalars(select(ProcessDefinition)).all():
            if process.current_version is not None:
                refresh_scope(session, process, version_spec(process.current_version))


def _naive_person(
    session: Session,
    depts: dict[str, Department],
    seen: set[str],
    *,
    kind: PersonKind,
    key: str,
    row: Any,
) -> Person:
    who = session.scalar(select(Person).where(Person.userid == key))
    if who is None:
        who = Person(userid=key, kind=kind, profile={})
        session.add(who)
    who.number, who.name, who.gender, who.mobile = key, row["XM"], row["XB"], row["SJH"]
    active = row["RYZT" if kind is PersonKind.STAFF else "XJZT"] in {"在职", "在读"}
    who.status = PersonStatus.ACTIVE if active else PersonStatus.INACTIVE
    who.department = depts[row["BMDM" if kind is PersonKind.STAFF else "YXDM"]]
    if kind is PersonKind.STAFF:
        who.email, who.post = row["DZYX"], row["ZW"]
    else:
        profile = {
            "major": row["ZYMC"],
            "class": row["BJMC"],
            "grade": row["NJ"],
            "level": row["XSLB"],
        }
        if who.profile != profile:
            who.profile = profile
    seen.add(key)
    session.flush()
    return who


def _naive_relations_and_roles(session: Session, who: Person) -> None:
    if who.status is not PersonStatus.ACTIVE or who.department_id is None:
        return
    member = session.scalar(
        select(Membership).where(
            Membership.person_id == who.id, Membership.department_id == who.department_id
        )
    )
    if member is None:
        session.add(Membership(person_id=who.id, department_id=who.department_id, post=who.post))
    base = RoleCode.STAFF if who.kind is PersonKind.STAFF else RoleCode.STUDENT
    wanted: set[tuple[RoleCode, int | None]] = {(base, None)}
    if who.post in HEAD_POSTS:
        wanted.add((RoleCode.DEPT_HEAD, who.department_id))
    if who.post in DEPUTY_SECRETARY_POSTS:
        wanted.add((RoleCode.DEPUTY_SECRETARY, who.department_id))
    if who.post in COUNSELLOR_POSTS:
        wanted.add((RoleCode.COUNSELLOR, who.department_id))
    have = session.scalars(
        select(RoleGrant).where(RoleGrant.person_id == who.id, RoleGrant.source == GrantSource.SYNC)
    ).all()
    for grant in have:
        if (grant.role_code, grant.department_id) not in wanted:
            session.delete(grant)
    for role, dept in wanted - {(g.role_code, g.department_id) for g in have}:
        session.add(
            RoleGrant(person_id=who.id, role_code=role, department_id=dept, source=GrantSource.SYNC)
        )


# ----------------------------------------------------------------------------- timing


def _load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def _timed(label: str, call: Callable[[], Any], scale: float = 1.0) -> float:
    began = time.perf_counter()
    call()
    seconds = time.perf_counter() - began
    if scale == 1.0:
        print(f"  {label:<40} {seconds:8.2f} s   ({_load()})")
        return seconds
    print(
        f"  {label:<40} {seconds:8.2f} s on the sample, x{scale:.0f} = "
        f"{seconds * scale:.1f} s SCALED   ({_load()})"
    )
    return seconds * scale


def _peak_mb(call: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _sync(db: Database) -> Callable[[], None]:
    def call() -> None:
        report = run_sync(db, force=True, trigger="bench")
        if not report.ok:
            raise RuntimeError(report.message)

    return call


def _scenarios(db: Database, sync: Callable[[], None], share: float = 1.0) -> dict[str, float]:
    scale = 1.0 / share
    students, staff = round(STUDENTS * share), round(STAFF * share)
    figures = {"first": _timed(f"first sync ({students + staff:,} people)", sync, scale)}
    figures["nightly"] = _timed("nightly, no changes", sync, scale)
    changed = _change_one_percent(db, 1, students, staff)
    figures["one_percent"] = _timed(f"nightly, 1 % changed ({changed} people)", sync, scale)
    return figures


def _naive(database_url: str) -> tuple[dict[str, float], str]:
    """The naive loop's figures: on a sample, scaled, unless the whole school fits the budget."""
    db = _fresh(database_url)
    try:
        _fill_feed(db, round(STUDENTS * NAIVE_SAMPLE), round(STAFF * NAIVE_SAMPLE))
        print(
            f"naive row-by-row ORM loop (bench.sync_bench.naive_sync) on a "
            f"{NAIVE_SAMPLE:.0%} sample (all {DEPARTMENTS} departments):"
        )
        sample = _scenarios(db, lambda: naive_sync(db), NAIVE_SAMPLE)
    finally:
        db.dispose()
    if sum(sample.values()) > NAIVE_FULL_BUDGET:
        print(
            f"  the whole school would take ~{sum(sample.values()):.0f} s "
            f"> {NAIVE_FULL_BUDGET:.0f} s: the naive figures are SCALED from the sample "
            "(linearly: a lower bound, since each flush of its one long session walks every "
            "object loaded so far)"
        )
        return sample, "scaled"
    db = _fresh(database_url)
    try:
        _fill_feed(db)
        print("naive row-by-row ORM loop on the whole school:")
        return _scenarios(db, lambda: naive_sync(db)), "measured"
    finally:
        db.dispose()


# ------------------------------------------------------------------------------ WeCom


def _sandbox(redis_url: str, var_dir: Path) -> tuple[Any, Any, threading.Thread, redis.Redis]:
    conn = redis.Redis.from_url(redis_url)
    conn.flushdb()
    app = Flask("bench-sandbox")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    settings = load_settings(
        sandbox=True,
        base_url=f"http://127.0.0.1:{server.server_port}",
        var_dir=var_dir,
        secret_key="bench",
        redis_url="",
    )
    app.extensions["hall.settings"] = settings
    sandbox.init_app(app, conn)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    return settings, server, thread, conn


def _calls(conn: redis.Redis) -> dict[str, int]:
    raw = conn.hgetall("sandbox:wecom:calls")
    return {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in raw.items()}


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def _by_endpoint(calls: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))


def _push_figures(db: Database, redis_url: str) -> None:
    with tempfile.TemporaryDirectory() as var_dir:
        settings, server, thread, conn = _sandbox(redis_url, Path(var_dir))
        try:
            with contacts_client(settings, conn, timeout=(5.0, 60.0)) as client:
                before = _calls(conn)
                began = time.perf_counter()
                first = Pusher(db, client).push()
                calls = _diff(_calls(conn), before)
                print(
                    f"  initial push: {sum(calls.values())} API calls ({first.mode}, member files "
                    f"of {CSV_ROWS:,} rows) in {time.perf_counter() - began:.1f} s, "
                    f"members {first.members}; target <= 30   ({_load()})"
                )
                print(f"    by endpoint: {_by_endpoint(calls)}")
                changed = _change_one_percent(db, 2)
                _sync(db)()
                before = _calls(conn)
                began = time.perf_counter()
                nightly = Pusher(db, client).push()
                calls = _diff(_calls(conn), before)
                print(
                    f"  1 % push: {sum(calls.values())} API calls ({nightly.mode}) for {changed} "
                    f"changed people in {time.perf_counter() - began:.1f} s, members "
                    f"{nightly.members}; target <= {changed + 10} (changes + 10)   ({_load()})"
                )
                print(f"    by endpoint: {_by_endpoint(calls)}")
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            conn.flushdb()
            conn.close()


# -------------------------------------------------------------------------------- run


def run(database_url: str) -> None:
    """Print the sync's figures for a generated school on the PostgreSQL `database_url`."""
    redis_url = os.environ.get("HALL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    print(f"sync: {STUDENTS:,} students, {STAFF:,} staff, {DEPARTMENTS} departments")
    db = _fresh(database_url)
    try:
        _fill_feed(db)
        print("set-based sync (sync.services.run_sync):")
        fast = _scenarios(db, _sync(db))
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        traced = _peak_mb(_sync(db))
        print(
            f"  peak memory: process RSS {rss_mb:.0f} MB (whole bench so far), "
            f"Python heap of a nightly run {traced:.0f} MB; target <= {MEMORY_TARGET_MB} MB"
        )
        print("WeCom push against the sandbox:")
        _push_figures(db, redis_url)
    finally:
        db.dispose()
    slow, how = _naive(database_url)
    print(f"summary (target; set-based; naive, {how}; naive / set-based):   ({_load()})")
    for name, target in TARGETS.items():
        verdict = "ok" if fast[name] <= target else "MISSED"
        print(
            f"  {name:<12} <= {target:4.0f} s  {fast[name]:7.2f} s  {slow[name]:7.2f} s  "
            f"x{slow[name] / max(fast[name], 1e-9):.1f}  {verdict}"
        )


if __name__ == "__main__":
    run(
        os.environ.get(
            "HALL_BENCH_DATABASE_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/hall_sync_bench",
        )
    )
