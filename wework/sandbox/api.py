"""The simulated WeCom server API under `/_sandbox/wecom/cgi-bin/` (the subset the hall uses).

Every call is counted, may be hit by an injected fault, needs a valid access token (except
`gettoken`) and answers like WeCom: HTTP 200 with `errcode`/`errmsg`. Contacts writes need
the contacts assistant's token and messages the app's token (48002 otherwise).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, jsonify, request

from wework.api import INTERACTIVE_CARDS
from wework.sandbox import errors as e
from wework.sandbox.errors import ApiError
from wework.sandbox.store import SandboxStore, TokenInfo, validate_card, validate_text

Handler = Callable[[SandboxStore, "Call"], dict[str, Any]]


@dataclass(frozen=True)
class Call:
    token: TokenInfo
    args: dict[str, str]
    body: dict[str, Any]


def _body() -> dict[str, Any]:
    data = request.get_json(force=True, silent=True)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ApiError(e.INVALID_PARAMETER, "the body must be a JSON object")
    return data


def _int_arg(call: Call, name: str) -> int:
    value = call.args.get(name, "")
    if not value.lstrip("-").isdigit():
        raise ApiError(e.INVALID_PARAMETER, f"{name} must be an integer")
    return int(value)


# -- messages ------------------------------------------------------------------------------


def message_send(store: SandboxStore, call: Call) -> dict[str, Any]:
    body = call.body
    if int(body.get("agentid", 0) or 0) != store.agent_id:
        raise ApiError(e.AGENT_MISMATCH, "the token's app is not this agentid")
    msgtype = body.get("msgtype")
    if msgtype in {"text", "markdown"}:
        payload = body.get(msgtype) or {}
        validate_text(payload.get("content"))
    elif msgtype == "textcard":
        payload = body.get("textcard") or {}
        if not payload.get("title") or not payload.get("description") or not payload.get("url"):
            raise ApiError(e.INVALID_PARAMETER, "textcard needs title, description and url")
    elif msgtype == "template_card":
        payload = validate_card(body.get("template_card"))
    else:
        raise ApiError(e.INVALID_MESSAGE_TYPE, "invalid message type")
    touser = str(body.get("touser", "") or "")
    toparty = str(body.get("toparty", "") or "")
    if len([u for u in touser.split("|") if u]) > 1000:
        raise ApiError(e.INVALID_PARAMETER, "touser has at most 1000 userids")
    valid, invalid_users, invalid_parties = store.resolve_recipients(touser, toparty)
    answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
    if invalid_users:
        answer["invaliduser"] = "|".join(invalid_users)
    if invalid_parties:
        answer["invalidparty"] = "|".join(invalid_parties)
    if not valid:
        raise ApiError(e.ALL_RECIPIENTS_INVALID, "user & party & tag all invalid")
    if store.duplicate(body):
        return answer
    task_id = payload.get("task_id") if msgtype == "template_card" else None
    if task_id:
        store.claim_task_id(str(task_id))
    msgid = store.deliver(str(msgtype), payload, valid)
    answer["msgid"] = msgid
    if task_id and payload.get("card_type") in INTERACTIVE_CARDS:
        code = store.mint_response_code(str(task_id), valid)
        store.remember_send_code(msgid, code)
        answer["response_code"] = code
    return answer


def update_template_card(store: SandboxStore, call: Call) -> dict[str, Any]:
    body = call.body
    if int(body.get("agentid", 0) or 0) != store.agent_id:
        raise ApiError(e.AGENT_MISMATCH, "the token's app is not this agentid")
    button = body.get("button")
    card = body.get("template_card")
    if (button is None) == (card is None):
        raise ApiError(e.INVALID_PARAMETER, "give either button or template_card")
    if button is not None:
        replace_name = button.get("replace_name") if isinstance(button, dict) else None
        if not isinstance(replace_name, str) or not 1 <= len(replace_name) <= 10:
            raise ApiError(e.INVALID_PARAMETER, "button.replace_name is 1-10 characters")
    else:
        validate_card(card)
    userids = body.get("userids") or []
    if not isinstance(userids, list) or len(userids) > 1000:
        raise ApiError(e.INVALID_PARAMETER, "userids: a list of at most 1000")
    record = store.use_response_code(str(body.get("response_code", "")))
    scope = {u.lower(): u for u in record["userids"]}
    if userids and not body.get("atall"):
        targets = [scope[u.lower()] for u in userids if u.lower() in scope]
        invalid = [u for u in userids if u.lower() not in scope]
    else:
        targets, invalid = list(scope.values()), []
    for userid in targets:
        if button is not None:
            store.set_card_view(record["task_id"], userid, replace_name=button["replace_name"])
        else:
            store.set_card_view(record["task_id"], userid, card=card, replace_name=None)
    return {"errcode": 0, "errmsg": "ok", "invaliduser": invalid}


# -- contacts ------------------------------------------------------------------------------


def department_create(store: SandboxStore, call: Call) -> dict[str, Any]:
    return {"errcode": 0, "errmsg": "created", "id": store.create_department(call.body)}


def department_update(store: SandboxStore, call: Call) -> dict[str, Any]:
    store.update_department(call.body)
    return {"errcode": 0, "errmsg": "updated"}


def department_delete(store: SandboxStore, call: Call) -> dict[str, Any]:
    store.delete_department(_int_arg(call, "id"))
    return {"errcode": 0, "errmsg": "deleted"}


def department_list(store: SandboxStore, call: Call) -> dict[str, Any]:
    dept_id = _int_arg(call, "id") if call.args.get("id") else None
    departments = store.list_departments(dept_id)
    return {"errcode": 0, "errmsg": "ok", "department": departments}


def department_simplelist(store: SandboxStore, call: Call) -> dict[str, Any]:
    dept_id = _int_arg(call, "id") if call.args.get("id") else None
    departments = store.list_departments(dept_id)
    simple = [{"id": d["id"], "parentid": d["parentid"], "order": d["order"]} for d in departments]
    return {"errcode": 0, "errmsg": "ok", "department_id": simple}


def user_create(store: SandboxStore, call: Call) -> dict[str, Any]:
    store.create_user(call.body)
    return {"errcode": 0, "errmsg": "created"}


def user_update(store: SandboxStore, call: Call) -> dict[str, Any]:
    store.update_user(call.body)
    return {"errcode": 0, "errmsg": "updated"}


def user_delete(store: SandboxStore, call: Call) -> dict[str, Any]:
    store.delete_user(call.args.get("userid", ""))
    return {"errcode": 0, "errmsg": "deleted"}


def user_get(store: SandboxStore, call: Call) -> dict[str, Any]:
    return {"errcode": 0, "errmsg": "ok", **store.get_user(call.args.get("userid", ""))}


def user_list_id(store: SandboxStore, call: Call) -> dict[str, Any]:
    page, cursor = store.list_user_ids(
        str(call.body.get("cursor", "")), int(call.body.get("limit", 10000))
    )
    return {"errcode": 0, "errmsg": "ok", "next_cursor": cursor, "dept_user": page}


def user_authsucc(store: SandboxStore, call: Call) -> dict[str, Any]:
    store.authsucc(call.args.get("userid", ""))
    return {"errcode": 0, "errmsg": "ok"}


def auth_getuserinfo(store: SandboxStore, call: Call) -> dict[str, Any]:
    userid = store.redeem_oauth_code(call.args.get("code", ""))
    return {"errcode": 0, "errmsg": "ok", "userid": userid, "user_ticket": ""}


def corp_get_join_qrcode(store: SandboxStore, call: Call) -> dict[str, Any]:
    size_type = _int_arg(call, "size_type") if "size_type" in call.args else 3
    return {"errcode": 0, "errmsg": "ok", "join_qrcode": store.issue_join_qrcode(size_type)}


def media_upload(store: SandboxStore, call: Call) -> dict[str, Any]:
    upload = request.files.get("media")
    content = upload.read() if upload is not None else b""
    media_type = call.args.get("type", "")
    media_id = store.save_media(media_type, content)
    return {
        "errcode": 0,
        "errmsg": "ok",
        "type": media_type,
        "media_id": media_id,
        "created_at": str(int(time.time())),
    }


def _batch(job_type: str) -> Handler:
    def handler(store: SandboxStore, call: Call) -> dict[str, Any]:
        jobid = store.run_batch(job_type, str(call.body.get("media_id", "")))
        return {"errcode": 0, "errmsg": "ok", "jobid": jobid}

    return handler


def batch_getresult(store: SandboxStore, call: Call) -> dict[str, Any]:
    return {"errcode": 0, "errmsg": "ok", **store.batch_result(call.args.get("jobid", ""))}


# endpoint -> (handler, which token kind may call it: "app", "contacts" or "any")
ROUTES: dict[str, tuple[Handler, str]] = {
    "message/send": (message_send, "app"),
    "message/update_template_card": (update_template_card, "app"),
    "department/create": (department_create, "contacts"),
    "department/update": (department_update, "contacts"),
    "department/delete": (department_delete, "contacts"),
    "department/list": (department_list, "any"),
    "department/simplelist": (department_simplelist, "any"),
    "user/create": (user_create, "contacts"),
    "user/update": (user_update, "contacts"),
    "user/delete": (user_delete, "contacts"),
    "user/get": (user_get, "any"),
    "user/list_id": (user_list_id, "any"),
    "user/authsucc": (user_authsucc, "app"),
    "auth/getuserinfo": (auth_getuserinfo, "app"),
    "corp/get_join_qrcode": (corp_get_join_qrcode, "contacts"),
    "media/upload": (media_upload, "any"),
    "batch/syncuser": (_batch("sync_user"), "contacts"),
    "batch/replaceuser": (_batch("replace_user"), "contacts"),
    "batch/replaceparty": (_batch("replace_party"), "contacts"),
    "batch/getresult": (batch_getresult, "contacts"),
}
FAULT_ANSWERS = {
    "busy": (e.SYSTEM_BUSY, "system busy"),
    "rate_limit": (e.API_FREQ_OUT_OF_LIMIT, "api freq out of limit"),
    "concurrency": (e.API_CONCURRENT_OUT_OF_LIMIT, "api concurrent out of limit"),
    "invalid_token": (e.INVALID_ACCESS_TOKEN, "invalid access_token"),
}


def _answer(errcode: int, errmsg: str, **extra: Any) -> Response:
    return jsonify({"errcode": errcode, "errmsg": errmsg, **extra})


def _dispatch(store: SandboxStore, endpoint: str) -> Response:
    store.count_call(endpoint)
    fault = store.take_fault(endpoint)
    if fault is not None:
        if fault.kind == "http_500":
            return Response("simulated server error", status=500)
        if fault.kind == "timeout":
            time.sleep(fault.seconds)  # the client gave up; WeCom "lost" the request
            return _answer(e.SYSTEM_BUSY, "system busy")
        if fault.kind == "slow":
            time.sleep(fault.seconds)  # then answer normally
        elif fault.kind == "expire_token":
            store.expire_token(request.args.get("access_token", ""))
        else:
            return _answer(*FAULT_ANSWERS[fault.kind])
    if endpoint == "gettoken":
        issued, ttl = store.issue_token(
            request.args.get("corpid", ""), request.args.get("corpsecret", "")
        )
        return _answer(0, "ok", access_token=issued, expires_in=ttl)
    route = ROUTES.get(endpoint)
    if route is None:
        return _answer(e.API_FORBIDDEN, f"api forbidden: {endpoint} is not simulated")
    handler, kind = route
    token = store.check_token(request.args.get("access_token", ""))
    if kind not in {"any", token.kind}:
        raise ApiError(e.API_UNAUTHORIZED, f"api forbidden for the {token.kind} secret")
    body = _body() if request.method == "POST" and not request.files else {}
    return jsonify(handler(store, Call(token=token, args=dict(request.args), body=body)))


def make_blueprint(get_store: Callable[[], SandboxStore]) -> Blueprint:
    bp = Blueprint("wecom_sandbox_api", __name__, url_prefix="/_sandbox/wecom/cgi-bin")

    @bp.route("/<path:endpoint>", methods=["GET", "POST"])
    def api(endpoint: str) -> Response:
        try:
            return _dispatch(get_store(), endpoint)
        except ApiError as exc:
            return _answer(exc.errcode, exc.errmsg)

    return bp
