"""CodeBook (sms/codes.py) against a real Redis: single-use HMAC-stored codes, the try
budget, and the per-phone / per-address send limits counted in one Lua call."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from typing import Any

import pytest
import redis

from sms.codes import (
    CODE_TTL,
    LIMITS,
    MAX_ATTEMPTS,
    PREFIX,
    CodeBook,
    CodeRefused,
    CodeRejected,
    Limit,
)

SECRET = "test-code-secret"
PHONE = "13800138000"
OTHER_PHONE = "13900139000"
ADDRESS = "203.0.113.7"


@pytest.fixture
def book(redis_conn: redis.Redis) -> CodeBook:
    return CodeBook(redis_conn, SECRET)


def limit_key(limit: Limit, phone: str, address: str) -> str:
    """The counter of `limit`, named as CodeBook.issue names it."""
    who = phone if limit.scope == "phone" else address
    return f"{PREFIX}limit:{limit.scope}:{limit.seconds}:{who}"


def the_limit(scope: str, seconds: int) -> Limit:
    (limit,) = [x for x in LIMITS if x.scope == scope and x.seconds == seconds]
    return limit


MINUTE = the_limit("phone", 60)
HOUR = the_limit("phone", 3600)
DAY = the_limit("phone", 86400)
PER_ADDRESS = the_limit("ip", 3600)


def open_minute(conn: redis.Redis, phone: str = PHONE, address: str = ADDRESS) -> None:
    """Pretend the one-a-minute window has passed (the counter must exist to be deleted)."""
    assert conn.delete(limit_key(MINUTE, phone, address)) == 1


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def as_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def rejected(book: CodeBook, phone: str, code: str) -> CodeRejected:
    with pytest.raises(CodeRejected) as caught:
        book.check(phone, code)
    return caught.value


def refused(book: CodeBook, phone: str = PHONE, address: str = ADDRESS) -> CodeRefused:
    with pytest.raises(CodeRefused) as caught:
        book.issue(phone, address)
    return caught.value


# --- codes ----------------------------------------------------------------------------


def test_code_is_six_digits_and_checks_once(book: CodeBook) -> None:
    code = book.issue(PHONE, ADDRESS)
    assert re.fullmatch(r"\d{6}", code)

    book.check(PHONE, code)  # accepted: returns without raising

    again = rejected(book, PHONE, code)
    assert again.reason == CodeRejected.EXPIRED


def test_every_code_is_six_digits(book: CodeBook) -> None:
    codes = [book.issue(f"1380000{i:04d}", f"198.51.100.{i}") for i in range(30)]
    assert all(re.fullmatch(r"\d{6}", code) for code in codes)
    assert len(set(codes)) > 1  # random, not a constant


def test_check_on_a_phone_never_issued_is_expired(book: CodeBook) -> None:
    error = rejected(book, PHONE, "123456")
    assert error.reason == CodeRejected.EXPIRED
    assert error.left == 0


def test_whitespace_around_the_entered_code_is_tolerated(book: CodeBook) -> None:
    code = book.issue(PHONE, ADDRESS)
    book.check(PHONE, f"  {code}\n")
    assert rejected(book, PHONE, code).reason == CodeRejected.EXPIRED


def test_code_is_bound_to_its_phone(book: CodeBook) -> None:
    code = book.issue(PHONE, ADDRESS)
    other = book.issue(OTHER_PHONE, ADDRESS)
    assert code != other  # a one-in-a-million coincidence would fail here
    assert rejected(book, OTHER_PHONE, code).reason == CodeRejected.WRONG
    book.check(PHONE, code)
    book.check(OTHER_PHONE, other)


def test_wrong_codes_count_down_then_lock(book: CodeBook, redis_conn: redis.Redis) -> None:
    code = book.issue(PHONE, ADDRESS)
    bad = wrong(code)

    lefts = []
    for _ in range(MAX_ATTEMPTS - 1):
        error = rejected(book, PHONE, bad)
        assert error.reason == CodeRejected.WRONG
        lefts.append(error.left)
    assert lefts == [4, 3, 2, 1]

    fifth = rejected(book, PHONE, bad)
    assert fifth.reason == CodeRejected.EXPIRED
    assert redis_conn.exists(f"{PREFIX}code:{PHONE}") == 0

    # Locked: even the right code no longer works.
    assert rejected(book, PHONE, code).reason == CodeRejected.EXPIRED


def test_a_right_code_after_some_wrong_ones_still_works(book: CodeBook) -> None:
    code = book.issue(PHONE, ADDRESS)
    for left in (4, 3):
        assert rejected(book, PHONE, wrong(code)).left == left
    book.check(PHONE, code)
    assert rejected(book, PHONE, code).reason == CodeRejected.EXPIRED


def test_wrong_tries_do_not_revive_a_used_code(book: CodeBook, redis_conn: redis.Redis) -> None:
    code = book.issue(PHONE, ADDRESS)
    book.check(PHONE, code)
    assert rejected(book, PHONE, wrong(code)).reason == CodeRejected.EXPIRED
    assert redis_conn.exists(f"{PREFIX}code:{PHONE}") == 0


def test_a_new_issue_replaces_the_previous_code(book: CodeBook, redis_conn: redis.Redis) -> None:
    first = book.issue(PHONE, ADDRESS)
    rejected(book, PHONE, wrong(first))  # one try used on the first code
    open_minute(redis_conn)
    second = book.issue(PHONE, ADDRESS)
    assert first != second  # a one-in-a-million coincidence would fail here

    old = rejected(book, PHONE, first)
    assert old.reason == CodeRejected.WRONG
    assert old.left == MAX_ATTEMPTS - 1  # the try budget started over with the new code
    book.check(PHONE, second)


def test_another_secret_cannot_check_the_code(redis_conn: redis.Redis) -> None:
    code = CodeBook(redis_conn, SECRET).issue(PHONE, ADDRESS)
    other = CodeBook(redis_conn, "another-secret")
    assert rejected(other, PHONE, code).reason == CodeRejected.WRONG
    CodeBook(redis_conn, SECRET).check(PHONE, code)


def test_redis_holds_no_plaintext_code(book: CodeBook, redis_conn: redis.Redis) -> None:
    code = book.issue(PHONE, ADDRESS)
    digest = hmac.new(SECRET.encode(), f"{PHONE}:{code}".encode(), hashlib.sha256).hexdigest()

    seen: list[str] = []
    for raw_key in redis_conn.scan_iter(match="*"):
        key = as_text(raw_key)
        seen.append(key)
        kind = as_text(redis_conn.type(raw_key))
        values: list[str]
        if kind == "hash":
            stored_hash: dict[Any, Any] = redis_conn.hgetall(raw_key)
            values = [as_text(part) for pair in stored_hash.items() for part in pair]
        elif kind == "string":
            values = [as_text(redis_conn.get(raw_key))]
        else:
            values = [repr(redis_conn.dump(raw_key))]
        # Keys name the phone and the address, never the code.
        assert code not in key.replace(PHONE, "").replace(ADDRESS, ""), key
        for value in values:
            assert value != code, key
            # A hex HMAC could contain six given digits by chance; that is the digest only.
            assert code not in value or value == digest, (key, value)

    code_key = f"{PREFIX}code:{PHONE}"
    assert code_key in seen
    stored = redis_conn.hgetall(code_key)
    assert stored == {b"digest": digest.encode(), b"tries": b"0"}


def test_code_key_lives_five_minutes(book: CodeBook, redis_conn: redis.Redis) -> None:
    book.issue(PHONE, ADDRESS)
    ttl = int(redis_conn.ttl(f"{PREFIX}code:{PHONE}"))
    assert CODE_TTL == 300
    assert 295 <= ttl <= 300


def test_an_expired_code_is_rejected(book: CodeBook, redis_conn: redis.Redis) -> None:
    code = book.issue(PHONE, ADDRESS)
    # What Redis does at the TTL: the key goes away.
    assert redis_conn.pexpire(f"{PREFIX}code:{PHONE}", 1)
    time.sleep(0.05)
    assert rejected(book, PHONE, code).reason == CodeRejected.EXPIRED


# --- limits ---------------------------------------------------------------------------


def test_limits_are_the_documented_ones() -> None:
    assert {(x.scope, x.count, x.seconds) for x in LIMITS} == {
        ("phone", 1, 60),
        ("phone", 5, 3600),
        ("phone", 10, 86400),
        ("ip", 20, 3600),
    }


def test_issue_counts_in_every_limit(book: CodeBook, redis_conn: redis.Redis) -> None:
    book.issue(PHONE, ADDRESS)
    for limit in LIMITS:
        key = limit_key(limit, PHONE, ADDRESS)
        assert redis_conn.get(key) == b"1", key
        assert 0 < int(redis_conn.ttl(key)) <= limit.seconds, key


def test_second_issue_within_the_minute_is_too_soon(book: CodeBook) -> None:
    book.issue(PHONE, ADDRESS)
    error = refused(book)
    assert error.reason == CodeRefused.TOO_SOON
    assert 1 <= error.retry_after <= 60


def test_too_soon_is_per_phone(book: CodeBook) -> None:
    book.issue(PHONE, ADDRESS)
    other = book.issue(OTHER_PHONE, ADDRESS)
    book.check(OTHER_PHONE, other)


def test_sixth_in_an_hour_is_too_many(book: CodeBook, redis_conn: redis.Redis) -> None:
    for _ in range(HOUR.count):
        book.issue(PHONE, ADDRESS)
        open_minute(redis_conn)
    error = refused(book)
    assert error.reason == CodeRefused.TOO_MANY
    assert HOUR.seconds - 60 <= error.retry_after <= HOUR.seconds


def test_eleventh_in_a_day_is_too_many(book: CodeBook, redis_conn: redis.Redis) -> None:
    for _ in range(DAY.count):
        book.issue(PHONE, ADDRESS)
        open_minute(redis_conn)
        redis_conn.delete(limit_key(HOUR, PHONE, ADDRESS))  # an hour passes too
    error = refused(book)
    assert error.reason == CodeRefused.TOO_MANY
    assert DAY.seconds - 60 <= error.retry_after <= DAY.seconds


def test_twenty_first_phone_from_one_address_is_busy(book: CodeBook) -> None:
    phones = [f"1370000{i:04d}" for i in range(PER_ADDRESS.count + 1)]
    for phone in phones[:-1]:
        book.issue(phone, ADDRESS)
    error = refused(book, phones[-1], ADDRESS)
    assert error.reason == CodeRefused.BUSY_ADDRESS
    assert PER_ADDRESS.seconds - 60 <= error.retry_after <= PER_ADDRESS.seconds
    # Another address is not held back for it.
    book.issue(phones[-1], "198.51.100.1")


def test_refused_attempts_use_up_no_allowance(book: CodeBook, redis_conn: redis.Redis) -> None:
    book.issue(PHONE, ADDRESS)
    for _ in range(10):
        assert refused(book).reason == CodeRefused.TOO_SOON
    for limit in LIMITS:
        assert redis_conn.get(limit_key(limit, PHONE, ADDRESS)) == b"1", limit

    # So the hour still has its four other codes.
    for _ in range(HOUR.count - 1):
        open_minute(redis_conn)
        book.issue(PHONE, ADDRESS)
    open_minute(redis_conn)
    assert refused(book).reason == CodeRefused.TOO_MANY
    assert redis_conn.get(limit_key(HOUR, PHONE, ADDRESS)) == b"5"


def test_busy_address_refusals_use_up_no_phone_allowance(
    book: CodeBook, redis_conn: redis.Redis
) -> None:
    for i in range(PER_ADDRESS.count):
        book.issue(f"1370000{i:04d}", ADDRESS)
    assert refused(book, PHONE, ADDRESS).reason == CodeRefused.BUSY_ADDRESS
    for limit in LIMITS:
        if limit.scope == "phone":
            assert redis_conn.get(limit_key(limit, PHONE, ADDRESS)) is None
    # The phone's first code of the minute is still there, from elsewhere.
    book.issue(PHONE, "198.51.100.1")


def test_a_refused_issue_leaves_the_previous_code_valid(book: CodeBook) -> None:
    code = book.issue(PHONE, ADDRESS)
    assert refused(book).reason == CodeRefused.TOO_SOON
    book.check(PHONE, code)


def test_concurrent_issues_for_one_phone_give_exactly_one_code(book: CodeBook) -> None:
    workers = 10
    barrier = threading.Barrier(workers)
    codes: list[str] = []
    refusals: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def issue(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            code = book.issue(PHONE, f"192.0.2.{n}")
        except CodeRefused as exc:
            with lock:
                refusals.append(exc.reason)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                codes.append(code)

    threads = [threading.Thread(target=issue, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(codes) == 1
    assert refusals == [CodeRefused.TOO_SOON] * (workers - 1)
    book.check(PHONE, codes[0])


def test_concurrent_checks_of_the_right_code_let_one_through(book: CodeBook) -> None:
    code = book.issue(PHONE, ADDRESS)
    workers = 8
    barrier = threading.Barrier(workers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def check() -> None:
        barrier.wait(timeout=10)
        try:
            book.check(PHONE, code)
        except CodeRejected as exc:
            outcome = exc.reason
        else:
            outcome = "accepted"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=check) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["accepted"] + [CodeRejected.EXPIRED] * (workers - 1)


def test_a_burst_of_parallel_guesses_gets_five_tries_in_all(book: CodeBook) -> None:
    code = book.issue(PHONE, ADDRESS)
    guesses = [f"{(int(code) + n) % 1_000_000:06d}" for n in range(1, 31)]  # 30, all wrong
    barrier = threading.Barrier(len(guesses))
    outcomes: list[str] = []
    lock = threading.Lock()

    def guess(value: str) -> None:
        barrier.wait(timeout=10)
        try:
            book.check(PHONE, value)
        except CodeRejected as exc:
            with lock:
                outcomes.append(exc.reason)

    threads = [threading.Thread(target=guess, args=(g,)) for g in guesses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Counted one by one inside Redis: four "wrong" answers, then the code is gone.
    assert outcomes.count(CodeRejected.WRONG) == MAX_ATTEMPTS - 1
    assert outcomes.count(CodeRejected.EXPIRED) == len(guesses) - (MAX_ATTEMPTS - 1)
    assert rejected(book, PHONE, code).reason == CodeRejected.EXPIRED
