"""Pages and JSON of the sandbox WeCom: the phone, the OAuth screen, faults, messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
)
from werkzeug.wrappers import Response as BaseResponse

from config import Settings
from wework.sandbox import courier, phone, rendering
from wework.sandbox.delivery import CALLBACK_ATTEMPTS, Delivery
from wework.sandbox.errors import ApiError
from wework.sandbox.store import FAULT_KINDS, SandboxStore

PHONE_COOKIE = "wecom_sandbox_phone"  # whose phone was looked at last


def _settings() -> Settings:
    settings: Settings = current_app.extensions["hall.settings"]
    return settings


def _json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def make_blueprint(get_store: Callable[[], SandboxStore]) -> Blueprint:
    bp = Blueprint(
        "wecom_sandbox", __name__, url_prefix="/_sandbox/wecom", template_folder="templates"
    )
    bp.add_app_template_filter(rendering.text_message, "wecom_text")

    # -- the phone ------------------------------------------------------------------------

    @bp.get("/")
    def index() -> BaseResponse:
        store = get_store()
        userid = request.args.get("userid", "")
        member = None
        if userid:
            try:
                member = store.get_user(userid)
            except ApiError:
                member = None
        # The count first: a callback records its delivery (and any reply) before it
        # counts itself done, so a page that reads 0 in flight also sees what it left.
        # Read the other way round, a page could show neither.
        sending = store.sending(userid) if member else 0
        page = render_template(
            "wecom_sandbox/phone.html",
            users=store.users(),
            userid=userid,
            member=member,
            messages=store.inbox(userid) if member else [],
            deliveries=store.deliveries(userid) if member else [],
            sending=sending,
            error=request.args.get("error", ""),
            callback_url=_settings().base_url + "/wecom/callback",
            verification_url=store.verification_url(),
        )
        response = current_app.make_response(page)
        if member is not None:
            # A link opened from this phone is opened by its member: the OAuth screen
            # offers them first, as the WeCom client would sign them in silently.
            response.set_cookie(
                PHONE_COOKIE, str(member["userid"]), path="/_sandbox/wecom", samesite="Lax"
            )
        return response

    def _back(userid: str, error: str = "") -> BaseResponse:
        params = {"userid": userid, **({"error": error} if error else {})}
        return redirect(f"{request.script_root}/_sandbox/wecom/?{urlencode(params)}", code=303)

    def _options(form: Any) -> dict[str, Any]:
        return {"attempts": 1 if form.get("no_retry") else CALLBACK_ATTEMPTS}

    def _from_phone(action: Callable[..., Delivery], *args: str, **extra: str) -> BaseResponse:
        """A phone form's action, sent off the request thread (wework/sandbox/courier.py)."""
        form = request.form
        userid = form.get("userid", "")
        store, settings, options = get_store(), _settings(), {**_options(form), **extra}
        try:
            courier.dispatch(
                store, userid, lambda: action(store, settings, userid, *args, **options)
            )
        except phone.PhoneError as exc:
            return _back(userid, str(exc))
        return _back(userid)

    @bp.post("/phone/click")
    def click_form() -> BaseResponse:
        form = request.form
        return _from_phone(
            phone.press_button,
            form.get("task_id", ""),
            form.get("key", ""),
            selected=form.get("selected", ""),
        )

    @bp.post("/phone/say")
    def say_form() -> BaseResponse:
        return _from_phone(phone.say, request.form.get("content", ""))

    @bp.post("/phone/enter")
    def enter_form() -> BaseResponse:
        return _from_phone(phone.enter_agent)

    # -- joining: the join QR code's page and member verification (docs 91714, 90203) ------

    @bp.post("/phone/join")
    def join_from_phone() -> BaseResponse:
        """The member scans the school's join QR code on their phone."""
        userid = request.form.get("userid", "")
        try:
            return redirect(get_store().begin_verification(userid), code=303)
        except ApiError as exc:
            return _back(userid, f"不能加入：{exc.errmsg}")

    @bp.route("/join", methods=["GET", "POST"])
    def join_page() -> Any:
        """Where the link of `corp/get_join_qrcode` leads: pick who is scanning, then WeCom's
        member verification sends them to the school's verification page with a code."""
        store = get_store()
        vcode = request.values.get("vcode", "")
        if not store.join_qrcode_valid(vcode):
            return render_template("wecom_sandbox/join.html", expired=True, users=[]), 404
        if request.method == "POST":
            try:
                return redirect(store.begin_verification(request.form.get("userid", "")), 303)
            except ApiError as exc:
                error = f"不能加入：{exc.errmsg}"
                return render_template(
                    "wecom_sandbox/join.html", users=store.users(), vcode=vcode, error=error
                ), 400
        return render_template("wecom_sandbox/join.html", users=store.users(), vcode=vcode)

    @bp.post("/api/join")
    def join_json() -> Response:
        """For tests: where the member verification would send `userid` (with its code)."""
        try:
            url = get_store().begin_verification(str(_json_body().get("userid", "")))
        except ApiError as exc:
            return Response(jsonify(error=exc.errmsg).get_data(), 400, mimetype="application/json")
        return jsonify(url=url)

    # -- JSON for tests and tools -----------------------------------------------------------

    @bp.get("/api/messages")
    def messages() -> Response:
        userid = request.args.get("userid", "")
        store = get_store()
        try:
            store.get_user(userid)
        except ApiError:
            return Response(
                jsonify(error=f"通讯录里没有成员 {userid}").get_data(),
                404,
                mimetype="application/json",
            )
        delivered = [m for m in store.inbox(userid) if m.get("origin") != "member"]
        return jsonify(userid=userid, messages=delivered)

    def _phone_json(action: Callable[..., Delivery], *args: str) -> Response:
        body = _json_body()
        options = {k: body[k] for k in ("attempts", "timeout", "duplicate", "url") if k in body}
        try:
            delivery = action(
                get_store(), _settings(), *[str(body.get(a, "")) for a in args], **options
            )
        except phone.PhoneError as exc:
            return Response(jsonify(error=str(exc)).get_data(), 400, mimetype="application/json")
        return jsonify(delivery.as_dict())

    @bp.post("/api/click")
    def click_json() -> Response:
        body = _json_body()
        selected = str(body.pop("selected", "") or "")
        options = {k: body[k] for k in ("attempts", "timeout", "duplicate", "url") if k in body}
        try:
            delivery = phone.press_button(
                get_store(),
                _settings(),
                str(body.get("userid", "")),
                str(body.get("task_id", "")),
                str(body.get("key", "")),
                selected=selected,
                **options,
            )
        except phone.PhoneError as exc:
            return Response(jsonify(error=str(exc)).get_data(), 400, mimetype="application/json")
        return jsonify(delivery.as_dict())

    @bp.post("/api/say")
    def say_json() -> Response:
        return _phone_json(phone.say, "userid", "content")

    @bp.post("/api/enter")
    def enter_json() -> Response:
        return _phone_json(phone.enter_agent, "userid")

    @bp.route("/api/faults", methods=["POST", "DELETE"])
    def faults() -> Response:
        store = get_store()
        if request.method == "DELETE":
            store.clear_faults()
            return jsonify(ok=True)
        body = _json_body()
        try:
            store.inject(
                str(body.get("kind", "")),
                int(body.get("times", 1)),
                path=str(body.get("path", "*")),
                seconds=float(body.get("seconds", 0)),
            )
        except ValueError as exc:
            return Response(
                jsonify(error=str(exc), kinds=sorted(FAULT_KINDS)).get_data(),
                400,
                mimetype="application/json",
            )
        return jsonify(ok=True)

    @bp.get("/api/calls")
    def calls() -> Response:
        return jsonify(get_store().calls())

    # -- OAuth and QR login screens (docs 91022, 98151) --------------------------------------

    @bp.route("/connect/oauth2/authorize", methods=["GET", "POST"])
    @bp.route("/wwlogin/sso/login", methods=["GET", "POST"])
    def authorize() -> Any:
        settings = _settings()
        values = request.values
        redirect_uri = values.get("redirect_uri", "")
        if values.get("appid") != settings.wecom_corp_id:
            abort(400, description="appid 不是本企业的 CorpID")
        if urlsplit(redirect_uri).scheme not in {"http", "https"}:
            abort(400, description="redirect_uri 必须是 http(s) 地址")
        if request.method == "POST":
            store = get_store()
            try:
                code = store.issue_oauth_code(values.get("userid", ""))
            except ApiError:
                abort(400, description="没有这个成员")
            return redirect(_with_query(redirect_uri, code=code, state=values.get("state", "")))
        qr = request.path.endswith("/login")
        phone_user = None
        if not qr:  # a QR code is scanned by whoever picks up a phone: no default there
            try:
                phone_user = get_store().get_user(request.cookies.get(PHONE_COOKIE, ""))
            except ApiError:
                phone_user = None
        return render_template(
            "wecom_sandbox/authorize.html",
            phone_user=phone_user,
            users=get_store().users(),
            fields={k: values.get(k, "") for k in ("appid", "redirect_uri", "state", "agentid")},
            qr=qr,
        )

    return bp
