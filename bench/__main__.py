"""`make bench`: build (or reuse) the large data sets, then print every speed figure.

python -m bench                 all benchmarks
python -m bench core sync       only those named (core, web, callbacks, sync)
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from bench import core, machine

SUITES = {
    # name: (module, what it measures)
    "core": ("bench.core", "API: to-do, my applications, submit, decide (1M applications)"),
    "web": ("bench.web_bench", "web view: to-do page and statistics page"),
    "callbacks": ("bench.callback_bench", "WeCom card-click callbacks vs the bare floor"),
    "sync": ("bench.sync_bench", "nightly data-center sync of a 66,000-person school"),
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument(
        "suites",
        nargs="*",
        choices=[*SUITES, []],
        metavar="SUITE",
        help=f"any of {', '.join(SUITES)} (default: all)",
    )
    parser.add_argument(
        "--applications",
        type=int,
        default=int(os.environ.get("HALL_BENCH_APPLICATIONS", "1000000")),
    )
    parser.add_argument("--rounds", type=int, default=60, help="requests per measurement")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "HALL_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/hall_bench"
        ),
    )
    parser.add_argument("--rebuild", action="store_true", help="regenerate the data set")
    args = parser.parse_args()
    chosen = args.suites or list(SUITES)
    unknown = [s for s in chosen if s not in SUITES]
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(unknown)}")
    # Every suite that reads the big data set needs it generated first.
    core.prepare(args.database_url, args.applications, rebuild=args.rebuild).dispose()
    print(f"machine before: {machine.describe()}", flush=True)
    for name in chosen:
        module, what = SUITES[name]
        print(f"\n== {name}: {what}", flush=True)
        if name == "core":
            core.run(
                args.database_url, applications=args.applications, rounds=args.rounds, rebuild=False
            )
        else:
            importlib.import_module(module).run(args.database_url)
    print(f"\nmachine after: {machine.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
