"""The phone's callbacks leave from threads of their own, not from the page's request.

The sandbox runs inside the hall's web server, so the phone page and `/wecom/callback` share
its request threads (`hall run`: 2 workers x 2 threads). A phone page that waited for its
callback in its own request thread held one thread while the callback needed another: four
phones tapping at once left none for any callback, and each waited out WeCom's 3 x 5 s.
Now the action runs here and the page waits for it only briefly (a callback is usually
answered in tens of milliseconds); what is not done by then finishes in the background,
and the phone shows it as 投递中 until it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache

from wework.sandbox.store import SandboxStore

log = logging.getLogger("wework.sandbox")

WAIT = 1.5  # seconds a phone page waits for its callback before answering anyway
THREADS = 8  # callbacks in flight at once, per web process


@cache
def _executor() -> ThreadPoolExecutor:
    # Made on first use, in the web worker process (never inherited across a fork). Its
    # threads start only with work, so a second one made in a race would cost nothing.
    return ThreadPoolExecutor(THREADS, thread_name_prefix="sandbox-phone")


def _run(store: SandboxStore, userid: str, action: Callable[[], object]) -> None:
    try:
        action()
    finally:
        store.mark_sending(userid, -1)


def dispatch(
    store: SandboxStore, userid: str, action: Callable[[], object], *, wait: float | None = None
) -> None:
    """Run the phone `action` of `userid` off the request thread, waiting up to `wait`
    seconds (`WAIT` by default).

    Its errors within the wait (a `PhoneError` for a wrong button or an empty message:
    those come before anything is sent) are raised here; later ones are logged.
    """
    store.mark_sending(userid, +1)
    future = _executor().submit(_run, store, userid, action)
    try:
        future.result(timeout=WAIT if wait is None else wait)
    except TimeoutError:
        future.add_done_callback(_log_failure)


def _log_failure(future: Future[None]) -> None:
    exc = future.exception()
    if exc is not None:
        log.warning("a phone callback failed in the background: %s", exc)
