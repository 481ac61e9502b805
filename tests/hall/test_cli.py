"""The `hall` CLI against real SQLite files, configured through HALL_* variables.

One database is migrated and loaded with the demo school per module; each test works on
its own copy of that file.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from hall import demo
from hall.cli import cli
from hall.clock import utcnow
from hall.db import Database
from hall.models import Person, PersonStatus, ProcessVersion, Task
from hall.process_library import load_library
from hall.services import Hall
from hall.tokens import person_for_token


def _env(root: Path, db_file: Path) -> dict[str, str]:
    return {
        "HALL_DATABASE_URL": f"sqlite:///{db_file}",
        "HALL_VAR_DIR": str(root / "var"),
        "HALL_SECRET_KEY": "test-secret-key-for-the-cli",
    }


def _invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with the demo school loaded through the CLI."""
    root = tmp_path_factory.mktemp("cli-template")
    db_file = root / "hall.db"
    env = _env(root, db_file)
    assert _invoke(env, "init-db").exit_code == 0
    result = _invoke(env, "demo")
    assert result.exit_code == 0, result.output
    return db_file


@pytest.fixture
def env(template: Path, tmp_path: Path) -> dict[str, str]:
    db_file = tmp_path / "hall.db"
    shutil.copyfile(template, db_file)
    return _env(tmp_path, db_file)


@pytest.fixture
def database(env: dict[str, str]) -> Iterator[Database]:
    db = Database(env["HALL_DATABASE_URL"])
    try:
        yield db
    finally:
        db.dispose()


def _versions(database: Database) -> int:
    with database.reader() as session:
        return session.scalar(select(func.count()).select_from(ProcessVersion)) or 0


def test_init_db_then_demo_on_a_fresh_file(tmp_path: Path):
    env = _env(tmp_path, tmp_path / "fresh" / "hall.db")
    result = _invoke(env, "demo")
    assert result.exit_code == 1
    assert "hall init-db" in result.stderr

    result = _invoke(env, "init-db")
    assert result.exit_code == 0
    assert "数据库已升级" in result.stdout
    assert _invoke(env, "init-db").exit_code == 0  # idempotent

    result = _invoke(env, "demo")
    assert result.exit_code == 0
    assert demo.FIRST_STUDENT in result.stdout
    assert demo.IT_ADMIN in result.stdout
    assert "个事项" in result.stdout


def test_second_demo_says_so_and_changes_nothing(env: dict[str, str], database: Database):
    with database.reader() as session:
        before = session.scalar(select(func.count()).select_from(Person))
    result = _invoke(env, "demo")
    assert result.exit_code == 0
    assert "已有人员" in result.stdout
    with database.reader() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == before
    assert _versions(database) == len(load_library())


def test_demo_accounts_json_lists_everyone_with_kinds_and_roles(env: dict[str, str]):
    result = _invoke(env, "demo", "accounts", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert {row["kind"] for row in rows} == {"staff", "student", "offcampus"}
    assert len(rows) == len(demo.build_demo_school().people)
    by_userid = {row["userid"]: row for row in rows}
    admin = by_userid[demo.IT_ADMIN]
    assert set(admin) >= {"userid", "name", "kind", "department", "roles"}
    assert admin["department"] == "信息中心"
    assert "info_center" in admin["roles"]
    assert by_userid[demo.FIRST_COUNSELLOR]["roles"] == ["counsellor"]

    leaders = json.loads(
        _invoke(env, "demo", "accounts", "--json", "--role", "school_leader").stdout
    )
    assert 2 <= len(leaders) <= 3
    students = json.loads(_invoke(env, "demo", "accounts", "--json", "--kind", "student").stdout)
    assert {row["kind"] for row in students} == {"student"}

    table = _invoke(env, "demo", "accounts", "--kind", "offcampus")
    assert table.exit_code == 0
    assert demo.FIRST_ALUMNUS in table.stdout


BAD_DEFINITION = """\
key: Bad-Key
name: 有问题的事项
department: "1006"
category: 测试
audience: [staff]
form:
  - key: reason
    label: 事由
    type: paragraph
flow:
  - key: head
    name: 负责人审批
    approver: {type: role_in_dept, role: dept_head}
"""


def test_importing_a_bad_file_lists_every_problem_and_changes_nothing(
    env: dict[str, str], database: Database, tmp_path: Path
):
    good = tmp_path / "good.yaml"
    good.write_text(
        _invoke(env, "process", "export", "vpn_account").stdout.replace(
            "VPN 账号申请", "VPN 账号申请（新）"
        ),
        encoding="utf-8",
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_DEFINITION, encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text("key: [unclosed\n", encoding="utf-8")
    before = _versions(database)

    result = _invoke(env, "process", "import", str(good), str(bad), str(broken))

    assert result.exit_code == 1
    assert f"{bad}: key:" in result.stderr
    assert f"{bad}: form.0.type:" in result.stderr
    assert f"{bad}: flow.0.approver:" in result.stderr
    assert f"{broken}: YAML:" in result.stderr
    assert "未做任何修改" in result.stderr
    assert _versions(database) == before  # the good file was not published either


def test_import_naming_an_unknown_department_changes_nothing(
    env: dict[str, str], database: Database, tmp_path: Path
):
    text = _invoke(env, "process", "export", "vpn_account").stdout
    moved = tmp_path / "moved.yaml"
    moved.write_text(text.replace("department: '1006'", "department: '9999'"), encoding="utf-8")
    before = _versions(database)
    result = _invoke(env, "process", "import", str(moved))
    assert result.exit_code == 1
    assert "9999" in result.stderr
    assert _versions(database) == before


def test_export_import_round_trip(env: dict[str, str], database: Database, tmp_path: Path):
    path = tmp_path / "student_leave.yaml"
    result = _invoke(env, "process", "export", "student_leave", "-o", str(path))
    assert result.exit_code == 0
    exported = path.read_text(encoding="utf-8")
    assert exported == _invoke(env, "process", "export", "student_leave").stdout

    before = _versions(database)
    result = _invoke(env, "process", "import", str(path))
    assert result.exit_code == 0
    assert "内容未变" in result.stdout
    assert _versions(database) == before

    path.write_text(exported.replace("name: 学生请假", "name: 学生请假与销假"), encoding="utf-8")
    result = _invoke(env, "process", "import", str(path))
    assert result.exit_code == 0
    assert "已发布第 2 版" in result.stdout
    assert _versions(database) == before + 1
    assert _invoke(env, "process", "export", "student_leave").stdout == path.read_text(
        encoding="utf-8"
    )
    listing = _invoke(env, "process", "list").stdout
    assert "student_leave" in listing
    assert "v2" in listing
    assert "学生请假与销假" in listing


def test_export_of_an_unknown_process_fails(env: dict[str, str]):
    result = _invoke(env, "process", "export", "no_such_process")
    assert result.exit_code == 1
    assert "no_such_process" in result.stderr


def test_token_create_prints_the_token_alone_on_the_last_line(
    env: dict[str, str], database: Database
):
    result = _invoke(env, "token", "create", demo.FIRST_STUDENT)
    assert result.exit_code == 0
    token = result.stdout.splitlines()[-1]
    assert token == token.strip()
    assert " " not in token
    with database.unit_of_work() as session:
        person = person_for_token(session, token)
        assert person is not None
        assert person.userid == demo.FIRST_STUDENT


def test_token_for_an_unknown_userid_fails(env: dict[str, str]):
    result = _invoke(env, "token", "create", "nobody")
    assert result.exit_code == 1
    assert "nobody" in result.stderr
    assert result.stdout == ""


def test_bad_settings_exit_2_with_the_variable_named(env: dict[str, str]):
    result = _invoke({**env, "HALL_BASE_URL": "ftp://example.edu.cn"}, "process", "list")
    assert result.exit_code == 2
    assert "HALL_BASE_URL" in result.stderr


def test_remind_reminds_each_overdue_to_do_once(env: dict[str, str], database: Database):
    with database.reader() as session:
        student = session.scalar(select(Person.id).where(Person.userid == demo.FIRST_STUDENT))
    assert student is not None
    form = {"location": "南校区 3 号宿舍楼 412", "fault_type": "wireless", "symptom": "断网"}
    app_id = Hall(database).submit(student, "network_repair", form).application_id
    assert "已发送 0 条超时提醒" in _invoke(env, "remind").stdout  # due in 24 hours
    with database.unit_of_work() as session:
        tasks = session.scalars(select(Task).where(Task.application_id == app_id)).all()
        for task in tasks:  # both IT technicians of the any-of step
            task.due_at = utcnow() - timedelta(hours=1)
    assert "已发送 2 条超时提醒" in _invoke(env, "remind").stdout
    assert "已发送 0 条超时提醒" in _invoke(env, "remind").stdout  # once a day at most
    # A technician leaves: the any-of step goes on with the other one.
    with database.unit_of_work() as session:
        first = session.scalars(select(Task).where(Task.application_id == app_id)).first()
        assert first is not None
        session.get_one(Person, first.assignee_id).status = PersonStatus.INACTIVE
    assert "已转交 1 件已停用人员的待办" in _invoke(env, "remind").stdout
    assert "已转交 0 件" in _invoke(env, "remind").stdout
