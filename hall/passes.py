"""通行码: the gate pass of an approved application whose process has `options.gate_pass`.

A pass is valid while the application is approved and the hall's clock is inside the
window of the range field the option names. Nothing is stored: whoever shows or checks a
pass asks `find_pass` at that moment, so a revoked or expired pass stops being valid at once.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hall.definitions import RANGE_TYPES, FieldType, FormField, ProcessSpec
from hall.engine import SCHOOL_TZ
from hall.models import Application, Person, ProcessVersion
from hall.processes import version_spec
from hall.states import AppStatus


class PassState(enum.StrEnum):
    VALID = "valid"  # 有效
    NOT_YET = "not_yet"  # 未到有效时间
    EXPIRED = "expired"  # 已过期
    REVOKED = "revoked"  # 已撤销: the applicant took the approval back
    VOID = "void"  # 无效: not approved (pending, withdrawn, rejected ...) or no window


@dataclass(frozen=True)
class Window:
    """When a pass is valid: aware moments, both ends included."""

    start: datetime
    end: datetime
    whole_days: bool  # a date_range: from the first day's 00:00 to the last day's 23:59:59

    def state_at(self, now: datetime) -> PassState:
        if now < self.start:
            return PassState.NOT_YET
        if now > self.end:
            return PassState.EXPIRED
        return PassState.VALID


def _moment(raw: str) -> datetime:
    # A datetime_range is typed in the school's wall time (no offset); the API may send one.
    moment = datetime.fromisoformat(raw)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=SCHOOL_TZ)


def window_of(spec: ProcessSpec, form: Mapping[str, Any]) -> Window | None:
    """The pass's window from the application's form (None: no gate pass, or no value)."""
    option = spec.options.gate_pass
    if option is None:
        return None
    return range_window(spec.field(option.field), form.get(option.field))


def range_window(field: FormField, value: Any) -> Window | None:
    """The moments a date_range or datetime_range value spans (None: not such a value)."""
    if field.type not in RANGE_TYPES or not isinstance(value, Mapping):
        return None
    start, end = value.get("start"), value.get("end")
    if not isinstance(start, str) or not isinstance(end, str):
        return None
    try:
        if field.type == FieldType.DATE_RANGE:
            first, last = date.fromisoformat(start), date.fromisoformat(end)
            return Window(
                datetime.combine(first, time.min, SCHOOL_TZ),
                datetime.combine(last, time.max, SCHOOL_TZ),
                whole_days=True,
            )
        return Window(_moment(start), _moment(end), whole_days=False)
    except ValueError:  # a value stored before the form checked it: no window, no pass
        return None


def pass_state(status: AppStatus, window: Window | None, now: datetime) -> PassState:
    if status == AppStatus.REVOKED:
        return PassState.REVOKED
    if status != AppStatus.APPROVED or window is None:
        return PassState.VOID
    return window.state_at(now)


@dataclass(frozen=True)
class GatePassView:
    """What a pass page shows: nothing personal beyond the applicant's name (to be masked)."""

    application_id: int
    serial: str
    label: str  # 出校通行码 ...
    process: str
    applicant_name: str
    window: Window | None
    state: PassState
    checked_at: datetime


def find_pass(
    session: Session, application_id: int, serial: str, now: datetime
) -> GatePassView | None:
    """The pass of an application as of `now`; None when the (id, serial) pair names no
    application, or its process version has no gate pass."""
    row = session.execute(
        select(Application, ProcessVersion, Person.name)
        .join(ProcessVersion, ProcessVersion.id == Application.version_id)
        .join(Person, Person.id == Application.applicant_id)
        .where(Application.id == application_id, Application.serial == serial)
    ).first()
    if row is None:
        return None
    application, version, applicant_name = row
    spec = version_spec(version)
    option = spec.options.gate_pass
    if option is None:
        return None
    window = window_of(spec, application.form)
    return GatePassView(
        application_id=application.id,
        serial=application.serial,
        label=option.label,
        process=spec.name,
        applicant_name=applicant_name,
        window=window,
        state=pass_state(application.status, window, now),
        checked_at=now,
    )
