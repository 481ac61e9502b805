"""The JSON API /api/v1 and its OpenAPI document (/api/v1/openapi.json)."""

from __future__ import annotations

from flask import Flask

from web.api import attachments, commands
from web.api.registry import init_registry
from web.api.routes import api


def init_app(app: Flask) -> None:
    """Register the /api/v1 blueprint on the app."""
    init_registry(app, api)


__all__ = ["api", "attachments", "commands", "init_app"]
