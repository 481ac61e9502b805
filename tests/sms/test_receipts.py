"""Parsing the vendors' delivery receipts, and refusing anything else."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sms.receipts import (
    ALIYUN_OK,
    MAX_ITEMS,
    TENCENT_OK,
    BadReceipt,
    Receipt,
    parse_aliyun,
    parse_tencent,
)


def aliyun_item(**overrides: object) -> dict[str, object]:
    item: dict[str, object] = {
        "phone_number": "13800138000",
        "send_time": "2017-01-01 11:12:13",
        "report_time": "2017-02-02 22:23:24",
        "success": True,
        "err_code": "DELIVERED",
        "err_msg": "用户接收成功",
        "sms_size": "1",
        "biz_id": "932702304080415357^0",
        "out_id": "msg-1",
    }
    item.update(overrides)
    return item


def tencent_item(**overrides: object) -> dict[str, object]:
    item: dict[str, object] = {
        "user_receive_time": "2015-10-17 08:03:04",
        "nationcode": "86",
        "mobile": "13800138000",
        "report_status": "SUCCESS",
        "errmsg": "DELIVRD",
        "description": "用户短信送达成功",
        "sid": "2019:538884*********",
    }
    item.update(overrides)
    return item


def body(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def test_aliyun_receipts() -> None:
    failed = aliyun_item(
        success=False, err_code="MK:0001", err_msg="用户停机", biz_id="b2", out_id="msg-2"
    )
    receipts = parse_aliyun(body([aliyun_item(), failed]))
    assert receipts == [
        Receipt(
            provider_id="932702304080415357^0",
            out_id="msg-1",
            phone="13800138000",
            delivered=True,
            error="",
            reported_at=datetime(2017, 2, 2, 14, 23, 24, tzinfo=UTC),  # 22:23:24 in Beijing
        ),
        Receipt(
            provider_id="b2",
            out_id="msg-2",
            phone="13800138000",
            delivered=False,
            error="MK:0001: 用户停机",
            reported_at=datetime(2017, 2, 2, 14, 23, 24, tzinfo=UTC),
        ),
    ]
    assert receipts[0].reported_at is not None
    assert receipts[0].reported_at.utcoffset() is not None


def test_aliyun_optional_fields() -> None:
    item = aliyun_item(report_time="", sms_size=2)
    del item["out_id"]
    del item["err_msg"]
    del item["send_time"]
    (receipt,) = parse_aliyun(body([item]))
    assert receipt.out_id == ""
    assert receipt.reported_at is None
    (receipt,) = parse_aliyun(body([aliyun_item(out_id=None)]))
    assert receipt.out_id == ""


def test_tencent_receipts() -> None:
    failed = tencent_item(
        report_status="FAIL", errmsg="MN:0017", description="号码状态异常", sid="s2"
    )
    abroad = tencent_item(nationcode="852", mobile="61234567", sid="s3")
    receipts = parse_tencent(body([tencent_item(), failed, abroad]))
    at = datetime(2015, 10, 17, 0, 3, 4, tzinfo=UTC)  # 08:03:04 in Beijing
    assert [(r.provider_id, r.phone, r.delivered, r.error, r.out_id) for r in receipts] == [
        ("2019:538884*********", "13800138000", True, "", ""),
        ("s2", "13800138000", False, "MN:0017: 号码状态异常", ""),
        ("s3", "+85261234567", True, "", ""),
    ]
    assert [r.reported_at for r in receipts] == [at, at, at]


def test_empty_pushes_are_fine() -> None:
    assert parse_aliyun(b"[]") == []
    assert parse_tencent(b" [ ] ") == []


def test_acknowledgements() -> None:
    assert ALIYUN_OK == {"code": 0, "msg": "接收成功"}
    assert TENCENT_OK == {"result": 0, "errmsg": "OK"}


def _without(item: dict[str, object], key: str) -> dict[str, object]:
    return {k: v for k, v in item.items() if k != key}


SHARED_BAD = [
    pytest.param(b"", id="empty"),
    pytest.param(b"not json", id="not-json"),
    pytest.param(b"\xff\xfe[]", id="not-utf8"),
    pytest.param(b'{"a": 1}', id="object"),
    pytest.param(b'"[]"', id="string"),
    pytest.param(b"null", id="null"),
    pytest.param(b"[1]", id="item-not-object"),
    pytest.param(b"[[]]", id="item-list"),
    pytest.param(b"[NaN]", id="nan"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep-nesting"),
    pytest.param(b"[{}]" + b" " * (3 * 1024 * 1024), id="oversized"),
    pytest.param(body([{}] * (MAX_ITEMS + 1)), id="too-many"),
]

ALIYUN_BAD = [
    *SHARED_BAD,
    pytest.param(body([_without(aliyun_item(), "biz_id")]), id="missing-biz_id"),
    pytest.param(body([_without(aliyun_item(), "success")]), id="missing-success"),
    pytest.param(body([_without(aliyun_item(), "phone_number")]), id="missing-phone"),
    pytest.param(body([_without(aliyun_item(), "report_time")]), id="missing-time"),
    pytest.param(body([aliyun_item(success="true")]), id="success-string"),
    pytest.param(body([aliyun_item(success=1)]), id="success-int"),
    pytest.param(body([aliyun_item(biz_id=12345)]), id="biz_id-number"),
    pytest.param(body([aliyun_item(biz_id="")]), id="biz_id-empty"),
    pytest.param(body([aliyun_item(phone_number=["138"])]), id="phone-list"),
    pytest.param(body([aliyun_item(out_id={"a": 1})]), id="out_id-object"),
    pytest.param(body([aliyun_item(report_time="yesterday")]), id="time-format"),
    pytest.param(body([aliyun_item(report_time="2017-02-30 10:00:00")]), id="time-date"),
    pytest.param(body([aliyun_item(sms_size=True)]), id="size-bool"),
    pytest.param(body([aliyun_item(err_msg="x" * 10_000)]), id="overlong"),
    pytest.param(body([aliyun_item(), "x"]), id="second-item-bad"),
]

TENCENT_BAD = [
    *SHARED_BAD,
    pytest.param(body([_without(tencent_item(), "sid")]), id="missing-sid"),
    pytest.param(body([_without(tencent_item(), "mobile")]), id="missing-mobile"),
    pytest.param(body([_without(tencent_item(), "report_status")]), id="missing-status"),
    pytest.param(body([_without(tencent_item(), "errmsg")]), id="missing-errmsg"),
    pytest.param(body([_without(tencent_item(), "user_receive_time")]), id="missing-time"),
    pytest.param(body([tencent_item(report_status="DELIVERED")]), id="status-unknown"),
    pytest.param(body([tencent_item(report_status=True)]), id="status-bool"),
    pytest.param(body([tencent_item(mobile=13800138000)]), id="mobile-number"),
    pytest.param(body([tencent_item(sid=None)]), id="sid-null"),
    pytest.param(body([tencent_item(user_receive_time="2015/10/17 08:03:04")]), id="time"),
    pytest.param(body([tencent_item(nationcode=86)]), id="nationcode-number"),
]


@pytest.mark.parametrize("raw", ALIYUN_BAD)
def test_bad_aliyun_bodies(raw: bytes) -> None:
    with pytest.raises(BadReceipt) as caught:
        parse_aliyun(raw)
    assert str(caught.value)


@pytest.mark.parametrize("raw", TENCENT_BAD)
def test_bad_tencent_bodies(raw: bytes) -> None:
    with pytest.raises(BadReceipt) as caught:
        parse_tencent(raw)
    assert str(caught.value)


def test_messages_say_what_is_wrong() -> None:
    with pytest.raises(BadReceipt, match=r"item 0: missing 'biz_id'"):
        parse_aliyun(body([_without(aliyun_item(), "biz_id")]))
    with pytest.raises(BadReceipt, match=r"item 1: 'success' must be true or false"):
        parse_aliyun(body([aliyun_item(), aliyun_item(success="yes")]))
    with pytest.raises(BadReceipt, match="not JSON"):
        parse_tencent(b"<xml/>")
    with pytest.raises(BadReceipt, match="JSON array"):
        parse_tencent(b"{}")
    with pytest.raises(BadReceipt, match=f"more than {MAX_ITEMS}"):
        parse_tencent(body([tencent_item()] * (MAX_ITEMS + 1)))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
# Items that look like receipts, with any key possibly missing or of any type.
_ALIYUN_LIKE = st.dictionaries(st.sampled_from(sorted(aliyun_item())), _JSON) | st.builds(
    aliyun_item
)
_TENCENT_LIKE = st.dictionaries(st.sampled_from(sorted(tencent_item())), _JSON) | st.builds(
    tencent_item
)


@given(raw=st.binary(max_size=200) | st.lists(_JSON | _ALIYUN_LIKE, max_size=4).map(body))
def test_aliyun_raises_only_bad_receipt(raw: bytes) -> None:
    try:
        receipts = parse_aliyun(raw)
    except BadReceipt:
        return
    assert all(isinstance(receipt, Receipt) for receipt in receipts)


@given(raw=st.binary(max_size=200) | st.lists(_JSON | _TENCENT_LIKE, max_size=4).map(body))
def test_tencent_raises_only_bad_receipt(raw: bytes) -> None:
    try:
        receipts = parse_tencent(raw)
    except BadReceipt:
        return
    assert all(isinstance(receipt, Receipt) for receipt in receipts)
