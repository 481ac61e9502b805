"""The demo process library: every file validates, and export → import is the identity."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hall import demo
from hall.db import Database
from hall.definitions import (
    FieldType,
    RuleType,
    StepKind,
    dump_yaml,
    load_yaml,
)
from hall.models import ProcessVersion
from hall.process_library import library_files, load_library
from hall.processes import get_process, publish, version_spec

PILOT_PROCESSES = {
    "student_leave": "1004",
    "leave_campus": "1004",
    "staff_leave": "1002",
    "employment_certificate": "1002",
    "email_account": "1006",
    "vpn_account": "1006",
    "network_repair": "1006",
    "visitor_car": "1005",
    "archive_search": "1007",
    "diploma_reissue": "1003",
}


@pytest.mark.parametrize("filename", sorted(library_files()))
def test_every_file_validates_and_is_named_after_its_key(filename: str):
    spec = load_yaml(library_files()[filename])
    assert filename == f"{spec.key}.yaml"
    # A realistic catalogue entry: rules, contact and promised time are filled in.
    assert spec.basis
    assert spec.contact
    assert spec.description
    assert spec.promised_days is not None
    assert sum(f.key_field for f in spec.form) >= 2
    # Every department code named anywhere is one of the demo school's.
    school = demo.build_demo_school()
    codes = {d.code for d in school.departments}
    userids = {p.userid for p in school.people}
    assert spec.department in codes
    for step in spec.flow:
        for rule in (step.approver, *step.cc):
            assert rule.department is None or rule.department in codes
            assert set(rule.userids) <= userids


def test_the_library_covers_the_pilot_departments():
    specs = {s.key: s for s in load_library()}
    assert len(specs) >= 8
    for key, dept in PILOT_PROCESSES.items():
        assert specs[key].department == dept
    # The flows the reference asks for are really expressed.
    leave = specs["student_leave"]
    assert [s.approver.type for s in leave.flow] == [
        RuleType.COUNSELLOR,
        RuleType.ROLE_IN_APPLICANT_DEPT,
        RuleType.ROLE_IN_DEPT,
    ]
    assert [s.condition is not None for s in leave.flow] == [False, True, True]
    assert specs["staff_leave"].flow[-1].approver.type == RuleType.LEADER_IN_CHARGE
    issue = specs["employment_certificate"].flow[-1]
    assert issue.kind == StepKind.HANDLE
    assert "pickup_code" in {f.key for f in issue.result_fields}
    assert [s.kind for s in specs["network_repair"].flow] == [StepKind.HANDLE]
    assert specs["dorm_change"].flow[0].kind == StepKind.CONSENT
    for key in ("archive_search", "diploma_reissue"):
        spec = specs[key]
        assert [a.value for a in spec.audience] == ["offcampus"]
        assert any(f.type == FieldType.MOBILE and f.required for f in spec.form)


def test_export_then_import_is_the_identity(db: Database):
    org = demo.build_demo_school()
    with db.unit_of_work() as session:
        demo.load_org(session, demo.OrgData(departments=org.departments))
        for spec in load_library():
            publish(session, spec)
    with db.unit_of_work() as session:
        before = session.scalar(select(func.count()).select_from(ProcessVersion))
        for spec in load_library():
            current = get_process(session, spec.key).current_version
            assert current is not None
            exported = dump_yaml(version_spec(current))
            again = load_yaml(exported)
            assert again == spec
            assert dump_yaml(again) == exported
            # Importing the export publishes nothing new.
            assert publish(session, again).id == current.id
        after = session.scalar(select(func.count()).select_from(ProcessVersion))
    assert before == after == len(load_library())
