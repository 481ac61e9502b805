"""Logging set-up shared by the web processes, the workers and the CLI."""

from __future__ import annotations

import logging
import os


def configure_logging(level: str | None = None) -> None:
    """Plain, greppable lines on stderr; HALL_LOG_LEVEL overrides the level."""
    logging.basicConfig(
        level=(level or os.environ.get("HALL_LOG_LEVEL", "INFO")).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
