"""The demo school through the staging tables: the feed mirrors the org (a round trip)."""

from __future__ import annotations

from sqlalchemy import func, select

from hall import demo
from hall.models import Person, PersonKind, RoleCode, RoleGrant
from sync.demo_feed import load_demo_feed
from sync.services import run_sync


def test_the_demo_feed_round_trips(db, session):
    demo.load_demo(session)
    counts = load_demo_feed(session)
    session.commit()
    first = run_sync(db, trigger="demo")
    assert first.ok
    members = session.scalar(
        select(func.count())
        .select_from(Person)
        .where(Person.kind.in_((PersonKind.STAFF, PersonKind.STUDENT)))
    )
    assert counts.staff + counts.students == members
    # The demo school carries no base roles: they are the first sync's only change.
    for name, step in first.steps.items():
        expected = members if name == "roles" else 0
        assert (name, step.inserted) == (name, expected)
        assert (name, step.updated, step.deactivated, step.rejected) == (name, 0, 0, 0)
    assert (
        session.scalar(
            select(func.count())
            .select_from(RoleGrant)
            .where(RoleGrant.role_code == RoleCode.STUDENT)
        )
        == counts.students
    )
    second = run_sync(db)
    assert second.ok
    assert second.changes == 0
    assert second.problems.rejected_total == 0
    assert second.steps["people"].unchanged == members
