"""`hall run` as a newcomer runs it: a real process tree, a real port, Ctrl-C, restart.

Everything listens on loopback only; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from hall import demo
from hall.db import Database, make_engine
from hall.models import ApiToken, Person
from hall.tokens import create_token
from tests.conftest import PG_URL, REDIS_URL
from tests.net import free_port
from web.runner import SANDBOX_THREADS, Children, RunError, start_embedded_redis

HALL = Path(sys.executable).with_name("hall")
READY_TIMEOUT = 40.0
STOP_TIMEOUT = 20.0

pytestmark = pytest.mark.slow


def hall_env(var_dir: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALL_")}
    env.update(
        HALL_VAR_DIR=str(var_dir),
        HALL_BASE_URL=f"http://127.0.0.1:{port}",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def run_cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HALL), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def hall(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = run_cli(env, cwd, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def create_token_in(database_url: str, userid: str) -> str:
    """A bearer token written straight into the running hall's database."""
    db = Database(database_url)
    try:
        with db.unit_of_work() as session:
            return create_token(session, userid)
    finally:
        db.dispose()


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of a live process, None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw.rpartition(")")[2].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in {"Z", "X"}


def descendants(root: int) -> dict[int, str]:
    """Every live process under `root`, with its command line."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = stat[1]
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                except FileNotFoundError:
                    continue
                found[pid] = cmdline.replace(b"\0", b" ").decode(errors="replace")
                frontier.append(pid)
    return found


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    log: Path
    base: str

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def get(self, path: str, token: str | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.base + path)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            # The banner is printed once /healthz answered inside `hall run`.
            if "Ctrl-C" in self.output():
                status, body = self.get("/healthz")
                assert status == 200
                assert json.loads(body) == {"status": "ok"}
                return
            time.sleep(0.2)
        pytest.fail(f"hall run not ready in {READY_TIMEOUT} s:\n{self.output()}")

    def interrupt(self) -> int:
        """Ctrl-C; returns the exit code."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"hall run did not stop in {STOP_TIMEOUT} s:\n{self.output()}")


Start = Callable[[dict[str, str], str], Running]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    started: list[Running] = []

    def _start(env: dict[str, str], name: str) -> Running:
        log = tmp_path / f"{name}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [str(HALL), "run"],
                env=env,
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        running = Running(process, log, env["HALL_BASE_URL"])
        started.append(running)
        return running

    yield _start
    for running in started:  # a failed test must not leave a hall behind
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait(STOP_TIMEOUT)


def assert_stops_cleanly(running: Running) -> None:
    tree = descendants(running.process.pid)
    commands = " | ".join(tree.values())
    assert "gunicorn" in commands
    assert "web.cli worker" in commands
    assert running.interrupt() == 0, running.output()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(pid) for pid in tree):
        time.sleep(0.1)
    left = {pid: cmd for pid, cmd in tree.items() if alive(pid)}
    assert left == {}, f"orphans after Ctrl-C: {left}"


def test_hall_run_embedded_serves_the_demo_and_stops_cleanly(tmp_path: Path, start: Start) -> None:
    port = free_port()
    var_dir = tmp_path / "var"
    env = hall_env(var_dir, port)

    first = start(env, "first")
    first.wait_ready()
    assert "redis-server" in " ".join(descendants(first.process.pid).values())
    assert (var_dir / "hall.db").is_file()
    assert (var_dir / "secret_key").is_file()
    assert "demo school loaded" in first.output()
    assert f"http://127.0.0.1:{port}/_sandbox/wecom/" in first.output()
    assert f"hall token create {demo.FIRST_STUDENT}" in first.output()

    # The demo school is in the hall's database: `hall demo accounts` and the API see it.
    people = json.loads(hall(env, tmp_path, "demo", "accounts", "--json"))
    userids = {row["userid"] for row in people}
    assert {demo.FIRST_STUDENT, demo.FIRST_COUNSELLOR, demo.IT_ADMIN} <= userids
    token = create_token_in(f"sqlite:///{var_dir / 'hall.db'}", demo.FIRST_STUDENT)
    status, body = first.get("/api/v1/me", token)
    assert status == 200, body
    assert json.loads(body)["userid"] == demo.FIRST_STUDENT
    assert first.get("/api/v1/openapi.json")[0] == 200

    assert_stops_cleanly(first)
    assert not (var_dir / "redis" / "redis.sock").exists()

    # A second run keeps the data: same people, the token still works, nothing reloaded.
    second = start(env, "second")
    second.wait_ready()
    assert "existing data kept" in second.output()
    assert "demo school loaded" not in second.output()
    status, body = second.get("/api/v1/me", token)
    assert status == 200, body
    db = Database(f"sqlite:///{var_dir / 'hall.db'}")
    try:
        with db.reader() as session:
            assert session.scalar(select(func.count()).select_from(Person)) == len(people)
            assert session.scalar(select(func.count()).select_from(ApiToken)) == 1
    finally:
        db.dispose()
    assert_stops_cleanly(second)


def test_a_taken_port_fails_clearly_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        done = run_cli(hall_env(tmp_path / "var", port), tmp_path, "run")

    assert done.returncode == 1
    assert f"端口 {port} 已被占用" in done.stderr
    assert not (tmp_path / "var" / "redis").exists()
    assert not (tmp_path / "var" / "hall.db").exists()


def test_a_bad_variable_is_named_before_anything_starts(tmp_path: Path) -> None:
    env = hall_env(tmp_path / "var", free_port(), HALL_WECOM_AES_KEY="k" * 42)

    done = run_cli(env, tmp_path, "run")

    assert done.returncode == 2
    assert "HALL_WECOM_AES_KEY" in done.stderr
    assert not (tmp_path / "var").exists()


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database (the demo must land in an EMPTY database)."""
    base = make_url(PG_URL)
    name = f"hall_run_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def test_hall_run_on_postgresql_and_an_external_redis(
    tmp_path: Path, start: Start, empty_pg_url: str, redis_conn: redis.Redis
) -> None:
    env = hall_env(
        tmp_path / "var",
        free_port(),
        HALL_DATABASE_URL=empty_pg_url,
        HALL_REDIS_URL=REDIS_URL,
    )

    running = start(env, "pg")
    running.wait_ready()
    output = running.output()
    assert "demo school loaded" in output
    assert "HALL_REDIS_URL" in output
    assert "redis-server" not in " ".join(descendants(running.process.pid).values())
    assert not (tmp_path / "var" / "hall.db").exists()
    token = create_token_in(empty_pg_url, demo.FIRST_STUDENT)
    status, body = running.get("/api/v1/me", token)
    assert status == 200, body
    assert json.loads(body)["userid"] == demo.FIRST_STUDENT
    # The worker registered itself in the Redis we named.
    assert redis_conn.keys("rq:worker:*")

    assert_stops_cleanly(running)


def test_embedded_redis_in_a_deep_var_dir_keeps_its_data_and_cleans_up(tmp_path: Path) -> None:
    var_dir = tmp_path / ("d" * 60) / ("e" * 60)
    children = Children()
    try:
        url = start_embedded_redis(children, var_dir)
        sock = Path(url.removeprefix("unix://"))
        assert len(os.fsencode(sock)) <= 100
        with redis.Redis.from_url(url) as client:
            client.set("kept", "1")
        # One var/ has one Redis: a second hall on the same directory is refused.
        with pytest.raises(RunError, match="另一个 `hall run` 正在使用"):
            start_embedded_redis(Children(), var_dir)
    finally:
        children.stop()

    assert [c.process.returncode for c in children.items] == [0]
    assert not sock.parent.exists()
    assert (var_dir / "redis" / "dump.rdb").is_file()  # saved on SIGTERM, loaded next time
    again = Children()
    try:
        with redis.Redis.from_url(start_embedded_redis(again, var_dir)) as client:
            assert client.get("kept") == b"1"
    finally:
        again.stop()


def test_hall_worker_without_redis_names_the_variable(tmp_path: Path) -> None:
    done = run_cli(hall_env(tmp_path / "var", free_port()), tmp_path, "worker")

    assert done.returncode == 2
    assert "HALL_REDIS_URL" in done.stderr
    assert "Traceback" not in done.stderr


def _wecom_sign_in_ready(base: str, userid: str) -> tuple[requests.Session, str]:
    """A browser that went through the sandbox WeCom's OAuth screen as `userid`, and the
    hall URL (with the code) it is about to open."""
    browser = requests.Session()
    to_wecom = browser.get(base + "/login/wecom?next=/", allow_redirects=False, timeout=10)
    screen = to_wecom.headers["Location"]
    fields = {
        k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(screen).query).items()
    }
    chosen = browser.post(
        screen.split("?")[0], data={**fields, "userid": userid}, allow_redirects=False, timeout=10
    )
    return browser, chosen.headers["Location"]


def test_the_sandbox_does_not_starve_its_own_calls(tmp_path: Path, start: Start) -> None:
    """In sandbox mode the simulated WeCom shares `hall run`'s web server: six members
    sending from their phones at once must each get their answer, not wait out WeCom's
    retries; six signing in through WeCom at once must each be signed in."""
    port = free_port()
    env = hall_env(tmp_path / "var", port)
    running = start(env, "phones")
    running.wait_ready()
    servers = [c for c in descendants(running.process.pid).values() if "--threads" in c]
    assert f"--threads {SANDBOX_THREADS}" in servers[0]
    people = json.loads(hall(env, tmp_path, "demo", "accounts", "--json"))
    members = [row["userid"] for row in people if row["kind"] != "offcampus"][:6]

    sign_ins = [_wecom_sign_in_ready(running.base, userid) for userid in members]
    landed: list[int] = []

    def sign_in(browser: requests.Session, url: str) -> None:
        landed.append(browser.get(url, allow_redirects=False, timeout=30).status_code)

    signing = [threading.Thread(target=sign_in, args=pair) for pair in sign_ins]
    for thread in signing:
        thread.start()
    for thread in signing:
        thread.join(40)
    assert landed == [302] * len(members)  # on to `next`; a failed exchange answers 403

    def say(userid: str) -> None:
        data = urllib.parse.urlencode({"userid": userid, "content": "待办"}).encode()
        url = running.base + "/_sandbox/wecom/phone/say"
        with urllib.request.urlopen(url, data=data, timeout=30) as response:
            assert response.status == 200  # the phone page, after the 303

    threads = [threading.Thread(target=say, args=(userid,)) for userid in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(40)

    def answered(userid: str) -> bool:
        status, body = running.get(f"/_sandbox/wecom/api/messages?userid={userid}")
        assert status == 200, body
        return any(m.get("origin") == "reply" for m in json.loads(body)["messages"])

    deadline = time.monotonic() + 10
    waiting = set(members)
    while waiting and time.monotonic() < deadline:
        waiting = {userid for userid in waiting if not answered(userid)}
        time.sleep(0.2)
    assert waiting == set(), f"no answer on the phones of {sorted(waiting)}"
    # ... each at the first attempt: none waited for a free thread until WeCom's 5 s ran out.
    for userid in members:
        status, page = running.get(f"/_sandbox/wecom/?userid={userid}")
        assert status == 200
        assert "已送达" in page.decode(), userid
        assert "Timeout" not in page.decode(), userid
    assert_stops_cleanly(running)
