"""CAS single logout messages: build (sandbox server) and parse (the hall's `/cas/slo`).

The CAS server POSTs a form field `logoutRequest` holding a SAML 2 `samlp:LogoutRequest`
whose `samlp:SessionIndex` is the service ticket that created the session. The body comes
from the network unauthenticated, so it is parsed with defusedxml, size-limited, and must
have exactly the expected shape.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from xml.etree.ElementTree import ParseError
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from sso.client import well_formed_ticket

SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
MAX_LOGOUT_REQUEST = 16 * 1024


class InvalidLogoutRequest(ValueError):
    """Not a well-formed CAS logout request."""


def logout_request_xml(ticket: str, name_id: str) -> str:
    """A logout request as Apereo CAS sends it."""
    issued = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    request_id = "LR-" + secrets.token_hex(16)
    return (
        f'<samlp:LogoutRequest xmlns:samlp="{SAMLP_NS}" xmlns:saml="{SAML_NS}"'
        f' ID="{request_id}" Version="2.0" IssueInstant="{issued}">'
        f"<saml:NameID>{escape(name_id)}</saml:NameID>"
        f"<samlp:SessionIndex>{escape(ticket)}</samlp:SessionIndex>"
        "</samlp:LogoutRequest>"
    )


def parse_logout_request(body: str) -> str:
    """Return the service ticket named by a logout request; raise InvalidLogoutRequest."""
    if not body or len(body) > MAX_LOGOUT_REQUEST:
        raise InvalidLogoutRequest("missing or oversized logoutRequest")
    try:
        root = fromstring(body)
    except (ParseError, DefusedXmlException) as exc:
        raise InvalidLogoutRequest(f"not well-formed XML: {exc}") from None
    if root.tag != f"{{{SAMLP_NS}}}LogoutRequest":
        raise InvalidLogoutRequest(f"unexpected root element {root.tag}")
    indexes = root.findall(f"{{{SAMLP_NS}}}SessionIndex")
    if len(indexes) != 1:
        raise InvalidLogoutRequest("expected exactly one samlp:SessionIndex")
    ticket = (indexes[0].text or "").strip()
    if not well_formed_ticket(ticket) or not ticket.startswith("ST-"):
        raise InvalidLogoutRequest("SessionIndex is not a service ticket")
    return ticket
