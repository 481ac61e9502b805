"""A department administrator builds a new process in the designer, previews it, asks who
would approve it, publishes it; a student applies with it and the counsellor decides."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from hall.demo import FIRST_COUNSELLOR, FIRST_STUDENT, STUDENT_AFFAIRS_CLERK
from tests.e2e.conftest import LiveHall, shot, sign_in


def _watch_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def _saved(page: Page) -> None:
    expect(page.locator("#save-status")).to_have_text("已保存")


def test_build_preview_publish_apply_decide(live_hall: LiveHall, contexts) -> None:
    admin = contexts().new_page()
    sign_in(admin, live_hall, STUDENT_AFFAIRS_CLERK, "/designer/")
    errors = _watch_errors(admin)  # after sign-in: the sandbox CAS page has no favicon
    expect(admin.get_by_role("heading", name="流程设计", level=1)).to_be_visible()

    admin.fill("#new-name", "返校登记")
    admin.fill("#new-key", "e2e_return")
    admin.get_by_role("button", name="建立草稿").click()
    admin.wait_for_url(re.compile(r"/designer/e2e_return$"))
    expect(admin.locator("#designer[data-ready='1']")).to_be_attached()

    # a new number field, required; its label shows in the live preview
    admin.get_by_role("button", name="添加字段").click()
    admin.fill("#d-form-1-label", "离校天数")
    admin.select_option("#d-form-1-type", "number")
    admin.check("#d-form-1-required")
    _saved(admin)
    expect(admin.locator("#preview")).to_contain_text("离校天数")

    # an invalid label is shown next to the field, and the draft is kept
    admin.fill("#d-form-1-label", "")
    _saved(admin)
    expect(admin.locator("#d-form-1-label-error")).not_to_be_empty()
    expect(admin.locator("#publish")).to_be_disabled()
    admin.fill("#d-form-1-label", "离校天数")
    _saved(admin)
    expect(admin.locator("#valid-ok")).to_be_visible()

    # the step goes to the counsellor; a second step to the dean only for long absences
    admin.select_option("#d-flow-0-approver", "counsellor")
    admin.fill("#d-flow-0-name", "辅导员审批")
    admin.get_by_role("button", name="添加步骤").click()
    admin.fill("#d-flow-1-name", "学院审批")
    admin.locator("[data-path='flow.1.condition'] .add-cond").click()
    row = admin.locator("[data-path='flow.1.condition'] .cond-row").first
    row.locator("select").first.select_option("form.field2")
    row.locator("select").nth(1).select_option(">")
    row.locator("input").fill("3")
    _saved(admin)
    expect(admin.locator(".designer-flow")).to_contain_text("form.field2 > 3")
    expect(admin.locator("#changes")).to_contain_text("新事项「返校登记」首次发布")
    shot(admin, "designer-01-editor")

    # who would approve it for the student, with a sample of 5 days
    admin.fill("#who-applicant", FIRST_STUDENT)
    admin.locator("#preview").get_by_label("离校天数").fill("5")
    admin.locator("#preview").get_by_label("事由").fill("样例")
    admin.get_by_role("button", name="查看审批人").click()
    result = admin.locator("#who-result")
    expect(result).to_contain_text("辅导员审批")
    expect(result.locator("tr").nth(1)).to_contain_text(FIRST_COUNSELLOR)
    expect(result.locator("tr").nth(2)).to_contain_text("学院审批")
    shot(admin, "designer-02-who-would-approve")

    admin.get_by_role("button", name="发布为新版本").click()
    expect(admin.get_by_role("heading", name="已发布为第 1 版")).to_be_visible()
    expect(admin.locator(".changes")).to_contain_text("首次发布")
    shot(admin, "designer-03-published")
    assert errors == []

    student = contexts().new_page()
    sign_in(student, live_hall, FIRST_STUDENT, "/processes/e2e_return")
    expect(student.get_by_role("heading", name="返校登记", level=1)).to_be_visible()
    student.fill("#f-reason", "回家探亲")
    student.fill("#f-field2", "2")
    student.get_by_role("button", name="提交", exact=True).click()
    student.wait_for_url(re.compile(r"/applications/\d+$"))
    expect(student.locator(".flowchart li.current")).to_contain_text("辅导员审批")
    application_url = student.url

    reviewer = contexts().new_page()
    sign_in(reviewer, live_hall, FIRST_COUNSELLOR, "/tasks")
    reviewer.get_by_role("link", name=re.compile("返校登记")).first.click()
    reviewer.get_by_role("button", name="同意", exact=True).click()
    expect(reviewer.locator(".flash-success")).to_have_text("已同意")
    student.goto(application_url)
    expect(student.locator(".status").first).to_have_text("已通过")
    shot(student, "designer-04-applied-and-approved")

    # the running version is shown when the process is revised
    admin.goto(live_hall.url("/designer/e2e_return"))
    expect(admin.locator("#versions")).to_contain_text("v1")
    assert errors == []
