"""Publishing process definitions as frozen versions, and reading them back."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from hall.clock import utcnow
from hall.definitions import ProcessSpec, dump_spec, parse_spec
from hall.errors import Invalid, NotFound
from hall.models import Department, Person, ProcessDefinition, ProcessScope, ProcessVersion


def publish(session: Session, spec: ProcessSpec, *, by: Person | None = None) -> ProcessVersion:
    """Freeze `spec` as the next version of its process and make it current.

    Earlier versions are never touched: applications running on them keep them.
    Publishing a spec identical to the current version is a no-op returning it.
    """
    department = session.scalar(select(Department).where(Department.code == spec.department))
    if department is None:
        raise Invalid(f"unknown owning department {spec.department!r}")
    process = session.scalar(select(ProcessDefinition).where(ProcessDefinition.key == spec.key))
    if process is None:
        process = ProcessDefinition(key=spec.key, department=department)
        session.add(process)
        session.flush()
    elif process.department_id != department.id:
        raise Invalid(f"process {spec.key!r} belongs to another department")
    data = dump_spec(spec)
    current = process.current_version
    if current is not None and current.spec == data:
        return current
    number = 1 + max((v.number for v in process.versions), default=0)
    version = ProcessVersion(
        process=process,
        number=number,
        name=spec.name,
        category=spec.category,
        audience=[a.value for a in spec.audience],
        spec=data,
        published_at=utcnow(),
        published_by_id=by.id if by else None,
    )
    session.add(version)
    session.flush()
    process.current_version = version
    refresh_scope(session, process, spec)
    return version


def refresh_scope(session: Session, process: ProcessDefinition, spec: ProcessSpec) -> None:
    """Expand `visible_to` department codes (with their subtrees) into ProcessScope rows."""
    session.query(ProcessScope).filter(ProcessScope.process_id == process.id).delete()
    if not spec.visible_to:
        return
    codes = set(spec.visible_to)
    roots = session.scalars(select(Department).where(Department.code.in_(codes))).all()
    missing = codes - {d.code for d in roots}
    if missing:
        raise Invalid(f"visible_to names unknown departments: {', '.join(sorted(missing))}")
    children: dict[int | None, list[int]] = {}
    for dept_id, parent_id in session.execute(select(Department.id, Department.parent_id)):
        children.setdefault(parent_id, []).append(dept_id)
    seen: set[int] = set()
    stack = [d.id for d in roots]
    while stack:
        dept_id = stack.pop()
        if dept_id in seen:
            continue
        seen.add(dept_id)
        stack.extend(children.get(dept_id, ()))
    session.add_all(ProcessScope(process_id=process.id, department_id=d) for d in sorted(seen))
    session.flush()


def version_spec(version: ProcessVersion) -> ProcessSpec:
    """The validated spec of a stored version (stored specs were valid when published)."""
    return parse_spec(version.spec)


def get_process(session: Session, key: str) -> ProcessDefinition:
    process = session.scalar(
        select(ProcessDefinition)
        .options(joinedload(ProcessDefinition.current_version))
        .where(ProcessDefinition.key == key)
    )
    if process is None or process.current_version is None:
        raise NotFound("no such process")
    # The version's way back to its process, filled in: the session holds clean objects
    # only weakly, so without this `version.process` could cost a second query.
    set_committed_value(process.current_version, "process", process)
    return process
