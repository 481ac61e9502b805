"""Deliveries under faults, end to end: the real app on a loopback port with the sandbox
WeCom, the card channel, the relay and an RQ worker, over HTTP — no mocks.

1. Redis down while deciding: the decisions commit, their outbox rows wait, and the cards go
   out exactly once when Redis is back (the callback decides without its dedupe store).
2. WeCom faults (expired or invalid token, -1, 45009, 45033, timeouts, HTTP 500): bounded
   retries inside the client, else RETRY; the relay re-queues when due; one card in the end.
3. The per-member limit (30 messages a minute): 35 cards → 30 now, 5 deferred, then sent.

Time: the relay and the delivery jobs read a FrozenClock; the client's backoff sleeps are
recorded instead of slept; the per-member limiter's clock is Redis's own TIME, so for it "a
minute later" means its window's entries moved a minute back.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import redis
import requests
from flask import Flask
from rq import SimpleWorker
from sqlalchemy import func, select
from werkzeug.serving import BaseWSGIServer, make_server

from cards import LinkBuilder
from config import Settings, load_settings
from hall import jobs
from hall.channels import ChannelRegistry
from hall.clock import FrozenClock
from hall.db import Database
from hall.models import (
    ActionLog,
    Application,
    Delivery,
    DeliveryStatus,
    Outbox,
    OutboxStatus,
    Person,
    Task,
)
from hall.relay import Relay, RelayReport
from hall.services import Decision, Hall
from hall.states import AppStatus, TaskStatus
from tests import factories
from tests.callbacks.wecom_peer import add_member, cards_of
from tests.conftest import REDIS_URL
from tests.net import free_port
from web.app import create_app
from web.wecom_channel import WeComCardChannel
from web.worker import QUEUED_GRACE, build_relay, drain, make_queue
from wework.client import MAX_RETRIES, WeComClient, app_client
from wework.ratelimit import KEY_PREFIX as LIMITER_PREFIX
from wework.ratelimit import PER_MINUTE
from wework.sandbox.delivery import deliver
from wework.sandbox.phone import press_button, say
from wework.sandbox.store import SandboxStore

DEAD_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused
# (connect, read) seconds for the timeout cases only, so that a normal call on a busy test
# machine never times out; the simulator holds a "timeout" call longer than the read.
SHORT_TIMEOUT = (1.0, 0.5)
TIMEOUT_FAULT_SECONDS = 0.8
RATE_LIMIT_WAIT_SECONDS = 60  # wework's retry_after for 45009 / 45033
MAX_ATTEMPTS = 8  # the settings' default


class BurstWorker(SimpleWorker):
    """RQ's SimpleWorker without its remote-command channel: nobody sends commands to a
    burst worker in a test, and stopping that channel's listener costs a second per run."""

    def subscribe(self) -> None:
        pass

    def unsubscribe(self) -> None:
        pass


@dataclass
class Rig:
    settings: Settings
    app: Flask
    db: Database
    store: SandboxStore
    client: WeComClient
    clock: FrozenClock
    relay: Relay
    worker: BurstWorker
    context: jobs.JobContext
    sleeps: list[float]  # the WeCom client's backoff waits, recorded instead of slept

    def work(self) -> None:
        """Relay passes and the worker until a pass finds nothing due now."""
        with jobs.bound(self.context):
            drain(self.relay, self.worker)

    def relay_with_queue_down(self) -> RelayReport:
        """One relay pass whose queue lives on a Redis that does not answer."""
        dead = redis.Redis.from_url(DEAD_REDIS_URL, socket_connect_timeout=0.5)
        try:
            relay = build_relay(self.db, self.context.channels, make_queue(dead), clock=self.clock)
            return relay.run_once()
        finally:
            dead.close()

    @contextmanager
    def app_redis_down(self) -> Iterator[None]:
        """The web process's Redis (the callbacks' dedupe store) stops answering."""
        live = self.app.extensions["hall.redis"]
        dead = redis.Redis.from_url(DEAD_REDIS_URL, socket_connect_timeout=0.5)
        self.app.extensions["hall.redis"] = dead
        try:
            yield
        finally:
            self.app.extensions["hall.redis"] = live
            dead.close()

    def calls(self) -> Counter[str]:
        """The simulator's API call counts, as `/_sandbox/wecom/api/calls` reports them."""
        url = f"{self.settings.base_url}/_sandbox/wecom/api/calls"
        response = requests.get(url, timeout=5)
        response.raise_for_status()
        return Counter({str(k): int(v) for k, v in response.json().items()})


@pytest.fixture
def rig(committed_db: Database, redis_conn: redis.Redis, tmp_path: Path) -> Iterator[Rig]:
    port = free_port()
    settings = load_settings(
        var_dir=tmp_path,
        secret_key="test",
        sandbox=True,
        base_url=f"http://127.0.0.1:{port}",
        redis_url=REDIS_URL,
    )
    app = create_app(settings, database=committed_db, redis=redis_conn)
    # The simulated WeCom keeps its own Redis client: taking the hall's Redis away must not
    # take WeCom down with it.
    app.extensions["wework.sandbox.redis"] = redis_conn
    server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    sleeps: list[float] = []
    client = app_client(settings, redis_conn, sleep=sleeps.append)
    clock = FrozenClock(datetime.now(UTC))
    # The card channel alone: the in-app channel is the database's, and no fault here.
    channels = ChannelRegistry([WeComCardChannel(client, LinkBuilder(settings.base_url), clock)])
    queue = make_queue(redis_conn)
    try:
        yield Rig(
            settings=settings,
            app=app,
            db=committed_db,
            store=SandboxStore(redis_conn, settings),
            client=client,
            clock=clock,
            relay=build_relay(committed_db, channels, queue, clock=clock),
            worker=BurstWorker([queue], connection=redis_conn),
            context=jobs.JobContext(
                db=committed_db, channels=channels, max_attempts=MAX_ATTEMPTS, clock=clock
            ),
            sleeps=sleeps,
        )
    finally:
        client.close()
        server.shutdown()
        thread.join(10)
        server.server_close()


# ----------------------------------------------------------------------- helpers


def _title(message: dict[str, Any]) -> str:
    return str(message["template_card"]["main_title"]["title"])


def _button_task(message: dict[str, Any]) -> int:
    """The hall task a reviewer card's buttons decide (`approve:<task id>`)."""
    return int(message["template_card"]["button_list"][0]["key"].split(":")[1])


@dataclass(frozen=True)
class Row:
    kind: str
    recipient_id: int | None
    status: DeliveryStatus
    attempts: int
    job_id: str | None
    last_error: str | None


def _wecom_deliveries(db: Database) -> list[Row]:
    with db.reader() as s:
        rows = s.execute(
            select(Outbox.kind, Outbox.recipient_id, Delivery)
            .join(Outbox, Outbox.id == Delivery.outbox_id)
            .where(Delivery.channel == "wecom")
            .order_by(Delivery.id)
        ).all()
        return [
            Row(kind, recipient, d.status, d.attempts, d.job_id, d.last_error)
            for kind, recipient, d in rows
        ]


def _statuses(db: Database) -> Counter[DeliveryStatus]:
    return Counter(row.status for row in _wecom_deliveries(db))


@dataclass
class Scene:
    head: Person
    applicant: Person
    process_key: str


def _one_reviewer(rig: Rig) -> Scene:
    """李主任 reviews 张三's applications; both are members of the simulated WeCom."""
    with rig.db.unit_of_work() as s:
        dept = factories.department(s, "计算机学院")
        head = factories.person(s, "李主任", dept=dept, roles=("dept_head",))
        applicant = factories.person(s, "张三", dept=dept)
        key = factories.process(s, factories.simple_spec(dept.code, name="用印申请")).process.key
    for who in (head, applicant):
        add_member(rig.store, who)
    return Scene(head, applicant, key)


# ------------------------------------------------------------ 1. Redis goes away


@pytest.mark.pg_only
def test_redis_down_while_deciding_decisions_commit_and_cards_go_out_once_it_is_back(
    rig: Rig,
) -> None:
    db = rig.db
    with db.unit_of_work() as s:
        dept = factories.department(s, "计算机学院")
        head = factories.person(s, "李主任", dept=dept, roles=("dept_head",))
        dean = factories.person(s, "周院长", dept=dept)
        applicant = factories.person(s, "张三", dept=dept)
        two_steps = factories.simple_spec(
            dept.code,
            name="出差审批",
            flow=[
                {"key": "head", "name": "负责人审批", "approver": {"type": "dept_head"}},
                {
                    "key": "dean",
                    "name": "院长审批",
                    "approver": {"type": "persons", "userids": [dean.userid]},
                },
            ],
        )
        trip_key = factories.process(s, two_steps).process.key
        one_step = factories.simple_spec(dept.code, name="用印申请")
        seal_key = factories.process(s, one_step).process.key
    for who in (head, dean, applicant):
        add_member(rig.store, who)
    hall = Hall(db)
    trip_id = hall.submit(applicant.id, trip_key, {"reason": "出差"}).application_id
    seal_id = hall.submit(applicant.id, seal_key, {"reason": "盖章"}).application_id
    rig.work()
    head_cards = {_title(m): m for m in cards_of(rig.store, head.userid)}
    trip_card, seal_card = head_cards["出差审批"], head_cards["用印申请"]
    before = rig.calls()

    with rig.app_redis_down():
        # 李主任 taps 同意 on one card, and WeCom delivers that callback twice; the web
        # process's Redis (its dedupe store) is unreachable meanwhile.
        trip_task = _button_task(trip_card)
        click = press_button(
            rig.store,
            rig.settings,
            head.userid,
            trip_card["task_id"],
            f"approve:{trip_task}",
            duplicate=True,
        )
        # ... and decides the other application in the web view.
        hall.decide(head.id, _button_task(seal_card), Decision(action="approve"))
        # The decisions' messages wait in the outbox, committed with them.
        with db.reader() as s:
            waiting_rows = s.scalar(
                select(func.count())
                .select_from(Outbox)
                .where(Outbox.status == OutboxStatus.PENDING)
            )
        # The relay's queue is on the same unreachable Redis.
        report = rig.relay_with_queue_down()
        again = rig.relay_with_queue_down()

    # Both callbacks were answered 200 with the relabelled button: decided, not lost.
    assert [a.status for a in click.attempts] == [200, 200]
    assert click.reply_fields["ReplaceName"] == "已同意"
    # The decisions are committed, each exactly once.
    with db.reader() as s:
        assert s.get(Application, seal_id).status == AppStatus.APPROVED  # type: ignore[union-attr]
        assert s.get(Application, trip_id).status == AppStatus.PENDING  # type: ignore[union-attr]
        assert s.get(Task, trip_task).status == TaskStatus.APPROVED  # type: ignore[union-attr]
        dean_task = s.scalars(select(Task).where(Task.assignee_id == dean.id)).one()
        assert dean_task.status == TaskStatus.PENDING
        dean_task_id = dean_task.id
        approvals = select(func.count()).select_from(ActionLog).where(ActionLog.action == "approve")
        assert s.scalar(approvals) == 2
    # The outbox rows were fanned out; their deliveries wait, not on any queue.
    assert report.queue_error is not None
    assert "ConnectionError" in report.queue_error
    assert waiting_rows
    assert report.relayed == waiting_rows
    assert report.enqueued == 0
    assert again.queue_error is not None
    assert again.relayed == 0  # the second pass created no second set of deliveries
    waiting = [r for r in _wecom_deliveries(db) if r.status == DeliveryStatus.QUEUED]
    assert {r.kind for r in waiting} == {"task_assigned", "task_decided", "application_result"}
    assert all(r.job_id is None for r in waiting)
    assert cards_of(rig.store, dean.userid) == []
    assert cards_of(rig.store, applicant.userid) == []
    assert rig.calls() == before  # nothing reached WeCom

    # Redis is back: one relay pass and the worker deliver everything.
    rig.work()
    [dean_card] = cards_of(rig.store, dean.userid)
    assert _title(dean_card) == "出差审批"
    assert _button_task(dean_card) == dean_task_id
    [result] = cards_of(rig.store, applicant.userid)
    assert _title(result) == "您的申请已通过"
    head_views = {_title(m): m["replace_name"] for m in cards_of(rig.store, head.userid)}
    assert head_views == {"出差审批": "已同意", "用印申请": "已同意"}

    # A late WeCom retry of the click, now that Redis answers, replays the decision.
    late = deliver(rig.settings, click.plaintext)
    assert late.reply_fields["ReplaceName"] == "已同意"
    # Later passes, even past the relay's grace for lost jobs, send nothing again.
    rig.work()
    rig.clock.advance(seconds=QUEUED_GRACE.total_seconds() + 60)
    rig.work()
    assert len(cards_of(rig.store, dean.userid)) == 1
    assert len(cards_of(rig.store, applicant.userid)) == 1
    after = rig.calls()
    assert after["message/send"] - before["message/send"] == 2  # dean's card, the result
    assert after["message/update_template_card"] - before["message/update_template_card"] == 1
    assert _statuses(db) == {DeliveryStatus.SENT: len(_wecom_deliveries(db))}
    with db.reader() as s:
        assert s.scalar(approvals) == 2


# ------------------------------------------------------------- 2. WeCom faults


@dataclass(frozen=True)
class Fault:
    kind: str  # SandboxStore.inject's
    times: int  # consecutive message/send calls it hits
    first: DeliveryStatus  # the delivery after the first attempt
    sends: int  # message/send calls the first attempt makes
    tokens: int  # gettoken calls the first attempt makes
    error: str = ""  # in the delivery's last_error when it goes to RETRY


FAULTS = [
    pytest.param(Fault("expire_token", 1, DeliveryStatus.SENT, 2, 1), id="token-expires-mid-run"),
    pytest.param(
        Fault("invalid_token", 2, DeliveryStatus.RETRY, 2, 1, "errcode=40014"),
        id="40014-after-a-refetch",
    ),
    pytest.param(Fault("busy", MAX_RETRIES, DeliveryStatus.SENT, 4, 0), id="-1-then-ok"),
    pytest.param(
        Fault("busy", MAX_RETRIES + 1, DeliveryStatus.RETRY, 4, 0, "errcode=-1"), id="-1-persists"
    ),
    pytest.param(Fault("rate_limit", 1, DeliveryStatus.RETRY, 1, 0, "errcode=45009"), id="45009"),
    pytest.param(Fault("timeout", 1, DeliveryStatus.SENT, 2, 0), id="a-timeout-then-ok"),
    pytest.param(
        Fault("timeout", MAX_RETRIES + 1, DeliveryStatus.RETRY, 4, 0, "Timeout"),
        id="timeouts-persist",
    ),
]


@pytest.mark.pg_only
@pytest.mark.parametrize("fault", FAULTS)
def test_a_wecom_fault_ends_in_exactly_one_card_without_a_loop(rig: Rig, fault: Fault) -> None:
    scene = _one_reviewer(rig)
    rig.client.tokens.get()  # the worker has been running: it holds a token
    before = rig.calls()
    if fault.kind == "timeout":
        rig.client.timeout = SHORT_TIMEOUT
    rig.store.inject(fault.kind, fault.times, path="message/send", seconds=TIMEOUT_FAULT_SECONDS)
    submitted = Hall(rig.db).submit(scene.applicant.id, scene.process_key, {"reason": "盖章"})
    rig.work()

    first = rig.calls()
    assert first["message/send"] - before["message/send"] == fault.sends
    assert first["gettoken"] - before["gettoken"] == fault.tokens
    assert len(rig.sleeps) <= MAX_RETRIES  # the client's own retries are bounded
    [delivery] = _wecom_deliveries(rig.db)
    assert delivery.status == fault.first
    retried = fault.first == DeliveryStatus.RETRY
    if retried:
        assert delivery.attempts == 1
        assert fault.error in (delivery.last_error or "")
        assert cards_of(rig.store, scene.head.userid) == []
        # Not due yet: more passes neither promote it nor call WeCom.
        rig.work()
        assert rig.calls() == first
        assert _wecom_deliveries(rig.db)[0].status == DeliveryStatus.RETRY
        # WeCom has recovered; the backoff (at most 10 s after one failure) or, for a rate
        # limit, the wait WeCom asked for (a minute) has passed.
        rig.clock.advance(seconds=RATE_LIMIT_WAIT_SECONDS + 1)
        rig.work()

    [card] = cards_of(rig.store, scene.head.userid)
    [delivery] = _wecom_deliveries(rig.db)
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.attempts == (1 if retried else 0)
    with rig.db.reader() as s:
        task = s.scalars(select(Task).where(Task.application_id == submitted.application_id)).one()
        assert (task.card_task_id, task.card_response_code) == (
            card["task_id"],
            card["response_code"],
        )
    # Bounded: one more send after recovery, and nothing at all later on.
    rig.clock.advance(minutes=30)
    rig.work()
    last = rig.calls()
    assert last["message/send"] - before["message/send"] == fault.sends + retried
    assert last["gettoken"] - before["gettoken"] == fault.tokens
    assert len(cards_of(rig.store, scene.head.userid)) == 1


# --------------------------------------------------------- 3. per-member limit


def _let_a_minute_pass_for_the_limiter(conn: redis.Redis) -> None:
    """Move every entry of the limiter's sliding windows 61 s into the past."""
    shift = (timedelta(minutes=1) + timedelta(seconds=1)).total_seconds() * 1000
    for key in conn.scan_iter(match=f"{LIMITER_PREFIX}:*"):
        entries = cast("list[tuple[bytes, float]]", conn.zrange(key, 0, -1, withscores=True))
        conn.zadd(key, {member: score - shift for member, score in entries})


@pytest.mark.pg_only
def test_thirty_five_cards_in_a_minute_thirty_now_the_rest_after_the_window(
    rig: Rig, redis_conn: redis.Redis
) -> None:
    scene = _one_reviewer(rig)
    hall = Hall(rig.db)
    for n in range(35):
        hall.submit(scene.applicant.id, scene.process_key, {"reason": f"第{n + 1}件"})
    rig.work()

    assert len(cards_of(rig.store, scene.head.userid)) == PER_MINUTE
    assert _statuses(rig.db) == {DeliveryStatus.SENT: 30, DeliveryStatus.RETRY: 5}
    deferred = [r for r in _wecom_deliveries(rig.db) if r.status == DeliveryStatus.RETRY]
    assert all("per-member message limit" in (r.last_error or "") for r in deferred)
    # The five never reached WeCom, which would have dropped them silently.
    assert rig.calls()["message/send"] == 30

    # Due again (the limiter's wait) while its window still holds them: held back again.
    rig.clock.advance(seconds=RATE_LIMIT_WAIT_SECONDS + 1)
    rig.work()
    assert _statuses(rig.db) == {DeliveryStatus.SENT: 30, DeliveryStatus.RETRY: 5}
    assert rig.calls()["message/send"] == 30

    # The minute is over.
    _let_a_minute_pass_for_the_limiter(redis_conn)
    rig.clock.advance(minutes=1, seconds=1)
    rig.work()
    cards = cards_of(rig.store, scene.head.userid)
    assert len(cards) == 35
    assert len({c["task_id"] for c in cards}) == 35
    assert _statuses(rig.db) == {DeliveryStatus.SENT: 35}
    assert rig.calls()["message/send"] == 35


def test_with_redis_down_a_message_still_gets_the_help_card(rig: Rig) -> None:
    with rig.db.unit_of_work() as s:
        member = factories.person(s, "王老师", dept=factories.department(s, "计算机学院"))
    add_member(rig.store, member)
    with rig.app_redis_down():  # neither the dedupe nor the help-card gap can be kept
        assert say(rig.store, rig.settings, member.userid, "在吗").ok
    rig.work()
    [card] = cards_of(rig.store, member.userid)
    assert card["template_card"]["main_title"]["title"] == "网上办事大厅使用帮助"
