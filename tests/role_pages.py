"""Shared by the designer, statistics and admin page tests: the app on the test's
PostgreSQL transaction (as in tests/web_views), a school with administrators of two
departments and a process each, and the checks those pages share (the 404 page, CSRF,
English without untranslated text)."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from config import load_settings
from hall.db import Database
from hall.models import ProcessDraft, ProcessVersion, RoleCode, RoleGrant
from tests import factories
from tests.web_views.conftest import csrf_of, sign_in
from web.app import create_app

CJK = re.compile(r"[\u4e00-\u9fff]")
EN = {"Accept-Language": "en"}
# The language switch offers Chinese in Chinese, whatever the page's language.
SWITCH = ("切换到中文", "中文")


def make_app(db: Database, redis_conn: redis.Redis, tmp_path: Path) -> Flask:
    settings = load_settings(
        var_dir=tmp_path,
        secret_key="role-pages-test",
        database_url=db.engine.url.render_as_string(hide_password=False),
        sandbox=True,
    )
    app = create_app(settings, database=db, redis=redis_conn)
    app.config["TESTING"] = True
    return app


def campus(session: Session) -> SimpleNamespace:
    """factories.school plus a JWC department administrator and a process per department."""
    s = factories.school(session)
    s.jwc_admin = factories.person(session, "何管理员", dept=s.jwc, roles=(RoleCode.DEPT_ADMIN,))
    s.cs_proc = factories.process(
        session, factories.simple_spec("CS", key="cs_leave", name="学院请假")
    )
    s.jwc_proc = factories.process(
        session, factories.simple_spec("JWC", key="jwc_exam", name="教务缓考")
    )
    session.commit()
    return s


def client(app: Flask, who: Any) -> FlaskClient:
    return sign_in(app.test_client(), who)


def token(c: FlaskClient) -> str:
    """A valid CSRF token of the client's session (from the catalogue, open to everyone)."""
    return csrf_of(c, "/")


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def page_body(response: TestResponse) -> str:
    """The page without what depends on the path (the language switch's `next`, the
    navigation's current entry) or on the second (the CSRF token)."""
    body = re.sub(r'name="next" value="[^"]*"', "", text(response))
    # the CSRF token is signed with the second it was issued in
    found = re.search(r'name="csrf-token" content="([^"]+)"', body)
    if found is not None:
        body = body.replace(found.group(1), "TOKEN")
    return re.sub(r'\s*aria-current="page"|(?<=") (?=>)', "", body)


def missing_page(c: FlaskClient) -> str:
    """The 404 page a signed-in person gets for something that does not exist."""
    response = c.get("/applications/999999999")
    assert response.status_code == 404
    return page_body(response)


def assert_missing(response: TestResponse, missing: str, what: str) -> None:
    assert response.status_code == 404, (what, response.status_code)
    body = page_body(response)
    diff = difflib.unified_diff(missing.splitlines(), body.splitlines(), lineterm="")
    assert body == missing, (what, "\n".join(diff))


def counts(session: Session) -> dict[str, int]:
    """Rows the designer and admin pages change."""
    session.expire_all()
    return {
        "drafts": session.scalar(select(func.count()).select_from(ProcessDraft)) or 0,
        "versions": session.scalar(select(func.count()).select_from(ProcessVersion)) or 0,
        "grants": session.scalar(select(func.count()).select_from(RoleGrant)) or 0,
    }


def untranslated(html: str, user_data: list[str]) -> list[str]:
    """CJK text left in an English page once the records' own text is taken out."""
    for value in sorted({*user_data, *SWITCH}, key=len, reverse=True):
        html = html.replace(value, "")
    return sorted({m.group(0) for m in re.finditer(r"\S*[\u4e00-\u9fff]+\S*", html)})


def cjk_parts(value: Any) -> list[str]:
    """Every CJK run inside a JSON-like value (a spec's names and labels)."""
    found: list[str] = []
    if isinstance(value, str):
        found += re.findall(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]+", value)
    elif isinstance(value, dict):
        for v in value.values():
            found += cjk_parts(v)
    elif isinstance(value, list):
        for v in value:
            found += cjk_parts(v)
    return found


def used_messages(*dirs: str) -> set[str]:
    """The message ids the templates of `dirs` (under web/templates) pass to `_()`."""
    root = Path(__file__).resolve().parents[1] / "web" / "templates"
    used: set[str] = set()
    for d in dirs:
        for template in (root / d).glob("*.html"):
            source = template.read_text(encoding="utf-8")
            used |= set(re.findall(r'_\("([^"]+)"', source))
            used |= set(re.findall(r"_\('([^']+)'", source))
    return used


def gettext_ids(module: str) -> set[str]:
    """The message ids a view module passes to `gettext()`."""
    path = Path(__file__).resolve().parents[1] / "web" / "views" / f"{module}.py"
    return set(re.findall(r'gettext\(\s*"([^"]+)"', path.read_text(encoding="utf-8")))
