"""Passive replies: the plaintext XML answered (encrypted) in the callback's own response.

WeCom shows a passive reply at once and counts it against no send quota (doc 90241):
`update_button` turns the clicked card's buttons into one label, `text` answers a message.
"""

from __future__ import annotations

import time

from cards import cut
from cards.limits import REPLACE_NAME

TEXT_MAX_BYTES = 2048  # a text message's content limit


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _head(to_user: str, corp_id: str, msg_type: str, now: float | None) -> str:
    created = int(time.time() if now is None else now)
    return (
        f"<ToUserName>{_cdata(to_user)}</ToUserName>"
        f"<FromUserName>{_cdata(corp_id)}</FromUserName>"
        f"<CreateTime>{created}</CreateTime>"
        f"<MsgType>{_cdata(msg_type)}</MsgType>"
    )


def update_button(to_user: str, corp_id: str, name: str, now: float | None = None) -> str:
    """Replace the clicked card's buttons by `name` (e.g. "已同意")."""
    label = cut(name, REPLACE_NAME)
    return (
        "<xml>"
        + _head(to_user, corp_id, "update_button", now)
        + f"<Button><ReplaceName>{_cdata(label)}</ReplaceName></Button>"
        + "</xml>"
    )


def fit_bytes(text: str, limit: int = TEXT_MAX_BYTES) -> str:
    """`text` cut at a character boundary to at most `limit` UTF-8 bytes, marked with "…"."""
    if len(text.encode("utf-8")) <= limit:
        return text
    budget = limit - len("…".encode())
    out = text.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
    return out + "…"


def text(to_user: str, corp_id: str, content: str, now: float | None = None) -> str:
    """A text message to `to_user`; WeCom renders `<a href>` links in it."""
    return (
        "<xml>"
        + _head(to_user, corp_id, "text", now)
        + f"<Content>{_cdata(fit_bytes(content))}</Content>"
        + "</xml>"
    )
