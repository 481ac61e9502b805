"""Template-card payloads for WeCom, built from plain data inside WeCom's limits (pure)."""

from cards.keys import (
    DONE_NAMES,
    TRANSFER_QUESTION,
    CardAction,
    ParsedKey,
    ReplaceName,
    action_key,
    parse_key,
    transfer_question_key,
)
from cards.limits import CardLimitError, card_task_id, cut, hall_task_of
from cards.links import LinkBuilder
from cards.templates import (
    MENU_PENDING,
    MENU_PROGRESS,
    Candidate,
    NoticeView,
    Reminder,
    ReviewView,
    Row,
    cc_card,
    handled_elsewhere_card,
    replace_name_update,
    result_card,
    review_card,
    template_card_message,
)

__all__ = [
    "DONE_NAMES",
    "MENU_PENDING",
    "MENU_PROGRESS",
    "TRANSFER_QUESTION",
    "Candidate",
    "CardAction",
    "CardLimitError",
    "LinkBuilder",
    "NoticeView",
    "ParsedKey",
    "Reminder",
    "ReplaceName",
    "ReviewView",
    "Row",
    "action_key",
    "card_task_id",
    "cc_card",
    "cut",
    "hall_task_of",
    "handled_elsewhere_card",
    "parse_key",
    "replace_name_update",
    "result_card",
    "review_card",
    "template_card_message",
    "transfer_question_key",
]
