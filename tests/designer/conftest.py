"""The designer's services run on both PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hall.clock import FrozenClock
from hall.designer import Designer
from tests import factories


@pytest.fixture(params=["postgresql", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    result: str = request.param
    return result


@pytest.fixture
def school(session):
    """The engine tests' small school, committed (test_designer_routes has its own)."""
    s = factories.school(session)
    session.commit()
    return s


@pytest.fixture
def designer(db):
    return Designer(db, FrozenClock(datetime(2026, 9, 1, 8, 0, tzinfo=UTC)))
