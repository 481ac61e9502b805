"""Sign-in codes sent by SMS, and the hall's own send limits (before any gateway's).

A code is 6 digits, valid 5 minutes, good for one sign-in and at most 5 tries; Redis holds
only its HMAC, so a dump of Redis does not reveal live codes. Limits (reference/cas-sms.md):
per phone one code a minute, 5 an hour, 10 a day; per client address 20 an hour, so one
address cannot walk through many numbers. Limits are checked and counted in one Lua call,
so concurrent requests cannot slip past them together.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import redis

PREFIX = "sms:"
CODE_TTL = 300
MAX_ATTEMPTS = 5
CODE_DIGITS = 6


@dataclass(frozen=True, slots=True)
class Limit:
    scope: str  # "phone" or "ip"
    count: int
    seconds: int


LIMITS = (
    Limit("phone", 1, 60),
    Limit("phone", 5, 3600),
    Limit("phone", 10, 86400),
    Limit("ip", 20, 3600),
)

# KEYS: one counter per limit; ARGV: count, seconds for each. Answers 0 when every limit
# has room (and counts this send in all of them), else the limit's 1-based index and its
# counter's remaining seconds.
_TAKE = """
for i, key in ipairs(KEYS) do
  local used = tonumber(redis.call('GET', key) or '0')
  if used >= tonumber(ARGV[2 * i - 1]) then
    return {i, redis.call('TTL', key)}
  end
end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then
    redis.call('EXPIRE', key, ARGV[2 * i])
  end
end
return {0, 0}
"""
# A wrong try counts only against a code that still exists (never recreates an expired one).
_MISS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('HINCRBY', KEYS[1], 'tries', 1)
"""


class CodeRefused(Exception):
    """No code now; `reason` is one of the constants below."""

    TOO_SOON = "too_soon"  # one a minute per phone
    TOO_MANY = "too_many"  # the phone's hourly or daily allowance
    BUSY_ADDRESS = "busy_address"  # the client address's allowance

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(f"{reason}, retry after {retry_after} s")
        self.reason = reason
        self.retry_after = max(1, retry_after)


class CodeRejected(Exception):
    WRONG = "wrong"  # `left` tries remain
    EXPIRED = "expired"  # none issued, used, expired, or locked after too many tries

    def __init__(self, reason: str, left: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.left = left


class CodeBook:
    def __init__(self, connection: redis.Redis, secret: str) -> None:
        self.redis = connection
        self.secret = secret.encode()
        self._take = connection.register_script(_TAKE)
        self._miss = connection.register_script(_MISS)

    def _digest(self, phone: str, code: str) -> str:
        return hmac.new(self.secret, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()

    def _key(self, phone: str) -> str:
        return f"{PREFIX}code:{phone}"

    def issue(self, phone: str, address: str) -> str:
        """A fresh code for `phone` (replacing any earlier one), or `CodeRefused`."""
        keys = [
            f"{PREFIX}limit:{limit.scope}:{limit.seconds}:"
            f"{phone if limit.scope == 'phone' else address}"
            for limit in LIMITS
        ]
        args: list[int] = []
        for limit in LIMITS:
            args += [limit.count, limit.seconds]
        hit, ttl = self._take(keys=keys, args=args)
        if hit:
            limit = LIMITS[int(hit) - 1]
            reason = (
                CodeRefused.BUSY_ADDRESS
                if limit.scope == "ip"
                else CodeRefused.TOO_SOON
                if limit.seconds == 60
                else CodeRefused.TOO_MANY
            )
            raise CodeRefused(reason, int(ttl) if int(ttl) > 0 else limit.seconds)
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        key = self._key(phone)
        with self.redis.pipeline() as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping={"digest": self._digest(phone, code), "tries": 0})
            pipe.expire(key, CODE_TTL)
            pipe.execute()
        return code

    def check(self, phone: str, code: str) -> None:
        """Accept `code` for `phone` once, or raise `CodeRejected`."""
        key = self._key(phone)
        stored = self.redis.hget(key, "digest")
        if stored is None:
            raise CodeRejected(CodeRejected.EXPIRED)
        expected = stored.decode() if isinstance(stored, bytes) else str(stored)
        if hmac.compare_digest(expected, self._digest(phone, code.strip())):
            if self.redis.delete(key) == 1:  # single use: only the first of two racers wins
                return
            raise CodeRejected(CodeRejected.EXPIRED)
        tries = int(self._miss(keys=[key]))
        if tries < 0:
            raise CodeRejected(CodeRejected.EXPIRED)
        if tries >= MAX_ATTEMPTS:
            self.redis.delete(key)
            raise CodeRejected(CodeRejected.EXPIRED)
        raise CodeRejected(CodeRejected.WRONG, left=MAX_ATTEMPTS - tries)
