"""Check a person's CAS password, for self-registration: one interface, two ways.

- `RestVerifier` (the school enabled `/v1/tickets`): the hall's own form takes username and
  password; REST gives a TGT, the TGT a service ticket, the ticket is validated, the TGT is
  deleted. The answer is immediate.
- `BrowserVerifier` (no REST): `verify` answers `BrowserRoundTrip(url)`; the caller sends the
  browser there (CAS `/login` with `renew=true`, so the password is really asked) and CAS
  comes back to `service` with `?ticket=`, which `complete` validates.

Callers use `verify_identity(verifier, service=…, username=…, password=…, ticket=…)` and
handle both outcomes; `identity_verifier(client, rest=settings.cas_rest)` picks the way.
The `service` is the caller's return URL and must be the same at both steps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from sso.client import CasClient
from sso.rest import BadCredentials, RestDisabled, RestTickets

logger = logging.getLogger(__name__)

__all__ = [
    "BadCredentials",
    "BrowserRoundTrip",
    "BrowserVerifier",
    "IdentityVerifier",
    "RestVerifier",
    "Verified",
    "identity_verifier",
    "verify_identity",
]


@dataclass(frozen=True)
class Verified:
    """CAS confirmed this person; `userid` is CAS's principal (not what was typed)."""

    userid: str
    attributes: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class BrowserRoundTrip:
    """Send the browser to `url`; CAS returns to the service URL with `?ticket=`."""

    url: str


class IdentityVerifier(Protocol):
    # Whether the hall's own form should ask for the password (REST) or not (browser).
    asks_password: bool

    def verify(
        self, *, service: str, username: str = "", password: str = ""
    ) -> Verified | BrowserRoundTrip: ...

    def complete(self, *, service: str, ticket: str) -> Verified: ...


class BrowserVerifier:
    asks_password = False

    def __init__(self, client: CasClient) -> None:
        self.client = client

    def verify(
        self, *, service: str, username: str = "", password: str = ""
    ) -> Verified | BrowserRoundTrip:
        del username, password  # CAS asks for them on its own page
        return BrowserRoundTrip(self.client.login_url(service, renew=True))

    def complete(self, *, service: str, ticket: str) -> Verified:
        user = self.client.validate(ticket, service)
        return Verified(user.userid, user.attributes)


class RestVerifier(BrowserVerifier):
    asks_password = True

    def __init__(self, client: CasClient) -> None:
        super().__init__(client)
        self.rest = RestTickets(client)

    def verify(
        self, *, service: str, username: str = "", password: str = ""
    ) -> Verified | BrowserRoundTrip:
        if not username or not password:
            raise BadCredentials(username)
        try:
            tgt_url = self.rest.create_tgt(username, password)
        except RestDisabled:
            logger.warning("HALL_CAS_REST is on but the CAS server has no /v1/tickets")
            return super().verify(service=service)
        try:
            ticket = self.rest.service_ticket(tgt_url, service)
            return self.complete(service=service, ticket=ticket)
        finally:
            self.rest.delete_tgt(tgt_url)


def identity_verifier(client: CasClient, *, rest: bool) -> IdentityVerifier:
    return RestVerifier(client) if rest else BrowserVerifier(client)


def verify_identity(
    verifier: IdentityVerifier,
    *,
    service: str,
    username: str = "",
    password: str = "",
    ticket: str = "",
) -> Verified | BrowserRoundTrip:
    """The one entry point: a returning `ticket` is validated, otherwise the check starts.

    Raises BadCredentials (REST, wrong password) or CasFailure (ticket or server trouble).
    """
    if ticket:
        return verifier.complete(service=service, ticket=ticket)
    return verifier.verify(service=service, username=username, password=password)
