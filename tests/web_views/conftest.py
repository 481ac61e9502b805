"""Fixtures for the web view: an app on the test's PostgreSQL transaction and the real
Redis (server-side sessions), a small school with a process using every field type, and
test clients signed in as anyone (by the session, as CAS sign-in leaves it)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from config import load_settings
from hall.db import Database
from hall.models import Person, ProcessVersion
from tests import factories
from web.app import create_app

EVERY_FIELD: list[dict[str, Any]] = [
    {"key": "reason", "label": "事由", "type": "text", "required": True, "max_length": 50},
    {"key": "detail", "label": "详细说明", "type": "textarea", "min_length": 2},
    {"key": "days", "label": "天数", "type": "number", "integer": True, "min": 1, "max": 30},
    {"key": "day", "label": "日期", "type": "date"},
    {"key": "period", "label": "起止日期", "type": "date_range", "max_days": 10},
    {"key": "slot", "label": "时间段", "type": "datetime_range"},
    {
        "key": "kind",
        "label": "类型",
        "type": "choice",
        "required": True,
        "options": [{"value": "sick", "label": "病假"}, {"value": "personal", "label": "事假"}],
    },
    {
        "key": "extras",
        "label": "附加",
        "type": "multichoice",
        "max": 2,
        "options": [
            {"value": "a", "label": "甲"},
            {"value": "b", "label": "乙"},
            {"value": "c", "label": "丙"},
        ],
    },
    {"key": "phone", "label": "手机", "type": "mobile", "prefill": "mobile"},
    {"key": "idno", "label": "身份证号", "type": "idcard"},
    {
        "key": "proof",
        "label": "证明材料",
        "type": "attachment",
        "max_files": 2,
        "max_size_mb": 0.01,
        "accept": ["pdf", "png", "jpg"],
    },
    {"key": "host", "label": "联系人", "type": "person"},
]


@dataclass
class School:
    alice: Person  # staff of CS, the applicant
    bob: Person  # head of CS, the reviewer
    carol: Person  # staff of CS, bob's colleague (delegate)
    dave: Person  # staff of MATH: an outsider
    every: ProcessVersion  # the process with every field type
    simple: ProcessVersion  # one required text field, one approval step


@pytest.fixture
def app(db: Database, redis_conn: redis.Redis, tmp_path: Path) -> Flask:
    settings = load_settings(
        var_dir=tmp_path,
        secret_key="web-views-test",
        database_url=db.engine.url.render_as_string(hide_password=False),
        sandbox=True,
    )
    flask_app = create_app(settings, database=db, redis=redis_conn)
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def school(session: Session) -> School:
    cs = factories.department(session, "计算机学院", code="CS")
    math = factories.department(session, "数学学院", code="MATH")
    alice = factories.person(session, "王小丽", dept=cs, userid="alice", mobile="13800138000")
    bob = factories.person(session, "李处长", dept=cs, userid="bob", roles=("dept_head",))
    carol = factories.person(session, "张老师", dept=cs, userid="carol")
    dave = factories.person(session, "赵老师", dept=math, userid="dave")
    every = factories.process(
        session,
        factories.simple_spec(
            "CS", key="every", name="全字段申请", category="测试", form=EVERY_FIELD
        ),
    )
    simple = factories.process(
        session, factories.simple_spec("CS", key="simple", name="简单申请", category="人事")
    )
    session.commit()
    return School(alice, bob, carol, dave, every, simple)


def sign_in(client: FlaskClient, who: Person) -> FlaskClient:
    with client.session_transaction() as s:
        s["person_id"] = who.id
        s["userid"] = who.userid
    return client


@pytest.fixture
def client_for(app: Flask) -> Any:
    def make(who: Person | None) -> FlaskClient:
        client = app.test_client()
        return sign_in(client, who) if who is not None else client

    return make


def csrf_of(client: FlaskClient, path: str = "/") -> str:
    """The CSRF token of a page, as a browser would read it from the form."""
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert found is not None
    return found.group(1)
