"""通行码 in the core: the definition option and its checks, the window a form gives, and
the pass's state from the application's status and the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hall.definitions import DefinitionError, GatePass, parse_spec
from hall.engine import SCHOOL_TZ
from hall.passes import PassState, Window, pass_state, window_of
from hall.process_library import load_library
from hall.states import AppStatus
from tests import factories

FORM: list[dict[str, Any]] = [
    {"key": "reason", "label": "事由", "type": "text", "required": True},
    {"key": "days", "label": "日期", "type": "date_range", "required": True},
    {"key": "slot", "label": "时间", "type": "datetime_range", "required": True},
    {"key": "day", "label": "单日", "type": "date"},
]


def _spec(gate_pass: dict[str, Any]) -> dict[str, Any]:
    return factories.simple_spec("CS", form=FORM, options={"gate_pass": gate_pass})


def test_the_option_names_a_range_field_and_defaults_its_label():
    spec = parse_spec(_spec({"field": "slot"}))
    assert spec.options.gate_pass == GatePass(field="slot", label="通行码")
    assert parse_spec(_spec({"field": "days", "label": "入校通行码"})).options.gate_pass == (
        GatePass(field="days", label="入校通行码")
    )
    assert parse_spec(factories.simple_spec("CS")).options.gate_pass is None


@pytest.mark.parametrize(
    ("gate_pass", "said"),
    [
        ({"field": "gone"}, "'gone' is not a date_range or datetime_range field of the form"),
        ({"field": "day"}, "'day' is not a date_range or datetime_range field of the form"),
        ({"field": "reason"}, "'reason' is not a date_range or datetime_range field"),
        ({"field": "slot", "label": "长" * 21}, "options.gate_pass.label"),
        ({"field": "slot", "label": ""}, "options.gate_pass.label"),
        ({"label": "通行码"}, "options.gate_pass.field"),
        ({"field": "slot", "valid_hours": 3}, "options.gate_pass.valid_hours"),
    ],
)
def test_a_bad_option_is_refused_with_a_clear_problem(gate_pass: dict[str, Any], said: str):
    with pytest.raises(DefinitionError) as caught:
        parse_spec(_spec(gate_pass))
    assert said in str(caught.value)


def _local(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A moment of September 2026 in the school's time."""
    return datetime(2026, 9, day, hour, minute, second, tzinfo=SCHOOL_TZ)


def test_a_date_range_is_valid_from_its_first_day_00_00_to_its_last_day_23_59_59():
    spec = parse_spec(_spec({"field": "days"}))
    window = window_of(spec, {"days": {"start": "2026-09-02", "end": "2026-09-03"}})
    assert window is not None
    assert window.whole_days
    assert window.start == _local(2)
    assert window.state_at(_local(1, 23, 59, 59)) is PassState.NOT_YET
    assert window.state_at(_local(2)) is PassState.VALID
    assert window.state_at(_local(3, 23, 59, 59)) is PassState.VALID
    assert window.state_at(_local(4)) is PassState.EXPIRED
    # the hall's clock is UTC: 2026-09-03 16:00Z is already the 4th in the school
    assert window.state_at(datetime(2026, 9, 3, 15, 59, tzinfo=UTC)) is PassState.VALID
    assert window.state_at(datetime(2026, 9, 3, 16, 0, tzinfo=UTC)) is PassState.EXPIRED


def test_a_datetime_range_is_the_school_s_wall_time_unless_it_says_its_offset():
    spec = parse_spec(_spec({"field": "slot"}))
    window = window_of(spec, {"slot": {"start": "2026-09-02T08:00", "end": "2026-09-02T18:30"}})
    assert window == Window(_local(2, 8), _local(2, 18, 30), whole_days=False)
    assert window.start == datetime(2026, 9, 2, 0, 0, tzinfo=UTC)
    assert window.state_at(window.end) is PassState.VALID
    assert window.state_at(window.end + timedelta(seconds=1)) is PassState.EXPIRED
    aware = {"start": "2026-09-02T08:00+00:00", "end": "2026-09-02T09:00+00:00"}
    found = window_of(spec, {"slot": aware})
    assert found is not None
    assert found.start == datetime(2026, 9, 2, 8, tzinfo=UTC)


def test_no_window_without_the_option_or_a_usable_value():
    spec = parse_spec(_spec({"field": "slot"}))
    assert window_of(spec, {}) is None
    assert window_of(spec, {"slot": {"start": "2026-09-02T08:00"}}) is None
    assert window_of(spec, {"slot": {"start": "garbage", "end": "2026-09-02T08:00"}}) is None
    assert window_of(parse_spec(factories.simple_spec("CS", form=FORM)), {"slot": {}}) is None


def test_the_state_follows_the_status_then_the_window():
    window = Window(_local(2, 8), _local(2, 18), whole_days=False)
    inside = _local(2, 12)
    assert pass_state(AppStatus.APPROVED, window, inside) is PassState.VALID
    assert pass_state(AppStatus.APPROVED, window, _local(2, 7)) is PassState.NOT_YET
    assert pass_state(AppStatus.APPROVED, window, _local(2, 19)) is PassState.EXPIRED
    assert pass_state(AppStatus.REVOKED, window, inside) is PassState.REVOKED
    for status in (AppStatus.PENDING, AppStatus.WITHDRAWN, AppStatus.REJECTED, AppStatus.DRAFT):
        assert pass_state(status, window, inside) is PassState.VOID
    assert pass_state(AppStatus.APPROVED, None, inside) is PassState.VOID


def test_the_library_s_leave_campus_gives_a_pass_for_its_window():
    spec = next(s for s in load_library() if s.key == "leave_campus")
    assert spec.options.gate_pass == GatePass(field="window", label="出校通行码")
    assert spec.field("window").type.value == "datetime_range"
    assert spec.department == "1004"
    assert [s.approver.type.value for s in spec.flow] == ["counsellor"]
