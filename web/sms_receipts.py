"""`POST /sms/receipts/<vendor>/<token>`: the SMS vendors' delivery receipts (状态报告).

Configure the vendor's receipt URL as `{HALL_BASE_URL}/sms/receipts/aliyun/{HALL_SMS_RECEIPT_TOKEN}`
(or `/tencent/…`). The vendors sign nothing, so the secret in the path is what tells their
pushes from anyone's; without HALL_SMS_RECEIPT_TOKEN the route does not exist (404). A
receipt marks the logged message (`sms_message`, by the vendor's id) delivered or failed;
receipts for messages the hall does not know are counted and dropped. A malformed body is
answered 400 and changes nothing.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from sqlalchemy import select

from config import Settings
from hall.db import Database
from sms.models import SmsMessage, SmsStatus
from sms.receipts import (
    ALIYUN_OK,
    MAX_BODY,
    TENCENT_OK,
    BadReceipt,
    Receipt,
    parse_aliyun,
    parse_tencent,
)

log = logging.getLogger("hall.sms.receipts")

bp = Blueprint("sms_receipts", __name__)

VENDORS: dict[str, tuple[Callable[[bytes], list[Receipt]], dict[str, object]]] = {
    "aliyun": (parse_aliyun, ALIYUN_OK),
    "tencent": (parse_tencent, TENCENT_OK),
}


def apply(db: Database, vendor: str, receipts: list[Receipt]) -> int:
    """Record `receipts`; returns how many matched a logged message."""
    by_id = {r.provider_id: r for r in receipts if r.provider_id}
    if not by_id:
        return 0
    with db.unit_of_work() as s:
        rows = s.scalars(
            select(SmsMessage).where(
                SmsMessage.provider == vendor, SmsMessage.provider_id.in_(list(by_id))
            )
        ).all()
        for row in rows:
            receipt = by_id[row.provider_id or ""]
            row.status = SmsStatus.DELIVERED if receipt.delivered else SmsStatus.FAILED
            row.error = None if receipt.delivered else (receipt.error or "undelivered")[:2000]
            row.reported_at = receipt.reported_at
        return len(rows)


@bp.post("/sms/receipts/<vendor>/<token>")
def receive(vendor: str, token: str) -> Response:
    settings: Settings = current_app.extensions["hall.settings"]
    expected = settings.sms_receipt_token
    if vendor not in VENDORS or not expected:
        abort(404)
    if not hmac.compare_digest(token.encode(), expected.encode()):  # bytes: any token
        abort(404)
    if (request.content_length or 0) > MAX_BODY:
        return Response("body too large\n", 413, content_type="text/plain")
    parse, ok = VENDORS[vendor]
    try:
        receipts = parse(request.get_data(cache=False)[: MAX_BODY + 1])
    except BadReceipt as exc:
        log.warning("%s receipt refused: %s", vendor, exc)
        return Response(f"bad receipt: {exc}\n", 400, content_type="text/plain")
    matched = apply(current_app.extensions["hall.db"], vendor, receipts)
    log.info("%s receipts: %d, %d matched", vendor, len(receipts), matched)
    return jsonify(ok)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
