"""Step conditions: subjects, operators, combinators, missing values."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from hall.conditions import ApplicantFacts, Facts, describe, evaluate, range_days, subject_value
from hall.definitions import Condition

ADAPTER: TypeAdapter[Condition] = TypeAdapter(Condition)

FACTS = Facts(
    form={
        "days": 5,
        "amount": "1200.5",
        "kind": "sick",
        "period": {"start": "2026-09-01", "end": "2026-09-07"},
        "trip": {"start": "2026-09-01T20:00", "end": "2026-09-02T06:00"},
        "contents": ["transcript", "roster"],
        "note": "需要盖章的材料",
        "empty": "",
    },
    applicant=ApplicantFacts(
        kind="student", post=None, department="CS", level="硕士", roles=("student", "counsellor")
    ),
)


def cond(data: Any) -> Condition:
    return ADAPTER.validate_python(data)


def holds(data: Any, facts: Facts = FACTS) -> bool:
    return evaluate(cond(data), facts)


def test_subjects():
    assert subject_value("form.days", FACTS) == 5
    assert subject_value("form.period.days", FACTS) == 7
    assert subject_value("form.trip.days", FACTS) == 2
    assert subject_value("form.contents.count", FACTS) == 2
    assert subject_value("form.missing.count", FACTS) == 0
    assert subject_value("form.missing", FACTS) is None
    assert subject_value("applicant.kind", FACTS) == "student"
    assert subject_value("applicant.roles", FACTS) == ["student", "counsellor"]
    assert subject_value("applicant.department", FACTS) == "CS"


def test_range_days_is_inclusive_and_tolerant():
    assert range_days({"start": "2026-09-01", "end": "2026-09-01"}) == 1
    assert range_days({"start": "2026-12-31", "end": "2027-01-02"}) == 3
    assert range_days({"start": "2026-09-01"}) is None
    assert range_days({"start": 1, "end": 2}) is None
    assert range_days("2026-09-01") is None


@pytest.mark.parametrize(
    ("subject", "op", "value", "expected"),
    [
        ("form.days", ">", 2, True),
        ("form.days", ">", 5, False),
        ("form.days", ">=", 5, True),
        ("form.days", "<", 7, True),
        ("form.days", "<=", 4, False),
        ("form.days", "==", "5", True),  # YAML and forms disagree on types
        ("form.days", "!=", 5, False),
        ("form.amount", ">", 1000, True),
        ("form.period.days", ">=", 7, True),
        ("form.period.days", ">", 7, False),
        ("form.contents.count", "==", 2, True),
        ("form.kind", "in", ["sick", "personal"], True),
        ("form.kind", "not_in", ["sick"], False),
        ("form.contents", "in", ["roster"], True),
        ("form.contents", "not_in", ["letter"], True),
        ("form.contents", "contains", "transcript", True),
        ("form.contents", "contains", "letter", False),
        ("form.note", "contains", "盖章", True),
        ("form.empty", "empty", None, True),
        ("form.missing", "empty", None, True),
        ("form.note", "not_empty", None, True),
        ("form.kind", ">", "a", True),  # text orders as text (ISO dates)
        ("applicant.kind", "==", "student", True),
        ("applicant.level", "in", ["硕士", "博士"], True),
        ("applicant.roles", "in", ["counsellor"], True),
        ("applicant.roles", "contains", "dept_head", False),
        ("applicant.post", "==", None, True),
        ("applicant.department", "==", "JWC", False),
    ],
)
def test_comparisons(subject, op, value, expected):
    assert holds({"subject": subject, "op": op, "value": value}) is expected


def test_missing_values_never_satisfy_an_ordering():
    for op in (">", ">=", "<", "<="):
        assert not holds({"subject": "form.missing", "op": op, "value": 1})
    assert not holds({"subject": "form.kind", "op": ">", "value": 3})  # text vs number
    assert holds({"subject": "form.missing", "op": "!=", "value": 1})
    assert not holds({"subject": "form.days", "op": ">", "value": True})


def test_combinators():
    long_sick = {
        "all": [
            {"subject": "form.kind", "op": "==", "value": "sick"},
            {"subject": "form.days", "op": ">", "value": 3},
        ]
    }
    assert holds(long_sick)
    either = {
        "any": [
            {"subject": "form.days", "op": ">", "value": 30},
            {"subject": "applicant.kind", "op": "==", "value": "student"},
        ]
    }
    assert holds(either)
    assert not holds({"not": either})
    assert holds({"not": {"any": [{"subject": "form.days", "op": ">", "value": 30}]}})


def test_describe_reads_well():
    text = describe(
        cond(
            {
                "all": [
                    {"subject": "form.days", "op": ">", "value": 2},
                    {"not": {"subject": "form.note", "op": "empty"}},
                ]
            }
        )
    )
    assert text == "(form.days > 2 且 非 form.note empty)"
    assert describe(cond({"any": [{"subject": "form.days", "op": "<", "value": 1}]})) == (
        "(form.days < 1)"
    )
