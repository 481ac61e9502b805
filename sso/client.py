"""The hall's CAS client: login/logout URLs and service-ticket validation.

python-cas 1.7.2 builds the URLs and performs the validation GET (through our
`requests.Session`, which carries a timeout: python-cas sets none). Its reply parsing is
not used: it drops the failure code (`(None, {}, None)`), raises `ParseError` on non-XML
bodies and parses with the stdlib parser. We parse the reply with defusedxml instead and
raise `CasFailure` carrying the protocol's code, which is always logged.

Protocol: Apereo CAS Protocol 3.0 — `/login?service=`, `/p3/serviceValidate` (CAS 3),
`/serviceValidate` (CAS 2), `/logout?service=`. The `service` must be byte-identical at
login and at validation, so callers build it with one deterministic function.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Literal
from xml.etree.ElementTree import Element, ParseError

import requests
from cas import CASClient
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

logger = logging.getLogger(__name__)

CAS_NS = "http://www.yale.edu/tp/cas"
DEFAULT_TIMEOUT = 5.0
MAX_TICKET_LENGTH = 256
MAX_REPLY_BYTES = 256 * 1024
# Apereo tickets: prefix, then letters, digits, '-', '.', '_' (the host suffix included).
_TICKET_RE = re.compile(r"(ST|PT)-[A-Za-z0-9._-]+")

# Codes of our own, for failures that never reached a CAS answer.
TIMEOUT = "TIMEOUT"
UNREACHABLE = "UNREACHABLE"
INVALID_RESPONSE = "INVALID_RESPONSE"


class CasFailure(Exception):
    """Validation failed; `code` is the CAS failure code (INVALID_TICKET, …) or one of ours."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CasUser:
    """A validated CAS principal. Every attribute is a list (repeated ones have several)."""

    userid: str
    attributes: dict[str, list[str]] = field(default_factory=dict)

    def attribute(self, name: str) -> str | None:
        values = self.attributes.get(name)
        return values[0] if values else None


class TimeoutSession(requests.Session):
    """A requests session whose every call has a timeout unless the caller gives one."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.timeout = timeout

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


def well_formed_ticket(ticket: str) -> bool:
    return len(ticket) <= MAX_TICKET_LENGTH and _TICKET_RE.fullmatch(ticket) is not None


def _cas(tag: str) -> str:
    return f"{{{CAS_NS}}}{tag}"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse_attributes(element: Element | None) -> dict[str, list[str]]:
    attributes: dict[str, list[str]] = {}
    if element is None:
        return attributes
    for child in element:
        attributes.setdefault(_local(child.tag), []).append((child.text or "").strip())
    return attributes


def parse_service_response(body: bytes) -> CasUser:
    """Parse a `serviceValidate` reply; raise CasFailure with the server's code on failure."""
    if len(body) > MAX_REPLY_BYTES:
        raise CasFailure(INVALID_RESPONSE, "reply too large")
    try:
        root = fromstring(body)
    except (ParseError, DefusedXmlException) as exc:
        raise CasFailure(INVALID_RESPONSE, f"not XML: {exc}") from None
    if root.tag != _cas("serviceResponse"):
        raise CasFailure(INVALID_RESPONSE, f"unexpected root element {root.tag}")
    success = root.find(_cas("authenticationSuccess"))
    if success is not None:
        userid = (success.findtext(_cas("user")) or "").strip()
        if not userid:
            raise CasFailure(INVALID_RESPONSE, "authenticationSuccess without cas:user")
        return CasUser(userid, _parse_attributes(success.find(_cas("attributes"))))
    failure = root.find(_cas("authenticationFailure"))
    if failure is not None:
        code = (failure.get("code") or "").strip() or INVALID_RESPONSE
        raise CasFailure(code, " ".join((failure.text or "").split()))
    raise CasFailure(INVALID_RESPONSE, "neither authenticationSuccess nor authenticationFailure")


class CasClient:
    """The hall's view of the school's CAS server (`server_url` ends with '/')."""

    def __init__(
        self,
        server_url: str,
        version: Literal["2", "3"] = "3",
        *,
        http: requests.Session | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not server_url.endswith("/"):
            raise ValueError("the CAS server URL must end with '/'")
        self.server_url = server_url
        self.version = version
        self.http = http if http is not None else TimeoutSession(timeout)

    def _python_cas(self, service: str, *, renew: bool = False) -> Any:
        return CASClient(
            version=int(self.version),
            service_url=service,
            server_url=self.server_url,
            renew=renew,
            session=self.http,
        )

    def login_url(self, service: str, *, renew: bool = False) -> str:
        """Where to send the browser; CAS returns to `service` with `?ticket=ST-…`."""
        url: str = self._python_cas(service, renew=renew).get_login_url()
        return url

    def logout_url(self, service: str | None = None) -> str:
        url: str = self._python_cas(service or "").get_logout_url(redirect_url=service)
        return url

    def validate(self, ticket: str, service: str) -> CasUser:
        """Validate a service ticket for exactly this `service`; raise CasFailure."""
        try:
            return self._validate(ticket, service)
        except CasFailure as failure:
            logger.warning(
                "CAS ticket validation failed: code=%s message=%r service=%s",
                failure.code,
                failure.message,
                service,
            )
            raise

    def _validate(self, ticket: str, service: str) -> CasUser:
        if not well_formed_ticket(ticket):
            raise CasFailure("INVALID_TICKET_SPEC", "ticket is not a well-formed ST")
        try:
            body = self._python_cas(service).get_verification_response(ticket)
        except requests.Timeout:
            raise CasFailure(TIMEOUT, f"no answer from {self.server_url}") from None
        except requests.RequestException as exc:
            raise CasFailure(UNREACHABLE, f"{type(exc).__name__}: {exc}") from None
        return parse_service_response(body)
