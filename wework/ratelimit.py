"""Per-member message limit (doc 90236 "发送应用消息" 频率限制).

WeCom lets an app send each member at most 30 messages a minute and 1,000 an hour; the
excess is dropped silently, so we never send it. A sliding window per member lives in a
Redis sorted set shared by all workers; a member over the limit is not sent to now and the
caller gets the delay after which a slot frees up, to requeue the job (never to drop it).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis

PER_MINUTE = 30
PER_HOUR = 1000
KEY_PREFIX = "wework:ratelimit"

# KEYS: one sorted set per member. ARGV: per-minute limit, per-hour limit, unique id.
# Returns, per member, 0 when a slot was taken or the milliseconds to wait otherwise.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local per_minute = tonumber(ARGV[1])
local per_hour = tonumber(ARGV[2])
local out = {}
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - 3600000)
  local minute = redis.call('ZCOUNT', key, now - 60000, '+inf')
  local hour = redis.call('ZCARD', key)
  local wait = 0
  if minute >= per_minute then
    local e = redis.call('ZRANGEBYSCORE', key, now - 60000, '+inf', 'WITHSCORES',
                         'LIMIT', minute - per_minute, 1)
    wait = tonumber(e[2]) + 60000 - now
  end
  if hour >= per_hour then
    local e = redis.call('ZRANGE', key, hour - per_hour, hour - per_hour, 'WITHSCORES')
    wait = math.max(wait, tonumber(e[2]) + 3600000 - now)
  end
  if wait <= 0 then
    redis.call('ZADD', key, now, ARGV[3] .. ':' .. i)
    redis.call('PEXPIRE', key, 3600000)
    out[i] = 0
  else
    out[i] = math.ceil(wait)
  end
end
return out
"""


@dataclass(frozen=True)
class Admission:
    """Who may be sent to now, who must wait, and after how long all of them may be sent to."""

    allowed: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    retry_after: float = 0.0


class MemberRateLimiter:
    """Sliding-window limiter for one app's messages to members."""

    def __init__(
        self,
        redis_conn: redis.Redis,
        scope: str,
        *,
        per_minute: int = PER_MINUTE,
        per_hour: int = PER_HOUR,
    ) -> None:
        self.prefix = f"{KEY_PREFIX}:{scope}"
        self.per_minute = per_minute
        self.per_hour = per_hour
        self._admit = redis_conn.register_script(_ADMIT)

    def admit(self, userids: Sequence[str]) -> Admission:
        """Take a slot for each member that has one; the rest are deferred, never dropped."""
        if not userids:
            return Admission()
        keys = [f"{self.prefix}:{userid.lower()}" for userid in userids]
        waits = self._admit(keys=keys, args=[self.per_minute, self.per_hour, uuid.uuid4().hex])
        allowed = [u for u, w in zip(userids, waits, strict=True) if int(w) == 0]
        deferred = [u for u, w in zip(userids, waits, strict=True) if int(w) > 0]
        pending = [int(w) for w in waits if int(w) > 0]
        retry_after = math.ceil(max(pending)) / 1000 if pending else 0.0
        return Admission(allowed=allowed, deferred=deferred, retry_after=retry_after)
