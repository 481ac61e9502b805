"""Vendors' delivery receipts: only at the secret URL, only well-formed, and they mark the
logged message delivered or failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from flask import Flask
from sqlalchemy.orm import Session

from config import load_settings
from hall.db import Database
from sms.models import SmsMessage, SmsPurpose, SmsStatus
from web.app import create_app

TOKEN = "receipt-secret-0123456789abcdef-0123456789"


@pytest.fixture
def app(db: Database, redis_conn: redis.Redis, tmp_path: Path) -> Flask:
    settings = load_settings(
        var_dir=tmp_path,
        secret_key="receipts-test",
        database_url=db.engine.url.render_as_string(hide_password=False),
        sandbox=True,
        sms_receipt_token=TOKEN,
    )
    return create_app(settings, database=db, redis=redis_conn)


def _message(session: Session, provider: str, provider_id: str, out_id: str) -> SmsMessage:
    row = SmsMessage(
        phone="13877310001",
        purpose=SmsPurpose.RESULT,
        template="result",
        params={},
        out_id=out_id,
        provider=provider,
        provider_id=provider_id,
        status=SmsStatus.SENT,
    )
    session.add(row)
    session.commit()
    return row


def _aliyun(biz_id: str, *, success: bool) -> bytes:
    return json.dumps(
        [
            {
                "phone_number": "13877310001",
                "send_time": "2026-11-29 20:00:00",
                "report_time": "2026-11-29 20:00:05",
                "success": success,
                "err_code": "DELIVERED" if success else "MK:0001",
                "err_msg": "用户接收成功" if success else "空号",
                "sms_size": "1",
                "biz_id": biz_id,
                "out_id": "o1",
            }
        ]
    ).encode()


def test_an_aliyun_receipt_marks_the_message_delivered(app: Flask, session: Session) -> None:
    row = _message(session, "aliyun", "BIZ1", "o1")
    answer = app.test_client().post(
        f"/sms/receipts/aliyun/{TOKEN}", data=_aliyun("BIZ1", success=True)
    )
    assert answer.status_code == 200
    assert answer.get_json() == {"code": 0, "msg": "接收成功"}
    session.refresh(row)
    assert row.status == SmsStatus.DELIVERED
    assert row.reported_at is not None
    assert row.reported_at.isoformat() == "2026-11-29T12:00:05+00:00"


def test_a_tencent_failure_receipt_marks_the_message_failed(app: Flask, session: Session) -> None:
    row = _message(session, "tencent", "SID-9", "o2")
    body = json.dumps(
        [
            {
                "user_receive_time": "2026-11-29 20:01:00",
                "nationcode": "86",
                "mobile": "13877310001",
                "report_status": "FAIL",
                "errmsg": "MN:0001",
                "description": "用户空号",
                "sid": "SID-9",
            }
        ]
    ).encode()
    answer = app.test_client().post(f"/sms/receipts/tencent/{TOKEN}", data=body)
    assert answer.get_json() == {"result": 0, "errmsg": "OK"}
    session.refresh(row)
    assert row.status == SmsStatus.FAILED
    assert "MN:0001" in (row.error or "")


def test_a_receipt_for_another_vendors_id_changes_nothing(app: Flask, session: Session) -> None:
    row = _message(session, "tencent", "BIZ1", "o3")
    app.test_client().post(f"/sms/receipts/aliyun/{TOKEN}", data=_aliyun("BIZ1", success=True))
    session.refresh(row)
    assert row.status == SmsStatus.SENT


@pytest.mark.parametrize(
    "path",
    [f"/sms/receipts/aliyun/{TOKEN}x", "/sms/receipts/aliyun/", f"/sms/receipts/smpp/{TOKEN}"],
)
def test_a_wrong_url_is_not_found_and_changes_nothing(
    app: Flask, session: Session, path: str
) -> None:
    row = _message(session, "aliyun", "BIZ2", "o4")
    answer = app.test_client().post(path, data=_aliyun("BIZ2", success=False))
    assert answer.status_code == 404
    session.refresh(row)
    assert row.status == SmsStatus.SENT


@pytest.mark.parametrize("body", [b"", b"not json", b"{}", b'[{"biz_id": 1}]', b"[" * 10000])
def test_a_malformed_body_is_refused_and_changes_nothing(
    app: Flask, session: Session, body: bytes
) -> None:
    row = _message(session, "aliyun", "BIZ3", "o5")
    answer = app.test_client().post(f"/sms/receipts/aliyun/{TOKEN}", data=body)
    assert answer.status_code == 400
    session.refresh(row)
    assert row.status == SmsStatus.SENT


def test_without_a_token_configured_there_are_no_receipts(
    db: Database, redis_conn: redis.Redis, tmp_path: Path
) -> None:
    settings = load_settings(var_dir=tmp_path, secret_key="t", sandbox=True)
    app = create_app(settings, database=db, redis=redis_conn)
    assert app.test_client().post("/sms/receipts/aliyun/", data=b"[]").status_code == 404
    assert app.test_client().post("/sms/receipts/aliyun/x", data=b"[]").status_code == 404
