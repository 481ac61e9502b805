"""A real browser against a live hall: Debian's chromium driven by Playwright, the app
served by werkzeug in a thread on 127.0.0.1 with a committed PostgreSQL database holding
the demo school, the real Redis for sessions, and the sandbox CAS for signing in.

Screenshots of every journey go to test-artifacts/screenshots/ (gitignored).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from werkzeug.serving import make_server

from config import load_settings
from hall.db import Database
from hall.demo import load_demo
from web.app import create_app

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class _LateApp:
    """The server binds its port before the app (whose base URL names the port) exists."""

    def __init__(self) -> None:
        self.app: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        assert self.app is not None
        return self.app(environ, start_response)


@dataclass
class LiveHall:
    app: Flask
    db: Database
    base_url: str

    def url(self, path: str) -> str:
        return self.base_url + path


@pytest.fixture
def live_hall(
    committed_db: Database, redis_conn: redis.Redis, tmp_path: Path
) -> Iterator[LiveHall]:
    with committed_db.unit_of_work() as s:
        load_demo(s)
    late = _LateApp()
    server = make_server("127.0.0.1", 0, late, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    settings = load_settings(
        var_dir=tmp_path,
        secret_key="e2e-secret",
        database_url=committed_db.engine.url.render_as_string(hide_password=False),
        base_url=base_url,
        sandbox=True,
    )
    late.app = create_app(settings, database=committed_db, redis=redis_conn)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield LiveHall(late.app, committed_db, base_url)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def contexts(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    opened: list[BrowserContext] = []

    def open_context(
        viewport: dict[str, int] | None = None, locale: str = "zh-CN"
    ) -> BrowserContext:
        context = browser.new_context(viewport=viewport or DESKTOP, locale=locale)  # type: ignore[arg-type]
        context.set_default_timeout(15_000)
        opened.append(context)
        return context

    yield open_context
    for context in opened:
        context.close()


def sign_in(page: Page, hall: LiveHall, userid: str, next_path: str = "/") -> None:
    """Through the sandbox CAS, as a person would."""
    page.goto(hall.url(f"/login?next={next_path}"))
    page.fill("#username", userid)
    page.fill("#password", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(hall.url(next_path) + "*")


def shot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
