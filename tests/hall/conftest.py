"""The core's tests run on both PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from hall.clock import FrozenClock
from hall.db import Database
from hall.services import Hall
from tests import factories


@pytest.fixture(params=["postgresql", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    result: str = request.param
    return result


# The engine tests' school, frozen clock and services (a module may define its own).


@pytest.fixture
def school(session) -> SimpleNamespace:
    return factories.school(session)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 9, 1, 1, 0, tzinfo=UTC))


@pytest.fixture
def hall(db: Database, clock: FrozenClock) -> Hall:
    return Hall(db, clock)
