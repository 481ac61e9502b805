"""Callbacks from the simulated WeCom to the hall, encrypted exactly as WeCom does (doc 90930).

WeCom POSTs `<xml><ToUserName/><AgentID/><Encrypt/></xml>` with msg_signature, timestamp and
nonce in the query; it waits 5 s for an HTTP 200 and tries 3 times in all. A non-empty
reply is an encrypted passive reply (e.g. `update_button` after a card click).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import requests
from defusedxml import ElementTree

from config import Settings
from wework.crypto import CryptoError, WeComCrypto

CALLBACK_TIMEOUT = 5.0  # WeCom's wait for the answer
CALLBACK_ATTEMPTS = 3  # WeCom's tries in all


def cdata(value: object) -> str:
    return "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def event_xml(fields: list[tuple[str, object]]) -> str:
    """A WeCom plaintext message: strings as CDATA, integers bare (as WeCom sends them)."""
    parts = []
    for name, value in fields:
        text = str(value) if isinstance(value, int) else cdata(value)
        parts.append(f"<{name}>{text}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


@dataclass
class Attempt:
    status: int | None
    error: str = ""
    seconds: float = 0.0


@dataclass
class Delivery:
    """What happened when the simulator called the hall back."""

    url: str
    plaintext: str
    attempts: list[Attempt] = field(default_factory=list)
    reply: str | None = None
    reply_fields: dict[str, str] = field(default_factory=dict)
    reply_error: str = ""

    @property
    def ok(self) -> bool:
        return any(a.status == 200 for a in self.attempts)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def callback_crypto(settings: Settings) -> WeComCrypto:
    return WeComCrypto(settings.wecom_token, settings.wecom_aes_key, settings.wecom_corp_id)


def _flatten(xml: str) -> dict[str, str]:
    root = ElementTree.fromstring(xml)
    fields: dict[str, str] = {}
    for element in root.iter():
        if element is not root and element.text and element.text.strip():
            fields.setdefault(element.tag, element.text.strip())
    return fields


def deliver(
    settings: Settings,
    plaintext: str,
    *,
    url: str | None = None,
    attempts: int = CALLBACK_ATTEMPTS,
    timeout: float = CALLBACK_TIMEOUT,
    duplicate: bool = False,
) -> Delivery:
    """POST the encrypted `plaintext` to the hall's callback URL, retrying like WeCom.

    `duplicate` sends it once more after a success (WeCom sometimes does; handlers dedupe).
    """
    crypto = callback_crypto(settings)
    target = url or settings.base_url + "/wecom/callback"
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(8)
    encrypt = crypto.encrypt(plaintext.encode("utf-8"))
    params = {
        "msg_signature": crypto.signature(timestamp, nonce, encrypt),
        "timestamp": timestamp,
        "nonce": nonce,
    }
    body = (
        f"<xml><ToUserName>{cdata(settings.wecom_corp_id)}</ToUserName>"
        f"<AgentID>{cdata(settings.wecom_agent_id)}</AgentID>"
        f"<Encrypt>{cdata(encrypt)}</Encrypt></xml>"
    )
    delivery = Delivery(url=target, plaintext=plaintext)
    replies: list[str] = []
    with requests.Session() as session:
        tries = 0
        while tries < max(1, attempts):
            tries += 1
            started = time.monotonic()
            try:
                response = session.post(
                    target,
                    params=params,
                    data=body.encode("utf-8"),
                    headers={"Content-Type": "text/xml; charset=utf-8"},
                    timeout=timeout,
                )
            except requests.RequestException as exc:
                delivery.attempts.append(
                    Attempt(None, type(exc).__name__, time.monotonic() - started)
                )
                continue
            delivery.attempts.append(Attempt(response.status_code, "", time.monotonic() - started))
            if response.status_code == 200:
                replies.append(response.text)
                if duplicate:
                    duplicate = False
                    tries -= 1
                    continue
                break
    reply = next((r for r in reversed(replies) if r.strip()), "")
    if reply:
        _read_reply(crypto, reply, delivery)
    return delivery


def _read_reply(crypto: WeComCrypto, reply: str, delivery: Delivery) -> None:
    try:
        envelope = _flatten(reply)
        encrypt = envelope.get("Encrypt", "")
        if not crypto.check_signature(
            envelope.get("MsgSignature", ""),
            envelope.get("TimeStamp", ""),
            envelope.get("Nonce", ""),
            encrypt,
        ):
            delivery.reply_error = "被动回复的签名不正确"
            return
        delivery.reply = crypto.decrypt(encrypt).decode("utf-8")
        delivery.reply_fields = _flatten(delivery.reply)
    except (CryptoError, ElementTree.ParseError, ValueError) as exc:
        delivery.reply_error = f"无法解析被动回复：{exc}"
