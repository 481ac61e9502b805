"""The web view's languages: zh_CN (the default) and English.

Message ids are the zh_CN texts themselves, so templates read naturally in the school's
language: `{{ _("我的申请") }}`. `CATALOGUE` maps each id to its English text; a missing
entry falls back to the zh_CN id (tests/web_views check that every id used in the
templates has an English text).

The language is chosen per request: the session's choice (set by the switch, `POST /lang`),
else the `hall_lang` cookie (remembered across sign-ins), else the browser's
Accept-Language, else zh_CN.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from flask import Blueprint, Flask, Response, current_app, g, redirect, request, session
from werkzeug.wrappers import Response as BaseResponse

from web.auth import safe_next

Lang = Literal["zh_CN", "en"]
LANGS: tuple[Lang, ...] = ("zh_CN", "en")
DEFAULT: Lang = "zh_CN"
COOKIE = "hall_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600

bp = Blueprint("i18n", __name__)

CATALOGUE: dict[str, str] = {
    # layout
    "网上办事大厅": "Online Service Hall",
    "服务目录": "Services",
    "我的申请": "My applications",
    "待办": "To do",
    "已办": "Done",
    "委托": "Delegation",
    "退出": "Sign out",
    "登录": "Sign in",
    "语言": "Language",
    "跳到主要内容": "Skip to main content",
    "流程设计": "Process designer",
    "统计": "Statistics",
    "系统管理": "Administration",
    "主导航": "Main navigation",
    "首页": "Home",
    "我的": "Me",
    "未找到": "Not found",
    "您要找的页面不存在，或您无权查看。": "The page does not exist, or you may not see it.",
    "返回首页": "Back to the hall",
    "请求已过期，请刷新页面后重试。": "The request expired; reload the page and try again.",
    "操作失败": "The request failed",
    "上传的内容过大": "The upload is too large",
    # catalogue
    "搜索服务": "Search services",
    "搜索": "Search",
    "常用服务": "Frequently used",
    "全部部门": "All departments",
    "全部分类": "All categories",
    "全部对象": "Everyone",
    "部门": "Department",
    "分类": "Category",
    "服务对象": "Audience",
    "教职工": "Staff",
    "学生": "Students",
    "校外人员": "Off-campus",
    "承诺时限": "Promised time",
    "{n}个工作日": "{n} working days",
    "即办件": "Immediate",
    "跑动次数": "Visits",
    "零跑动": "No visit needed",
    "最多跑{n}次": "At most {n} visits",
    "没有找到符合条件的服务": "No service matches",
    "共 {n} 项服务": "{n} services",
    "办理": "Apply",
    "筛选": "Filter",
    "清除": "Clear",
    # form page
    "办事指南": "Service guide",
    "办事依据": "Basis",
    "所需材料": "Materials",
    "必需": "required",
    "可选": "optional",
    "咨询电话": "Contact",
    "流程": "Flow",
    "填写申请": "Application form",
    "必填": "required",
    "提交": "Submit",
    "保存草稿": "Save draft",
    "重新提交": "Resubmit",
    "开始": "Start",
    "结束": "End",
    "至": "to",
    "请选择": "Please choose",
    "上传文件": "Upload a file",
    "上传中…": "Uploading…",
    "删除": "Remove",
    "搜索姓名或工号/学号": "Search by name or number",
    "已选择": "Selected",
    "没有匹配的人员": "Nobody matches",
    "最多{n}个文件，每个不超过{mb}MB": "At most {n} files, {mb} MB each",
    "允许的类型：{types}": "Allowed types: {types}",
    "表单填写有误，请检查标红的项目": "Some fields need attention (marked in red)",
    "已保存草稿": "Draft saved",
    "已提交": "Submitted",
    "已重新提交": "Resubmitted",
    # the services' short answers (hall.services.ActionResult.message)
    "已同意": "Approved",
    "已办理": "Handled",
    "已转交": "Transferred",
    "已加签": "Signer added",
    "已催办": "Reviewers reminded",
    "已评论": "Comment added",
    "已抄送": "Copied",
    "已设置委托": "Delegation set",
    "已撤销委托": "Delegation revoked",
    "退回修改": "Returned for changes",
    "审批意见": "Reviewer's comment",
    # field rules (client-side messages; the server's come from hall.forms)
    "请填写{label}": "Please fill in {label}",
    "不能超过{n}个字": "At most {n} characters",
    "至少{n}个字": "At least {n} characters",
    "格式不正确": "Invalid format",
    "应为数字": "Must be a number",
    "应为整数": "Must be a whole number",
    "不能小于{n}": "Must be at least {n}",
    "不能大于{n}": "Must be at most {n}",
    "结束不能早于开始": "The end cannot be before the start",
    "结束必须晚于开始": "The end must be after the start",
    "不能超过{n}天": "At most {n} days",
    "至少选择{n}项": "Choose at least {n}",
    "最多选择{n}项": "Choose at most {n}",
    "请填写11位手机号码": "Enter an 11-digit mobile number",
    "身份证号码不正确": "Invalid ID card number",
    "最多上传{n}个文件": "At most {n} files",
    "文件超过{n}MB": "The file is larger than {n} MB",
    "文件类型不允许": "This file type is not allowed",
    "请选择人员": "Please choose a person",
    "日期格式应为 YYYY-MM-DD": "Dates are YYYY-MM-DD",
    "请同时填写开始和结束": "Fill in both the start and the end",
    # the server's field messages (hall.forms) that the catalogue above does not have yet
    "数值超出范围": "The number is out of range",
    "时间格式应为 YYYY-MM-DDTHH:MM": "Times are YYYY-MM-DDTHH:MM",
    "应包含开始和结束": "Needs a start and an end",
    "开始和结束的时区不一致": "The start and end are in different time zones",
    "请从选项中选择": "Choose one of the options",
    "选项不能重复": "Choose each option once",
    "请填写18位身份证号码": "Enter an 18-character ID card number",
    "附件格式不正确": "Invalid attachments",
    "附件不能重复": "The same file is attached twice",
    "附件不存在或不可用": "The attachment does not exist or may not be used",
    "人员不存在": "No such person",
    "应为文本": "Must be text",
    "未知字段": "Unknown field",
    "表单内容过大": "The form is too large",
    # my applications
    "全部": "All",
    "草稿": "Draft",
    "审批中": "In review",
    "已退回": "Returned",
    "已通过": "Approved",
    "已驳回": "Rejected",
    "已撤回": "Withdrawn",
    "编号": "Serial",
    "事项": "Service",
    "状态": "Status",
    "当前环节": "Current step",
    "处理人": "Waiting on",
    "提交时间": "Submitted",
    "办结": "Finish",
    "创建时间": "Created",
    "办结时间": "Finished",
    "还没有申请": "No applications yet",
    "继续填写": "Continue",
    "修改后重新提交": "Edit and resubmit",
    "上一页": "Previous",
    "下一页": "Next",
    "第 {page} / {pages} 页": "Page {page} of {pages}",
    # application page
    "申请人": "Applicant",
    "申请内容": "Application",
    "附件": "Attachments",
    "办理结果": "Result",
    "流程图": "Flow diagram",
    "办理记录": "History",
    "评论": "Comments",
    "发表评论": "Add a comment",
    "撤回": "Withdraw",
    "催办": "Urge",
    "确定撤回这份申请吗？": "Withdraw this application?",
    "审批记录": "Approval record",
    "打印": "Print",
    "已跳过": "skipped",
    "未开始": "pending",
    "未通过": "not passed",
    "条件环节": "conditional",
    "系统": "System",
    "（由{name}代理）": "(acted for by {name})",
    "无": "None",
    "审批": "Approval",
    "报备": "Notify",
    "办理环节": "Handling",
    "确认": "Consent",
    # timeline actions
    "保存了草稿": "saved a draft",
    "提交了申请": "submitted",
    "重新提交了申请": "resubmitted",
    "同意": "Approve",
    "驳回": "Reject",
    "退回": "Return",
    "转交": "Transfer",
    "加签": "Add signer",
    "抄送": "CC",
    "撤回了申请": "withdrew",
    "催办了": "urged",
    "评论了": "commented",
    "自动通过": "passed automatically",
    "已报备": "notified",
    "超时提醒": "overdue reminder",
    # decision panel
    "审批操作": "Decision",
    "意见": "Comment",
    "填写意见（可选）": "Your comment (optional)",
    "退回到": "Return to",
    "申请人（退回修改）": "the applicant (for changes)",
    "转交给": "Transfer to",
    "加签人": "Signer to add",
    "加签位置": "Position",
    "在我之前": "before me",
    "在我之后": "after me",
    "更多操作": "More actions",
    "确定": "Confirm",
    "办理结果字段": "Result fields",
    # tasks
    "批量同意": "Approve selected",
    "选择": "Select",
    "全选": "Select all",
    "等待时长": "Waiting",
    "已超期": "Overdue",
    "截止": "Due",
    "处理时间": "Decided",
    "结果": "Result",
    "没有待办": "Nothing to do",
    "没有已办": "Nothing decided yet",
    "批量意见（可选）": "Comment for all (optional)",
    "请先选择要同意的待办": "Select the tasks to approve first",
    "已同意 {n} 件": "Approved {n}",
    "{n} 件已被处理过": "{n} had already been decided",
    "{n} 件未能处理：{detail}": "{n} could not be approved: {detail}",
    "{n}分钟": "{n} min",
    "{n}小时": "{n} h",
    "{n}天": "{n} d",
    "最早提交的在前": "Longest waiting first",
    # delegation
    "委托代理": "Delegation",
    "外出期间，您的新待办将交给委托人处理。": (
        "While you are away, your new tasks go to your delegate."
    ),
    "委托给": "Delegate to",
    "开始日期": "From",
    "结束日期": "Until",
    "设置委托": "Set delegation",
    "我的委托": "My delegations",
    "委托给我的": "Delegated to me",
    "撤销": "Revoke",
    "已撤销": "Revoked",
    "生效中": "Active",
    "未生效": "Scheduled",
    "已过期": "Expired",
    "没有委托": "No delegations",
    "委托人": "Delegator",
    "代理人": "Delegate",
    "日期": "Dates",
    # record and verification
    "审批记录单": "Approval record",
    "扫码核验": "Scan to verify",
    "核验结果": "Verification",
    "记录有效": "The record is genuine",
    "记录真实，但办件状态已变更": "The record is genuine, but the application has changed since",
    "无效的核验码": "Invalid verification code",
    "核验码无效或已过期，无法证明该记录的真实性。": (
        "The code is invalid or expired; it does not prove the record."
    ),
    "办件编号": "Serial",
    "核验时状态": "Status now",
    "记录时状态": "Status on the record",
    "本页仅显示核验所需的最少信息。": "This page shows only what verification needs.",
    "审批人": "Reviewer",
    "时间": "Time",
    "操作": "Action",
}

STATUS_LABELS: dict[str, str] = {
    "draft": "草稿",
    "pending": "审批中",
    "returned": "已退回",
    "approved": "已通过",
    "rejected": "已驳回",
    "withdrawn": "已撤回",
}


def choose(accept: Any, cookie: str | None, chosen: Any) -> Lang:
    """The language for a request: session choice, cookie, Accept-Language, zh_CN."""
    for value in (chosen, cookie):
        if value in LANGS:
            return value
    best = accept.best_match(["zh-CN", "zh", "en"]) if accept is not None else None
    if best is not None and best.startswith("en"):
        return "en"
    return DEFAULT


def current_lang() -> Lang:
    lang: Lang | None = g.get("hall_lang")
    if lang is None:
        lang = choose(request.accept_languages, request.cookies.get(COOKIE), session.get("lang"))
        g.hall_lang = lang
    return lang


def translate(msgid: str, lang: Lang, **params: Any) -> str:
    text = CATALOGUE.get(msgid, msgid) if lang == "en" else msgid
    return text.format(**params) if params else text


def gettext(msgid: str, **params: Any) -> str:
    """`_()` in templates and views: the message in the request's language."""
    return translate(msgid, current_lang(), **params)


def _pattern(msgid: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", msgid)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)
    )
    return re.compile(f"^{regex}$")


_PATTERNS = [(msgid, _pattern(msgid)) for msgid in CATALOGUE if "{" in msgid]


def localize(message: str) -> str:
    """A zh_CN message from the services (e.g. a field error of hall.forms) in the
    request's language: the catalogue's text, with its parameters, when it has one."""
    if current_lang() != "en":
        return message
    if message in CATALOGUE:
        return CATALOGUE[message]
    for msgid, pattern in _PATTERNS:
        found = pattern.match(message)
        if found is not None:
            return CATALOGUE[msgid].format(**found.groupdict())
    return message


def status_label(status: str) -> str:
    return gettext(STATUS_LABELS.get(status, status))


@bp.post("/lang")
def switch_language() -> BaseResponse:
    """Remember the chosen language in the session and a cookie, then go back."""
    current_app.extensions["csrf"].protect()
    lang = request.form.get("lang", "")
    target = safe_next(request.form.get("next"))
    response = redirect(target)
    if lang in LANGS:
        session["lang"] = lang
        response.set_cookie(
            COOKIE,
            lang,
            max_age=COOKIE_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        )
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals.update(_=gettext, status_label=status_label, current_lang=current_lang)
    app.jinja_env.filters["localize"] = localize

    @app.after_request
    def _content_language(response: Response) -> Response:
        if "hall_lang" in g:
            response.headers.setdefault("Content-Language", g.hall_lang.replace("_", "-"))
        return response
