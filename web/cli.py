"""The `hall` console script: the core CLI (`hall.cli`) plus the commands that start the
composition roots, which the core may not import: `hall run` and `hall worker`."""

from __future__ import annotations

import copy
import sys
from typing import NoReturn

import click

from config import Settings, SettingsError, load_settings
from config.logging import configure_logging
from hall.cli import cli as core_cli
from hall.stats_cli import install as install_stats
from sync.cli import install as install_sync
from web.runner import SANDBOX_THREADS, THREADS, RunError, RunOptions, run_hall
from web.worker import run_worker

EXIT_FAILED = 1
EXIT_CONFIG = 2  # the same codes as hall.cli


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"错误：{message}", err=True)
    sys.exit(code)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        _fail(str(exc), EXIT_CONFIG)


@click.command("run")
@click.option("--host", help="监听地址（默认取自 HALL_BASE_URL）/ address to listen on")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    help=f"每个 worker 的线程数（默认 {THREADS}，沙箱模式 {SANDBOX_THREADS}）"
    f" / threads per worker (default {THREADS}; sandbox mode {SANDBOX_THREADS})",
)
@click.option(
    "--demo/--no-demo",
    default=None,
    help="空数据库时载入演示学校（沙箱模式下默认载入）/ load the demo school into an empty DB",
)
@click.option("--access-log", is_flag=True, help="打印访问日志 / print gunicorn's access log")
def run_command(
    host: str | None, workers: int, threads: int | None, demo: bool | None, access_log: bool
) -> None:
    """启动整个大厅：Redis、数据库迁移、演示数据、Web 服务与 worker。Ctrl-C 停止。"""
    configure_logging()
    options = RunOptions(
        host=host, workers=workers, threads=threads, demo=demo, access_log=access_log
    )
    try:
        code = run_hall(_settings(), options)
    except RunError as exc:
        _fail(str(exc))
    sys.exit(code)


@click.command("worker")
@click.option("--burst", is_flag=True, help="处理完队列后退出 / exit when the queue is empty")
def worker_command(burst: bool) -> None:
    """运行后台 worker：投递消息卡片、短信，执行定时任务。"""
    configure_logging()
    try:
        run_worker(_settings(), burst=burst)
    except SettingsError as exc:  # e.g. no HALL_REDIS_URL outside `hall run`
        _fail(str(exc), EXIT_CONFIG)


def build_cli() -> click.Group:
    """`hall.cli.cli` with `run`, `worker`, `sync` and `stats` added.

    A copy: the core group itself stays as `hall.cli` defines it, whoever imports this."""
    group = copy.copy(core_cli)
    group.commands = dict(core_cli.commands)
    group.add_command(run_command)
    group.add_command(worker_command)
    install_sync(group)  # `hall sync …`, and `hall demo` also fills the staging tables
    install_stats(group)  # `hall stats rebuild|fold`
    return group


def main() -> None:
    build_cli()(prog_name="hall")


if __name__ == "__main__":
    main()
