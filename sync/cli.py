"""`hall sync …`: run the data-center sync, push to WeCom, show reports, fill the demo feed.

`install(group)` adds the `sync` group to the console script (web/cli.py) and makes
`hall demo` also write the demo school into the staging tables and run the first sync, so
the demo behaves like a school whose data center feeds the hall.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import click
import redis
from sqlalchemy import inspect

from config import Settings
from hall.cli import cli_settings, fail, open_database
from hall.db import Database
from sync.demo_feed import feed_demo_school, load_demo_feed
from sync.push import PushReport
from sync.services import DEFAULT_THRESHOLD, list_runs, record_push, run_sync
from sync.wecom import push_org
from wework.errors import WeComError


def _require_schema(database: Database) -> None:
    if not inspect(database.engine).has_table("sync_run"):
        fail("数据库尚未初始化或版本过旧，请先运行 hall init-db")


def _push(settings: Settings, database: Database) -> PushReport | None:
    redis_url = settings.running_redis_url()
    if not redis_url:
        click.echo(
            "未配置 Redis（HALL_REDIS_URL），也没有正在运行的 hall run，跳过推送到企业微信；"
            "hall run 运行时再用 hall sync push 推送。"
        )
        return None
    conn = redis.Redis.from_url(redis_url, socket_connect_timeout=5)
    try:
        report = push_org(settings, database, conn)
    except (WeComError, redis.RedisError, OSError) as exc:
        fail(f"推送到企业微信失败：{exc}")
    finally:
        conn.close()
    for line in report.lines():
        click.echo(line)
    return report


@click.group("sync")
def sync_group() -> None:
    """数据中心同步：中间表 → 办事大厅 → 企业微信。"""


@sync_group.command("run")
@click.option("--force", is_flag=True, help="即使将停用超过阈值的部门或人员也执行")
@click.option("--push/--no-push", default=True, show_default=True, help="同步后推送到企业微信")
@click.option(
    "--threshold",
    type=click.FloatRange(0.0, 1.0),
    default=DEFAULT_THRESHOLD,
    show_default=True,
    help="停用比例阈值",
)
def sync_run(force: bool, push: bool, threshold: float) -> None:
    """按一级部门、二级部门、人员、部门人员关系、用户角色、事项可见范围的顺序同步。"""
    settings = cli_settings()
    with open_database(settings) as database:
        _require_schema(database)
        report = run_sync(database, force=force, trigger="cli", threshold=threshold)
        for line in report.lines():
            click.echo(line)
        if not report.ok:
            fail("同步未执行，数据保持不变。")
        if push and report.run_id is not None:
            pushed = _push(settings, database)
            if pushed is not None:
                record_push(database, report.run_id, pushed.as_dict())


@sync_group.command("push")
def sync_push() -> None:
    """把部门（先）和成员（后）的变更推送到企业微信；离校人员禁用，不删除。"""
    settings = cli_settings()
    with open_database(settings) as database:
        _require_schema(database)
        if _push(settings, database) is None:
            fail("无法推送：未配置 Redis。")


@sync_group.command("runs")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 1000))
def sync_runs(limit: int) -> None:
    """最近的同步报告。"""
    with open_database() as database:
        _require_schema(database)
        with database.reader() as session:
            reports = list_runs(session, limit)
    if not reports:
        click.echo("还没有同步记录。")
    for report in reports:
        started = report.started_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"[{started}，{report.trigger}]")
        for line in report.lines():
            click.echo(line)


@sync_group.command("demo-feed")
def sync_demo_feed() -> None:
    """把演示学校写入数据中心中间表（JZG_T_BM、JZG_T_USER、XS_JBXX）。"""
    with open_database() as database:
        _require_schema(database)
        with database.unit_of_work() as session:
            counts = load_demo_feed(session)
    click.echo(
        f"已写入中间表：{counts.departments} 个部门，{counts.staff} 名教职工，"
        f"{counts.students} 名学生。"
    )


def _feed_demo_after_load() -> None:
    """After `hall demo`: when the demo school is in the hall and the staging tables are
    empty, write the school into them and run the first sync (it adds the base roles)."""
    with open_database() as database:
        fed = feed_demo_school(database)
    if fed is None:
        return
    counts, report = fed.counts, fed.report
    click.echo(
        f"\n已把演示学校写入数据中心中间表（{counts.departments} 个部门，"
        f"{counts.staff + counts.students} 人），首次同步"
        f"{'完成' if report.ok else '未完成'}：{report.changes} 项变更。"
        "之后运行 hall sync run 应报告 0 项变更。"
    )


def install(group: click.Group) -> None:
    """Add `hall sync` to `group`, and the staging feed to its `hall demo`."""
    group.add_command(sync_group)
    demo = group.commands.get("demo")
    if not isinstance(demo, click.Group) or demo.callback is None:
        return
    original = demo.callback

    @functools.wraps(original)
    def demo_and_feed(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if click.get_current_context().invoked_subcommand is None:
            _feed_demo_after_load()
        return result

    # A copy of `hall demo` in this group only: the core's own command is left as it is.
    demo = copy.copy(demo)
    demo.callback = demo_and_feed
    group.add_command(demo)
