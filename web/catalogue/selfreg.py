"""English texts of the selfreg pages (see `web.catalogue`): the public self-registration
pages, the refusals of `selfreg.matching` (keyed by its own constants, so they cannot drift
apart), and the information center's middle-table page."""

from hall.models import PersonKind
from selfreg import matching, push

CATALOGUE: dict[str, str] = {
    # the self-registration page
    "加入学校企业微信": "Join the school's WeCom",
    "学校企业微信只接受本校教职工和学生自助注册：选择身份，用统一身份认证账号核对后即可加入。": (
        "Staff and students join the school's WeCom by registering themselves: choose who"
        " you are, confirm it with your campus account, and you are in."
    ),
    "企业微信成员 {userid} 正在加入，请完成身份核对。": (
        "WeCom member {userid} is joining: please confirm who you are."
    ),
    "您的身份": "You are",
    "学号/工号": "Student or staff number",
    "统一身份认证密码": "Campus account password",
    "核对身份并加入": "Confirm and join",
    "下一步将打开学校统一身份认证页面，请用本人的学号/工号和密码登录。": (
        "Next, the campus sign-in page opens: sign in with your own number and password."
    ),
    "前往统一身份认证": "Go to campus sign-in",
    "查看我的注册进度": "See my registration",
    "选择身份（教职工或学生）": "Choose who you are (staff or student)",
    "用统一身份认证核对身份": "Confirm it with your campus account",
    "与学校数据比对（工号/学号、姓名、身份）": (
        "It is compared with the school's records (number, name, type)"
    ),
    "推送到学校企业微信；之后在微信“通讯录 → 我的企业”中进入网上办事大厅": (
        "You are added to the school's WeCom; then open the service hall from WeChat's"
        " Contacts → My Enterprise"
    ),
    "请选择您的身份：教职工或学生。": "Please choose who you are: staff or student.",
    "请填写学号/工号和密码。": "Please enter your number and password.",
    "学号/工号或密码错误。": "Wrong number or password.",
    # problems
    "尝试次数过多": "Too many attempts",
    "尝试次数过多，请 15 分钟后再试。": "Too many attempts; please try again in 15 minutes.",
    "暂时无法完成": "Not possible right now",
    "暂时无法连接企业微信，请稍后再试。": "WeCom cannot be reached right now; please try later.",
    "暂时无法连接统一身份认证，请稍后再试。": (
        "The campus sign-in cannot be reached right now; please try later."
    ),
    "验证链接无效": "Invalid verification link",
    "企业微信的验证链接无效或已过期，请回到企业微信重新扫码加入。": (
        "WeCom's verification link is invalid or expired; go back to WeCom and scan the join"
        " code again."
    ),
    "页面已过期": "This page has expired",
    "这个登录链接已失效（超时、已用过或不是在本浏览器发起的），请重新开始。": (
        "This sign-in link no longer works (it timed out, was used already, or was started in"
        " another browser); please start again."
    ),
    "未完成登录": "Sign-in not finished",
    "统一身份认证没有完成登录，请重新开始。": (
        "The campus sign-in was not finished; please start again."
    ),
    "身份核验未通过": "Identity not confirmed",
    "统一身份认证未能确认您的身份（{code}），请重新开始。": (
        "The campus sign-in could not confirm who you are ({code}); please start again."
    ),
    "重新开始": "Start again",
    # the registration's state
    "注册进度": "Your registration",
    "您已加入学校企业微信": "You have joined the school's WeCom",
    (
        "打开企业微信即可使用网上办事大厅；"
        "用个人微信的，请在微信“通讯录 → 我的企业”中找到学校，关注微信插件后进入。"
    ): (
        "Open WeCom to use the service hall. With personal WeChat, find the school under"
        " Contacts → My Enterprise and follow the WeChat plugin."
    ),
    "身份已核对，正在加入学校企业微信": "Confirmed: adding you to the school's WeCom",
    "通常几秒钟就好，本页会自动刷新。": (
        "This usually takes a few seconds; the page refreshes by itself."
    ),
    "未通过核对": "Not confirmed",
    "加入企业微信没有成功": "Joining WeCom did not work",
    "信息中心已收到记录，会尽快处理；您也可以稍后重新注册。": (
        "The information center has the record and will see to it; you may also register"
        " again later."
    ),
    "错误码": "error code",
    "姓名": "Name",
    "身份": "Type",
    "重新注册": "Register again",
    # selfreg.matching's refusals (shown to the person and on the admin page)
    matching.NOT_FOUND: (
        "The school's records have no {userid}. New staff and new students appear the day"
        " after the data center's sync; if in doubt, contact the information center."
    ),
    matching.INACTIVE: (
        "In the school's records {userid} is no longer employed or enrolled and cannot join"
        " the school's WeCom. If in doubt, staff contact the personnel office, students the"
        " student affairs office."
    ),
    matching.WRONG_KIND[PersonKind.STAFF]: (
        "In the school's records {userid} is staff: go back, choose “Staff” and try again."
    ),
    matching.WRONG_KIND[PersonKind.STUDENT]: (
        "In the school's records {userid} is a student: go back, choose “Student” and try again."
    ),
    matching.WRONG_KIND[PersonKind.OFFCAMPUS]: (
        "{userid} is an off-campus account; off-campus people do not join the school's WeCom."
    ),
    matching.NAME_MISMATCH: (
        "The name in the campus account differs from the school's records for {userid};"
        " ask the information center to check it, then register again."
    ),
    matching.NOT_THE_MEMBER: (
        "Campus account {userid} is not the WeCom member {member} who is joining; sign in"
        " with your own account."
    ),
    push.NOT_IN_RECORDS: "No longer in the school's records; not pushed",
    # the information center's page
    "自助注册": "Self-registration",
    "自助注册中间表": "Self-registration table",
    "每位通过自助注册核对身份的人一行：比对结果、推送到企业微信的结果和错误。": (
        "One row per person who registered: how they compared with the school's records,"
        " and what WeCom answered to the push."
    ),
    "待推送": "Pending push",
    "已加入": "Joined",
    "推送失败": "Push failed",
    "扫码": "QR code",
    "企业微信验证": "WeCom verification",
    "学号/工号或姓名": "Number or name",
    "方式": "Via",
    "原因/错误": "Reason or error",
    "更新时间": "Updated",
    "等待重试": "Waiting to retry",
    "分页": "Pages",
    "没有符合条件的注册记录。": "No registrations match.",
    "已重新排队推送": "Queued for pushing again",
    "注册记录不存在": "No such registration",
    "只能重试推送失败的注册": "Only failed pushes can be retried",
    "自助注册二维码": "Self-registration QR code",
    "教职工和学生用微信或企业微信扫码，选择身份并通过统一身份认证核对后加入学校企业微信。": (
        "Staff and students scan it with WeChat or WeCom, choose who they are, confirm it"
        " with their campus account and join the school's WeCom."
    ),
    "打印二维码": "Print the QR code",
    "企业微信加入二维码": "WeCom join QR code",
    (
        "企业微信自己的加入二维码（7 天有效）。"
        "学校开启成员验证后，扫码加入的人会被带到自助注册页核对身份。"
    ): (
        "WeCom's own join QR code (valid 7 days). With member verification on, people who"
        " join with it are sent to the self-registration page to confirm who they are."
    ),
    "向企业微信获取": "Fetch from WeCom",
    "已获取企业微信加入二维码": "WeCom's join QR code fetched",
    "获取企业微信加入二维码失败：{error}": "Could not fetch WeCom's join QR code: {error}",
    "扫码加入学校企业微信": "Scan to join the school's WeCom",
    "用微信或企业微信扫码 → 选择身份 → 统一身份认证登录 → 自动加入": (
        "Scan with WeChat or WeCom → choose who you are → sign in with your campus account →"
        " you are in"
    ),
    "返回": "Back",
}
