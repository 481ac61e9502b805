"""Every page asks for a signed-in person and shows an application only to those who may
see it (hall.access): anyone else gets the same 404 as for one that does not exist."""

from __future__ import annotations

import pytest

from tests.role_pages import page_body
from tests.web_views.helpers import pending_task, post, submit, text

PAGES = [
    "/",
    "/processes/simple",
    "/applications",
    "/applications?status=pending",
    "/tasks",
    "/tasks/done",
    "/delegations",
    "/people/search?q=王",
]


@pytest.mark.parametrize("path", PAGES)
def test_signed_out_pages_send_to_login_with_next(client_for, school, path):
    response = client_for(None).get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert "%2F" in response.headers["Location"] or path == "/"


def test_signed_out_post_goes_to_login_and_changes_nothing(client_for, school, db, session):
    app_id = submit(db, school.alice)
    response = client_for(None).post(f"/applications/{app_id}/withdraw")
    # no session, no CSRF token: refused before anything runs
    assert response.status_code in {302, 400}
    assert pending_task(session, app_id).application.status.value == "pending"


@pytest.mark.parametrize("who", ["alice", "bob", "carol", "dave"])
def test_every_signed_in_page_renders(client_for, school, who):
    client = client_for(getattr(school, who))
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, (path, text(response)[:500])


def test_application_pages_are_404_to_outsiders(client_for, school, db):
    app_id = submit(db, school.alice)
    outsider = client_for(school.dave)
    for path in (
        f"/applications/{app_id}",
        f"/applications/{app_id}/record",
        f"/applications/{app_id}/edit",
    ):
        response = outsider.get(path)
        assert response.status_code == 404, path
        assert "办件" not in text(response)
        assert "参加学术会议" not in text(response)
    missing = outsider.get("/applications/999999")
    assert missing.status_code == 404
    # the same page, but for the path echoed in the language switch
    hidden = page_body(outsider.get(f"/applications/{app_id}"))
    assert page_body(missing).replace("999999", str(app_id)) == hidden


def test_applicant_and_reviewer_see_the_application(client_for, school, db):
    app_id = submit(db, school.alice)
    mine = client_for(school.alice).get(f"/applications/{app_id}")
    assert mine.status_code == 200
    assert "参加学术会议" in text(mine)
    assert "审批操作" not in text(mine)  # no decision panel for the applicant
    theirs = client_for(school.bob).get(f"/applications/{app_id}")
    assert theirs.status_code == 200
    assert "审批操作" in text(theirs)


def test_commands_on_someone_elses_application_are_404(client_for, school, db, session):
    app_id = submit(db, school.alice)
    outsider = client_for(school.dave)
    for action in ("withdraw", "urge", "comment"):
        response = post(outsider, f"/applications/{app_id}/{action}", {"body": "看看"})
        assert response.status_code == 404, action
    task = pending_task(session, app_id)
    response = post(outsider, f"/tasks/{task.id}/decide", {"action": "approve"})
    assert response.status_code == 404
    session.expire_all()
    assert pending_task(session, app_id).id == task.id


def test_only_the_applicant_may_edit_or_resubmit(client_for, school, db):
    app_id = submit(db, school.alice)
    reviewer = client_for(school.bob)
    assert reviewer.get(f"/applications/{app_id}/edit").status_code == 404
    response = post(reviewer, f"/applications/{app_id}/resubmit", {"reason": "改了"})
    assert response.status_code == 404


def test_unknown_process_is_404(client_for, school):
    client = client_for(school.alice)
    assert client.get("/processes/nope").status_code == 404
    assert post(client, "/processes/nope/apply", {"action": "submit"}).status_code == 404


def test_a_process_outside_the_audience_is_404(client_for, school, session):
    from tests import factories  # noqa: PLC0415 - only this test needs another process

    factories.process(
        session,
        factories.simple_spec("CS", key="students_only", name="学生事项", audience=["student"]),
    )
    session.commit()
    assert client_for(school.alice).get("/processes/students_only").status_code == 404
