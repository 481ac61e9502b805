"""An app on the test's database and Redis, a small school, and WeCom's side of callbacks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy.orm import Session

from config import Settings, load_settings
from hall.db import Database
from hall.models import Department, Person, Task
from hall.services import Hall
from tests import factories
from tests.callbacks.wecom_peer import WeComPeer
from tests.conftest import REDIS_URL
from web.app import create_app
from wework.crypto import WeComCrypto


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(var_dir=tmp_path, secret_key="test", sandbox=True, redis_url=REDIS_URL)


@pytest.fixture
def app(db: Database, settings: Settings, redis_conn: redis.Redis) -> Flask:
    flask_app = create_app(settings, database=db, redis=redis_conn)
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def wecom(app: Flask, settings: Settings) -> WeComPeer:
    """WeCom posting to the app's callback URL."""
    crypto = WeComCrypto(settings.wecom_token, settings.wecom_aes_key, settings.wecom_corp_id)
    return WeComPeer(
        app.test_client(), crypto, settings.wecom_corp_id, agent_id=str(settings.wecom_agent_id)
    )


@pytest.fixture
def contacts_wecom(app: Flask, settings: Settings) -> WeComPeer:
    """WeCom posting to the contacts assistant's callback URL."""
    crypto = WeComCrypto(
        settings.wecom_contacts_token, settings.wecom_contacts_aes_key, settings.wecom_corp_id
    )
    return WeComPeer(
        app.test_client(), crypto, settings.wecom_corp_id, path="/wecom/contacts/callback"
    )


@dataclass
class School:
    """One department, its head (the reviewer), a colleague and an applicant."""

    dept: Department
    head: Person
    colleague: Person
    applicant: Person
    process_key: str


def make_school(session: Session, *, step: dict[str, Any] | None = None) -> School:
    dept = factories.department(session, "计算机学院")
    head = factories.person(session, "李主任", dept=dept, roles=("dept_head",))
    colleague = factories.person(session, "王老师", dept=dept)
    applicant = factories.person(session, "张三", dept=dept)
    flow_step: dict[str, Any] = {
        "key": "head",
        "name": "负责人审批",
        "approver": {"type": "dept_head"},
    }
    flow_step.update(step or {})
    spec = factories.simple_spec(dept.code, flow=[flow_step])
    spec["form"][0]["key_field"] = True
    version = factories.process(session, spec)
    session.commit()
    return School(dept, head, colleague, applicant, version.process.key)


@pytest.fixture
def school(session: Session) -> School:
    return make_school(session)


def submit(db: Database, school: School, reason: str = "参加学术会议") -> int:
    """Submit an application as the applicant; returns its id."""
    result = Hall(db).submit(school.applicant.id, school.process_key, {"reason": reason})
    return result.application_id


def pending_task(session: Session, application_id: int) -> Task:
    session.expire_all()
    tasks = [
        t
        for t in session.query(Task).filter_by(application_id=application_id)
        if t.status.value == "pending"
    ]
    assert len(tasks) == 1, tasks
    return tasks[0]
