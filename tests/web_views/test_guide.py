"""办事指南 for everyone: services open to all departments, their guides and how to sign in
to apply; nothing scoped, nothing inactive, and the hall itself still needs signing in."""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session

from hall.models import ProcessDefinition
from tests import factories
from tests.web_views.conftest import School


def _text(app: Flask, path: str) -> tuple[int, str]:
    response = app.test_client().get(path)
    return response.status_code, response.get_data(as_text=True)


def _more(session: Session) -> None:
    factories.process(
        session,
        factories.simple_spec(
            "CS",
            key="archive",
            name="档案查询预约",
            category="校友服务",
            audience=["offcampus"],
            form=[{"key": "mobile", "label": "手机号", "type": "mobile", "required": True}],
        ),
    )
    factories.process(
        session,
        factories.simple_spec("CS", key="scoped", name="数学学院内部事项", visible_to=["MATH"]),
    )
    retired = factories.process(session, factories.simple_spec("CS", key="old", name="已停用事项"))
    definition = session.get(ProcessDefinition, retired.process_id)
    assert definition is not None
    definition.active = False
    session.commit()


def test_anyone_reads_the_guide_of_every_open_service(
    app: Flask, session: Session, school: School
) -> None:
    _more(session)
    status, page = _text(app, "/guide")
    assert status == 200
    for name in ("全字段申请", "简单申请", "档案查询预约"):
        assert name in page
    assert "数学学院内部事项" not in page
    assert "已停用事项" not in page
    assert 'id="sign-in-choices"' in page
    assert 'href="/guide/archive"' in page
    _status, offcampus = _text(app, "/guide?audience=offcampus")
    assert "档案查询预约" in offcampus
    assert "简单申请" not in offcampus
    _status, searched = _text(app, "/guide?q=档案")
    assert "档案查询预约" in searched
    assert "简单申请" not in searched


def test_a_guide_says_how_to_sign_in_to_apply(app: Flask, session: Session, school: School) -> None:
    _more(session)
    status, inside = _text(app, "/guide/simple")
    assert status == 200
    assert "/login?next=%2Fprocesses%2Fsimple" in inside
    assert "/login/sms" not in inside.split('id="apply-choices"')[1].split("</p>")[0]
    _status, outside = _text(app, "/guide/archive")
    assert "/login/sms?next=%2Fprocesses%2Farchive" in outside
    assert "办事指南" in outside


def test_scoped_unknown_and_retired_services_have_no_guide(
    app: Flask, session: Session, school: School
) -> None:
    _more(session)
    for key in ("scoped", "old", "nope", "x" * 300):
        assert _text(app, f"/guide/{key}")[0] == 404


def test_the_hall_itself_still_needs_signing_in(app: Flask, school: School) -> None:
    response = app.test_client().get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_signed_in_people_read_it_too(app: Flask, client_for, school: School) -> None:
    page = client_for(school.alice).get("/guide").get_data(as_text=True)
    assert "简单申请" in page
    assert 'id="sign-in-choices"' not in page
