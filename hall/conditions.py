"""Evaluate a step's condition against the application's facts (pure functions).

Subjects: `form.<field>`, `form.<range>.days` (inclusive day count of a date or datetime
range), `form.<multichoice>.count`, and `applicant.kind|post|department|level|roles`.
A subject with no value makes ordering comparisons false instead of failing the flow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from hall.definitions import AllOf, AnyOf, Compare, Condition, Not


@dataclass(frozen=True)
class ApplicantFacts:
    kind: str | None = None
    post: str | None = None
    department: str | None = None  # department code
    level: str | None = None  # student level (本科, 硕士, ...) from the profile
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Facts:
    form: Mapping[str, Any] = field(default_factory=dict)
    applicant: ApplicantFacts = field(default_factory=ApplicantFacts)


def range_days(value: Any) -> int | None:
    """Inclusive number of calendar days a stored date/datetime range covers."""
    if not isinstance(value, Mapping):
        return None
    try:
        start = _as_date(value["start"])
        end = _as_date(value["end"])
    except (KeyError, TypeError, ValueError):
        return None
    return (end - start).days + 1


def _as_date(text: Any) -> date:
    if not isinstance(text, str):
        raise TypeError(text)
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text).date()


def subject_value(subject: str, facts: Facts) -> Any:
    scope, _, rest = subject.partition(".")
    if scope == "applicant":
        value: Any = getattr(facts.applicant, rest, None)
        return list(value) if isinstance(value, tuple) else value
    name, _, derived = rest.partition(".")
    value = facts.form.get(name)
    if derived == "days":
        return range_days(value)
    if derived == "count":
        return len(value) if isinstance(value, (list, tuple)) else 0
    return value


def evaluate(cond: Condition, facts: Facts) -> bool:
    if isinstance(cond, AllOf):
        return all(evaluate(c, facts) for c in cond.all)
    if isinstance(cond, AnyOf):
        return any(evaluate(c, facts) for c in cond.any)
    if isinstance(cond, Not):
        return not evaluate(cond.not_, facts)
    return _compare(cond, subject_value(cond.subject, facts))


def _empty(value: Any) -> bool:
    return value is None or value in ("", [], {})


def _same(left: Any, right: Any) -> bool:
    """Equality that lets `3` equal `"3"` and `3.0` (forms and YAML disagree on types)."""
    if left == right:
        return True
    ln, rn = _number(left), _number(right)
    return ln is not None and rn is not None and ln == rn


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _ordered(left: Any, right: Any) -> tuple[Any, Any] | None:
    ln, rn = _number(left), _number(right)
    if ln is not None and rn is not None:
        return ln, rn
    if isinstance(left, str) and isinstance(right, str):
        return left, right  # ISO dates and times order as text
    return None


def _members(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return [] if value is None else [value]


def _compare(cond: Compare, left: Any) -> bool:
    op, right = cond.op, cond.value
    if op == "empty":
        return _empty(left)
    if op == "not_empty":
        return not _empty(left)
    if op == "==":
        return _same(left, right)
    if op == "!=":
        return not _same(left, right)
    if op in {"in", "not_in"}:
        choices = _members(right)
        # A list subject (roles, multichoice) is "in" when any of its members is.
        hit = any(_same(item, c) for item in _members(left) for c in choices)
        return hit if op == "in" else not hit
    if op == "contains":
        if isinstance(left, str) and isinstance(right, str):
            return right in left
        return any(_same(item, right) for item in _members(left))
    pair = _ordered(left, right)
    if pair is None:
        return False
    a, b = pair
    if op == ">":
        return bool(a > b)
    if op == ">=":
        return bool(a >= b)
    if op == "<":
        return bool(a < b)
    return bool(a <= b)


def describe(cond: Condition) -> str:
    """A readable one-line form of the condition, for the history and the designer."""
    if isinstance(cond, AllOf):
        return "(" + " 且 ".join(describe(c) for c in cond.all) + ")"
    if isinstance(cond, AnyOf):
        return "(" + " 或 ".join(describe(c) for c in cond.any) + ")"
    if isinstance(cond, Not):
        return f"非 {describe(cond.not_)}"
    if cond.op in {"empty", "not_empty"}:
        return f"{cond.subject} {cond.op}"
    return f"{cond.subject} {cond.op} {cond.value!r}"
