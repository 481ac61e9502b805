"""The information center's self-registration page: the 404 page for everyone else, CSRF,
counts, filters, search, paging, the reasons and errors, retry, the join QR codes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from hall.db import Database
from hall.models import PersonKind
from selfreg import matching, services
from selfreg.matching import Claim
from selfreg.models import Registration, RegSource, RegStatus
from tests import factories
from tests.role_pages import (
    EN,
    assert_missing,
    campus,
    client,
    make_app,
    missing_page,
    text,
    token,
    untranslated,
)
from tests.sso.conftest import Hall
from wework.sandbox import sandbox_store


@pytest.fixture
def app(db: Database, redis_conn: redis.Redis, tmp_path: Path) -> Flask:
    return make_app(db, redis_conn, tmp_path)


@pytest.fixture
def staff(session):
    return campus(session)


def _claim(userid: str, kind: PersonKind = PersonKind.STAFF) -> Claim:
    return Claim(userid=userid, kind=kind, source=RegSource.QR)


def _failed(db: Database, session, userid: str, errcode: int, errmsg: str) -> int:
    registration_id = services.register(db, _claim(userid)).registration.id
    row = session.get(Registration, registration_id)
    row.fire("fail")
    row.attempts, row.errcode, row.errmsg = 1, errcode, errmsg
    session.commit()
    return registration_id


def _status(session, registration_id: int) -> RegStatus:
    session.expire_all()
    row = session.get(Registration, registration_id)
    assert row is not None
    status: RegStatus = row.status
    return status


@pytest.mark.parametrize("who", ["cs_admin", "jwc_clerk", "student", "dean"])
def test_every_route_is_the_404_page_without_the_role(app, staff, session, db, who):
    failed = _failed(db, session, staff.teacher.userid, 60104, "mobile exists")
    c = client(app, getattr(staff, who))
    missing = missing_page(c)
    csrf = token(c)
    for path in ("/admin/selfreg", "/admin/selfreg?status=failed", "/admin/selfreg/poster"):
        assert_missing(c.get(path), missing, path)
    for path in (f"/admin/selfreg/{failed}/retry", "/admin/selfreg/wecom-qrcode"):
        assert_missing(c.post(path, data={"csrf_token": csrf}), missing, path)
    assert _status(session, failed) == RegStatus.FAILED
    assert "/admin/selfreg" not in text(c.get("/"))


@pytest.mark.parametrize("csrf", [None, "forged-token"])
def test_posts_without_a_valid_token_change_nothing(app, staff, session, db, csrf):
    failed = _failed(db, session, staff.teacher.userid, 60104, "mobile exists")
    c = client(app, staff.it_admin)
    body = {} if csrf is None else {"csrf_token": csrf}
    for path in (f"/admin/selfreg/{failed}/retry", "/admin/selfreg/wecom-qrcode"):
        response = c.post(path, data=body)
        assert response.status_code == 400, path
        assert "请求已过期" in text(response)
    assert _status(session, failed) == RegStatus.FAILED


def test_the_table_with_counts_reasons_errors_and_retry(app, staff, session, db):
    joined = services.register(db, _claim(staff.dean.userid)).registration.id
    row = session.get(Registration, joined)
    row.fire("join")
    session.commit()
    services.register(db, _claim(staff.student.userid))  # chose staff: refused
    failed = _failed(db, session, staff.teacher.userid, 60104, "mobile exists")
    services.register(db, _claim(staff.jwc_clerk.userid))  # pending

    c = client(app, staff.it_admin)
    page = text(c.get("/admin/selfreg"))
    assert "自助注册中间表" in page
    counts = dict(re.findall(r'data-status="(\w+)"[^>]*>[^<]*?(\d+)</a>', page))
    assert counts == {"pending": "1", "joined": "1", "rejected": "1", "failed": "1"}
    assert "全部 4" in page
    assert matching.WRONG_KIND[PersonKind.STUDENT].format(userid=staff.student.userid) in page
    assert "60104 mobile exists" in page
    # one retry button: the failed row's
    assert page.count("/retry") == 1
    assert f"/admin/selfreg/{failed}/retry" in page

    only_failed = text(c.get("/admin/selfreg?status=failed"))
    assert staff.teacher.userid in only_failed
    assert staff.dean.userid not in only_failed
    by_name = text(c.get("/admin/selfreg", query_string={"q": staff.jwc_clerk.name}))
    assert staff.jwc_clerk.userid in by_name
    assert staff.teacher.userid not in by_name
    assert "没有符合条件的注册记录。" in text(c.get("/admin/selfreg?q=nobody-at-all"))
    assert c.get("/admin/selfreg?status=bogus&page=x").status_code == 200

    back_to = "/admin/selfreg?status=failed"
    retried = c.post(
        f"/admin/selfreg/{failed}/retry", data={"csrf_token": token(c), "next": back_to}
    )
    assert retried.status_code == 302
    assert retried.headers["Location"] == back_to
    assert _status(session, failed) == RegStatus.PENDING
    assert "已重新排队推送" in text(c.get(back_to))
    again = c.post(f"/admin/selfreg/{failed}/retry", data={"csrf_token": token(c)})
    assert again.status_code == 302
    assert "只能重试推送失败的注册" in text(c.get("/admin/selfreg"))
    gone = c.post("/admin/selfreg/999999/retry", data={"csrf_token": token(c)})
    assert gone.status_code == 404


def test_pages_of_fifty(app, staff, session, db):
    dept = factories.department(session, "护理学院", code="HLXY")
    for i in range(55):
        factories.person(session, f"学生{i:02d}", kind="student", dept=dept, userid=f"24{i:04d}")
    session.commit()
    for i in range(55):
        services.register(db, _claim(f"24{i:04d}", PersonKind.STUDENT))
    c = client(app, staff.it_admin)
    first = text(c.get("/admin/selfreg"))
    assert first.count('<tr data-userid="') == 50
    assert "第 1 / 2 页" in first
    assert "page=2" in first
    second = text(c.get("/admin/selfreg?page=2"))
    assert second.count('<tr data-userid="') == 5
    assert "上一页" in second


def test_the_join_qr_code_and_its_poster(app, staff):
    c = client(app, staff.it_admin)
    page = text(c.get("/admin/selfreg"))
    base = app.extensions["hall.settings"].base_url
    assert f"<code>{base}/join</code>" in page
    assert re.search(r'<figure><svg [^>]*class="segno"', page)
    assert "打印二维码" in page
    poster = c.get("/admin/selfreg/poster")
    assert poster.status_code == 200
    assert "扫码加入学校企业微信" in text(poster)
    assert "<svg" in text(poster)
    assert "window.print()" in text(poster)
    nav = text(c.get("/admin/sync"))
    assert 'href="/admin/selfreg"' in nav
    assert "尚未接入" not in nav


def test_the_page_in_english(app, staff, session, db):
    services.register(db, _claim(staff.student.userid))
    _failed(db, session, staff.teacher.userid, 60104, "mobile exists")
    c = client(app, staff.it_admin)
    page = text(c.get("/admin/selfreg", headers=EN))
    assert "Self-registration table" in page
    assert "is a student: go back" in page
    user_data = [
        staff.it_admin.name,
        staff.student.name,
        staff.teacher.name,
        staff.cs.name,
        staff.se.name,
    ]
    assert untranslated(page, user_data) == []
    poster = text(c.get("/admin/selfreg/poster", headers=EN))
    assert untranslated(poster, user_data) == []


def _sign_in_admin(hall: Hall, userid: str):
    browser = hall.browser()
    hall.sign_in(browser, userid)
    page = browser.get(hall.url("/admin/selfreg"))
    assert page.status_code == 200
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return browser, found.group(1)


def test_fetching_wecom_join_qr_code(make_hall, session):
    staff = campus(session)
    hall = make_hall()
    store = sandbox_store(hall.app)
    browser, csrf = _sign_in_admin(hall, staff.it_admin.userid)

    store.inject("http_500", 2, path="corp/get_join_qrcode")
    failed = browser.post(hall.url("/admin/selfreg/wecom-qrcode"), data={"csrf_token": csrf})
    assert "获取企业微信加入二维码失败" in failed.text
    assert "/_sandbox/wecom/join?vcode=" not in failed.text

    fetched = browser.post(hall.url("/admin/selfreg/wecom-qrcode"), data={"csrf_token": csrf})
    assert "已获取企业微信加入二维码" in fetched.text
    link = re.search(r'href="([^"]+/_sandbox/wecom/join\?vcode=[^"]+)"', fetched.text)
    assert link is not None
    assert fetched.text.count('class="segno"') == 2
    assert "扫码加入企业" in browser.get(link.group(1).replace("&amp;", "&")).text
    assert session.scalar(select(Registration.id)) is None
