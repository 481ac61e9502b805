"""The public self-registration pages over real HTTP, with the sandbox CAS and the sandbox
WeCom of a live hall: both ways of checking the password, WeCom's member verification,
refusals, limits, CSRF, forged and replayed states, tickets and codes."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import func, select

from hall.models import Outbox
from selfreg import matching
from selfreg.models import Registration, RegSource, RegStatus
from selfreg.ratelimit import PER_IP, PER_NUMBER
from tests.sso.conftest import Hall
from wework.sandbox import sandbox_store

EN = {"Accept-Language": "en"}


def csrf(browser: requests.Session, hall: Hall) -> str:
    page = browser.get(hall.url("/join"))
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def start(browser: requests.Session, hall: Hall, **form: str) -> requests.Response:
    data = {"csrf_token": csrf(browser, hall), **form}
    return browser.post(hall.url("/join"), data=data, allow_redirects=False)


def through_cas(browser: requests.Session, hall: Hall, userid: str, kind: str) -> str:
    """Pick the type, sign in at the sandbox CAS; returns CAS's redirect back (with ticket)."""
    sent = start(browser, hall, kind=kind)
    assert sent.status_code == 302, sent.text
    login = sent.headers["Location"]
    assert login.startswith(hall.cas_url + "login?")
    query = parse_qs(urlsplit(login).query)
    assert query["renew"] == ["true"]  # the password is really asked
    assert query["service"][0].startswith(hall.url("/join/cas?state="))
    answer = hall.cas_login(browser, login, userid)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def register(browser: requests.Session, hall: Hall, userid: str, kind: str) -> str:
    back = through_cas(browser, hall, userid, kind)
    landed = browser.get(back, allow_redirects=False)
    assert landed.status_code == 303, landed.text
    assert landed.headers["Location"] == "/join/status"
    status = browser.get(hall.url("/join/status"))
    assert status.status_code == 200
    return status.text


def table(session) -> list[tuple[str, RegStatus, RegSource]]:
    session.expire_all()
    query = select(Registration).order_by(Registration.id)
    return [(r.userid, r.status, r.source) for r in session.scalars(query)]


def count(session, model: type) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_the_page_is_a_phone_page_offering_both_types(make_hall, people) -> None:
    hall = make_hall()
    page = hall.browser().get(hall.url("/join"))
    assert page.status_code == 200
    assert 'name="viewport"' in page.text
    assert "weui" in page.text
    assert 'value="staff"' in page.text
    assert 'value="student"' in page.text
    assert "前往统一身份认证" in page.text
    assert 'name="password"' not in page.text  # CAS asks for it on its own page
    rest = make_hall(cas_rest=True)
    assert 'name="password"' in rest.browser().get(rest.url("/join")).text


def test_the_browser_round_trip_registers_a_student(make_hall, people, session) -> None:
    hall = make_hall()
    browser = hall.browser()
    status = register(browser, hall, "2023010001", "student")
    assert "身份已核对，正在加入学校企业微信" in status
    assert 'http-equiv="refresh"' in status  # the page follows the push by itself
    assert "林同学" in status
    assert table(session) == [("2023010001", RegStatus.PENDING, RegSource.QR)]
    assert count(session, Outbox) == 1
    # registering again shows the same state and queues nothing
    assert "身份已核对" in register(browser, hall, "2023010001", "student")
    assert count(session, Outbox) == 1
    assert "查看我的注册进度" in browser.get(hall.url("/join")).text


def test_a_mismatch_is_explained_and_recorded(make_hall, people, session) -> None:
    hall = make_hall()
    status = register(hall.browser(), hall, "2023010001", "staff")
    assert "未通过核对" in status
    assert matching.WRONG_KIND[people.student.kind].format(userid="2023010001") in status
    assert "重新注册" in status
    assert table(session) == [("2023010001", RegStatus.REJECTED, RegSource.QR)]
    assert count(session, Outbox) == 0
    english = hall.browser()
    back = through_cas(english, hall, "o13700000001", "staff")
    english.get(back)
    page = english.get(hall.url("/join/status"), headers=EN).text
    assert "Not confirmed" in page
    assert "o13700000001 is an off-campus account" in page


def test_the_rest_check_and_its_wrong_password(make_hall, people, session) -> None:
    hall = make_hall(cas_rest=True)
    browser = hall.browser()
    wrong = start(browser, hall, kind="student", username="2023010001", password="nope")
    assert wrong.status_code == 401
    assert "学号/工号或密码错误。" in wrong.text
    assert 'value="2023010001"' in wrong.text  # the number stays, the password does not
    assert table(session) == []
    missing = start(browser, hall, kind="student", username="2023010001")
    assert missing.status_code == 422
    assert "请填写学号/工号和密码。" in missing.text
    right = start(browser, hall, kind="student", username="2023010001", password="demo")
    assert right.status_code == 303
    assert right.headers["Location"] == "/join/status"
    assert "身份已核对" in browser.get(hall.url("/join/status")).text
    assert table(session) == [("2023010001", RegStatus.PENDING, RegSource.QR)]


def test_wrong_passwords_are_limited_per_number(make_hall, people, session) -> None:
    hall = make_hall(cas_rest=True)
    browser = hall.browser()
    for _ in range(PER_NUMBER):
        wrong = start(browser, hall, kind="staff", username="20010001", password="nope")
        assert wrong.status_code == 401
    blocked = start(browser, hall, kind="staff", username="20010001", password="demo")
    assert blocked.status_code == 429
    assert "尝试次数过多，请 15 分钟后再试。" in blocked.text
    assert table(session) == []
    other = start(browser, hall, kind="student", username="2023010001", password="demo")
    assert other.status_code == 303  # another number is not affected


def test_attempts_are_limited_per_client_ip(make_hall, people, session) -> None:
    hall = make_hall()
    browser = hall.browser()
    token = csrf(browser, hall)
    for _ in range(PER_IP):
        sent = browser.post(
            hall.url("/join"), data={"csrf_token": token, "kind": "student"}, allow_redirects=False
        )
        assert sent.status_code == 302
    blocked = browser.post(
        hall.url("/join"), data={"csrf_token": token, "kind": "student"}, allow_redirects=False
    )
    assert blocked.status_code == 429
    assert hall.browser().get(hall.url("/join/cas?state=x&ticket=ST-1")).status_code == 429


def test_bad_forms_change_nothing(make_hall, people, session) -> None:
    hall = make_hall()
    browser = hall.browser()
    no_kind = start(browser, hall, kind="teacher")
    assert no_kind.status_code == 422
    assert "请选择您的身份：教职工或学生。" in no_kind.text
    for data in ({"kind": "student"}, {"kind": "student", "csrf_token": "forged"}):
        refused = browser.post(hall.url("/join"), data=data, allow_redirects=False)
        assert refused.status_code == 400
        assert "请求已过期" in refused.text
    assert table(session) == []


def test_forged_replayed_and_foreign_returns_are_refused(make_hall, people, session) -> None:
    hall = make_hall()
    browser = hall.browser()
    back = through_cas(browser, hall, "2023010001", "student")
    state = parse_qs(urlsplit(back).query)["state"][0]

    forged = browser.get(hall.url("/join/cas?state=" + state[:-2] + "xx&ticket=ST-abc"))
    assert forged.status_code == 400
    assert "这个登录链接已失效" in forged.text
    # the forged attempt used up this browser's nonce: the genuine return is refused too
    assert browser.get(back).status_code == 400
    assert table(session) == []

    # another browser cannot use someone else's return URL
    thief = hall.browser()
    back = through_cas(browser, hall, "2023010001", "student")
    assert thief.get(back).status_code == 400
    # a genuine return is used once; its replay is refused
    assert browser.get(back, allow_redirects=False).status_code == 303
    assert browser.get(back).status_code == 400
    assert table(session) == [("2023010001", RegStatus.PENDING, RegSource.QR)]

    # a valid state of this browser with a spent ticket: CAS refuses it
    ticket = parse_qs(urlsplit(back).query)["ticket"][0]
    fresh = through_cas(browser, hall, "2023010001", "student")
    replayed = fresh.split("&ticket=")[0] + "&ticket=" + ticket
    refused = browser.get(replayed)
    assert refused.status_code == 403
    assert "统一身份认证未能确认您的身份（INVALID_TICKET）" in refused.text
    no_ticket = through_cas(browser, hall, "2023010001", "student").split("&ticket=")[0]
    assert "统一身份认证没有完成登录" in browser.get(no_ticket).text


def test_wecom_member_verification(make_hall, people, session) -> None:
    hall = make_hall()
    store = sandbox_store(hall.app)
    for who in (people.student, people.teacher):
        store.create_user(
            {"userid": who.userid, "name": who.name, "department": [1], "mobile": who.mobile}
        )
    browser = hall.browser()
    url = store.begin_verification("2023010001")
    assert url.startswith(hall.url("/join?code="))
    landed = browser.get(url, allow_redirects=False)
    assert landed.status_code == 303
    assert landed.headers["Location"] == "/join"  # the code leaves the address bar
    page = browser.get(hall.url("/join")).text
    assert "企业微信成员 2023010001 正在加入" in page
    replay = hall.browser().get(url)
    assert replay.status_code == 403
    assert "企业微信的验证链接无效或已过期" in replay.text
    assert hall.browser().get(hall.url("/join?code=forged")).status_code == 403

    # signing in to CAS as someone else is refused and recorded
    other = register(browser, hall, "20010001", "staff")
    assert "与正在加入企业微信的成员 2023010001 不是同一人" in other
    assert table(session) == [("20010001", RegStatus.REJECTED, RegSource.WECOM)]
    # as the member: matched, queued, and the member is forgotten by the session
    mine = register(browser, hall, "2023010001", "student")
    assert "身份已核对" in mine
    assert table(session)[-1] == ("2023010001", RegStatus.PENDING, RegSource.WECOM)
    assert "正在加入，请完成身份核对" not in browser.get(hall.url("/join")).text


def test_an_unreachable_wecom_is_said_plainly(make_hall, people) -> None:
    hall = make_hall()
    store = sandbox_store(hall.app)
    store.create_user(
        {"userid": "2023010001", "name": "林同学", "department": [1], "mobile": "13800000001"}
    )
    url = store.begin_verification("2023010001")
    store.inject("http_500", 4, path="auth/getuserinfo")
    failed = hall.browser().get(url)
    assert failed.status_code == 502
    assert "暂时无法连接企业微信" in failed.text


@pytest.mark.parametrize("path", ["/join/status", "/join/cas"])
def test_without_a_registration_or_state(make_hall, people, path) -> None:
    hall = make_hall()
    response = hall.browser().get(hall.url(path), allow_redirects=False)
    if path == "/join/status":
        assert response.status_code == 302
        assert response.headers["Location"] == "/join"
    else:
        assert response.status_code == 400
