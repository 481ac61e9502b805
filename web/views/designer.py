"""The process designer (desktop): department administrators edit their department's
processes, the information center any. Outsiders get the 404 page on every route.

The editor page holds the draft in the browser and saves it to the server on every change
(`POST /designer/<key>/save`, JSON with the CSRF header); the answer carries the problems
(shown next to their fields), the change list against the published version, and the
live preview (the applicant's form, rendered by the same partial as the apply page) with
the flow diagram. "Who would approve this" posts the preview form; publishing is a form.

The services speak zh_CN; `say` puts their messages (problems, change lists, who would
approve) into the viewer's language, and the editor's script gets its labels translated
from the page (`JS_LABELS`, a JSON blob), so the whole page follows the language switch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import Response, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from pydantic import ValidationError
from werkzeug.wrappers import Response as BaseResponse

from hall.definitions import PREFILL_SOURCES, FieldType, FormField, ProcessSpec, TimeoutAction
from hall.designer import (
    APPLICANT_APPROVER_LABELS,
    APPLICANT_SUBJECTS,
    BARE_OPS,
    GROUP_LABELS,
    KIND_LABELS,
    LIST_OPS,
    MODE_LABELS,
    OP_LABELS,
    OPS_BY_KIND,
    RESUBMIT_LABELS,
    ROLE_LABELS,
    RULE_LABELS,
    STEP_KIND_LABELS,
    STUDENT_LEVELS,
    TIMEOUT_LABELS,
    Designer,
    DraftView,
    StepPreview,
    Words,
    describe_path,
)
from hall.errors import Conflict, HallError, Invalid, NotFound
from web.i18n import CATALOGUE, current_lang, gettext
from web.views.common import (
    clock,
    db,
    invalid_fields,
    not_found_page,
    page,
    page_blueprint,
    person_id,
)
from web.views.formdata import read_form

bp = page_blueprint("designer", __name__)


# The editor script's labels (designer.js): key → zh_CN message id, sent translated.
JS_LABELS: dict[str, str] = {
    "name": "事项名称",
    "category": "分类",
    "audience": "服务对象",
    "visible_to": "可见范围（部门编码，逗号分隔）",
    "description": "说明",
    "basis": "办事依据",
    "materials": "材料清单（每行一项）",
    "optional_suffix": "（可选）",
    "promised_days": "承诺时限（工作日）",
    "visits": "跑动次数",
    "contact": "咨询电话",
    "immediate": "即办件",
    "drag": "拖动",
    "remove": "删除",
    "remove_field": "删除字段",
    "remove_step": "删除步骤",
    "label": "标题",
    "field_key": "字段编码",
    "type": "类型",
    "first_option": "选项一",
    "required": "必填",
    "key_field": "卡片关键字段",
    "printed": "打印记录中显示",
    "prefill": "自动填入",
    "help": "说明",
    "options": "选项（每行 值=显示名）",
    "max_length": "最长长度",
    "pattern": "格式（正则）",
    "min": "最小值",
    "max": "最大值",
    "max_days": "最长天数",
    "step_name": "名称",
    "step_key": "步骤编码",
    "mode": "审批方式",
    "approver": "审批人规则",
    "rule": "规则",
    "userids": "人员账号（逗号分隔）",
    "role": "角色",
    "department": "部门编码",
    "levels": "向上级数（1 = 本部门）",
    "person_field": "人员字段",
    "time_limit": "时限（小时）",
    "on_timeout": "到时限后",
    "applicant_approver": "审批人是申请人本人时",
    "resubmit_from": "退回修改后重新提交时",
    "urge_interval": "催办间隔（分钟，不填按系统默认）",
    "revoke_window": "通过后可撤销（小时，不填则不能撤销）",
    "gate_pass_field": "通行码有效时间（日期或时间范围字段，不选则无通行码）",
    "gate_pass_label": "通行码名称",
    "invite_host": "邀请办理的接待人字段（不选则不能邀请）",
    "invite_fields": "邀请人填写的字段",
    "invite_days": "邀请链接有效天数（不填为 7 天）",
    "invite_only": "仅限邀请办理",
    "auto_pass_applicant": "审批人是申请人本人时自动通过",
    "auto_pass_repeat": "已审批过的人再次出现时自动通过",
    "condition": "条件（不填则总是执行）",
    "always": "总是执行",
    "group": "条件组",
    "group_type": "组合方式",
    "add_compare": "添加比较",
    "add_group": "添加条件组",
    "add_subgroup": "添加子组",
    "remove_group": "删除条件组",
    "not_full": "「不满足」组只含一项；要否定多项，请把它们放进一个子组。",
    "compare_n": "比较 {n}",
    "group_n": "条件组 {n}",
    "subject": "条件对象",
    "op": "比较",
    "value": "值",
    "values_list": "值（逗号分隔）",
    "form_fields": "表单字段",
    "days_of": "{label}的天数",
    "count_of": "{label}的选择数",
    "applicant": "申请人",
    "unknown_subject": "（表单中没有）",
    "not_an_option": "（不在选项中）",
    "raw_value": "原值（修改即替换）",
    "unrecognized": "无法识别的条件，原样保留：",
    "cc": "抄送",
    "cc_none": "不抄送",
    "cc_n": "抄送 {n}",
    "add_cc": "添加抄送",
    "remove_cc": "移除抄送",
    "no_changes": "没有变更",
    "new_field": "新字段",
    "new_step": "新步骤",
    "separator": "：",
    "list_separator": "；",
}

# The designer services' messages with parameters (hall.designer): change lists, reference
# problems, delegated approvers. Each is a CATALOGUE id; `say` matches a message to one.
MESSAGES: tuple[str, ...] = (
    "新事项「{name}」首次发布",
    "新增字段「{title}」（{key}）",
    "新增步骤「{title}」（{key}）",
    "修改字段「{title}」：{detail}",
    "修改步骤「{title}」：{detail}",
    "删除字段「{title}」（{key}）",
    "删除步骤「{title}」（{key}）",
    "字段顺序调整为：{keys}",
    "步骤顺序调整为：{keys}",
    "{label}已修改",
    "{label}：{old} → {new}",
    "{label} {old} → {new}",
    "没有编码为 {code} 的部门",
    "没有在职人员 {userid}",
    "单个文件上限最多 {n} MB",
    "不能小于 {ge}",
    "应大于 {gt}",
    "不能大于 {le}",
    "应小于 {lt}",
    "不能超过 {max_length} 个字符",
    "至少 {min_length} 个字符",
    "最多 {max_length} 项",
    "{who}，代 {name} 审批",
    "表单中没有字段 {name}",
    "不认识的角色 {role}",
    "「{label}」不是日期范围，没有天数",
    "「{label}」不是多选字段，没有选择数",
    "「{label}」不能用「{op}」比较",
    "「{value}」不是「{label}」的选项",
    "请填写{label}",
    "邀请人不能代填附件或人员字段「{title}」",
)
# Values a change list shows for empty and yes/no (hall.designer._show).
VALUES = frozenset({"（空）", "是", "否"})


def _pattern(msgid: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", msgid)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)
    )
    return re.compile(f"^{regex}$", re.DOTALL)


_PATTERNS = [(msgid, _pattern(msgid)) for msgid in MESSAGES]


def _param(name: str, value: str) -> str:
    if name == "detail":  # a change's details: "标题 a → b；选项已修改"
        return "; ".join(say(part) for part in value.split("；"))
    if name in {"label", "op"}:
        return gettext(value)
    if name in {"old", "new"}:
        return gettext(value) if value in VALUES else value
    return value  # names, keys, codes: the records' own text


def say(message: str) -> str:
    """A designer service message in the viewer's language (itself in zh_CN)."""
    if current_lang() != "en":
        return message
    if message in CATALOGUE:
        return CATALOGUE[message]
    for msgid, pattern in _PATTERNS:
        found = pattern.match(message)
        if found is not None:
            params = {k: _param(k, v) for k, v in found.groupdict().items()}
            return CATALOGUE[msgid].format(**params)
    return message


def _js_labels() -> dict[str, str]:
    return {key: gettext(msgid) for key, msgid in JS_LABELS.items()}


def _who_steps(steps: list[StepPreview]) -> list[dict[str, Any]]:
    return [
        {
            "index": s.index,
            "name": s.name,
            "condition": s.condition,
            "runs": s.runs,
            "approvers": [say(a) for a in s.approvers],
            "cc": s.cc,
            "cc_rules": s.cc_rules,
            "cc_nobody": s.cc_nobody,
            "nobody": s.nobody,
            "fallback": s.fallback,
        }
        for s in steps
    ]


def designer() -> Designer:
    return Designer(db(), clock())


def _labelled(labels: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(value, gettext(label)) for value, label in labels.items()]


def _choices(view: DraftView) -> dict[str, Any]:
    """The vocabularies the editor offers, each value with its label in the viewer's
    language: field types, step kinds and modes, rule types and roles, and what conditions
    compare (subjects about the applicant, comparisons by kind of subject, choices)."""
    return {
        "field_types": [t.value for t in FieldType],
        "step_kinds": _labelled(STEP_KIND_LABELS),
        "modes": _labelled(MODE_LABELS),
        "timeouts": _labelled(TIMEOUT_LABELS),
        "applicant_approvers": _labelled(APPLICANT_APPROVER_LABELS),
        "resubmit_froms": _labelled(RESUBMIT_LABELS),
        "rule_types": _labelled(RULE_LABELS),
        "roles": _labelled(ROLE_LABELS),
        "prefill": sorted(PREFILL_SOURCES),
        "groups": _labelled(GROUP_LABELS),
        "ops": _labelled(OP_LABELS),
        "ops_by_kind": OPS_BY_KIND,
        "bare_ops": sorted(BARE_OPS),
        "list_ops": sorted(LIST_OPS),
        "applicant_subjects": [
            {"value": subject.removeprefix("applicant."), "label": gettext(label)}
            for subject, label in APPLICANT_SUBJECTS.items()
        ],
        "kinds": _labelled(KIND_LABELS),
        "levels": list(STUDENT_LEVELS),
        "departments": list(view.departments.items()),
    }


def _preview_spec(data: dict[str, Any]) -> tuple[list[FormField], ProcessSpec | None]:
    """The fields that validate on their own (for the preview) and the whole spec if valid."""
    try:
        spec = ProcessSpec.model_validate(data)
    except ValidationError:
        spec = None
    if spec is not None:
        return list(spec.form), spec
    fields = []
    for raw in data.get("form") or ():
        try:
            fields.append(FormField.model_validate(raw))
        except ValidationError:
            continue
    return fields, None


def _preview_context(view: DraftView) -> dict[str, Any]:
    fields, spec = _preview_spec(view.data)
    steps = []
    raw_steps = view.data.get("flow") if isinstance(view.data.get("flow"), list) else []
    if spec is not None:
        words = Words(spec, gettext, view.departments)
        steps = [
            {
                "name": s.name,
                "kind": gettext(STEP_KIND_LABELS[s.kind]),
                "mode": gettext(MODE_LABELS[s.mode]),
                "condition": words.condition(s.condition) if s.condition is not None else "",
                "rule": words.rule(s.approver),
                "cc": [words.rule(rule) for rule in s.cc],
                "limit": s.time_limit_hours,
                "timeout": (
                    gettext(TIMEOUT_LABELS[s.on_timeout])
                    if s.on_timeout != TimeoutAction.REMIND
                    else ""
                ),
            }
            for s in spec.flow
        ]
    else:
        steps = [
            {"name": str(s.get("name") or s.get("key") or "?"), "kind": "", "mode": ""}
            for s in raw_steps or ()
            if isinstance(s, dict)
        ]
    return {
        "view": view,
        "fields": fields,
        "steps": steps,
        "gate_pass": _gate_pass_words(spec),
        "invite": _invite_words(spec),
        "values": {},
        "errors": {},
        "files": {},
        "people": {},
    }


def _gate_pass_words(spec: ProcessSpec | None) -> str:
    """The preview's line about the 通行码 an approval gives, if any."""
    option = spec.options.gate_pass if spec is not None else None
    if spec is None or option is None:
        return ""
    field = spec.field(option.field).label
    return gettext("通过后生成「{label}」，在「{field}」内有效", label=option.label, field=field)


def _invite_words(spec: ProcessSpec | None) -> str:
    """The preview's line about invitations by staff (入校预约), if any."""
    option = spec.options.invite if spec is not None else None
    if spec is None or option is None:
        return ""
    titles = [gettext("「{title}」", title=spec.field(key).label) for key in option.fields]
    if titles:
        words = gettext(
            "教职工可邀请校外人员办理：邀请人填写{fields}，链接 {days} 天内有效",
            fields=gettext("、").join(titles),
            days=option.valid_days,
        )
    else:
        words = gettext("教职工可邀请校外人员办理，链接 {days} 天内有效", days=option.valid_days)
    return words + (gettext("（仅限邀请）") if option.only else "")


def _preview_html(view: DraftView) -> str:
    return render_template("designer/_preview.html", **_preview_context(view))


def _state(view: DraftView) -> dict[str, Any]:
    return {
        "revision": view.revision,
        "valid": view.valid,
        "problems": [
            {"path": p.path, "where": describe_path(p.path, gettext), "message": say(p.message)}
            for p in view.problems
        ],
        "changes": [say(c.text) for c in view.changes],
        "preview": _preview_html(view),
    }


@bp.get("/designer/")
def index() -> Response:
    try:
        rows = designer().processes(person_id())
        departments = designer().departments(person_id())
    except NotFound:
        return not_found_page()
    return page("designer/index.html", rows=rows, departments=departments, errors={}, form={})


@bp.post("/designer/new")
def create() -> BaseResponse:
    form = {k: request.form.get(k, "").strip() for k in ("key", "name", "department")}
    try:
        designer().create(
            person_id(), key=form["key"], name=form["name"], department_code=form["department"]
        )
    except Invalid as exc:
        try:
            rows = designer().processes(person_id())
            departments = designer().departments(person_id())
        except NotFound:
            return not_found_page()
        return page(
            "designer/index.html",
            422,
            rows=rows,
            departments=departments,
            errors={k: gettext(v) for k, v in invalid_fields(exc).items()},
            form=form,
        )
    except NotFound:
        return not_found_page()
    return redirect(url_for("designer.edit", key=form["key"]))


@bp.get("/designer/<key>")
def edit(key: str) -> Response:
    try:
        view = designer().open_draft(person_id(), key)
    except NotFound:
        return not_found_page()
    context = _preview_context(view)
    context.pop("view")
    return page(
        "designer/edit.html",
        view=view,
        state=_state(view),
        choices=_choices(view),
        labels=_js_labels(),
        **context,
    )


@bp.post("/designer/<key>/save")
def save(key: str) -> ResponseReturnValue:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        return jsonify(error=gettext("草稿格式不对")), 400
    revision = body.get("revision")
    try:
        view = designer().save(
            person_id(),
            key,
            body["data"],
            revision=revision if isinstance(revision, int) else None,
        )
    except NotFound:
        return jsonify(error=gettext("未找到")), 404
    except Conflict as exc:
        return jsonify(error=gettext(exc.message), revision=exc.detail.get("revision")), 409
    except Invalid as exc:
        return jsonify(error=gettext(exc.message)), 422
    return jsonify(_state(view))


@bp.post("/designer/<key>/who")
def who(key: str) -> Response:
    """Who would approve: the preview form's values as the sample, the chosen applicant."""
    applicant = request.form.get("applicant", "").strip()
    try:
        view = designer().open_draft(person_id(), key)
        fields, _spec = _preview_spec(view.data)
        sample = read_form(fields, request.form)
        steps = designer().who_would_approve(person_id(), key, applicant, sample, gettext)
    except NotFound:
        return not_found_page()
    except Invalid as exc:
        return page(
            "designer/_who.html", 200, steps=[], error=gettext(exc.message), applicant=applicant
        )
    return page("designer/_who.html", steps=_who_steps(steps), error="", applicant=applicant)


@bp.post("/designer/<key>/publish")
def publish(key: str) -> BaseResponse:
    revision = request.form.get("revision", "")
    try:
        result = designer().publish(
            person_id(), key, revision=int(revision) if revision.isdigit() else None
        )
    except NotFound:
        return not_found_page()
    except HallError as exc:
        # The problems themselves are listed on the editor page it goes back to.
        flash(gettext(exc.message), "error")
        return redirect(url_for("designer.edit", key=key))
    return page(
        "designer/published.html", result=result, changes=[say(c.text) for c in result.changes]
    )


@bp.post("/designer/<key>/discard")
def discard(key: str) -> BaseResponse:
    try:
        designer().discard(person_id(), key)
    except NotFound:
        return not_found_page()
    return redirect(url_for("designer.index"))
