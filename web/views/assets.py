"""Front-end libraries from the npm registry, served straight from `node_modules`.

`make install` runs `npm ci` (package.json + package-lock.json are committed); nothing of
theirs is copied into the repository. Only the distribution folders of the packages the
pages use are reachable, under `/vendor/<package>/<file>`; our own CSS and JS are Flask's
`/static/`.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from flask import Blueprint, Flask, abort, current_app, send_from_directory, url_for
from werkzeug.wrappers import Response as BaseResponse

# package → the folder inside it that may be served
PACKAGES: dict[str, str] = {
    "weui": "dist",
    "htmx.org": "dist",
    "sortablejs": "",
    "echarts": "dist",
}
SERVED_SUFFIXES = (".js", ".css", ".map", ".woff", ".woff2", ".ttf", ".svg", ".png")
MAX_AGE = 7 * 24 * 3600  # URLs carry the package version, so a long cache is safe

bp = Blueprint("assets", __name__)


def node_modules() -> Path:
    configured = current_app.config.get("HALL_NODE_MODULES")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "node_modules"


@cache
def _version(root: Path, package: str) -> str:
    try:
        data = json.loads((root / package / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "0"
    return str(data.get("version", "0"))


def vendor_url(package: str, file: str) -> str:
    """The URL of a vendored file, versioned so browsers refetch after an upgrade."""
    if package not in PACKAGES:
        raise KeyError(package)
    return url_for("assets.vendor", package=package, file=file, v=_version(node_modules(), package))


@bp.get("/vendor/<package>/<path:file>")
def vendor(package: str, file: str) -> BaseResponse:
    folder = PACKAGES.get(package)
    if folder is None or not file.endswith(SERVED_SUFFIXES):
        abort(404)
    root = node_modules() / package / folder
    # send_from_directory refuses paths that leave `root` (../, absolute paths).
    response = send_from_directory(root, file, max_age=MAX_AGE)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["vendor_url"] = vendor_url
