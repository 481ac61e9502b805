"""The signed state of the CAS round trip and the attempt limiter's windows."""

from __future__ import annotations

import time

import pytest
import redis
from itsdangerous import URLSafeTimedSerializer

from hall.models import PersonKind
from selfreg import state
from selfreg.ratelimit import AttemptLimiter

SECRET = "state-test-secret"


def test_a_state_round_trips_once_for_its_own_nonce() -> None:
    token = state.dumps(SECRET, state.State(PersonKind.STAFF, "n1"))
    assert state.loads(SECRET, token, expected_nonce="n1") == state.State(PersonKind.STAFF, "n1")
    for nonce in ("n2", None, 7):
        with pytest.raises(state.InvalidState, match="not this browser's"):
            state.loads(SECRET, token, expected_nonce=nonce)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "x" * 600,
        "not-a-token",
        state.dumps("another-secret", state.State(PersonKind.STUDENT, "n1")),
        URLSafeTimedSerializer(SECRET, salt=state.SALT).dumps(["offcampus", "n1"]),
        URLSafeTimedSerializer(SECRET, salt=state.SALT).dumps({"kind": "staff"}),
        URLSafeTimedSerializer(SECRET, salt="another.salt").dumps(["staff", "n1"]),
    ],
)
def test_forged_and_malformed_states_are_refused(token: str) -> None:
    with pytest.raises(state.InvalidState):
        state.loads(SECRET, token, expected_nonce="n1")


def test_an_old_state_is_refused() -> None:
    token = state.dumps(SECRET, state.State(PersonKind.STUDENT, "n1"))
    time.sleep(1.1)
    with pytest.raises(state.InvalidState, match="Signature age"):
        state.loads(SECRET, token, expected_nonce="n1", max_age=0)


def test_the_limiter_counts_per_ip_and_wrong_passwords_per_number(
    redis_conn: redis.Redis,
) -> None:
    limiter = AttemptLimiter(redis_conn, window=1, per_ip=3, per_number=2)
    for _ in range(3):
        assert not limiter.blocked("10.0.0.1")
        limiter.attempt("10.0.0.1")
    assert limiter.blocked("10.0.0.1")
    assert limiter.blocked("10.0.0.1", "2023010001")
    assert not limiter.blocked("10.0.0.2", "2023010001")
    limiter.wrong_password("2023010001")
    limiter.wrong_password("2023010001")
    assert limiter.blocked("10.0.0.2", "2023010001")
    assert limiter.blocked("10.0.0.2", "2023010001".upper())  # numbers are case-blind
    assert not limiter.blocked("10.0.0.2", "20010001")
    assert not any(b"2023010001" in key for key in redis_conn.keys("hall:selfreg:*"))
    time.sleep(1.1)  # the window ends
    assert not limiter.blocked("10.0.0.1", "2023010001")
