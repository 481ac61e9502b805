"""The read endpoints of /api/v1 (and the OpenAPI document). Each is a few lines: parse
(done by the registry), one query, answer. Commands live in web/api/commands.py."""

from __future__ import annotations

from typing import Any

from flask import current_app

from hall import queries
from hall.clock import SystemClock
from web.api.registry import Api, ApiCall
from web.api.schemas import (
    ApplicationsQuery,
    NotificationsQuery,
    ProcessesQuery,
    ReadIn,
    TasksQuery,
)

api = Api(prefix="/api/v1", title="网上办事大厅 API", version="1.0.0")


@api.route("GET", "/openapi.json", summary="OpenAPI 文档", tag="meta", response=None, auth=False)
def openapi_document(_call: ApiCall) -> dict[str, Any]:
    """This document (OpenAPI 3.1), generated from the routes themselves."""
    from web.openapi import build_document  # noqa: PLC0415 - openapi imports this registry

    cached: dict[str, Any] | None = current_app.extensions.get("hall.openapi")
    if cached is None:
        cached = build_document(api)
        current_app.extensions["hall.openapi"] = cached
    return cached


@api.route("GET", "/me", summary="当前用户", tag="me", response=queries.Me)
def get_me(call: ApiCall) -> queries.Me:
    """The signed-in person, their roles and their counts of things to do."""
    with call.db.reader() as session:
        return queries.me(session, call.person_id)


@api.route(
    "GET",
    "/processes",
    summary="服务事项目录",
    tag="processes",
    query=ProcessesQuery,
    response=queries.ProcessList,
)
def list_processes(call: ApiCall) -> queries.ProcessList:
    """The processes I may apply for: my kind is in the audience and my department in scope."""
    q = call.query_as(ProcessesQuery)
    with call.db.reader() as session:
        return queries.catalogue(
            session, call.person_id, category=q.category, department=q.department, q=q.q
        )


@api.route(
    "GET",
    "/processes/<process_key>",
    summary="事项详情",
    tag="processes",
    response=queries.ProcessDetail,
)
def get_process(call: ApiCall, process_key: str) -> queries.ProcessDetail:
    """The current version's guide, form and flow, with my prefilled values."""
    with call.db.reader() as session:
        return queries.process_detail(session, call.person_id, process_key)


@api.route(
    "GET",
    "/applications",
    summary="我的申请",
    tag="applications",
    query=ApplicationsQuery,
    response=queries.ApplicationPage,
)
def list_applications(call: ApiCall) -> queries.ApplicationPage:
    """My applications, drafts included, newest first."""
    q = call.query_as(ApplicationsQuery)
    with call.db.reader() as session:
        return queries.my_applications(
            session,
            call.person_id,
            page=q.page,
            per_page=q.per_page,
            status=q.status,
            process=q.process,
        )


@api.route(
    "GET",
    "/applications/<int:application_id>",
    summary="办件详情",
    tag="applications",
    response=queries.ApplicationDetail,
)
def get_application(call: ApiCall, application_id: int) -> queries.ApplicationDetail:
    """Form, result, tasks, timeline and comments of an application I may see."""
    with call.db.reader() as session:
        return queries.application_detail(session, call.person_id, application_id)


@api.route(
    "GET", "/tasks", summary="待办 / 已办", tag="tasks", query=TasksQuery, response=queries.TaskPage
)
def list_tasks(call: ApiCall) -> queries.TaskPage:
    """todo: my pending tasks, the longest waiting first; done: the tasks I decided."""
    q = call.query_as(TasksQuery)
    with call.db.reader() as session:
        return queries.my_tasks(
            session, call.person_id, state=q.state, page=q.page, per_page=q.per_page
        )


@api.route(
    "GET",
    "/notifications",
    summary="消息",
    tag="notifications",
    query=NotificationsQuery,
    response=queries.NotificationPage,
)
def list_notifications(call: ApiCall) -> queries.NotificationPage:
    """My in-app notices, newest first."""
    q = call.query_as(NotificationsQuery)
    with call.db.reader() as session:
        return queries.notifications(
            session, call.person_id, page=q.page, per_page=q.per_page, unread_only=q.unread
        )


@api.route(
    "POST",
    "/notifications/<int:notification_id>/read",
    summary="标记已读",
    tag="notifications",
    body=ReadIn,
    response=queries.NotificationOut,
)
def read_notification(call: ApiCall, notification_id: int) -> queries.NotificationOut:
    """Mark one of my notices read (again is harmless)."""
    clock = current_app.extensions.get("hall.clock") or SystemClock()
    with call.db.unit_of_work() as session:
        return queries.mark_notification_read(session, call.person_id, notification_id, clock.now())
