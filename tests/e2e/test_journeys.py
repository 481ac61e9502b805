"""Journeys through the hall in a real browser (see conftest.py for the set-up)."""

from __future__ import annotations

import re
import struct
import zlib
from datetime import date

from playwright.sync_api import Page, expect
from sqlalchemy import select

from hall.demo import FIRST_COUNSELLOR, FIRST_STUDENT, FIRST_TEACHER, STUDENT_AFFAIRS_CLERK
from hall.models import Person, Task
from hall.services import Hall
from tests.e2e.conftest import PHONE, LiveHall, shot, sign_in


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def fill_leave(page: Page, reason: str) -> None:
    today = date.today().isoformat()
    page.get_by_label("病假").check()
    page.fill("#f-period-start", today)
    page.fill("#f-period-end", today)
    page.get_by_label("不离校").check()
    page.fill("#f-reason", reason)


def submit_leave_directly(hall: LiveHall, reason: str) -> int:
    with hall.db.reader() as s:
        student = s.scalar(select(Person).where(Person.userid == FIRST_STUDENT))
        assert student is not None
        student_id = student.id
    today = date.today().isoformat()
    form = {
        "leave_type": "personal",
        "period": {"start": today, "end": today},
        "leave_campus": "stay",
        "reason": reason,
    }
    return Hall(hall.db).submit(student_id, "student_leave", form).application_id


def test_apply_approve_and_see_the_result(live_hall: LiveHall, contexts) -> None:
    student = contexts().new_page()
    sign_in(student, live_hall, FIRST_STUDENT)
    expect(student.get_by_role("link", name="学生请假")).to_be_visible()
    shot(student, "01-catalogue-desktop")

    student.get_by_role("link", name="学生请假").click()
    expect(student.get_by_role("heading", name="学生请假", level=1)).to_be_visible()
    # the mobile number is prefilled from the profile
    assert re.fullmatch(r"1[3-9]\d{9}", student.input_value("#f-mobile"))

    # an empty submission is stopped in the browser, each problem next to its field
    student.get_by_role("button", name="提交", exact=True).click()
    expect(student.locator("#f-reason-error")).to_have_text("请填写请假事由")
    expect(student.locator("#f-leave_type-error")).to_have_text("请填写请假类型")
    expect(student.locator("#f-reason")).to_have_attribute("aria-invalid", "true")
    assert "/processes/student_leave" in student.url
    shot(student, "02-form-validation-errors")

    fill_leave(student, "发烧就医，需要休息一天")
    student.set_input_files(
        "#f-proof", files=[{"name": "诊断证明.png", "mimeType": "image/png", "buffer": tiny_png()}]
    )
    expect(student.locator(".files li")).to_contain_text("诊断证明.png")
    student.get_by_role("button", name="提交", exact=True).click()
    student.wait_for_url(re.compile(r"/applications/\d+$"))
    expect(student.locator(".flash-success")).to_have_text("已提交")
    expect(student.locator(".status").first).to_have_text("审批中")
    expect(student.locator(".flowchart li.current")).to_contain_text("辅导员审批")
    application_url = student.url
    shot(student, "03-application-submitted")

    reviewer = contexts().new_page()
    sign_in(reviewer, live_hall, FIRST_COUNSELLOR, "/tasks")
    expect(reviewer.locator(".mainnav .badge")).to_have_text(re.compile(r"\d+"))
    reviewer.get_by_role("link", name=re.compile("请假申请")).first.click()
    expect(reviewer.get_by_role("heading", name=re.compile("审批操作"))).to_be_visible()
    expect(reviewer.get_by_role("link", name="诊断证明.png")).to_be_visible()
    shot(reviewer, "04-reviewer-decision-panel")
    reviewer.fill("#decision-comment", "同意，注意休息")
    reviewer.get_by_role("button", name="同意", exact=True).click()
    expect(reviewer.locator(".flash-success")).to_have_text("已同意")

    student.goto(application_url)
    expect(student.locator(".status").first).to_have_text("已通过")
    expect(student.get_by_role("region", name="办理记录")).to_contain_text("同意，注意休息")
    shot(student, "05-applicant-sees-approval")
    student.get_by_role("link", name="审批记录").click()
    expect(student.locator(".qr svg")).to_be_visible()
    shot(student, "06-approval-record")
    verify_url = student.get_by_role("link", name="扫码核验").get_attribute("href")
    assert verify_url is not None

    stranger = contexts().new_page()
    stranger.goto(verify_url)
    expect(stranger.get_by_text("记录有效")).to_be_visible()
    body = stranger.locator("main").inner_text()
    assert "学生请假" in body
    assert "已通过" in body
    shot(stranger, "07-public-verification")


def test_batch_approve_exactly_the_selected(live_hall: LiveHall, contexts) -> None:
    first = submit_leave_directly(live_hall, "批量一")
    second = submit_leave_directly(live_hall, "批量二")
    left = submit_leave_directly(live_hall, "不选这件")
    reviewer = contexts().new_page()
    sign_in(reviewer, live_hall, FIRST_COUNSELLOR, "/tasks")
    rows = reviewer.locator("table.list tbody tr")
    expect(rows).to_have_count(3)
    for app_id in (first, second):
        row = reviewer.locator("tr", has=reviewer.locator(f'a[href="/applications/{app_id}"]'))
        row.locator('input[name="task_id"]').check()
    shot(reviewer, "08-batch-selected")
    reviewer.get_by_role("button", name="批量同意").click()
    expect(reviewer.locator(".flash-success")).to_contain_text("已同意 2 件")
    expect(rows).to_have_count(1)
    expect(reviewer.locator(f'a[href="/applications/{left}"]')).to_be_visible()
    shot(reviewer, "09-batch-summary")


def test_phone_layout_and_english(live_hall: LiveHall, contexts) -> None:
    page = contexts(viewport=PHONE).new_page()
    sign_in(page, live_hall, FIRST_STUDENT)
    expect(page.locator(".tabbar")).to_be_visible()
    expect(page.locator(".mainnav")).to_be_hidden()
    shot(page, "10-catalogue-phone")
    page.get_by_role("link", name="学生请假").click()
    shot(page, "11-form-phone")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("button", name="Submit", exact=True)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("button", name="Submit", exact=True).click()
    expect(page.locator("#f-reason-error")).to_have_text("Please fill in 请假事由")
    shot(page, "12-form-phone-english")


def test_english_from_accept_language(live_hall: LiveHall, contexts) -> None:
    page = contexts(locale="en-US").new_page()
    sign_in(page, live_hall, FIRST_STUDENT)
    expect(page.get_by_role("link", name="My applications").first).to_be_visible()


def test_keyboard_and_screen_reader_basics(live_hall: LiveHall, contexts) -> None:
    submit_leave_directly(live_hall, "键盘测试")
    student = contexts().new_page()
    sign_in(student, live_hall, FIRST_STUDENT, "/processes/student_leave")
    unlabelled = student.evaluate(
        """() => Array.from(document.querySelectorAll('main input, main select, main textarea'))
            .filter(el => el.type !== 'hidden')
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
            .map(el => el.outerHTML)"""
    )
    assert unlabelled == []
    student.keyboard.press("Tab")
    assert student.evaluate("document.activeElement.className") == "skip-link"
    student.keyboard.press("Tab")
    outline = student.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in {"none", ""}

    reviewer = contexts().new_page()
    sign_in(reviewer, live_hall, FIRST_COUNSELLOR, "/tasks")
    reviewer.get_by_role("link", name=re.compile("请假申请")).first.click()
    reached = []
    for _ in range(80):
        reviewer.keyboard.press("Tab")
        text = reviewer.evaluate("document.activeElement.textContent.trim()")
        reached.append(text)
        if text == "驳回":
            break
    assert "同意" in reached
    assert "驳回" in reached
    focused = reviewer.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focused not in {"none", ""}
    shot(reviewer, "13-keyboard-focus-on-decision")


def test_transfer_with_the_person_picker_on_a_phone(live_hall: LiveHall, contexts) -> None:
    app_id = submit_leave_directly(live_hall, "转交测试")
    with live_hall.db.reader() as s:
        teacher = s.scalar(select(Person).where(Person.userid == FIRST_TEACHER))
        assert teacher is not None
        name = teacher.name
    reviewer = contexts(viewport=PHONE).new_page()
    sign_in(reviewer, live_hall, FIRST_COUNSELLOR, "/tasks")
    shot(reviewer, "14-todo-phone")
    reviewer.goto(live_hall.url(f"/applications/{app_id}"))
    reviewer.get_by_text("转交", exact=True).first.click()
    reviewer.fill("#transfer-q", name)
    choice = reviewer.locator(f'[data-pick-userid="{FIRST_TEACHER}"]')
    expect(choice).to_be_visible()
    shot(reviewer, "15-person-picker-phone")
    choice.click()
    expect(reviewer.locator(".decision .picked").first).to_contain_text(name)
    reviewer.get_by_role("button", name="转交", exact=True).click()
    expect(reviewer.locator(".flash-success")).to_have_text("已转交")
    expect(reviewer.get_by_role("heading", name=re.compile("审批操作"))).to_have_count(0)
    shot(reviewer, "16-transferred-phone")


def test_an_administrator_reassigns_a_stuck_to_do_from_the_monitor(
    live_hall: LiveHall, contexts
) -> None:
    app_id = submit_leave_directly(live_hall, "改派测试")
    with live_hall.db.reader() as s:
        teacher = s.scalar(select(Person).where(Person.userid == FIRST_TEACHER))
        assert teacher is not None
        name = teacher.name
    admin = contexts().new_page()  # 学生工作处's clerk administers 学生请假
    sign_in(admin, live_hall, STUDENT_AFFAIRS_CLERK, "/monitor")
    row = admin.locator("tr", has=admin.locator(f'a[href="/applications/{app_id}"]'))
    row.locator("summary").click()
    row.locator("input[type=search]").fill(name)
    choice = row.locator(f'[data-pick-userid="{FIRST_TEACHER}"]')
    expect(choice).to_be_visible()
    choice.click()
    expect(row.locator(".picked")).to_contain_text(name)
    row.locator("input[name=comment]").fill("辅导员出差")
    shot(admin, "17-monitor-reassign")
    row.get_by_role("button", name="改派", exact=True).click()
    expect(admin.locator(".flash-success")).to_have_text("已改派")
    with live_hall.db.reader() as s:
        holders = s.scalars(
            select(Person.userid)
            .join(Task, Task.assignee_id == Person.id)
            .where(Task.application_id == app_id, Task.__table__.c.status == "pending")
        ).all()
    assert holders == [FIRST_TEACHER]
