"""Sign-in codes sent by SMS, and the hall's own send limits (before any gateway's).

A code is 6 digits, valid 5 minutes, good for one sign-in and at most 5 tries, checked
inside Redis in one step. The code book keeps only its HMAC; the plain code waits for its
SMS elsewhere (web/sms_channel.py) only until it is sent. Limits (reference/cas-sms.md):
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
# One try, in one step: compare, then delete (right, or the last try) or count (wrong).
# Read, compare and count apart, a burst of parallel guesses would all read the code before
# any of them counted, and get far more than MAX_ATTEMPTS tries. ARGV: the try's digest,
# MAX_ATTEMPTS. Answers -1 (no code), 0 (right: used up), else the tries made so far.
_CHECK = """
local stored = redis.call('HGET', KEYS[1], 'digest')
if not stored then return -1 end
if stored == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 0
end
local tries = redis.call('HINCRBY', KEYS[1], 'tries', 1)
if tries >= tonumber(ARGV[2]) then redis.call('DEL', KEYS[1]) end
return tries
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
        self._check = connection.register_script(_CHECK)

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
        """Accept `code` for `phone` once, or raise `CodeRejected`.

        The comparison happens inside Redis on HMAC digests: the digest of a guess says
        nothing about the code, so comparing them there leaks nothing by timing.
        """
        digest = self._digest(phone, code.strip())
        tries = int(self._check(keys=[self._key(phone)], args=[digest, MAX_ATTEMPTS]))
        if tries == 0:
            return
        if tries < 0 or tries >= MAX_ATTEMPTS:
            raise CodeRejected(CodeRejected.EXPIRED)
        raise CodeRejected(CodeRejected.WRONG, left=MAX_ATTEMPTS - tries)
