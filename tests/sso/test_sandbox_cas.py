"""The sandbox CAS as a CAS server: tickets, cookies, CSRF, rate limits, registry."""

from __future__ import annotations

import re
from urllib.parse import quote

from sqlalchemy.orm import Session

from sso.client import parse_service_response
from sso.sandbox import MAX_FAILURES_PER_USER, PREFIX, ST_LIFETIME
from tests import factories
from tests.sso.conftest import Hall, People, ticket_of


def _login_url(hall: Hall, service: str, extra: str = "") -> str:
    return f"{hall.cas_url}login?service={quote(service, safe='')}{extra}"


def test_service_tickets_are_64_chars_single_use_and_short_lived(
    hall: Hall, people: People
) -> None:
    service = hall.url("/login")
    browser = hall.browser()
    answer = hall.cas_login(browser, _login_url(hall, service), "alice")
    ticket = ticket_of(answer.headers["Location"])

    assert re.fullmatch(r"ST-[A-Za-z0-9]{61}", ticket)
    ttl = hall.redis.ttl(f"{PREFIX}st:{ticket}")
    assert 0 < ttl <= ST_LIFETIME <= 300

    url = f"{hall.cas_url}p3/serviceValidate"
    first = browser.get(url, params={"ticket": ticket, "service": service})
    assert parse_service_response(first.content).userid == "alice"
    second = browser.get(url, params={"ticket": ticket, "service": service})
    assert '<cas:authenticationFailure code="INVALID_TICKET">' in second.text


def test_tickets_differ_every_time(hall: Hall, people: People) -> None:
    browser = hall.browser()
    service = hall.url("/login")
    hall.cas_login(browser, _login_url(hall, service), "alice")
    tickets = {
        ticket_of(browser.get(_login_url(hall, service), allow_redirects=False).headers["Location"])
        for _ in range(5)
    }
    assert len(tickets) == 5


def test_the_cas_3_reply_carries_attributes_and_cas_2_does_not(
    hall: Hall, session: Session
) -> None:
    cs = factories.department(session, "计算机学院", code="CS")
    factories.person(
        session, "周主任", dept=cs, userid="zhou", roles=("dept_head", "process_admin")
    )
    session.commit()
    browser = hall.browser()
    service = hall.url("/login")
    answer = hall.cas_login(browser, _login_url(hall, service), "zhou")
    reply = browser.get(
        f"{hall.cas_url}p3/serviceValidate",
        params={"ticket": ticket_of(answer.headers["Location"]), "service": service},
    )
    user = parse_service_response(reply.content)
    assert user.attributes["role"] == ["dept_head", "process_admin"]  # repeated: a list
    assert user.attributes["department"] == ["CS"]
    assert user.attributes["kind"] == ["staff"]
    assert "authenticationDate" in user.attributes

    again = browser.get(_login_url(hall, service), allow_redirects=False)
    cas2 = browser.get(
        f"{hall.cas_url}serviceValidate",
        params={"ticket": ticket_of(again.headers["Location"]), "service": service},
    )
    user2 = parse_service_response(cas2.content)
    assert user2.userid == "zhou"
    assert user2.attributes == {}


def test_the_tgt_cookie_is_http_only_and_scoped(hall: Hall, people: People) -> None:
    browser = hall.browser()
    answer = hall.cas_login(browser, _login_url(hall, hall.url("/login")), "alice")
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("CASTGC=TGT-")
    assert "HttpOnly" in cookie
    assert "Path=/_sandbox/cas/" in cookie
    assert "SameSite=Lax" in cookie


def test_login_without_a_service_says_who_is_logged_in(hall: Hall, people: People) -> None:
    browser = hall.browser()
    answer = hall.cas_login(browser, hall.cas_url + "login", "alice")
    assert answer.status_code == 200
    assert "登录成功" in answer.text
    assert "alice" in browser.get(hall.cas_url + "login").text


def test_renew_asks_for_the_password_again_and_gateway_returns_without_ticket(
    hall: Hall, people: People
) -> None:
    browser = hall.browser()
    service = hall.url("/login")
    gateway = browser.get(_login_url(hall, service, "&gateway=true"), allow_redirects=False)
    assert gateway.status_code == 302
    assert gateway.headers["Location"] == service

    hall.cas_login(browser, _login_url(hall, service), "alice")
    renew = browser.get(_login_url(hall, service, "&renew=true"), allow_redirects=False)
    assert renew.status_code == 200
    assert 'name="password"' in renew.text
    assert 'name="renew" value="true"' in renew.text


def test_wrong_password_and_unknown_userid_are_401(hall: Hall, people: People) -> None:
    browser = hall.browser()
    login_url = _login_url(hall, hall.url("/login"))
    wrong = hall.cas_login(browser, login_url, "alice", password="not-demo")
    assert wrong.status_code == 401
    assert "用户名或密码错误" in wrong.text
    unknown = hall.cas_login(browser, login_url, "nobody")
    assert unknown.status_code == 401
    assert "CASTGC" not in browser.cookies


def test_inactive_people_cannot_log_in(hall: Hall, session: Session) -> None:
    factories.person(session, "离职老师", userid="gone", status="inactive")
    session.commit()
    answer = hall.cas_login(hall.browser(), hall.cas_url + "login", "gone")
    assert answer.status_code == 401


def test_the_form_needs_its_login_ticket_and_csrf_cookie(hall: Hall, people: People) -> None:
    browser = hall.browser()
    page = browser.get(hall.cas_url + "login")
    form = hall.login_form(page)
    form.update(username="alice", password="demo")

    forged = hall.browser()  # another browser: no CSRF cookie
    assert forged.post(hall.cas_url + "login", data=form).status_code == 403

    no_lt = browser.post(hall.cas_url + "login", data={**form, "lt": "LT-forged"})
    assert no_lt.status_code == 403
    assert "页面已过期" in no_lt.text

    fresh = hall.login_form(browser.get(hall.cas_url + "login"))
    ok = browser.post(hall.cas_url + "login", data={**form, "lt": fresh["lt"]})
    assert ok.status_code == 200
    # The login ticket is single use.
    replay = browser.post(hall.cas_url + "login", data={**form, "lt": fresh["lt"]})
    assert replay.status_code == 403


def test_wrong_passwords_are_rate_limited_per_userid(hall: Hall, people: People) -> None:
    browser = hall.browser()
    login_url = _login_url(hall, hall.url("/login"))
    for _ in range(MAX_FAILURES_PER_USER):
        assert hall.cas_login(browser, login_url, "alice", "guess").status_code == 401
    blocked = hall.cas_login(browser, login_url, "alice", "demo")
    assert blocked.status_code == 429
    assert "次数过多" in blocked.text
    # Other people are not locked out by alice's attacker (below the per-IP limit).
    assert hall.cas_login(browser, login_url, "bob").status_code == 302


def test_unregistered_services_are_refused(hall: Hall, people: People) -> None:
    browser = hall.browser()
    for service in ("https://evil.example/login", "javascript:alert(1)", "/login"):
        reply = browser.get(_login_url(hall, service), allow_redirects=False)
        assert reply.status_code == 403
        assert "未授权的服务" in reply.text
    logout = browser.get(hall.cas_url + "logout?service=https://evil.example/")
    assert logout.status_code == 200
    assert "已退出" in logout.text
