"""抄送 from the application page: the applicant or a reviewer copies someone, who is told
and may then see the application; nobody else gets the form, and a forged post changes
nothing."""

from __future__ import annotations

from sqlalchemy import select

from hall.models import Follower, Outbox
from hall.outbox import Kind
from tests.web_views.helpers import pending_task, post, submit, text


def test_the_applicant_copies_a_colleague(client_for, school, db, session):
    app_id = submit(db, school.alice)
    alice = client_for(school.alice)
    page = text(alice.get(f"/applications/{app_id}"))
    assert f"/applications/{app_id}/cc" in page
    assert "抄送给" in page
    # dave (another department) cannot see it yet
    assert client_for(school.dave).get(f"/applications/{app_id}").status_code == 404
    response = post(
        alice,
        f"/applications/{app_id}/cc",
        {"userid": school.dave.userid, "comment": "请知悉"},
        page=f"/applications/{app_id}",
    )
    assert response.status_code == 302
    assert "已抄送" in text(alice.get(response.headers["Location"]))
    dave = client_for(school.dave)
    assert dave.get(f"/applications/{app_id}").status_code == 200
    follows = session.scalars(select(Follower).where(Follower.application_id == app_id)).all()
    assert [f.person_id for f in follows] == [school.dave.id]
    [notice] = session.scalars(
        select(Outbox).where(Outbox.application_id == app_id, Outbox.kind == Kind.CC)
    ).all()
    assert (notice.recipient_id, notice.payload["comment"]) == (school.dave.id, "请知悉")
    # the copied person may read, not copy on
    assert f"/applications/{app_id}/cc" not in text(dave.get(f"/applications/{app_id}"))


def test_a_reviewer_may_copy_too(client_for, school, db, session):
    app_id = submit(db, school.alice)
    assert pending_task(session, app_id).assignee_id == school.bob.id
    bob = client_for(school.bob)
    assert f"/applications/{app_id}/cc" in text(bob.get(f"/applications/{app_id}"))
    response = post(
        bob,
        f"/applications/{app_id}/cc",
        {"userid": school.carol.userid},
        page=f"/applications/{app_id}",
    )
    assert response.status_code == 302
    assert "已抄送" in text(bob.get(response.headers["Location"]))


def test_bad_copies_change_nothing(client_for, school, db, session):
    app_id = submit(db, school.alice)
    alice = client_for(school.alice)
    missing = post(
        alice, f"/applications/{app_id}/cc", {"userid": ""}, page=f"/applications/{app_id}"
    )
    assert "请选择人员" in text(alice.get(missing.headers["Location"]))
    unknown = post(
        alice, f"/applications/{app_id}/cc", {"userid": "nobody"}, page=f"/applications/{app_id}"
    )
    assert unknown.status_code == 302
    assert "人员不存在" in text(alice.get(unknown.headers["Location"]))
    # a stranger's forged post: the application is not theirs to see
    forged = post(
        client_for(school.dave),
        f"/applications/{app_id}/cc",
        {"userid": school.dave.userid},
        page="/",
    )
    assert forged.status_code == 404
    assert session.scalars(select(Follower).where(Follower.application_id == app_id)).all() == []
