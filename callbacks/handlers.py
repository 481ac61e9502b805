"""What each WeCom event does: one thin handler per event type, found through a table.

A handler takes the request's `CallbackContext` and the typed event and returns the
plaintext passive reply (or None for WeCom's documented empty "received"). Handlers parse
nothing and decide nothing themselves: a card click calls `Hall.decide` once, and the engine
writes everything slow (other reviewers' card updates, the applicant's result card) to the
outbox in the same transaction, which commits before we answer.

Why 待办 and 进度 answer with a passive reply rather than through the outbox: the reply
travels in the callback's own HTTP response, so the member sees it at once, it costs no
API call, no access token and none of the 30-per-minute message quota, and it needs no
worker to be running. The reads are one indexed page each, well inside WeCom's 5 s.
Anything else gets the help card, a template card: a passive reply to a chat message
cannot carry one, so it goes through the outbox like every other card (within a minute of
the last one, a short passive text instead).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import redis

from callbacks import commands, replies
from callbacks.contacts import ContactEventSink
from callbacks.events import (
    BatchJobResult,
    CardClick,
    CardMenuClick,
    ContactChange,
    EnterAgent,
    Event,
    TextMessage,
)
from cards import (
    DONE_NAMES,
    MENU_PENDING,
    MENU_PROGRESS,
    NO_TARGET,
    CardAction,
    LinkBuilder,
    ParsedKey,
    ReplaceName,
    hall_task_of,
    parse_key,
    transfer_question_key,
)
from hall.db import Database
from hall.errors import (
    AlreadyDecided,
    Conflict,
    Invalid,
    NotFound,
    ReasonRequired,
    ResultInvalid,
    UnknownPerson,
)
from hall.outbox import Kind, emit
from hall.services import Decision, Hall, person_by_userid

log = logging.getLogger("hall.callbacks")

UNKNOWN_COUNTER = "hall:wecom:callbacks:unknown"
HELP_CARD_KEY = "hall:wecom:help-card"
HELP_CARD_GAP = 60  # seconds between two help cards to one person
_COUNTER_NAME = re.compile(r"^[a-z_]{1,40}$")
CHOOSE_TARGET = "请先在「转交给」中选择转交对象，再点击「转交」。"
STALE_CARD = "该待办不存在或已不由您处理。"
FILL_IN_ON_THE_WEB = "该环节需要填写办理结果：请点卡片上的「查看详情」，在网页中填写后办结。"
RETURN_ON_THE_WEB = "退回需要填写原因：请点卡片上的「查看详情」，在网页中填写退回原因后退回。"
_LABELS = frozenset(name.value for name in ReplaceName)
_ON_THE_WEB: dict[type[Exception], str] = {
    ResultInvalid: FILL_IN_ON_THE_WEB,
    ReasonRequired: RETURN_ON_THE_WEB,
}


@dataclass(frozen=True, slots=True)
class CallbackContext:
    """What handlers may use for one callback."""

    db: Database
    hall: Hall
    redis: redis.Redis
    links: LinkBuilder
    contacts: ContactEventSink
    corp_id: str
    endpoint: str
    now: float


Handler = Callable[[CallbackContext, Event], str | None]


# ------------------------------------------------------------------ card clicks


def _decision(parsed: ParsedKey, event: CardClick) -> Decision | None:
    if parsed.action == CardAction.APPROVE:
        return Decision(action="approve")
    if parsed.action == CardAction.REJECT:
        return Decision(action="reject")
    if parsed.action == CardAction.RETURN:
        return Decision(action="return", return_to="applicant")
    chosen = event.selected.get(transfer_question_key(parsed.task_id), ())
    if len(chosen) != 1 or not chosen[0] or chosen[0] == NO_TARGET:
        return None
    return Decision(action="transfer", target_userid=chosen[0])


def on_card_click(ctx: CallbackContext, event: Event) -> str | None:
    """同意 / 驳回 / 退回 / 转交 from a reviewer's card: one decision, the button relabelled."""
    assert isinstance(event, CardClick)
    parsed = parse_key(event.event_key)
    if parsed is None or hall_task_of(event.card_task_id) != parsed.task_id:
        log.warning(
            "card click with a foreign key %r on card %r",
            event.event_key[:80],
            event.card_task_id[:128],
        )
        return None
    decision = _decision(parsed, event)
    if decision is None:
        return replies.text(event.from_user, ctx.corp_id, CHOOSE_TARGET, ctx.now)
    try:
        result = ctx.hall.decide_as(event.from_user, parsed.task_id, decision)
    except UnknownPerson:
        log.warning("card click by unknown userid %r", event.from_user[:64])
        return replies.text(event.from_user, ctx.corp_id, commands.UNKNOWN_PERSON, ctx.now)
    except AlreadyDecided:
        name = ReplaceName.HANDLED
    except NotFound:
        log.info("card click on task %s not open to %s", parsed.task_id, event.from_user)
        return replies.text(event.from_user, ctx.corp_id, STALE_CARD, ctx.now)
    except (Conflict, Invalid) as exc:
        # What a card cannot carry (a handling step's fields, a return's reason; cards sent
        # before those buttons became links still click back): where to type it in.
        text = _ON_THE_WEB.get(type(exc), exc.message)
        return replies.text(event.from_user, ctx.corp_id, text, ctx.now)
    else:
        # The engine's own word when it is a label (a handling step's 办结 reads 已办理, a
        # consent's 不同意 已拒绝), else the button's usual one.
        known = result.message in _LABELS
        name = ReplaceName(result.message) if known else DONE_NAMES[parsed.action]
    log.info("card %s by %s on task %s: %s", parsed.action, event.from_user, parsed.task_id, name)
    return replies.update_button(event.from_user, ctx.corp_id, name, ctx.now)


# ------------------------------------------------------------ menus and chat


def _command_reply(ctx: CallbackContext, userid: str, command: commands.Command) -> str:
    with ctx.db.reader() as session:
        person = person_by_userid(session, userid)
        if person is None:
            content = commands.UNKNOWN_PERSON
        else:
            content = command(session, person.id, ctx.links)
    return replies.text(userid, ctx.corp_id, content, ctx.now)


MENU_COMMANDS: dict[str, commands.Command] = {
    MENU_PENDING: commands.todo_text,
    MENU_PROGRESS: commands.progress_text,
}


def on_card_menu(ctx: CallbackContext, event: Event) -> str | None:
    """An entry of a card's "更多操作" menu: the same answers as the chat commands."""
    assert isinstance(event, CardMenuClick)
    command = MENU_COMMANDS.get(event.event_key)
    if command is None:
        log.warning("card menu with an unknown key %r", event.event_key[:80])
        return None
    return _command_reply(ctx, event.from_user, command)


def on_text(ctx: CallbackContext, event: Event) -> str | None:
    """待办 / 进度 / anything else (the help card)."""
    assert isinstance(event, TextMessage)
    command = commands.command_for(event.content)
    if command is not None:
        return _command_reply(ctx, event.from_user, command)
    with ctx.db.unit_of_work() as session:
        person = person_by_userid(session, event.from_user)
        if person is None:
            return replies.text(event.from_user, ctx.corp_id, commands.UNKNOWN_PERSON, ctx.now)
        if not _help_card_due(ctx, person.id):
            return replies.text(event.from_user, ctx.corp_id, commands.SHORT_HELP, ctx.now)
        emit(session, Kind.HELP, recipient_id=person.id)
    return None


def _help_card_due(ctx: CallbackContext, person_id: int) -> bool:
    """At most one help card a minute per person: each card spends one of the member's 30
    messages a minute, which their review cards need. Without Redis: the card."""
    try:
        return bool(ctx.redis.set(f"{HELP_CARD_KEY}:{person_id}", 1, nx=True, ex=HELP_CARD_GAP))
    except redis.RedisError:
        return True


def on_enter_agent(_ctx: CallbackContext, event: Event) -> str | None:
    """Opening the app is frequent: logged, never answered with a message (no spam)."""
    assert isinstance(event, EnterAgent)
    log.info("%s entered the app", event.from_user)
    return None


# --------------------------------------------------------------------- contacts


def on_change_contact(ctx: CallbackContext, event: Event) -> str | None:
    assert isinstance(event, ContactChange)
    ctx.contacts.contact_changed(event)
    return None


def on_batch_job_result(ctx: CallbackContext, event: Event) -> str | None:
    assert isinstance(event, BatchJobResult)
    ctx.contacts.batch_job_done(event)
    return None


# ---------------------------------------------------------------------- unknown


def on_unknown(ctx: CallbackContext, event: Event) -> str | None:
    """Anything we do not handle: answered empty (WeCom's "received"), logged and counted."""
    name = event.type if _COUNTER_NAME.fullmatch(event.type) else "other"
    ctx.redis.hincrby(f"{UNKNOWN_COUNTER}:{ctx.endpoint}", name, 1)
    log.info("unhandled WeCom callback %r on %s", event.type[:40], ctx.endpoint)
    return None


EVENT_HANDLERS: dict[str, Handler] = {
    "template_card_event": on_card_click,
    "template_card_menu_event": on_card_menu,
    "text": on_text,
    "enter_agent": on_enter_agent,
    "change_contact": on_change_contact,
    "batch_job_result": on_batch_job_result,
}
"""The app's callback (`/wecom/callback`)."""

CONTACTS_EVENT_HANDLERS: dict[str, Handler] = {
    "change_contact": on_change_contact,
    "batch_job_result": on_batch_job_result,
}
"""The contacts assistant's callback (`/wecom/contacts/callback`): it sends no cards."""


def handler_for(table: dict[str, Handler], event: Event) -> Handler:
    return table.get(event.type, on_unknown)
