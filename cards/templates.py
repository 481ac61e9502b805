"""Template cards (doc 90236) built from plain view data; no database, no network.

Every builder returns the `template_card` object of a `message/send` body (or, for updates,
the whole `message/update_template_card` body), already inside WeCom's limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cards import limits
from cards.keys import NO_TARGET, CardAction, ReplaceName, action_key, transfer_question_key
from cards.limits import cut

SOURCE = "网上办事大厅"
MAX_UPDATE_USERIDS = 1000

# Button styles (1–4): the colours WeCom draws them in.
STYLE_PRIMARY = 1
STYLE_PLAIN = 2
STYLE_DANGER = 3
STYLE_ALT = 4

MENU_PENDING = "menu:todo"
MENU_PROGRESS = "menu:progress"


@dataclass(frozen=True, slots=True)
class Row:
    """One key–value line of a card (a form field, the serial, ...)."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """Someone a task may be transferred to."""

    userid: str
    name: str


@dataclass(frozen=True, slots=True)
class Reminder:
    """Why a reviewer is reminded: who urged (empty: the hall's own deadline timer), how long
    it has waited, and for the timer how far past the step's time limit it is."""

    urged_by: str = ""
    waited_hours: int = 0
    overdue_hours: int = 0


@dataclass(frozen=True, slots=True)
class ReviewView:
    """What the reviewer's card shows about one task."""

    task_id: int
    round: int
    process_name: str
    serial: str
    applicant_name: str
    applicant_department: str
    step_name: str
    detail_url: str
    rows: Sequence[Row] = ()
    allow_return: bool = True
    transfer_candidates: Sequence[Candidate] = ()  # empty: no transfer from the card
    # The step's kind: approval; handle (办理: the reviewer carries the request out);
    # consent (a person named in the form, a roommate say, agrees or not).
    kind: str = "approval"
    resubmitted: bool = False  # the applicant changed and resubmitted it after a return
    signed_by: str = ""  # the signer this reviewer added before themselves, who agreed
    fill_in: bool = False  # the step asks for fields a card cannot collect (e.g. 处理结果)
    # 退回 opens this page (the reason is typed there); empty: the detail page.
    return_url: str = ""
    # A later step sent the application back to this one: who, and why.
    returned_by: str = ""
    return_reason: str = ""
    reassigned_from: str = ""  # the reviewer who left, whose to-do this was
    reassigned_by: str = ""  # the administrator who gave this to-do to this reviewer
    delegated_from: str = ""  # the reviewer who is away and delegated it (委托代理)


@dataclass(frozen=True, slots=True)
class NoticeView:
    """What a notice card (result, CC, handled elsewhere) shows about one application."""

    title: str
    process_name: str
    serial: str
    detail_url: str
    rows: Sequence[Row] = field(default_factory=tuple)
    comment: str = ""


def _source() -> dict[str, Any]:
    return {"desc": cut(SOURCE, limits.SOURCE_DESC), "desc_color": 0}


def _rows(rows: Sequence[Row], more_url: str) -> list[dict[str, Any]]:
    """At most 6 rows; when there are more, the sixth says how many more and links to them."""
    shown: list[dict[str, Any]] = [
        {"keyname": cut(r.label, limits.ROW_KEYNAME), "value": cut(r.value, limits.ROW_VALUE)}
        for r in rows[: limits.ROWS]
    ]
    if len(rows) > limits.ROWS:
        shown = shown[: limits.ROWS - 1]
        hidden = len(rows) - len(shown)
        shown.append(
            {"type": 1, "keyname": "更多", "value": f"另有{hidden}项，见详情", "url": more_url}
        )
    return shown


@dataclass(frozen=True, slots=True)
class Link:
    """A button that opens a page (type 1) instead of calling back."""

    url: str


def _buttons(buttons: Sequence[tuple[str, int, str | Link]]) -> list[dict[str, Any]]:
    if len(buttons) > limits.BUTTONS:
        raise limits.CardLimitError(f"at most {limits.BUTTONS} buttons")
    keys = [limits.check_key(key) for _, _, key in buttons if isinstance(key, str)]
    limits.check_unique(keys)
    return [
        {"text": cut(text, limits.BUTTON_TEXT), "style": style, "key": key}
        if isinstance(key, str)
        else {"type": 1, "text": cut(text, limits.BUTTON_TEXT), "style": style, "url": key.url}
        for text, style, key in buttons
    ]


def _menu(entries: Sequence[tuple[str, str]]) -> dict[str, Any]:
    entries = entries[: limits.MENU_ENTRIES]
    if not entries:
        raise limits.CardLimitError("an action menu has 1 to 3 entries")
    keys = [limits.check_key(key) for _, key in entries]
    limits.check_unique(keys)
    return {
        "desc": cut("更多操作", limits.MENU_DESC),
        "action_list": [{"text": cut(t, limits.MENU_TEXT), "key": k} for t, k in entries],
    }


def _transfer_selection(view: ReviewView) -> dict[str, Any] | None:
    candidates = [
        c for c in view.transfer_candidates if limits.fits_bytes(c.userid, limits.OPTION_ID_BYTES)
    ]
    if not candidates:
        return None
    unique: dict[str, Candidate] = {}
    for c in candidates:
        unique.setdefault(c.userid, c)
    options = limits.first(list(unique.values()), limits.OPTIONS - 1)  # after NO_TARGET
    return {
        "question_key": transfer_question_key(view.task_id),
        "title": cut("转交给", limits.SELECTION_TITLE),
        "selected_id": NO_TARGET,
        "option_list": [
            {"id": NO_TARGET, "text": cut("请选择", limits.OPTION_TEXT)},
            *({"id": c.userid, "text": cut(c.name, limits.OPTION_TEXT)} for c in options),
        ],
    }


def review_card(
    view: ReviewView, *, nonce: str, reminder: Reminder | None = None
) -> dict[str, Any]:
    """The reviewer's button_interaction card: 同意 / 驳回 / 退回 (and 转交 with a dropdown).

    A handling step's first button reads 办结; when the step asks for fields (处理结果, a
    certificate number, ...), which a card cannot collect, it is a link 去办理 to the web
    view instead, so no button on the card can only fail. Someone asked for their consent
    answers 同意 / 不同意."""
    who = view.applicant_name
    if view.applicant_department:
        who += f"（{view.applicant_department}）"
    title = view.process_name
    if reminder is not None:
        title = f"【{'催办' if reminder.urged_by else '超时提醒'}】{title}"
    card: dict[str, Any] = {
        "card_type": "button_interaction",
        "source": _source(),
        "action_menu": _menu([("我的待办", MENU_PENDING), ("我的申请", MENU_PROGRESS)]),
        "main_title": {
            "title": cut(title, limits.MAIN_TITLE),
            "desc": cut(f"{who}提交 · {view.step_name}", limits.MAIN_DESC),
        },
        "quote_area": {
            "type": 1,
            "url": view.detail_url,
            "title": cut(f"办件编号 {view.serial}", limits.QUOTE_TITLE),
            "quote_text": "点击查看详情、附件与审批记录",
        },
        "horizontal_content_list": _rows(view.rows, view.detail_url),
        "card_action": {"type": 1, "url": view.detail_url},
        "task_id": limits.card_task_id(view.task_id, view.round, nonce),
    }
    line = _review_sub_title(view, reminder)
    if line:
        card["sub_title_text"] = cut(line, limits.SUB_TITLE)
    first: str | Link = action_key(CardAction.APPROVE, view.task_id)
    handling = view.kind == "handle"
    if view.fill_in:
        first = Link(view.detail_url)
        label = "去办理" if handling else "去审批"
    else:
        label = "办结" if handling else "同意"
    buttons: list[tuple[str, int, str | Link]] = [
        (label, STYLE_PRIMARY, first),
        (
            "不同意" if view.kind == "consent" else "驳回",
            STYLE_DANGER,
            action_key(CardAction.REJECT, view.task_id),
        ),
    ]
    if view.allow_return:
        # A return must say what to change, and a card cannot take text: the button opens
        # the page's 退回 form. (A 退回 click from a card sent before this is answered with
        # where to go, see callbacks.handlers.)
        buttons.append(("退回", STYLE_PLAIN, Link(view.return_url or view.detail_url)))
    selection = _transfer_selection(view)
    if selection is not None:
        card["button_selection"] = selection
        buttons.append(("转交", STYLE_ALT, action_key(CardAction.TRANSFER, view.task_id)))
    card["button_list"] = _buttons(buttons)
    return card


def _review_sub_title(view: ReviewView, reminder: Reminder | None) -> str:
    """The one line under a review card's title: why this card came, the most urgent first."""
    if reminder is not None and reminder.urged_by:
        waited = f"已等待{reminder.waited_hours}小时，" if reminder.waited_hours > 0 else ""
        return f"{reminder.urged_by}催办：{waited}请尽快处理。"
    if reminder is not None:
        late = f"{reminder.overdue_hours}小时" if reminder.overdue_hours > 0 else ""
        return f"提醒：已超过办理时限{late}，请尽快处理。"
    if view.signed_by:
        return f"您加签的{view.signed_by}已同意，请继续处理。"
    if view.reassigned_from:
        return f"原处理人{view.reassigned_from}已停用，转由您处理。"
    if view.reassigned_by:
        return f"{view.reassigned_by}将此待办改派给您。"
    if view.delegated_from:
        return f"{view.delegated_from}外出期间委托您处理。"
    if view.returned_by:
        return f"{view.returned_by}退回：{view.return_reason or '请重新处理。'}"
    if view.resubmitted:
        return "申请人已按退回意见修改并重新提交。"
    return ""


def _notice(
    *,
    title: str,
    desc: str,
    emphasis: tuple[str, str] | None,
    view: NoticeView,
    rows: Sequence[Row],
    sub_title: str = "",
) -> dict[str, Any]:
    card: dict[str, Any] = {
        "card_type": "text_notice",
        "source": _source(),
        "main_title": {"title": cut(title, limits.MAIN_TITLE), "desc": cut(desc, limits.MAIN_DESC)},
        "horizontal_content_list": _rows(rows, view.detail_url),
        "jump_list": [{"type": 1, "title": "查看详情", "url": view.detail_url}],
        "card_action": {"type": 1, "url": view.detail_url},
    }
    if emphasis is not None:
        card["emphasis_content"] = {
            "title": cut(emphasis[0], limits.EMPHASIS_TITLE),
            "desc": cut(emphasis[1], limits.EMPHASIS_DESC),
        }
    if sub_title:
        card["sub_title_text"] = cut(sub_title, limits.SUB_TITLE)
    return card


def result_card(view: NoticeView, *, outcome: str, phrase: str) -> dict[str, Any]:
    """The applicant's text_notice: the application was approved, rejected, returned, handled.

    `phrase` is how the hall words the outcome everywhere (`hall.channels.OUTCOME_PHRASES`).
    """
    lines = []
    if view.comment:
        label = "退回原因" if outcome == "returned" else "审批意见"
        ended = view.comment[-1] in "。！？.!?"
        lines.append(f"{label}：{view.comment}{'' if ended else '。'}")
    if outcome == "returned":
        lines.append("请修改后重新提交。")
    return _notice(
        title=f"您的申请{phrase}",
        desc=view.title,
        emphasis=(phrase, "办理结果"),
        view=view,
        rows=[Row("事项", view.process_name), Row("办件编号", view.serial), *view.rows],
        sub_title="".join(lines),
    )


def cc_card(view: NoticeView, *, applicant_name: str, by: str = "") -> dict[str, Any]:
    """抄送: a text_notice telling a follower about an application, for their information:
    who copied them (`by`, when a person did) and their note (`view.comment`)."""
    who = f"{by}将此申请抄送给您" if by else "此申请已抄送给您"
    note = ""
    if view.comment:
        note = f"附言：{view.comment}{'' if view.comment[-1] in '。！？.!?' else '。'}"
    return _notice(
        title=f"抄送：{applicant_name}的申请",
        desc=view.title,
        emphasis=None,
        view=view,
        rows=[Row("事项", view.process_name), Row("办件编号", view.serial), *view.rows],
        sub_title=f"{who}，仅供知悉，无需处理。{note}",
    )


def revoked_card(view: NoticeView, *, applicant_name: str) -> dict[str, Any]:
    """撤销: the applicant took back an approved application this person approved, was
    told of or follows; `view.comment` is their reason. Nothing to do, but the approval
    no longer stands."""
    reason = view.comment
    why = (
        f"撤销原因：{reason}{'' if reason and reason[-1] in '。！？.!?' else '。'}"
        if reason
        else ""
    )
    return _notice(
        title=f"申请已撤销：{applicant_name}的申请",
        desc=view.title,
        emphasis=None,
        view=view,
        rows=[Row("事项", view.process_name), Row("办件编号", view.serial), *view.rows],
        sub_title=f"{applicant_name}撤销了已通过的此申请，原审批结果不再有效。{why}",
    )


def handled_elsewhere_card(
    view: NoticeView, *, withdrawn: bool = False, title: str = ""
) -> dict[str, Any]:
    """The notice sent when a reviewer's card can no longer be updated (code spent/expired).
    `title`: what became of the to-do otherwise (待办超时自动同意), `view.comment` the why."""
    if title:
        sub = f"{view.comment}，您无需再处理。" if view.comment else "您无需再处理。"
    elif withdrawn:
        title, sub = "申请已撤回", "申请人已撤回此申请，您无需再处理。"
    else:
        title, sub = "待办已由他人处理", "此待办已由他人处理，您无需再处理。"
    return _notice(
        title=title,
        desc=view.title,
        emphasis=None,
        view=view,
        rows=[Row("事项", view.process_name), Row("办件编号", view.serial), *view.rows],
        sub_title=sub,
    )


def overdue_digest_card(*, count: int, since: str, monitor_url: str) -> dict[str, Any]:
    """An administrator's daily notice: `count` to-dos of their services are a day or more
    past the time limit (the oldest since `since`); the card opens 办件监控."""
    sub = f"最早的已于{since}超时。" if since else ""
    return {
        "card_type": "text_notice",
        "source": _source(),
        "main_title": {
            "title": cut(f"{count}件待办超时未办", limits.MAIN_TITLE),
            "desc": cut("您管理的事项中，这些待办已超过办理时限一天以上", limits.MAIN_DESC),
        },
        "emphasis_content": {
            "title": cut(str(count), limits.EMPHASIS_TITLE),
            "desc": cut("件超时待办", limits.EMPHASIS_DESC),
        },
        "sub_title_text": cut(f"{sub}请在「办件监控」中查看，必要时改派。", limits.SUB_TITLE),
        "jump_list": [{"type": 1, "title": "打开办件监控", "url": monitor_url}],
        "card_action": {"type": 1, "url": monitor_url},
    }


@dataclass(frozen=True, slots=True)
class HelpLinks:
    """Where the help card's entries lead (OAuth-wrapped hall pages)."""

    todo: str
    applications: str
    home: str


def help_card(*, pending: int, links: HelpLinks) -> dict[str, Any]:
    """The answer to a chat message the hall does not understand: what one can send or tap.

    `pending` (the member's open to-dos) is shown up front when there are any, since that is
    what a reviewer most often came for.
    """
    card: dict[str, Any] = {
        "card_type": "text_notice",
        "source": _source(),
        "main_title": {
            "title": cut("网上办事大厅使用帮助", limits.MAIN_TITLE),
            "desc": cut("发送下列关键词，或点击下方入口", limits.MAIN_DESC),
        },
        "horizontal_content_list": _rows(
            [
                Row("待办", "发送「待办」，查看待您审批的申请"),
                Row("进度", "发送「进度」，查看您提交的申请"),
                Row("审批卡片", "点「同意」「驳回」即可办理"),
                Row("退回", "在卡片详情页填写原因后退回"),
            ],
            links.home,
        ),
        "jump_list": [
            {"type": 1, "title": "我的待办", "url": links.todo},
            {"type": 1, "title": "我的申请", "url": links.applications},
            {"type": 1, "title": "发起申请", "url": links.home},
        ],
        "card_action": {"type": 1, "url": links.home},
    }
    if pending > 0:
        card["emphasis_content"] = {
            "title": cut(str(pending), limits.EMPHASIS_TITLE),
            "desc": cut("条待办等您处理", limits.EMPHASIS_DESC),
        }
    return card


def replace_name_update(
    *, userids: Sequence[str], agent_id: int, response_code: str, name: ReplaceName | str
) -> dict[str, Any]:
    """The `message/update_template_card` body turning the card's buttons into one label.

    A response code is usable once, within 72 hours (doc 94888).
    """
    if not userids or len(userids) > MAX_UPDATE_USERIDS:
        raise limits.CardLimitError(f"an update names 1 to {MAX_UPDATE_USERIDS} userids")
    if not response_code:
        raise limits.CardLimitError("an update needs the card's response code")
    return {
        "userids": list(userids),
        "agentid": agent_id,
        "response_code": response_code,
        "button": {"replace_name": cut(str(name), limits.REPLACE_NAME)},
    }


def template_card_message(*, touser: str, agent_id: int, card: dict[str, Any]) -> dict[str, Any]:
    """The `message/send` body carrying a template card to one person."""
    return {
        "touser": touser,
        "msgtype": "template_card",
        "agentid": agent_id,
        "template_card": card,
    }
