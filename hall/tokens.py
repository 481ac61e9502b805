"""Bearer tokens for /api/v1: random, shown once, stored as SHA-256 only."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from hall.clock import utcnow
from hall.errors import NotFound
from hall.models import ApiToken, Person, PersonStatus

PREFIX = "hall_"
LAST_USED_GRANULARITY = timedelta(minutes=10)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, userid: str, label: str | None = None) -> str:
    person = session.scalar(select(Person).where(Person.userid == userid))
    if person is None:
        raise NotFound(f"no person with userid {userid!r}")
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(person_id=person.id, token_hash=_digest(token), label=label))
    return token


def person_for_token(session: Session, token: str) -> Person | None:
    """The active person a token belongs to, or None (unknown, revoked or inactive).

    Lookup is by the token's hash, so no timing difference reveals a valid prefix.
    """
    if not token.startswith(PREFIX) or len(token) > 128:
        return None
    row = session.scalar(
        select(ApiToken)
        .options(joinedload(ApiToken.person))  # one round trip per API call, not two
        .where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
    )
    if row is None or row.person.status != PersonStatus.ACTIVE:
        return None
    now = utcnow()
    # Recorded coarsely: a write (and a commit) on every API call would cost more than
    # the call itself.
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_GRANULARITY:
        row.last_used_at = now
    return row.person


def revoke_tokens(session: Session, userid: str) -> int:
    rows = session.scalars(
        select(ApiToken).join(Person).where(Person.userid == userid, ApiToken.revoked_at.is_(None))
    ).all()
    for row in rows:
        row.revoked_at = utcnow()
    return len(rows)
