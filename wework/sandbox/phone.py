"""What a member does on the simulated phone: press a card button, chat, open the app.

Each action builds the plaintext WeCom would send, delivers it encrypted to the hall's
callback URL (`wework.sandbox.delivery`) and applies the passive reply the way the WeCom
client would: `update_button` greys the buttons out with the new text, a `text` reply
appears in the chat.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from config import Settings
from wework.sandbox.delivery import (
    CALLBACK_ATTEMPTS,
    CALLBACK_TIMEOUT,
    Delivery,
    deliver,
    event_xml,
)
from wework.sandbox.errors import ApiError
from wework.sandbox.store import SandboxStore


class PhoneError(ValueError):
    """The member cannot do that (no such card, button already replaced, …); zh_CN text."""


def _member(store: SandboxStore, userid: str) -> str:
    try:
        return str(store.get_user(userid)["userid"])
    except ApiError as exc:
        raise PhoneError(f"通讯录里没有成员 {userid}") from exc


def _selected_items_xml(question_key: str, option_id: str) -> str:
    return (
        "<SelectedItems><SelectedItem>"
        f"<QuestionKey><![CDATA[{question_key}]]></QuestionKey>"
        f"<OptionIds><OptionId><![CDATA[{option_id}]]></OptionId></OptionIds>"
        "</SelectedItem></SelectedItems>"
    )


def _send(
    store: SandboxStore,
    settings: Settings,
    userid: str,
    plaintext: str,
    *,
    what: str,
    options: dict[str, Any],
) -> Delivery:
    delivery = deliver(
        settings,
        plaintext,
        url=options.get("url"),
        attempts=int(options.get("attempts", CALLBACK_ATTEMPTS)),
        timeout=float(options.get("timeout", CALLBACK_TIMEOUT)),
        duplicate=bool(options.get("duplicate", False)),
    )
    reply_type = delivery.reply_fields.get("MsgType", "")
    if reply_type == "text" and delivery.reply_fields.get("Content"):
        store.deliver(
            "text", {"content": delivery.reply_fields["Content"]}, [userid], origin="reply"
        )
    record = delivery.as_dict()
    record.update(what=what, at=int(time.time()))
    store.record_delivery(userid, record)
    return delivery


def press_button(
    store: SandboxStore,
    settings: Settings,
    userid: str,
    task_id: str,
    key: str,
    *,
    selected: str = "",
    **options: Any,
) -> Delivery:
    """Press `key` on card `task_id`: a genuine `template_card_event` callback."""
    userid = _member(store, userid)
    card = store.card(task_id)
    if card is None or userid.lower() not in {r.lower() for r in card["recipients"]}:
        raise PhoneError(f"{userid} 没有收到卡片 {task_id}")
    view = store.card_view(task_id, userid)
    if view.get("replace_name"):
        raise PhoneError(f"卡片按钮已变为「{view['replace_name']}」，不能再点击")
    payload = view["card"]
    keys = {str(b.get("key")) for b in payload.get("button_list", []) if b.get("key")}
    if key not in keys:
        raise PhoneError(f"卡片 {task_id} 没有按钮 {key}")
    code = store.mint_response_code(task_id, [userid])
    plaintext = event_xml(
        [
            ("ToUserName", settings.wecom_corp_id),
            ("FromUserName", userid),
            ("CreateTime", int(time.time())),
            ("MsgType", "event"),
            ("Event", "template_card_event"),
            ("EventKey", key),
            ("TaskId", task_id),
            ("CardType", str(payload.get("card_type", ""))),
            ("ResponseCode", code),
            ("AgentID", settings.wecom_agent_id),
        ]
    )
    selection = payload.get("button_selection")
    if isinstance(selection, dict) and selected:
        items = _selected_items_xml(str(selection.get("question_key", "")), selected)
        plaintext = plaintext.removesuffix("</xml>") + items + "</xml>"
    store.set_card_view(task_id, userid, clicked_key=key)
    delivery = _send(store, settings, userid, plaintext, what=f"点击 {key}", options=options)
    if delivery.reply_fields.get("MsgType") == "update_button":
        name = delivery.reply_fields.get("ReplaceName", "")
        if name:
            store.set_card_view(task_id, userid, replace_name=name)
    return delivery


def say(
    store: SandboxStore, settings: Settings, userid: str, content: str, **options: Any
) -> Delivery:
    """The member types `content` to the app: a `text` message callback."""
    userid = _member(store, userid)
    if not content.strip():
        raise PhoneError("消息不能为空")
    store.deliver("text", {"content": content}, [userid], origin="member")
    plaintext = event_xml(
        [
            ("ToUserName", settings.wecom_corp_id),
            ("FromUserName", userid),
            ("CreateTime", int(time.time())),
            ("MsgType", "text"),
            ("Content", content),
            ("MsgId", int(secrets.randbelow(9 * 10**18) + 10**18)),
            ("AgentID", settings.wecom_agent_id),
        ]
    )
    return _send(store, settings, userid, plaintext, what=f"发送「{content}」", options=options)


def enter_agent(store: SandboxStore, settings: Settings, userid: str, **options: Any) -> Delivery:
    """The member opens the app: an `enter_agent` event callback."""
    userid = _member(store, userid)
    plaintext = event_xml(
        [
            ("ToUserName", settings.wecom_corp_id),
            ("FromUserName", userid),
            ("CreateTime", int(time.time())),
            ("MsgType", "event"),
            ("Event", "enter_agent"),
            ("EventKey", ""),
            ("AgentID", settings.wecom_agent_id),
        ]
    )
    return _send(store, settings, userid, plaintext, what="进入应用", options=options)
