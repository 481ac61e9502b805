"""Shared arrangements for the relay, channel and job tests: rows, test channels, a queue."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from hall.channels import ChannelError, PermanentError
from hall.models import Application, Delivery, Outbox, Person, Task
from hall.outbox import Kind, emit
from tests import factories


@dataclass
class Scene:
    applicant: Person
    reviewer: Person
    application: Application
    task: Task


def scene(session: Session) -> Scene:
    """An application by 王同学 waiting at 李处长's one-step approval."""
    dept = factories.department(session, "学生工作处")
    reviewer = factories.person(session, "李处长", dept=dept, roles=("dept_head",))
    applicant = factories.person(session, "王同学", kind="student", dept=dept)
    version = factories.process(
        session, factories.simple_spec(dept.code, name="请假申请", category="学生事务")
    )
    app = Application(
        serial="QJ20260901001",
        process_id=version.process_id,
        version_id=version.id,
        applicant_id=applicant.id,
        department_id=dept.id,
        title="王同学的请假申请",
        form={"reason": "回家"},
    )
    session.add(app)
    session.flush()
    task = Task(
        application_id=app.id,
        step_index=0,
        step_key="head",
        assignee_id=reviewer.id,
    )
    session.add(task)
    session.flush()
    return Scene(applicant, reviewer, app, task)


def assigned(session: Session, s: Scene) -> Outbox:
    """The outbox row the engine writes when it gives the reviewer a to-do."""
    row = emit(
        session,
        Kind.TASK_ASSIGNED,
        recipient_id=s.reviewer.id,
        application_id=s.application.id,
        task_id=s.task.id,
    )
    session.flush()
    return row


def deliveries(session: Session, outbox_id: int) -> dict[str, Delivery]:
    session.expire_all()
    rows = session.scalars(select(Delivery).where(Delivery.outbox_id == outbox_id))
    return {d.channel: d for d in rows}


class RecordingQueue:
    """A queue that only records what it was given (for relay tests without a worker)."""

    def __init__(self) -> None:
        self.jobs: list[tuple[int, str]] = []
        self.alive: set[str] = set()
        self.down = False

    def enqueue(self, delivery_id: int, job_id: str) -> None:
        if self.down:
            raise ConnectionError("queue down")
        self.jobs.append((delivery_id, job_id))
        self.alive.add(job_id)

    def job_alive(self, job_id: str) -> bool:
        if self.down:
            raise ConnectionError("queue down")
        return job_id in self.alive


@dataclass
class FlakyChannel:
    """Fails its first `failures` sends (forever when None), then records what it sent."""

    name: str = "flaky"
    failures: int | None = None
    permanent: bool = False
    calls: int = 0
    sent: list[int] = field(default_factory=list)

    def accepts(self, outbox: Outbox) -> bool:
        return outbox.recipient_id is not None

    def send(self, session: Session, outbox: Outbox) -> None:
        self.calls += 1
        if self.failures is None or self.calls <= self.failures:
            if self.permanent:
                raise PermanentError("no such WeCom user")
            raise ChannelError(f"gateway timeout #{self.calls}")
        self.sent.append(outbox.id)
