"""gunicorn settings that are code, loaded by `hall run` with `--config python:web.gunicorn_conf`.

The GIL switch interval: a gthread worker's request threads spend most of a card click
waiting on PostgreSQL, a dozen round trips. With CPython's default 5 ms interval, a thread
whose answer has arrived can wait up to 5 ms for another thread's Python work after each of
them (the convoy effect), which multiplies tail latency long before the CPU is busy.
`python -m bench callbacks`, open loop at half capacity: p99 175 ms at 5 ms, 69 ms at 0.5 ms.
"""

from __future__ import annotations

import sys
from typing import Any

GIL_SWITCH_INTERVAL = 0.0005  # seconds


def post_worker_init(worker: Any) -> None:  # noqa: ARG001 - gunicorn's hook signature
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
