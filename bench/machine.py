"""How fast and how busy the machine is while a benchmark runs.

A shared virtual machine's CPU speed drifts by tens of percent within a day, so absolute
figures from different runs compare only next to a measure of the machine itself: a fixed
pure-Python loop, timed when a run starts and ends.
"""

from __future__ import annotations

import os
import statistics
import time

REFERENCE_ITERATIONS = 2_000_000


def _loop() -> float:
    began = time.perf_counter()
    total = 0
    for i in range(REFERENCE_ITERATIONS):
        total += i
    assert total > 0
    return (time.perf_counter() - began) * 1000.0


def reference_ms() -> float:
    """The median of five runs of the reference loop (lower is a faster machine)."""
    return statistics.median(_loop() for _ in range(5))


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} CPUs)"


def describe() -> str:
    return f"reference loop {reference_ms():.0f} ms, load average {load()}"
