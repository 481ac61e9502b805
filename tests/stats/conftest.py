"""The statistics run on both PostgreSQL and SQLite."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["postgresql", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    result: str = request.param
    return result
