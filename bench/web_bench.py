"""Web view speed on the 1,000,000-application data set (see bench/generate.py).

Targets: the to-do page of the busiest reviewer (h0000) and the statistics page of the
large department B000 (its process `bench_leave` holds every application; viewed by its
process administrator hr0001, default range: the last 30 days) render in <= 200 ms median
server time: the Flask test client (no network, all server work), median of N requests.
The data set must already exist (`python -m bench` builds it); this brings its schema to
the newest migration first (the statistics indexes), and brings the statistics' daily
aggregates up to date (hall/stats_daily.py): a full rebuild the first time, or when the
application counts are not complete yet (the COPY'd rows have no log entries to fold), then
the worker's fold; both timed apart from the pages.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from config import load_settings
from hall import stats_daily
from hall.clock import utcnow
from hall.db import Database
from hall.migrate import upgrade
from hall.models import Person, StatsWatermark
from web.app import create_app

TARGET_MS = 200.0
ROUNDS = 30
WARMUP = 3
REDIS_URL = "redis://127.0.0.1:6379/14"


def _client_as(client: FlaskClient, person_id: int, userid: str) -> None:
    with client.session_transaction() as sess:
        sess["person_id"] = person_id
        sess["userid"] = userid


def _measure(label: str, call: Callable[[], Any], rounds: int) -> float:
    for _ in range(WARMUP):
        call()
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    median = statistics.median(times)
    p90 = statistics.quantiles(times, n=10)[-1]
    verdict = "ok" if median <= TARGET_MS else "OVER TARGET"
    print(
        f"  {label:16s} median {median:7.2f} ms   p90 {p90:7.2f} ms   "
        f"target {TARGET_MS:.0f} ms   ratio {median / TARGET_MS:4.2f}  {verdict}"
    )
    return median


def _aggregates(db: Database) -> None:
    with db.unit_of_work() as session:
        mark = session.get(StatsWatermark, 1)
        built = mark is not None and mark.complete
    if not built:
        began = time.perf_counter()
        with db.unit_of_work() as session:
            rows = stats_daily.rebuild(session, utcnow())
        print(
            f"statistics aggregates rebuilt: {rows:,} rows in {time.perf_counter() - began:.1f} s"
        )
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE stats_daily")
            conn.exec_driver_sql("VACUUM ANALYZE stats_applications")
    began = time.perf_counter()
    with db.unit_of_work() as session:
        report = stats_daily.fold(session, utcnow())
    print(
        f"statistics fold: {report.entries:,} log entries, {report.days:,} days"
        f" in {(time.perf_counter() - began) * 1000:.0f} ms"
    )


def run(database_url: str, rounds: int = ROUNDS) -> None:
    db = Database(database_url)
    upgrade(db.engine)
    _aggregates(db)
    with tempfile.TemporaryDirectory() as var_dir:
        settings = load_settings(
            database_url=database_url, secret_key="bench", var_dir=var_dir, redis_url=REDIS_URL
        )
        app = create_app(settings, database=db)
        with db.reader() as session:
            ids = dict(
                session.execute(
                    select(Person.userid, Person.id).where(Person.userid.in_(["h0000", "hr0001"]))
                ).all()
            )
        reviewer, manager = app.test_client(), app.test_client()
        _client_as(reviewer, ids["h0000"], "h0000")
        _client_as(manager, ids["hr0001"], "hr0001")

        def get(client: FlaskClient, path: str) -> Callable[[], None]:
            def call() -> None:
                resp = client.get(path)
                if resp.status_code != 200:
                    raise RuntimeError(f"{path}: {resp.status_code}")

            return call

        print("web view (server time, Flask test client):")
        _measure("todo page", get(reviewer, "/tasks"), rounds)
        _measure("stats page", get(manager, "/stats/"), rounds)
        _measure("stats 1 year", get(manager, "/stats/?start=2025-11-30&end=2026-11-29"), 5)
    db.dispose()


if __name__ == "__main__":
    run("postgresql+psycopg://postgres@127.0.0.1:5432/hall_bench")
