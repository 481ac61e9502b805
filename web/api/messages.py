"""The API's small message catalogue: zh_CN by default, English on request.

Error codes are stable for clients; messages are for people. The services raise with
zh_CN messages; an English-speaking client gets the catalogue's English message for the
error's code instead (field messages from the engine stay as they are).
"""

from __future__ import annotations

from typing import Any, Literal

from flask import Request

Locale = Literal["zh_CN", "en"]

MESSAGES: dict[str, dict[Locale, str]] = {
    "unauthorized": {"zh_CN": "请先登录", "en": "Sign in first"},
    "invalid_token": {
        "zh_CN": "登录凭证无效或已过期，请重新登录",
        "en": "The token is invalid, revoked or expired",
    },
    "not_found": {"zh_CN": "未找到", "en": "Not found"},
    "method_not_allowed": {"zh_CN": "不支持该请求方法", "en": "Method not allowed"},
    "invalid": {"zh_CN": "提交的内容有误", "en": "The request is invalid"},
    "invalid_json": {"zh_CN": "请求体不是合法的 JSON", "en": "The body is not valid JSON"},
    "unsupported_media_type": {
        "zh_CN": "请求体须为 JSON（Content-Type: application/json）",
        "en": "The body must be JSON (Content-Type: application/json)",
    },
    "multipart_required": {
        "zh_CN": "请求体须为 multipart/form-data，文件放在 file 部分",
        "en": "The body must be multipart/form-data, with the file in the part named file",
    },
    "csrf": {
        "zh_CN": "使用登录会话上传时须带上页面的 CSRF 令牌（X-CSRFToken 头）",
        "en": "An upload with the session cookie needs the page's CSRF token (X-CSRFToken)",
    },
    "file_too_large": {
        "zh_CN": "文件超过 {limit} MB",
        "en": "The file is larger than {limit} MB",
    },
    "file_type": {
        "zh_CN": "该字段不接受这种类型的文件（按文件内容判断）",
        "en": "This field does not take this type of file (judged by its content)",
    },
    "too_large": {
        "zh_CN": "请求体过大（上限 {limit} KB）",
        "en": "The body is too large (at most {limit} KB)",
    },
    "conflict": {
        "zh_CN": "当前状态不允许此操作",
        "en": "The current state does not allow this",
    },
    "already_decided": {
        "zh_CN": "该待办已处理",
        "en": "This task has already been decided",
    },
    "rate_limited": {
        "zh_CN": "操作过于频繁，请稍后再试",
        "en": "Too many requests; try again later",
    },
    "approved": {"zh_CN": "已同意", "en": "Approved"},
    "error": {"zh_CN": "操作失败", "en": "The request failed"},
}

# Per-field messages for request validation, by pydantic error type.
FIELD_MESSAGES: dict[str, dict[Locale, str]] = {
    "missing": {"zh_CN": "必填", "en": "required"},
    "extra_forbidden": {"zh_CN": "不支持的字段", "en": "unknown field"},
    "string_type": {"zh_CN": "应为字符串", "en": "must be a string"},
    "int_type": {"zh_CN": "应为整数", "en": "must be an integer"},
    "int_parsing": {"zh_CN": "应为整数", "en": "must be an integer"},
    "int_from_float": {"zh_CN": "应为整数", "en": "must be an integer"},
    "bool_type": {"zh_CN": "应为 true 或 false", "en": "must be true or false"},
    "bool_parsing": {"zh_CN": "应为 true 或 false", "en": "must be true or false"},
    "dict_type": {"zh_CN": "应为对象", "en": "must be an object"},
    "model_type": {"zh_CN": "应为对象", "en": "must be an object"},
    "list_type": {"zh_CN": "应为数组", "en": "must be an array"},
    "string_too_long": {
        "zh_CN": "不能超过 {max_length} 个字符",
        "en": "at most {max_length} characters",
    },
    "string_too_short": {
        "zh_CN": "至少 {min_length} 个字符",
        "en": "at least {min_length} characters",
    },
    "too_long": {"zh_CN": "最多 {max_length} 项", "en": "at most {max_length} items"},
    "too_short": {"zh_CN": "至少 {min_length} 项", "en": "at least {min_length} items"},
    "greater_than_equal": {"zh_CN": "不能小于 {ge}", "en": "must be at least {ge}"},
    "less_than_equal": {"zh_CN": "不能大于 {le}", "en": "must be at most {le}"},
    "literal_error": {"zh_CN": "应为 {expected} 之一", "en": "must be one of {expected}"},
    "enum": {"zh_CN": "应为 {expected} 之一", "en": "must be one of {expected}"},
    "string_pattern_mismatch": {"zh_CN": "格式不正确", "en": "has the wrong format"},
}

FALLBACK_FIELD_MESSAGE: dict[Locale, str] = {"zh_CN": "格式不正确", "en": "is invalid"}


def locale_of(request: Request) -> Locale:
    """English when the client prefers it over Chinese; zh_CN otherwise."""
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"])
    return "en" if best is not None and best.startswith("en") else "zh_CN"


def message(code: str, locale: Locale, **params: Any) -> str:
    texts = MESSAGES.get(code, MESSAGES["error"])
    return texts[locale].format(**params)


def field_message(error_type: str, locale: Locale, ctx: dict[str, Any] | None) -> str:
    texts = FIELD_MESSAGES.get(error_type)
    if texts is None:
        return FALLBACK_FIELD_MESSAGE[locale]
    try:
        return texts[locale].format(**(ctx or {}))
    except (KeyError, IndexError):
        return FALLBACK_FIELD_MESSAGE[locale]
