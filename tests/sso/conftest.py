"""A live hall with its sandbox CAS: a real HTTP server on a free 127.0.0.1 port.

The hall validates tickets over HTTP and the sandbox CAS POSTs single-logout requests over
HTTP, so both run behind werkzeug's threaded server; tests drive it like a browser with
`requests`. The app uses the test's database transaction (`db`) and the real Redis.
Only one request touches the database at a time: the validation and single-logout calls
that run concurrently with a browser request use Redis only.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import redis
import requests
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from config import Settings, load_settings
from hall.db import Database
from hall.models import Person
from sso.client import CasClient
from tests import factories
from web.app import create_app


class _LateApp:
    """The server binds its port before the app (whose base URL names the port) exists."""

    def __init__(self) -> None:
        self.app: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        assert self.app is not None
        return self.app(environ, start_response)


@dataclass
class Hall:
    app: Flask
    settings: Settings
    redis: redis.Redis
    browsers: list[requests.Session] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    @property
    def cas_url(self) -> str:
        return self.settings.cas_url

    def url(self, path: str) -> str:
        return self.base_url + path

    def browser(self, user_agent: str = "Mozilla/5.0 (test browser)") -> requests.Session:
        browser = requests.Session()
        browser.headers["User-Agent"] = user_agent
        self.browsers.append(browser)
        return browser

    def cas(self) -> CasClient:
        return CasClient(self.cas_url, self.settings.cas_version)

    def login_form(self, page: requests.Response) -> dict[str, str]:
        """The hidden fields of the sandbox login page."""
        fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.text))
        assert "lt" in fields, page.text
        return {name: html.unescape(value) for name, value in fields.items()}

    def cas_login(
        self, browser: requests.Session, login_url: str, userid: str, password: str = "demo"
    ) -> requests.Response:
        """Show the sandbox login page at `login_url` and submit it; return CAS's answer."""
        page = browser.get(login_url, allow_redirects=False)
        assert page.status_code == 200, page.text
        form = self.login_form(page)
        form.update(username=userid, password=password)
        return browser.post(self.cas_url + "login", data=form, allow_redirects=False)

    def sign_in(self, browser: requests.Session, userid: str, next_path: str = "") -> str:
        """The whole browser dance: /login → CAS form → ticket → hall. Returns the ticket."""
        path = "/login" + (f"?next={quote(next_path, safe='')}" if next_path else "")
        start = browser.get(self.url(path), allow_redirects=False)
        assert start.status_code == 302, start.text
        answer = self.cas_login(browser, start.headers["Location"], userid)
        assert answer.status_code == 302, answer.text
        back = answer.headers["Location"]
        ticket = ticket_of(back)
        landed = browser.get(back, allow_redirects=False)
        assert landed.status_code == 302, landed.text
        return ticket


def ticket_of(url: str) -> str:
    tickets = parse_qs(urlsplit(url).query).get("ticket", [])
    assert len(tickets) == 1, url
    return tickets[0]


@pytest.fixture
def make_hall(
    db: Database, redis_conn: redis.Redis, tmp_path: Path
) -> Iterator[Callable[..., Hall]]:
    running: list[tuple[Any, threading.Thread, Hall]] = []

    def start(**overrides: Any) -> Hall:
        late = _LateApp()
        server = make_server("127.0.0.1", 0, late, threaded=True)
        options: dict[str, Any] = {
            "var_dir": tmp_path,
            "secret_key": "test-secret",
            "database_url": db.engine.url.render_as_string(hide_password=False),
            "base_url": f"http://127.0.0.1:{server.server_port}",
            "sandbox": True,
        }
        options.update(overrides)
        settings = load_settings(**options)
        late.app = create_app(settings, database=db, redis=redis_conn)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        hall = Hall(late.app, settings, redis_conn)
        running.append((server, thread, hall))
        return hall

    yield start
    for server, thread, hall in running:
        for browser in hall.browsers:
            browser.close()
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def hall(make_hall: Callable[..., Hall]) -> Hall:
    return make_hall()


@dataclass
class People:
    alice: Person  # staff, active, a department head
    bob: Person  # student, active


@pytest.fixture
def people(session: Session) -> People:
    cs = factories.department(session, "计算机学院", code="CS")
    alice = factories.person(session, "王小丽", dept=cs, userid="alice", roles=("dept_head",))
    bob = factories.person(session, "陈同学", kind="student", dept=cs, userid="bob")
    session.commit()
    return People(alice, bob)
