"""Between HTML forms and `hall.forms`: read a posted form into the values
`hall.forms.validate_form` checks, and describe each field's rules for the browser.

The browser applies the same rules as the server (hall/static/hall.js reads `rules()`):
the limits come from the same spec and the same constants of `hall.forms`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from werkzeug.datastructures import MultiDict

from hall.definitions import RANGE_TYPES, FieldType, FormField
from hall.forms import TEXT_MAX, TEXTAREA_MAX
from web.i18n import gettext

LISTS = frozenset({FieldType.MULTICHOICE, FieldType.ATTACHMENT})


def _attachment_id(raw: str) -> int | str:
    text = raw.strip()
    return int(text) if text.isdigit() and len(text) < 19 else text


def read_form(
    fields: Iterable[FormField], posted: MultiDict[str, str], prefix: str = ""
) -> dict[str, Any]:
    """The posted values of `fields` (absent and empty ones left out), shaped for
    `validate_form`: ranges as {start, end}, multichoice and attachments as lists."""
    data: dict[str, Any] = {}
    for spec in fields:
        name = prefix + spec.key
        if spec.type in RANGE_TYPES:
            start = posted.get(f"{name}.start", "").strip()
            end = posted.get(f"{name}.end", "").strip()
            if start or end:
                data[spec.key] = {"start": start, "end": end}
        elif spec.type == FieldType.ATTACHMENT:
            ids = [_attachment_id(v) for v in posted.getlist(name) if v.strip()]
            if ids:
                data[spec.key] = ids
        elif spec.type == FieldType.MULTICHOICE:
            chosen = [v for v in posted.getlist(name) if v]
            if chosen:
                data[spec.key] = chosen
        else:
            value = posted.get(name, "")
            if value.strip():
                data[spec.key] = value
    return data


def _show(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def text_limit(spec: FormField) -> int:
    return spec.max_length or (TEXTAREA_MAX if spec.type == FieldType.TEXTAREA else TEXT_MAX)


def rules(spec: FormField) -> dict[str, Any]:
    """The field's rules and messages (in the viewer's language) for the browser."""
    messages: dict[str, str] = {"required": gettext("请填写{label}", label=spec.label)}
    data: dict[str, Any] = {
        "key": spec.key,
        "type": spec.type.value,
        "required": spec.required,
        "messages": messages,
    }
    if spec.type in {FieldType.TEXT, FieldType.TEXTAREA}:
        data.update(max_length=text_limit(spec), min_length=spec.min_length, pattern=spec.pattern)
        messages["max_length"] = gettext("不能超过{n}个字", n=text_limit(spec))
        if spec.min_length is not None:
            messages["min_length"] = gettext("至少{n}个字", n=spec.min_length)
        messages["pattern"] = spec.pattern_message or gettext("格式不正确")
    elif spec.type == FieldType.NUMBER:
        data.update(min=spec.min, max=spec.max, integer=spec.integer)
        messages["number"] = gettext("应为数字")
        messages["integer"] = gettext("应为整数")
        if spec.min is not None:
            messages["min"] = gettext("不能小于{n}", n=_show(spec.min))
        if spec.max is not None:
            messages["max"] = gettext("不能大于{n}", n=_show(spec.max))
    elif spec.type == FieldType.DATE:
        messages["date"] = gettext("日期格式应为 YYYY-MM-DD")
    elif spec.type in RANGE_TYPES:
        data["max_days"] = spec.max_days
        messages["both"] = gettext("请同时填写开始和结束")
        messages["order"] = gettext(
            "结束不能早于开始" if spec.type == FieldType.DATE_RANGE else "结束必须晚于开始"
        )
        if spec.max_days is not None:
            messages["max_days"] = gettext("不能超过{n}天", n=spec.max_days)
    elif spec.type == FieldType.MULTICHOICE:
        data.update(min=spec.min, max=spec.max)
        if spec.min is not None:
            messages["min"] = gettext("至少选择{n}项", n=_show(spec.min))
        if spec.max is not None:
            messages["max"] = gettext("最多选择{n}项", n=_show(spec.max))
    elif spec.type == FieldType.MOBILE:
        messages["mobile"] = gettext("请填写11位手机号码")
    elif spec.type == FieldType.IDCARD:
        messages["idcard"] = gettext("身份证号码不正确")
    elif spec.type == FieldType.ATTACHMENT:
        data.update(
            max_files=spec.max_files,
            max_size_mb=spec.max_size_mb,
            accept=sorted({a.lower().lstrip(".") for a in spec.accept}),
        )
        messages["max_files"] = gettext("最多上传{n}个文件", n=spec.max_files)
        messages["size"] = gettext("文件超过{n}MB", n=_show(spec.max_size_mb))
        messages["accept"] = gettext("文件类型不允许")
    elif spec.type == FieldType.PERSON:
        messages["required"] = gettext("请选择人员") if spec.required else messages["required"]
    return data


def attachment_ids_in(fields: Iterable[FormField], values: dict[str, Any]) -> list[int]:
    ids: list[int] = []
    for spec in fields:
        if spec.type == FieldType.ATTACHMENT:
            ids.extend(v for v in values.get(spec.key) or () if isinstance(v, int))
    return ids


def person_userids_in(fields: Iterable[FormField], values: dict[str, Any]) -> list[str]:
    return [
        values[s.key]
        for s in fields
        if s.type == FieldType.PERSON and isinstance(values.get(s.key), str)
    ]
