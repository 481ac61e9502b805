"""Push the hall's org structure to WeCom: departments before members.

Data-center codes map to WeCom department ids through `Department.wecom_id` (assigned here,
parents first, when a department is first pushed). What WeCom was last told is kept per
object in `WeComPushState` as a digest, so a push sends only what changed:

- small diffs go through the contacts API, one call per change (create / update / delete);
- large ones (the initial load, or more than `batch_threshold` member changes) go through
  batch jobs: the department tree as a CSV to `batch/replaceparty`, members as CSVs to
  `batch/syncuser`, results read back with `batch/getresult`.

Members who left are disabled (`enable=0`), never deleted; invitations are off
(`to_invite=false`). Every error is recorded on the person or department; the same data is
retried on the next push up to `MAX_ATTEMPTS` times, changed data at once. A rate limit or
an unreachable WeCom stops the push; what was not sent is sent next time.

Docs: 90205-90208 (departments), 90195-90198 (members), 90979-90983 (batch jobs).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from hall.clock import Clock, SystemClock
from hall.db import Database
from hall.models import Department, Membership, Person, PersonKind, PersonStatus
from sync.models import PushObject, WeComPushState
from wework.api import BatchResult, MemberRow, PartyRow
from wework.errors import RateLimited, WeComError, WeComUnavailable

log = logging.getLogger("sync.push")

ROOT = 1  # WeCom's root department: the school itself
BATCH_THRESHOLD = 1000  # more member changes than this go through batch jobs
CSV_ROWS = 30000  # members per uploaded CSV (WeCom takes files up to 20 MB)
MAX_ATTEMPTS = 3  # the same data is retried this many times, then waits for a change
MAX_POLLS = 60
ERRORS_KEPT = 200
USERID_EXISTS, USERID_NOT_FOUND = 60102, 60111
DEPARTMENT_EXISTS, DEPARTMENT_NOT_FOUND = 60008, 60003
ORDER_BASE = 100_000_000  # WeCom shows a larger `order` first; PX counts upwards
GENDER_CODES = {"男": "1", "女": "2"}


class Contacts(Protocol):
    """What the push needs of `wework.client.WeComClient` (the contacts assistant's)."""

    @property
    def department(self) -> Any: ...

    @property
    def user(self) -> Any: ...

    @property
    def batch(self) -> Any: ...


class Member(NamedTuple):
    person_id: int
    userid: str
    name: str
    mobile: str | None
    email: str | None
    position: str | None
    gender: str | None
    departments: tuple[int, ...]
    enable: bool

    def fingerprint(self) -> str:
        return _digest(
            [
                self.name,
                self.mobile,
                self.email,
                self.position,
                self.gender,
                self.departments,
                self.enable,
            ]
        )

    def row(self) -> MemberRow:
        return MemberRow(
            userid=self.userid,
            name=self.name,
            departments=self.departments,
            mobile=self.mobile or "",
            email=self.email or "",
            position=self.position or "",
            gender=self.gender or "",
            disabled=not self.enable,
        )

    def fields(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "name": self.name,
            "department": list(self.departments),
            "main_department": self.departments[0],
            "position": self.position or "",
            "enable": int(self.enable),
        }
        if self.mobile:
            values["mobile"] = self.mobile
        if self.email:
            values["email"] = self.email
        if self.gender in GENDER_CODES:
            values["gender"] = GENDER_CODES[self.gender]
        return values


class Party(NamedTuple):
    department_id: int
    wecom_id: int
    name: str
    parent: int
    order: int
    depth: int

    def fingerprint(self) -> str:
        return _digest([self.name, self.parent, self.order])


def _digest(values: Sequence[Any]) -> str:
    data = json.dumps(values, ensure_ascii=False, separators=(",", ":"), default=list)
    return hashlib.sha256(data.encode()).hexdigest()


@dataclass
class PushReport:
    mode: str = "api"  # "api" or "batch"
    departments: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("created", "updated", "deleted", "failed"), 0)
    )
    members: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("created", "updated", "disabled", "failed", "waiting"), 0
        )
    )
    calls: int = 0  # API calls the push made (not counting token fetches and retries)
    stopped: str | None = None  # why the push stopped early
    errors: list[dict[str, Any]] = field(default_factory=list)
    duration: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "departments": self.departments,
            "members": self.members,
            "calls": self.calls,
            "stopped": self.stopped,
            "errors": self.errors,
            "duration": round(self.duration, 3),
        }

    def error(self, kind: str, key: str, exc: WeComError | None, message: str = "") -> None:
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append(
                {
                    "kind": kind,
                    "key": key,
                    "errcode": exc.errcode if exc else None,
                    "errmsg": exc.errmsg if exc else message,
                }
            )

    def lines(self) -> list[str]:
        d, m = self.departments, self.members
        mode = "批量任务" if self.mode == "batch" else "通讯录接口"
        out = [
            f"推送到企业微信（{mode}，{self.calls} 次接口调用，用时 {self.duration:.2f} 秒）：",
            (
                f"  部门：新建 {d['created']}，更新 {d['updated']}，删除 {d['deleted']}，"
                f"失败 {d['failed']}"
            ),
            (
                f"  成员：新建 {m['created']}，更新 {m['updated']}，禁用 {m['disabled']}，"
                f"失败 {m['failed']}，待重试 {m['waiting']}"
            ),
        ]
        if self.stopped:
            out.append(f"  提前停止：{self.stopped}（未推送的下次继续）")
        out.extend(
            f"  错误 {e['kind']} {e['key']}：{e['errcode']} {e['errmsg']}" for e in self.errors[:10]
        )
        return out


class _State(NamedTuple):
    fingerprint: str | None
    failed_fingerprint: str | None
    attempts: int


@dataclass
class _Outcome:
    """Results of one phase, written to `wecom_push_state` in bulk."""

    ok: dict[int, str] = field(default_factory=dict)  # object id → digest now in WeCom
    failed: dict[int, tuple[str, int | None, str]] = field(default_factory=dict)


class Pusher:
    """One push of the whole org; build it with the contacts assistant's client."""

    def __init__(
        self,
        db: Database,
        client: Contacts,
        *,
        batch_threshold: int = BATCH_THRESHOLD,
        csv_rows: int = CSV_ROWS,
        poll_interval: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.client = client
        self.batch_threshold = batch_threshold
        self.csv_rows = csv_rows
        self.poll_interval = poll_interval
        self.sleep = sleep
        self.clock = clock or SystemClock()
        self._pending_people = _Outcome()
        self._known_people: set[int] = set()

    def push(self) -> PushReport:
        """Push what changed since the last push; returns what was done."""
        began = time.perf_counter()
        report = PushReport()
        self._pending_people = _Outcome()
        with self.db.unit_of_work() as session:
            _assign_wecom_ids(session)
            parties, gone = _parties(session)
            party_states = _states(session, PushObject.DEPARTMENT)
            members = list(self._members_to_push(session, report))
        initial = not self._known_people
        large = initial or len(members) > self.batch_threshold
        report.mode = "batch" if members and large else "api"
        try:
            if report.mode == "batch":
                self._batch_parties(parties, gone, report)
                self._batch_members(members, report)
            else:
                self._api_parties(parties, gone, party_states, report)
                self._api_members(members, report)
        except (RateLimited, WeComUnavailable) as exc:
            report.stopped = f"{exc.errcode} {exc.errmsg}"
            log.warning("WeCom push stopped: %s", exc)
        report.duration = time.perf_counter() - began
        return report

    # -- what to push ------------------------------------------------------------------

    def _members_to_push(self, session: Session, report: PushReport) -> Iterator[Member]:
        states = _states(session, PushObject.PERSON)
        self._known_people = {k for k, v in states.items() if v.fingerprint is not None}
        for member in _members(session):
            state = states.get(member.person_id)
            digest = member.fingerprint()
            pushed = state is not None and state.fingerprint is not None
            if not member.enable and not pushed:
                continue  # never in WeCom: nothing to disable
            if state is not None and digest == state.fingerprint:
                continue
            if (
                state is not None
                and state.failed_fingerprint == digest
                and state.attempts >= MAX_ATTEMPTS
            ):
                report.members["waiting"] += 1
                continue
            if not pushed and not member.mobile and not member.email:
                report.members["failed"] += 1
                report.error(
                    "person", member.userid, None, "缺少手机号和邮箱，企业微信无法创建成员"
                )
                self._pending_people.failed[member.person_id] = (digest, None, "缺少手机号和邮箱")
                continue
            yield member

    # -- departments -------------------------------------------------------------------

    def _batch_parties(
        self, parties: Sequence[Party], gone: Sequence[tuple[int, int, int]], report: PushReport
    ) -> None:
        """The whole tree through `batch/replaceparty` (departments not in it are removed)."""
        rows = [
            PartyRow(id=p.wecom_id, name=p.name, parentid=p.parent, order=p.order) for p in parties
        ]
        result = self._run_job(self.client.batch.parties_csv(rows), "replace_party", report)
        by_wecom = {p.wecom_id: p for p in parties}
        closed = {wecom_id: department_id for department_id, wecom_id, _depth in gone}
        outcome = _Outcome()
        failed = set()
        for entry in result.result:
            wecom_id = int(entry.get("partyid", 0) or 0)
            party = by_wecom.get(wecom_id)
            if party is None:
                if int(entry.get("action", 0) or 0) == 3 and not entry.get("errcode"):
                    report.departments["deleted"] += 1
                    if wecom_id in closed:
                        outcome.ok[closed[wecom_id]] = ""
                continue
            if entry.get("errcode"):
                failed.add(party.wecom_id)
                exc = WeComError(int(entry["errcode"]), str(entry.get("errmsg", "")))
                outcome.failed[party.department_id] = (party.fingerprint(), exc.errcode, exc.errmsg)
                report.departments["failed"] += 1
                report.error("department", str(party.wecom_id), exc)
            else:
                key = "created" if int(entry.get("action", 1) or 1) == 1 else "updated"
                report.departments[key] += 1
        for party in parties:
            if party.wecom_id not in failed:
                outcome.ok[party.department_id] = party.fingerprint()
        self._save(PushObject.DEPARTMENT, outcome, gone=set(closed.values()))

    def _api_parties(
        self,
        parties: Sequence[Party],
        gone: Sequence[tuple[int, int, int]],
        states: dict[int, _State],
        report: PushReport,
    ) -> None:
        outcome = _Outcome()
        try:
            for party in sorted(parties, key=lambda p: p.depth):
                state = states.get(party.department_id)
                digest = party.fingerprint()
                if state is not None and state.fingerprint == digest:
                    continue
                if (
                    state is not None
                    and state.failed_fingerprint == digest
                    and state.attempts >= MAX_ATTEMPTS
                ):
                    continue
                try:
                    created = self._put_party(
                        party,
                        exists=state is not None and state.fingerprint is not None,
                        report=report,
                    )
                except (RateLimited, WeComUnavailable):
                    raise
                except WeComError as exc:
                    outcome.failed[party.department_id] = (digest, exc.errcode, exc.errmsg)
                    report.departments["failed"] += 1
                    report.error("department", str(party.wecom_id), exc)
                    continue
                outcome.ok[party.department_id] = digest
                report.departments["created" if created else "updated"] += 1
            # Departments the data center closed go, deepest first; WeCom refuses while
            # members (disabled leavers too) are still in them, and we record why.
            for department_id, wecom_id, _depth in sorted(gone, key=lambda g: -g[2]):
                try:
                    report.calls += 1
                    self.client.department.delete(wecom_id)
                except (RateLimited, WeComUnavailable):
                    raise
                except WeComError as exc:
                    if exc.errcode != DEPARTMENT_NOT_FOUND:
                        outcome.failed[department_id] = ("", exc.errcode, exc.errmsg)
                        report.departments["failed"] += 1
                        report.error("department", str(wecom_id), exc)
                        continue
                outcome.ok[department_id] = ""
                report.departments["deleted"] += 1
        finally:
            self._save(PushObject.DEPARTMENT, outcome, gone={g[0] for g in gone})

    def _put_party(self, party: Party, *, exists: bool, report: PushReport) -> bool:
        """Create or update one department; True when it was created."""
        fields = {"name": party.name, "parentid": party.parent, "order": party.order}
        if exists:
            try:
                report.calls += 1
                self.client.department.update(party.wecom_id, **fields)
            except WeComError as exc:
                if exc.errcode != DEPARTMENT_NOT_FOUND:
                    raise
            else:
                return False
        try:
            report.calls += 1
            self.client.department.create(
                party.name, party.parent, id=party.wecom_id, order=party.order
            )
        except WeComError as exc:
            if exc.errcode != DEPARTMENT_EXISTS:
                raise
            report.calls += 1
            self.client.department.update(party.wecom_id, **fields)
            return False
        return True

    # -- members -----------------------------------------------------------------------

    def _batch_members(self, members: Sequence[Member], report: PushReport) -> None:
        outcome = self._pending_people
        try:
            for start in range(0, len(members), self.csv_rows):
                chunk = members[start : start + self.csv_rows]
                by_userid = {m.userid.lower(): m for m in chunk}
                csv = self.client.batch.members_csv(m.row() for m in chunk)
                result = self._run_job(csv, "sync_user", report)
                answered: set[str] = set()
                for entry in result.result:
                    member = by_userid.get(str(entry.get("userid", "")).lower())
                    if member is None:
                        continue
                    answered.add(member.userid.lower())
                    if entry.get("errcode"):
                        exc = WeComError(int(entry["errcode"]), str(entry.get("errmsg", "")))
                        self._member_failed(member, exc, outcome, report)
                    else:
                        self._member_ok(member, outcome, report, created=None)
                for key, member in by_userid.items():
                    if key not in answered:  # WeCom said nothing about it: treat as done
                        self._member_ok(member, outcome, report, created=None)
        finally:
            self._save(PushObject.PERSON, outcome)

    def _api_members(self, members: Sequence[Member], report: PushReport) -> None:
        outcome = self._pending_people
        try:
            for member in members:
                try:
                    created = self._put_member(member, report)
                except (RateLimited, WeComUnavailable):
                    raise
                except WeComError as exc:
                    self._member_failed(member, exc, outcome, report)
                    continue
                self._member_ok(member, outcome, report, created=created)
        finally:
            self._save(PushObject.PERSON, outcome)

    def _put_member(self, member: Member, report: PushReport) -> bool:
        fields = member.fields()
        state_known = member.person_id in self._known_people
        if state_known:
            try:
                report.calls += 1
                self.client.user.update(member.userid, **fields)
            except WeComError as exc:
                if exc.errcode != USERID_NOT_FOUND or not member.enable:
                    raise
            else:
                return False
        try:
            report.calls += 1
            self.client.user.create(
                member.userid,
                member.name,
                department=member.departments,
                mobile=member.mobile,
                email=member.email,
                position=member.position,
                gender=fields.get("gender"),
                main_department=member.departments[0],
                enable=member.enable,
                to_invite=False,
            )
        except WeComError as exc:
            if exc.errcode != USERID_EXISTS:
                raise
            report.calls += 1
            self.client.user.update(member.userid, **fields)
            return False
        return True

    def _member_ok(
        self, member: Member, outcome: _Outcome, report: PushReport, *, created: bool | None
    ) -> None:
        outcome.ok[member.person_id] = member.fingerprint()
        if not member.enable:
            report.members["disabled"] += 1
        elif created is None:
            known = member.person_id in self._known_people
            report.members["updated" if known else "created"] += 1
        else:
            report.members["created" if created else "updated"] += 1

    @staticmethod
    def _member_failed(
        member: Member, exc: WeComError, outcome: _Outcome, report: PushReport
    ) -> None:
        outcome.failed[member.person_id] = (member.fingerprint(), exc.errcode, exc.errmsg)
        report.members["failed"] += 1
        report.error("person", member.userid, exc)

    # -- batch jobs --------------------------------------------------------------------

    def _run_job(self, content: bytes, job: str, report: PushReport) -> BatchResult:
        report.calls += 1
        media_id = self.client.batch.upload_csv(content, filename=f"{job}.csv")
        report.calls += 1
        if job == "replace_party":
            jobid = self.client.batch.replace_party(media_id)
        else:
            jobid = self.client.batch.sync_user(media_id, to_invite=False)
        for attempt in range(MAX_POLLS):
            report.calls += 1
            result: BatchResult = self.client.batch.get_result(jobid)
            if result.done:
                return result
            self.sleep(min(self.poll_interval * (attempt + 1), 30.0))
        raise WeComUnavailable(None, f"batch job {jobid} did not finish", path="batch/getresult")

    # -- state -------------------------------------------------------------------------

    def _save(self, kind: PushObject, outcome: _Outcome, gone: set[int] | None = None) -> None:
        """Write the phase's results: successes clear errors, failures count attempts."""
        now = self.clock.now()
        with self.db.unit_of_work() as session:
            existing = {
                object_id: (state_id, failed, attempts)
                for state_id, object_id, failed, attempts in session.execute(
                    select(
                        WeComPushState.id,
                        WeComPushState.object_id,
                        WeComPushState.failed_fingerprint,
                        WeComPushState.attempts,
                    ).where(WeComPushState.kind == kind)
                )
            }
            new: list[dict[str, Any]] = []
            changed: list[dict[str, Any]] = []
            for object_id, digest in outcome.ok.items():
                values = {
                    "fingerprint": None if gone and object_id in gone else digest,
                    "pushed_at": now,
                    "failed_fingerprint": None,
                    "errcode": None,
                    "errmsg": None,
                    "attempts": 0,
                    "failed_at": None,
                }
                _put(existing, kind, object_id=object_id, values=values, new=new, changed=changed)
            for object_id, (digest, errcode, errmsg) in outcome.failed.items():
                old = existing.get(object_id)
                attempts = old[2] + 1 if old and old[1] == digest else 1
                values = {
                    "failed_fingerprint": digest,
                    "errcode": errcode,
                    "errmsg": errmsg[:2000],
                    "attempts": attempts,
                    "failed_at": now,
                }
                _put(existing, kind, object_id=object_id, values=values, new=new, changed=changed)
            for start in range(0, len(new), 1000):
                session.execute(insert(WeComPushState), new[start : start + 1000])
            for start in range(0, len(changed), 1000):
                session.execute(update(WeComPushState), changed[start : start + 1000])


def _put(
    existing: dict[int, tuple[int, str | None, int]],
    kind: PushObject,
    *,
    object_id: int,
    values: dict[str, Any],
    new: list[dict[str, Any]],
    changed: list[dict[str, Any]],
) -> None:
    old = existing.get(object_id)
    if old is None:
        new.append({"kind": kind, "object_id": object_id, **values})
    else:
        changed.append({"id": old[0], **values})


# -------------------------------------------------------------------- reading the org


def _states(session: Session, kind: PushObject) -> dict[int, _State]:
    return {
        object_id: _State(fingerprint, failed, attempts)
        for object_id, fingerprint, failed, attempts in session.execute(
            select(
                WeComPushState.object_id,
                WeComPushState.fingerprint,
                WeComPushState.failed_fingerprint,
                WeComPushState.attempts,
            ).where(WeComPushState.kind == kind)
        )
    }


def _assign_wecom_ids(session: Session) -> None:
    """Give every active department without one a WeCom id (> 1, unique), parents first."""
    missing = (
        session.execute(
            select(Department.id)
            .where(Department.active.is_(True), Department.wecom_id.is_(None))
            .order_by(Department.level, Department.sort, Department.id)
        )
        .scalars()
        .all()
    )
    if not missing:
        return
    top = session.scalar(select(func.max(Department.wecom_id))) or ROOT
    rows = [{"id": dept_id, "wecom_id": top + i} for i, dept_id in enumerate(missing, start=1)]
    for start in range(0, len(rows), 1000):
        session.execute(update(Department), rows[start : start + 1000])


def _parties(session: Session) -> tuple[list[Party], list[tuple[int, int, int]]]:
    """Active departments as WeCom sees them, and pushed ones the data center closed."""
    rows = session.execute(
        select(
            Department.id,
            Department.wecom_id,
            Department.name,
            Department.parent_id,
            Department.sort,
            Department.level,
            Department.active,
        )
    ).all()
    wecom = {r.id: r.wecom_id for r in rows if r.active}
    parties = [
        Party(
            department_id=r.id,
            wecom_id=r.wecom_id,
            name=r.name,
            parent=wecom.get(r.parent_id, ROOT) if r.parent_id else ROOT,
            order=max(0, ORDER_BASE - r.sort),
            depth=r.level,
        )
        for r in rows
        if r.active and r.wecom_id is not None
    ]
    states = _states(session, PushObject.DEPARTMENT)
    pushed = {
        object_id
        for object_id, state in states.items()
        if state.fingerprint is not None
        and not (state.failed_fingerprint == "" and state.attempts >= MAX_ATTEMPTS)
    }
    gone = [
        (r.id, r.wecom_id, r.level)
        for r in rows
        if not r.active and r.wecom_id is not None and r.id in pushed
    ]
    return parties, gone


def member_of(session: Session, person_id: int) -> Member | None:
    """One school member as the push would send them (self-registration pushes with it, so
    both tell WeCom the same departments and fields); None for other kinds of person."""
    return next(_members(session, only=person_id), None)


def _members(session: Session, *, only: int | None = None) -> Iterator[Member]:
    """School members (staff and students) with their WeCom departments, primary first;
    `only`: just that person."""
    wecom = dict(
        session.execute(
            select(Department.id, Department.wecom_id).where(
                Department.active.is_(True), Department.wecom_id.is_not(None)
            )
        ).all()
    )
    departments: dict[int, list[int]] = {}
    query = select(Membership.person_id, Membership.department_id).order_by(
        Membership.person_id, Membership.primary.desc(), Membership.id
    )
    if only is not None:
        query = query.where(Membership.person_id == only)
    for person_id, dept_id in session.execute(query, execution_options={"yield_per": 5000}):
        wecom_id = wecom.get(dept_id)
        if wecom_id is not None:
            departments.setdefault(person_id, []).append(wecom_id)
    people = (
        select(
            Person.id,
            Person.userid,
            Person.name,
            Person.mobile,
            Person.email,
            Person.post,
            Person.gender,
            Person.department_id,
            Person.status,
        )
        .where(Person.kind.in_((PersonKind.STAFF, PersonKind.STUDENT)))
        .order_by(Person.id)
    )
    if only is not None:
        people = people.where(Person.id == only)
    for row in session.execute(people, execution_options={"yield_per": 5000}):
        depts = departments.get(row.id) or []
        primary = wecom.get(row.department_id) if row.department_id else None
        if primary is not None and primary in depts:
            depts = [primary, *(d for d in depts if d != primary)]
        yield Member(
            person_id=row.id,
            userid=row.userid,
            name=row.name,
            mobile=row.mobile,
            email=row.email,
            position=row.post,
            gender=row.gender,
            departments=tuple(depts[:100]) or (ROOT,),
            enable=row.status == PersonStatus.ACTIVE,
        )
