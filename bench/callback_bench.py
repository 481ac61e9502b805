"""WeCom card clicks end to end: encrypted `template_card_event` callbacks that decide tasks.

Target (issue): encrypted card-click callbacks that each decide a real task, against gunicorn
with 2 workers on PostgreSQL, reach >= 40 % of the floor's throughput, with p99 <= 100 ms at
200 callbacks/s. The floor is a bare WSGI endpoint that only verifies, decrypts (the same
`open_envelope` and `WeComCrypto` as `/wecom/callback`) and answers an empty 200.

How it runs, all on 127.0.0.1:

1. picks fresh pending tasks in the bench database, newest first and none of the busiest
   reviewer's (h0000: the core bench measures his to-do list and decides his oldest tasks),
   so this bench and the others can share the data set;
2. starts gunicorn exactly as `hall run` does outside sandbox mode (2 workers of 2 gthread
   threads) on a free port, first serving the floor, then the real app
   (`web.app:create_app()` on the bench PostgreSQL and Redis db 13, sandbox WeCom
   credentials);
3. against each: a warm-up, an open-loop run at a fixed rate (latency is measured from each
   request's scheduled send time, so a slow server cannot hide queueing), and a closed-loop
   run (a fixed number of keep-alive connections sending back to back) for throughput.
   Every request is pre-built: a genuinely encrypted click on the approve button of a
   different pending task by the reviewer who holds it, with its own signature and nonce;
4. checks every passive reply (signature, decryption, `update_button` with 已同意) and, in
   the database, that every clicked task is APPROVED with exactly one approve entry; then
   drops the Redis dedupe keys the clicks left.

The decisions stay (each run takes about 8,000 of the data set's ~150,000 possible ones;
`python -m bench --rebuild` starts afresh). Undoing them is not cheap: deleting the tasks
the decisions opened makes PostgreSQL check `task.parent_id`, which has no index, by a
scan of the whole table per deleted task.

The client is plain sockets and threads in this process (no extra dependency); its own CPU
use is printed next to the figures, since it shares the machine with the server.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import redis
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

from bench import machine
from callbacks.dedupe import Deduper, digest
from callbacks.envelope import MAX_BODY, Rejected, child_text, open_envelope, parse_xml
from callbacks.service import APP
from cards import CardAction, ReplaceName, action_key, card_task_id
from config import load_settings
from config.settings import SANDBOX_AES_KEY, SANDBOX_AGENT_ID, SANDBOX_CORP_ID, SANDBOX_TOKEN
from hall.db import make_engine
from web.runner import (
    Child,
    Children,
    RunError,
    RunOptions,
    _die_with_parent_hook,
    gunicorn_argv,
    open_listener,
    wait_ready,
)
from wework.crypto import CryptoError, WeComCrypto
from wework.sandbox.delivery import cdata, event_xml

ROOT = Path(__file__).resolve().parent.parent
APPLICATION_NAME = "hall-callback-bench"  # PostgreSQL backends of the bench's gunicorn
EXPECTED_REPLY = ReplaceName.APPROVED.value
REDIS_URL = "redis://127.0.0.1:6379/13"
HOST = "127.0.0.1"
WORKERS = 2
BUSIEST = "h0000"

RATE = 200.0  # callbacks per second in the open-loop run
OPEN_SECONDS = 15.0
OPEN_CONNECTIONS = 48  # enough in flight for 200/s even at 240 ms per request
CLOSED_SECONDS = 10.0
CLOSED_CONNECTIONS = 16  # twice the server's 2 workers x 4 threads: it is never idle
REAL_CLOSED_MAX = 5_000  # pre-built clicks (tasks) for the closed run: 500/s for 10 s
FLOOR_CLOSED_MAX = 40_000
REAL_SPARE = 1_000  # for the open-loop run at half the measured capacity
HALF_SECONDS = 10.0
REAL_WARMUP = 40
FLOOR_WARMUP = 400
WARMUP_CONNECTIONS = 8
LATE_LIMIT = 5.0  # open loop: a request this late is dropped (the server is saturated)
SETTLE_TIMEOUT = 20.0  # before each phase, wait at most this long for an idle server
REQUEST_TIMEOUT = 10.0  # per socket operation
READY_TIMEOUT = 60.0

TARGET_RATIO = 0.40
TARGET_P99_MS = 100.0


# ----------------------------------------------------------------------------- the floor


def floor_app() -> Callable[..., Iterable[bytes]]:
    """A bare callback endpoint: verify and decrypt as `/wecom/callback` does, answer empty.

    gunicorn loads it as `bench.callback_bench:floor_app()` with the same HALL_* settings
    as the real app.
    """
    settings = load_settings()
    crypto = WeComCrypto(settings.wecom_token, settings.wecom_aes_key, settings.wecom_corp_id)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        if environ.get("REQUEST_METHOD") != "POST":
            start_response("405 Method Not Allowed", [("Content-Length", "0")])
            return [b""]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(min(length, MAX_BODY + 1))
        args = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        try:
            open_envelope(crypto, args, body, time.time())
        except Rejected as exc:
            start_response(f"{exc.status} Refused", [("Content-Length", "0")])
            return [b""]
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "0")])
        return [b""]

    return app


# ------------------------------------------------------------------------ the requests


@dataclass(frozen=True, slots=True)
class Click:
    """One pending task and the reviewer who holds it."""

    task_id: int
    round: int
    userid: str
    application_id: int


def _crypto() -> WeComCrypto:
    return WeComCrypto(SANDBOX_TOKEN, SANDBOX_AES_KEY, SANDBOX_CORP_ID)


def click_plaintext(click: Click, response_code: str, now: int) -> str:
    """What WeCom sends when `click.userid` presses 同意 on the task's review card."""
    return event_xml(
        [
            ("ToUserName", SANDBOX_CORP_ID),
            ("FromUserName", click.userid),
            ("CreateTime", now),
            ("MsgType", "event"),
            ("Event", "template_card_event"),
            ("EventKey", action_key(CardAction.APPROVE, click.task_id)),
            ("TaskId", card_task_id(click.task_id, click.round, response_code)),
            ("CardType", "button_interaction"),
            ("ResponseCode", response_code),
            ("AgentID", SANDBOX_AGENT_ID),
        ]
    )


def encrypted_request(crypto: WeComCrypto, port: int, plaintext: str) -> bytes:
    """The whole HTTP/1.1 request WeCom would make: signed query, encrypted XML body."""
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(8)
    encrypt = crypto.encrypt(plaintext.encode("utf-8"))
    query = urlencode(
        {
            "msg_signature": crypto.signature(timestamp, nonce, encrypt),
            "timestamp": timestamp,
            "nonce": nonce,
        }
    )
    body = (
        f"<xml><ToUserName>{cdata(SANDBOX_CORP_ID)}</ToUserName>"
        f"<AgentID>{cdata(SANDBOX_AGENT_ID)}</AgentID>"
        f"<Encrypt>{cdata(encrypt)}</Encrypt></xml>"
    ).encode()
    head = (
        f"POST /wecom/callback?{query} HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        "User-Agent: hall-callback-bench\r\n"
        "Content-Type: text/xml\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def build_requests(port: int, clicks: list[Click], tag: str) -> list[bytes]:
    crypto = _crypto()
    now = int(time.time())
    return [
        encrypted_request(crypto, port, click_plaintext(c, f"{tag}{i:06d}", now))
        for i, c in enumerate(clicks)
    ]


def response_codes(clicks: list[Click], tag: str) -> list[str]:
    return [f"{tag}{i:06d}" for i in range(len(clicks))]


# -------------------------------------------------------------------------- the client


class ProtocolError(Exception):
    """The server's answer was not a plain HTTP/1.1 response with a Content-Length."""


class _ClosedIdle(Exception):
    """The server closed a kept-alive connection before answering (safe to resend)."""


class KeepAlive:
    """One HTTP/1.1 keep-alive connection with the least parsing that is still correct."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.resent = 0

    def close(self) -> None:
        if self.sock is not None:
            with suppress(OSError):
                self.sock.close()
        self.sock = None
        self.buffer = b""

    def request(self, raw: bytes) -> tuple[int, bytes]:
        reused = self.sock is not None
        try:
            return self._exchange(raw)
        except (_ClosedIdle, ConnectionResetError, BrokenPipeError):
            self.close()
            if not reused:
                raise
        # gunicorn drops idle keep-alive connections after a few seconds: one resend on a
        # fresh connection (the request never reached the app).
        self.resent += 1
        return self._exchange(raw)

    def _exchange(self, raw: bytes) -> tuple[int, bytes]:
        if self.sock is None:
            self.sock = socket.create_connection((HOST, self.port), timeout=REQUEST_TIMEOUT)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(raw)
        buffer = self.buffer
        while b"\r\n\r\n" not in buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                if buffer:
                    raise ProtocolError("connection closed inside the headers")
                raise _ClosedIdle
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise ProtocolError(f"bad status line {lines[0][:60]!r}")
        length = None
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value.strip().lower() == b"close"
            elif name == b"transfer-encoding":
                raise ProtocolError("chunked answers are not expected here")
        if length is None:
            raise ProtocolError("an answer without Content-Length")
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ProtocolError("connection closed inside the body")
            rest += chunk
        self.buffer = rest[length:]
        if close:
            self.close()
        return int(parts[1]), rest[:length]


@dataclass
class Phase:
    """What one run of requests did; latencies in seconds, NaN where nothing was sent."""

    name: str
    latencies: list[float]
    statuses: list[int]  # 0: no answer (failed, or not sent)
    bodies: list[bytes]
    errors: dict[str, int] = field(default_factory=dict)
    dropped: int = 0  # open loop: due more than LATE_LIMIT ago, never sent
    elapsed: float = 0.0
    client_cpu: float = 0.0
    app_cpu: float = 0.0  # gunicorn, master and workers
    db_cpu: float = 0.0  # the PostgreSQL backends of gunicorn's connections
    resent: int = 0

    def tried(self, i: int) -> bool:
        """Whether request i was sent (answered or failed)."""
        return bool(self.statuses[i]) or not math.isnan(self.latencies[i])

    @property
    def answered(self) -> list[int]:
        return [i for i, s in enumerate(self.statuses) if s == 200]

    @property
    def failed(self) -> int:
        return sum(self.errors.values()) + self.dropped

    def throughput(self, ok: int) -> float:
        return ok / self.elapsed if self.elapsed > 0 else 0.0

    def percentile_ms(self, q: float, only: Iterable[int] | None = None) -> float:
        done = sorted(self.latencies[i] for i in (self.answered if only is None else only))
        if not done:
            return math.nan
        return done[max(1, math.ceil(q * len(done))) - 1] * 1000


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of one process, from /proc (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU used by gunicorn (master and workers) and by the PostgreSQL backends serving it.

    The backends are found by the `application_name` the bench gives gunicorn's database
    URL; their CPU is read from /proc, so it counts only for a server on this machine.
    """

    def __init__(self, gunicorn_pid: int, engine: Engine | None) -> None:
        self.pid = gunicorn_pid
        self.engine = engine

    def sample(self) -> tuple[dict[int, float], dict[int, float]]:
        app = {p: _cpu_of(p) for p in [self.pid, *_children_of(self.pid)]}
        db: dict[int, float] = {}
        if self.engine is not None:
            with self.engine.connect() as conn:
                pids = conn.scalars(
                    text("SELECT pid FROM pg_stat_activity WHERE application_name = :n"),
                    {"n": APPLICATION_NAME},
                ).all()
            db = {int(p): _cpu_of(int(p)) for p in pids}
        return app, db

    @staticmethod
    def used(
        before: tuple[dict[int, float], dict[int, float]],
        after: tuple[dict[int, float], dict[int, float]],
    ) -> tuple[float, float]:
        app = sum(cpu - before[0].get(pid, 0.0) for pid, cpu in after[0].items())
        db = sum(cpu - before[1].get(pid, 0.0) for pid, cpu in after[1].items())
        return app, db

    def settle(self) -> None:
        """Wait (bounded) until the server is idle: late work must not spill into a phase."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while time.monotonic() < deadline:
            before = self.sample()
            time.sleep(0.5)
            if sum(self.used(before, self.sample())) < 0.05:  # under 10 % of a core
                return


def drive(
    name: str,
    port: int,
    requests: list[bytes],
    *,
    connections: int,
    rate: float | None,
    seconds: float,
    meter: CpuMeter,
) -> Phase:
    """Send `requests` in order over `connections` keep-alive connections.

    With a `rate`, request i is due at start + i/rate (open loop) and its latency counts
    from then; a request that could not be sent within LATE_LIMIT of its due time is
    dropped, so a saturated server ends the run instead of queueing it for minutes. Without
    a rate, each connection sends its next request as soon as it has an answer (closed
    loop) until `seconds` have passed. Every socket operation times out.
    """
    total = len(requests)
    phase = Phase(name, [math.nan] * total, [0] * total, [b""] * total)
    counter = itertools.count()
    lock = threading.Lock()
    began = time.perf_counter() + 0.05
    schedule_end = began + seconds
    finished = [began]
    keepalives: list[KeepAlive] = []

    def count(kind: str) -> None:
        with lock:
            phase.errors[kind] = phase.errors.get(kind, 0) + 1

    def worker() -> None:
        conn = KeepAlive(port)
        with lock:
            keepalives.append(conn)
        try:
            while True:
                with lock:
                    i = next(counter)
                if i >= total:
                    return
                due = began + i / rate if rate is not None else began
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                if rate is None:
                    due = time.perf_counter()
                    if due > schedule_end:
                        return
                elif time.perf_counter() - due > LATE_LIMIT:
                    with lock:
                        phase.dropped += 1
                    continue
                try:
                    status, body = conn.request(requests[i])
                except (OSError, ProtocolError, _ClosedIdle) as exc:
                    conn.close()
                    phase.latencies[i] = time.perf_counter() - due
                    count(type(exc).__name__)
                    continue
                finally:
                    with lock:
                        finished[0] = max(finished[0], time.perf_counter())
                phase.latencies[i] = time.perf_counter() - due
                phase.statuses[i] = status
                phase.bodies[i] = body
                if status != 200:
                    count(f"HTTP {status}")
        finally:
            conn.close()

    cpu_before, server_before = _cpu_self(), meter.sample()
    threads = [
        threading.Thread(target=worker, name=f"bench-{n}", daemon=True) for n in range(connections)
    ]
    for thread in threads:
        thread.start()
    bound = time.perf_counter() + seconds + LATE_LIMIT + 3 * REQUEST_TIMEOUT + 5
    for thread in threads:
        thread.join(timeout=max(0.0, bound - time.perf_counter()))
    alive = sum(t.is_alive() for t in threads)
    if alive:
        phase.errors["client thread still running"] = alive
    phase.elapsed = finished[0] - began
    phase.client_cpu = _cpu_self() - cpu_before
    phase.app_cpu, phase.db_cpu = CpuMeter.used(server_before, meter.sample())
    phase.resent = sum(k.resent for k in keepalives)
    return phase


# ---------------------------------------------------------------------------- replies


def reply_name(crypto: WeComCrypto, body: bytes) -> str:
    """What a passive reply says: the ReplaceName of an update_button, or what it is."""
    if not body:
        return "(empty)"
    try:
        outer = parse_xml(body)
        encrypt = child_text(outer, "Encrypt")
        signed = crypto.check_signature(
            child_text(outer, "MsgSignature"),
            child_text(outer, "TimeStamp"),
            child_text(outer, "Nonce"),
            encrypt,
        )
        if not signed:
            return "bad reply signature"
        inner = parse_xml(crypto.decrypt(encrypt))
    except (Rejected, CryptoError) as exc:
        return f"undecodable reply ({type(exc).__name__})"
    kind = child_text(inner, "MsgType")
    if kind == "update_button":
        return child_text(inner, "Button/ReplaceName")
    if kind == "text":
        return "text: " + child_text(inner, "Content")[:40]
    return kind


# ------------------------------------------------------------------------- the servers


def _server_env(database_url: str, port: int, var_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALL_")}
    url = make_url(database_url).update_query_dict({"application_name": APPLICATION_NAME})
    env.update(
        HALL_DATABASE_URL=url.render_as_string(hide_password=False),
        HALL_REDIS_URL=REDIS_URL,
        HALL_SECRET_KEY="callback-bench",
        HALL_VAR_DIR=var_dir,
        HALL_BASE_URL=f"http://{HOST}:{port}",
        HALL_SANDBOX="1",
        HALL_WECOM_CORP_ID=SANDBOX_CORP_ID,
        HALL_WECOM_AGENT_ID=str(SANDBOX_AGENT_ID),
        HALL_WECOM_TOKEN=SANDBOX_TOKEN,
        HALL_WECOM_AES_KEY=SANDBOX_AES_KEY,
        HALL_LOG_LEVEL="warning",
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass
class Server:
    port: int
    pid: int
    log: Path


@contextmanager
def gunicorn(app_spec: str, database_url: str, work_dir: Path) -> Iterator[Server]:
    """gunicorn as `hall run` starts it outside sandbox mode (2 workers of 2 threads),
    serving `app_spec` on a free port."""
    listener = open_listener(HOST, 0, f"http://{HOST}")
    port = int(listener.getsockname()[1])
    argv = [*gunicorn_argv(listener.fileno(), RunOptions(workers=WORKERS))[:-1], app_spec]
    log_path = work_dir / f"gunicorn-{port}.log"
    children = Children()
    try:
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=_server_env(database_url, port, str(work_dir)),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(listener.fileno(),),
                start_new_session=True,
                preexec_fn=_die_with_parent_hook(),  # noqa: PLW1509 - no thread runs yet
            )
        children.items.append(Child("gunicorn", process, tier=1))
        listener.close()
        try:
            wait_ready(f"http://{HOST}:{port}/healthz", children, READY_TIMEOUT)
        except RunError:
            tail = log_path.read_text(errors="replace")[-3000:]
            print(f"gunicorn did not start ({app_spec}); its log ends with:\n{tail}")
            raise
        yield Server(port, process.pid, log_path)
    finally:
        listener.close()
        children.stop()


# -------------------------------------------------------------------- the bench data


def pick_clicks(conn: Connection, count: int) -> list[Click]:
    """`count` pending tasks of pending applications, one per application, newest first."""
    rows = conn.execute(
        text(
            "SELECT t.id, t.round, p.userid, t.application_id FROM task t"
            " JOIN person p ON p.id = t.assignee_id"
            " JOIN application a ON a.id = t.application_id"
            " WHERE t.status = 'pending' AND a.status = 'pending' AND p.status = 'active'"
            " AND p.userid <> :busiest ORDER BY t.id DESC LIMIT :n"
        ),
        {"busiest": BUSIEST, "n": 2 * count},
    ).all()
    seen: set[int] = set()
    clicks = []
    for task_id, round_, userid, app_id in rows:
        if app_id not in seen:
            seen.add(app_id)
            clicks.append(Click(int(task_id), int(round_), str(userid), int(app_id)))
    if len(clicks) < count:
        raise SystemExit(
            f"the bench database has {len(clicks)} pending tasks to click, {count} are needed:"
            " rebuild it with `python -m bench --rebuild`"
        )
    return clicks[:count]


@dataclass
class DbCheck:
    clicked: int = 0
    approved_once: int = 0
    not_approved: int = 0
    approved_twice: int = 0

    def add(self, other: DbCheck) -> None:
        self.clicked += other.clicked
        self.approved_once += other.approved_once
        self.not_approved += other.not_approved
        self.approved_twice += other.approved_twice


def check_decisions(engine: Engine, task_ids: list[int]) -> DbCheck:
    """Of these tasks: how many are APPROVED with exactly one approve entry in the log."""
    if not task_ids:
        return DbCheck()
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT t.status, (SELECT count(*) FROM action_log l"
                "  WHERE l.task_id = t.id AND l.action = 'approve')"
                " FROM task t WHERE t.id = ANY(:ids)"
            ),
            {"ids": task_ids},
        ).all()
    once = sum(1 for status, n in rows if status == "approved" and n == 1)
    twice = sum(1 for _status, n in rows if n > 1)
    return DbCheck(len(task_ids), once, len(task_ids) - once - twice, twice)


def forget(clicks: list[tuple[Click, str]]) -> None:
    """Drop the Redis dedupe keys (kept an hour) of these clicks and response codes."""
    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    prefix = Deduper(connection, APP).prefix
    keys = [
        prefix
        + digest(
            f"{c.userid}|{card_task_id(c.task_id, c.round, code)}"
            f"|{action_key(CardAction.APPROVE, c.task_id)}|{code}"
        )
        for c, code in clicks
    ]
    try:
        for start in range(0, len(keys), 1000):
            connection.delete(*keys[start : start + 1000])
    finally:
        connection.close()


# ------------------------------------------------------------------------------ phases


@dataclass
class Result:
    phase: Phase
    ok: int  # answered 200 with the expected reply
    processed: int  # requests the server completed: `ok` for the floor, decisions for clicks
    replies: dict[str, int] = field(default_factory=dict)
    check: DbCheck = field(default_factory=DbCheck)
    good: list[int] = field(default_factory=list)  # the requests behind `ok`

    @property
    def rate(self) -> float:
        return self.phase.throughput(self.ok)

    @property
    def p99(self) -> float:
        return self.phase.percentile_ms(0.99, self.good)

    def cpu_ms(self) -> tuple[float, float]:
        if not self.processed:
            return math.nan, math.nan
        return (
            self.phase.app_cpu / self.processed * 1000,
            self.phase.db_cpu / self.processed * 1000,
        )


def _fmt(value: float, unit: str = " ms") -> str:
    return "   n/a" if math.isnan(value) else f"{value:6.1f}{unit}"


def describe(result: Result, *, with_db: bool) -> str:
    phase = result.phase
    app_ms, db_ms = result.cpu_ms()
    cpu = f"gunicorn {_fmt(app_ms).strip()}"
    if with_db:
        cpu += f" + PostgreSQL {_fmt(db_ms).strip()}"
    problems = [f"{k} {v}" for k, v in sorted(phase.errors.items())]
    if phase.dropped:
        problems.append(f"dropped (over {LATE_LIMIT:.0f} s late) {phase.dropped}")
    client = phase.client_cpu / max(phase.elapsed, 1e-9)
    wrong = sum(v for k, v in result.replies.items() if k != EXPECTED_REPLY)
    if with_db and wrong:
        problems.append(f"other replies {wrong}")
    return (
        f"  {phase.name:24s} {result.ok:6d} ok in {phase.elapsed:5.1f} s = {result.rate:7.1f}/s"
        f"   p50 {_fmt(phase.percentile_ms(0.5, result.good))}"
        f"   p99 {_fmt(result.p99)}   max {_fmt(phase.percentile_ms(1.0, result.good))}\n"
        f"  {'':24s} failed: {', '.join(problems) or 'none'}\n"
        f"  {'':24s} CPU per request: {cpu}; client {client:.0%} of a core;"
        f" resent on a fresh connection: {phase.resent}"
    )


def _phases(
    server: Server, meter: CpuMeter, groups: list[tuple[str, list[bytes], int, float | None, float]]
) -> list[Phase]:
    phases = []
    for label, requests, connections, rate, seconds in groups:
        meter.settle()
        phases.append(
            drive(
                label,
                server.port,
                requests,
                connections=connections,
                rate=rate,
                seconds=seconds,
                meter=meter,
            )
        )
    return phases


def run_floor(database_url: str, work_dir: Path) -> tuple[Result, Result]:
    fake = [Click(10**12 + i, 1, "floor", 0) for i in range(FLOOR_CLOSED_MAX)]
    n_open = int(RATE * OPEN_SECONDS)
    tag = "floor" + secrets.token_hex(3)
    with gunicorn("bench.callback_bench:floor_app()", database_url, work_dir) as server:
        meter = CpuMeter(server.pid, None)
        _warm, opened, closed = _phases(
            server,
            meter,
            [
                ("warm-up", build_requests(server.port, fake[:FLOOR_WARMUP], tag + "w"),
                 WARMUP_CONNECTIONS, None, 30.0),
                (f"open loop {RATE:.0f}/s", build_requests(server.port, fake[:n_open], tag + "o"),
                 OPEN_CONNECTIONS, RATE, OPEN_SECONDS),
                (f"closed loop x{CLOSED_CONNECTIONS}", build_requests(server.port, fake, tag + "c"),
                 CLOSED_CONNECTIONS, None, CLOSED_SECONDS),
            ],
        )  # fmt: skip
    results = []
    for phase in (opened, closed):
        result = Result(phase, len(phase.answered), len(phase.answered))
        result.good.extend(phase.answered)
        results.append(result)
    return results[0], results[1]


def run_clicks(
    engine: Engine, database_url: str, work_dir: Path, clicks: list[Click]
) -> tuple[Result, Result, Result]:
    """Warm-up, open loop at RATE, closed loop, then open loop at half the closed rate."""
    n_open = int(RATE * OPEN_SECONDS)
    cut = (REAL_WARMUP, REAL_WARMUP + n_open, REAL_WARMUP + n_open + REAL_CLOSED_MAX)
    tag = "bench" + secrets.token_hex(3)
    crypto = _crypto()
    built: list[tuple[Click, str]] = []
    try:
        with gunicorn("web.app:create_app()", database_url, work_dir) as server:
            meter = CpuMeter(server.pid, engine)

            def click_phase(
                label: str, group: list[Click], connections: int, rate: float | None, secs: float
            ) -> Result:
                code_tag = f"{tag}p{len(built)}x"
                built.extend(zip(group, response_codes(group, code_tag), strict=True))
                requests = build_requests(server.port, group, code_tag)
                meter.settle()
                phase = drive(
                    label,
                    server.port,
                    requests,
                    connections=connections,
                    rate=rate,
                    seconds=secs,
                    meter=meter,
                )
                meter.settle()  # what timed out on our side may still be deciding
                tried = [group[i].task_id for i in range(len(group)) if phase.tried(i)]
                check = check_decisions(engine, tried)
                result = Result(phase, 0, check.approved_once, check=check)
                for i in phase.answered:
                    name = reply_name(crypto, phase.bodies[i])
                    result.replies[name] = result.replies.get(name, 0) + 1
                    if name == EXPECTED_REPLY:
                        result.good.append(i)
                result.ok = len(result.good)
                return result

            click_phase("warm-up", clicks[: cut[0]], WARMUP_CONNECTIONS, None, 30.0)
            opened = click_phase(
                f"open loop {RATE:.0f}/s", clicks[cut[0] : cut[1]], OPEN_CONNECTIONS, RATE,
                OPEN_SECONDS,
            )  # fmt: skip
            closed = click_phase(
                f"closed loop x{CLOSED_CONNECTIONS}", clicks[cut[1] : cut[2]],
                CLOSED_CONNECTIONS, None, CLOSED_SECONDS,
            )  # fmt: skip
            half = max(1.0, closed.rate / 2)
            spare = clicks[cut[2] : cut[2] + math.ceil(half * HALF_SECONDS)]
            halved = click_phase(
                f"open loop {half:.0f}/s (half)", spare, OPEN_CONNECTIONS, half, HALF_SECONDS
            )
        return opened, closed, halved
    finally:
        forget(built)


# ------------------------------------------------------------------------------- run


def run(database_url: str) -> None:
    """Print the card-click figures next to the floor's, both measured in this run."""
    engine = make_engine(database_url, pool_size=2, max_overflow=0)
    try:
        needed = REAL_WARMUP + int(RATE * OPEN_SECONDS) + REAL_CLOSED_MAX + REAL_SPARE
        with engine.connect() as conn:
            clicks = pick_clicks(conn, needed)
        print(
            f"WeCom card clicks → Hall.decide: gunicorn {WORKERS} workers (gthread, as `hall run`)"
            f" on {HOST}, PostgreSQL {engine.url.database}, Redis {REDIS_URL}"
        )
        print(
            f"  {len(clicks):,} pending tasks of {len({c.userid for c in clicks})} reviewers"
            f" ready, one approve click each; load average before: {machine.load()}",
            flush=True,
        )
        with tempfile.TemporaryDirectory(prefix="hall-callback-bench-") as tmp:
            work_dir = Path(tmp)
            floor_open, floor_closed = run_floor(database_url, work_dir)
            print("floor: verify + decrypt + empty 200 (same gunicorn config)")
            print(describe(floor_open, with_db=False))
            print(describe(floor_closed, with_db=False), flush=True)
            real = run_clicks(engine, database_url, work_dir, clicks)
        real_open, real_closed, real_half = real
        print("card clicks: verify, decrypt, dedupe, Hall.decide, encrypted update_button reply")
        replies: dict[str, int] = {}
        check = DbCheck()
        for result in real:
            print(describe(result, with_db=True))
            for name, n in result.replies.items():
                replies[name] = replies.get(name, 0) + n
            check.add(result.check)
        print("  passive replies: " + ", ".join(f"{k} {v}" for k, v in sorted(replies.items())))
        print(
            f"  database: {check.clicked:,} tasks clicked, {check.approved_once:,} APPROVED"
            f" exactly once, {check.not_approved:,} not approved,"
            f" {check.approved_twice:,} approved more than once"
        )
        ratio = real_closed.rate / floor_closed.rate if floor_closed.rate else math.nan
        verdict = "ok" if ratio >= TARGET_RATIO else "MISSED"
        print(
            f"target: decisions/s {real_closed.rate:.1f} vs floor {floor_closed.rate:.1f}/s"
            f" = {ratio:.1%} (target >= {TARGET_RATIO:.0%}) {verdict}"
        )
        floor_cpu = floor_closed.cpu_ms()[0]
        decide_cpu = sum(real_closed.cpu_ms())
        print(
            f"        CPU per request (load-independent): floor {floor_cpu:.2f} ms, decision"
            f" {decide_cpu:.2f} ms (gunicorn + PostgreSQL) = {floor_cpu / decide_cpu:.1%}"
        )
        failed = real_open.phase.failed
        p99_ok = real_open.p99 <= TARGET_P99_MS and failed == 0
        print(
            f"        p99 at {RATE:.0f}/s: {real_open.p99:.1f} ms over {real_open.ok} answered,"
            f" {failed} failed or dropped, {real_open.rate:.1f}/s achieved"
            f" (target <= {TARGET_P99_MS:.0f} ms) {'ok' if p99_ok else 'MISSED'}"
        )
        print(
            f"        p99 at {real_half.rate:.1f}/s (half the measured capacity):"
            f" {real_half.p99:.1f} ms, {real_half.phase.failed} failed or dropped"
        )
        print(f"  load average after: {machine.load()}")
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.callback_bench")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "HALL_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/hall_bench"
        ),
    )
    args = parser.parse_args()
    run(args.database_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
