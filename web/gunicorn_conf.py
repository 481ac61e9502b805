"""gunicorn settings that are code, loaded by `hall run` with `--config python:web.gunicorn_conf`.

The GIL switch interval: a gthread worker's request threads spend most of a card click
waiting on PostgreSQL, a dozen round trips. With CPython's default 5 ms interval, a thread
whose answer has arrived can wait up to 5 ms for another thread's Python work after each of
them (the convoy effect), which multiplies tail latency long before the CPU is busy.
`python -m bench callbacks`, open loop at half capacity: p99 175 ms at 5 ms, 69 ms at 0.5 ms.

The garbage collector: a full collection walks every object the worker holds, about
140,000 once the app is imported, and stops all of the worker's threads for about 95 ms on
the bench machine, landing in the requests that happen to be running. Nothing loaded at
start-up is ever garbage, so the worker freezes it (`gc.freeze`) once the app is loaded:
later collections skip those objects. Alternated bench runs on one data set (open loop at
200/s, 6 pairs): p99 22-74 ms frozen (one outlier while the machine was slow), 85-271 ms not.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

from sqlalchemy.orm import configure_mappers

GIL_SWITCH_INTERVAL = 0.0005  # seconds


def post_worker_init(worker: Any) -> None:  # noqa: ARG001 - gunicorn's hook signature
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    configure_mappers()  # otherwise done by the first query, after the freeze
    gc.freeze()
