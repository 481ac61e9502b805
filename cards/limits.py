"""WeCom template-card limits (docs 90236, 90240, 94945) and how we stay inside them.

Visible text is cut with "…" so a person sees that something was shortened; identifiers
(task ids, keys) are built to fit instead, because a cut identifier would be a different one.
A card that breaks a limit is refused by WeCom (errcode 40058 and friends): we never send one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

ELLIPSIS = "…"

# Character limits of visible text ("建议不超过 N 个字" in the documents).
MAIN_TITLE = 36
MAIN_DESC = 44
SUB_TITLE = 160
SOURCE_DESC = 13
EMPHASIS_TITLE = 10
EMPHASIS_DESC = 15
ROW_KEYNAME = 5
ROW_VALUE = 30
ROWS = 6
BUTTON_TEXT = 10
BUTTONS = 6
SELECTION_TITLE = 10
OPTION_TEXT = 10
OPTIONS = 10
MENU_DESC = 10
MENU_TEXT = 10
MENU_ENTRIES = 3
QUOTE_TITLE = 20
QUOTE_TEXT = 160
REPLACE_NAME = 10

# Byte limits of identifiers.
KEY_BYTES = 1024
TASK_ID_BYTES = 128
OPTION_ID_BYTES = 128

TASK_ID_RE = re.compile(r"^[0-9A-Za-z_\-@]{1,128}$")
_NOT_TASK_ID_CHAR = re.compile(r"[^0-9A-Za-z_\-@]")

T = TypeVar("T")


class CardLimitError(ValueError):
    """A programming error: an identifier cannot be made to fit (never a person's text)."""


def cut(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, ending in "…" when it was shortened."""
    text = " ".join(text.split())  # newlines and runs of spaces break card layout
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + ELLIPSIS


def fits_bytes(value: str, limit: int) -> bool:
    return 0 < len(value.encode("utf-8")) <= limit


def card_task_id(task_id: int, round_: int, nonce: str) -> str:
    """A card's `task_id`: unique within the app, `[0-9A-Za-z_\\-@]`, at most 128 bytes.

    It names the hall's task and its round, plus a nonce so a resent card (a reminder, a
    retried delivery) never reuses a spent id. Characters outside the alphabet are dropped
    from the nonce, and the nonce is shortened to fit.
    """
    if task_id < 0 or round_ < 0:
        raise CardLimitError("task id and round are non-negative")
    head = f"hall-{task_id}-{round_}-"
    clean = _NOT_TASK_ID_CHAR.sub("", nonce)
    room = TASK_ID_BYTES - len(head)
    if not clean or room <= 0:
        raise CardLimitError("a card task id needs a nonce from [0-9A-Za-z_-@]")
    result = head + clean[:room]
    if not TASK_ID_RE.fullmatch(result):
        raise CardLimitError(f"not a valid card task id: {result!r}")
    return result


def hall_task_of(card_task_id_: str) -> int | None:
    """The hall task id a card task id names, or None when it is not one of ours."""
    parts = card_task_id_.split("-")
    if len(parts) < 4 or parts[0] != "hall" or not parts[1].isdigit():
        return None
    return int(parts[1])


def first(items: Sequence[T], limit: int) -> list[T]:
    return list(items[:limit])


def check_key(key: str) -> str:
    if not fits_bytes(key, KEY_BYTES):
        raise CardLimitError(f"a card key has 1 to {KEY_BYTES} bytes")
    return key


def check_unique(keys: Sequence[str]) -> None:
    if len(set(keys)) != len(keys):
        raise CardLimitError(f"card keys must be unique: {list(keys)}")
