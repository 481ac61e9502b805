"""Error paths of the CAS client that the sandbox cannot produce (network edge: `responses`)."""

from __future__ import annotations

import logging

import pytest
import requests
import responses

from sso.client import DEFAULT_TIMEOUT, CasClient, CasFailure, parse_service_response
from sso.rest import RestTickets

CAS = "https://cas.school.example/cas/"
SERVICE = "https://hall.school.example/login"
TICKET = "ST-1-abcdefghijklmnop-cas01"


@responses.activate
def test_a_timeout_is_a_failure_with_its_code(caplog) -> None:
    responses.get(CAS + "p3/serviceValidate", body=requests.ReadTimeout("slow"))
    with caplog.at_level(logging.WARNING, logger="sso.client"), pytest.raises(CasFailure) as info:
        CasClient(CAS).validate(TICKET, SERVICE)
    assert info.value.code == "TIMEOUT"
    assert "code=TIMEOUT" in caplog.text


@responses.activate
def test_a_non_xml_body_is_invalid_response_not_a_crash() -> None:
    responses.get(CAS + "p3/serviceValidate", body="<html><body>502 Bad Gateway", status=502)
    with pytest.raises(CasFailure) as info:
        CasClient(CAS).validate(TICKET, SERVICE)
    assert info.value.code == "INVALID_RESPONSE"
    # python-cas sets no timeout; our session adds one to every call.
    call = responses.calls[0]
    assert call.request.req_kwargs["timeout"] == DEFAULT_TIMEOUT  # type: ignore[attr-defined]


def test_urls_follow_the_protocol() -> None:
    cas3 = CasClient(CAS, "3")
    quoted = "https%3A%2F%2Fhall.school.example%2Flogin"
    assert cas3.login_url(SERVICE) == f"{CAS}login?service={quoted}"
    assert cas3.login_url(SERVICE, renew=True).endswith("&renew=true")
    assert cas3.logout_url(SERVICE) == f"{CAS}logout?service={quoted}"
    with pytest.raises(ValueError, match="end with"):
        CasClient("https://cas.school.example/cas")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            (
                b'<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">'
                b'<cas:authenticationFailure code="INVALID_SERVICE">'
                b"nope</cas:authenticationFailure>"
                b"</cas:serviceResponse>"
            ),
            "INVALID_SERVICE",
        ),
        (b"<serviceResponse><authenticationSuccess/></serviceResponse>", "INVALID_RESPONSE"),
        (
            (
                b'<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">'
                b"<cas:authenticationSuccess><cas:user> </cas:user></cas:authenticationSuccess>"
                b"</cas:serviceResponse>"
            ),
            "INVALID_RESPONSE",
        ),
        (
            (
                b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "x">]>'
                b'<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">&a;'
                b"</cas:serviceResponse>"
            ),
            "INVALID_RESPONSE",
        ),
    ],
)
def test_failure_replies_keep_their_code(body: bytes, code: str) -> None:
    with pytest.raises(CasFailure) as info:
        parse_service_response(body)
    assert info.value.code == code


@responses.activate
def test_rest_never_follows_a_tgt_location_elsewhere() -> None:
    responses.post(
        CAS + "v1/tickets", status=201, headers={"Location": "https://evil.example/TGT-1"}
    )
    with pytest.raises(CasFailure) as info:
        RestTickets(CasClient(CAS)).create_tgt("alice", "secret")
    assert info.value.code == "REST_ERROR"
    assert len(responses.calls) == 1
