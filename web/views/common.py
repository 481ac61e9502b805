"""What every page blueprint shares: sign-in, CSRF, the viewer, the services, errors.

A page blueprint made by `page_blueprint()` requires a signed-in, active person (anyone
else is sent to `/login?next=…`), checks the CSRF token on every POST, and has the viewer
in `g.me` (a `hall.queries.Me`, which also carries the to-do count for the badge).
Colleagues' pages (designer, statistics, admin) use the same helper.

Domain errors are mapped as in the JSON API: NotFound → the 404 page (never revealing
whether something exists), the others → a message on the page the person came from.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
)
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import NotFound as HttpNotFound
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse

from hall import queries
from hall.clock import Clock, SystemClock
from hall.db import Database
from hall.errors import HallError, Invalid, NotFound
from hall.services import Hall
from web.auth import safe_next
from web.i18n import current_lang, gettext, localize

csrf = CSRFProtect()


def db() -> Database:
    database: Database = current_app.extensions["hall.db"]
    return database


def clock() -> Clock:
    found: Clock | None = current_app.extensions.get("hall.clock")
    return found or SystemClock()


def hall() -> Hall:
    """The command side, on the app's database and clock."""
    return Hall(db(), clock())


def me() -> queries.Me:
    viewer: queries.Me = g.me
    return viewer


def person_id() -> int:
    pid: int = g.person_id
    return pid


def _signed_in_person() -> int | None:
    pid = session.get("person_id")
    if isinstance(pid, int) and not isinstance(pid, bool):
        return pid
    return None


def _load_viewer() -> queries.Me | None:
    """The signed-in person (into `g.me`, `g.person_id`), or None."""
    pid = _signed_in_person()
    viewer = None
    if pid is not None:
        with db().reader() as s:
            try:
                viewer = queries.me(s, pid)
            except NotFound:
                viewer = None
    if viewer is not None and pid is not None:
        g.person_id = pid
        g.me = viewer
    return viewer


# What an off-campus person (anyone who proved a phone number) may open: applying and
# following their own applications (the public pages, 通行码 and invitation links among
# them, need no list). Not the people picker, to-dos, delegations or admin.
OFFCAMPUS_PAGES = frozenset(
    {"catalog", "apply", "applications", "uploads", "messages", "records", "i18n"}
)


def _require_person() -> BaseResponse | None:
    viewer = _load_viewer()
    if viewer is not None and viewer.kind == "offcampus":
        if request.blueprint not in OFFCAMPUS_PAGES:
            return not_found_page()
        return None
    if viewer is None:
        if request.method == "GET":
            target = safe_next(request.full_path.rstrip("?"))
            return redirect(f"/login?{urlencode({'next': target})}")
        return redirect("/login")
    return None


def protect(bp: Blueprint) -> None:
    """Check the CSRF token on every state-changing request of `bp`."""

    @bp.before_request
    def _csrf() -> None:
        if request.method not in {"GET", "HEAD", "OPTIONS"}:
            csrf.protect()


def page_blueprint(
    name: str, import_name: str, *, public: bool = False, knows_viewer: bool = False
) -> Blueprint:
    """A blueprint of pages: CSRF-protected, and signed-in only unless `public`; a public
    one that `knows_viewer` still shows a signed-in person their own menus."""
    bp = Blueprint(name, import_name)
    protect(bp)
    if not public:
        bp.before_request(_require_person)
    elif knows_viewer:

        @bp.before_request
        def _viewer() -> None:
            _load_viewer()

    return bp


def page(template: str, status_code: int = 200, **context: Any) -> Response:
    response = make_response(render_template(template, **context), status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def back(default: str) -> BaseResponse:
    """Redirect to where the form said to go back to (same-origin only), else `default`."""
    target = request.form.get("next") or default
    return redirect(safe_next(target) if target != "/" else default)


def flash_error(exc: HallError) -> None:
    """The services' zh_CN answer in the page's language (web.i18n.localize)."""
    text = gettext("未找到") if isinstance(exc, NotFound) else localize(exc.message)
    fields = exc.detail.get("fields")
    said = [str(v) for v in fields.values() if v != exc.message] if isinstance(fields, dict) else []
    if said:  # what each field says, unless the message already said it
        english = current_lang() == "en"
        text += (": " if english else "：") + ("; " if english else "；").join(map(localize, said))
    flash(text, "error")


def invalid_fields(exc: Invalid) -> dict[str, str]:
    """An Invalid error's per-field messages (the whole message under "_form" if none)."""
    raw = exc.detail.get("fields")
    fields = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    return fields or {"_form": exc.message}


def not_found_page() -> Response:
    return page("hall/not_found.html", 404)


def init_app(app: Flask) -> None:
    # The token is tied to the server-side session, not to a clock: a long form filled
    # over lunch still submits. The JSON API (bearer tokens, JSON-only bodies) and the
    # WeCom / CAS callbacks are not browser forms and are not checked (page blueprints
    # opt in through `protect`).
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)

    @app.errorhandler(CSRFError)
    def _csrf_refused(_exc: CSRFError) -> Response:
        return page("hall/error.html", 400, message=gettext("请求已过期，请刷新页面后重试。"))

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> Response | RequestEntityTooLarge:
        if not _is_page(request.path):
            return exc
        return page("hall/error.html", 413, message=gettext("上传的内容过大"))

    @app.errorhandler(HttpNotFound)
    def _page_not_found(exc: HttpNotFound) -> Response | HttpNotFound:
        return not_found_page() if _is_page(request.path) else exc


# Paths whose errors belong to someone else's format (JSON, WeCom XML, sandboxes).
_NOT_PAGES = ("/api/", "/wecom/", "/_sandbox/", "/cas/", "/healthz", "/vendor/", "/static/")


def _is_page(path: str) -> bool:
    return not path.startswith(_NOT_PAGES)
