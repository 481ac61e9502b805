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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hall.clock import Clock, SystemClock
from hall.conditions import Facts, describe, evaluate
from hall.db import Database
from hall.definitions import (
    KEY_RE,
    ApproverRule,
    ProcessSpec,
    RuleType,
    Step,
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
from hall.resolve import applicant_facts, delegate, fallback_people, resolve_rule
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
}
STEP_PROP_LABELS: dict[str, str] = {
    "name": "名称",
    "kind": "类型",
    "approver": "审批人",
    "mode": "审批方式",
    "condition": "条件",
    "time_limit_hours": "时限（小时）",
    "cc": "抄送",
    "result_fields": "办理结果字段",
    "allow_transfer": "允许转交",
    "allow_add_signer": "允许加签",
    "allow_return": "允许退回",
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
    """One thing wrong with a definition; `path` names where (`form.2.label`)."""

    path: str
    message: str

    @property
    def where(self) -> str:
        return describe_path(self.path)


def _same(text: str) -> str:
    return text


def describe_path(path: str, say: Callable[[str], str] = _same) -> str:
    """`form.2.label` → `表单字段 3 · 标题`, for people reading the problem list.

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
        return text
    return say(CATALOGUE_LABELS[head]) if head in CATALOGUE_LABELS else head


def _problems_of(exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        problems.append(Problem(path=path, message=message))
    return problems


def validate(session: Session, data: Mapping[str, Any]) -> tuple[ProcessSpec | None, list[Problem]]:
    """Check a definition: its own rules (the spec model) and its references to the school
    (departments and people that must exist). Returns the spec when there is no problem."""
    try:
        spec = ProcessSpec.model_validate(data)
    except ValidationError as exc:
        return None, _problems_of(exc)
    problems = _reference_problems(session, spec)
    return (spec if not problems else None), problems


def _reference_problems(session: Session, spec: ProcessSpec) -> list[Problem]:
    codes = {spec.department, *spec.visible_to}
    rules: list[tuple[str, ApproverRule]] = []
    for i, step in enumerate(spec.flow):
        rules.append((f"flow.{i}.approver", step.approver))
        rules.extend((f"flow.{i}.cc", rule) for rule in step.cc)
    codes |= {r.department for _p, r in rules if r.department}
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
            problems.append(Problem(path, f"没有编码为 {rule.department} 的部门"))
        problems.extend(
            Problem(path, f"没有在职人员 {userid}")
            for userid in rule.userids
            if userid not in active
        )
    return problems


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
    condition: str | None
    runs: bool  # the condition holds (or there is none)
    approvers: list[str]  # "name (userid)", delegates marked
    cc: list[str]
    nobody: bool  # the rule found nobody: the fallback people get it
    fallback: list[str]


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
        self, person_id: int, key: str, applicant_userid: str, sample: Mapping[str, Any]
    ) -> list[StepPreview]:
        """Resolve every step of the draft for an applicant and a sample form, against the
        school's real people and roles, as the engine would at submission."""
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
            today = self.clock.now().date()
            return [
                _preview(
                    session,
                    i,
                    step,
                    applicant=applicant,
                    form=form,
                    facts=facts,
                    today=today,
                    owning_dept_id=draft.department_id,
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
) -> StepPreview:
    runs = step.condition is None or evaluate(step.condition, facts)
    approvers: list[str] = []
    cc: list[str] = []
    fallback: list[str] = []
    nobody = False
    if runs:
        people = resolve_rule(session, step.approver, applicant, form)
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
        for rule in step.cc:
            cc.extend(_person_label(p) for p in resolve_rule(session, rule, applicant, form))
    return StepPreview(
        index=index,
        key=step.key,
        name=step.name,
        kind=step.kind.value,
        mode=step.mode.value,
        condition=describe(step.condition) if step.condition is not None else None,
        runs=runs,
        approvers=approvers,
        cc=cc,
        nobody=nobody,
        fallback=fallback,
    )
