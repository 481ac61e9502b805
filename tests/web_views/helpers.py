"""Small helpers for the page tests: post a form as a browser would (with the page's
CSRF token), submit applications through the service, find tasks."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from hall.db import Database
from hall.models import Person, Task
from hall.services import Hall
from hall.states import TaskStatus
from tests.web_views.conftest import csrf_of


def post(client: FlaskClient, path: str, data: dict[str, Any], page: str = "/") -> TestResponse:
    return client.post(path, data={"csrf_token": csrf_of(client, page), **data})


def submit(db: Database, who: Person, process: str = "simple", **form: Any) -> int:
    values = form or {"reason": "参加学术会议"}
    return Hall(db).submit(who.id, process, values).application_id


def pending_task(session: Session, application_id: int) -> Task:
    session.expire_all()
    task = session.scalar(
        select(Task).where(
            Task.application_id == application_id,
            Task.__table__.c.status == TaskStatus.PENDING,
        )
    )
    assert task is not None
    return task


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)
