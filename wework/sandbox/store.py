"""The simulator's state, all in Redis under `sandbox:wecom:` (the web app and the worker
are separate processes, so nothing lives in a process). Methods raise `ApiError` with
WeCom's errcode where WeCom would refuse."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import queue
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis

from config import Settings
from wework.api import CARD_TYPES, INTERACTIVE_CARDS, MEMBER_CSV_HEADER, PARTY_CSV_HEADER
from wework.sandbox import errors as e
from wework.sandbox.errors import ApiError

log = logging.getLogger("wework.sandbox")
PREFIX = "sandbox:wecom:"
TOKEN_TTL = 7200
RESPONSE_CODE_TTL = 72 * 3600
OAUTH_CODE_TTL = 300
JOIN_QRCODE_TTL = 7 * 24 * 3600
VERIFICATION_PATH = "/join"  # the hall's self-registration page verifies joining members
MEDIA_TTL = 3 * 24 * 3600
SENDING_TTL = 60  # seconds: well over a callback's 3 attempts of 5 s
ROOT_DEPARTMENT = 1
MAX_DEPARTMENT_LEVELS = 15
USERID_RE = re.compile(r"^[0-9A-Za-z_\-@.]{1,64}$")
TASK_ID_RE = re.compile(r"^[0-9A-Za-z_\-@]{1,128}$")
MOBILE_RE = re.compile(r"^(\+\d{1,4}-)?1?\d{6,15}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FORBIDDEN_NAME_CHARS = set('\\:*?"<>|')
MAX_TEXT_BYTES = 2048
BATCH_CHUNK = 2000  # members applied per hold of the contacts lock (smaller jobs: at once)
FAULT_KINDS = frozenset(
    {
        "busy",
        "rate_limit",
        "concurrency",
        "expire_token",
        "invalid_token",
        "timeout",
        "slow",
        "http_500",
    }
)


class _BatchWorker:
    """One background thread per process applies large batch jobs, in submission order."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[Callable[[], None]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def idle(self) -> bool:
        return self._jobs.unfinished_tasks == 0

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._work, name="sandbox-wecom-batch", daemon=True
                )
                self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            except Exception:
                log.exception("sandbox WeCom: a batch job failed")
            finally:
                self._jobs.task_done()


_BATCHES = _BatchWorker()


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _load(value: Any) -> Any:
    return None if value is None else json.loads(_text(value))


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class TokenInfo:
    """Which credential a token belongs to: "app" (messages) or "contacts" (writes)."""

    kind: str
    expires_at: float


@dataclass(frozen=True)
class Fault:
    kind: str
    seconds: float = 0.0


class SandboxStore:
    """Everything the simulated WeCom remembers."""

    def __init__(self, redis_conn: redis.Redis, settings: Settings) -> None:
        self.r = redis_conn
        self.settings = settings
        self.corp_id = settings.wecom_corp_id
        self.agent_id = settings.wecom_agent_id

    @staticmethod
    def key(*parts: object) -> str:
        return PREFIX + ":".join(str(p) for p in parts)

    @contextmanager
    def contacts_lock(self) -> Iterator[None]:
        """Contacts writes are serialised, like WeCom asks callers to do."""
        with self.r.lock(self.key("lock", "contacts"), timeout=30, blocking_timeout=30):
            yield

    # -- bookkeeping and fault injection --------------------------------------------------

    def count_call(self, endpoint: str) -> None:
        self.r.hincrby(self.key("calls"), endpoint, 1)

    def calls(self) -> dict[str, int]:
        return {_text(k): int(v) for k, v in self.r.hgetall(self.key("calls")).items()}

    def inject(self, kind: str, times: int = 1, *, path: str = "*", seconds: float = 0.0) -> None:
        """Make the next `times` calls (of `path`, or of any API but gettoken) fail."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(FAULT_KINDS)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        entry = _dump({"kind": kind, "seconds": seconds})
        self.r.rpush(self.key("faults", path), *([entry] * times))

    def clear_faults(self) -> None:
        for name in self.r.scan_iter(match=self.key("faults", "*")):
            self.r.delete(name)

    def take_fault(self, endpoint: str) -> Fault | None:
        raw = self.r.lpop(self.key("faults", endpoint))
        if raw is None and endpoint != "gettoken":
            raw = self.r.lpop(self.key("faults", "*"))
        if raw is None:
            return None
        data = _load(raw)
        return Fault(kind=str(data["kind"]), seconds=float(data.get("seconds", 0)))

    # -- tokens (doc 91039) -----------------------------------------------------------------

    def token_ttl(self) -> int:
        value = self.r.get(self.key("config", "token_ttl"))
        return int(value) if value is not None else TOKEN_TTL

    def set_token_ttl(self, seconds: int) -> None:
        """Shorten token lifetimes (tests of expiry); WeCom's is 7200 s."""
        self.r.set(self.key("config", "token_ttl"), seconds)

    def issue_token(self, corpid: str, secret: str) -> tuple[str, int]:
        if corpid != self.corp_id:
            raise ApiError(e.INVALID_CORPID, "invalid corpid")
        if secret == self.settings.wecom_secret:
            kind = "app"
        elif secret == self.settings.wecom_contacts_secret:
            kind = "contacts"
        else:
            raise ApiError(e.INVALID_CREDENTIAL, "invalid credential, access_token is invalid")
        ttl = self.token_ttl()
        token = secrets.token_urlsafe(48)
        info = {"kind": kind, "expires_at": time.time() + ttl}
        self.r.set(self.key("token", token), _dump(info), ex=ttl + 86400)
        return token, ttl

    def check_token(self, token: str) -> TokenInfo:
        if not token:
            raise ApiError(e.MISSING_ACCESS_TOKEN, "access_token missing")
        info = _load(self.r.get(self.key("token", token)))
        if info is None:
            raise ApiError(e.INVALID_ACCESS_TOKEN, "invalid access_token")
        if float(info["expires_at"]) <= time.time():
            raise ApiError(e.EXPIRED_ACCESS_TOKEN, "access_token expired")
        return TokenInfo(kind=str(info["kind"]), expires_at=float(info["expires_at"]))

    def expire_token(self, token: str) -> None:
        name = self.key("token", token)
        info = _load(self.r.get(name))
        if info is not None:
            info["expires_at"] = 0
            self.r.set(name, _dump(info), keepttl=True)

    # -- departments (docs 90205-90208) -------------------------------------------------

    def _departments(self) -> dict[int, dict[str, Any]]:
        self.r.hsetnx(
            self.key("dept"),
            str(ROOT_DEPARTMENT),
            _dump({"id": 1, "name": "沙箱学校", "name_en": "", "parentid": 0, "order": 0}),
        )
        return {int(k): _load(v) for k, v in self.r.hgetall(self.key("dept")).items()}

    @staticmethod
    def _check_name(name: Any) -> str:
        if not isinstance(name, str) or not 1 <= len(name) <= 64:
            raise ApiError(e.DEPARTMENT_NAME_INVALID, "department name length 1-64")
        if FORBIDDEN_NAME_CHARS & set(name):
            raise ApiError(e.DEPARTMENT_NAME_INVALID, 'department name contains \\:*?"<>|')
        return name

    @staticmethod
    def _depth(departments: dict[int, dict[str, Any]], dept_id: int) -> int:
        depth, current, seen = 0, dept_id, set()
        while current in departments and current not in seen:
            seen.add(current)
            depth += 1
            current = int(departments[current]["parentid"])
        return depth

    def create_department(self, body: dict[str, Any]) -> int:
        with self.contacts_lock():
            departments = self._departments()
            name = self._check_name(body.get("name"))
            parentid = int(body.get("parentid", 0) or 0)
            if parentid not in departments:
                raise ApiError(e.PARENT_DEPARTMENT_NOT_FOUND, "parent department not found")
            if self._depth(departments, parentid) >= MAX_DEPARTMENT_LEVELS:
                raise ApiError(e.DEPARTMENT_LEVEL_TOO_DEEP, "department level too deep")
            for dept in departments.values():
                if int(dept["parentid"]) == parentid and dept["name"] == name:
                    raise ApiError(e.DEPARTMENT_EXISTS, "department name exists")
            dept_id = int(body.get("id") or 0) or max(departments) + 1
            if dept_id <= ROOT_DEPARTMENT or dept_id >= 2**32:
                raise ApiError(e.INVALID_PARAMETER, "department id must be > 1 and 32-bit")
            if dept_id in departments:
                raise ApiError(e.DEPARTMENT_EXISTS, "department id exists")
            record = {
                "id": dept_id,
                "name": name,
                "name_en": str(body.get("name_en", "")),
                "parentid": parentid,
                "order": int(body.get("order", 0) or 0),
            }
            self.r.hset(self.key("dept"), str(dept_id), _dump(record))
            return dept_id

    def update_department(self, body: dict[str, Any]) -> None:
        with self.contacts_lock():
            departments = self._departments()
            dept_id = int(body.get("id", 0) or 0)
            record = departments.get(dept_id)
            if record is None:
                raise ApiError(e.DEPARTMENT_NOT_FOUND, "department not found")
            if "name" in body:
                record["name"] = self._check_name(body["name"])
            for field in ("name_en", "order"):
                if field in body:
                    record[field] = body[field]
            if "parentid" in body and dept_id != ROOT_DEPARTMENT:
                parentid = int(body["parentid"])
                if parentid not in departments:
                    raise ApiError(e.PARENT_DEPARTMENT_NOT_FOUND, "parent department not found")
                current: int | None = parentid
                while current:
                    if current == dept_id:
                        raise ApiError(e.DEPARTMENT_CYCLE, "department cycle")
                    current = (
                        int(departments[current]["parentid"]) if current in departments else None
                    )
                record["parentid"] = parentid
            self.r.hset(self.key("dept"), str(dept_id), _dump(record))

    def delete_department(self, dept_id: int) -> None:
        with self.contacts_lock():
            self._delete_department(dept_id)

    def _delete_department(self, dept_id: int) -> None:
        departments = self._departments()
        if dept_id == ROOT_DEPARTMENT:
            raise ApiError(e.ROOT_DEPARTMENT_FIXED, "the root department cannot be deleted")
        if dept_id not in departments:
            raise ApiError(e.DEPARTMENT_NOT_FOUND, "department not found")
        if any(int(d["parentid"]) == dept_id for d in departments.values()):
            raise ApiError(e.DEPARTMENT_HAS_CHILDREN, "department has sub-departments")
        if any(dept_id in u["department"] for u in self.users()):
            raise ApiError(e.DEPARTMENT_HAS_MEMBERS, "department has members")
        self.r.hdel(self.key("dept"), str(dept_id))

    def list_departments(self, dept_id: int | None) -> list[dict[str, Any]]:
        departments = self._departments()
        root = ROOT_DEPARTMENT if dept_id is None else dept_id
        if root not in departments:
            raise ApiError(e.DEPARTMENT_NOT_FOUND, "department not found")
        wanted = {root} | self._descendants(departments, root)
        return sorted((departments[i] for i in wanted), key=lambda d: (d["parentid"], d["id"]))

    @staticmethod
    def _descendants(departments: dict[int, dict[str, Any]], root: int) -> set[int]:
        found: set[int] = set()
        frontier = [root]
        while frontier:
            current = frontier.pop()
            for dept in departments.values():
                if int(dept["parentid"]) == current and dept["id"] not in found:
                    found.add(int(dept["id"]))
                    frontier.append(int(dept["id"]))
        return found

    # -- members (docs 90195-90201, 96067, 99521) ---------------------------------------

    def users(self) -> list[dict[str, Any]]:
        users = [_load(v) for v in self.r.hvals(self.key("user"))]
        return sorted(users, key=lambda u: str(u["userid"]).lower())

    def get_user(self, userid: str) -> dict[str, Any]:
        user = _load(self.r.hget(self.key("user"), userid.lower()))
        if user is None:
            raise ApiError(e.USERID_NOT_FOUND, "userid not found")
        return dict(user)

    def _validate_user(
        self,
        user: dict[str, Any],
        *,
        creating: bool,
        departments: dict[int, dict[str, Any]] | None = None,
    ) -> None:
        if not isinstance(user.get("name"), str) or not 1 <= len(user["name"]) <= 64:
            raise ApiError(e.USER_NAME_INVALID, "name length 1-64")
        mobile, email = user.get("mobile") or "", user.get("email") or ""
        if creating and not mobile and not email:
            raise ApiError(e.MOBILE_AND_EMAIL_EMPTY, "mobile and email are both empty")
        if mobile and not MOBILE_RE.match(mobile):
            raise ApiError(e.MOBILE_INVALID, "invalid mobile")
        if email and not EMAIL_RE.match(email):
            raise ApiError(e.EMAIL_INVALID, "invalid email")
        if departments is None:
            departments = self._departments()
        dept_ids = user.get("department")
        if not isinstance(dept_ids, list) or not dept_ids or len(dept_ids) > 100:
            raise ApiError(e.INVALID_DEPARTMENT_LIST, "department: 1-100 department ids")
        for dept_id in dept_ids:
            if int(dept_id) not in departments:
                raise ApiError(e.DEPARTMENT_NOT_FOUND, f"department {dept_id} not found")
        if mobile:
            owner = self.r.hget(self.key("mobile"), mobile)
            if owner is not None and _text(owner) != str(user["userid"]).lower():
                raise ApiError(e.MOBILE_EXISTS, "mobile exists")

    def _save_user(self, user: dict[str, Any], old: dict[str, Any] | None) -> None:
        userid = str(user["userid"]).lower()
        if old and old.get("mobile") and old.get("mobile") != user.get("mobile"):
            self.r.hdel(self.key("mobile"), old["mobile"])
        if user.get("mobile"):
            self.r.hset(self.key("mobile"), user["mobile"], userid)
        self.r.hset(self.key("user"), userid, _dump(user))

    def create_user(self, body: dict[str, Any]) -> None:
        with self.contacts_lock():
            self._create_user(body)

    def _create_user(
        self, body: dict[str, Any], departments: dict[int, dict[str, Any]] | None = None
    ) -> None:
        userid = body.get("userid")
        if not isinstance(userid, str) or not USERID_RE.match(userid):
            raise ApiError(e.INVALID_USERID, "invalid userid")
        if self.r.hexists(self.key("user"), userid.lower()):
            raise ApiError(e.USERID_EXISTS, "userid exists")
        user: dict[str, Any] = {
            "userid": userid,
            "name": body.get("name"),
            "department": [int(d) for d in body.get("department") or []],
            "main_department": body.get("main_department"),
            "mobile": body.get("mobile") or "",
            "email": body.get("email") or "",
            "position": body.get("position") or "",
            "gender": str(body.get("gender") or "0"),
            "enable": int(body.get("enable", 1)),
            "status": 4,  # not yet activated
        }
        if not user["main_department"] and user["department"]:
            user["main_department"] = user["department"][0]
        self._validate_user(user, creating=True, departments=departments)
        self._save_user(user, None)

    def update_user(self, body: dict[str, Any]) -> None:
        with self.contacts_lock():
            self._update_user(body)

    def _update_user(
        self, body: dict[str, Any], departments: dict[int, dict[str, Any]] | None = None
    ) -> None:
        old = self.get_user(str(body.get("userid", "")))
        user = dict(old)
        for field in ("name", "mobile", "email", "position", "main_department"):
            if field in body:
                user[field] = body[field]
        if "gender" in body:
            user["gender"] = str(body["gender"])
        if "department" in body:
            user["department"] = [int(d) for d in body["department"]]
        if "enable" in body:
            user["enable"] = int(body["enable"])
            user["status"] = 2 if not user["enable"] else (1 if old["status"] == 1 else 4)
        self._validate_user(user, creating=False, departments=departments)
        self._save_user(user, old)

    def delete_user(self, userid: str) -> None:
        with self.contacts_lock():
            self._delete_user(userid)

    def _delete_user(self, userid: str) -> None:
        user = self.get_user(userid)
        if user.get("mobile"):
            self.r.hdel(self.key("mobile"), user["mobile"])
        self.r.hdel(self.key("user"), userid.lower())

    def list_user_ids(self, cursor: str, limit: int) -> tuple[list[dict[str, Any]], str]:
        limit = max(1, min(int(limit or 10000), 10000))
        rows = [
            {"userid": u["userid"], "department": d} for u in self.users() for d in u["department"]
        ]
        start = int(cursor) if cursor.isdigit() else 0
        page = rows[start : start + limit]
        following = start + limit
        return page, (str(following) if following < len(rows) else "")

    def authsucc(self, userid: str) -> None:
        with self.contacts_lock():
            user = self.get_user(userid)
            user["status"] = 1
            self._save_user(user, user)

    # -- media and batch jobs (docs 90253, 90979-90983) -----------------------------------

    def save_media(self, media_type: str, content: bytes) -> str:
        if media_type not in {"file", "image", "voice", "video"}:
            raise ApiError(e.INVALID_MEDIA_TYPE, "invalid media type")
        if not content:
            raise ApiError(e.INVALID_PARAMETER, "empty media file")
        media_id = "3" + secrets.token_hex(24)
        self.r.set(self.key("media", media_id), content, ex=MEDIA_TTL)
        return media_id

    def _media_rows(self, media_id: str, header: Sequence[str]) -> list[dict[str, str]]:
        raw = self.r.get(self.key("media", media_id))
        if raw is None:
            raise ApiError(e.INVALID_MEDIA_ID, "invalid media_id")
        content = raw if isinstance(raw, bytes) else str(raw).encode()
        reader = csv.DictReader(io.StringIO(content.decode("utf-8-sig")))
        if not reader.fieldnames or not {header[0], header[1]} <= set(reader.fieldnames):
            raise ApiError(e.INVALID_PARAMETER, "the CSV does not have the template's header")
        return [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]

    def _member_from_row(self, row: dict[str, str]) -> dict[str, Any]:
        body: dict[str, Any] = {"userid": row.get("帐号", ""), "name": row.get("姓名", "")}
        depts = [d for d in row.get("所在部门", "").split(";") if d.strip()]
        if depts:
            body["department"] = [int(d) for d in depts if d.strip().isdigit()]
        for column, field in (("手机号", "mobile"), ("邮箱", "email"), ("职位", "position")):
            if row.get(column):
                body[field] = row[column]
        if row.get("性别"):
            body["gender"] = row["性别"]
        if row.get("禁用") in {"0", "1"}:
            body["enable"] = 0 if row["禁用"] == "1" else 1
        return body

    def _sync_rows(self, rows: list[dict[str, str]]) -> list[dict[str, Any]]:
        results = []
        departments = self._departments()  # the tree cannot change under the lock
        for row in rows:
            body = self._member_from_row(row)
            try:
                if self.r.hexists(self.key("user"), str(body["userid"]).lower()):
                    self._update_user(body, departments)
                else:
                    self._create_user(body, departments)
                results.append({"userid": body["userid"], "errcode": 0, "errmsg": "ok"})
            except ApiError as exc:
                results.append(
                    {"userid": body["userid"], "errcode": exc.errcode, "errmsg": exc.errmsg}
                )
        return results

    def run_batch(self, job_type: str, media_id: str) -> str:
        """Accept a batch job at once and return its jobid, as WeCom does.

        A small job (at most BATCH_CHUNK members, or the department tree) is applied before
        the answer, so it is done when first asked about. A larger one is applied by a
        background worker BATCH_CHUNK rows at a time, each chunk under the contacts lock, so
        no request waits for it and no lock is held for long; `batch/getresult` reports
        status 1 (waiting), 2 (running, with a percentage) and then 3 with the result.
        """
        header = PARTY_CSV_HEADER if job_type == "replace_party" else MEMBER_CSV_HEADER
        rows = self._media_rows(media_id, header)
        jobid = secrets.token_hex(16)
        if job_type == "replace_party" or (len(rows) <= BATCH_CHUNK and _BATCHES.idle()):
            with self.contacts_lock():
                if job_type == "sync_user":
                    results = self._sync_rows(rows)
                elif job_type == "replace_user":
                    results = self._sync_rows(rows) + self._remove_absent(rows)
                else:
                    results = self._replace_parties(rows)
            self._save_job(jobid, job_type, status=3, total=len(rows), result=results)
            return jobid
        self._save_job(jobid, job_type, status=1, total=len(rows), done=0)
        _BATCHES.submit(lambda: self._run_in_chunks(jobid, job_type, rows))
        return jobid

    def _save_job(
        self,
        jobid: str,
        job_type: str,
        *,
        status: int,
        total: int,
        done: int | None = None,
        result: list[dict[str, Any]] | None = None,
    ) -> None:
        percentage = 100 if status == 3 else (100 * (done or 0)) // max(total, 1)
        job = {
            "status": status,
            "type": job_type,
            "total": total,
            "percentage": percentage,
            "result": result or [],
        }
        self.r.set(self.key("job", jobid), _dump(job), ex=7 * 24 * 3600)

    def _run_in_chunks(self, jobid: str, job_type: str, rows: list[dict[str, str]]) -> None:
        results: list[dict[str, Any]] = []
        try:
            for start in range(0, len(rows), BATCH_CHUNK):
                with self.contacts_lock():
                    results += self._sync_rows(rows[start : start + BATCH_CHUNK])
                done = min(start + BATCH_CHUNK, len(rows))
                self._save_job(jobid, job_type, status=2, total=len(rows), done=done)
            if job_type == "replace_user":
                with self.contacts_lock():
                    results += self._remove_absent(rows)
        except Exception:  # the job ends; the rows not applied say so
            log.exception("sandbox WeCom: batch job %s failed", jobid)
            results += [
                {"userid": r.get("帐号", ""), "errcode": e.SYSTEM_BUSY, "errmsg": "system busy"}
                for r in rows[len(results) :]
            ]
        self._save_job(jobid, job_type, status=3, total=len(rows), result=results)

    def _remove_absent(self, rows: list[dict[str, str]]) -> list[dict[str, Any]]:
        """`replace_user`'s second half: members missing from the file are deleted."""
        keep = {r.get("帐号", "").lower() for r in rows}
        members = self.users()
        doomed = [u for u in members if str(u["userid"]).lower() not in keep]
        if len(doomed) > 50 and len(doomed) > 0.2 * len(members):
            refusal = "refused: replaceuser may not delete more than 20% of members"
            return [
                {"userid": u["userid"], "errcode": e.INVALID_PARAMETER, "errmsg": refusal}
                for u in doomed
            ]
        results = []
        for user in doomed:
            self._delete_user(str(user["userid"]))
            results.append({"userid": user["userid"], "errcode": 0, "errmsg": "deleted"})
        return results

    def _replace_parties(self, rows: list[dict[str, str]]) -> list[dict[str, Any]]:
        wanted: dict[int, dict[str, Any]] = {}
        for row in rows:
            dept_id = int(row.get("部门ID") or 0)
            wanted[dept_id] = {
                "id": dept_id,
                "name": row.get("部门名称", ""),
                "parentid": int(row.get("父部门ID") or ROOT_DEPARTMENT),
                "order": int(row.get("排序") or 0),
            }
        results: list[dict[str, Any]] = []
        pending = [d for d in wanted.values() if d["id"] != ROOT_DEPARTMENT]
        while pending:  # parents first: place what can be placed, until nothing moves
            current = self._departments()
            placeable = [d for d in pending if d["parentid"] in current]
            if not placeable:
                results.extend(
                    {
                        "action": 1,
                        "partyid": dept["id"],
                        "errcode": e.PARENT_DEPARTMENT_NOT_FOUND,
                        "errmsg": "parent department not found",
                    }
                    for dept in pending
                )
                break
            for dept in placeable:
                pending.remove(dept)
                record = {**dept, "name_en": current.get(dept["id"], {}).get("name_en", "")}
                action = 2 if dept["id"] in current else 1
                try:
                    self._check_name(dept["name"])
                    self.r.hset(self.key("dept"), str(dept["id"]), _dump(record))
                    results.append(
                        {"action": action, "partyid": dept["id"], "errcode": 0, "errmsg": "ok"}
                    )
                except ApiError as exc:
                    results.append(
                        {
                            "action": action,
                            "partyid": dept["id"],
                            "errcode": exc.errcode,
                            "errmsg": exc.errmsg,
                        }
                    )
        # Departments missing from the file go, deepest first; their members move to the root.
        current = self._departments()
        doomed = [i for i in current if i != ROOT_DEPARTMENT and i not in wanted]
        doomed.sort(key=lambda i: -self._depth(current, i))
        for dept_id in doomed:
            for user in self.users():
                if dept_id in user["department"]:
                    rest = [d for d in user["department"] if d != dept_id] or [ROOT_DEPARTMENT]
                    self._save_user({**user, "department": rest}, user)
            self.r.hdel(self.key("dept"), str(dept_id))
            results.append({"action": 3, "partyid": dept_id, "errcode": 0, "errmsg": "deleted"})
        return results

    def batch_result(self, jobid: str) -> dict[str, Any]:
        job = _load(self.r.get(self.key("job", jobid)))
        if job is None:
            raise ApiError(e.INVALID_PARAMETER, "invalid jobid")
        return dict(job)

    # -- OAuth (docs 91022, 91023) --------------------------------------------------------

    def issue_oauth_code(self, userid: str) -> str:
        self.get_user(userid)
        code = secrets.token_urlsafe(32)
        self.r.set(self.key("oauth", code), userid, ex=OAUTH_CODE_TTL)
        return code

    def redeem_oauth_code(self, code: str) -> str:
        userid = self.r.getdel(self.key("oauth", code)) if code else None
        if userid is None:
            raise ApiError(e.INVALID_OAUTH_CODE, "invalid code")
        return _text(userid)

    # -- joining: the join QR code and member verification (docs 91714, 90203, 99521) -----

    def issue_join_qrcode(self, size_type: int) -> str:
        """`corp/get_join_qrcode`: a link, valid 7 days, to the simulated join page."""
        if size_type not in {1, 2, 3, 4}:
            raise ApiError(e.INVALID_PARAMETER, "size_type must be 1, 2, 3 or 4")
        vcode = secrets.token_urlsafe(24)
        self.r.set(self.key("joinqr", vcode), size_type, ex=JOIN_QRCODE_TTL)
        return f"{self.settings.base_url}/_sandbox/wecom/join?vcode={vcode}"

    def join_qrcode_valid(self, vcode: str) -> bool:
        return bool(vcode) and bool(self.r.exists(self.key("joinqr", vcode)))

    def verification_url(self) -> str:
        """The corp's member verification page (set in WeCom's admin console; the hall's
        self-registration page unless a test changed it)."""
        value = self.r.get(self.key("config", "verification_url"))
        return _text(value) if value else f"{self.settings.base_url}{VERIFICATION_PATH}"

    def set_verification_url(self, url: str) -> None:
        self.r.set(self.key("config", "verification_url"), url)

    def begin_verification(self, userid: str) -> str:
        """A member joins and must pass the corp's verification: where WeCom sends them,
        with a single-use code that `auth/getuserinfo` resolves to their userid."""
        member = self.get_user(userid)
        if int(member.get("status", 4)) == 1:
            raise ApiError(e.INVALID_PARAMETER, "the member is activated already")
        code = self.issue_oauth_code(str(member["userid"]))
        separator = "&" if "?" in self.verification_url() else "?"
        return f"{self.verification_url()}{separator}code={code}"

    # -- messages and template cards (docs 90236, 94888) --------------------------------

    def resolve_recipients(
        self, touser: str, toparty: str
    ) -> tuple[list[str], list[str], list[str]]:
        """(valid userids, invalid userids, invalid party ids) as WeCom reports them."""
        members = {str(u["userid"]).lower(): u for u in self.users()}
        valid: dict[str, str] = {}
        invalid_users: list[str] = []
        invalid_parties: list[str] = []
        names = [p for p in touser.split("|") if p]
        if "@all" in names:
            names = [str(u["userid"]) for u in members.values()]
        for name in names:
            user = members.get(name.lower())
            if user is None or not int(user.get("enable", 1)):
                invalid_users.append(name)
            else:
                valid[name.lower()] = str(user["userid"])
        departments = self._departments()
        for party in (p for p in toparty.split("|") if p):
            if not party.isdigit() or int(party) not in departments:
                invalid_parties.append(party)
                continue
            scope = {int(party)} | self._descendants(departments, int(party))
            for user in members.values():
                if scope & set(user["department"]) and int(user.get("enable", 1)):
                    valid[str(user["userid"]).lower()] = str(user["userid"])
        return list(valid.values()), invalid_users, invalid_parties

    def duplicate(self, body: dict[str, Any]) -> bool:
        """WeCom's `enable_duplicate_check`: the same message within the interval is skipped."""
        if not body.get("enable_duplicate_check"):
            return False
        interval = int(body.get("duplicate_check_interval") or 1800)
        payload = {
            k: v
            for k, v in body.items()
            if k not in {"enable_duplicate_check", "duplicate_check_interval"}
        }
        digest = hashlib.sha256(_dump(payload).encode()).hexdigest()
        return not self.r.set(self.key("dup", digest), 1, nx=True, ex=min(interval, 4 * 3600))

    def claim_task_id(self, task_id: str) -> None:
        if not self.r.set(self.key("taskid", task_id), 1, nx=True):
            raise ApiError(e.INVALID_PARAMETER, f"task_id {task_id} already used in this app")

    def deliver(
        self, msgtype: str, payload: dict[str, Any], recipients: list[str], *, origin: str = "api"
    ) -> str:
        msgid = secrets.token_hex(16)
        message = {
            "msgid": msgid,
            "msgtype": msgtype,
            msgtype: payload,
            "agentid": self.agent_id,
            "sent_at": int(time.time()),
            "origin": origin,
            "touser": recipients,
        }
        self.r.set(self.key("msg", msgid), _dump(message))
        for userid in recipients:
            self.r.rpush(self.key("inbox", userid.lower()), msgid)
        if msgtype == "template_card" and payload.get("task_id"):
            card = {
                "task_id": payload["task_id"],
                "msgid": msgid,
                "card": payload,
                "recipients": recipients,
            }
            self.r.set(self.key("card", payload["task_id"]), _dump(card))
        return msgid

    def mint_response_code(self, task_id: str, userids: list[str]) -> str:
        code = secrets.token_urlsafe(48)
        record = {"task_id": task_id, "userids": userids}
        self.r.set(self.key("rc", code), _dump(record), ex=RESPONSE_CODE_TTL)
        return code

    def response_code_ttl(self, code: str) -> int:
        return int(self.r.ttl(self.key("rc", code)))

    def use_response_code(self, code: str) -> dict[str, Any]:
        record = _load(self.r.getdel(self.key("rc", code))) if code else None
        if record is None:
            raise ApiError(e.INVALID_PARAMETER, "response_code invalid, already used or expired")
        return dict(record)

    def card(self, task_id: str) -> dict[str, Any] | None:
        card = _load(self.r.get(self.key("card", task_id)))
        return None if card is None else dict(card)

    def card_view(self, task_id: str, userid: str) -> dict[str, Any]:
        """What `userid` currently sees of the card: its payload and any replaced buttons."""
        card = self.card(task_id) or {"card": {}}
        view = _load(self.r.hget(self.key("cardview", task_id), userid.lower())) or {}
        return {
            "card": view.get("card") or card["card"],
            "replace_name": view.get("replace_name"),
            "clicked_key": view.get("clicked_key"),
        }

    def set_card_view(self, task_id: str, userid: str, **changes: Any) -> None:
        name = self.key("cardview", task_id)
        view = _load(self.r.hget(name, userid.lower())) or {}
        view.update(changes)
        self.r.hset(name, userid.lower(), _dump(view))

    def inbox(self, userid: str) -> list[dict[str, Any]]:
        msgids = [_text(m) for m in self.r.lrange(self.key("inbox", userid.lower()), 0, -1)]
        messages = []
        for msgid in msgids:
            message = _load(self.r.get(self.key("msg", msgid)))
            if message is None:
                continue
            message.pop("touser", None)
            if message["msgtype"] == "template_card":
                card = message["template_card"]
                task_id = card.get("task_id", "")
                view = self.card_view(task_id, userid) if task_id else {"card": card}
                message["task_id"] = task_id
                message["template_card"] = view["card"]
                message["replace_name"] = view.get("replace_name")
                message["clicked_key"] = view.get("clicked_key")
                message["response_code"] = self.send_code(msgid)
            messages.append(message)
        return messages

    def remember_send_code(self, msgid: str, code: str) -> None:
        self.r.set(self.key("sendcode", msgid), code, ex=RESPONSE_CODE_TTL)

    def send_code(self, msgid: str) -> str | None:
        value = self.r.get(self.key("sendcode", msgid))
        return None if value is None else _text(value)

    # -- the phone's own log ---------------------------------------------------------------

    def record_delivery(self, userid: str, record: dict[str, Any]) -> None:
        name = self.key("deliveries", userid.lower())
        self.r.lpush(name, _dump(record))
        self.r.ltrim(name, 0, 19)

    def mark_sending(self, userid: str, delta: int) -> None:
        """Count the member's callbacks in flight (the phone shows 投递中 meanwhile)."""
        name = self.key("sending", userid.lower())
        with self.r.pipeline() as pipe:
            pipe.incrby(name, delta)
            pipe.expire(name, SENDING_TTL)  # a crashed sender cannot leave it forever
            pipe.execute()

    def sending(self, userid: str) -> int:
        value = self.r.get(self.key("sending", userid.lower()))
        return max(int(value), 0) if value is not None else 0

    def deliveries(self, userid: str) -> list[dict[str, Any]]:
        return [_load(v) for v in self.r.lrange(self.key("deliveries", userid.lower()), 0, -1)]


def validate_card(card: Any) -> dict[str, Any]:
    """The template-card shape and limits of doc 90236 (`cards/` builds within them)."""
    if not isinstance(card, dict):
        raise ApiError(e.INVALID_PARAMETER, "template_card must be an object")
    card_type = card.get("card_type")
    if card_type not in CARD_TYPES:
        raise ApiError(e.INVALID_PARAMETER, f"invalid card_type {card_type!r}")
    task_id = card.get("task_id")
    if card_type in INTERACTIVE_CARDS and not task_id:
        raise ApiError(e.INVALID_PARAMETER, "task_id is required for interactive cards")
    if task_id is not None and (
        not isinstance(task_id, str) or not TASK_ID_RE.match(task_id) or len(task_id.encode()) > 128
    ):
        raise ApiError(e.INVALID_PARAMETER, "task_id: 1-128 bytes of [0-9A-Za-z_-@]")
    main_title = card.get("main_title") or {}
    if not isinstance(main_title, dict) or len(str(main_title.get("title", ""))) > 36:
        raise ApiError(e.INVALID_PARAMETER, "main_title.title is at most 36 characters")
    if len(str(main_title.get("desc", ""))) > 44:
        raise ApiError(e.INVALID_PARAMETER, "main_title.desc is at most 44 characters")
    if card_type in {"text_notice", "news_notice"} and not isinstance(
        card.get("card_action"), dict
    ):
        raise ApiError(e.INVALID_PARAMETER, "card_action is required on notice cards")
    rows = card.get("horizontal_content_list") or []
    if not isinstance(rows, list) or len(rows) > 6:
        raise ApiError(e.INVALID_PARAMETER, "horizontal_content_list has at most 6 rows")
    jumps = card.get("jump_list") or []
    if not isinstance(jumps, list) or len(jumps) > 3:
        raise ApiError(e.INVALID_PARAMETER, "jump_list has at most 3 entries")
    menu = card.get("action_menu")
    if menu is not None:
        entries = menu.get("action_list") if isinstance(menu, dict) else None
        if not isinstance(entries, list) or not 1 <= len(entries) <= 3:
            raise ApiError(e.INVALID_PARAMETER, "action_menu.action_list has 1-3 entries")
    buttons = card.get("button_list")
    if card_type == "button_interaction":
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 6:
            raise ApiError(e.INVALID_PARAMETER, "button_list has 1-6 buttons")
        keys: set[str] = set()
        for button in buttons:
            if not isinstance(button, dict) or not 1 <= len(str(button.get("text", ""))) <= 10:
                raise ApiError(e.INVALID_PARAMETER, "button text is 1-10 characters")
            style = button.get("style", 1)
            if not isinstance(style, int) or not 1 <= style <= 4:
                raise ApiError(e.INVALID_PARAMETER, "button style is 1-4")
            if int(button.get("type", 0) or 0) == 1:
                if not button.get("url"):
                    raise ApiError(e.INVALID_PARAMETER, "a link button needs url")
                continue
            key = button.get("key")
            if not isinstance(key, str) or not key or len(key.encode()) > 1024:
                raise ApiError(e.INVALID_PARAMETER, "button key is 1-1024 bytes")
            if key in keys:
                raise ApiError(e.INVALID_PARAMETER, f"duplicate button key {key}")
            keys.add(key)
        selection = card.get("button_selection")
        if selection is not None:
            options = selection.get("option_list") if isinstance(selection, dict) else None
            if not isinstance(options, list) or not 1 <= len(options) <= 10:
                raise ApiError(e.INVALID_PARAMETER, "button_selection has 1-10 options")
    return card


def validate_text(content: Any) -> str:
    if not isinstance(content, str) or not content:
        raise ApiError(e.EMPTY_CONTENT, "empty content")
    if len(content.encode()) > MAX_TEXT_BYTES:
        raise ApiError(e.CONTENT_TOO_LONG, "content exceeds 2048 bytes")
    return content
