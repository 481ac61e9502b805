"""What goes wrong at sign-in: failure codes, people the hall does not know, bad `next`."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hall.models import Person, PersonStatus
from sso.client import CasFailure
from tests import factories
from tests.sso.conftest import Hall, People, ticket_of
from web.auth import safe_next


def _ticket_for(hall: Hall, userid: str, service: str) -> str:
    """Log in at the sandbox CAS for `service` and return the ST, without redeeming it."""
    browser = hall.browser()
    login_url = hall.cas().login_url(service)
    answer = hall.cas_login(browser, login_url, userid)
    assert answer.status_code == 302, answer.text
    return ticket_of(answer.headers["Location"])


def test_a_reused_ticket_is_invalid_ticket(hall: Hall, people: People, caplog) -> None:
    service = hall.url("/login")
    ticket = _ticket_for(hall, "alice", service)
    cas = hall.cas()

    user = cas.validate(ticket, service)
    assert user.userid == "alice"
    assert user.attributes["name"] == ["王小丽"]
    assert user.attributes["role"] == ["dept_head"]
    assert user.attribute("isFromNewLogin") == "true"

    with caplog.at_level(logging.WARNING, logger="sso.client"), pytest.raises(CasFailure) as info:
        cas.validate(ticket, service)
    assert info.value.code == "INVALID_TICKET"
    assert "code=INVALID_TICKET" in caplog.text


def test_the_hall_shows_a_reused_ticket_as_a_failed_login(
    hall: Hall, people: People, caplog
) -> None:
    browser = hall.browser()
    ticket = hall.sign_in(browser, "alice")
    thief = hall.browser()
    with caplog.at_level(logging.WARNING, logger="sso.client"):
        reply = thief.get(hall.url(f"/login?ticket={ticket}"), allow_redirects=False)
    assert reply.status_code == 403
    assert "登录未成功" in reply.text
    assert "INVALID_TICKET" in reply.text
    assert "code=INVALID_TICKET" in caplog.text
    assert thief.get(hall.url("/api/v1/me")).status_code == 401


def test_a_ticket_for_another_service_is_invalid_service(hall: Hall, people: People) -> None:
    ticket = _ticket_for(hall, "alice", hall.url("/login?next=%2Fa"))
    with pytest.raises(CasFailure) as info:
        hall.cas().validate(ticket, hall.url("/login?next=%2Fb"))
    assert info.value.code == "INVALID_SERVICE"
    # The failed attempt used the ticket up.
    with pytest.raises(CasFailure) as again:
        hall.cas().validate(ticket, hall.url("/login?next=%2Fa"))
    assert again.value.code == "INVALID_TICKET"


def test_the_service_url_must_be_byte_identical(hall: Hall, people: People) -> None:
    # The same target encoded differently is another service.
    ticket = _ticket_for(hall, "alice", hall.url("/login?next=%2Fapi"))
    browser = hall.browser()
    reply = browser.get(hall.url(f"/login?next=/api&x=1&ticket={ticket}"), allow_redirects=False)
    assert reply.status_code == 302  # rebuilt from `next` alone: the same service URL
    ticket = _ticket_for(hall, "alice", hall.url("/login?next=%2Fapi&lang=en"))
    reply = browser.get(hall.url(f"/login?next=/api&lang=en&ticket={ticket}"))
    assert reply.status_code == 403
    assert "INVALID_SERVICE" in reply.text


def test_malformed_tickets_never_reach_cas(hall: Hall) -> None:
    for ticket in ("TGT-abc", "ST-" + "a" * 300, "ST-a b"):
        with pytest.raises(CasFailure) as info:
            hall.cas().validate(ticket, hall.url("/login"))
        assert info.value.code == "INVALID_TICKET_SPEC"


def test_sandbox_failure_codes_for_bad_requests(hall: Hall) -> None:
    browser = hall.browser()
    missing = browser.get(hall.cas_url + "p3/serviceValidate?ticket=ST-1")
    assert 'code="INVALID_REQUEST"' in missing.text
    spec = browser.get(
        hall.cas_url + "p3/serviceValidate", params={"ticket": "PT-1", "service": "x"}
    )
    assert 'code="INVALID_TICKET_SPEC"' in spec.text
    assert spec.headers["Content-Type"].startswith("application/xml")
    assert 'xmlns:cas="http://www.yale.edu/tp/cas"' in spec.text


def _people_named(session: Session, userid: str) -> int | None:
    return session.scalar(select(func.count()).select_from(Person).where(Person.userid == userid))


def test_a_cas_user_without_a_hall_account_sees_the_no_account_page(
    hall: Hall, session: Session
) -> None:
    # CAS knows "newbie" (the sandbox checked them at login); the hall does not by the time
    # the ticket comes back, as for a new member before the nightly sync.
    newbie = factories.person(session, "新同事", userid="newbie")
    session.commit()
    browser = hall.browser()
    start = browser.get(hall.url("/login"), allow_redirects=False)
    answer = hall.cas_login(browser, start.headers["Location"], "newbie")
    session.delete(newbie)
    session.commit()

    reply = browser.get(answer.headers["Location"], allow_redirects=False)

    assert reply.status_code == 403
    assert "您在网上办事大厅还没有账号" in reply.text
    assert "newbie" in reply.text
    assert f"{hall.cas_url}logout" in reply.text
    assert _people_named(session, "newbie") == 0
    assert browser.get(hall.url("/api/v1/me")).status_code == 401


def test_an_inactive_person_is_not_signed_in(hall: Hall, people: People, session: Session) -> None:
    browser = hall.browser()
    start = browser.get(hall.url("/login"), allow_redirects=False)
    answer = hall.cas_login(browser, start.headers["Location"], "bob")
    bob = session.get(Person, people.bob.id)
    assert bob is not None
    bob.status = PersonStatus.INACTIVE
    session.commit()

    reply = browser.get(answer.headers["Location"], allow_redirects=False)

    assert reply.status_code == 403
    assert "还没有账号" in reply.text


def test_cas_unreachable_is_a_502_page(make_hall, people: People) -> None:
    hall = make_hall(cas_url="http://127.0.0.1:9/cas/")
    browser = hall.browser()
    reply = browser.get(hall.url("/login?ticket=ST-" + "a" * 61), allow_redirects=False)
    assert reply.status_code == 502
    assert "暂时无法连接" in reply.text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/api/v1/me", "/api/v1/me"),
        ("/apply/leave?x=1#top", "/apply/leave?x=1#top"),
        ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),
        (None, "/"),
        ("", "/"),
        ("//evil.example", "/"),
        ("///evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/\\evil.example", "/"),
        ("\\\\evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("/\n/evil.example", "/"),
        (" /api", "/"),
        ("api/v1/me", "/"),
        ("/" + "a" * 3000, "/"),
    ],
)
def test_safe_next(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example", "/\\evil.example"])
def test_open_redirects_are_impossible(hall: Hall, people: People, target: str) -> None:
    browser = hall.browser()
    start = browser.get(hall.url("/login"), params={"next": target}, allow_redirects=False)
    service = parse_qs(urlsplit(start.headers["Location"]).query)["service"][0]
    assert service == hall.url("/login")  # the unsafe target never reaches CAS

    # Even a service URL crafted with the unsafe target lands at home, not outside.
    crafted = hall.cas().login_url(hall.url("/login?") + urlencode({"next": target}))
    answer = hall.cas_login(browser, crafted, "alice")
    landed = browser.get(answer.headers["Location"], allow_redirects=False)
    assert landed.status_code == 302
    assert landed.headers["Location"] == "/"

    signed_in = browser.get(hall.url("/login"), params={"next": target}, allow_redirects=False)
    assert signed_in.headers["Location"] == "/"
