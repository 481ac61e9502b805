"""A department administrator builds a new process in the designer — a nested condition
(days > 3 and (事假 or not a student)) and a role-based CC — previews it, asks who would
approve it, publishes it; a student applies twice and the condition routes each as said."""

from __future__ import annotations

import copy
import re
from typing import Any

from playwright.sync_api import Page, expect
from sqlalchemy import select

from hall.demo import (
    CLINICAL_DEAN,
    CLINICAL_DEPUTY_SECRETARY,
    FIRST_COUNSELLOR,
    FIRST_STUDENT,
    IT_ADMIN,
    STUDENT_AFFAIRS_CLERK,
)
from hall.designer import Designer
from hall.models import Person, ProcessDefinition, ProcessVersion
from tests.e2e.conftest import SCREENSHOTS, LiveHall, shot, sign_in


def _watch_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def _saved(page: Page) -> None:
    expect(page.locator("#save-status")).to_have_text("已保存")


def test_build_nested_condition_and_cc_preview_publish_apply(live_hall: LiveHall, contexts) -> None:
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

    # a choice field: the kind of leave
    admin.get_by_role("button", name="添加字段").click()
    admin.fill("#d-form-2-label", "请假类型")
    admin.select_option("#d-form-2-type", "choice")
    admin.fill("#d-form-2-options", "personal=事假\nsick=病假")
    _saved(admin)

    # the first step goes to the counsellor and is CC'd to the college's deputy secretary
    admin.select_option("#d-flow-0-approver", "counsellor")
    admin.fill("#d-flow-0-name", "辅导员审批")
    admin.locator("[data-path='flow.0']").get_by_role("button", name="添加抄送").click()
    expect(admin.locator("#d-flow-0-cc-0")).to_be_focused()
    admin.select_option("#d-flow-0-cc-0", "role_in_applicant_dept")
    admin.select_option("#d-flow-0-cc-0-role", "deputy_secretary")

    # a second step to the dean when: days > 3 and (事假 or not a student)
    admin.get_by_role("button", name="添加步骤").click()
    admin.fill("#d-flow-1-name", "学院审批")
    step = admin.locator("[data-path='flow.1']")
    c = "#d-flow-1-condition-"
    step.get_by_role("button", name="添加条件组").click()
    expect(admin.locator(c + "all-0-subject")).to_be_focused()
    admin.select_option(c + "all-0-subject", "form.field2")
    admin.select_option(c + "all-0-op", ">")
    admin.fill(c + "all-0-value", "3")
    step.get_by_role("button", name="添加子组：条件组", exact=True).click()
    expect(admin.locator(c + "all-1-group")).to_have_value("any")
    expect(admin.locator(c + "all-1-any-0-subject")).to_be_focused()
    # the server's problem is shown at the new comparison's value, and stops publishing
    _saved(admin)
    expect(admin.locator(c + "all-1-any-0-value-error")).to_have_text("请填写比较的值")
    expect(admin.locator(c + "all-1-any-0-value")).to_have_attribute("aria-invalid", "true")
    expect(admin.locator("#publish")).to_be_disabled()
    admin.select_option(c + "all-1-any-0-subject", "form.field3")
    admin.select_option(c + "all-1-any-0-value", "personal")
    step.get_by_role("button", name="添加子组：条件组 2", exact=True).click()
    admin.select_option(c + "all-1-any-1-group", "not")
    expect(admin.locator(c + "all-1-any-1-group")).to_be_focused()
    admin.select_option(c + "all-1-any-1-not-subject", "applicant.kind")
    admin.select_option(c + "all-1-any-1-not-value", "student")
    # a comparison added and removed again: the keyboard goes back to the item before it
    step.get_by_role("button", name="添加比较：条件组 2", exact=True).click()
    expect(admin.locator(c + "all-1-any-2-subject")).to_be_focused()
    step.get_by_role("button", name="删除 比较 2.3").click()
    expect(admin.locator(c + "all-1-any-1-group")).to_be_focused()
    group = step.get_by_role("group", name=re.compile("^条件组 2.2"))
    expect(group.get_by_role("combobox", name="条件对象")).to_have_value("applicant.kind")
    _saved(admin)
    expect(admin.locator("#valid-ok")).to_be_visible()
    flow = admin.locator(".designer-flow")
    expect(flow).to_contain_text("离校天数 > 3 且 (请假类型 = 事假 或 非(申请人类别 = 学生))")
    expect(flow).to_contain_text("抄送：申请人所在部门的角色：学院副书记")
    expect(admin.locator("#changes")).to_contain_text("新事项「返校登记」首次发布")
    shot(admin, "designer-01-editor")
    step.screenshot(path=str(SCREENSHOTS / "designer-01b-nested-condition.png"))

    # who would approve it for the student, with a sample of 5 days of 事假
    admin.fill("#who-applicant", FIRST_STUDENT)
    preview = admin.locator("#preview")
    preview.get_by_label("离校天数").fill("5")
    preview.get_by_label("事由").fill("样例")
    preview.locator("input[name='field3'][value='personal']").check()
    admin.get_by_role("button", name="查看审批人").click()
    result = admin.locator("#who-result")
    expect(result).to_contain_text("辅导员审批")
    expect(result.locator("tr").nth(1)).to_contain_text(FIRST_COUNSELLOR)
    expect(result.locator("tr").nth(1)).to_contain_text(CLINICAL_DEPUTY_SECRETARY)  # CC
    expect(result.locator("tr").nth(2)).to_contain_text("学院审批")
    expect(result.locator("tr").nth(2)).to_contain_text(CLINICAL_DEAN)
    shot(admin, "designer-02-who-would-approve")
    result.screenshot(path=str(SCREENSHOTS / "designer-02b-who-would-approve-table.png"))

    admin.get_by_role("button", name="发布为新版本").click()
    expect(admin.get_by_role("heading", name="已发布为第 1 版")).to_be_visible()
    expect(admin.locator(".changes")).to_contain_text("首次发布")
    shot(admin, "designer-03-published")
    assert errors == []
    with live_hall.db.reader() as session:
        spec = session.scalars(
            select(ProcessVersion.spec)
            .join(ProcessDefinition, ProcessDefinition.id == ProcessVersion.process_id)
            .where(ProcessDefinition.key == "e2e_return")
        ).one()
    assert spec["flow"][0]["cc"] == [{"type": "role_in_applicant_dept", "role": "deputy_secretary"}]
    assert spec["flow"][1]["condition"] == {
        "all": [
            {"subject": "form.field2", "op": ">", "value": 3},
            {
                "any": [
                    {"subject": "form.field3", "op": "==", "value": "personal"},
                    {"not": {"subject": "applicant.kind", "op": "==", "value": "student"}},
                ]
            },
        ]
    }

    # the student applies twice: 事假 goes on to the dean, 病假 ends with the counsellor
    student = contexts().new_page()
    sign_in(student, live_hall, FIRST_STUDENT, "/processes/e2e_return")
    expect(student.get_by_role("heading", name="返校登记", level=1)).to_be_visible()
    applications = {}
    for kind in ("personal", "sick"):
        student.goto(live_hall.url("/processes/e2e_return"))
        student.fill("#f-reason", "回家探亲")
        student.fill("#f-field2", "5")
        student.check(f"input[name='field3'][value='{kind}']")
        student.get_by_role("button", name="提交", exact=True).click()
        student.wait_for_url(re.compile(r"/applications/\d+$"))
        expect(student.locator(".flowchart li.current")).to_contain_text("辅导员审批")
        applications[kind] = student.url

    reviewer = contexts().new_page()
    sign_in(reviewer, live_hall, FIRST_COUNSELLOR, "/tasks")
    for url in applications.values():
        reviewer.goto(url)
        reviewer.get_by_role("button", name="同意", exact=True).click()
        expect(reviewer.locator(".flash-success")).to_have_text("已同意")
    student.goto(applications["sick"])
    expect(student.locator(".status").first).to_have_text("已通过")
    shot(student, "designer-04-applied-and-approved")
    student.goto(applications["personal"])
    expect(student.locator(".status").first).to_have_text("审批中")
    expect(student.locator(".flowchart li.current")).to_contain_text("学院审批")
    shot(student, "designer-05-routed-to-the-dean")

    # the CC'd deputy secretary may read both applications
    deputy = contexts().new_page()
    sign_in(deputy, live_hall, CLINICAL_DEPUTY_SECRETARY, "/")
    for url in applications.values():
        deputy.goto(url)
        expect(deputy.get_by_role("heading", name=re.compile("返校登记")).first).to_be_visible()

    # the running version is shown when the process is revised
    admin.goto(live_hall.url("/designer/e2e_return"))
    expect(admin.locator("#versions")).to_contain_text("v1")
    expect(admin.locator(c + "all-1-any-1-not-value")).to_have_value("student")
    assert errors == []


# Conditions the spec accepts though the editor offers other ways to say them: a number
# as text, one value for "is one of", a list or an object for "equals", a value beside
# "is empty", an option that is not one, groups of one, a double "not", deep nesting.
ODD_CONDITION: dict[str, Any] = {
    "any": [
        {"subject": "form.days", "op": ">", "value": "3"},
        {"subject": "form.type", "op": "in", "value": "personal"},
        {"subject": "applicant.kind", "op": "==", "value": ["student"]},
        {"subject": "form.days", "op": "contains", "value": {"a": 1}},
        {"subject": "form.reason", "op": ">", "value": True},
        {"subject": "form.type", "op": "==", "value": "事假"},
        {"subject": "applicant.roles", "op": "not_empty", "value": "ignored"},
        {"all": [{"subject": "form.days", "op": "<=", "value": 15.5}]},
        {"not": {"not": {"subject": "applicant.post", "op": "contains", "value": "处长"}}},
        {"all": [{"any": [{"all": [{"subject": "applicant.level", "op": "!=", "value": "博"}]}]}]},
    ]
}


def test_the_editor_keeps_what_it_does_not_change(live_hall: LiveHall, contexts) -> None:
    with live_hall.db.reader() as session:
        admin_id = session.scalars(select(Person.id).where(Person.userid == IT_ADMIN)).one()
    designer = Designer(live_hall.db)
    designer.create(admin_id, key="e2e_odd", name="原样保留", department_code="1006")
    view = designer.open_draft(admin_id, "e2e_odd")
    data = copy.deepcopy(view.data)
    data["form"] = [
        {"key": "reason", "label": "事由", "type": "text"},
        {"key": "days", "label": "天数", "type": "number"},
        {
            "key": "type",
            "label": "类型",
            "type": "choice",
            "options": [{"value": "personal", "label": "事假"}, {"value": "sick", "label": "病假"}],
        },
    ]
    data["flow"][0]["condition"] = ODD_CONDITION
    data["flow"][0]["cc"] = [
        {"type": "role_in_dept", "role": "process_admin", "department": "1006"}
    ]
    designer.save(admin_id, "e2e_odd", data)

    admin = contexts().new_page()
    sign_in(admin, live_hall, IT_ADMIN, "/designer/e2e_odd")
    errors = _watch_errors(admin)
    expect(admin.locator("#designer[data-ready='1']")).to_be_attached()
    shot(admin, "designer-06-odd-conditions")
    # what the widgets cannot show is shown as it is
    expect(admin.locator("#d-flow-0-condition-any-2-value")).to_have_value('["student"]')
    expect(admin.locator("#d-flow-0-condition-any-5-value")).to_have_value("事假")
    # an edit elsewhere saves the condition untouched
    admin.fill("#d-flow-0-name", "改个名字")
    _saved(admin)
    assert designer.open_draft(admin_id, "e2e_odd").data["flow"][0]["condition"] == ODD_CONDITION
    # an edit of one comparison changes that comparison only
    admin.fill("#d-flow-0-condition-any-0-value", "4")
    admin.locator("#d-flow-0-cc-0-department").fill("1004")
    _saved(admin)
    saved = designer.open_draft(admin_id, "e2e_odd").data["flow"][0]
    expected: dict[str, Any] = copy.deepcopy(ODD_CONDITION)
    expected["any"][0]["value"] = 4
    assert saved["condition"] == expected
    assert saved["cc"] == [{"type": "role_in_dept", "role": "process_admin", "department": "1004"}]
    # the server's problems point into the nested condition
    expect(admin.locator("#d-flow-0-condition-any-5-value-error")).to_have_text(
        "「事假」不是「类型」的选项"
    )
    expect(admin.locator("#publish")).to_be_disabled()
    # a problem in the list leads the keyboard to its place
    admin.locator("#problems").get_by_role("link", name=re.compile("「事假」不是")).click()
    expect(admin.locator("#d-flow-0-condition-any-5-value")).to_be_focused()
    assert errors == []
