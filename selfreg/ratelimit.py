"""Limits on verification attempts, per client IP and per staff/student number, in Redis
(shared by every web node). Fixed windows: a counter per key that expires with its window.

Per IP every attempt counts (a password, a CAS return, a WeCom code), so one client cannot
walk through numbers; per number only wrong passwords count, so a person who registers
twice to see their state is never locked out. CAS keeps its own limits besides.
"""

from __future__ import annotations

import hashlib

from redis import Redis

PREFIX = "hall:selfreg:rl:"
WINDOW = 900  # seconds
PER_IP = 30
PER_NUMBER = 5


class AttemptLimiter:
    def __init__(
        self,
        redis: Redis,
        *,
        window: int = WINDOW,
        per_ip: int = PER_IP,
        per_number: int = PER_NUMBER,
    ) -> None:
        self.redis = redis
        self.window = window
        self.per_ip = per_ip
        self.per_number = per_number

    @staticmethod
    def _ip_key(ip: str) -> str:
        return f"{PREFIX}ip:{ip}"

    @staticmethod
    def _number_key(number: str) -> str:
        # Hashed: the key space need not list who tried to register.
        return f"{PREFIX}num:{hashlib.sha256(number.casefold().encode()).hexdigest()}"

    def blocked(self, ip: str, number: str = "") -> bool:
        keys = [self._ip_key(ip)] + ([self._number_key(number)] if number else [])
        counts = [int(value or 0) for value in self.redis.mget(keys)]
        if counts[0] >= self.per_ip:
            return True
        return len(counts) > 1 and counts[1] >= self.per_number

    def _hit(self, key: str) -> None:
        # SET NX EX starts the window, INCR keeps its TTL: no `EXPIRE … NX`, which Redis 6.2
        # (the embedded redis-server of `hall run`) does not know.
        pipe = self.redis.pipeline()
        pipe.set(key, 0, ex=self.window, nx=True)
        pipe.incr(key)
        pipe.execute()

    def attempt(self, ip: str) -> None:
        """Count one verification attempt from `ip`."""
        self._hit(self._ip_key(ip))

    def wrong_password(self, number: str) -> None:
        self._hit(self._number_key(number))
