"""Chat commands: what a member gets back for a text message sent to the hall's app.

待办 lists the member's pending tasks with links, 进度 their own applications with their
status; anything else gets the help card (callbacks/handlers.py). Answers are passive
replies: the reads below are one indexed page each (`hall.queries`), far inside WeCom's 5 s.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from cards import LinkBuilder, cut
from hall.channels import CHINA_TIME
from hall.queries import my_applications, my_tasks
from hall.states import AppStatus

LIST_LIMIT = 8  # a phone screen; the rest is one tap away
LINE_TITLE = 30

STATUS_NAMES = {
    AppStatus.DRAFT: "草稿",
    AppStatus.PENDING: "审批中",
    AppStatus.RETURNED: "退回修改",
    AppStatus.APPROVED: "已通过",
    AppStatus.REJECTED: "已驳回",
    AppStatus.WITHDRAWN: "已撤回",
    AppStatus.REVOKED: "已撤销",
}

SHORT_HELP = "发送「待办」查看待您审批的申请，发送「进度」查看您提交的申请。"
UNKNOWN_PERSON = "未在办事大厅找到您的账号，请联系信息中心。"


def _link(url: str, text: str) -> str:
    safe = text.replace("<", "〈").replace(">", "〉")
    return f'<a href="{url}">{safe}</a>'


def _when(moment: datetime | None) -> str:
    """Beijing time, short: tells apart two applications with the same title."""
    return f"{moment.astimezone(CHINA_TIME):%m-%d %H:%M}" if moment is not None else ""


def todo_text(session: Session, person_id: int, links: LinkBuilder) -> str:
    page = my_tasks(session, person_id, state="todo", per_page=LIST_LIMIT)
    if page.total == 0:
        return "您当前没有待办。"
    lines = [f"您有{page.total}条待办："]
    for n, item in enumerate(page.items, 1):
        app = item.application
        title = cut(app.title, LINE_TITLE)
        since = _when(item.activated_at or item.created_at)
        link = _link(links.application(app.id), title)
        lines.append(f"{n}. {link}（{item.step.name}，{since}）")
    if page.total > len(page.items):
        lines.append(_link(links.home(), f"打开办事大厅查看全部{page.total}条待办"))
    return "\n".join(lines)


def progress_text(session: Session, person_id: int, links: LinkBuilder) -> str:
    page = my_applications(session, person_id, per_page=LIST_LIMIT)
    if page.total == 0:
        return "您还没有提交过申请。"
    lines = [f"您的申请（共{page.total}件）："]
    for n, item in enumerate(page.items, 1):
        status = STATUS_NAMES.get(item.status, item.status.value)
        if item.status == AppStatus.PENDING and item.current_step is not None:
            status += f"·{item.current_step.name}"
        title = cut(item.title, LINE_TITLE)
        sent = _when(item.submitted_at or item.created_at)
        lines.append(f"{n}. {_link(links.application(item.id), title)}（{sent}）：{status}")
    return "\n".join(lines)


Command = Callable[[Session, int, LinkBuilder], str]
COMMANDS: dict[str, Command] = {
    "待办": todo_text,
    "进度": progress_text,
}


def command_for(content: str) -> Command | None:
    return COMMANDS.get(content.strip())
