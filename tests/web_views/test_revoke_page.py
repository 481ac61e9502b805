"""撤销 on the application page: offered to the applicant of an approved application while
the window lasts, with a required reason; the approver is told."""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session

from hall.clock import FrozenClock
from hall.db import Database
from hall.models import Application
from hall.outbox import Kind
from hall.services import Decision, Hall
from hall.states import AppStatus
from tests import factories
from tests.web_views.conftest import School
from tests.web_views.helpers import pending_task, post


def _approved(
    app: Flask, db: Database, session: Session, school: School
) -> tuple[int, FrozenClock]:
    clock = FrozenClock()
    app.extensions["hall.clock"] = clock
    factories.process(
        session,
        factories.simple_spec(
            "CS", key="trip", name="出差审批", options={"revoke_window_hours": 72}
        ),
    )
    session.commit()
    hall = Hall(db, clock)
    app_id = hall.submit(school.alice.id, "trip", {"reason": "学术会议"}).application_id
    hall.decide(school.bob.id, pending_task(session, app_id).id, Decision("approve"))
    return app_id, clock


def test_the_applicant_revokes_from_the_page_and_the_approver_is_told(
    app: Flask, client_for, db: Database, session: Session, school: School
) -> None:
    app_id, _clock = _approved(app, db, session, school)
    alice = client_for(school.alice)
    page = alice.get(f"/applications/{app_id}").get_data(as_text=True)
    assert 'id="revoke"' in page
    assert "可在" in page
    assert "前撤销" in page
    assert 'id="revoke"' not in client_for(school.bob).get(f"/applications/{app_id}").get_data(
        as_text=True
    )
    path = f"/applications/{app_id}/revoke"
    empty = post(alice, path, {"comment": ""}, page=f"/applications/{app_id}")
    assert empty.status_code == 302
    assert "请填写撤销原因" in alice.get(f"/applications/{app_id}").get_data(as_text=True)
    done = post(alice, path, {"comment": "会议延期"}, page=f"/applications/{app_id}")
    assert done.status_code == 302
    after = alice.get(f"/applications/{app_id}").get_data(as_text=True)
    assert '<span class="status status-revoked">已撤销</span>' in after  # not 已撤回
    assert "撤销了已通过的申请" in after
    assert 'id="revoke"' not in after
    session.expire_all()
    [told] = factories.outbox_of(session, app_id, Kind.REVOKED)
    assert told.recipient_id == school.bob.id
    assert told.payload["comment"] == "会议延期"
    revoked = session.get(Application, app_id)
    assert revoked is not None
    assert revoked.status is AppStatus.REVOKED


def test_the_button_goes_when_the_window_closes(
    app: Flask, client_for, db: Database, session: Session, school: School
) -> None:
    app_id, clock = _approved(app, db, session, school)
    clock.advance(hours=73)
    alice = client_for(school.alice)
    assert 'id="revoke"' not in alice.get(f"/applications/{app_id}").get_data(as_text=True)
    late = post(
        alice, f"/applications/{app_id}/revoke", {"comment": "晚了"}, page=f"/applications/{app_id}"
    )
    assert late.status_code == 302
    assert "已超过撤销期限" in alice.get(f"/applications/{app_id}").get_data(as_text=True)
