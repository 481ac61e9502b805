"""The whole CAS round trip against the sandbox CAS over real HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs, quote_plus, urlsplit

from sso.sessions import SESSION_PREFIX, TICKET_PREFIX
from sso.slo import logout_request_xml
from tests.sso.conftest import Hall, People, ticket_of


def _session_keys(hall: Hall) -> set[bytes]:
    return set(hall.redis.scan_iter(match=SESSION_PREFIX + "*"))


def test_login_validate_single_logout_and_logout(hall: Hall, people: People) -> None:
    browser = hall.browser()

    # /login sends the browser to CAS with the byte-identical service URL.
    start = browser.get(hall.url("/login?next=%2Fapi%2Fv1%2Fme"), allow_redirects=False)
    assert start.status_code == 302
    login_url = start.headers["Location"]
    service = f"{hall.base_url}/login?next=%2Fapi%2Fv1%2Fme"
    assert login_url.startswith(hall.cas_url + "login?")
    assert parse_qs(urlsplit(login_url).query) == {"service": [service]}

    # The sandbox's own login page (zh_CN), then CAS redirects back with an ST.
    page = browser.get(login_url, allow_redirects=False)
    assert page.status_code == 200
    assert "统一身份认证登录" in page.text
    answer = hall.cas_login(browser, login_url, "alice")
    assert answer.status_code == 302
    back = answer.headers["Location"]
    assert back.startswith(service + "&ticket=ST-")
    ticket = ticket_of(back)
    assert len(ticket) == 64

    # The hall validates the ticket, signs alice in and lands on `next`.
    landed = browser.get(back, allow_redirects=False)
    assert landed.status_code == 302
    assert landed.headers["Location"] == "/api/v1/me"
    me = browser.get(hall.url("/api/v1/me"))
    assert me.status_code == 200, me.text
    assert me.json()["userid"] == "alice"

    # A second session of the same person (another browser, another ticket).
    other = hall.browser()
    other_ticket = hall.sign_in(other, "alice")
    assert other_ticket != ticket
    assert other.get(hall.url("/api/v1/me")).status_code == 200
    assert len(_session_keys(hall)) == 2

    # Logging out of CAS in the first browser: the sandbox POSTs a logout request for the
    # first ticket to /cas/slo, which ends exactly that session.
    cas_logout = browser.get(hall.cas_url + "logout", allow_redirects=False)
    assert cas_logout.status_code == 200
    assert "已退出" in cas_logout.text
    assert browser.get(hall.url("/api/v1/me")).status_code == 401
    assert other.get(hall.url("/api/v1/me")).status_code == 200
    assert len(_session_keys(hall)) == 1

    # /logout ends the hall session and sends the browser to CAS /logout?service=…
    out = other.get(hall.url("/logout"), allow_redirects=False)
    assert out.status_code == 302
    assert (
        out.headers["Location"] == f"{hall.cas_url}logout?service={quote_plus(hall.base_url + '/')}"
    )
    assert other.get(hall.url("/api/v1/me")).status_code == 401
    assert _session_keys(hall) == set()
    # CAS's own logout then back-channels for the second ticket; the session is already gone.
    back_home = other.get(out.headers["Location"], allow_redirects=False)
    assert back_home.status_code == 302
    assert back_home.headers["Location"] == hall.base_url + "/"
    assert hall.redis.get(TICKET_PREFIX + other_ticket) is None


def test_single_logout_post_ends_only_the_named_session(hall: Hall, people: People) -> None:
    first, second = hall.browser(), hall.browser()
    first_ticket = hall.sign_in(first, "alice")
    hall.sign_in(second, "alice")

    reply = second.post(
        hall.url("/cas/slo"), data={"logoutRequest": logout_request_xml(first_ticket, "alice")}
    )

    assert reply.status_code == 200
    assert first.get(hall.url("/api/v1/me")).status_code == 401
    assert second.get(hall.url("/api/v1/me")).status_code == 200


def test_deep_link_after_sso_needs_no_second_login(hall: Hall, people: People) -> None:
    browser = hall.browser()
    hall.sign_in(browser, "alice")
    # The hall session ends (e.g. it expired) while the CAS TGT lives on.
    browser.get(hall.url("/logout"), allow_redirects=False)

    go = browser.get(hall.url("/go/leave"), allow_redirects=False)
    assert go.status_code == 302
    assert go.headers["Location"].startswith(hall.cas_url + "login?service=")
    # CAS knows the browser: it answers with a ticket at once, no login page.
    sso = browser.get(go.headers["Location"], allow_redirects=False)
    assert sso.status_code == 302
    assert sso.headers["Location"].startswith(f"{hall.base_url}/login?next=%2Fprocesses%2F")
    landed = browser.get(sso.headers["Location"], allow_redirects=False)
    assert landed.status_code == 302
    assert landed.headers["Location"] == "/processes/leave"

    again = browser.get(hall.url("/go/application/42"), allow_redirects=False)
    assert again.status_code == 302
    assert again.headers["Location"] == "/applications/42"


def test_deep_link_to_an_application_goes_through_cas(hall: Hall, people: People) -> None:
    browser = hall.browser()
    go = browser.get(hall.url("/go/application/7"), allow_redirects=False)
    service = parse_qs(urlsplit(go.headers["Location"]).query)["service"][0]
    assert service == f"{hall.base_url}/login?next=%2Fapplications%2F7"
    answer = hall.cas_login(browser, go.headers["Location"], "bob")
    landed = browser.get(answer.headers["Location"], allow_redirects=False)
    assert landed.headers["Location"] == "/applications/7"


def test_bad_process_keys_are_not_found(hall: Hall) -> None:
    browser = hall.browser()
    reply = browser.get(hall.url("/go/a%20b"), allow_redirects=False)
    assert reply.status_code == 404
    assert "页面不存在" in reply.text


def test_login_rotates_the_session_id_and_sets_safe_cookie_flags(
    hall: Hall, people: People
) -> None:
    browser = hall.browser()
    # An anonymous session exists before login (the WeCom OAuth state lives in one).
    browser.get(hall.url("/login/wecom"), allow_redirects=False)
    before = browser.cookies.get("hall_session")
    assert before
    start = browser.get(hall.url("/login"), allow_redirects=False)
    answer = hall.cas_login(browser, start.headers["Location"], "alice")
    landed = browser.get(answer.headers["Location"], allow_redirects=False)
    cookie = landed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # http base URL
    after = browser.cookies.get("hall_session")
    assert after
    assert after != before
    assert len(_session_keys(hall)) == 1  # the pre-login session is gone


def test_signed_in_login_goes_straight_to_next(hall: Hall, people: People) -> None:
    browser = hall.browser()
    hall.sign_in(browser, "alice")
    reply = browser.get(hall.url("/login?next=/api/v1/me"), allow_redirects=False)
    assert reply.status_code == 302
    assert reply.headers["Location"] == "/api/v1/me"


def test_cas_version_2_validates_with_service_validate(make_hall, people: People) -> None:
    hall = make_hall(cas_version="2")
    browser = hall.browser()
    hall.sign_in(browser, "bob", "/api/v1/me")
    assert browser.get(hall.url("/api/v1/me")).json()["userid"] == "bob"
