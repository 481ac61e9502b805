"""办件导出: the applications of the services an administrator looks after, one row each,
for filing and for the school's own reports (CSV or XLSX through `hall.stats.to_csv` /
`to_xlsx`, which also guard against spreadsheet formulas).

The rows are the applications submitted in a range of days (the school's calendar), of
every process the person administers (their department's; all for the information center)
or of one of them. For one process the form's fields become columns as well, in the order
of its current version, then fields only older versions had. Drafts are never exported.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from hall.access import reach_of
from hall.definitions import FieldType, FormField
from hall.engine import SCHOOL_TZ
from hall.errors import Invalid, NotFound
from hall.models import Application, Department, Person, ProcessDefinition, ProcessVersion
from hall.processes import version_spec
from hall.services import display_value
from hall.states import AppStatus
from hall.stats import Period, Table

MAX_ROWS = 50_000  # a bigger export is a narrower range or one process away
TOO_MANY = "超过 {n} 条，请缩短时间范围或选择一个事项"
STATUS_COLUMN = "状态"  # its cells are AppStatus values; the web view words them
COLUMNS = (
    "编号",
    "事项",
    "标题",
    "申请人",
    "工号/学号",
    "申请人部门",
    STATUS_COLUMN,
    "当前环节",
    "提交时间",
    "办结时间",
)
_status = Application.__table__.c.status


def _when(moment: datetime | None) -> str:
    return moment.astimezone(SCHOOL_TZ).strftime("%Y-%m-%d %H:%M") if moment else ""


def _fields(versions: Iterable[ProcessVersion]) -> list[FormField]:
    """The form fields of these versions (newest first), each key once; no attachments,
    whose files are not a spreadsheet's."""
    seen: dict[str, FormField] = {}
    for version in versions:
        for spec in version_spec(version).form:
            if spec.type != FieldType.ATTACHMENT and spec.key not in seen:
                seen[spec.key] = spec
    return list(seen.values())


def export_applications(
    session: Session,
    person_id: int,
    period: Period,
    *,
    process_id: int | None = None,
    status: AppStatus | None = None,
) -> Table:
    """The applications `person_id` may export, submitted within `period`.

    NotFound when they administer no service, or not `process_id`; Invalid when more than
    MAX_ROWS match (nothing is cut silently)."""
    reach = reach_of(session, person_id)
    if not reach.administers:
        raise NotFound("未找到")
    owned = reach.owned_processes()
    if process_id is not None:
        found = session.scalar(
            select(ProcessDefinition.id).where(ProcessDefinition.id == process_id, owned)
        )
        if found is None:
            raise NotFound("事项不存在")
    dept = aliased(Department)
    # Columns, not entities: a version's spec is read once per version below, not per row.
    query = (
        select(
            Application.serial,
            Application.version_id,
            Application.title,
            Person.name,
            Person.userid,
            dept.name,
            _status,
            Application.current_step,
            Application.submitted_at,
            Application.finished_at,
            Application.form,
        )
        .join(ProcessDefinition, ProcessDefinition.id == Application.process_id)
        .join(Person, Person.id == Application.applicant_id)
        .outerjoin(dept, dept.id == Person.department_id)
        .where(
            owned,
            _status != AppStatus.DRAFT,
            Application.submitted_at >= period.start_at,
            Application.submitted_at < period.end_at,
        )
        .order_by(Application.submitted_at, Application.id)
        .limit(MAX_ROWS + 1)
    )
    if process_id is not None:
        query = query.where(Application.process_id == process_id)
    if status is not None:
        query = query.where(_status == status)
    found_rows = session.execute(query).all()
    if len(found_rows) > MAX_ROWS:
        message = TOO_MANY.format(n=MAX_ROWS)
        raise Invalid(message, fields={"range": message}, limit=MAX_ROWS)
    version_ids = {row.version_id for row in found_rows}
    versions = {
        v.id: v
        for v in session.scalars(select(ProcessVersion).where(ProcessVersion.id.in_(version_ids)))
    }
    fields: list[FormField] = []
    if process_id is not None:
        definition = session.get(ProcessDefinition, process_id)
        current = session.get(ProcessVersion, definition.current_version_id) if definition else None
        older = sorted(versions.values(), key=lambda v: -v.number)
        fields = _fields([*([current] if current else []), *older])
    flows = {vid: version_spec(v).flow for vid, v in versions.items()}  # parsed once each
    rows: list[tuple[Any, ...]] = []
    for (
        serial,
        version_id,
        title,
        name,
        userid,
        department,
        raw,
        step,
        sent,
        done,
        form,
    ) in found_rows:
        version = versions[version_id]
        flow = flows[version_id]
        at = flow[step].name if step is not None and 0 <= step < len(flow) else ""
        status_ = AppStatus(raw)
        rows.append(
            (
                serial,
                version.name,
                title,
                name,
                userid,
                department or "",
                status_.value,
                at if status_ == AppStatus.PENDING else "",
                _when(sent),
                _when(done),
                *(display_value(f, (form or {}).get(f.key)) for f in fields),
            )
        )
    return Table(
        key="applications",
        title="办件导出",
        columns=(*COLUMNS, *(f.label for f in fields)),
        rows=rows,
    )
