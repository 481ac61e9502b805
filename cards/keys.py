"""Button keys and the names a clicked button is replaced with.

A key encodes the action and the hall's task id ("approve:123"); the callback reads it back
with `parse_key`. The transfer dropdown's question key is "transfer_to:123" and its option
ids are userids, after a first "please choose" option (`NO_TARGET`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cards.limits import check_key


class CardAction(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    RETURN = "return"
    TRANSFER = "transfer"


TRANSFER_QUESTION = "transfer_to"
# The transfer dropdown's first option, selected when the card arrives: WeCom preselects
# the first option of a dropdown, and a reviewer who taps 转交 without choosing must not
# hand the task to whoever happens to be listed first. A WeCom userid starts with a letter
# or digit, so this id is never a person's.
NO_TARGET = "_choose"


class ReplaceName(enum.StrEnum):
    """What a clicked button turns into (≤ 10 characters each)."""

    APPROVED = "已同意"
    DONE = "已办理"  # 办结 on a handling step's card
    DECLINED = "已拒绝"  # 不同意 on a consent's card
    SUPERSEDED = "请在新卡片处理"  # a 【催办】 card replaced this one
    REJECTED = "已驳回"
    RETURNED = "已退回"
    TRANSFERRED = "已转交"
    HANDLED = "已处理"  # decided already (by this person a moment ago, or a stale card)
    HANDLED_ELSEWHERE = "已由他人处理"
    WITHDRAWN = "申请人已撤回"


DONE_NAMES = {
    CardAction.APPROVE: ReplaceName.APPROVED,
    CardAction.REJECT: ReplaceName.REJECTED,
    CardAction.RETURN: ReplaceName.RETURNED,
    CardAction.TRANSFER: ReplaceName.TRANSFERRED,
}


@dataclass(frozen=True, slots=True)
class ParsedKey:
    action: CardAction
    task_id: int


def action_key(action: CardAction, task_id: int) -> str:
    return check_key(f"{action.value}:{task_id}")


def transfer_question_key(task_id: int) -> str:
    return check_key(f"{TRANSFER_QUESTION}:{task_id}")


def parse_key(key: str) -> ParsedKey | None:
    """The action and task a button key names, or None for anything else."""
    action, sep, number = key.partition(":")
    if not sep or not number.isascii() or not number.isdigit() or len(number) > 18:
        return None
    try:
        return ParsedKey(CardAction(action), int(number))
    except ValueError:
        return None
