"""The information center's system pages through the Flask test client on PostgreSQL:
the 404 page for everyone else (department administrators included), granting and
revoking department administrators (logged), CSRF refusals that change nothing, English."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from hall.models import RoleCode, RoleGrant
from tests.role_pages import (
    EN,
    assert_missing,
    campus,
    client,
    counts,
    gettext_ids,
    missing_page,
    text,
    token,
    untranslated,
    used_messages,
)
from web.i18n import CATALOGUE


@pytest.fixture
def staff(session):
    return campus(session)


def _admin_grants(session):
    session.expire_all()
    rows = session.scalars(select(RoleGrant).where(RoleGrant.role_code == RoleCode.DEPT_ADMIN))
    return sorted((g.person.userid, g.department.code) for g in rows)


@pytest.mark.parametrize("who", ["cs_admin", "jwc_clerk", "student", "dean"])
def test_every_route_is_the_404_page_without_the_role(app, staff, session, who):
    c = client(app, getattr(staff, who))
    missing = missing_page(c)
    csrf = token(c)
    before = counts(session)
    grant = session.scalar(select(RoleGrant).where(RoleGrant.person_id == staff.jwc_admin.id))
    for path in (
        "/admin/",
        "/admin/sync",
        "/admin/sync/1",
        "/admin/deliveries",
        "/admin/admins",
    ):
        assert_missing(c.get(path), missing, path)
    for path, data in (
        ("/admin/admins", {"userid": staff.teacher.userid, "department": "CS"}),
        (f"/admin/admins/{grant.id}/revoke", {}),
        ("/admin/deliveries/1/retry", {}),
    ):
        assert_missing(c.post(path, data={"csrf_token": csrf, **data}), missing, path)
    assert counts(session) == before
    assert "/admin/" not in text(c.get("/"))


def test_the_information_center_grants_and_revokes_with_a_log(app, staff, session, caplog):
    c = client(app, staff.it_admin)
    csrf = token(c)
    caplog.set_level(logging.INFO, logger="hall.designer")
    granted = c.post(
        "/admin/admins",
        data={"csrf_token": csrf, "userid": staff.teacher.userid, "department": "JWC"},
    )
    assert granted.status_code == 302
    assert (staff.teacher.userid, "JWC") in _admin_grants(session)
    assert f"person {staff.it_admin.id} granted dept_admin of JWC to {staff.teacher.userid}" in (
        caplog.text
    )
    page = text(c.get("/admin/admins"))
    assert "已授权" in page
    assert staff.teacher.name in page
    # the new administrator may now design JWC's processes
    assert client(app, staff.teacher).get("/designer/jwc_exam").status_code == 200

    grant = session.scalar(
        select(RoleGrant).where(
            RoleGrant.person_id == staff.teacher.id, RoleGrant.role_code == RoleCode.DEPT_ADMIN
        )
    )
    grant_id = grant.id
    revoked = c.post(f"/admin/admins/{grant_id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 302
    assert (staff.teacher.userid, "JWC") not in _admin_grants(session)
    assert f"person {staff.it_admin.id} revoked dept_admin of JWC from {staff.teacher.userid}" in (
        caplog.text
    )
    assert client(app, staff.teacher).get("/designer/jwc_exam").status_code == 404
    again = c.post(f"/admin/admins/{grant_id}/revoke", data={"csrf_token": csrf})
    assert again.status_code == 404


def test_a_bad_grant_says_why_and_changes_nothing(app, staff, session):
    c = client(app, staff.it_admin)
    before = counts(session)
    refused = c.post(
        "/admin/admins",
        data={"csrf_token": token(c), "userid": "nobody", "department": "NOPE"},
        headers=EN,
    )
    assert refused.status_code == 422
    page = text(refused)
    assert "No such active person" in page
    assert "No such department" in page
    assert "Please correct the form first" in page
    assert counts(session) == before


@pytest.mark.parametrize("csrf", [None, "forged-token"])
def test_posts_without_a_valid_token_change_nothing(app, staff, session, csrf):
    c = client(app, staff.it_admin)
    before = counts(session)
    grants = _admin_grants(session)
    grant = session.scalar(select(RoleGrant).where(RoleGrant.person_id == staff.cs_admin.id))
    body = {} if csrf is None else {"csrf_token": csrf}
    for path, data in (
        ("/admin/admins", {"userid": staff.teacher.userid, "department": "CS"}),
        (f"/admin/admins/{grant.id}/revoke", {}),
        ("/admin/deliveries/1/retry", {}),
    ):
        response = c.post(path, data={**body, **data})
        assert response.status_code == 400, path
        assert "请求已过期" in text(response)
    assert counts(session) == before
    assert _admin_grants(session) == grants


def test_every_message_has_an_english_text():
    used = used_messages("admin") | gettext_ids("admin")
    missing = sorted(m for m in used if m not in CATALOGUE)
    assert missing == [], missing


def test_the_admin_pages_in_english(app, staff):
    c = client(app, staff.it_admin)
    user_data = [
        staff.it_admin.name,
        staff.cs_admin.name,
        staff.jwc_admin.name,
        staff.cs.name,
        staff.jwc.name,
    ]
    for path, english in (
        ("/admin/sync", "No sync runs yet."),
        ("/admin/deliveries", "No failed deliveries."),
        ("/admin/admins", "Grant department administration"),
    ):
        response = c.get(path, headers=EN)
        assert response.status_code == 200, path
        page = text(response)
        assert english in page
        assert "Department administrators" in page
        assert untranslated(page, user_data) == [], path
