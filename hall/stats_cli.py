"""`hall stats rebuild|fold`: the statistics' daily aggregates by hand (hall/stats_daily.py).

`rebuild` recomputes every day from the tasks and applications (after a restore, a
transaction that stayed open past the fold's settling time, or the upgrade to migration
0006: until then the application counts and monthly sums stay unread, the page counts the
applications directly); `fold` does once what the worker does every minute. Added to the
`hall` group by web/cli.py."""

from __future__ import annotations

import time

import click

from hall import stats_daily
from hall.cli import open_database
from hall.clock import utcnow


@click.group("stats")
def stats_group() -> None:
    """统计数据的日汇总 / the statistics' daily aggregates."""


@stats_group.command("rebuild")
def rebuild_command() -> None:
    """按任务全部重算日汇总 / recompute every day from the tasks."""
    began = time.perf_counter()
    with open_database() as database, database.unit_of_work() as session:
        rows = stats_daily.rebuild(session, utcnow())
    click.echo(f"已重算 {rows} 行，用时 {time.perf_counter() - began:.1f} 秒")


@stats_group.command("fold")
def fold_command() -> None:
    """把新的办理记录并入日汇总 / fold the new log entries into the aggregates."""
    with open_database() as database, database.unit_of_work() as session:
        report = stats_daily.fold(session, utcnow())
    click.echo(f"读取 {report.entries} 条记录，重算 {report.days} 天")


def install(group: click.Group) -> None:
    group.add_command(stats_group)
