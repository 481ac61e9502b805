"""The gunicorn workers `hall run` starts: hook (GIL switch interval, frozen heap) and threads."""

from __future__ import annotations

import subprocess
import sys

from web.runner import THREADS, RunOptions, gunicorn_argv

PROBE = """
import gc, sys
import web.app  # what a worker has loaded when the hook runs
from web.gunicorn_conf import GIL_SWITCH_INTERVAL, post_worker_init
assert gc.get_freeze_count() == 0
post_worker_init(None)
print(sys.getswitchinterval() == GIL_SWITCH_INTERVAL, gc.get_freeze_count())
"""


def test_the_worker_hook_freezes_what_start_up_loaded():
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out[0] == "True"
    assert int(out[1]) > 50_000  # the app's modules, Flask, SQLAlchemy, pydantic ...


def test_outside_sandbox_mode_workers_keep_two_threads():
    argv = gunicorn_argv(3, RunOptions())
    assert argv[argv.index("--threads") + 1] == str(THREADS) == "2"
    argv = gunicorn_argv(3, RunOptions(threads=5))
    assert argv[argv.index("--threads") + 1] == "5"
