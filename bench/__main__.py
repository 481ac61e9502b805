"""`make bench`: build (or reuse) the large data set, then print the speed figures."""

from __future__ import annotations

import argparse
import os
import sys

from bench import core


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
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
    return core.run(
        args.database_url, applications=args.applications, rounds=args.rounds, rebuild=args.rebuild
    )


if __name__ == "__main__":
    sys.exit(main())
