"""The CAS REST protocol (`/v1/tickets`), where the school enabled it.

`POST /v1/tickets` (username, password) → 201 + `Location: …/v1/tickets/TGT-…`
(bad credentials 401, older servers 400); `POST <TGT URL>` (service) → 200 `ST-…`;
`DELETE <TGT URL>` ends the ticket-granting ticket. python-cas has no REST support, so this
speaks it with the same timeout-carrying requests session as the client.
"""

from __future__ import annotations

import logging

import requests

from sso.client import TIMEOUT, UNREACHABLE, CasClient, CasFailure, well_formed_ticket

logger = logging.getLogger(__name__)


class BadCredentials(Exception):
    """CAS refused the username/password (401, or 400 from older servers)."""


class RestDisabled(CasFailure):
    """The server does not offer `/v1/tickets` (404/405)."""


def _call(
    http: requests.Session, method: str, url: str, data: dict[str, str] | None = None
) -> requests.Response:
    try:
        return http.request(method, url, data=data, allow_redirects=False)
    except requests.Timeout:
        raise CasFailure(TIMEOUT, f"no answer from {url}") from None
    except requests.RequestException as exc:
        raise CasFailure(UNREACHABLE, f"{type(exc).__name__}: {exc}") from None


class RestTickets:
    """Ticket-granting and service tickets through the REST protocol."""

    def __init__(self, client: CasClient) -> None:
        self.client = client
        self.tickets_url = client.server_url + "v1/tickets"

    def create_tgt(self, username: str, password: str) -> str:
        """Return the TGT's URL; raise BadCredentials or CasFailure."""
        reply = _call(
            self.client.http,
            "POST",
            self.tickets_url,
            {"username": username, "password": password},
        )
        if reply.status_code in {400, 401}:
            raise BadCredentials(username)
        if reply.status_code in {404, 405}:
            raise RestDisabled("REST_DISABLED", f"{self.tickets_url} answered {reply.status_code}")
        location = reply.headers.get("Location", "")
        # The TGT URL must be one of this server's: never send anything elsewhere.
        if reply.status_code != 201 or not location.startswith(self.tickets_url + "/TGT-"):
            raise CasFailure(
                "REST_ERROR", f"POST /v1/tickets answered {reply.status_code} {location!r}"
            )
        return location

    def service_ticket(self, tgt_url: str, service: str) -> str:
        reply = _call(self.client.http, "POST", tgt_url, {"service": service})
        ticket = reply.text.strip()
        if reply.status_code != 200 or not well_formed_ticket(ticket):
            raise CasFailure("REST_ERROR", f"POST TGT answered {reply.status_code}")
        return ticket

    def delete_tgt(self, tgt_url: str) -> None:
        """End the TGT; a failure is logged, not raised (the check already succeeded)."""
        try:
            reply = _call(self.client.http, "DELETE", tgt_url)
        except CasFailure as failure:
            logger.warning("CAS REST: could not delete the TGT: %s", failure)
            return
        if reply.status_code not in {200, 204}:
            logger.warning("CAS REST: DELETE TGT answered %s", reply.status_code)
