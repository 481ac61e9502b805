"""The core's speed figures on PostgreSQL with 1,000,000 applications / 3,000,000 tasks.

Targets (issue: foundation): the to-do list (first page) and "my applications" answer in
<= 30 ms median server time; submit and decide in <= 20 ms median. Each figure is the median
of N requests through the real Flask app (test client: no network, all server work), with
the query plans of one request so index use is visible.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.engine import make_url

from bench.generate import build_org, copy_bulk
from config import load_settings
from hall.db import Database, make_engine
from hall.migrate import upgrade
from hall.models import Application, Person, Task
from hall.tokens import create_token
from web.app import create_app

TARGETS_MS = {"todo": 30.0, "my_applications": 30.0, "submit": 20.0, "decide": 20.0}


def _ensure_database(url: str) -> None:
    parsed = make_url(url)
    admin = make_engine(
        parsed.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        exists = conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
        )
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def _drop_all(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))


def prepare(url: str, applications: int, *, rebuild: bool) -> Database:
    """The data set for `applications`, generated once and then reused.

    A marker table records what was generated; benchmarks that add rows (submits) do not
    make the data set look different, so it is never dropped behind another run's back.
    """
    _ensure_database(url)
    db = Database(url)
    with db.engine.connect() as conn:
        marked = conn.scalar(
            text("SELECT count(*) FROM information_schema.tables WHERE table_name = 'bench_meta'")
        )
        built = conn.scalar(text("SELECT applications FROM bench_meta")) if marked else None
    if built == applications and not rebuild:
        print(f"reusing the data set in {make_url(url).database} ({built:,} applications)")
        upgrade(db.engine)  # a migration added since it was built applies to it too
        return db
    print(f"building the data set: {applications:,} applications, {3 * applications:,} tasks")
    _drop_all(db)
    upgrade(db.engine)
    began = time.perf_counter()
    with db.unit_of_work() as session:
        world = build_org(session)
    copy_bulk(db.engine, world, applications=applications)
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_meta (applications BIGINT NOT NULL)"))
        conn.execute(text("INSERT INTO bench_meta VALUES (:n)"), {"n": applications})
    print(f"  generated in {time.perf_counter() - began:.0f} s")
    return db


@contextmanager
def captured_sql(db: Database) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: Any) -> None:
        seen.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)


def plans(db: Database, statements: list[tuple[str, Any]]) -> list[str]:
    """One line per SELECT: the scans its plan uses (index names show index use)."""
    lines = []
    with db.engine.connect() as conn:
        for statement, params in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            rows = conn.exec_driver_sql("EXPLAIN " + statement, params).all()
            scans = [r[0].strip().lstrip("-> ").split("  ")[0] for r in rows if "Scan" in r[0]]
            short = " ".join(statement.split())[:90]
            lines.append(f"    {short}…\n      " + "; ".join(scans or ["(no scan: constant)"]))
    return lines


def measure(label: str, rounds: int, call: Callable[[int], Any]) -> float:
    times = []
    for i in range(rounds):
        began = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - began) * 1000)
    median = statistics.median(times)
    p90 = statistics.quantiles(times, n=10)[-1]
    target = TARGETS_MS[label]
    verdict = "ok" if median <= target else "OVER TARGET"
    print(
        f"  {label:16s} median {median:7.2f} ms   p90 {p90:7.2f} ms   "
        f"target {target:.0f} ms   ratio {median / target:4.2f}  {verdict}"
    )
    return median


def run(url: str, *, applications: int, rounds: int, rebuild: bool) -> int:
    db = prepare(url, applications, rebuild=rebuild)
    with tempfile.TemporaryDirectory() as var_dir:
        settings = load_settings(
            database_url=url,
            secret_key="bench",
            var_dir=var_dir,
            redis_url="redis://127.0.0.1:6379/14",
        )
        app = create_app(settings, database=db)
        client = app.test_client()
        with db.unit_of_work() as session:
            busiest = session.scalar(select(Person).where(Person.userid == "h0000"))
            heavy = session.scalar(select(Person).where(Person.userid == "p000000"))
            assert busiest is not None
            assert heavy is not None
            reviewer_token = create_token(session, busiest.userid, "bench")
            applicant_token = create_token(session, heavy.userid, "bench")
            pending = list(
                session.scalars(
                    select(Task.id)
                    .where(Task.assignee_id == busiest.id, Task._status == "pending")  # noqa: SLF001
                    .order_by(Task.id.desc())
                    .limit(rounds + 1)
                )
            )
            counts = session.execute(
                text(
                    "SELECT (SELECT count(*) FROM application), (SELECT count(*) FROM task),"
                    " (SELECT count(*) FROM task WHERE assignee_id = :r AND status = 'pending')"
                ),
                {"r": busiest.id},
            ).one()
        print(
            f"data: {counts[0]:,} applications, {counts[1]:,} tasks; busiest reviewer has "
            f"{counts[2]:,} pending; heavy applicant "
            f"{db_count_apps(db, heavy.id):,} applications"
        )
        reviewer = {"Authorization": f"Bearer {reviewer_token}"}
        applicant = {"Authorization": f"Bearer {applicant_token}"}

        def todo(_i: int) -> None:
            resp = client.get("/api/v1/tasks?state=todo&per_page=20", headers=reviewer)
            assert resp.status_code == 200, resp.get_data(as_text=True)

        def mine(_i: int) -> None:
            resp = client.get("/api/v1/applications?per_page=20", headers=applicant)
            assert resp.status_code == 200, resp.get_data(as_text=True)

        def submit(i: int) -> None:
            resp = client.post(
                "/api/v1/applications",
                headers=applicant,
                json={"process": "bench_leave", "form": {"reason": f"基准测试 {i}", "days": 2}},
            )
            assert resp.status_code in {200, 201}, resp.get_data(as_text=True)

        def decide(i: int) -> None:
            resp = client.post(
                f"/api/v1/tasks/{pending[i]}/decision",
                headers=reviewer,
                json={"action": "approve", "comment": "同意"},
            )
            assert resp.status_code == 200, resp.get_data(as_text=True)

        print(f"server time per request, {rounds} requests each (median is the figure):")
        results = {}
        for label, call in (
            ("todo", todo),
            ("my_applications", mine),
            ("submit", submit),
            ("decide", decide),
        ):
            call(rounds) if label == "decide" else call(0)  # warm caches and the pool
            results[label] = measure(label, rounds, call)
        print("query plans of one request each:")
        for label, call in (("todo", todo), ("my_applications", mine)):
            with captured_sql(db) as seen:
                call(0)
            print(f"  {label}:")
            print("\n".join(plans(db, seen)))
        # Undo the writes the measurement made so the next run reuses identical data.
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM application WHERE id > :n"), {"n": applications})
    db.dispose()
    over = [k for k, v in results.items() if v > TARGETS_MS[k]]
    print("all targets met" if not over else f"over target: {', '.join(over)}")
    return 0


def db_count_apps(db: Database, person_id: int) -> int:
    with db.reader() as session:
        return int(
            session.scalar(
                select(text("count(*)"))
                .select_from(Application)
                .where(Application.applicant_id == person_id)
            )
            or 0
        )
