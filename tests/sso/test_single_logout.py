"""POST /cas/slo accepts only well-formed logout requests naming a known ticket."""

from __future__ import annotations

import pytest

from sso.slo import InvalidLogoutRequest, logout_request_xml, parse_logout_request
from tests.sso.conftest import Hall, People
from web.app import create_app

TICKET = "ST-" + "A" * 61
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"

MALFORMED = {
    "not XML": "this is not xml",
    "truncated": logout_request_xml(TICKET, "alice")[:-10],
    "wrong root": f'<samlp:LogoutResponse xmlns:samlp="{SAMLP}"><samlp:SessionIndex>{TICKET}'
    "</samlp:SessionIndex></samlp:LogoutResponse>",
    "no namespace": f"<LogoutRequest><SessionIndex>{TICKET}</SessionIndex></LogoutRequest>",
    "no session index": f'<samlp:LogoutRequest xmlns:samlp="{SAMLP}"/>',
    "two session indexes": f'<samlp:LogoutRequest xmlns:samlp="{SAMLP}">'
    f"<samlp:SessionIndex>{TICKET}</samlp:SessionIndex>"
    f"<samlp:SessionIndex>{TICKET}</samlp:SessionIndex></samlp:LogoutRequest>",
    "not a service ticket": f'<samlp:LogoutRequest xmlns:samlp="{SAMLP}">'
    "<samlp:SessionIndex>TGT-123</samlp:SessionIndex></samlp:LogoutRequest>",
    "entity expansion": '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "ST-aaaa">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    f'<samlp:LogoutRequest xmlns:samlp="{SAMLP}"><samlp:SessionIndex>&b;'
    "</samlp:SessionIndex></samlp:LogoutRequest>",
    "external entity": '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    f'<samlp:LogoutRequest xmlns:samlp="{SAMLP}"><samlp:SessionIndex>&x;'
    "</samlp:SessionIndex></samlp:LogoutRequest>",
    "oversized": logout_request_xml(TICKET, "alice" * 5000),
    "empty": "",
}


def test_parse_a_well_formed_request() -> None:
    assert parse_logout_request(logout_request_xml(TICKET, "alice")) == TICKET


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_parse_refuses_malformed_requests(body: str) -> None:
    with pytest.raises(InvalidLogoutRequest):
        parse_logout_request(body)


def test_malformed_or_unknown_requests_are_400_and_end_nothing(hall: Hall, people: People) -> None:
    browser = hall.browser()
    ticket = hall.sign_in(browser, "alice")
    close_call = ticket[:-1] + ("B" if ticket[-1] != "B" else "C")
    bodies = [
        *({"logoutRequest": body} for body in MALFORMED.values()),
        {"logoutRequest": logout_request_xml(close_call, "alice")},  # unknown ticket
        {"somethingElse": logout_request_xml(ticket, "alice")},  # wrong field
    ]
    attacker = hall.browser()
    for data in bodies:
        reply = attacker.post(hall.url("/cas/slo"), data=data)
        assert reply.status_code == 400, data
    as_json = attacker.post(hall.url("/cas/slo"), json={"logoutRequest": ticket})
    assert as_json.status_code == 400
    assert browser.get(hall.url("/api/v1/me")).status_code == 200


def test_slo_needs_no_csrf_token_and_sets_no_cookie(hall: Hall, people: People) -> None:
    browser = hall.browser()
    ticket = hall.sign_in(browser, "alice")
    cas_server = hall.browser()
    reply = cas_server.post(
        hall.url("/cas/slo"), data={"logoutRequest": logout_request_xml(ticket, "alice")}
    )
    assert reply.status_code == 200
    assert "Set-Cookie" not in reply.headers
    assert browser.get(hall.url("/api/v1/me")).status_code == 401
    # The same request again names a ticket that no longer maps to a session.
    again = cas_server.post(
        hall.url("/cas/slo"), data={"logoutRequest": logout_request_xml(ticket, "alice")}
    )
    assert again.status_code == 400


def test_slo_reaching_another_web_node_ends_the_session(hall: Hall, people: People) -> None:
    browser = hall.browser()
    ticket = hall.sign_in(browser, "alice")
    # A second web node: its own app object and process state, the same Redis and database.
    other_node = create_app(
        hall.settings, database=hall.app.extensions["hall.db"], redis=hall.redis
    )

    reply = other_node.test_client().post(
        "/cas/slo", data={"logoutRequest": logout_request_xml(ticket, "alice")}
    )

    assert reply.status_code == 200
    assert browser.get(hall.url("/api/v1/me")).status_code == 401
