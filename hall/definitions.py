"""Process definitions as data: catalogue entry + form + flow, validated with pydantic.

A definition is what an administrator designs and what `hall process import|export`
reads and writes as YAML. Publishing freezes it into a `ProcessVersion.spec`.
"""

from __future__ import annotations

import enum
import re
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

KEY_RE = r"^[a-z][a-z0-9_]{0,63}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Audience(enum.StrEnum):
    STAFF = "staff"
    STUDENT = "student"
    OFFCAMPUS = "offcampus"


class FieldType(enum.StrEnum):
    TEXT = "text"
    TEXTAREA = "textarea"  # long text
    NUMBER = "number"
    DATE = "date"
    DATE_RANGE = "date_range"
    DATETIME_RANGE = "datetime_range"
    CHOICE = "choice"  # single choice
    MULTICHOICE = "multichoice"
    MOBILE = "mobile"
    IDCARD = "idcard"  # 18-digit resident ID number with its check digit
    ATTACHMENT = "attachment"
    PERSON = "person"  # person picker: a userid of someone the hall knows


RANGE_TYPES = frozenset({FieldType.DATE_RANGE, FieldType.DATETIME_RANGE})

# Profile attributes a field may be prefilled from (`prefill: profile.mobile`).
PREFILL_SOURCES = frozenset(
    {"name", "number", "mobile", "email", "department", "kind", "gender"}
    | {"profile.major", "profile.class", "profile.grade", "profile.level"}
)


class Option(Strict):
    value: str = Field(min_length=1, max_length=64)
    label: str = Field(min_length=1, max_length=64)


# The largest file a field may take. A request carries at most this plus 2 MB (the web
# app's MAX_CONTENT_LENGTH, the API's upload limit); the designer refuses larger fields.
# Versions published with more stay readable, their uploads stop at the request limit.
UPLOAD_MAX_MB = 30


class FormField(Strict):
    key: str = Field(pattern=KEY_RE)
    label: str = Field(min_length=1, max_length=64)
    type: FieldType
    required: bool = False
    help: str = Field(default="", max_length=500)
    placeholder: str = Field(default="", max_length=100)
    default: Any = None
    prefill: str | None = None  # a PREFILL_SOURCES name
    options: tuple[Option, ...] = ()
    # Validation rules; which apply depends on the type.
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=1, le=10_000)
    pattern: str | None = None
    pattern_message: str | None = None
    min: float | None = None
    max: float | None = None
    integer: bool = False
    max_days: int | None = Field(default=None, ge=1)  # ranges: longest allowed span
    max_files: int = Field(default=5, ge=1, le=20)
    max_size_mb: float = Field(default=10, gt=0, le=100)
    accept: tuple[str, ...] = ()  # attachment: allowed extensions, e.g. ("pdf", "jpg")
    key_field: bool = False  # shown on the reviewer's card (up to 6)
    printed: bool = True  # shown on the printable approval record (False: an ID number ...)

    @field_validator("prefill")
    @classmethod
    def _known_prefill(cls, value: str | None) -> str | None:
        if value is not None and value not in PREFILL_SOURCES:
            raise ValueError(
                f"unknown prefill source {value!r}; use one of {', '.join(sorted(PREFILL_SOURCES))}"
            )
        return value

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"pattern does not compile: {exc}") from None
        return value

    @model_validator(mode="after")
    def _options_match_type(self) -> FormField:
        choice = self.type in {FieldType.CHOICE, FieldType.MULTICHOICE}
        if choice and not self.options:
            raise ValueError(f"field {self.key!r}: a choice field needs options")
        if not choice and self.options:
            raise ValueError(f"field {self.key!r}: only choice fields have options")
        values = [o.value for o in self.options]
        if len(values) != len(set(values)):
            raise ValueError(f"field {self.key!r}: option values must be unique")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"field {self.key!r}: min is greater than max")
        return self


# ------------------------------------------------------------------ conditions

Op = Literal["==", "!=", ">", ">=", "<", "<=", "in", "not_in", "contains", "empty", "not_empty"]


class Compare(Strict):
    """`form.days > 2`, `applicant.kind in [staff]`, `form.period.days >= 15`.

    `subject` is `form.<field>` (ranges also offer `.days`, multichoice `.count`) or
    `applicant.<kind|post|department|level>`.
    """

    subject: str = Field(
        pattern=r"^(form\.[a-z][a-z0-9_]*(\.(days|count))?|"
        r"applicant\.(kind|post|department|level|roles))$"
    )
    op: Op
    value: Any = None


class AllOf(Strict):
    all: tuple[Condition, ...] = Field(min_length=1)


class AnyOf(Strict):
    any: tuple[Condition, ...] = Field(min_length=1)


class Not(Strict):
    not_: Condition = Field(alias="not")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Condition = Compare | AllOf | AnyOf | Not


# --------------------------------------------------------------- approver rules


class RuleType(enum.StrEnum):
    PERSONS = "persons"  # named people (userids)
    ROLE_IN_APPLICANT_DEPT = "role_in_applicant_dept"  # a role in the applicant's department
    DEPT_HEAD = "dept_head"  # head of the applicant's department, N levels up (1 = own)
    # 逐级: the heads of the applicant's department and of each one above, up to N levels,
    # nearest first (with mode sequential, one after another up the chain).
    DEPT_HEAD_CHAIN = "dept_head_chain"
    COUNSELLOR = "counsellor"  # the applicant's counsellor
    LEADER_IN_CHARGE = "leader_in_charge"  # 分管校领导 of the applicant's (or a named) dept
    ROLE_IN_DEPT = "role_in_dept"  # a role in a named department
    FORM_PERSON = "form_person"  # the person named in a person field (consent, host)
    APPLICANT = "applicant"  # the applicant themself (e.g. confirm a handled result)


class ApproverRule(Strict):
    type: RuleType
    userids: tuple[str, ...] = ()
    role: str | None = None  # a RoleCode value
    levels: int = Field(default=1, ge=1, le=10)
    department: str | None = None  # a department code
    field: str | None = None  # the person field for FORM_PERSON

    @model_validator(mode="after")
    def _has_its_parameters(self) -> ApproverRule:
        need: dict[RuleType, tuple[str, ...]] = {
            RuleType.PERSONS: ("userids",),
            RuleType.ROLE_IN_APPLICANT_DEPT: ("role",),
            RuleType.ROLE_IN_DEPT: ("role", "department"),
            RuleType.FORM_PERSON: ("field",),
        }
        for name in need.get(self.type, ()):
            if not getattr(self, name):
                raise ValueError(f"approver rule {self.type.value!r} needs {name!r}")
        if self.role is not None:
            from hall.models import RoleCode  # noqa: PLC0415 - avoid a models import cycle

            if self.role not in {r.value for r in RoleCode}:
                raise ValueError(f"unknown role {self.role!r}")
        return self


class StepKind(enum.StrEnum):
    APPROVAL = "approval"
    NOTIFY = "notify"  # 报备: people are told, nobody decides
    HANDLE = "handle"  # the handler fills result fields the applicant sees
    CONSENT = "consent"  # a person named in the form agrees (host, roommate)


class Mode(enum.StrEnum):
    SINGLE = "single"  # one person (the first the rule yields)
    ANY = "any"  # 或签: the first decision counts
    ALL = "all"  # 会签: everyone must approve
    SEQUENTIAL = "sequential"  # one after another in the rule's order


class TimeoutAction(enum.StrEnum):
    """What happens to a to-do still pending at its step's time limit."""

    REMIND = "remind"  # remind the reviewer (daily) and tell the administrators
    APPROVE = "approve"  # 超时自动同意: the hall approves it
    REJECT = "reject"  # 超时自动驳回: the hall rejects the application


class Step(Strict):
    key: str = Field(pattern=KEY_RE)
    name: str = Field(min_length=1, max_length=64)
    kind: StepKind = StepKind.APPROVAL
    approver: ApproverRule
    mode: Mode = Mode.ANY
    condition: Condition | None = None  # the step runs only when this holds
    time_limit_hours: int | None = Field(default=None, ge=1, le=24 * 90)
    on_timeout: TimeoutAction = TimeoutAction.REMIND  # at the time limit (hall.reminders)
    cc: tuple[ApproverRule, ...] = ()  # told when the step is passed
    result_fields: tuple[FormField, ...] = ()  # HANDLE steps: what the handler fills
    allow_transfer: bool = True
    allow_add_signer: bool = True
    allow_return: bool = True

    @property
    def asks_for_results(self) -> bool:
        """Whether deciding needs fields typed in (处理结果 ...), which neither a WeCom card
        nor a batch approval can supply: those open the application's page."""
        return any(f.required for f in self.result_fields)

    @model_validator(mode="after")
    def _kind_rules(self) -> Step:
        if self.kind == StepKind.HANDLE and not self.result_fields:
            raise ValueError(f"step {self.key!r}: a handling step needs result_fields")
        if self.kind != StepKind.HANDLE and self.result_fields:
            raise ValueError(f"step {self.key!r}: only handling steps have result_fields")
        if self.kind == StepKind.CONSENT and self.approver.type != RuleType.FORM_PERSON:
            raise ValueError(f"step {self.key!r}: consent comes from a person named in the form")
        if self.on_timeout != TimeoutAction.REMIND:
            if self.time_limit_hours is None:
                raise ValueError(f"step {self.key!r}: on_timeout needs time_limit_hours")
            if self.kind != StepKind.APPROVAL:
                # A handler's result or a named person's consent cannot be assumed.
                raise ValueError(f"step {self.key!r}: only approval steps decide on timeout")
        return self


class Material(Strict):
    name: str = Field(min_length=1, max_length=100)
    required: bool = True
    note: str = Field(default="", max_length=300)


class Invite(Strict):
    """Staff may invite someone off campus (入校预约): the inviter fills `fields` and is
    the person field `host_field`; the invitee gets an SMS link, proves the number and
    completes the rest of the form, which cannot change what the inviter filled."""

    host_field: str = Field(pattern=KEY_RE)
    fields: tuple[str, ...] = ()
    valid_days: int = Field(default=7, ge=1, le=30)  # the link's life
    only: bool = False  # only by invitation: nobody applies without one (a visit needs a host)


class GatePass(Strict):
    """通行码: an approved application's pass for the gate (出校, 入校预约), valid during the
    window of one of its date_range or datetime_range fields."""

    field: str = Field(min_length=1, max_length=64)  # the range field's key
    label: str = Field(default="通行码", min_length=1, max_length=20)  # 出校通行码 ...


class Options(Strict):
    auto_pass_applicant: bool = True  # a step whose approver is the applicant passes
    # When a step's approver would be the applicant themselves (a head applying to their
    # own department): "pass" leaves it to auto_pass_applicant; "superior" sends it up, to
    # another head of their department or the one above, else the leader in charge.
    applicant_approver: Literal["pass", "superior"] = "pass"
    auto_pass_repeat: bool = True  # a step whose approver already approved earlier passes
    resubmit_from: Literal["returner", "start"] = "returner"
    urge_interval_minutes: int | None = Field(default=None, ge=1)
    # 撤销: the applicant may take back an approved application for this many hours after
    # the result (a leave no longer needed); None: an approval is final.
    revoke_window_hours: int | None = Field(default=None, ge=1, le=24 * 365)
    # 通行码: an approved application has a pass page (web/views/passes.py).
    gate_pass: GatePass | None = None
    invite: Invite | None = None  # staff may invite an off-campus applicant by SMS


class ProcessSpec(Strict):
    """The whole definition of a process version."""

    key: str = Field(pattern=KEY_RE)
    name: str = Field(min_length=1, max_length=100)
    department: str = Field(min_length=1, max_length=32)  # owning department code
    category: str = Field(min_length=1, max_length=32)
    audience: tuple[Audience, ...] = Field(min_length=1)
    visible_to: tuple[str, ...] = ()  # department codes (with their subtrees); empty = all
    description: str = Field(default="", max_length=2000)
    basis: str = Field(default="", max_length=2000)  # 办事依据
    materials: tuple[Material, ...] = ()
    promised_days: int | None = Field(default=None, ge=0, le=365)  # working days
    visits: int = Field(default=0, ge=0, le=10)  # 跑动次数
    immediate: bool = False  # 即办件
    contact: str = Field(default="", max_length=200)
    title_template: str = Field(default="{applicant}的{process}", max_length=100)
    form: tuple[FormField, ...] = Field(min_length=1)
    flow: tuple[Step, ...] = Field(min_length=1)
    options: Options = Options()

    @model_validator(mode="after")
    def _consistent(self) -> ProcessSpec:
        keys = [f.key for f in self.form]
        dup = {k for k in keys if keys.count(k) > 1}
        if dup:
            raise ValueError(f"duplicate form field keys: {', '.join(sorted(dup))}")
        steps = [s.key for s in self.flow]
        dup = {k for k in steps if steps.count(k) > 1}
        if dup:
            raise ValueError(f"duplicate step keys: {', '.join(sorted(dup))}")
        fields = {f.key: f for f in self.form}
        for step in self.flow:
            rules = (step.approver, *step.cc)
            for rule in rules:
                if rule.type == RuleType.FORM_PERSON:
                    target = fields.get(rule.field or "")
                    if target is None or target.type != FieldType.PERSON:
                        raise ValueError(
                            f"step {step.key!r}: {rule.field!r} is not a person field of the form"
                        )
            for subject in _subjects(step.condition):
                if subject.startswith("form."):
                    name = subject.split(".")[1]
                    if name not in fields:
                        raise ValueError(
                            f"step {step.key!r}: condition uses unknown field {name!r}"
                        )
        gate = self.options.gate_pass
        if gate is not None:
            target = fields.get(gate.field)
            if target is None or target.type not in RANGE_TYPES:
                raise ValueError(
                    f"gate_pass: {gate.field!r} is not a date_range or datetime_range field"
                    " of the form"
                )
        if sum(1 for f in self.form if f.key_field) > 6:
            raise ValueError("at most 6 key fields (a WeCom card shows 6 rows)")
        if self.options.invite is not None:
            _check_invite(self.options.invite, self.audience, fields)
        if Audience.OFFCAMPUS in self.audience and not any(
            f.type == FieldType.MOBILE and f.required for f in self.form
        ):
            raise ValueError("an off-campus process needs a required mobile field (SMS results)")
        return self

    def field(self, key: str) -> FormField:
        for f in self.form:
            if f.key == key:
                return f
        raise KeyError(key)


def _check_invite(
    invite: Invite, audience: tuple[Audience, ...], fields: dict[str, FormField]
) -> None:
    if Audience.OFFCAMPUS not in audience:
        raise ValueError("invitations are for off-campus applicants: add offcampus to audience")
    host = fields.get(invite.host_field)
    if host is None or host.type != FieldType.PERSON:
        raise ValueError(f"invite: {invite.host_field!r} is not a person field of the form")
    for key in invite.fields:
        target = fields.get(key)
        if target is None:
            raise ValueError(f"invite: unknown field {key!r}")
        if key == invite.host_field or target.type in {FieldType.ATTACHMENT, FieldType.PERSON}:
            # The inviter uploads nothing for the invitee, and names only themself.
            raise ValueError(f"invite: the inviter cannot fill {key!r}")
    if len(set(invite.fields)) != len(invite.fields):
        raise ValueError("invite: fields are listed twice")


def condition_subjects(cond: Condition | None) -> list[str]:
    """Every subject a condition reads (`form.days`, `applicant.kind`, ...)."""
    return _subjects(cond)


def _subjects(cond: Condition | None) -> list[str]:
    if cond is None:
        return []
    if isinstance(cond, Compare):
        return [cond.subject]
    if isinstance(cond, AllOf):
        return [s for c in cond.all for s in _subjects(c)]
    if isinstance(cond, AnyOf):
        return [s for c in cond.any for s in _subjects(c)]
    return _subjects(cond.not_)


for _model in (AllOf, AnyOf, Not, Step, ProcessSpec):
    _model.model_rebuild()


class DefinitionError(ValueError):
    """A process definition is invalid; `problems` lists each with its location."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid process definition: " + "; ".join(problems))
        self.problems = problems


def parse_spec(data: Any) -> ProcessSpec:
    """Validate a plain-data definition; raise DefinitionError with readable locations."""
    try:
        return ProcessSpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "definition"
            problems.append(f"{where}: {err['msg']}")
        raise DefinitionError(problems) from None


def load_yaml(text: str) -> ProcessSpec:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DefinitionError([f"YAML: {exc}"]) from None
    return parse_spec(data)


def dump_spec(spec: ProcessSpec) -> dict[str, Any]:
    """Plain data of a spec without defaults, so exports stay short and diffable."""
    return spec.model_dump(mode="json", exclude_defaults=True, by_alias=True)


def dump_yaml(spec: ProcessSpec) -> str:
    return yaml.safe_dump(dump_spec(spec), allow_unicode=True, sort_keys=False)


# What a reviewer may attach to a decision (a signed scan, a receipt, a photo of the fix):
# one attachment field every step has, apart from any form. Uploads name it with no
# process (a process key is never empty), so no form field can stand in for it.
DECISION_FILES = FormField(
    key="decision_files",
    label="附件",
    type=FieldType.ATTACHMENT,
    max_files=5,
    max_size_mb=20,
    accept=("pdf", "jpg", "jpeg", "png", "doc", "docx", "xls", "xlsx"),
)
