"""Typed API areas of `WeComClient`: message, user, department, batch, oauth, auth.

Each method links its official document (https://developer.work.weixin.qq.com/document/path/
<id>) and states the limits that apply. Methods return plain values or small dataclasses and
raise `wework.errors.WeComError` (or `RateLimited`) on a non-zero errcode.
"""

from __future__ import annotations

import builtins
import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from wework.errors import WeComError

if TYPE_CHECKING:
    from wework.client import WeComClient

DOC = "https://developer.work.weixin.qq.com/document/path/"
MAX_RECIPIENTS = 1000  # message/send and update_template_card: userids per call (doc 90236)
MAX_PARTIES = 100  # message/send: department ids per call
INTERACTIVE_CARDS = frozenset({"button_interaction", "vote_interaction", "multiple_interaction"})
CARD_TYPES = INTERACTIVE_CARDS | {"text_notice", "news_notice"}
MEMBER_CSV_HEADER = ("姓名", "帐号", "手机号", "邮箱", "所在部门", "职位", "性别", "禁用")
PARTY_CSV_HEADER = ("部门名称", "部门ID", "父部门ID", "排序")


def _unique(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for value in values:
        folded = value.lower()  # WeCom userids are case-insensitive
        if value and folded not in seen:
            seen.add(folded)
            out.append(value)
    return out


def _split(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part for part in value.split("|") if part)
    if isinstance(value, list):
        return tuple(str(part) for part in value)
    return ()


class _Area:
    def __init__(self, client: WeComClient) -> None:
        self._client = client


@dataclass(frozen=True)
class SendResult:
    """What `message/send` did: ids, card response codes, who was invalid or deferred.

    `deferred_users` were not sent to because of the per-member limit; requeue them after
    `retry_after` seconds. `invalid_users` are unknown to WeCom or outside the app's scope.
    """

    msgids: tuple[str, ...] = ()
    response_codes: tuple[str, ...] = ()
    invalid_users: tuple[str, ...] = ()
    invalid_parties: tuple[str, ...] = ()
    deferred_users: tuple[str, ...] = ()
    retry_after: float = 0.0

    @property
    def msgid(self) -> str | None:
        return self.msgids[0] if self.msgids else None

    @property
    def response_code(self) -> str | None:
        """The code for `update_template_card` (interactive cards, one call only)."""
        return self.response_codes[0] if self.response_codes else None

    @property
    def complete(self) -> bool:
        return not self.deferred_users


class MessageAPI(_Area):
    """Application messages (doc 90236) and template-card updates (doc 94888).

    Limits: each member receives at most 30 messages a minute and 1,000 an hour from one
    app (the excess is dropped silently by WeCom, so we defer it, see `wework.ratelimit`);
    at most 1,000 userids and 100 departments per call; template cards need a `task_id`
    unique within the app (`[0-9A-Za-z_-@]`, ≤ 128 bytes) when they call back.
    """

    def send(
        self,
        msg: dict[str, Any],
        *,
        userids: Sequence[str] = (),
        partyids: Sequence[int | str] = (),
        enable_duplicate_check: bool = False,
        duplicate_check_interval: int = 1800,
    ) -> SendResult:
        """`POST message/send` for any `msgtype`, batching userids by 1,000."""
        msgtype = msg.get("msgtype")
        if not isinstance(msgtype, str) or msgtype not in msg:
            raise ValueError("msg needs a msgtype and the payload under that key")
        if self._client.agent_id is None:
            raise ValueError("this credential has no agent id: messages need the app's client")
        parties = [str(p) for p in partyids]
        if len(parties) > MAX_PARTIES:
            raise ValueError(f"at most {MAX_PARTIES} departments per message")
        admission = self._client.limiter.admit(_unique(userids))
        allowed = admission.allowed
        if msgtype == "template_card" and len(allowed) > MAX_RECIPIENTS:
            raise ValueError(
                f"a template card's task_id is unique per send: at most {MAX_RECIPIENTS} "
                "recipients per card; send several cards with their own task_id"
            )
        chunks = [allowed[i : i + MAX_RECIPIENTS] for i in range(0, len(allowed), MAX_RECIPIENTS)]
        if parties and not chunks:
            chunks = [[]]
        msgids: list[str] = []
        codes: list[str] = []
        invalid_users: list[str] = []
        invalid_parties: list[str] = []
        for index, chunk in enumerate(chunks):
            body: dict[str, Any] = {
                "touser": "|".join(chunk),
                "toparty": "|".join(parties) if index == 0 else "",
                "agentid": self._client.agent_id,
                **msg,
            }
            if enable_duplicate_check:
                body["enable_duplicate_check"] = 1
                body["duplicate_check_interval"] = duplicate_check_interval
            result = self._client.post("message/send", body)
            if result.get("msgid"):
                msgids.append(str(result["msgid"]))
            if result.get("response_code"):
                codes.append(str(result["response_code"]))
            invalid_users.extend(_split(result.get("invaliduser")))
            invalid_parties.extend(_split(result.get("invalidparty")))
        return SendResult(
            msgids=tuple(msgids),
            response_codes=tuple(codes),
            invalid_users=tuple(invalid_users),
            invalid_parties=tuple(invalid_parties),
            deferred_users=tuple(admission.deferred),
            retry_after=admission.retry_after,
        )

    def send_text(self, userids: Sequence[str], content: str) -> SendResult:
        """A text message (≤ 2048 bytes; doc 90236 "文本消息")."""
        return self.send({"msgtype": "text", "text": {"content": content}}, userids=userids)

    def send_markdown(self, userids: Sequence[str], content: str) -> SendResult:
        """A markdown message (≤ 2048 bytes, WeCom's markdown subset; not shown in WeChat)."""
        return self.send({"msgtype": "markdown", "markdown": {"content": content}}, userids=userids)

    def send_template_card(self, userids: Sequence[str], card: dict[str, Any]) -> SendResult:
        """A template card (doc 90236 "模板卡片消息"): text_notice, button_interaction, ….

        Interactive cards return a `response_code` for `update_template_card`. Build the
        card with `cards/`, which enforces WeCom's field limits.
        """
        card_type = card.get("card_type")
        if card_type not in CARD_TYPES:
            raise ValueError(f"unknown card_type {card_type!r}")
        if card_type in INTERACTIVE_CARDS and not card.get("task_id"):
            raise ValueError("an interactive card needs a task_id")
        return self.send({"msgtype": "template_card", "template_card": card}, userids=userids)

    def update_template_card(
        self,
        response_code: str,
        *,
        userids: Sequence[str] = (),
        replace_name: str | None = None,
        card: dict[str, Any] | None = None,
        atall: bool = False,
    ) -> tuple[str, ...]:
        """`POST message/update_template_card` (doc 94888); returns the invalid userids.

        The `response_code` comes from the send or from a click callback; it works once and
        for 72 hours. Either replace the buttons with `replace_name` (e.g. "已同意") or send a
        whole new `card`. At most 1,000 userids.
        """
        if (replace_name is None) == (card is None):
            raise ValueError("give exactly one of replace_name or card")
        if len(userids) > MAX_RECIPIENTS:
            raise ValueError(f"at most {MAX_RECIPIENTS} userids per update")
        body: dict[str, Any] = {
            "agentid": self._client.agent_id,
            "response_code": response_code,
        }
        if userids:
            body["userids"] = list(userids)
        if atall:
            body["atall"] = 1
        if replace_name is not None:
            body["button"] = {"replace_name": replace_name}
        else:
            body["template_card"] = card
        result = self._client.post("message/update_template_card", body)
        return _split(result.get("invaliduser"))


class UserAPI(_Area):
    """Members (docs 90195-90201, 96067). Writes need the contacts assistant's token (48002).

    userid: 1-64 characters of `[0-9A-Za-z_-@.]`, case-insensitive; mobile or email is
    required; at most 100 departments per member.
    """

    def create(
        self,
        userid: str,
        name: str,
        *,
        department: Sequence[int],
        mobile: str | None = None,
        email: str | None = None,
        position: str | None = None,
        gender: str | None = None,
        main_department: int | None = None,
        enable: bool | None = None,
        to_invite: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """`POST user/create` (doc 90195)."""
        body: dict[str, Any] = {
            "userid": userid,
            "name": name,
            "department": list(department),
            "to_invite": to_invite,
            **(extra or {}),
        }
        optional = {
            "mobile": mobile,
            "email": email,
            "position": position,
            "gender": gender,
            "main_department": main_department,
            "enable": None if enable is None else int(enable),
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        self._client.post("user/create", body)

    def update(self, userid: str, **fields: Any) -> None:
        """`POST user/update` (doc 90197): only the given fields change."""
        self._client.post("user/update", {"userid": userid, **fields})

    def delete(self, userid: str) -> None:
        """`GET user/delete` (doc 90198)."""
        self._client.get("user/delete", userid=userid)

    def get(self, userid: str) -> dict[str, Any]:
        """`GET user/get` (doc 90196)."""
        return self._client.get("user/get", userid=userid)

    def list_id(self, cursor: str = "", limit: int = 10000) -> tuple[list[dict[str, Any]], str]:
        """`POST user/list_id` (doc 96067): one page of {userid, department}, next cursor."""
        body: dict[str, Any] = {"limit": limit}
        if cursor:
            body["cursor"] = cursor
        result = self._client.post("user/list_id", body)
        return list(result.get("dept_user", [])), str(result.get("next_cursor", ""))

    def iter_ids(self, limit: int = 10000) -> Iterator[dict[str, Any]]:
        """Every member's {userid, department}, page by page."""
        cursor = ""
        while True:
            page, cursor = self.list_id(cursor, limit)
            yield from page
            if not cursor:
                return


class DepartmentAPI(_Area):
    """Departments (docs 90205-90208, 95350). Writes need the contacts assistant's token.

    id: 32-bit, > 1 (1 is the root); name 1-64 characters without `\\:*?"<>|`; at most 15
    levels and 30,000 departments; create parents first, one at a time.
    """

    def create(
        self,
        name: str,
        parentid: int,
        *,
        id: int | None = None,  # noqa: A002 - WeCom's field name
        order: int | None = None,
        name_en: str | None = None,
    ) -> int:
        """`POST department/create` (doc 90205): returns the department id."""
        body: dict[str, Any] = {"name": name, "parentid": parentid}
        optional = {"id": id, "order": order, "name_en": name_en}
        body.update({k: v for k, v in optional.items() if v is not None})
        return int(self._client.post("department/create", body)["id"])

    def update(self, id: int, **fields: Any) -> None:  # noqa: A002 - WeCom's field name
        """`POST department/update` (doc 90206)."""
        self._client.post("department/update", {"id": id, **fields})

    def delete(self, id: int) -> None:  # noqa: A002 - WeCom's field name
        """`GET department/delete` (doc 90207): only an empty department can go (60005/60006)."""
        self._client.get("department/delete", id=id)

    def list(self, id: int | None = None) -> list[dict[str, Any]]:  # noqa: A002
        """`GET department/list` (doc 90208): the department and all below it."""
        params = {} if id is None else {"id": id}
        return list(self._client.get("department/list", **params).get("department", []))

    def simplelist(self, id: int | None = None) -> builtins.list[dict[str, Any]]:  # noqa: A002
        """`GET department/simplelist` (doc 95350): ids, parent ids and order only."""
        params = {} if id is None else {"id": id}
        return list(self._client.get("department/simplelist", **params).get("department_id", []))


@dataclass(frozen=True)
class BatchCallback:
    """Where WeCom posts the `batch_job_result` event (optional)."""

    url: str
    token: str
    encodingaeskey: str


@dataclass(frozen=True)
class MemberRow:
    """One line of the member CSV (WeCom's import template columns)."""

    userid: str
    name: str
    departments: Sequence[int]
    mobile: str = ""
    email: str = ""
    position: str = ""
    gender: str = ""
    disabled: bool = False


@dataclass(frozen=True)
class PartyRow:
    """One line of the department CSV."""

    id: int
    name: str
    parentid: int
    order: int = 0


@dataclass(frozen=True)
class BatchResult:
    """`batch/getresult`: status 1 waiting, 2 running, 3 done; one entry per CSV row."""

    status: int
    type: str
    total: int
    percentage: int
    result: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status == 3


class BatchAPI(_Area):
    """Asynchronous contacts import (docs 90979-90983) from an uploaded CSV (doc 90253).

    The CSV is uploaded as a temporary file (`media/upload?type=file`, ≤ 20 MB, kept 3 days).
    `replace_user` refuses to delete more than 20 % of members when that is over 50 people.
    """

    def upload_csv(self, content: bytes | str, filename: str = "contacts.csv") -> str:
        """Upload a CSV file and return its media_id."""
        data = content.encode("utf-8") if isinstance(content, str) else content
        result = self._client.call(
            "POST",
            "media/upload",
            params={"type": "file"},
            files={"media": (filename, data, "text/csv")},
        )
        return str(result["media_id"])

    def _job(self, path: str, body: dict[str, Any], callback: BatchCallback | None) -> str:
        if callback is not None:
            body["callback"] = {
                "url": callback.url,
                "token": callback.token,
                "encodingaeskey": callback.encodingaeskey,
            }
        return str(self._client.post(path, body)["jobid"])

    def sync_user(
        self, media_id: str, *, to_invite: bool = False, callback: BatchCallback | None = None
    ) -> str:
        """`POST batch/syncuser` (doc 90980): add or update the CSV's members; a job id."""
        return self._job("batch/syncuser", {"media_id": media_id, "to_invite": to_invite}, callback)

    def replace_user(
        self, media_id: str, *, to_invite: bool = False, callback: BatchCallback | None = None
    ) -> str:
        """`POST batch/replaceuser` (doc 90981): members not in the CSV are deleted."""
        return self._job(
            "batch/replaceuser", {"media_id": media_id, "to_invite": to_invite}, callback
        )

    def replace_party(self, media_id: str, *, callback: BatchCallback | None = None) -> str:
        """`POST batch/replaceparty` (doc 90982): the CSV becomes the department tree."""
        return self._job("batch/replaceparty", {"media_id": media_id}, callback)

    def get_result(self, jobid: str) -> BatchResult:
        """`GET batch/getresult` (doc 90983)."""
        result = self._client.get("batch/getresult", jobid=jobid)
        return BatchResult(
            status=int(result.get("status", 0)),
            type=str(result.get("type", "")),
            total=int(result.get("total", 0)),
            percentage=int(result.get("percentage", 0)),
            result=list(result.get("result", [])),
        )

    @staticmethod
    def members_csv(rows: Iterable[MemberRow]) -> bytes:
        """The member CSV: WeCom's template columns, departments as ids joined by ';'."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(MEMBER_CSV_HEADER)
        for row in rows:
            writer.writerow(
                [
                    row.name,
                    row.userid,
                    row.mobile,
                    row.email,
                    ";".join(str(d) for d in row.departments),
                    row.position,
                    row.gender,
                    "1" if row.disabled else "0",
                ]
            )
        return buffer.getvalue().encode("utf-8")

    @staticmethod
    def parties_csv(rows: Iterable[PartyRow]) -> bytes:
        """The department CSV for `replace_party`: name, id, parent id, order."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(PARTY_CSV_HEADER)
        for row in rows:
            writer.writerow([row.name, row.id, row.parentid, row.order])
        return buffer.getvalue().encode("utf-8")


@dataclass(frozen=True)
class OAuthUser:
    """`auth/getuserinfo`: a member has a userid; a non-member only an openid."""

    userid: str | None
    openid: str | None


class OAuthAPI(_Area):
    """Sign-in for pages opened inside WeCom (doc 91022) and desktop QR login (doc 98151)."""

    def authorize_url(self, redirect_uri: str, state: str = "", scope: str = "snsapi_base") -> str:
        """The URL to redirect to inside WeCom; WeCom returns with `code` and `state`."""
        query = {
            "appid": self._client.corp_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": scope,
            "state": state,
            "agentid": self._client.agent_id,
        }
        return f"{self._client.oauth_authorize_url}?{urlencode(query)}#wechat_redirect"

    def qr_login_url(self, redirect_uri: str, state: str = "") -> str:
        """The desktop QR-code login page (login_type CorpApp)."""
        query = {
            "login_type": "CorpApp",
            "appid": self._client.corp_id,
            "agentid": self._client.agent_id,
            "redirect_uri": redirect_uri,
            "state": state,
        }
        return f"{self._client.qr_login_url}?{urlencode(query)}"

    def get_user_info(self, code: str) -> OAuthUser:
        """`GET auth/getuserinfo` (doc 91023): the code is single use and lives 5 minutes."""
        result = self._client.get("auth/getuserinfo", code=code)
        userid = result.get("userid") or result.get("UserId")
        openid = result.get("openid") or result.get("OpenId")
        return OAuthUser(userid=str(userid) if userid else None, openid=openid or None)

    def userid_from_code(self, code: str) -> str:
        """The member behind `code`; WeComError when the visitor is not a member."""
        user = self.get_user_info(code)
        if not user.userid:
            raise WeComError(None, "the visitor is not a member", path="auth/getuserinfo")
        return user.userid


class AuthAPI(_Area):
    """Joining the corp: member verification (doc 90203 / 99521) and the join QR code."""

    def authsucc(self, userid: str) -> None:
        """`GET user/authsucc`: admit a member who passed our verification page."""
        self._client.get("user/authsucc", userid=userid)

    def join_qrcode(self, size_type: int = 3) -> str:
        """`GET corp/get_join_qrcode` (doc 91714): the link of the corp's join QR code.

        Needs the contacts assistant's credential. `size_type` 1-4 is 171, 399, 741 or 2052
        pixels square; the link is valid for 7 days.
        """
        if size_type not in {1, 2, 3, 4}:
            raise ValueError("size_type is 1, 2, 3 or 4")
        result = self._client.get("corp/get_join_qrcode", size_type=size_type)
        link = result.get("join_qrcode")
        if not isinstance(link, str) or not link:
            raise WeComError(None, "no join_qrcode in the answer", path="corp/get_join_qrcode")
        return link
