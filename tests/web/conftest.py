"""Fixtures for the JSON API: an app on the test's PostgreSQL transaction, a small school,
and a client that signs in as anyone with a real bearer token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from config import load_settings
from hall.clock import utcnow
from hall.db import Database
from hall.models import (
    ActionLog,
    Application,
    Comment,
    Department,
    Follower,
    Notification,
    Person,
    ProcessVersion,
    Task,
)
from hall.states import fire
from hall.tokens import create_token
from tests import factories
from web.app import create_app


@pytest.fixture
def app(db: Database, tmp_path: Path) -> Flask:
    settings = load_settings(
        var_dir=tmp_path,
        secret_key="test",
        database_url=db.engine.url.render_as_string(hide_password=False),
    )
    flask_app = create_app(settings, database=db)
    flask_app.config["TESTING"] = True
    return flask_app


class Api:
    """A test client speaking JSON as one person (or nobody)."""

    def __init__(self, client: FlaskClient, db: Database) -> None:
        self.client = client
        self.db = db
        self._tokens: dict[int, str] = {}

    def token(self, who: Person) -> str:
        if who.id not in self._tokens:
            with self.db.unit_of_work() as s:
                self._tokens[who.id] = create_token(s, who.userid)
        return self._tokens[who.id]

    def headers(self, who: Person | None, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if who is not None:
            headers["Authorization"] = f"Bearer {self.token(who)}"
        return headers

    def get(
        self, path: str, who: Person | None, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> TestResponse:
        return self.client.get(path, headers=self.headers(who, headers), **kw)

    def post(
        self,
        path: str,
        who: Person | None,
        json: Any = None,
        *,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> TestResponse:
        if json is not None:
            kw["json"] = json
        return self.client.post(path, headers=self.headers(who, headers), **kw)


@pytest.fixture
def api(app: Flask, db: Database) -> Api:
    return Api(app.test_client(), db)


@dataclass
class School:
    cs: Department  # 计算机学院
    math: Department  # 数学学院
    alice: Person  # staff of cs, the usual applicant
    bob: Person  # head of cs, the usual reviewer
    carol: Person  # student of cs
    dave: Person  # staff of math: an outsider to cs's applications
    erin: Person  # dept_admin of cs
    ivan: Person  # information center
    leave: ProcessVersion  # cs's process for staff and students
    math_only: ProcessVersion  # cs's process visible to math only
    students_only: ProcessVersion


@pytest.fixture
def school(session: Session) -> School:
    cs = factories.department(session, "计算机学院", code="CS")
    math = factories.department(session, "数学学院", code="MATH")
    alice = factories.person(session, "王小丽", dept=cs, userid="alice")
    bob = factories.person(session, "李处长", dept=cs, userid="bob", roles=("dept_head",))
    carol = factories.person(
        session,
        "陈同学",
        kind="student",
        dept=cs,
        userid="carol",
        profile={"major": "软件工程"},
    )
    dave = factories.person(session, "赵老师", dept=math, userid="dave")
    erin = factories.person(session, "孙管理", dept=cs, userid="erin", roles=("dept_admin",))
    ivan = factories.person(session, "信息中心", userid="ivan", roles=("info_center",))
    leave = factories.process(
        session,
        factories.simple_spec(
            "CS",
            key="leave",
            name="教职工请假",
            category="人事",
            description="请假审批",
            promised_days=3,
            form=[
                {"key": "reason", "label": "事由", "type": "text", "required": True},
                {"key": "phone", "label": "手机", "type": "mobile", "prefill": "mobile"},
            ],
        ),
    )
    math_only = factories.process(
        session,
        factories.simple_spec(
            "CS", key="seminar", name="数学讲座报名", category="科研", visible_to=["MATH"]
        ),
    )
    students_only = factories.process(
        session,
        factories.simple_spec(
            "CS",
            key="dorm",
            name="宿舍调换",
            category="学生事务",
            audience=["student"],
            form=[
                {"key": "reason", "label": "事由", "type": "text", "required": True},
                {"key": "major", "label": "专业", "type": "text", "prefill": "profile.major"},
            ],
        ),
    )
    session.commit()
    return School(cs, math, alice, bob, carol, dave, erin, ivan, leave, math_only, students_only)


_serials = iter(range(1, 1_000_000))


def make_application(
    session: Session,
    version: ProcessVersion,
    applicant: Person,
    *,
    reviewer: Person | None = None,
    submit: bool = True,
    age_minutes: int = 0,
    form: dict[str, Any] | None = None,
) -> Application:
    """An application as the engine would leave it: submitted, one pending task, a log."""
    created = utcnow() - timedelta(minutes=age_minutes)
    app = Application(
        serial=f"T{next(_serials):08d}",
        process_id=version.process_id,
        version_id=version.id,
        applicant_id=applicant.id,
        department_id=applicant.department_id,
        title=f"{applicant.name}的{version.name}",
        form=form or {"reason": "参加会议"},
        created_at=created,
    )
    session.add(app)
    session.flush()
    session.add(ActionLog(application_id=app.id, actor_id=applicant.id, action="save_draft"))
    if submit:
        fire(app, "submit")
        app.submitted_at = created
        app.current_step = 0
        session.add(
            ActionLog(
                application_id=app.id,
                actor_id=applicant.id,
                action="submit",
                step_index=0,
                from_status="draft",
                to_status="pending",
            )
        )
        if reviewer is not None:
            session.add(
                Task(
                    application_id=app.id,
                    step_index=0,
                    step_key="head",
                    assignee_id=reviewer.id,
                    created_at=created,
                    activated_at=created,
                )
            )
    session.commit()
    return app


def decide(session: Session, task: Task, event: str = "approve", comment: str = "同意") -> None:
    """Close a task as a reviewer's decision would (for read-side tests)."""
    fire(task, event)
    task.decided_at = utcnow()
    task.comment = comment
    session.add(
        ActionLog(
            application_id=task.application_id,
            task_id=task.id,
            actor_id=task.assignee_id,
            action=event,
            step_index=task.step_index,
            comment=comment,
        )
    )
    session.commit()


def follow(session: Session, app: Application, who: Person) -> None:
    session.add(Follower(application_id=app.id, person_id=who.id, reason="cc"))
    session.commit()


def comment(session: Session, app: Application, who: Person, body: str) -> None:
    session.add(Comment(application_id=app.id, author_id=who.id, body=body))
    session.commit()


def notify(session: Session, who: Person, title: str, app: Application | None = None) -> int:
    row = Notification(
        person_id=who.id,
        kind="task_assigned",
        title=title,
        body="请处理",
        application_id=app.id if app else None,
    )
    session.add(row)
    session.commit()
    return row.id
