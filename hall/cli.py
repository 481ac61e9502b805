"""The `hall` command line: database, demo school, process definitions, API tokens.

Commands are thin: read settings, open the database, call one function, report. The
console script lives in `web/cli.py`, which adds `run` and `worker` to this group; this
module imports no Flask and no RQ.

Exit codes: 0 done, 1 the request failed (bad input, unknown name), 2 bad configuration.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
from sqlalchemy import inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, joinedload, selectinload

from config import Settings, SettingsError, load_settings
from hall import demo as demo_school
from hall.clock import SystemClock
from hall.db import Database
from hall.definitions import DefinitionError, ProcessSpec, dump_yaml, load_yaml
from hall.errors import HallError
from hall.migrate import upgrade
from hall.models import Person, PersonKind, ProcessDefinition, RoleCode
from hall.processes import get_process, publish, version_spec
from hall.reminders import delegate_all, reassign_all, remind_all, time_out_all
from hall.tokens import create_token

EXIT_FAILED = 1
EXIT_CONFIG = 2


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"错误：{message}", err=True)
    sys.exit(code)


def cli_settings() -> Settings:
    """The settings, or exit 2 with the message naming the bad variable."""
    try:
        return load_settings()
    except SettingsError as exc:
        fail(str(exc), EXIT_CONFIG)


@contextmanager
def open_database(settings: Settings | None = None) -> Iterator[Database]:
    database = Database((settings or cli_settings()).database_url)
    try:
        yield database
    finally:
        database.dispose()


def _require_schema(database: Database) -> None:
    if not inspect(database.engine).has_table("person"):
        fail("数据库尚未初始化，请先运行 hall init-db")


@click.group()
def cli() -> None:
    """网上办事大厅管理命令。"""


# ------------------------------------------------------------------------- init-db


@cli.command("init-db")
def init_db() -> None:
    """创建或升级数据库结构（Alembic upgrade head）。"""
    settings = cli_settings()
    with open_database(settings) as database:
        upgrade(database.engine)
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    click.echo(f"数据库已升级到最新版本：{shown}")


# ---------------------------------------------------------------------------- demo


@cli.group("demo", invoke_without_command=True)
@click.pass_context
def demo(ctx: click.Context) -> None:
    """向空数据库载入演示学校（部门、人员、角色和事项）。"""
    if ctx.invoked_subcommand is not None:
        return
    with open_database() as database:
        _require_schema(database)
        with database.unit_of_work() as session:
            counts = demo_school.load_demo(session)
    if counts is None:
        click.echo("数据库中已有人员，未载入演示学校，也未做任何修改。")
        return
    click.echo(
        f"已载入演示学校：{counts.departments} 个部门，{counts.people} 人，"
        f"{counts.grants} 项角色授权，{counts.processes} 个事项。"
    )
    click.echo("\n便于记忆的演示账号（userid 即工号或学号）：")
    for userid, note in demo_school.MEMORABLE:
        click.echo(f"  {userid:<14} {note}")
    click.echo("\n全部账号：hall demo accounts（加 --json 输出 JSON）")


def accounts(
    session: Session, kind: PersonKind | None = None, role: RoleCode | None = None
) -> list[dict[str, Any]]:
    """The people of the database as plain rows, ordered by kind and userid."""
    query = (
        select(Person)
        .options(selectinload(Person.grants), joinedload(Person.department))
        .order_by(Person.kind, Person.userid)
    )
    if kind is not None:
        query = query.where(Person.kind == kind)
    rows = []
    for person in session.scalars(query):
        roles = sorted({g.role_code.value for g in person.grants})
        if role is not None and role.value not in roles:
            continue
        rows.append(
            {
                "userid": person.userid,
                "name": person.name,
                "kind": person.kind.value,
                "department": person.department.name if person.department else None,
                "department_code": person.department.code if person.department else None,
                "post": person.post,
                "mobile": person.mobile if person.kind == PersonKind.OFFCAMPUS else None,
                "roles": roles,
            }
        )
    return rows


def _pad(text: str, width: int) -> str:
    """Left-align in a terminal where CJK characters take two columns."""
    used = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(1, width - used)


@demo.command("accounts")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 列表输出")
@click.option("--kind", type=click.Choice([k.value for k in PersonKind]), help="只列出此类人员")
@click.option("--role", type=click.Choice([r.value for r in RoleCode]), help="只列出有此角色的人")
def demo_accounts(as_json: bool, kind: str | None, role: str | None) -> None:
    """列出演示人员：userid、姓名、类别、部门、角色。"""
    with open_database() as database:
        _require_schema(database)
        with database.reader() as session:
            rows = accounts(
                session,
                PersonKind(kind) if kind else None,
                RoleCode(role) if role else None,
            )
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("没有符合条件的人员。先运行 hall demo 载入演示学校。")
        return
    for row in rows:
        cells = (row["userid"], row["name"], row["kind"], row["department"], row["post"])
        widths = (14, 8, 10, 12, 8)
        line = "".join(_pad(cell or "-", width) for cell, width in zip(cells, widths, strict=True))
        click.echo(line + ",".join(row["roles"]))
    click.echo(f"共 {len(rows)} 人")


# ------------------------------------------------------------------------- process


@cli.group("process")
def process() -> None:
    """导入、导出和列出事项定义（YAML）。"""


def read_definitions(paths: Sequence[Path]) -> list[ProcessSpec]:
    """Every file validated; all problems of all files in one DefinitionError."""
    specs: list[ProcessSpec] = []
    problems: list[str] = []
    for path in paths:
        try:
            specs.append(load_yaml(path.read_text(encoding="utf-8")))
        except DefinitionError as exc:
            problems.extend(f"{path}: {problem}" for problem in exc.problems)
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: 无法读取：{exc}")
    keys = [s.key for s in specs]
    problems.extend(
        f"key {key!r} 在多个文件中出现" for key in sorted({k for k in keys if keys.count(k) > 1})
    )
    if problems:
        raise DefinitionError(problems)
    return specs


@process.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def process_import(files: tuple[Path, ...]) -> None:
    """校验 YAML 定义并发布为新版本；任何一个文件有误则全部不发布。"""
    try:
        specs = read_definitions(files)
    except DefinitionError as exc:
        click.echo(f"事项定义有误（共 {len(exc.problems)} 处），未做任何修改：", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(EXIT_FAILED)
    with open_database() as database:
        _require_schema(database)
        try:
            with database.unit_of_work() as session:
                results = []
                for spec in specs:
                    before = _current_number(session, spec.key)
                    version = publish(session, spec)
                    results.append((spec, version.number, version.number == before))
        except HallError as exc:
            fail(f"{exc.message}；未做任何修改")
    for spec, number, unchanged in results:
        state = "内容未变，仍为" if unchanged else "已发布"
        click.echo(f"{spec.key}（{spec.name}）{state}第 {number} 版")


def _current_number(session: Session, key: str) -> int | None:
    process = session.scalar(select(ProcessDefinition).where(ProcessDefinition.key == key))
    if process is None or process.current_version is None:
        return None
    return process.current_version.number


@process.command("export")
@click.argument("key")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="写入文件而非标准输出"
)
def process_export(key: str, output: Path | None) -> None:
    """以 YAML 导出事项的当前版本（可再次导入）。"""
    with open_database() as database:
        _require_schema(database)
        with database.reader() as session:
            try:
                process = get_process(session, key)
            except HallError:
                fail(f"没有事项 {key!r}")
            assert process.current_version is not None  # get_process guarantees it
            text = dump_yaml(version_spec(process.current_version))
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"已导出 {key} 到 {output}")


@process.command("list")
def process_list() -> None:
    """列出全部事项及其当前版本。"""
    with open_database() as database:
        _require_schema(database)
        with database.reader() as session:
            processes = session.scalars(
                select(ProcessDefinition).order_by(ProcessDefinition.key)
            ).all()
            lines = []
            for p in processes:
                version = p.current_version
                if version is None:
                    continue
                lines.append(
                    f"{p.key:<24} v{version.number:<3} {p.department.name:<8} "
                    f"{'/'.join(version.audience):<18} {version.name}"
                    + ("" if p.active else "（已停用）")
                )
    if not lines:
        click.echo("还没有事项。用 hall process import FILE 导入，或 hall demo 载入演示事项。")
        return
    click.echo("\n".join(lines))


# -------------------------------------------------------------------------- remind


@cli.command("remind")
def remind() -> None:
    """提醒超过办理时限的待办，转交已停用人员和外出人员的待办（worker 每 5 分钟自动执行一次）。"""
    clock = SystemClock()
    with open_database() as database:
        _require_schema(database)
        timed_out = time_out_all(database, clock)
        total = remind_all(database, clock.now())
        moved = reassign_all(database, clock)
        delegated = delegate_all(database, clock)
    click.echo(f"已按时限自动处理 {timed_out} 件待办。")
    click.echo(f"已发送 {total} 条超时提醒。")
    click.echo(f"已转交 {moved.handed_on} 件已停用人员的待办。")
    click.echo(f"已将 {delegated} 件外出人员的待办转给其委托人。")
    if moved.stuck:
        click.echo(f"另有 {moved.stuck} 件找不到可接手的人，请为该事项所属部门指定管理员。")


# --------------------------------------------------------------------------- token


@cli.group("token")
def token() -> None:
    """管理 /api/v1 的访问令牌。"""


@token.command("create")
@click.argument("userid")
@click.option("--label", help="令牌用途备注")
def token_create(userid: str, label: str | None) -> None:
    """为 USERID 创建访问令牌；令牌单独打印在最后一行，只显示这一次。"""
    with open_database() as database:
        _require_schema(database)
        try:
            with database.unit_of_work() as session:
                secret = create_token(session, userid, label)
                name = session.scalar(select(Person.name).where(Person.userid == userid))
        except HallError:
            fail(f"没有 userid 为 {userid!r} 的人员")
    click.echo(f"已为 {name}（{userid}）创建访问令牌，请妥善保存，它不会再次显示：")
    click.echo(secret)
