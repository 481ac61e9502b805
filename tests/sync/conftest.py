"""Sync tests run on PostgreSQL and SQLite; feeds are written into the real staging tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from config import load_settings
from hall.models import Person
from sync.staging import JZG_T_BM, JZG_T_USER, STAGING_TABLES, XS_JBXX
from tests.wework.conftest import Receiver, Sandbox, serve
from wework import sandbox


@pytest.fixture(params=["postgresql", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    result: str = request.param
    return result


def dept(
    code: str, name: str, parent: str = "", *, level: str | None = None, **kw: str
) -> dict[str, str]:
    row = {
        "BMDM": code,
        "BMMC": name,
        "SJBMDM": parent,
        "BMJB": level if level is not None else ("2" if parent else "1"),
        "PX": "10",
        "SFYX": "1",
    }
    row.update(kw)
    return row


def staff(gh: str, name: str, bmdm: str, zw: str = "教师", **kw: str) -> dict[str, str]:
    row = {
        "GH": gh,
        "XM": name,
        "XB": "男",
        "BMDM": bmdm,
        "SJH": f"139{int(gh[-6:]) if gh[-6:].isdigit() else 0:08d}",
        "DZYX": f"{gh}@school.edu.cn",
        "ZW": zw,
        "RYZT": "在职",
    }
    row.update(kw)
    return row


def student(xh: str, name: str, yxdm: str, fdygh: str = "", **kw: str) -> dict[str, str]:
    row = {
        "XH": xh,
        "XM": name,
        "XB": "女",
        "YXDM": yxdm,
        "ZYMC": "临床医学",
        "BJMC": "临床2301班",
        "NJ": "2023",
        "XSLB": "本科",
        "XJZT": "在读",
        "SJH": f"138{int(xh[-6:]) if xh[-6:].isdigit() else 0:08d}",
        "FDYGH": fdygh,
    }
    row.update(kw)
    return row


def small_school() -> dict[str, list[dict[str, str]]]:
    """Two offices, a college with two units, 6 staff and 6 students."""
    return {
        "JZG_T_BM": [
            dept("10", "人事处"),
            dept("20", "临床医学院"),
            dept("2001", "学院办公室", "20"),
            dept("2002", "内科学教研室", "20"),
            dept("30", "教务处"),
        ],
        "JZG_T_USER": [
            staff("100001", "郑处长", "10", "处长"),
            staff("100002", "冯科员", "10", "科员"),
            staff("200001", "李院长", "20", "院长"),
            staff("200002", "周副书记", "20", "副书记"),
            staff("200003", "陈老师", "20", "教师"),
            staff("200004", "钱老师", "2002", "教师"),
        ],
        "XS_JBXX": [
            student(f"202300000{i}", f"林同学{i}", "20", "200003" if i < 4 else "")
            for i in range(6)
        ],
    }


def write_feed(session: Session, feed: dict[str, list[dict[str, str]]]) -> None:
    """Replace the staging tables' content with `feed` (table name → rows)."""
    tables = {"JZG_T_BM": JZG_T_BM, "JZG_T_USER": JZG_T_USER, "XS_JBXX": XS_JBXX}
    for table in STAGING_TABLES:
        session.execute(delete(table))
    for name, rows in feed.items():
        if rows:
            session.execute(insert(tables[name]), rows)
    session.commit()


def person(session: Session, userid: str) -> Person:
    session.expire_all()
    found = session.scalar(select(Person).where(Person.userid == userid))
    assert found is not None, userid
    return found


@pytest.fixture
def wecom(redis_conn: redis.Redis, tmp_path: Path) -> Iterator[Sandbox]:
    """The sandbox WeCom over real HTTP in a thread (as in tests/wework)."""
    app = Flask("sync-sandbox-test")
    server, thread = serve(app)
    base = f"http://127.0.0.1:{server.server_port}"
    settings = load_settings(
        sandbox=True, base_url=base, var_dir=tmp_path, secret_key="test", redis_url=""
    )
    app.extensions["hall.settings"] = settings
    sandbox.init_app(app, redis_conn)
    thread.start()
    try:
        yield Sandbox(
            app=app,
            settings=settings,
            store=sandbox.sandbox_store(app),
            receiver=Receiver(),
            base=base,
            redis=redis_conn,
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def counts(report: Any, step: str) -> dict[str, int]:
    result: dict[str, int] = report.steps[step].as_dict()
    return result
