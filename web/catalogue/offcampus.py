"""English texts of the off-campus sign-in pages (see `web.catalogue`)."""

from sms.codes import CodeRefused

# Why no code was sent (the view's answers, keyed by `CodeRefused.reason`).
REFUSALS = {
    CodeRefused.TOO_SOON: "发送过于频繁，请 {seconds} 秒后再试。",
    CodeRefused.TOO_MANY: "该号码获取验证码的次数过多，请 {minutes} 分钟后再试。",
    CodeRefused.BUSY_ADDRESS: "当前网络获取验证码的次数过多，请稍后再试。",
}

CATALOGUE: dict[str, str] = {
    "校外人员登录": "Off-campus sign-in",
    (
        "校友、来访人员和家长用手机号码登录，办理面向校外的服务，办理结果通过短信通知。"
        "本校师生请使用统一身份认证登录。"
    ): (
        "Alumni, visitors and parents sign in with their mobile number to use the services"
        " open to them; results arrive by SMS. Staff and students sign in with their campus"
        " account."
    ),
    "验证码已发送至 {phone}，5 分钟内有效。": (
        "A code was sent to {phone}; it is valid for 5 minutes."
    ),
    "手机号码": "Mobile number",
    "短信验证码": "SMS code",
    "获取验证码": "Send code",
    "登录": "Sign in",
    "本校师生：统一身份认证登录": "Staff and students: campus sign-in",
    "完善信息": "About you",
    "手机号 {phone} 已验证。首次登录请填写您的姓名，它会出现在您提交的申请中。": (
        "Mobile {phone} is confirmed. As this is your first sign-in, please give your name;"
        " it appears on the applications you submit."
    ),
    "姓名": "Name",
    "完成并登录": "Done, sign in",
    "请输入正确的手机号码。": "Please enter a valid mainland mobile number.",
    "请输入手机号码和 6 位验证码。": "Please enter your mobile number and the 6-digit code.",
    "验证码不正确，还可以再试 {n} 次。": "Wrong code; {n} tries left.",
    "验证码已失效，请重新获取。": "The code has expired or was used; please get a new one.",
    "该手机号属于本校师生账号，请使用统一身份认证登录。": (
        "This number belongs to a staff or student account: please use campus sign-in."
    ),
    "该账号已停用，请联系学校。": "This account is disabled; please contact the school.",
    "验证已过期，请重新获取验证码。": "The confirmation expired; please get a new code.",
    "请填写 2–{n} 个字的真实姓名。": "Please give your real name, 2 to {n} characters.",
    REFUSALS[CodeRefused.TOO_SOON]: "Too many requests; please try again in {seconds} s.",
    REFUSALS[
        CodeRefused.TOO_MANY
    ]: "This number has had too many codes; try again in {minutes} min.",
    REFUSALS[CodeRefused.BUSY_ADDRESS]: "Too many codes from this network; please try later.",
    # the public 办事指南
    "本校师生登录": "Staff and student sign-in",
    "办理前请先登录：": "Sign in to apply:",
    "本校师生登录办理": "Sign in with your campus account to apply",
    "校外人员登录办理": "Sign in by SMS to apply (off-campus)",
    "返回办事指南": "Back to the service guide",
    # the information center's SMS log
    "短信记录": "SMS log",
    "短信平台：{provider}；签名：{sign}；状态报告：{receipts}": (
        "SMS provider: {provider}; signature: {sign}; delivery receipts: {receipts}"
    ),
    "未设置": "not set",
    "已开启": "on",
    "未开启": "off",
    "用途": "Purpose",
    "平台": "Provider",
    "平台编号": "Provider id",
    "错误": "Error",
    "没有短信记录。": "No SMS yet.",
    "登录验证码": "Sign-in code",
    "办理结果": "Result",
    "待发送": "Queued",
    "已发送": "Sent",
    "已送达": "Delivered",
    "失败": "Failed",
}
