"""`hall sync …` and `hall demo` through the console script, on a SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from hall.db import Database
from hall.migrate import upgrade
from sync.models import SyncRun
from tests.sync.conftest import small_school, write_feed
from web.cli import build_cli


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    url = f"sqlite:///{tmp_path / 'hall.db'}"
    monkeypatch.setenv("HALL_DATABASE_URL", url)
    monkeypatch.setenv("HALL_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("HALL_SECRET_KEY", "test")
    monkeypatch.delenv("HALL_REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    database = Database(url)
    upgrade(database.engine)
    yield database
    database.dispose()


def test_sync_run_prints_its_report(cli_db):
    with cli_db.sessions() as session:
        write_feed(session, small_school())
    result = CliRunner().invoke(build_cli(), ["sync", "run", "--no-push"])
    assert result.exit_code == 0, result.output
    assert "同步 #1：成功" in result.output
    assert "一级部门" in result.output
    assert "事项可见范围" in result.output
    assert "共 " in result.output
    lines = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()[2:8]}
    assert lines["人员"] == ["12", "0", "0", "0", "0"]
    runs = CliRunner().invoke(build_cli(), ["sync", "runs"])
    assert runs.exit_code == 0
    assert "同步 #1" in runs.output


def test_a_refused_run_exits_1_and_says_why(cli_db):
    with cli_db.sessions() as session:
        write_feed(session, small_school())
    CliRunner().invoke(build_cli(), ["sync", "run", "--no-push"])
    with cli_db.sessions() as session:
        write_feed(session, {})
    result = CliRunner().invoke(build_cli(), ["sync", "run", "--no-push"])
    assert result.exit_code == 1
    assert "已拒绝（未做任何修改）" in result.output
    assert "--force" in result.output
    forced = CliRunner().invoke(build_cli(), ["sync", "run", "--no-push", "--force"])
    assert forced.exit_code == 0, forced.output
    assert "强制执行" in forced.output


def test_push_without_redis_says_so(cli_db):
    result = CliRunner().invoke(build_cli(), ["sync", "push"])
    assert result.exit_code == 1
    assert "HALL_REDIS_URL" in result.output


def test_hall_demo_feeds_the_staging_tables_and_a_sync_then_changes_nothing(cli_db):
    demo = CliRunner().invoke(build_cli(), ["demo"])
    assert demo.exit_code == 0, demo.output
    assert "中间表" in demo.output
    result = CliRunner().invoke(build_cli(), ["sync", "run", "--no-push"])
    assert result.exit_code == 0, result.output
    assert "共 0 项变更，拒绝 0 行。" in result.output
    with cli_db.reader() as session:
        triggers = list(session.scalars(select(SyncRun.trigger).order_by(SyncRun.id)))
    assert triggers == ["demo", "cli"]
