"""Dedupe WeCom's retries in Redis, and replay the first answer to them.

WeCom waits 5 s for a callback's answer, then retries, 3 attempts in all (doc 90238). A
retry means WeCom did not get our answer; the decision may well be committed already. So a
key moves through two states:

- `claim` takes it with SET NX and a short TTL (`BUSY_TTL`): while the first attempt works,
  a retry gets `BUSY` and an empty 200 (the first attempt answers or fails on its own);
- `finish` stores the answer (the plaintext reply, maybe empty) for `DONE_TTL`: a later
  retry gets the same answer again, re-encrypted;
- `release` drops the claim when the handler failed, so WeCom's next retry runs it again.

A crash between claim and finish leaves the claim for at most `BUSY_TTL`; after that a retry
runs the handler again, and the engine, finding the task already decided by this reviewer,
answers as the first attempt did instead of deciding twice.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

import redis

BUSY_TTL = 10  # seconds: longer than WeCom's 5 s wait, shorter than its retry spread
DONE_TTL = 3600  # seconds: WeCom's retries come within a minute; an hour is ample
_BUSY = b"\x00busy"
_DONE = b"\x01"


class ClaimState(enum.Enum):
    NEW = "new"
    BUSY = "busy"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    reply: str | None = None  # for DONE: the answer given the first time (None: empty)


def digest(dedupe_key: str) -> str:
    return hashlib.sha256(dedupe_key.encode("utf-8")).hexdigest()


class Deduper:
    """Per-endpoint dedupe store: keys are `hall:wecom:dedupe:<endpoint>:<sha256>`."""

    def __init__(self, connection: redis.Redis, endpoint: str) -> None:
        self.redis = connection
        self.prefix = f"hall:wecom:dedupe:{endpoint}:"

    def _key(self, dedupe_key: str) -> str:
        return self.prefix + digest(dedupe_key)

    def claim(self, dedupe_key: str) -> Claim:
        key = self._key(dedupe_key)
        if self.redis.set(key, _BUSY, nx=True, ex=BUSY_TTL):
            return Claim(ClaimState.NEW)
        value = self.redis.get(key)
        if not isinstance(value, bytes) or value == _BUSY:
            # Busy, or expired between SET and GET: let this attempt be answered empty.
            return Claim(ClaimState.BUSY)
        reply = value[len(_DONE) :].decode("utf-8")
        return Claim(ClaimState.DONE, reply or None)

    def finish(self, dedupe_key: str, reply: str | None) -> None:
        self.redis.set(self._key(dedupe_key), _DONE + (reply or "").encode("utf-8"), ex=DONE_TTL)

    def release(self, dedupe_key: str) -> None:
        self.redis.delete(self._key(dedupe_key))
