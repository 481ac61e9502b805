"""The SMS channel against the sandbox gateway over real HTTP: sign-in codes and off-campus
results reach the phone once, logged; refusals are logged and not retried, rate limits wait,
outages retry, and school members are never texted."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal

import pytest
import redis
import requests
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from config import Settings, load_settings
from hall import deliveries, invitations
from hall.channels import ChannelError, ChannelRegistry, Deferred, PermanentError, Refused
from hall.clock import SystemClock, utcnow
from hall.db import Database
from hall.engine import SCHOOL_TZ
from hall.models import Delivery, DeliveryStatus, Invitation, Outbox, Person, PersonKind
from hall.outbox import Kind
from hall.services import Decision, Hall
from sms import sandbox
from sms.models import SmsMessage, SmsPurpose, SmsStatus
from sms.vendor_sandbox import endpoint
from tests import factories
from tests.web_views.helpers import pending_task
from web.sms_channel import PENDING_CODE, SmsChannel, queue_code

FORM_PHONE = "13877310002"
ACCOUNT_PHONE = "13877310001"


@dataclass
class Gateway:
    settings: Settings
    store: sandbox.SmsSandboxStore
    base: str


@pytest.fixture
def gateway(redis_conn: redis.Redis, tmp_path: Path) -> Iterator[Gateway]:
    app = Flask("sms-sandbox-test")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    settings = load_settings(
        sandbox=True,
        base_url=base,
        var_dir=tmp_path,
        secret_key="test",
        redis_url="",
        # what the vendor emulations accept (the default provider is still the sandbox's)
        sms_template_code="SMS_100001",
        sms_template_result="SMS_100002",
        sms_template_invite="SMS_100003",
        sms_access_key_id="LTAItest",
        sms_access_key_secret="aliyun-secret",
        sms_secret_id="AKIDtest",
        sms_secret_key="tencent-secret",
        sms_sdk_app_id="1400000001",
    )
    app.extensions["hall.settings"] = settings
    app.extensions["hall.redis"] = redis_conn
    sandbox.init_app(app)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Gateway(settings, sandbox.sandbox_store(app), base)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def channel(gateway: Gateway, redis_conn: redis.Redis) -> SmsChannel:
    return SmsChannel(gateway.settings, redis_conn)


@dataclass
class Case:
    alumnus: Person
    staff: Person
    archivist: Person
    offcampus_key: str
    staff_key: str


@pytest.fixture
def case(session: Session) -> Case:
    dept = factories.department(session, "档案馆", code="ARCH")
    archivist = factories.person(session, "档案员", dept=dept, userid="archivist")
    alumnus = factories.person(
        session,
        "丁翔",
        kind=PersonKind.OFFCAMPUS,
        userid="oc" + ACCOUNT_PHONE,
        mobile=ACCOUNT_PHONE,
    )
    staff = factories.person(session, "李老师", dept=dept, userid="t1")
    flow = [
        {
            "key": "check",
            "name": "档案馆审核",
            "approver": {"type": "persons", "userids": ["archivist"]},
        }
    ]
    offcampus = factories.simple_spec(
        "ARCH",
        name="档案查询预约",
        audience=["offcampus"],
        form=[
            {"key": "mobile", "label": "手机号", "type": "mobile", "required": True},
            {"key": "reason", "label": "事由", "type": "text", "required": True},
        ],
        flow=flow,
    )
    inside = factories.simple_spec("ARCH", flow=flow)
    factories.process(session, offcampus)
    factories.process(session, inside)
    session.commit()
    return Case(alumnus, staff, archivist, offcampus["key"], inside["key"])


def _result_row(
    session: Session, db: Database, case: Case, *, who: Person, key: str, form: dict[str, str]
) -> Outbox:
    app_id = Hall(db).submit(who.id, key, form).application_id
    Hall(db).decide(case.archivist.id, pending_task(session, app_id).id, Decision("approve"))
    session.expire_all()
    return session.scalars(
        select(Outbox).where(
            Outbox.kind == Kind.APPLICATION_RESULT, Outbox.application_id == app_id
        )
    ).one()


def test_an_off_campus_result_reaches_the_proved_number_once(
    session: Session, db: Database, case: Case, channel: SmsChannel, gateway: Gateway
) -> None:
    outbox = _result_row(
        session,
        db,
        case,
        who=case.alumnus,
        key=case.offcampus_key,
        form={"mobile": FORM_PHONE, "reason": "查成绩单"},  # another number typed on the form
    )
    assert channel.accepts(outbox)
    channel.send(session, outbox)
    channel.send(session, outbox)  # a retried job: never twice
    inbox = gateway.store.inbox(ACCOUNT_PHONE)
    assert len(inbox) == 1
    app = outbox.application
    assert app is not None
    assert inbox[0]["text"] == (
        f"【网上办事大厅】您申请的档案查询预约已通过，办件编号{app.serial}。"
        f"详情请登录网上办事大厅查看：{gateway.base}/m/{app.id}"
    )
    assert gateway.store.inbox(FORM_PHONE) == []  # the hall never texts an unproved number
    phone_page = requests.get(f"{gateway.base}/_sandbox/sms/?phone={ACCOUNT_PHONE}", timeout=5).text
    assert f'<a href="{gateway.base}/m/{app.id}" target="_blank">' in phone_page  # tappable
    row = session.scalars(select(SmsMessage)).one()
    assert (row.purpose, row.status, row.provider) == (SmsPurpose.RESULT, SmsStatus.SENT, "sandbox")
    assert row.provider_id == inbox[0]["id"]
    assert row.outbox_id == outbox.id
    assert row.sent_at is not None


def test_school_members_are_told_in_wecom_not_by_sms(
    session: Session, db: Database, case: Case, channel: SmsChannel, gateway: Gateway
) -> None:
    outbox = _result_row(
        session, db, case, who=case.staff, key=case.staff_key, form={"reason": "出差"}
    )
    channel.send(session, outbox)
    assert gateway.store.phones() == []
    assert session.scalars(select(SmsMessage)).first() is None


def test_a_code_is_sent_once_and_leaves_redis(
    session: Session, redis_conn: redis.Redis, channel: SmsChannel, gateway: Gateway
) -> None:
    row = queue_code(session, redis_conn, ACCOUNT_PHONE, "246810")
    outbox = session.get(Outbox, row.outbox_id)
    assert outbox is not None
    assert channel.accepts(outbox)
    channel.send(session, outbox)
    channel.send(session, outbox)
    inbox = gateway.store.inbox(ACCOUNT_PHONE)
    assert [m["params"] for m in inbox] == [{"code": "246810"}]
    assert "您的验证码为246810" in inbox[0]["text"]
    assert row.status == SmsStatus.SENT
    assert row.params == {"code": "******"}
    assert redis_conn.get(f"{PENDING_CODE}{row.out_id}") is None


def test_a_code_that_expired_before_sending_is_logged_failed(
    session: Session, redis_conn: redis.Redis, channel: SmsChannel, gateway: Gateway
) -> None:
    row = queue_code(session, redis_conn, ACCOUNT_PHONE, "135791")
    redis_conn.delete(f"{PENDING_CODE}{row.out_id}")
    outbox = session.get(Outbox, row.outbox_id)
    assert outbox is not None
    with pytest.raises(Refused):
        channel.send(session, outbox)
    assert row.status == SmsStatus.FAILED
    assert "expired" in (row.error or "")
    assert gateway.store.inbox(ACCOUNT_PHONE) == []


def test_a_refusal_is_logged_and_not_retried(
    session: Session, redis_conn: redis.Redis, channel: SmsChannel, gateway: Gateway
) -> None:
    gateway.store.set_fault("rejected", 1)
    row = queue_code(session, redis_conn, ACCOUNT_PHONE, "111222")
    outbox = session.get(Outbox, row.outbox_id)
    assert outbox is not None
    with pytest.raises(Refused):  # retrying cannot help: the delivery is dead, the row kept
        channel.send(session, outbox)
    assert row.status == SmsStatus.FAILED
    assert "blacklisted" in (row.error or "")
    assert gateway.store.inbox(ACCOUNT_PHONE) == []


def _status(row: SmsMessage) -> SmsStatus:
    return row.status  # read through a call: mypy would keep the narrowing from before


def test_a_rate_limit_waits_and_an_outage_retries(
    session: Session, redis_conn: redis.Redis, channel: SmsChannel, gateway: Gateway
) -> None:
    row = queue_code(session, redis_conn, ACCOUNT_PHONE, "333444")
    outbox = session.get(Outbox, row.outbox_id)
    assert outbox is not None
    gateway.store.set_fault("rate_limited", 1)
    with pytest.raises(Deferred) as waited:
        channel.send(session, outbox)
    assert waited.value.retry_after == 30
    gateway.store.set_fault("down", 1)
    with pytest.raises(ChannelError) as failed:
        channel.send(session, outbox)
    assert not isinstance(failed.value, PermanentError | Deferred)
    assert row.status == SmsStatus.QUEUED
    channel.send(session, outbox)  # the gateway is back
    assert _status(row) == SmsStatus.SENT
    assert [m["params"]["code"] for m in gateway.store.inbox(ACCOUNT_PHONE)] == ["333444"]


def test_sms_without_a_real_provider_outside_the_sandbox_is_a_permanent_error(
    session: Session, redis_conn: redis.Redis, tmp_path: Path
) -> None:
    settings = load_settings(
        sandbox=False, wecom_corp_id="ww1", var_dir=tmp_path, secret_key="t", redis_url=""
    )
    channel = SmsChannel(settings, redis_conn)
    row = queue_code(session, redis_conn, ACCOUNT_PHONE, "555666")
    outbox = session.get(Outbox, row.outbox_id)
    assert outbox is not None
    with pytest.raises(PermanentError, match="HALL_SMS_PROVIDER"):
        channel.send(session, outbox)
    assert row.status == SmsStatus.FAILED  # said in the log, not 待发送 for ever
    assert "HALL_SMS_PROVIDER" in (row.error or "")


def test_a_refused_delivery_is_dead_and_its_log_row_stays_failed(
    session: Session, db: Database, redis_conn: redis.Redis, gateway: Gateway
) -> None:
    """Through the delivery job: the savepoint keeps the channel's record of the refusal,
    and 投递失败 lists the delivery (it read 已发送 before)."""
    row = queue_code(session, redis_conn, ACCOUNT_PHONE, "121212")
    delivery = Delivery(outbox_id=row.outbox_id, channel="sms", status=DeliveryStatus.QUEUED)
    session.add(delivery)
    session.commit()
    gateway.store.set_fault("rejected", 1)
    registry = ChannelRegistry([SmsChannel(gateway.settings, redis_conn)])
    outcome = deliveries.attempt(db, registry, delivery.id, clock=SystemClock(), max_attempts=5)
    assert outcome == deliveries.Outcome.DEAD
    session.expire_all()
    assert delivery.status == DeliveryStatus.DEAD
    assert "blacklisted" in (delivery.last_error or "")
    assert row.status == SmsStatus.FAILED
    assert "blacklisted" in (row.error or "")
    # The information center retries it (投递失败 → 重试): this time it goes out, once.
    deliveries.retry_delivery(db, delivery.id)
    session.commit()
    session.expire_all()
    delivery.status = DeliveryStatus.QUEUED  # what the relay does with a due retry
    session.commit()
    outcome = deliveries.attempt(db, registry, delivery.id, clock=SystemClock(), max_attempts=5)
    assert outcome == deliveries.Outcome.SENT
    session.expire_all()
    assert _status(row) == SmsStatus.SENT
    assert [m["params"]["code"] for m in gateway.store.inbox(ACCOUNT_PHONE)] == ["121212"]


@pytest.mark.parametrize("vendor", ["aliyun", "tencent"])
def test_the_vendors_sdks_reach_the_same_sandbox_phones(
    session: Session,
    redis_conn: redis.Redis,
    gateway: Gateway,
    vendor: Literal["aliyun", "tencent"],
) -> None:
    settings = gateway.settings.model_copy(
        update={"sms_provider": vendor, "sms_endpoint": endpoint(gateway.base, vendor)}
    )
    channel = SmsChannel(settings, redis_conn)
    row = queue_code(session, redis_conn, ACCOUNT_PHONE, "778899")
    outbox = session.get(Outbox, row.outbox_id)
    assert outbox is not None
    gateway.store.set_fault("rate_limited", 1)  # said in the vendor's own words
    with pytest.raises(Deferred):
        channel.send(session, outbox)
    channel.send(session, outbox)
    inbox = gateway.store.inbox(ACCOUNT_PHONE)
    assert [(m["via"], m["template"], m["params"]) for m in inbox] == [
        (vendor, "code", {"code": "778899"})
    ]
    assert inbox[0]["text"].startswith("【网上办事大厅】您的验证码为778899")
    assert (row.status, row.provider, row.provider_id) == (SmsStatus.SENT, vendor, inbox[0]["id"])


def _invitation_row(session: Session, *, cancel: bool = False) -> tuple[Outbox, int]:
    sec = factories.department(session, "保卫处", code="SEC")
    host = factories.person(session, "周老师", dept=sec, userid="host1")
    factories.process(session, factories.visit_spec(only=True))
    now = utcnow()
    day = (now + timedelta(days=30)).date().isoformat()  # a visit ahead: the link lasts 7 days
    found = invitations.create(
        session,
        now,
        host.id,
        "visit",
        name="来访者",
        phone=FORM_PHONE,
        form={"window": {"start": f"{day}T09:00", "end": f"{day}T17:00"}, "reason": "交流"},
    )
    if cancel:
        invitations.cancel(session, now, host.id, found.id)
    session.flush()
    outbox = session.scalars(select(Outbox).where(Outbox.kind == invitations.INVITE_KIND)).one()
    return outbox, found.id


def test_an_invitation_texts_its_link_once(
    session: Session, channel: SmsChannel, gateway: Gateway
) -> None:
    outbox, invitation_id = _invitation_row(session)
    assert channel.accepts(outbox)
    channel.send(session, outbox)
    channel.send(session, outbox)  # a retried job: never twice
    inbox = gateway.store.inbox(FORM_PHONE)
    assert len(inbox) == 1
    link = f"{gateway.base}/i/{invitations.token(gateway.settings.secret_key, invitation_id)}"
    expires = session.get(Invitation, invitation_id).expires_at.astimezone(SCHOOL_TZ)  # type: ignore[union-attr]
    deadline = f"{expires.month}月{expires.day}日{expires:%H:%M}"  # 7 days on, school time
    assert inbox[0]["text"] == (
        f"【网上办事大厅】周老师邀请您办理访客入校预约，请于{deadline}前点击链接填写：{link}"
    )
    row = session.scalars(select(SmsMessage)).one()
    assert (row.purpose, row.template, row.status) == (
        SmsPurpose.INVITE,
        "invite",
        SmsStatus.SENT,
    )


def test_a_cancelled_invitation_is_not_texted(
    session: Session, channel: SmsChannel, gateway: Gateway
) -> None:
    outbox, _ = _invitation_row(session, cancel=True)
    channel.send(session, outbox)
    assert gateway.store.phones() == []
    assert session.scalars(select(SmsMessage)).first() is None


def test_a_vendor_without_the_invite_template_logs_the_refusal(
    session: Session, redis_conn: redis.Redis, gateway: Gateway
) -> None:
    configured = gateway.settings.model_copy(
        update={"sms_provider": "aliyun", "sms_endpoint": endpoint(gateway.base, "aliyun")}
    )
    unset = configured.model_copy(update={"sms_template_invite": ""})
    outbox, _ = _invitation_row(session)
    with pytest.raises(Refused):  # not retried
        SmsChannel(unset, redis_conn).send(session, outbox)
    row = session.scalars(select(SmsMessage)).one()
    assert row.status == SmsStatus.FAILED
    assert "invite" in (row.error or "")
    assert gateway.store.phones() == []
    # Configured, the retried delivery sends it through the vendor's SDK, on the same row.
    SmsChannel(configured, redis_conn).send(session, outbox)
    inbox = gateway.store.inbox(FORM_PHONE)
    assert [(m["via"], m["template"]) for m in inbox] == [("aliyun", "invite")]
    assert session.scalars(select(SmsMessage)).one() is row
    assert (row.status, row.error) == (SmsStatus.SENT, None)
