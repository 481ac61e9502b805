"""The process designer's services: drafts, validation, change lists, publishing, previews.

Department administrators (`dept_admin` on the owning department) design their department's
processes; the information center (`info_center`) designs any process and decides who
administers which department. Everyone else is told "not found" (nothing is revealed).

A draft is the plain definition being edited, saved server-side on every change, valid or
not, so nothing is ever lost. Publishing validates it, freezes it as the next version
through `hall.processes.publish` (applications already running keep their version) and
removes the draft. `change_list` says in words what publishing would change.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hall.clock import Clock, SystemClock
from hall.conditions import Facts, evaluate
from hall.db import Database
from hall.definitions import (
    KEY_RE,
    RANGE_TYPES,
    UPLOAD_MAX_MB,
    AllOf,
    AnyOf,
    ApproverRule,
    Audience,
    Compare,
    Condition,
    FieldType,
    FormField,
    Mode,
    Not,
    ProcessSpec,
    RuleType,
    Step,
    StepKind,
    TimeoutAction,
    dump_spec,
)
from hall.errors import Conflict, Invalid, NotFound
from hall.models import (
    Application,
    Department,
    GrantSource,
    Person,
    PersonStatus,
    ProcessDefinition,
    ProcessDraft,
    ProcessVersion,
    RoleCode,
    RoleGrant,
)
from hall.processes import publish
from hall.resolve import (
    applicant_facts,
    delegate,
    fallback_people,
    not_own_approver,
    resolve_rule,
)
from hall.states import AppStatus

log = logging.getLogger("hall.designer")

MAX_DRAFT_BYTES = 256 * 1024  # a definition is a few KB; this bounds what a save may store

# Readable names of the catalogue entry's parts, for problems and change lists.
CATALOGUE_LABELS: dict[str, str] = {
    "key": "事项编码",
    "name": "事项名称",
    "department": "所属部门",
    "category": "分类",
    "audience": "服务对象",
    "visible_to": "可见范围",
    "description": "说明",
    "basis": "办事依据",
    "materials": "材料清单",
    "promised_days": "承诺时限（工作日）",
    "visits": "跑动次数",
    "immediate": "即办件",
    "contact": "咨询电话",
    "title_template": "标题模板",
    "options": "流程选项",
}
FIELD_PROP_LABELS: dict[str, str] = {
    "label": "标题",
    "type": "类型",
    "required": "必填",
    "help": "说明",
    "placeholder": "占位提示",
    "default": "默认值",
    "prefill": "自动填入",
    "options": "选项",
    "min_length": "最短长度",
    "max_length": "最长长度",
    "pattern": "格式",
    "pattern_message": "格式提示",
    "min": "最小值",
    "max": "最大值",
    "integer": "整数",
    "max_days": "最长天数",
    "max_files": "最多文件数",
    "max_size_mb": "单个文件上限（MB）",
    "accept": "文件类型",
    "key_field": "卡片关键字段",
    "printed": "打印记录中显示",
}
STEP_PROP_LABELS: dict[str, str] = {
    "name": "名称",
    "kind": "类型",
    "approver": "审批人",
    "mode": "审批方式",
    "condition": "条件",
    "time_limit_hours": "时限（小时）",
    "on_timeout": "到时限后",
    "cc": "抄送",
    "result_fields": "办理结果字段",
    "allow_transfer": "允许转交",
    "allow_add_signer": "允许加签",
    "allow_return": "允许退回",
}
RULE_PROP_LABELS: dict[str, str] = {
    "type": "规则",
    "userids": "人员账号",
    "role": "角色",
    "levels": "向上级数",
    "department": "部门编码",
    "field": "人员字段",
}
COMPARE_PROP_LABELS: dict[str, str] = {"subject": "条件对象", "op": "比较", "value": "值"}

# The words of the editor's vocabularies (sent translated to the editor, used in previews).
RULE_LABELS: dict[str, str] = {
    RuleType.PERSONS: "指定人员",
    RuleType.ROLE_IN_APPLICANT_DEPT: "申请人所在部门的角色",
    RuleType.DEPT_HEAD: "申请人的部门负责人",
    RuleType.DEPT_HEAD_CHAIN: "逐级部门负责人",
    RuleType.COUNSELLOR: "申请人的辅导员",
    RuleType.LEADER_IN_CHARGE: "分管校领导",
    RuleType.ROLE_IN_DEPT: "指定部门的角色",
    RuleType.FORM_PERSON: "表单中填写的人员",
    RuleType.APPLICANT: "申请人本人",
}
ROLE_LABELS: dict[str, str] = {
    RoleCode.DEPT_HEAD: "部门负责人",
    RoleCode.DEPUTY_SECRETARY: "学院副书记",
    RoleCode.DEPT_ADMIN: "部门管理员",
    RoleCode.COUNSELLOR: "辅导员",
    RoleCode.PROCESS_ADMIN: "事项管理员",
    RoleCode.INFO_CENTER: "信息中心",
    RoleCode.SCHOOL_LEADER: "校领导",
    RoleCode.STAFF: "教职工",
    RoleCode.STUDENT: "学生",
}
KIND_LABELS: dict[str, str] = {
    Audience.STAFF: "教职工",
    Audience.STUDENT: "学生",
    Audience.OFFCAMPUS: "校外人员",
}
STEP_KIND_LABELS: dict[str, str] = {
    StepKind.APPROVAL: "审批",
    StepKind.NOTIFY: "报备",
    StepKind.HANDLE: "办理并填写结果",
    StepKind.CONSENT: "征得同意",
}
RESUBMIT_LABELS: dict[str, str] = {
    "returner": "回到退回的环节",
    "start": "从第一个环节重新审批",
}
APPLICANT_APPROVER_LABELS: dict[str, str] = {
    "pass": "自动通过",
    "superior": "转给其上级审批",
}
TIMEOUT_LABELS: dict[str, str] = {
    TimeoutAction.REMIND: "提醒审批人",
    TimeoutAction.APPROVE: "超时自动同意",
    TimeoutAction.REJECT: "超时自动驳回",
}
MODE_LABELS: dict[str, str] = {
    Mode.SINGLE: "一人审批",
    Mode.ANY: "或签（一人同意即可）",
    Mode.ALL: "会签（全部同意）",
    Mode.SEQUENTIAL: "依次审批",
}
# A condition's subjects about the applicant, one per fact the engine knows of them.
APPLICANT_SUBJECTS: dict[str, str] = {
    "applicant.kind": "申请人类别",
    "applicant.post": "申请人职务",
    "applicant.department": "申请人所在部门",
    "applicant.level": "申请人学生层次",
    "applicant.roles": "申请人角色",
}
STUDENT_LEVELS = ("本科", "专科", "硕士", "博士")  # XS_JBXX.XSLB
OP_LABELS: dict[str, str] = {
    "==": "等于",
    "!=": "不等于",
    ">": "大于",
    ">=": "大于等于",
    "<": "小于",
    "<=": "小于等于",
    "in": "是其中之一",
    "not_in": "不是其中任何一个",
    "contains": "包含",
    "empty": "为空",
    "not_empty": "不为空",
}
GROUP_LABELS: dict[str, str] = {
    "all": "全部满足（且）",
    "any": "任一满足（或）",
    "not": "不满足（非）",
}


# ------------------------------------------------------------------ authorization


@dataclass(frozen=True)
class Editor:
    """What a person may design: every department (information center) or some."""

    person_id: int
    everywhere: bool
    departments: frozenset[int]

    def may_edit(self, department_id: int) -> bool:
        return self.everywhere or department_id in self.departments

    @property
    def is_designer(self) -> bool:
        return self.everywhere or bool(self.departments)


def editor_of(session: Session, person_id: int) -> Editor:
    """The person's designer rights from their role grants (one query)."""
    rows = session.execute(
        select(RoleGrant.role_code, RoleGrant.department_id)
        .join(Person, Person.id == RoleGrant.person_id)
        .where(
            RoleGrant.person_id == person_id,
            Person.status == PersonStatus.ACTIVE,
            RoleGrant.role_code.in_([RoleCode.INFO_CENTER, RoleCode.DEPT_ADMIN]),
        )
    ).all()
    everywhere = any(code == RoleCode.INFO_CENTER for code, _dept in rows)
    departments = frozenset(
        dept for code, dept in rows if code == RoleCode.DEPT_ADMIN and dept is not None
    )
    return Editor(person_id=person_id, everywhere=everywhere, departments=departments)


def is_info_center(session: Session, person_id: int) -> bool:
    return editor_of(session, person_id).everywhere


def _require_designer(session: Session, person_id: int) -> Editor:
    editor = editor_of(session, person_id)
    if not editor.is_designer:
        raise NotFound("页面不存在")
    return editor


# -------------------------------------------------------------------- validation


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition; `path` names where (`form.2.label`,
    `flow.1.condition.all.0.value`, `flow.0.cc.1.role`), as the data is nested."""

    path: str
    message: str

    @property
    def where(self) -> str:
        return describe_path(self.path)


def _same(text: str) -> str:
    return text


def describe_path(path: str, say: Callable[[str], str] = _same) -> str:
    """`form.2.label` → `表单字段 3 · 标题`, `flow.1.condition.all.1.any.0.value` →
    `流程步骤 2 · 条件 2.1 · 值`, for people reading the problem list.

    `say` puts each zh_CN label into the reader's language (the web view's gettext)."""
    if not path:
        return say("事项")
    parts = path.split(".")
    head = parts[0]
    if head in {"form", "flow"} and len(parts) > 1 and parts[1].isdigit():
        noun = say("表单字段" if head == "form" else "流程步骤")
        text = f"{noun} {int(parts[1]) + 1}"
        props = FIELD_PROP_LABELS if head == "form" else STEP_PROP_LABELS
        if len(parts) > 2:
            text += " · " + (say(props[parts[2]]) if parts[2] in props else parts[2])
        rest = parts[3:]
        if head == "flow" and len(parts) > 2 and parts[2] in {"condition", "cc"}:
            numbers = [str(int(p) + 1) for p in rest if p.isdigit()]
            if numbers:
                text += " " + ".".join(numbers)
            last = rest[-1] if rest else ""
            labels = COMPARE_PROP_LABELS if parts[2] == "condition" else RULE_PROP_LABELS
            if last in labels:
                text += " · " + say(labels[last])
        elif len(parts) > 3 and parts[2] == "approver" and parts[3] in RULE_PROP_LABELS:
            text += " · " + say(RULE_PROP_LABELS[parts[3]])
        return text
    return say(CATALOGUE_LABELS[head]) if head in CATALOGUE_LABELS else head


# The members of the condition union as pydantic names them in an error's location.
_MEMBERS = {"Compare", "AllOf", "AnyOf", "Not"}
_GROUP_MEMBERS = {"all": "AllOf", "any": "AnyOf", "not": "Not"}


def _intended(node: Any) -> str | None:
    """Which kind of condition a piece of data means to be: a comparison has a subject,
    an op or a value; a group has exactly one of `all`, `any`, `not`."""
    if not isinstance(node, Mapping):
        return None
    if {"subject", "op", "value"} & node.keys():
        return "Compare"
    groups = [name for name in _GROUP_MEMBERS if name in node]
    return _GROUP_MEMBERS[groups[0]] if len(groups) == 1 else None


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, Mapping):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


_CONDITION_MESSAGES = {
    ("missing", "subject"): "请选择条件对象",
    ("missing", "op"): "请选择比较方式",
    ("literal_error", "op"): "不认识的比较方式",
    ("string_pattern_mismatch", "subject"): "不认识的条件对象",
    ("too_short", "all"): "条件组至少要有一项",
    ("too_short", "any"): "条件组至少要有一项",
}
# pydantic's own checks of a value, said in the designer's language (ctx fills the {…}).
_TYPE_MESSAGES = {
    "missing": "必填",
    "greater_than_equal": "不能小于 {ge}",
    "greater_than": "应大于 {gt}",
    "less_than_equal": "不能大于 {le}",
    "less_than": "应小于 {lt}",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "string_too_long": "不能超过 {max_length} 个字符",
    "string_too_short": "至少 {min_length} 个字符",
    "string_pattern_mismatch": "格式不正确",
    "too_long": "最多 {max_length} 项",
    "bool_parsing": "应为是或否",
    "extra_forbidden": "不认识的设置项",
}
_RULE_NEEDS = re.compile(r"^approver rule '\w+' needs '(?P<name>\w+)'$")
_UNKNOWN_ROLE = re.compile(r"^unknown role '(?P<role>.*)'$")
_STEP_PROBLEM = re.compile(r"^step '(?P<key>[^']*)': (?P<rest>.*)$", re.DOTALL)
_UNKNOWN_FIELD = re.compile(r"^condition uses unknown field '(?P<name>[^']*)'$")
_NOT_PERSON_FIELD = re.compile(r"^(?P<field>'[^']*'|None) is not a person field of the form$")
_GATE_PASS_FIELD = re.compile(r"^gate_pass: .* is not a date_range or datetime_range field")
_INVITE_FIELD = re.compile(
    r"^invite: (?P<what>unknown field|the inviter cannot fill) (?P<field>.*)$"
)
# The invite option's whole-definition rules (hall.definitions._check_invite), at their control.
_INVITE_RULES = {
    "invitations are for off-campus applicants: add offcampus to audience": (
        "options.invite.host_field",
        "邀请办理只适用于面向校外人员的事项",
    ),
    "invite: fields are listed twice": ("options.invite.fields", "邀请人填写的字段有重复"),
}
_NOT_PERSON_HOST = re.compile(r"^invite: .* is not a person field of the form$")
# A step's own rules (hall.definitions.Step), said at the setting they are about.
_STEP_RULES = {
    "on_timeout needs time_limit_hours": ("time_limit_hours", "到时限自动处理须先填写时限"),
    "only approval steps decide on timeout": ("on_timeout", "只有审批环节可以到时限自动处理"),
    "a handling step needs result_fields": ("result_fields", "办理环节须有办理结果字段"),
    "only handling steps have result_fields": ("result_fields", "只有办理环节有办理结果字段"),
    "consent comes from a person named in the form": ("approver", "同意须由表单中填写的人员给出"),
}


def _located(err: Mapping[str, Any], data: Mapping[str, Any]) -> Problem | None:
    """One pydantic error as a problem at the place in the data it is about.

    A condition is a union, so pydantic reports a bad condition once per kind of
    condition it could have been (`Compare`, `AllOf`, ...). Only the errors of the kind the
    data means to be are kept, with the kind's name left out of the path; data that is no
    kind of condition is one problem at its own place."""
    node: Any = data
    parts: list[str] = []
    for part in err["loc"]:
        if isinstance(part, str) and part in _MEMBERS:
            want = _intended(node)
            if want is None:
                message = "请添加一项条件" if node is None else "无法识别的条件"
                return Problem(".".join(parts), message)
            if part != want:
                return None
            continue
        parts.append(str(part))
        node = _child(node, part)
    if err["type"] == "too_short" and node:
        return None  # pydantic's echo of its items' own errors: the list is not empty
    path = ".".join(parts)
    message = str(err["msg"]).removeprefix("Value error, ")
    if (said := _TYPE_MESSAGES.get(str(err["type"]))) is not None:
        try:
            message = said.format(**(err.get("ctx") or {}))
        except (KeyError, IndexError):
            message = said.split("{", 1)[0].strip() or message
    if ".condition" in f".{path}" and parts:
        known = _CONDITION_MESSAGES.get((str(err["type"]), parts[-1]))
        if err["type"] == "extra_forbidden":
            known = "条件中不应有这一项"
        message = known or message
    needs = _RULE_NEEDS.match(message)
    if needs is not None:
        name = needs.group("name")
        return Problem(f"{path}.{name}", f"请填写{RULE_PROP_LABELS.get(name, name)}")
    unknown_role = _UNKNOWN_ROLE.match(message)
    if unknown_role is not None:
        return Problem(f"{path}.role", f"不认识的角色 {unknown_role.group('role')}")
    if not parts:
        if _GATE_PASS_FIELD.match(message):
            return Problem("options.gate_pass.field", "请选择表单中的日期范围或时间范围字段")
        if (invite := _invite_problem(message, data)) is not None:
            return invite
        return _step_problem(message, data) or Problem("", message)
    own = _STEP_PROBLEM.match(message)
    if own is not None and own["rest"] in _STEP_RULES:
        setting, said = _STEP_RULES[own["rest"]]
        return Problem(f"{path}.{setting}", said)
    return Problem(path, message)


def _invite_problem(message: str, data: Mapping[str, Any]) -> Problem | None:
    """An error of the invite option (`_check_invite`) at the control it is about."""
    if message in _INVITE_RULES:
        return Problem(*_INVITE_RULES[message])
    if _NOT_PERSON_HOST.match(message):
        return Problem("options.invite.host_field", "请选择表单中的人员字段")
    found = _INVITE_FIELD.match(message)
    if found is None:
        return None
    # The message names the key as repr() does; the draft's own key and label say it.
    listed = _child(_child(_child(data, "options"), "invite"), "fields")
    keys = listed if isinstance(listed, list) else []
    key = next((k for k in keys if repr(k) == found["field"]), found["field"])
    if found["what"] == "unknown field":
        return Problem("options.invite.fields", f"表单中没有字段 {key}")
    form = data.get("form")
    labels = {f.get("key"): f.get("label") for f in form or () if isinstance(f, Mapping)}
    title = labels.get(key) or key
    return Problem("options.invite.fields", f"邀请人不能代填附件或人员字段「{title}」")


def _step_problem(message: str, data: Mapping[str, Any]) -> Problem | None:
    """A whole-definition error about one step (`step 'k': ...`) at that step, or at the
    very comparison or rule it names."""
    found = _STEP_PROBLEM.match(message)
    flow = data.get("flow")
    if found is None or not isinstance(flow, list):
        return None
    index = next(
        (i for i, s in enumerate(flow) if isinstance(s, Mapping) and s.get("key") == found["key"]),
        None,
    )
    if index is None:
        return None
    step = flow[index]
    rest = found.group("rest")
    unknown = _UNKNOWN_FIELD.match(rest)
    if unknown is not None:
        name = unknown.group("name")
        for path, node in _raw_compares(step.get("condition"), f"flow.{index}.condition"):
            subject = node.get("subject")
            if isinstance(subject, str) and subject.split(".")[1:2] == [name]:
                return Problem(f"{path}.subject", f"表单中没有字段 {name}")
        return Problem(f"flow.{index}.condition", f"表单中没有字段 {name}")
    not_person = _NOT_PERSON_FIELD.match(rest)
    if not_person is not None:
        rules = [("approver", step.get("approver"))]
        cc = step.get("cc")
        if isinstance(cc, list):
            rules += [(f"cc.{k}", rule) for k, rule in enumerate(cc)]
        for where, rule in rules:
            person_rule = isinstance(rule, Mapping) and rule.get("type") == RuleType.FORM_PERSON
            if person_rule and repr(rule.get("field")) == not_person.group("field"):
                return Problem(f"flow.{index}.{where}.field", "请选择表单中的人员字段")
    return Problem(f"flow.{index}", rest)


def _raw_compares(node: Any, path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """The comparisons inside condition data (valid or not), with their paths."""
    if not isinstance(node, Mapping):
        return
    if "subject" in node:
        yield path, node
    for name in ("all", "any"):
        items = node.get(name)
        if isinstance(items, list):
            for i, item in enumerate(items):
                yield from _raw_compares(item, f"{path}.{name}.{i}")
    if "not" in node:
        yield from _raw_compares(node["not"], f"{path}.not")


def _problems_of(exc: ValidationError, data: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors():
        problem = _located(err, data)
        if problem is not None and problem not in problems:
            problems.append(problem)
    return problems


def validate(session: Session, data: Mapping[str, Any]) -> tuple[ProcessSpec | None, list[Problem]]:
    """Check a definition: its own rules (the spec model), what its conditions compare
    (a number with a number, a choice with its options), and its references to the school
    (departments and people that must exist). Returns the spec when there is no problem."""
    try:
        spec = ProcessSpec.model_validate(data)
    except ValidationError as exc:
        return None, _problems_of(exc, data)
    problems = _reference_problems(session, spec)
    return (spec if not problems else None), problems


def _rules(spec: ProcessSpec) -> list[tuple[str, ApproverRule]]:
    """Every approver and CC rule of the flow with its path."""
    rules: list[tuple[str, ApproverRule]] = []
    for i, step in enumerate(spec.flow):
        rules.append((f"flow.{i}.approver", step.approver))
        rules.extend((f"flow.{i}.cc.{k}", rule) for k, rule in enumerate(step.cc))
    return rules


def _reference_problems(session: Session, spec: ProcessSpec) -> list[Problem]:
    rules = _rules(spec)
    compares = [
        (path, cmp)
        for i, step in enumerate(spec.flow)
        for path, cmp in compares_of(step.condition, f"flow.{i}.condition")
    ]
    codes = {spec.department, *spec.visible_to}
    codes |= {r.department for _p, r in rules if r.department}
    codes |= {
        str(v) for _p, c in compares if c.subject == "applicant.department" for v in _items(c.value)
    }
    known = set(session.scalars(select(Department.code).where(Department.code.in_(codes))))
    problems: list[Problem] = []
    if spec.department not in known:
        problems.append(Problem("department", f"没有编码为 {spec.department} 的部门"))
    problems.extend(
        Problem("visible_to", f"没有编码为 {code} 的部门")
        for code in spec.visible_to
        if code not in known
    )
    userids = {u for _p, r in rules for u in r.userids}
    active = set(
        session.scalars(
            select(Person.userid).where(
                Person.userid.in_(userids), Person.status == PersonStatus.ACTIVE
            )
        )
    )
    for path, rule in rules:
        if rule.department and rule.department not in known:
            problems.append(Problem(f"{path}.department", f"没有编码为 {rule.department} 的部门"))
        problems.extend(
            Problem(f"{path}.userids", f"没有在职人员 {userid}")
            for userid in rule.userids
            if userid not in active
        )
    problems.extend(condition_problems(spec, known))
    problems.extend(_upload_problems(spec))
    return problems


def _upload_problems(spec: ProcessSpec) -> list[Problem]:
    """Attachment fields that ask for files larger than any request may carry."""
    fields = [(f"form.{i}", f) for i, f in enumerate(spec.form)]
    fields += [
        (f"flow.{i}.result_fields.{k}", f)
        for i, step in enumerate(spec.flow)
        for k, f in enumerate(step.result_fields)
    ]
    return [
        Problem(f"{path}.max_size_mb", f"单个文件上限最多 {UPLOAD_MAX_MB} MB")
        for path, f in fields
        if f.type == FieldType.ATTACHMENT and f.max_size_mb > UPLOAD_MAX_MB
    ]


def condition_problems(spec: ProcessSpec, departments: set[str]) -> list[Problem]:
    """What the steps' conditions get wrong that the spec itself accepts (see
    `_compare_problems`); `departments` are the codes known to exist."""
    fields = {f.key: f for f in spec.form}
    return [
        problem
        for i, step in enumerate(spec.flow)
        for path, cmp in compares_of(step.condition, f"flow.{i}.condition")
        for problem in _compare_problems(path, cmp, fields, departments)
    ]


# ------------------------------------------------------- conditions and rules in words

ORDER_OPS = frozenset({">", ">=", "<", "<="})
LIST_OPS = frozenset({"in", "not_in"})
BARE_OPS = frozenset({"empty", "not_empty"})  # compare with no value
# The comparisons the editor offers for each kind of subject (others stay as they are).
OPS_BY_KIND: dict[str, tuple[str, ...]] = {
    "number": ("==", "!=", ">", ">=", "<", "<=", "empty", "not_empty"),
    "date": ("==", "!=", ">", ">=", "<", "<=", "empty", "not_empty"),
    "choice": ("==", "!=", "in", "not_in", "empty", "not_empty"),
    "multi": ("contains", "in", "not_in", "empty", "not_empty"),
    "text": ("==", "!=", "contains", "in", "not_in", "empty", "not_empty"),
    "department": ("==", "!=", "in", "not_in"),
    "presence": ("empty", "not_empty"),  # attachments, whole date ranges
}
_UNORDERED = frozenset({"choice", "multi", "department", "presence"})
_FIELD_KINDS: dict[FieldType, str] = {
    FieldType.NUMBER: "number",
    FieldType.DATE: "date",
    FieldType.DATE_RANGE: "presence",
    FieldType.DATETIME_RANGE: "presence",
    FieldType.CHOICE: "choice",
    FieldType.MULTICHOICE: "multi",
    FieldType.ATTACHMENT: "presence",
}


@dataclass(frozen=True)
class Subject:
    """What a condition's subject is: its label, kind (an `OPS_BY_KIND` key) and, for
    choices, the values it may take with their labels."""

    label: str
    kind: str
    options: dict[str, str] = field(default_factory=dict)


def subject_of(
    subject: str, fields: Mapping[str, FormField], say: Callable[[str], str] = _same
) -> Subject | None:
    """The subject of a comparison; None when the form has no such field, or the field no
    such part (`.days` of a range, `.count` of a multichoice)."""
    if subject in APPLICANT_SUBJECTS:
        label = say(APPLICANT_SUBJECTS[subject])
        if subject == "applicant.kind":
            return Subject(label, "choice", {k: say(v) for k, v in KIND_LABELS.items()})
        if subject == "applicant.roles":
            return Subject(label, "multi", {k: say(v) for k, v in ROLE_LABELS.items()})
        if subject == "applicant.department":
            return Subject(label, "department")
        return Subject(label, "text")
    _scope, _, rest = subject.partition(".")
    name, _, part = rest.partition(".")
    f = fields.get(name)
    if f is None:
        return None
    if part == "days":
        days = f.type in RANGE_TYPES
        return Subject(say("{label}的天数").format(label=f.label), "number") if days else None
    if part == "count":
        many = f.type == FieldType.MULTICHOICE
        return Subject(say("{label}的选择数").format(label=f.label), "number") if many else None
    options = {o.value: o.label for o in f.options}
    return Subject(f.label, _FIELD_KINDS.get(f.type, "text"), options)


def compares_of(cond: Condition | None, path: str) -> Iterator[tuple[str, Compare]]:
    """The comparisons of a condition with their paths (`….all.1.not`)."""
    if cond is None:
        return
    if isinstance(cond, Compare):
        yield path, cond
    elif isinstance(cond, AllOf):
        for i, c in enumerate(cond.all):
            yield from compares_of(c, f"{path}.all.{i}")
    elif isinstance(cond, AnyOf):
        for i, c in enumerate(cond.any):
            yield from compares_of(c, f"{path}.any.{i}")
    else:
        yield from compares_of(cond.not_, f"{path}.not")


def _items(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    return [] if value is None else [value]


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _is_date(value: Any) -> bool:
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return isinstance(value, str) and len(value) == 10


def _compare_problems(
    path: str, cmp: Compare, fields: Mapping[str, FormField], departments: set[str]
) -> list[Problem]:
    """What would make a comparison never (or always) hold: a part the field does not
    have, an order of things that have none, a missing value, a value of the wrong kind."""
    subject = subject_of(cmp.subject, fields)
    if subject is None:
        name = cmp.subject.split(".")[1]
        label = fields[name].label if name in fields else name
        if cmp.subject.endswith(".days"):
            return [Problem(f"{path}.subject", f"「{label}」不是日期范围，没有天数")]
        return [Problem(f"{path}.subject", f"「{label}」不是多选字段，没有选择数")]
    if cmp.op in BARE_OPS:
        return []
    if subject.kind == "presence" or (cmp.op in ORDER_OPS and subject.kind in _UNORDERED):
        return [Problem(f"{path}.op", f"「{subject.label}」不能用「{OP_LABELS[cmp.op]}」比较")]
    values = _items(cmp.value)
    if not values or any(v in (None, "") for v in values):
        return [Problem(f"{path}.value", "请填写比较的值")]
    if isinstance(cmp.value, (list, tuple)) and cmp.op not in LIST_OPS and subject.kind != "multi":
        return [Problem(f"{path}.value", "这里只能填写一个值")]
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return [Problem(f"{path}.value", "值只能是文字或数字")]
        if subject.kind == "number" and not _is_number(value):
            return [Problem(f"{path}.value", "请填写数字")]
        if subject.kind == "date" and not _is_date(value):
            return [Problem(f"{path}.value", "请填写日期，如 2026-09-01")]
        if subject.kind in {"choice", "multi"} and str(value) not in subject.options:
            return [Problem(f"{path}.value", f"「{value}」不是「{subject.label}」的选项")]
        if subject.kind == "department" and str(value) not in departments:
            return [Problem(f"{path}.value", f"没有编码为 {value} 的部门")]
    return []


def _number_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_OP_WORDS = {"==": "=", "!=": "≠", ">": ">", ">=": "≥", "<": "<", "<=": "≤"}


def explain_condition(
    cond: Condition,
    fields: Mapping[str, FormField],
    say: Callable[[str], str] = _same,
    departments: Mapping[str, str] | None = None,
    *,
    nested: bool = False,
) -> str:
    """A condition in the designer's words, with the form's labels, option labels and
    department names: `离校天数 > 3 且 (类型 = 事假 或 非(申请人类别 = 学生))`."""
    if isinstance(cond, (AllOf, AnyOf)):
        items = cond.all if isinstance(cond, AllOf) else cond.any
        joint = f" {say('且' if isinstance(cond, AllOf) else '或')} "
        text = joint.join(
            explain_condition(c, fields, say, departments, nested=True) for c in items
        )
        return f"({text})" if nested and len(items) > 1 else text
    if isinstance(cond, Not):
        return f"{say('非')}({explain_condition(cond.not_, fields, say, departments)})"
    subject = subject_of(cond.subject, fields, say)
    label = subject.label if subject is not None else cond.subject
    if cond.op in BARE_OPS:
        return f"{label} {say(OP_LABELS[cond.op])}"
    names = dict(departments or {})
    if subject is not None:
        names.update(subject.options)
    shown = [names.get(str(v), _number_text(v)) for v in _items(cond.value)]
    op = _OP_WORDS.get(cond.op) or say(OP_LABELS[cond.op])
    if cond.op in LIST_OPS:
        return f"{label} {op} [{say('、').join(shown)}]"
    return f"{label} {op} {say('、').join(shown) if shown else say('（空）')}"


def explain_rule(
    rule: ApproverRule,
    fields: Mapping[str, FormField],
    say: Callable[[str], str] = _same,
    departments: Mapping[str, str] | None = None,
) -> str:
    """An approver or CC rule in words: `指定部门的角色：学生工作处 · 事项管理员`."""
    names = departments or {}
    parts: list[str] = []
    if rule.userids:
        parts.append(say("、").join(rule.userids))
    if rule.department:
        parts.append(names.get(rule.department, rule.department))
    if rule.role:
        parts.append(say(ROLE_LABELS.get(rule.role, rule.role)))
    if rule.type == RuleType.DEPT_HEAD and rule.levels > 1:
        parts.append(say("向上 {n} 级").format(n=rule.levels))
    if rule.type == RuleType.DEPT_HEAD_CHAIN:
        parts.append(say("共 {n} 级").format(n=rule.levels))
    if rule.field:
        parts.append(fields[rule.field].label if rule.field in fields else rule.field)
    text = say(RULE_LABELS[rule.type])
    return f"{text}{say('：')}{' · '.join(parts)}" if parts else text


@dataclass(frozen=True)
class Words:
    """A spec's conditions and rules in one reader's words."""

    spec: ProcessSpec
    say: Callable[[str], str] = _same
    departments: Mapping[str, str] = field(default_factory=dict)

    @property
    def fields(self) -> dict[str, FormField]:
        return {f.key: f for f in self.spec.form}

    def condition(self, cond: Condition) -> str:
        return explain_condition(cond, self.fields, self.say, self.departments)

    def rule(self, rule: ApproverRule) -> str:
        return explain_rule(rule, self.fields, self.say, self.departments)


# -------------------------------------------------------------------- change list


@dataclass(frozen=True)
class Change:
    """One difference between the published version and the draft, in words."""

    area: str  # catalogue, form, flow
    action: str  # added, removed, changed, moved
    text: str


def _show(value: Any) -> str:
    if value is None or value in ("", [], {}):
        return "（空）"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(_show(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_show(v)}" for k, v in value.items())
    return str(value)


def _keyed(items: Any) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    if not isinstance(items, list):
        return result
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            result[item["key"]] = item
    return result


def _prop_changes(before: dict[str, Any], after: dict[str, Any], labels: dict[str, str]) -> str:
    parts = []
    for name in [*before, *(k for k in after if k not in before)]:
        if name == "key" or before.get(name) == after.get(name):
            continue
        label = labels.get(name, name)
        if name in {"condition", "approver", "cc", "options", "result_fields"}:
            parts.append(f"{label}已修改")
        else:
            parts.append(f"{label} {_show(before.get(name))} → {_show(after.get(name))}")
    return "；".join(parts)


def _list_changes(area: str, noun: str, old: Any, new: Any, labels: dict[str, str]) -> list[Change]:
    before, after = _keyed(old), _keyed(new)
    changes: list[Change] = []
    for key, item in after.items():
        title = item.get("label") or item.get("name") or key
        if key not in before:
            changes.append(Change(area, "added", f"新增{noun}「{title}」（{key}）"))
        else:
            detail = _prop_changes(before[key], item, labels)
            if detail:
                changes.append(Change(area, "changed", f"修改{noun}「{title}」：{detail}"))
    for key, item in before.items():
        if key not in after:
            title = item.get("label") or item.get("name") or key
            changes.append(Change(area, "removed", f"删除{noun}「{title}」（{key}）"))
    kept_old = [k for k in before if k in after]
    kept_new = [k for k in after if k in before]
    if kept_old != kept_new:
        changes.append(Change(area, "moved", f"{noun}顺序调整为：{'、'.join(kept_new)}"))
    return changes


def change_list(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Change]:
    """What changes from `old` (a published spec, None for a new process) to `new`.

    Both are plain definitions; compare them as dumped specs (defaults left out) so a
    value spelled out in one and defaulted in the other is no change.
    """
    if old is None:
        return [Change("catalogue", "added", f"新事项「{new.get('name', '')}」首次发布")]
    changes: list[Change] = []
    for name, label in CATALOGUE_LABELS.items():
        if old.get(name) != new.get(name):
            if name in {"materials", "options", "description", "basis"}:
                changes.append(Change("catalogue", "changed", f"{label}已修改"))
            else:
                text = f"{label}：{_show(old.get(name))} → {_show(new.get(name))}"
                changes.append(Change("catalogue", "changed", text))
    changes.extend(
        _list_changes("form", "字段", old.get("form"), new.get("form"), FIELD_PROP_LABELS)
    )
    changes.extend(
        _list_changes("flow", "步骤", old.get("flow"), new.get("flow"), STEP_PROP_LABELS)
    )
    return changes


def normalized(data: Mapping[str, Any]) -> dict[str, Any]:
    """A definition as it would be stored: validated and dumped, else as given."""
    try:
        return dump_spec(ProcessSpec.model_validate(data))
    except ValidationError:
        return dict(data)


# ------------------------------------------------------------------------ reads


@dataclass(frozen=True)
class VersionUse:
    number: int
    published_at: datetime
    running: int  # applications on it still in progress
    total: int
    current: bool


@dataclass(frozen=True)
class ProcessRow:
    key: str
    name: str
    department_code: str
    department_name: str
    version: int | None  # the current version number; None before the first publication
    draft_updated_at: datetime | None


@dataclass(frozen=True)
class DraftView:
    key: str
    department_code: str
    department_name: str
    data: dict[str, Any]
    revision: int
    updated_at: datetime
    base_version: int | None
    problems: list[Problem]
    changes: list[Change]
    versions: list[VersionUse] = field(default_factory=list)
    # The school's active departments (code → name), offered wherever a code is typed.
    departments: dict[str, str] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class PublishResult:
    key: str
    version: int
    changes: list[Change]


@dataclass(frozen=True)
class AdminGrant:
    id: int
    userid: str
    name: str
    department_code: str
    department_name: str


@dataclass(frozen=True)
class StepPreview:
    """Who a step would reach for the chosen applicant and sample form."""

    index: int
    key: str
    name: str
    kind: str
    mode: str
    condition: str | None  # in words (`explain_condition`)
    runs: bool  # the condition holds (or there is none)
    approvers: list[str]  # "name (userid)", delegates marked
    cc: list[str]  # the people told when the step is passed, as the engine picks them
    nobody: bool  # the rule found nobody: the fallback people get it
    fallback: list[str]
    cc_rules: list[str] = field(default_factory=list)  # the CC rules in words
    cc_nobody: bool = False  # the step runs and its CC rules found nobody at all


def _department_names(session: Session) -> dict[str, str]:
    rows = session.execute(
        select(Department.code, Department.name)
        .where(Department.active.is_(True))
        .order_by(Department.code)
    ).all()
    return {row.code: row.name for row in rows}


def _person_label(person: Person) -> str:
    return f"{person.name}（{person.userid}）"


def _versions(session: Session, process: ProcessDefinition) -> list[VersionUse]:
    counts = dict(
        session.execute(
            select(Application.version_id, func.count())
            .where(Application.process_id == process.id)
            .group_by(Application.version_id)
        ).all()
    )
    running = dict(
        session.execute(
            select(Application.version_id, func.count())
            .where(
                Application.process_id == process.id,
                Application.__table__.c.status.in_([AppStatus.PENDING, AppStatus.RETURNED]),
            )
            .group_by(Application.version_id)
        ).all()
    )
    return [
        VersionUse(
            number=v.number,
            published_at=v.published_at,
            running=running.get(v.id, 0),
            total=counts.get(v.id, 0),
            current=v.id == process.current_version_id,
        )
        for v in sorted(process.versions, key=lambda v: v.number, reverse=True)
    ]


# --------------------------------------------------------------------- services


class Designer:
    """Designer services; each method is one unit of work on `db`."""

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock: Clock = clock or SystemClock()

    # ---------------------------------------------------------------- listing

    def editor(self, person_id: int) -> Editor:
        with self.db.reader() as session:
            return editor_of(session, person_id)

    def processes(self, person_id: int) -> list[ProcessRow]:
        """The processes (published or only drafted) the person may design."""
        with self.db.reader() as session:
            editor = _require_designer(session, person_id)
            rows: dict[str, ProcessRow] = {}
            query = (
                select(ProcessDefinition, Department, ProcessVersion)
                .join(Department, Department.id == ProcessDefinition.department_id)
                .outerjoin(
                    ProcessVersion, ProcessVersion.id == ProcessDefinition.current_version_id
                )
            )
            if not editor.everywhere:
                query = query.where(ProcessDefinition.department_id.in_(editor.departments))
            for process, dept, version in session.execute(query):
                rows[process.key] = ProcessRow(
                    key=process.key,
                    name=version.name if version else process.key,
                    department_code=dept.code,
                    department_name=dept.name,
                    version=version.number if version else None,
                    draft_updated_at=None,
                )
            drafts = select(ProcessDraft, Department).join(
                Department, Department.id == ProcessDraft.department_id
            )
            if not editor.everywhere:
                drafts = drafts.where(ProcessDraft.department_id.in_(editor.departments))
            for draft, dept in session.execute(drafts):
                known = rows.get(draft.process_key)
                rows[draft.process_key] = ProcessRow(
                    key=draft.process_key,
                    name=str(
                        draft.data.get("name") or (known.name if known else draft.process_key)
                    ),
                    department_code=dept.code,
                    department_name=dept.name,
                    version=known.version if known else None,
                    draft_updated_at=draft.updated_at,
                )
            return sorted(rows.values(), key=lambda r: (r.department_code, r.key))

    def departments(self, person_id: int) -> list[tuple[str, str]]:
        """Departments the person may create processes for."""
        with self.db.reader() as session:
            editor = _require_designer(session, person_id)
            query = select(Department).where(Department.active.is_(True))
            if not editor.everywhere:
                query = query.where(Department.id.in_(editor.departments))
            return [(d.code, d.name) for d in session.scalars(query.order_by(Department.code))]

    # ----------------------------------------------------------------- drafts

    def _process(self, session: Session, key: str) -> ProcessDefinition | None:
        return session.scalar(select(ProcessDefinition).where(ProcessDefinition.key == key))

    def _draft(self, session: Session, editor: Editor, key: str) -> ProcessDraft:
        draft = session.scalar(select(ProcessDraft).where(ProcessDraft.process_key == key))
        if draft is None or not editor.may_edit(draft.department_id):
            raise NotFound("草稿不存在")
        return draft

    def _view(self, session: Session, draft: ProcessDraft) -> DraftView:
        process = self._process(session, draft.process_key)
        base = session.get(ProcessVersion, draft.base_version_id) if draft.base_version_id else None
        _spec, problems = validate(session, draft.data)
        return DraftView(
            key=draft.process_key,
            department_code=draft.department.code,
            department_name=draft.department.name,
            data=copy.deepcopy(draft.data),
            revision=draft.revision,
            updated_at=draft.updated_at,
            base_version=base.number if base else None,
            problems=problems,
            changes=change_list(base.spec if base else None, normalized(draft.data)),
            versions=_versions(session, process) if process is not None else [],
            departments=_department_names(session),
        )

    def open_draft(self, person_id: int, key: str) -> DraftView:
        """The process's draft; started from its current version when there is none."""
        with self.db.unit_of_work() as session:
            editor = _require_designer(session, person_id)
            draft = session.scalar(select(ProcessDraft).where(ProcessDraft.process_key == key))
            if draft is None:
                process = self._process(session, key)
                if process is None or not editor.may_edit(process.department_id):
                    raise NotFound("事项不存在")
                current = process.current_version
                if current is None:
                    raise NotFound("事项不存在")
                now = self.clock.now()
                draft = ProcessDraft(
                    process_key=key,
                    department_id=process.department_id,
                    base_version_id=current.id,
                    data=copy.deepcopy(current.spec),
                    created_by_id=person_id,
                    updated_by_id=person_id,
                    created_at=now,
                    updated_at=now,
                )
                session.add(draft)
                session.flush()
            elif not editor.may_edit(draft.department_id):
                raise NotFound("草稿不存在")
            return self._view(session, draft)

    def create(self, person_id: int, *, key: str, name: str, department_code: str) -> DraftView:
        """Start a new process of a department as a draft with one field and one step."""
        problems: dict[str, str] = {}
        if not re.fullmatch(KEY_RE, key):
            problems["key"] = "编码以小写字母开头，只含小写字母、数字和下划线"
        if not name.strip():
            problems["name"] = "请填写事项名称"
        with self.db.unit_of_work() as session:
            editor = _require_designer(session, person_id)
            dept = session.scalar(select(Department).where(Department.code == department_code))
            if dept is None or not editor.may_edit(dept.id):
                problems["department"] = "只能为自己管理的部门建立事项"
            taken = self._process(session, key) is not None or session.scalar(
                select(ProcessDraft.id).where(ProcessDraft.process_key == key)
            )
            if taken:
                problems["key"] = "该编码已被使用"
            if problems:
                raise Invalid("请修改后再建立", fields=problems)
            assert dept is not None
            now = self.clock.now()
            data = {
                "key": key,
                "name": name.strip(),
                "department": dept.code,
                "category": "其他",
                "audience": ["staff", "student"],
                "form": [{"key": "reason", "label": "事由", "type": "textarea", "required": True}],
                "flow": [
                    {"key": "head", "name": "部门负责人审批", "approver": {"type": "dept_head"}}
                ],
            }
            draft = ProcessDraft(
                process_key=key,
                department_id=dept.id,
                data=data,
                created_by_id=person_id,
                updated_by_id=person_id,
                created_at=now,
                updated_at=now,
            )
            session.add(draft)
            session.flush()
            return self._view(session, draft)

    def save(
        self, person_id: int, key: str, data: Mapping[str, Any], *, revision: int | None = None
    ) -> DraftView:
        """Store the draft as given (valid or not) and report its problems.

        `revision` is the revision the editor started from; a save over someone else's
        newer save is refused so neither loses work silently.
        """
        if not isinstance(data, Mapping):
            raise Invalid("草稿格式不对")
        if len(json.dumps(data, ensure_ascii=False)) > MAX_DRAFT_BYTES:
            raise Invalid("草稿过大")
        with self.db.unit_of_work() as session:
            editor = _require_designer(session, person_id)
            draft = self._draft(session, editor, key)
            if revision is not None and revision != draft.revision:
                raise Conflict("草稿已被他人修改，请刷新后再编辑", revision=draft.revision)
            payload = dict(data)
            if payload.get("key") != key:
                payload["key"] = key  # the key names the process; it cannot change
            target = payload.get("department")
            if target != draft.department.code:
                dept = session.scalar(select(Department).where(Department.code == target))
                if dept is None or not editor.may_edit(dept.id):
                    payload["department"] = draft.department.code
                elif self._process(session, key) is None:
                    draft.department_id = dept.id  # a new process may still move department
                else:
                    payload["department"] = draft.department.code
            draft.data = payload
            draft.revision += 1
            draft.updated_at = self.clock.now()
            draft.updated_by_id = person_id
            session.flush()
            session.refresh(draft)
            return self._view(session, draft)

    def discard(self, person_id: int, key: str) -> None:
        with self.db.unit_of_work() as session:
            editor = _require_designer(session, person_id)
            session.delete(self._draft(session, editor, key))

    def publish(self, person_id: int, key: str, *, revision: int | None = None) -> PublishResult:
        """Publish the draft as the next version; the draft is removed on success."""
        with self.db.unit_of_work() as session:
            editor = _require_designer(session, person_id)
            draft = self._draft(session, editor, key)
            if revision is not None and revision != draft.revision:
                raise Conflict("草稿已被他人修改，请刷新后再发布", revision=draft.revision)
            spec, problems = validate(session, draft.data)
            if spec is None:
                raise Invalid(
                    "草稿还有问题，不能发布",
                    fields={p.path: p.message for p in problems},
                )
            process = self._process(session, key)
            if process is not None and not editor.may_edit(process.department_id):
                raise NotFound("草稿不存在")
            owner = session.scalar(select(Department).where(Department.code == spec.department))
            if owner is None or not editor.may_edit(owner.id):
                raise NotFound("草稿不存在")
            before = process.current_version.spec if process and process.current_version else None
            actor = session.get(Person, person_id)
            version = publish(session, spec, by=actor)
            changes = change_list(before, version.spec)
            session.delete(draft)
            return PublishResult(key=key, version=version.number, changes=changes)

    # ------------------------------------------------------ who would approve

    def who_would_approve(
        self,
        person_id: int,
        key: str,
        applicant_userid: str,
        sample: Mapping[str, Any],
        say: Callable[[str], str] = _same,
    ) -> list[StepPreview]:
        """Resolve every step of the draft for an applicant and a sample form, against the
        school's real people and roles, as the engine would at submission: approvers
        (with delegates) and the people each passed step is CC'd to. `say` words the
        conditions and rules (see `describe_path`)."""
        with self.db.reader() as session:
            editor = _require_designer(session, person_id)
            draft = self._draft(session, editor, key)
            spec, problems = validate(session, draft.data)
            if spec is None:
                raise Invalid(
                    "草稿还有问题，请先修改", fields={p.path: p.message for p in problems}
                )
            applicant = session.scalar(select(Person).where(Person.userid == applicant_userid))
            if applicant is None or applicant.status != PersonStatus.ACTIVE:
                raise Invalid("没有这位在职/在读人员", fields={"applicant": "没有这位人员"})
            form = sample_form(spec, sample)
            facts = Facts(form=form, applicant=applicant_facts(session, applicant))
            words = Words(spec, say, _department_names(session))
            told: set[int] = {applicant.id}  # the engine tells a follower once, never the applicant
            return [
                _preview(
                    session,
                    i,
                    step,
                    applicant=applicant,
                    form=form,
                    facts=facts,
                    today=self.clock.now().date(),
                    owning_dept_id=draft.department_id,
                    words=words,
                    told=told,
                    applicant_approver=spec.options.applicant_approver,
                )
                for i, step in enumerate(spec.flow)
            ]

    # ------------------------------------------------- department administrators

    def admins(self, person_id: int) -> list[AdminGrant]:
        """Every department administrator grant (information center only)."""
        with self.db.reader() as session:
            if not is_info_center(session, person_id):
                raise NotFound("页面不存在")
            rows = session.execute(
                select(RoleGrant.id, Person.userid, Person.name, Department.code, Department.name)
                .join(Person, Person.id == RoleGrant.person_id)
                .join(Department, Department.id == RoleGrant.department_id)
                .where(RoleGrant.role_code == RoleCode.DEPT_ADMIN)
                .order_by(Department.code, Person.userid)
            ).all()
            return [AdminGrant(*row) for row in rows]

    def grant_admin(self, person_id: int, userid: str, department_code: str) -> int:
        with self.db.unit_of_work() as session:
            if not is_info_center(session, person_id):
                raise NotFound("页面不存在")
            problems: dict[str, str] = {}
            who = session.scalar(select(Person).where(Person.userid == userid.strip()))
            if who is None or who.status != PersonStatus.ACTIVE:
                problems["userid"] = "没有这位在职人员"
            dept = session.scalar(select(Department).where(Department.code == department_code))
            if dept is None:
                problems["department"] = "没有这个部门"
            if problems:
                raise Invalid("请修改后再提交", fields=problems)
            assert who is not None
            assert dept is not None
            existing = session.scalar(
                select(RoleGrant).where(
                    RoleGrant.person_id == who.id,
                    RoleGrant.role_code == RoleCode.DEPT_ADMIN,
                    RoleGrant.department_id == dept.id,
                )
            )
            if existing is not None:
                return existing.id
            row = RoleGrant(
                person_id=who.id,
                role_code=RoleCode.DEPT_ADMIN,
                department_id=dept.id,
                source=GrantSource.MANUAL,
            )
            session.add(row)
            session.flush()
            # Who may design a department's processes is a security decision: say who
            # decided it (there is no audit table for role grants; the log is the record).
            log.info(
                "person %s granted dept_admin of %s to %s (grant %s)",
                person_id,
                dept.code,
                who.userid,
                row.id,
            )
            return row.id

    def revoke_admin(self, person_id: int, grant_id: int) -> None:
        with self.db.unit_of_work() as session:
            if not is_info_center(session, person_id):
                raise NotFound("页面不存在")
            row = session.get(RoleGrant, grant_id)
            if row is None or row.role_code != RoleCode.DEPT_ADMIN:
                raise NotFound("授权不存在")
            log.info(
                "person %s revoked dept_admin of %s from %s (grant %s)",
                person_id,
                row.department.code if row.department is not None else "-",
                row.person.userid,
                row.id,
            )
            session.delete(row)


def sample_form(spec: ProcessSpec, sample: Mapping[str, Any]) -> dict[str, Any]:
    """The sample values a designer typed, shaped as stored form values: numbers as
    numbers, `x.start`/`x.end` pairs as ranges, repeated values as lists."""
    form: dict[str, Any] = {}
    for f in spec.form:
        value: Any = sample.get(f.key)
        start, end = sample.get(f"{f.key}.start"), sample.get(f"{f.key}.end")
        if start or end:
            value = {"start": start or "", "end": end or ""}
        if isinstance(value, Sequence) and not isinstance(value, str) and f.type != "multichoice":
            value = value[0] if value else None
        if f.type == "multichoice" and isinstance(value, str):
            value = [value]
        if f.type == "number" and isinstance(value, str) and value.strip():
            try:
                value = float(value) if "." in value else int(value)
            except ValueError:
                value = None
        if value not in (None, ""):
            form[f.key] = value
    return form


def _preview(
    session: Session,
    index: int,
    step: Step,
    *,
    applicant: Person,
    form: Mapping[str, Any],
    facts: Facts,
    today: date,
    owning_dept_id: int,
    words: Words,
    told: set[int],
    applicant_approver: str = "pass",
) -> StepPreview:
    runs = step.condition is None or evaluate(step.condition, facts)
    approvers: list[str] = []
    cc: list[str] = []
    fallback: list[str] = []
    nobody = cc_nobody = False
    if runs:
        people = resolve_rule(session, step.approver, applicant, form)
        people = not_own_approver(session, people, applicant, applicant_approver)
        if step.mode == "single":
            people = people[:1]
        for entry in delegate(session, people, today):
            label = _person_label(entry.person)
            if entry.delegated_from is not None:
                label += f"，代 {entry.delegated_from.name} 审批"
            approvers.append(label)
        nobody = not people
        if nobody and step.approver.type != RuleType.APPLICANT:
            fallback = [_person_label(p) for p in fallback_people(session, owning_dept_id)]
        found = [who for rule in step.cc for who in resolve_rule(session, rule, applicant, form)]
        cc_nobody = bool(step.cc) and not found
        for who in found:
            if who.id not in told:
                told.add(who.id)
                cc.append(_person_label(who))
    return StepPreview(
        index=index,
        key=step.key,
        name=step.name,
        kind=step.kind.value,
        mode=step.mode.value,
        condition=words.condition(step.condition) if step.condition is not None else None,
        runs=runs,
        approvers=approvers,
        cc=cc,
        nobody=nobody,
        fallback=fallback,
        cc_rules=[words.rule(rule) for rule in step.cc],
        cc_nobody=cc_nobody,
    )
