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
    "学生": "Student",  # a person type: the join page's choice, the catalogue's audience
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
    "办件导出": "Export applications",
    "按提交日期导出您管理的事项的办件（不含草稿）；选定一个事项时，表单各字段也各占一列。": (
        "The applications of your services by the day they were submitted (no drafts); "
        "for one service, each form field gets a column too."
    ),
    "全部状态": "All statuses",
    "超过 {n} 条，请缩短时间范围或选择一个事项": (
        "Over {n} rows: choose a shorter range or one service"
    ),
    "工号/学号": "Staff/student no.",
    "申请人部门": "Applicant's department",
    "状态不对": "Unknown status",
    "抄送的人会收到通知，并可以查看这份申请。": (
        "The people you copy are notified and may see this application."
    ),
    "抄送给": "Copy to",
    "附言（选填）": "Note (optional)",
    "已设置委托": "Delegation set",
    "已设置委托，{n} 件待办已转给{name}": "Delegation set; {n} to-do(s) moved to {name}",
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
    "已拒绝": "Declined",
    "不同意": "Decline",
    "已撤回": "Withdrawn",
    "编号": "Serial",
    "事项": "Service",
    "状态": "Status",
    "当前环节": "Current step",
    "处理人": "Waiting on",
    "提交时间": "Submitted",
    "办结": "Finish",
    "已办结": "Done",
    "创建时间": "Created",
    "办结时间": "Finished",
    "还没有申请": "No applications yet",
    "继续填写": "Continue",
    "修改后重新提交": "Edit and resubmit",
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
    "撤销了已通过的申请": "revoked the approved application",
    "催办了": "urged",
    "评论了": "commented",
    "自动通过": "passed automatically",
    "已报备": "notified",
    "超时提醒": "overdue reminder",
    "自动转交（原处理人已停用）": "handed on (the reviewer's account is disabled)",
    "委托转交（审批人外出）": "moved to the delegate (the reviewer is away)",
    "超时自动同意": "approved at the time limit",
    "超时自动驳回": "rejected at the time limit",
    "改派": "reassigned",
    "办件监控": "Monitoring",
    "您管理的事项中等待处理的待办，等待最久的在前。"
    "审批人不在岗又没有委托时，可将待办改派给他人。": (
        "The pending to-dos of the services you look after, longest waiting first. When a "
        "reviewer is away without a delegation, reassign the to-do to someone else."
    ),
    "全部事项": "All services",
    "只看已超期": "Overdue only",
    "已停用": "disabled",
    "改派给": "Reassign to",
    "说明（可选）": "Note (optional)",
    "上一页": "Previous",
    "下一页": "Next",
    "没有等待处理的待办": "Nothing is waiting",
    "已改派": "Reassigned",
    "消息中心": "Messages",
    "全部标为已读": "Mark all read",
    "已全部标为已读": "All marked read",
    "未读": "unread",
    "没有消息": "No messages",
    "已是该待办的处理人": "Already this to-do's reviewer",
    # the services' answers, flashed on the page (hall/services.py, hall/engine.py, ...)
    "办件不存在": "No such application",
    "申请不存在": "No such application",
    "待办不存在": "No such to-do",
    "委托不存在": "No such delegation",
    "消息不存在": "No such message",
    "用户不存在": "No such user",
    "办理结果填写有误": "Please correct the result",
    "表单填写有误": "Please correct the form",
    "表单格式不正确": "The form is malformed",
    "加签位置无效": "Invalid signer position",
    "应为 before 或 after": "Must be before or after",
    "未知的操作": "Unknown action",
    "意见过长": "The comment is too long",
    "评论过长": "The comment is too long",
    "请填写评论内容": "Please write a comment",
    "请选择抄送人": "Please choose whom to copy",
    "请选择1到{n}人": "Choose 1 to {n} people",
    "不能选择自己": "You cannot choose yourself",
    "不能选择申请人": "You cannot choose the applicant",
    "该人员已在处理此环节": "This person is already on this step",
    "只有审批中的申请可以催办": "Only an application under review can be urged",
    "只有申请人或审批人可以抄送": "Only the applicant or a reviewer can copy others in",
    "只有被退回的申请可以重新提交": "Only a returned application can be resubmitted",
    "只能退回给申请人或之前经过的环节": "Return only to the applicant or an earlier step",
    "已有审批人处理，不能撤回": "A reviewer has acted: it can no longer be withdrawn",
    "校外人员不能抄送": "Off-campus applicants cannot copy others in",
    # 撤销 (revoking an approved application)
    "撤销原因": "Why revoke",
    "撤销后原审批结果不再有效，确定撤销吗？": (
        "Once revoked, the approval no longer stands. Revoke this application?"
    ),
    "可在 {until} 前撤销；审批人会收到通知。": (
        "You can revoke it until {until}; the approvers are told."
    ),
    "确认撤销": "Revoke",
    "请填写撤销原因": "Please say why you revoke it",
    "只有已通过的申请可以撤销": "Only an approved application can be revoked",
    "此事项通过后不能撤销": "This service's approvals cannot be revoked",
    "已超过撤销期限（通过后{hours}小时内）": (
        "Too late to revoke: it was possible within {hours} h of the approval"
    ),
    "该申请已结束，不能撤回": "The application is finished: it cannot be withdrawn",
    "该申请已提交，不能再按草稿处理": "The application is submitted: it is no longer a draft",
    "草稿不能抄送": "A draft cannot be copied to others",
    "草稿不能评论": "A draft cannot be commented on",
    "幂等键无效": "Invalid idempotency key",
    "附件有误": "Please correct the attachments",
    "长度应为1到128个字符": "1 to 128 characters",
    "人员不存在：{who}": "No such person: {who}",
    "该幂等键已用于另一个请求": "This idempotency key was used for another request",
    "请求正在处理，请稍后重试": "The request is being processed, please retry shortly",
    "该待办已处理": "This to-do has been dealt with",
    "还没有轮到您处理": "It is not your turn yet",
    "该环节不允许加签": "This step does not allow adding signers",
    "该环节不允许转交": "This step does not allow transfers",
    "该环节不允许退回": "This step does not allow returns",
    "该环节无需填写办理结果": "This step takes no result",
    "该环节找不到处理人，也没有管理员可以接手，请联系信息中心": (
        "Nobody handles this step and no administrator can take it: please contact IT"
    ),
    "委托设置有误": "Please correct the delegation",
    "这段时间已有委托，请先撤销原委托": ("A delegation covers this period: revoke it first"),
    "催办过于频繁，请{n}分钟后再试": "Urged too often: try again in {n} min",
    "审批人刚收到待办，请{n}分钟后再催办": (
        "The reviewer has only just received it: urge again in {n} min"
    ),
    # decision panel
    "审批操作": "Decision",
    "意见": "Comment",
    "填写意见（可选）": "Your comment (optional)",
    "（退回时必填）": "(required to return)",
    "填写退回原因，说明需要修改什么": "Why you return it: what needs to change",
    "请填写退回原因，说明需要修改什么": "Say why you return it: what needs to change",
    "退回须填写原因": "A return needs a reason",
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
    "办理操作": "Handling",
    "需在详情页填写办理结果后办结": "needs its result filled in on its page first",
    "需在详情页填写办理结果": "Fill in its result on its page",
    "需填写结果": "Result needed",
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
    "外出期间，您的待办（包括已在手中的）将交给委托人处理。": (
        "While you are away, your tasks (those already waiting too) go to your delegate."
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
    # ---- the designer, statistics and admin pages (web/views/designer.py, stats.py,
    # admin.py, their templates and scripts; tests/*/test_*_routes.py check them)
    "：": ": ",
    "；": "; ",
    "、": ", ",
    "条件": "Condition",
    "步骤": "Step",
    "表单预览": "Form preview",
    "不执行": "skipped",
    "找不到审批人": "No approver found",
    "将转给": "goes to",
    "基于第 {n} 版修改": "based on version {n}",
    "尚未发布": "not published yet",
    "已保存": "Saved",
    "正在保存…": "Saving…",
    "保存失败，请重试": "Saving failed; please try again",
    "草稿已被他人修改，请刷新页面": "Someone else changed the draft; reload the page",
    "事项信息": "Service details",
    "表单字段": "Form field",
    "流程步骤": "Flow step",
    "拖动排序": "drag to reorder",
    "添加字段": "Add a field",
    "添加步骤": "Add a step",
    "检查结果": "Problems",
    "没有问题，可以发布": "No problems: ready to publish",
    "与已发布版本相比的变更": "Changes against the published version",
    "发布为新版本": "Publish as a new version",
    "放弃草稿": "Discard the draft",
    "放弃草稿？已发布的版本不受影响。": "Discard the draft? The published version stays as it is.",
    "已发布版本": "Published versions",
    "版本": "Version",
    "发布时间": "Published",
    "办理中的申请": "Applications in progress",
    "全部申请": "All applications",
    "当前": "current",
    "办理中的申请继续使用提交时的版本。": (
        "Applications in progress keep the version they were submitted on."
    ),
    "预览": "Preview",
    "谁会审批": "Who would approve",
    "用上面预览表单里填的值和一位申请人，按真实的组织机构算出每一步的审批人。": (
        "Works out each step's approvers from the real organisation, for the values in"
        " the preview form above and one applicant."
    ),
    "申请人账号": "Applicant's account",
    "查看审批人": "Show approvers",
    "我可以设计的事项": "Services I can design",
    "编码": "Code",
    "所属部门": "Department",
    "当前版本": "Current version",
    "未发布": "Not published",
    "还没有事项。": "No services yet.",
    "新建事项": "New service",
    "事项名称": "Service name",
    "事项编码": "Service code",
    "小写字母开头，只含小写字母、数字和下划线": (
        "Starts with a lowercase letter; only lowercase letters, digits and underscores"
    ),
    "建立草稿": "Create a draft",
    "已发布": "Published",
    "已发布为第 {n} 版": "Published as version {n}",
    "新提交的申请使用新版本；已在办理中的申请继续使用原来的版本。": (
        "New applications use the new version; those in progress keep theirs."
    ),
    "本次变更": "What changed",
    "继续修改": "Keep editing",
    "返回流程设计": "Back to the designer",
    # the designer's editor script (JS_LABELS) and the services' labels (hall.designer)
    "可见范围（部门编码，逗号分隔）": "Visible to (department codes, comma-separated)",
    "说明": "Description",
    "材料清单（每行一项）": "Materials (one a line)",
    "（可选）": " (optional)",
    "承诺时限（工作日）": "Promised time (working days)",
    "拖动": "Drag",
    "删除字段": "Remove field",
    "删除步骤": "Remove step",
    "标题": "Label",
    "字段编码": "Field code",
    "类型": "Type",
    "选项一": "Option 1",
    "卡片关键字段": "Key field on the card",
    "打印记录中显示": "Shown on the printed record",
    "自动填入": "Prefill",
    "选项（每行 值=显示名）": "Options (one a line: value=label)",
    "最长长度": "Maximum length",
    "格式（正则）": "Pattern (regular expression)",
    "最小值": "Minimum",
    "最大值": "Maximum",
    "最长天数": "Maximum days",
    "名称": "Name",
    "步骤编码": "Step code",
    "审批方式": "Approval mode",
    "审批人规则": "Approver rule",
    "人员账号（逗号分隔）": "Accounts (comma-separated)",
    "角色": "Role",
    "向上级数（1 = 本部门）": "Levels up (1 = the department itself)",
    "人员字段": "Person field",
    "时限（小时）": "Time limit (hours)",
    "条件（不填则总是执行）": "Condition (none: the step always runs)",
    "全部满足（且）": "All hold (and)",
    "任一满足（或）": "Any holds (or)",
    "条件对象": "Subject",
    "比较": "Comparison",
    "值": "Value",
    "移除": "Remove",
    "添加条件": "Add a condition",
    "没有变更": "No changes",
    "新字段": "New field ",
    "新步骤": "New step ",
    "可见范围": "Visible to",
    "材料清单": "Materials",
    "标题模板": "Title template",
    "流程选项": "Flow options",
    "占位提示": "Placeholder",
    "默认值": "Default",
    "选项": "Options",
    "最短长度": "Minimum length",
    "格式": "Pattern",
    "格式提示": "Pattern message",
    "整数": "Whole number",
    "最多文件数": "Maximum files",
    "单个文件上限（MB）": "Maximum file size (MB)",
    "文件类型": "File types",
    "允许转交": "Transfer allowed",
    "允许加签": "Adding signers allowed",
    "允许退回": "Returning allowed",
    "是": "yes",
    "否": "no",
    "（空）": "(empty)",
    # the designer services' messages (hall.designer)
    "新事项「{name}」首次发布": "New service “{name}” published for the first time",
    "新增字段「{title}」（{key}）": "Added field “{title}” ({key})",
    "新增步骤「{title}」（{key}）": "Added step “{title}” ({key})",
    "修改字段「{title}」：{detail}": "Changed field “{title}”: {detail}",
    "修改步骤「{title}」：{detail}": "Changed step “{title}”: {detail}",
    "删除字段「{title}」（{key}）": "Removed field “{title}” ({key})",
    "删除步骤「{title}」（{key}）": "Removed step “{title}” ({key})",
    "字段顺序调整为：{keys}": "Fields reordered: {keys}",
    "步骤顺序调整为：{keys}": "Steps reordered: {keys}",
    "{label}已修改": "{label} changed",
    "{label}：{old} → {new}": "{label}: {old} → {new}",
    "{label} {old} → {new}": "{label} {old} → {new}",
    "没有编码为 {code} 的部门": "No department has the code {code}",
    "没有在职人员 {userid}": "No active person {userid}",
    "单个文件上限最多 {n} MB": "At most {n} MB per file",
    "{who}，代 {name} 审批": "{who}, for {name}",
    "页面不存在": "Not found",
    "草稿不存在": "No such draft",
    "事项不存在": "No such service",
    "请修改后再建立": "Please correct the form first",
    "草稿格式不对": "The draft is malformed",
    "草稿过大": "The draft is too large",
    "草稿已被他人修改，请刷新后再编辑": "Someone else changed the draft; reload it to edit",
    "草稿已被他人修改，请刷新后再发布": "Someone else changed the draft; reload it to publish",
    "草稿还有问题，不能发布": "The draft still has problems and cannot be published",
    "草稿还有问题，请先修改": "The draft still has problems; correct them first",
    "没有这位在职/在读人员": "No such active staff member or student",
    "没有这位人员": "No such person",
    "编码以小写字母开头，只含小写字母、数字和下划线": (
        "The code starts with a lowercase letter and has only lowercase letters, digits"
        " and underscores"
    ),
    "请填写事项名称": "Please fill in the service name",
    "只能为自己管理的部门建立事项": "You may only create services for departments you administer",
    "该编码已被使用": "This code is taken",
    # statistics
    "查询": "Show",
    "总览": "Overview",
    "访问次数": "Visits",
    "访问人数": "Visitors",
    "申请": "Applications",
    "通过": "Approved",
    "办理中": "In progress",
    "通过率": "Approval rate",
    "导出 CSV": "Export CSV",
    "导出 Excel": "Export Excel",
    "数据表（{n}）": "Records ({n})",
    "暂无数据": "No data",
    "日期格式不对": "Invalid date",
    "开始日期晚于结束日期": "The start date is after the end date",
    "时间范围最长三年": "The range is at most three years",
    "日期超出范围": "The date is out of range",
    "没有这个图表": "No such chart",
    "访问量（按事项）": "Visits by service",
    "申请量（按事项）": "Applications by service",
    "申请量（按申请人部门）": "Applications by applicant's department",
    "申请量（按月）": "Applications by month",
    "月份": "Month",
    "通过率（按事项）": "Approval rate by service",
    "已决定": "Decided",
    "通过率%": "Approval rate %",
    "办理用时（按步骤，小时）": "Handling time by step (hours)",
    "步骤序号": "Step number",
    "已办件数": "Decided tasks",
    "中位数": "Median",
    "90%分位": "90th percentile",
    "超时（按步骤）": "Overdue by step",
    "有时限的待办": "Tasks with a time limit",
    "超时": "Overdue",
    "其中仍未处理": "Of which still open",
    "审批人待办积压（当前）": "Reviewers' backlog (now)",
    "最早一件始于": "Oldest since",
    "（未记录）": "(not recorded)",
    # administration
    "同步报告": "Sync reports",
    "投递失败": "Failed deliveries",
    "部门管理员": "Department administrators",
    "人员": "Person",
    "授权部门管理员": "Grant department administration",
    "人员账号": "Person's account",
    "部门编码": "Department code",
    "授权": "Grant",
    "已授权": "Granted",
    "已撤销授权": "Grant revoked",
    "请修改后再提交": "Please correct the form first",
    "没有这位在职人员": "No such active person",
    "没有这个部门": "No such department",
    "授权不存在": "No such grant",
    "渠道": "Channel",
    "消息": "Message",
    "尝试次数": "Attempts",
    "最后错误": "Last error",
    "下次尝试": "Next attempt",
    "办件": "Application",
    "重试": "Retry",
    "更早的": "Older",
    "没有失败的投递。": "No failed deliveries.",
    "已重新排队投递": "Queued for delivery again",
    "投递记录不存在": "No such delivery",
    "只能重试失败的投递": "Only failed deliveries can be retried",
    "开始时间": "Started",
    "触发": "Trigger",
    "变更": "Changes",
    "拒绝行": "Rejected rows",
    "用时（秒）": "Duration (s)",
    "强制": "forced",
    "还没有同步记录。": "No sync runs yet.",
    "成功": "Succeeded",
    "已拒绝（未做任何修改）": "Refused (nothing changed)",
    "失败（已回滚，未做任何修改）": "Failed (rolled back, nothing changed)",
    "新增": "Added",
    "更新": "Updated",
    "停用": "Deactivated",
    "未变": "Unchanged",
    "拒绝": "Rejected",
    "一级部门": "Top-level departments",
    "二级部门": "Second-level departments",
    "部门人员关系": "Department memberships",
    "用户角色": "Roles",
    "事项可见范围": "Service visibility",
    "被拒绝的行（{n}）": "Rejected rows ({n})",
    "中间表": "Table",
    "主键": "Key",
    "原因": "Reason",
    "只保留前 {n} 行": "Only the first {n} rows are kept",
    "没有被拒绝的行。": "No rejected rows.",
    "警告（{n}）": "Warnings ({n})",
    # invitations from staff to visitors
    "邀请校外人员": "Invite a visitor",
    "访客会收到短信链接，验证手机号后补全信息并提交；您填写的内容访客不能修改。": (
        "The visitor gets a link by SMS, proves the number, completes the form and "
        "submits; what you fill in they cannot change."
    ),
    "发起邀请": "Invite",
    "我发出的邀请": "Invitations I sent",
    "访客": "Visitor",
    "发出时间": "Sent",
    "有效期至": "Valid until",
    "查看申请": "View the application",
    "取消后访客将无法通过该链接提交，确定取消吗？": (
        "Once cancelled, the visitor cannot submit through the link. Cancel it?"
    ),
    "取消邀请": "Cancel invitation",
    "还没有发出邀请": "No invitations sent yet",
    "访客将收到短信链接，{days} 天内有效。您将作为接待人。": (
        "The visitor gets a link by SMS, valid for {days} days. You are the host."
    ),
    "访客姓名": "Visitor's name",
    "访客手机号": "Visitor's mobile number",
    "发送邀请短信": "Send the invitation",
    "返回": "Back",
    "来访邀请": "Invitation",
    "邀请链接无效": "Invalid invitation link",
    "请检查短信中的链接是否完整，或联系邀请人重新邀请。": (
        "Check that the link from the SMS is complete, or ask your host to invite you again."
    ),
    "{host}邀请您办理{process}。": "{host} invites you to apply: {process}.",
    "该邀请发给了手机号 {phone}，您当前登录的不是该号码的账号。请退出后用该号码验证。": (
        "This invitation was sent to {phone}, and you are signed in with another "
        "account. Sign out, then prove that number."
    ),
    "请用收到邀请短信的手机号 {phone} 获取验证码，验证后补全信息并提交。": (
        "Get a code on {phone}, the number the invitation was sent to; then complete the "
        "form and submit."
    ),
    "验证手机号并填写": "Prove the number and fill in",
    "本事项须由校内教职工邀请后办理：请联系您的接待人，通过其发来的短信链接填写。": (
        "This service is by invitation only: ask your host at the school, and apply from "
        "the link in their SMS."
    ),
    "{host}邀请您办理。以下内容由邀请人填写：": "{host} invited you. Filled in by your host:",
    "已向 {phone} 发送邀请短信": "Invitation sent to {phone}",
    "邀请已取消": "Invitation cancelled",
    "待填写": "Waiting for the visitor",
    "已取消": "Cancelled",
    "本事项须由校内教职工邀请后办理": "This service is by a staff member's invitation only",
    "该邀请已提交过申请": "This invitation has already been used",
    "邀请人已取消该邀请": "Your host cancelled this invitation",
    "该邀请已过期，请联系邀请人重新邀请": (
        "This invitation has expired; ask your host to invite you again"
    ),
    "24 小时内最多发出 {n} 份邀请，请稍后再试": (
        "At most {n} invitations in 24 hours; please try again later"
    ),
    "该邀请已提交、已取消或已过期，不能取消": (
        "This invitation was used, cancelled or has expired; it cannot be cancelled"
    ),
    "邀请不存在": "No such invitation",
    "请填写 2–{n} 个字的姓名": "Enter a name of 2–{n} characters",
    "请填写正确的手机号码": "Enter a valid mobile number",
    "已失效": "No longer valid",
    "登录验证码": "Sign-in code",
    "短信待发送": "Text queued",
    "短信已发送": "Text sent",
    "短信已送达": "Text delivered",
    "短信发送失败": "Text failed",
    "邀请链接（也可通过微信转发）": "Invitation link (may also be forwarded by WeChat)",
    "时间已过，请重新选择": "That time has passed; please choose another",
    "接待人须为本校在职教职工": "The host must be a member of staff",
    "邀请内容已失效，请联系邀请人重新邀请": (
        "The invitation is out of date; please ask your host to invite you again"
    ),
    "邀请人已无法接待，请联系学校重新邀请": (
        "Your host can no longer receive you; please ask the school to invite you again"
    ),
    # designer: invitations — the invite option's controls, problems and preview line
    "邀请办理的接待人字段（不选则不能邀请）": "Host field for invitations (none: no invitations)",
    "邀请人填写的字段": "Fields the inviter fills in",
    "邀请链接有效天数（不填为 7 天）": "Days the invitation link is valid (blank: 7)",
    "仅限邀请办理": "By invitation only",
    "邀请办理只适用于面向校外人员的事项": (
        "Invitations are only for services open to off-campus people"
    ),
    "邀请人填写的字段有重复": "A field is listed twice for the inviter",
    "邀请人不能代填附件或人员字段「{title}」": (
        "The inviter cannot fill in an attachment or person field: “{title}”"
    ),
    "「{title}」": "“{title}”",
    "教职工可邀请校外人员办理：邀请人填写{fields}，链接 {days} 天内有效": (
        "Staff may invite someone off campus to apply: the inviter fills in {fields}; "
        "the link is valid for {days} days"
    ),
    "教职工可邀请校外人员办理，链接 {days} 天内有效": (
        "Staff may invite someone off campus to apply; the link is valid for {days} days"
    ),
    "（仅限邀请）": " (by invitation only)",
    # gate pass
    "通行码": "Gate pass",
    "有效": "Valid",
    "未到有效时间": "Not yet valid",
    "无效": "Not valid",
    "当前时间": "Current time",
    "有效时间": "Valid during",
    "核验时间": "Checked at",
    "门岗扫码可核验本通行码": "The gate scans this code to check the pass",
    "本页仅显示核验所需的最少信息，状态以扫码时为准。": (
        "This page shows only what a check needs; the state is as of the moment it is opened."
    ),
    "无效的通行码": "Invalid gate pass",
    "该通行码无效，不能作为通行凭证。": "This pass is not valid and lets nobody through.",
    "通行码有效时间（日期或时间范围字段，不选则无通行码）": (
        "Gate pass valid during (a date or time range field; none: no pass)"
    ),
    "通行码名称": "Gate pass name",
    "通过后生成「{label}」，在「{field}」内有效": (
        "Once approved: “{label}”, valid during “{field}”"
    ),
    "请选择表单中的日期范围或时间范围字段": "Please choose a date or time range field of the form",
}

from web.catalogue import designer as _designer_texts  # noqa: E402
from web.catalogue import offcampus as _offcampus_texts  # noqa: E402
from web.catalogue import selfreg as _selfreg_texts  # noqa: E402

for _area in (_designer_texts, _selfreg_texts, _offcampus_texts):
    CATALOGUE.update(_area.CATALOGUE)

STATUS_LABELS: dict[str, str] = {
    "draft": "草稿",
    "pending": "审批中",
    "returned": "已退回",
    "approved": "已通过",
    "rejected": "已驳回",
    "withdrawn": "已撤回",
    "revoked": "已撤销",
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
