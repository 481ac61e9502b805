"""The migrations build exactly the models' schema, and the history is append-only."""

from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError

from hall.db import make_engine
from hall.migrate import downgrade, upgrade
from hall.models import ActionLog, Application, Base, Role
from hall.states import AppStatus, IllegalTransition, fire
from tests import factories
from tests.conftest import _create_pg_database, _drop_pg_database

# The sync's, self-registration's and SMS tables live on the same metadata; hall/ may not import
# sync/, selfreg/ or sms/, so load them here.
importlib.import_module("sync.models")
importlib.import_module("sync.staging")
importlib.import_module("selfreg.models")
importlib.import_module("sms.models")


def test_migrations_match_models(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_roles_are_seeded(session):
    codes = set(session.scalars(select(Role.code)))
    assert {"dept_head", "counsellor", "dept_admin", "info_center"} <= {c.value for c in codes}


def _application(session) -> Application:
    dept = factories.department(session)
    head = factories.person(session, "李处长", dept=dept, roles=("dept_head",))
    version = factories.process(session, factories.simple_spec(dept.code))
    app = Application(
        serial="T0001",
        process_id=version.process_id,
        version_id=version.id,
        applicant_id=head.id,
        title="t",
        form={"reason": "x"},
    )
    session.add(app)
    session.flush()
    return app


def test_action_log_refuses_updates_in_the_orm(session):
    app = _application(session)
    entry = ActionLog(application_id=app.id, action="submit")
    session.add(entry)
    session.flush()
    entry.action = "forged"
    with pytest.raises(RuntimeError, match="append-only"):
        session.flush()


def test_action_log_refuses_updates_in_the_database(session):
    app = _application(session)
    session.add(ActionLog(application_id=app.id, action="submit"))
    session.flush()
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text("UPDATE action_log SET action = 'forged'"))


def test_status_changes_only_through_declared_transitions(session):
    app = _application(session)
    assert app.status is AppStatus.DRAFT
    with pytest.raises(AttributeError):
        app.status = AppStatus.APPROVED  # type: ignore[misc]
    with pytest.raises(IllegalTransition, match="cannot approve from draft"):
        fire(app, "approve")
    fire(app, "submit")
    session.flush()
    session.refresh(app)
    assert app.status is AppStatus.PENDING


def test_every_migration_downgrades_and_upgrades_again(backend, tmp_path):
    """From nothing to head, back to nothing, and to head again, on a fresh database."""
    name = None
    if backend == "postgresql":
        url, name = _create_pg_database()
    else:
        url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        downgrade(engine, "base")
        with engine.connect() as conn:
            left = set(inspect(conn).get_table_names()) - {"alembic_version"}
        assert left == set()
        upgrade(engine)
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, Base.metadata) == []
    finally:
        engine.dispose()
        if name is not None:
            _drop_pg_database(name)
