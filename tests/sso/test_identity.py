"""The CAS password check for self-registration: REST where enabled, else a browser trip."""

from __future__ import annotations

import pytest
import requests

from sso.identity import (
    BadCredentials,
    BrowserRoundTrip,
    BrowserVerifier,
    RestVerifier,
    Verified,
    identity_verifier,
    verify_identity,
)
from sso.sandbox import PREFIX
from tests.sso.conftest import Hall, People, ticket_of

SERVICE_PATH = "/selfreg/verify"


def _tgts(hall: Hall) -> list[bytes]:
    return list(hall.redis.scan_iter(match=PREFIX + "tgt:*"))


def test_rest_password_check(make_hall, people: People) -> None:
    hall = make_hall(cas_rest=True)
    verifier = identity_verifier(hall.cas(), rest=hall.settings.cas_rest)
    assert isinstance(verifier, RestVerifier)
    assert verifier.asks_password

    result = verify_identity(
        verifier, service=hall.url(SERVICE_PATH), username="alice", password="demo"
    )

    assert isinstance(result, Verified)
    assert result.userid == "alice"
    assert result.attributes["name"] == ["王小丽"]
    assert _tgts(hall) == []  # the TGT was deleted afterwards


def test_rest_bad_password_is_401_and_bad_credentials(make_hall, people: People) -> None:
    hall = make_hall(cas_rest=True)
    raw = requests.post(
        hall.cas_url + "v1/tickets", data={"username": "alice", "password": "nope"}, timeout=5
    )
    assert raw.status_code == 401
    verifier = identity_verifier(hall.cas(), rest=True)
    with pytest.raises(BadCredentials):
        verify_identity(verifier, service=hall.url(SERVICE_PATH), username="alice", password="x")
    with pytest.raises(BadCredentials):
        verify_identity(verifier, service=hall.url(SERVICE_PATH), username="alice")
    assert _tgts(hall) == []


def test_rest_protocol_by_hand(make_hall, people: People) -> None:
    hall = make_hall(cas_rest=True)
    created = requests.post(
        hall.cas_url + "v1/tickets", data={"username": "bob", "password": "demo"}, timeout=5
    )
    assert created.status_code == 201
    tgt_url = created.headers["Location"]
    assert tgt_url.startswith(hall.cas_url + "v1/tickets/TGT-")
    st = requests.post(tgt_url, data={"service": hall.url(SERVICE_PATH)}, timeout=5)
    assert st.status_code == 200
    assert st.text.startswith("ST-")
    assert len(st.text) == 64
    assert hall.cas().validate(st.text, hall.url(SERVICE_PATH)).userid == "bob"
    assert requests.delete(tgt_url, timeout=5).status_code == 200
    gone = requests.post(tgt_url, data={"service": hall.url(SERVICE_PATH)}, timeout=5)
    assert gone.status_code == 404


def test_without_rest_the_check_is_a_browser_round_trip(hall: Hall, people: People) -> None:
    assert hall.settings.cas_rest is False
    service = hall.url(SERVICE_PATH)
    verifier = identity_verifier(hall.cas(), rest=hall.settings.cas_rest)
    assert isinstance(verifier, BrowserVerifier)
    assert not verifier.asks_password
    # REST is off at this CAS: /v1/tickets does not exist.
    off = requests.post(
        hall.cas_url + "v1/tickets", data={"username": "alice", "password": "demo"}, timeout=5
    )
    assert off.status_code == 404

    trip = verify_identity(verifier, service=service)
    assert isinstance(trip, BrowserRoundTrip)
    assert "renew=true" in trip.url

    browser = hall.browser()
    hall.sign_in(browser, "alice")  # even with single sign-on, renew asks for the password
    answer = hall.cas_login(browser, trip.url, "alice")
    assert answer.status_code == 302
    back = answer.headers["Location"]
    assert back.startswith(service + "?ticket=ST-")

    result = verify_identity(verifier, service=service, ticket=ticket_of(back))
    assert isinstance(result, Verified)
    assert result.userid == "alice"


def test_rest_configured_but_missing_falls_back_to_the_browser(hall: Hall, people: People) -> None:
    verifier = RestVerifier(hall.cas())  # the hall says REST, the school's CAS has none
    result = verify_identity(
        verifier, service=hall.url(SERVICE_PATH), username="alice", password="demo"
    )
    assert isinstance(result, BrowserRoundTrip)
