"""Validate a submitted form against a version's form spec.

`validate_form` is a pure function: it returns the cleaned values and per-field errors
(zh_CN messages keyed by field key) and never raises for bad input, so the web view can
show every problem at once. Facts that live in the database (which people are active,
which attachments the actor may use) come in through the small `References` interface;
`SessionReferences` is its database implementation.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from hall.definitions import FieldType, FormField
from hall.models import Attachment, Person, PersonStatus

MOBILE_RE = re.compile(r"^1[3-9]\d{9}$", re.ASCII)  # ASCII: no full-width or other digits
IDCARD_RE = re.compile(r"^\d{17}[\dX]$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

# Limits for values the spec leaves open, so nobody stores a novel in a text box.
TEXT_MAX = 500
TEXTAREA_MAX = 10_000
NUMBER_ABS_MAX = 1e15
FORM_MAX_BYTES = 256 * 1024
MB = 1024 * 1024


@dataclass(frozen=True)
class AttachmentInfo:
    id: int
    filename: str
    size: int


class References(Protocol):
    """What validation needs to know from outside the form."""

    def active_userids(self, userids: Collection[str]) -> set[str]:
        """The subset of `userids` that are active people."""
        ...

    def attachments(self, ids: Collection[int]) -> dict[int, AttachmentInfo]:
        """The attachments among `ids` the actor may attach (uploaded by them, free or ours)."""
        ...


@dataclass
class FormCheck:
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


class SessionReferences:
    """`References` read from the database for one actor (and optionally one application)."""

    def __init__(self, session: Session, actor_id: int, application_id: int | None = None) -> None:
        self.session = session
        self.actor_id = actor_id
        self.application_id = application_id

    def active_userids(self, userids: Collection[str]) -> set[str]:
        if not userids:
            return set()
        rows = self.session.scalars(
            select(Person.userid).where(
                Person.userid.in_(list(userids)), Person.status == PersonStatus.ACTIVE
            )
        )
        return set(rows)

    def attachments(self, ids: Collection[int]) -> dict[int, AttachmentInfo]:
        if not ids:
            return {}
        query = select(Attachment).where(
            Attachment.id.in_(list(ids)), Attachment.uploader_id == self.actor_id
        )
        found = {}
        for row in self.session.scalars(query):
            if row.application_id is None or row.application_id == self.application_id:
                found[row.id] = AttachmentInfo(row.id, row.filename, row.size)
        return found


# ------------------------------------------------------------------ prefill


def applicant_profile(person: Person) -> dict[str, Any]:
    """The PREFILL_SOURCES values of a person."""
    profile = person.profile or {}
    values: dict[str, Any] = {
        "name": person.name,
        "number": person.number,
        "mobile": person.mobile,
        "email": person.email,
        "department": person.department.name if person.department else None,
        "kind": person.kind.value,
        "gender": person.gender,
    }
    for key in ("major", "class", "grade", "level"):
        values[f"profile.{key}"] = profile.get(key)
    return values


def prefill(
    fields: Iterable[FormField], data: Mapping[str, Any], profile: Mapping[str, Any]
) -> dict[str, Any]:
    """`data` with absent fields filled from the profile (`prefill`) or the field's default."""
    result = dict(data)
    for spec in fields:
        if not _is_empty(result.get(spec.key)):
            continue
        value = profile.get(spec.prefill) if spec.prefill else None
        if _is_empty(value):
            value = spec.default
        if not _is_empty(value):
            result[spec.key] = value
    return result


# --------------------------------------------------------------- validation


def validate_form(
    fields: Iterable[FormField],
    data: Mapping[str, Any],
    refs: References,
    *,
    partial: bool = False,
) -> FormCheck:
    """Check `data` against `fields`; `partial` (drafts) skips the required rule only."""
    specs = {f.key: f for f in fields}
    check = FormCheck()
    if not isinstance(data, Mapping):
        check.errors["_form"] = "表单格式不正确"
        return check
    try:
        size = len(json.dumps(data, ensure_ascii=False, default=str).encode())
    except (TypeError, ValueError):
        size = FORM_MAX_BYTES + 1
    if size > FORM_MAX_BYTES:
        check.errors["_form"] = "表单内容过大"
        return check
    for key in data:
        if key not in specs:
            check.errors[str(key)] = "未知字段"
    for key, spec in specs.items():
        raw = data.get(key)
        if _is_empty(raw):
            if spec.required and not partial:
                check.errors[key] = f"请填写{spec.label}"
            continue
        try:
            check.values[key] = _clean(spec, raw, refs)
        except _FieldError as exc:
            check.errors[key] = str(exc)
    return check


class _FieldError(ValueError):
    pass


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict)):
        return len(value) == 0
    return False


def _clean(spec: FormField, raw: Any, refs: References) -> Any:
    cleaner = _CLEANERS[spec.type]
    return cleaner(spec, raw, refs)


def _text(spec: FormField, raw: Any, _refs: References) -> str:
    if not isinstance(raw, str):
        raise _FieldError("应为文本")
    value = raw.strip()
    limit = spec.max_length or (TEXTAREA_MAX if spec.type == FieldType.TEXTAREA else TEXT_MAX)
    if len(value) > limit:
        raise _FieldError(f"不能超过{limit}个字")
    if spec.min_length is not None and len(value) < spec.min_length:
        raise _FieldError(f"至少{spec.min_length}个字")
    if spec.pattern is not None and re.fullmatch(spec.pattern, value) is None:
        raise _FieldError(spec.pattern_message or "格式不正确")
    return value


def _number(spec: FormField, raw: Any, _refs: References) -> int | float:
    if isinstance(raw, bool):
        raise _FieldError("应为数字")
    if isinstance(raw, str):
        try:
            number: float = float(raw.strip()) if len(raw) <= 40 else math.inf
        except ValueError:
            raise _FieldError("应为数字") from None
    elif isinstance(raw, (int, float)):
        number = raw
    else:
        raise _FieldError("应为数字")
    if not math.isfinite(number) or abs(number) > NUMBER_ABS_MAX:
        raise _FieldError("数值超出范围")
    if spec.integer and number != int(number):
        raise _FieldError("应为整数")
    if spec.min is not None and number < spec.min:
        raise _FieldError(f"不能小于{_show(spec.min)}")
    if spec.max is not None and number > spec.max:
        raise _FieldError(f"不能大于{_show(spec.max)}")
    if spec.integer or (isinstance(raw, str) and float(number).is_integer()):
        return int(number)
    return number


def _show(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _parse_date(raw: Any) -> date:
    if not isinstance(raw, str) or len(raw) != 10:
        raise _FieldError("日期格式应为 YYYY-MM-DD")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _FieldError("日期格式应为 YYYY-MM-DD") from None


def _parse_datetime(raw: Any) -> datetime:
    if not isinstance(raw, str) or not 16 <= len(raw) <= 32:
        raise _FieldError("时间格式应为 YYYY-MM-DDTHH:MM")
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise _FieldError("时间格式应为 YYYY-MM-DDTHH:MM") from None


def _date(_spec: FormField, raw: Any, _refs: References) -> str:
    return _parse_date(raw).isoformat()


def _range_parts(raw: Any) -> tuple[Any, Any]:
    if isinstance(raw, Mapping) and set(raw) <= {"start", "end"}:
        return raw.get("start"), raw.get("end")
    if isinstance(raw, (list, tuple)) and len(raw) == 2:
        return raw[0], raw[1]
    raise _FieldError("应包含开始和结束")


def _check_span(spec: FormField, first: date, last: date) -> None:
    if last < first:
        raise _FieldError("结束不能早于开始")
    days = (last - first).days + 1
    if spec.max_days is not None and days > spec.max_days:
        raise _FieldError(f"不能超过{spec.max_days}天")


def _date_range(spec: FormField, raw: Any, _refs: References) -> dict[str, str]:
    start, end = (_parse_date(v) for v in _range_parts(raw))
    _check_span(spec, start, end)
    return {"start": start.isoformat(), "end": end.isoformat()}


def _datetime_range(spec: FormField, raw: Any, _refs: References) -> dict[str, str]:
    start, end = (_parse_datetime(v) for v in _range_parts(raw))
    if (start.tzinfo is None) != (end.tzinfo is None):
        raise _FieldError("开始和结束的时区不一致")
    if end <= start:
        raise _FieldError("结束必须晚于开始")
    _check_span(spec, start.date(), end.date())
    return {"start": start.isoformat(timespec="minutes"), "end": end.isoformat(timespec="minutes")}


def _choice(spec: FormField, raw: Any, _refs: References) -> str:
    allowed = {o.value for o in spec.options}
    if not isinstance(raw, str) or raw not in allowed:
        raise _FieldError("请从选项中选择")
    return raw


def _multichoice(spec: FormField, raw: Any, _refs: References) -> list[str]:
    allowed = [o.value for o in spec.options]
    if not isinstance(raw, (list, tuple)) or not all(isinstance(v, str) for v in raw):
        raise _FieldError("请从选项中选择")
    if len(set(raw)) != len(raw):
        raise _FieldError("选项不能重复")
    if any(v not in allowed for v in raw):
        raise _FieldError("请从选项中选择")
    if spec.min is not None and len(raw) < spec.min:
        raise _FieldError(f"至少选择{_show(spec.min)}项")
    if spec.max is not None and len(raw) > spec.max:
        raise _FieldError(f"最多选择{_show(spec.max)}项")
    chosen = set(raw)
    return [v for v in allowed if v in chosen]  # the spec's order, stable for display


def _mobile(_spec: FormField, raw: Any, _refs: References) -> str:
    value = raw.strip() if isinstance(raw, str) else raw
    if not isinstance(value, str) or MOBILE_RE.fullmatch(value) is None:
        raise _FieldError("请填写11位手机号码")
    return value


def idcard_ok(value: str) -> bool:
    """An 18-character resident ID number with a real birth date and GB 11643 check digit."""
    if IDCARD_RE.fullmatch(value) is None:
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if born.year < 1900:
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17]


def _idcard(_spec: FormField, raw: Any, _refs: References) -> str:
    if not isinstance(raw, str):
        raise _FieldError("请填写18位身份证号码")
    value = raw.strip().upper()
    if not idcard_ok(value):
        raise _FieldError("身份证号码不正确")
    return value


def _attachment(spec: FormField, raw: Any, refs: References) -> list[int]:
    if not isinstance(raw, (list, tuple)) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in raw
    ):
        raise _FieldError("附件格式不正确")
    ids = list(raw)
    if len(set(ids)) != len(ids):
        raise _FieldError("附件不能重复")
    if len(ids) > spec.max_files:
        raise _FieldError(f"最多上传{spec.max_files}个文件")
    found = refs.attachments(ids)
    if any(i not in found for i in ids):
        raise _FieldError("附件不存在或不可用")
    limit = spec.max_size_mb * MB
    accept = {a.lower().lstrip(".") for a in spec.accept}
    for attachment_id in ids:
        info = found[attachment_id]
        if info.size > limit:
            raise _FieldError(f"{info.filename} 超过{_show(spec.max_size_mb)}MB")
        ext = info.filename.rsplit(".", 1)[-1].lower() if "." in info.filename else ""
        if accept and ext not in accept:
            raise _FieldError(f"{info.filename} 的类型不允许，请上传 {'、'.join(sorted(accept))}")
    return ids


def _person(_spec: FormField, raw: Any, refs: References) -> str:
    if not isinstance(raw, str) or len(raw) > 64:
        raise _FieldError("请选择人员")
    value = raw.strip()
    if value not in refs.active_userids([value]):
        raise _FieldError("人员不存在")
    return value


_CLEANERS = {
    FieldType.TEXT: _text,
    FieldType.TEXTAREA: _text,
    FieldType.NUMBER: _number,
    FieldType.DATE: _date,
    FieldType.DATE_RANGE: _date_range,
    FieldType.DATETIME_RANGE: _datetime_range,
    FieldType.CHOICE: _choice,
    FieldType.MULTICHOICE: _multichoice,
    FieldType.MOBILE: _mobile,
    FieldType.IDCARD: _idcard,
    FieldType.ATTACHMENT: _attachment,
    FieldType.PERSON: _person,
}


def attachment_ids(fields: Iterable[FormField], values: Mapping[str, Any]) -> dict[int, str]:
    """Attachment id → the field key it is attached under, for linking after submit."""
    linked: dict[int, str] = {}
    for spec in fields:
        if spec.type == FieldType.ATTACHMENT:
            for attachment_id in values.get(spec.key) or ():
                linked[int(attachment_id)] = spec.key
    return linked
