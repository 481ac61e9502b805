"""Typed WeCom callback events, parsed from the decrypted inner XML (docs 90240, 90967, 90970).

`parse_event` returns one of the dataclasses below; `type` is the dispatch key: the `Event`
of an event message (`template_card_event`, `change_contact`, ...) or the `MsgType` of a
plain message (`text`, `image`, ...). Anything we do not model becomes an `UnknownEvent`
with its type kept for the log and the counter.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from callbacks.envelope import Rejected, child_text, parse_xml


@dataclass(frozen=True, slots=True)
class Event:
    """What every callback carries."""

    type: str
    to_user: str  # our corp id
    from_user: str  # the member's userid ("sys" for contact changes)
    create_time: str
    agent_id: str

    def dedupe_key(self) -> str:
        """WeCom's retries of one delivery share this key (doc 90238)."""
        return f"{self.from_user}|{self.create_time}|{self.type}"


@dataclass(frozen=True, slots=True)
class CardClick(Event):
    """`template_card_event`: a button of an interactive card was clicked."""

    event_key: str = ""
    card_task_id: str = ""
    card_type: str = ""
    response_code: str = ""
    # question key → the chosen option ids (a dropdown yields one, checkboxes several)
    selected: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def dedupe_key(self) -> str:
        # Several clicks can share a CreateTime: the card, the button and the click's own
        # response code tell them apart.
        return f"{self.from_user}|{self.card_task_id}|{self.event_key}|{self.response_code}"


@dataclass(frozen=True, slots=True)
class CardMenuClick(CardClick):
    """`template_card_menu_event`: an entry of a card's action menu was chosen."""


@dataclass(frozen=True, slots=True)
class TextMessage(Event):
    content: str = ""
    msg_id: str = ""

    def dedupe_key(self) -> str:
        return f"msg|{self.msg_id}" if self.msg_id else Event.dedupe_key(self)


@dataclass(frozen=True, slots=True)
class EnterAgent(Event):
    """`enter_agent`: the member opened the hall's app."""


@dataclass(frozen=True, slots=True)
class ContactChange(Event):
    """`change_contact`: a member, department or tag changed in WeCom (doc 90970).

    `subject` is the UserID (members), the Id (departments) or the TagId (tags); `fields`
    holds every other element as text, as WeCom sent it (only changed fields are sent).
    """

    change_type: str = ""
    subject: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    def dedupe_key(self) -> str:
        # FromUserName is always "sys": several changes share a second.
        digest = hashlib.sha256(repr(sorted(self.fields.items())).encode()).hexdigest()[:16]
        return f"{self.create_time}|{self.change_type}|{self.subject}|{digest}"


@dataclass(frozen=True, slots=True)
class BatchJobResult(Event):
    """`batch_job_result`: an asynchronous contacts job finished (doc 90973)."""

    job_id: str = ""
    job_type: str = ""
    errcode: int = 0
    errmsg: str = ""

    def dedupe_key(self) -> str:
        return f"batch|{self.job_id}|{self.create_time}"


@dataclass(frozen=True, slots=True)
class UnknownEvent(Event):
    """Anything else: answered with an empty 200, logged and counted."""


_BASE_TAGS = frozenset({"ToUserName", "FromUserName", "CreateTime", "MsgType", "Event", "AgentID"})
MAX_FIELD_CHARS = 2048


def _selected(root: Element) -> dict[str, tuple[str, ...]]:
    chosen: dict[str, tuple[str, ...]] = {}
    for item in root.iterfind("SelectedItems/SelectedItem"):
        question = child_text(item, "QuestionKey")
        options = tuple((o.text or "").strip() for o in item.iterfind("OptionIds/OptionId"))
        if question:
            chosen[question] = options
    return chosen


def _text(root: Element, name: str) -> str:
    return child_text(root, name)[:MAX_FIELD_CHARS]


def event_type(root: Element) -> str:
    msg_type = _text(root, "MsgType").lower()
    if msg_type == "event":
        return _text(root, "Event").lower() or "event"
    return msg_type or "unknown"


def parse_event(plaintext: bytes) -> Event:
    """The typed event inside a decrypted callback, or Rejected(400) when it is not one."""
    root = parse_xml(plaintext)
    kind = event_type(root)
    base = {
        "type": kind,
        "to_user": _text(root, "ToUserName"),
        "from_user": _text(root, "FromUserName"),
        "create_time": _text(root, "CreateTime"),
        "agent_id": _text(root, "AgentID"),
    }
    if not base["to_user"] or not base["create_time"].isdigit():
        raise Rejected(400, "the inner XML lacks ToUserName or CreateTime")
    if kind in {"template_card_event", "template_card_menu_event"}:
        cls = CardClick if kind == "template_card_event" else CardMenuClick
        return cls(
            **base,
            event_key=_text(root, "EventKey"),
            card_task_id=_text(root, "TaskId"),
            card_type=_text(root, "CardType"),
            response_code=_text(root, "ResponseCode"),
            selected=_selected(root),
        )
    if kind == "text":
        return TextMessage(**base, content=_text(root, "Content"), msg_id=_text(root, "MsgId"))
    if kind == "enter_agent":
        return EnterAgent(**base)
    if kind == "change_contact":
        change_type = _text(root, "ChangeType")
        fields = {
            child.tag: (child.text or "").strip()[:MAX_FIELD_CHARS]
            for child in root
            if child.tag not in _BASE_TAGS and child.tag != "ChangeType" and len(child) == 0
        }
        subject = fields.get("UserID") or fields.get("Id") or fields.get("TagId") or ""
        return ContactChange(**base, change_type=change_type, subject=subject, fields=fields)
    if kind == "batch_job_result":
        errcode = _text(root, "BatchJob/ErrCode")
        return BatchJobResult(
            **base,
            job_id=_text(root, "BatchJob/JobId"),
            job_type=_text(root, "BatchJob/JobType"),
            errcode=int(errcode) if errcode.lstrip("-").isdigit() and len(errcode) < 12 else -1,
            errmsg=_text(root, "BatchJob/ErrMsg"),
        )
    return UnknownEvent(**base)
