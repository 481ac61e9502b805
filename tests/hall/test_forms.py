"""Form validation: every field type and rule, prefill, and the database references."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pytest

from hall.definitions import FormField
from hall.forms import (
    AttachmentInfo,
    FormCheck,
    SessionReferences,
    applicant_profile,
    idcard_ok,
    prefill,
    validate_form,
)
from hall.models import PersonStatus
from tests import factories


class Known:
    """A References holding its facts in memory (the interface validate_form is given)."""

    def __init__(
        self, userids: set[str] | None = None, files: dict[int, AttachmentInfo] | None = None
    ) -> None:
        self.userids = userids or set()
        self.files = files or {}

    def active_userids(self, userids: Collection[str]) -> set[str]:
        return self.userids & set(userids)

    def attachments(self, ids: Collection[int]) -> dict[int, AttachmentInfo]:
        return {i: self.files[i] for i in ids if i in self.files}


def field(key: str = "f", **kw: Any) -> FormField:
    kw.setdefault("label", "字段")
    kw.setdefault("type", "text")
    return FormField.model_validate({"key": key, **kw})


def check(spec: FormField, value: Any, refs: Known | None = None) -> FormCheck:
    return validate_form([spec], {spec.key: value}, refs or Known())


def error(spec: FormField, value: Any, refs: Known | None = None) -> str | None:
    return check(spec, value, refs).errors.get(spec.key)


def value(spec: FormField, raw: Any, refs: Known | None = None) -> Any:
    result = check(spec, raw, refs)
    assert result.ok, result.errors
    return result.values[spec.key]


def test_text_rules():
    spec = field(min_length=2, max_length=5, pattern=r"[a-z]+", pattern_message="小写字母")
    assert value(spec, "  abc ") == "abc"
    assert error(spec, "a") == "至少2个字"
    assert error(spec, "abcdef") == "不能超过5个字"
    assert error(spec, "ABC") == "小写字母"
    assert error(spec, 12) == "应为文本"
    assert error(field(pattern=r"\d+"), "x") == "格式不正确"


def test_text_and_textarea_have_default_limits():
    assert error(field(), "x" * 501) == "不能超过500个字"
    assert value(field(type="textarea"), "x" * 5000) == "x" * 5000
    assert error(field(type="textarea"), "x" * 10_001) == "不能超过10000个字"


def test_required_and_empty_values():
    spec = field(required=True, label="事由")
    empties: list[Any] = [None, "", "   ", [], {}]
    for empty in empties:
        assert error(spec, empty) == "请填写事由"
    assert validate_form([spec], {}, Known()).errors == {"f": "请填写事由"}
    assert validate_form([spec], {}, Known(), partial=True).ok
    assert validate_form([field()], {}, Known()).values == {}


def test_unknown_fields_and_bad_shapes():
    result = validate_form([field()], {"f": "a", "g": 1}, Known())
    assert result.errors == {"g": "未知字段"}
    assert result.values == {"f": "a"}
    bad: Any = ["not", "a", "mapping"]
    assert validate_form([field()], bad, Known()).errors == {"_form": "表单格式不正确"}
    huge = {"f": "x" * 300_000}
    assert validate_form([field()], huge, Known()).errors == {"_form": "表单内容过大"}


def test_number_rules():
    spec = field(type="number", min=1, max=30, integer=True)
    assert value(spec, 3) == 3
    assert value(spec, "4") == 4
    assert error(spec, 2.5) == "应为整数"
    assert error(spec, 0) == "不能小于1"
    assert error(spec, 31) == "不能大于30"
    assert error(spec, value=True) == "应为数字"
    assert error(spec, "three") == "应为数字"
    assert error(spec, [1]) == "应为数字"
    plain = field(type="number")
    assert value(plain, 2.5) == 2.5
    assert value(plain, "2.5") == 2.5
    assert error(plain, "nan") == "数值超出范围"
    assert error(plain, 1e16) == "数值超出范围"
    assert error(plain, "9" * 50) == "数值超出范围"


def test_date_and_ranges():
    assert value(field(type="date"), "2026-09-01") == "2026-09-01"
    assert error(field(type="date"), "2026-9-1") == "日期格式应为 YYYY-MM-DD"
    assert error(field(type="date"), "2026-02-30") == "日期格式应为 YYYY-MM-DD"
    spec = field(type="date_range", max_days=3)
    assert value(spec, {"start": "2026-09-01", "end": "2026-09-03"}) == {
        "start": "2026-09-01",
        "end": "2026-09-03",
    }
    assert value(spec, ["2026-09-01", "2026-09-01"]) == {"start": "2026-09-01", "end": "2026-09-01"}
    assert error(spec, {"start": "2026-09-01", "end": "2026-09-04"}) == "不能超过3天"
    assert error(spec, {"start": "2026-09-02", "end": "2026-09-01"}) == "结束不能早于开始"
    assert error(spec, {"start": "2026-09-01"}) == "日期格式应为 YYYY-MM-DD"
    assert error(spec, {"from": "2026-09-01", "to": "2026-09-02"}) == "应包含开始和结束"
    assert error(spec, "2026-09-01") == "应包含开始和结束"


def test_datetime_range():
    spec = field(type="datetime_range", max_days=2)
    assert value(spec, {"start": "2026-09-01T08:00", "end": "2026-09-02T18:30:00"}) == {
        "start": "2026-09-01T08:00",
        "end": "2026-09-02T18:30",
    }
    assert (
        error(spec, {"start": "2026-09-01T08:00", "end": "2026-09-01T08:00"}) == "结束必须晚于开始"
    )
    assert error(spec, {"start": "2026-09-01T08:00", "end": "2026-09-03T08:00"}) == "不能超过2天"
    assert error(spec, {"start": "2026-09-01T08:00+08:00", "end": "2026-09-01T09:00"}) == (
        "开始和结束的时区不一致"
    )
    assert error(spec, {"start": "tomorrow", "end": "2026-09-01T09:00"}) == (
        "时间格式应为 YYYY-MM-DDTHH:MM"
    )


def test_choice_and_multichoice():
    options = [
        {"value": "a", "label": "甲"},
        {"value": "b", "label": "乙"},
        {"value": "c", "label": "丙"},
    ]
    one = field(type="choice", options=options)
    assert value(one, "b") == "b"
    assert error(one, "z") == "请从选项中选择"
    assert error(one, ["a"]) == "请从选项中选择"
    many = field(type="multichoice", options=options, max=2)
    assert value(many, ["c", "a"]) == ["a", "c"]  # the spec's order
    assert error(many, ["a", "a"]) == "选项不能重复"
    assert error(many, ["a", "z"]) == "请从选项中选择"
    assert error(many, ["a", "b", "c"]) == "最多选择2项"
    assert error(many, "a") == "请从选项中选择"
    assert error(field(type="multichoice", options=options, min=2), ["a"]) == "至少选择2项"


def test_mobile():
    spec = field(type="mobile")
    assert value(spec, " 13912345678 ") == "13912345678"
    for bad in ("12912345678", "1391234567", "139123456789", "+8613912345678", 13912345678):
        assert error(spec, bad) == "请填写11位手机号码"


def test_idcard_check_digit():
    assert idcard_ok("11010519491231002X")
    assert idcard_ok("110101199003074477")
    assert not idcard_ok("110101199003074478")  # wrong check digit
    assert not idcard_ok("110101199002304475")  # no 30 February
    assert not idcard_ok("11010119900307447")  # 17 characters
    spec = field(type="idcard")
    assert value(spec, "11010519491231002x") == "11010519491231002X"
    assert error(spec, "110101199003074478") == "身份证号码不正确"
    assert error(spec, 110101199003074477) == "请填写18位身份证号码"


def test_attachments():
    files = {
        1: AttachmentInfo(1, "a.pdf", 1024),
        2: AttachmentInfo(2, "b.PDF", 3 * 1024 * 1024),
        3: AttachmentInfo(3, "c.exe", 10),
        4: AttachmentInfo(4, "noext", 10),
    }
    refs = Known(files=files)
    spec = field(type="attachment", max_files=2, max_size_mb=2, accept=["pdf"])
    assert value(spec, [1], refs) == [1]
    assert error(spec, [2], refs) == "b.PDF 超过2MB"
    assert error(spec, [3], refs) == "c.exe 的类型不允许，请上传 pdf"
    assert error(spec, [4], refs) == "noext 的类型不允许，请上传 pdf"
    assert error(spec, [1, 1], refs) == "附件不能重复"
    assert error(spec, [1, 3, 4], refs) == "最多上传2个文件"
    assert error(spec, [9], refs) == "附件不存在或不可用"
    assert error(spec, ["1"], refs) == "附件格式不正确"
    assert error(spec, [True], refs) == "附件格式不正确"
    assert error(spec, 1, refs) == "附件格式不正确"
    assert value(field(type="attachment"), [3, 4], refs) == [3, 4]  # no accept list


def test_person():
    refs = Known(userids={"T001"})
    spec = field(type="person")
    assert value(spec, "T001", refs) == "T001"
    assert error(spec, "T999", refs) == "人员不存在"
    assert error(spec, 1, refs) == "请选择人员"
    assert error(spec, "x" * 65, refs) == "请选择人员"


def test_every_error_is_reported_at_once():
    fields = [field("a", required=True, label="甲"), field("b", type="number"), field("c")]
    result = validate_form(fields, {"b": "x", "c": "ok", "d": 1}, Known())
    assert result.errors == {"a": "请填写甲", "b": "应为数字", "d": "未知字段"}
    assert result.values == {"c": "ok"}


def test_prefill_from_profile_and_defaults(session):
    dept = factories.department(session, "软件学院")
    who = factories.person(
        session, "林同学", kind="student", dept=dept, profile={"major": "软件工程"}
    )
    profile = applicant_profile(who)
    assert profile["department"] == "软件学院"
    assert profile["kind"] == "student"
    fields = [
        field("mobile", type="mobile", prefill="mobile"),
        field("major", prefill="profile.major"),
        field("grade", prefill="profile.grade"),
        field("copies", type="number", default=1),
    ]
    filled = prefill(fields, {"mobile": "13800000000"}, profile)
    assert filled == {"mobile": "13800000000", "major": "软件工程", "copies": 1}
    assert prefill(fields, {"mobile": ""}, profile)["mobile"] == who.mobile


def test_session_references_only_offer_the_actors_free_files(session):
    dept = factories.department(session)
    me = factories.person(session, "我", dept=dept, userid="me")
    gone = factories.person(session, "离职", dept=dept, userid="gone")
    gone.status = PersonStatus.INACTIVE
    other = factories.person(session, "他", dept=dept)
    mine = factories.attachment(session, me)
    theirs = factories.attachment(session, other)
    refs = SessionReferences(session, me.id)
    assert set(refs.attachments([mine.id, theirs.id])) == {mine.id}
    assert refs.active_userids(["me", "gone", "nobody"]) == {"me"}
    assert refs.active_userids([]) == set()
    assert refs.attachments([]) == {}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" 7 ", 7), ("7.0", 7), (7.0, 7.0), (-3, -3)],
)
def test_number_normalisation(raw, expected):
    assert value(field(type="number"), raw) == expected
