"""The web view's pages (applicants and reviewers), on one base layout.

`init_app(app)` installs CSRF protection for page forms, the languages, the vendored
front-end libraries and every page blueprint. Other page packages (designer, statistics,
admin) build their blueprints with `web.views.common.page_blueprint` and extend
`hall/base.html`.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask

from hall.services import display_value
from web import i18n
from web.views import (
    admin,
    applications,
    apply,
    assets,
    catalog,
    common,
    delegations,
    designer,
    guide,
    invitations,
    messages,
    monitor,
    offcampus,
    passes,
    people,
    records,
    selfreg,
    stats,
    tasks,
    uploads,
)
from web.views.formdata import rules
from web.views.present import action_label, status_word

LOCAL_ZONE = ZoneInfo("Asia/Shanghai")


def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An aware UTC time as the school's local time."""
    return value.astimezone(LOCAL_ZONE).strftime(fmt) if value is not None else ""


def trim_float(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def init_app(app: Flask) -> None:
    common.init_app(app)
    i18n.init_app(app)
    assets.init_app(app)
    for module in (
        catalog,
        apply,
        applications,
        tasks,
        people,
        uploads,
        delegations,
        invitations,
        records,
        passes,
        messages,
    ):
        app.register_blueprint(module.bp)
    app.register_blueprint(selfreg.bp)  # public: joining the school's WeCom
    app.register_blueprint(offcampus.bp)  # public: off-campus sign-in by SMS code
    app.register_blueprint(guide.bp)  # public: 办事指南
    app.register_blueprint(invitations.links)  # public: where an invitation's SMS link lands
    # designer, statistics, monitoring of pending to-dos, system pages
    for module in (designer, stats, monitor, admin):
        app.register_blueprint(module.bp)
    app.jinja_env.globals.update(
        rules=rules,
        action_label=action_label,
        display_value=display_value,
        status_word=status_word,
    )
    app.jinja_env.filters.update(
        localtime=localtime, trim_float=trim_float, dotted=lambda ext: f".{ext}"
    )
