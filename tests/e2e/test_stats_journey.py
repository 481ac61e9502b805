"""Statistics in a real browser: a department administrator's figures after an application
ran through a process of theirs; every chart renders on a canvas without script errors;
exports download; outsiders get the not-found page."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from hall.demo import FIRST_COUNSELLOR, FIRST_STUDENT, IT_ADMIN, STUDENT_AFFAIRS_CLERK
from hall.stats import CHARTS
from tests.e2e.conftest import LiveHall, shot, sign_in
from tests.e2e.test_journeys import fill_leave


def test_statistics_show_the_application_and_draw_every_chart(
    live_hall: LiveHall, contexts
) -> None:
    student = contexts().new_page()
    sign_in(student, live_hall, FIRST_STUDENT, "/processes/student_leave")
    fill_leave(student, "统计用的请假")
    student.get_by_role("button", name="提交", exact=True).click()
    student.wait_for_url(re.compile(r"/applications/\d+$"))
    reviewer = contexts().new_page()
    sign_in(reviewer, live_hall, FIRST_COUNSELLOR, "/tasks")
    reviewer.get_by_role("link", name=re.compile("请假")).first.click()
    reviewer.get_by_role("button", name="同意", exact=True).click()
    expect(reviewer.locator(".flash-success")).to_have_text("已同意")

    admin = contexts().new_page()
    sign_in(admin, live_hall, STUDENT_AFFAIRS_CLERK, "/stats/")
    errors: list[str] = []
    admin.on("pageerror", lambda exc: errors.append(str(exc)))
    admin.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    admin.reload()
    expect(admin.get_by_role("heading", name="统计", level=1)).to_be_visible()
    for key in CHARTS:
        expect(admin.locator(f"#chart-{key} canvas")).to_have_count(1)
    processes = admin.locator("#chart-processes table")
    expect(processes).to_contain_text("学生请假")
    expect(admin.locator("#chart-visits table")).to_contain_text("学生请假")  # the form page view
    with admin.expect_download() as download:
        admin.locator("#chart-processes").get_by_role("link", name="导出 Excel").click()
    assert download.value.suggested_filename.startswith("processes_")
    shot(admin, "stats-01-department")
    assert errors == []

    # the information center sees every department and the system pages
    it = contexts().new_page()
    sign_in(it, live_hall, IT_ADMIN, "/admin/deliveries")
    expect(it.get_by_role("heading", name="投递失败")).to_be_visible()
    it.goto(live_hall.url("/admin/sync"))
    expect(it.get_by_role("heading", name="同步报告")).to_be_visible()
    shot(it, "stats-02-admin-sync")

    # a student sees neither statistics nor system pages
    student.goto(live_hall.url("/stats/"))
    expect(student.get_by_role("heading", name="未找到")).to_be_visible()
    assert student.request.get(live_hall.url("/admin/sync")).status == 404
