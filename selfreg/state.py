"""The signed, expiring `state` that ties a CAS round trip to the user type chosen before it.

The page sends the browser to CAS with `service=<base>/join/cas?state=…`; CAS comes back to
exactly that URL with a ticket. The state carries the chosen type and a nonce that the
person's (server-side) session also holds: a forged state fails the signature, an old one
the age, and a replayed or foreign one the nonce, which is used up on the first return.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from hall.models import PersonKind

SALT = "hall.selfreg.state.v1"
MAX_AGE = 600  # seconds for the trip through CAS (its own tickets live 5 minutes)


class InvalidState(Exception):
    """Forged, expired, malformed or not this browser's."""


@dataclass(frozen=True)
class State:
    kind: PersonKind
    nonce: str


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def dumps(secret_key: str, state: State) -> str:
    return _serializer(secret_key).dumps([state.kind.value, state.nonce])


def loads(secret_key: str, token: str, *, expected_nonce: object, max_age: int = MAX_AGE) -> State:
    """The state behind `token`, checked against the nonce the session kept."""
    if not token or len(token) > 512:
        raise InvalidState("missing or oversized state")
    try:
        payload = _serializer(secret_key).loads(token, max_age=max_age)
    except BadSignature as exc:  # SignatureExpired is a BadSignature too
        raise InvalidState(str(exc)) from None
    if not (
        isinstance(payload, list) and len(payload) == 2 and all(isinstance(p, str) for p in payload)
    ):
        raise InvalidState("malformed state")
    kind, nonce = payload
    if kind not in {PersonKind.STAFF.value, PersonKind.STUDENT.value}:
        raise InvalidState("unknown user type")
    if not isinstance(expected_nonce, str) or not hmac.compare_digest(nonce, expected_nonce):
        raise InvalidState("the state is not this browser's, or was used already")
    return State(PersonKind(kind), nonce)
