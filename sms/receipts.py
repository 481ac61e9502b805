"""Delivery receipts (状态报告) the SMS vendors push to the hall.

Aliyun POSTs a JSON array of `{phone_number, send_time, report_time, success, err_code,
err_msg, sms_size, biz_id, out_id}` and wants `ALIYUN_OK` back; Tencent Cloud POSTs a JSON
array of `{user_receive_time, nationcode, mobile, report_status, errmsg, description, sid}`
and wants `TENCENT_OK`. The vendors' times are Beijing time without a zone
("2017-02-02 11:20:22"); receipts carry them as aware UTC datetimes.

The body comes from the network: anything that is not exactly that shape (not UTF-8 JSON,
not an array, too many items, a missing key, a wrong type, an overlong value) raises
`BadReceipt`, and nothing else is raised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

ALIYUN_OK = {"code": 0, "msg": "接收成功"}
TENCENT_OK = {"result": 0, "errmsg": "OK"}

MAX_ITEMS = 1000  # per push; the vendors batch far fewer
MAX_BODY = 2 * 1024 * 1024  # bytes
MAX_FIELD = 512  # characters in any one string value
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")  # no DST since 1991
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class BadReceipt(ValueError):
    """A receipt body the hall does not accept; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """The vendor's final word on one message."""

    provider_id: str  # Aliyun biz_id, Tencent sid: `Sent.provider_id`
    out_id: str  # our id echoed back (Aliyun only; "" for Tencent)
    phone: str  # 11 digits for mainland numbers, else "+<country><number>"
    delivered: bool
    error: str  # the vendor's failure code and text; "" when delivered
    reported_at: datetime | None  # UTC: when the handset (or carrier) reported


def parse_aliyun(body: bytes) -> list[Receipt]:
    """Aliyun's SmsReport push."""
    receipts = []
    for index, item in enumerate(_items(body)):
        fields = _Fields(item, index)
        delivered = fields.boolean("success")
        code = fields.text("err_code")
        message = fields.text("err_msg", required=False)
        fields.text("send_time", required=False)
        fields.text("sms_size", required=False, numeric=True)
        receipts.append(
            Receipt(
                provider_id=fields.text("biz_id", nonempty=True),
                out_id=fields.text("out_id", required=False),
                phone=fields.text("phone_number", nonempty=True),
                delivered=delivered,
                error="" if delivered else _join(code, message),
                reported_at=fields.time("report_time"),
            )
        )
    return receipts


def parse_tencent(body: bytes) -> list[Receipt]:
    """Tencent Cloud's delivery-status callback."""
    receipts = []
    for index, item in enumerate(_items(body)):
        fields = _Fields(item, index)
        status = fields.text("report_status")
        if status not in {"SUCCESS", "FAIL"}:
            raise BadReceipt(f"item {index}: report_status must be SUCCESS or FAIL")
        delivered = status == "SUCCESS"
        code = fields.text("errmsg")  # "DELIVRD" when delivered
        description = fields.text("description", required=False)
        nation = fields.text("nationcode", required=False) or "86"
        mobile = fields.text("mobile", nonempty=True)
        receipts.append(
            Receipt(
                provider_id=fields.text("sid", nonempty=True),
                out_id="",
                phone=mobile if nation == "86" else f"+{nation}{mobile}",
                delivered=delivered,
                error="" if delivered else _join(code, description),
                reported_at=fields.time("user_receive_time"),
            )
        )
    return receipts


def _items(body: bytes) -> list[dict[str, Any]]:
    if not isinstance(body, bytes | bytearray):
        raise BadReceipt("the body must be bytes")
    if len(body) > MAX_BODY:
        raise BadReceipt(f"body over {MAX_BODY} bytes")
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise BadReceipt("the body is not UTF-8") from None
    except RecursionError:
        raise BadReceipt("the body nests too deeply") from None
    except ValueError as exc:
        raise BadReceipt(f"the body is not JSON: {exc}") from None
    if not isinstance(value, list):
        raise BadReceipt("the body must be a JSON array")
    if len(value) > MAX_ITEMS:
        raise BadReceipt(f"more than {MAX_ITEMS} receipts in one push")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise BadReceipt(f"item {index}: must be a JSON object")
    return value


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


class _Fields:
    """Typed access to one receipt object's fields, raising `BadReceipt` for bad ones."""

    def __init__(self, item: dict[str, Any], index: int) -> None:
        self.item = item
        self.index = index

    def _get(self, key: str, *, required: bool) -> object:
        if key not in self.item:
            if required:
                raise BadReceipt(f"item {self.index}: missing {key!r}")
            return None
        return self.item[key]

    def text(
        self, key: str, *, required: bool = True, nonempty: bool = False, numeric: bool = False
    ) -> str:
        value = self._get(key, required=required)
        if value is None and not required:
            return ""
        if numeric and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # sms_size: documented as a string, sometimes a number
        if not isinstance(value, str):
            raise BadReceipt(f"item {self.index}: {key!r} must be a string")
        if len(value) > MAX_FIELD:
            raise BadReceipt(f"item {self.index}: {key!r} is longer than {MAX_FIELD}")
        if nonempty and not value.strip():
            raise BadReceipt(f"item {self.index}: {key!r} is empty")
        return value

    def boolean(self, key: str) -> bool:
        value = self._get(key, required=True)
        if not isinstance(value, bool):
            raise BadReceipt(f"item {self.index}: {key!r} must be true or false")
        return value

    def time(self, key: str) -> datetime | None:
        """A Beijing-time string as UTC; None when the vendor left it empty."""
        value = self.text(key).strip()
        if not value:
            return None
        try:
            local = datetime.strptime(value, _TIME_FORMAT)
        except ValueError:
            raise BadReceipt(
                f"item {self.index}: {key!r} must look like 2017-02-02 11:20:22"
            ) from None
        return local.replace(tzinfo=BEIJING).astimezone(UTC)


def _join(code: str, text: str) -> str:
    return ": ".join(part for part in (code.strip(), text.strip()) if part)
