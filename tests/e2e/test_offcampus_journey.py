"""Off-campus people in a real browser: sign in with a mobile number and an SMS code, apply,
and get the result by SMS (see conftest.py for the live hall).

SMS travel as in production: the page queues them in the outbox, and `Postman.deliver`
runs the worker's relay and an RQ worker (the channels of `web.worker.build_channels`)
until the outbox is empty; the SMS channel posts to the sandbox gateway that the live hall
serves itself, and the test reads the phone's inbox from the sandbox like a person would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis
import requests
from playwright.sync_api import Page, expect
from rq import SimpleWorker
from sqlalchemy import select

from hall import jobs
from hall.demo import ARCHIVES_CLERK, FIRST_ALUMNUS, FIRST_TEACHER
from hall.engine import SCHOOL_TZ
from hall.models import (
    Application,
    Delivery,
    DeliveryStatus,
    Department,
    Outbox,
    Person,
    PersonKind,
    RoleCode,
    RoleGrant,
)
from hall.outbox import Kind
from hall.relay import Relay
from sms.codes import PREFIX as CODES_PREFIX
from sms.models import MASK, SmsPurpose, SmsStatus, recent
from tests.e2e.conftest import PHONE, LiveHall, shot, sign_in
from tests.e2e.test_journeys import tiny_png
from web.worker import build_channels, build_relay, drain, make_queue

ALUMNUS_MOBILE = FIRST_ALUMNUS.removeprefix("oc")  # 13877310001
NEW_MOBILE = "13912345678"
ARCHIVES = "1007"  # 档案馆: its process_admin handles 档案查询预约
APPOINTMENT = "9月10日 上午 9:00–11:30"


@dataclass
class Postman:
    """The worker, run on demand: relay the outbox and deliver until nothing is left."""

    hall: LiveHall
    relay: Relay
    worker: SimpleWorker
    context: jobs.JobContext

    def deliver(self) -> None:
        with jobs.bound(self.context):
            drain(self.relay, self.worker)

    def inbox(self, phone: str) -> list[dict[str, Any]]:
        """What the sandbox phone `phone` received, oldest first."""
        reply = requests.get(
            self.hall.url("/_sandbox/sms/api/messages"), params={"phone": phone}, timeout=10
        )
        reply.raise_for_status()
        messages: list[dict[str, Any]] = reply.json()["messages"]
        return messages

    def code_for(self, phone: str) -> str:
        """Deliver, then read the newest sign-in code off the phone."""
        self.deliver()
        codes = [m for m in self.inbox(phone) if m["template"] == "code"]
        assert codes, f"no code reached {phone}"
        newest = codes[-1]
        code = str(newest["params"]["code"])
        assert re.fullmatch(r"\d{6}", code)
        assert newest["text"] == (
            f"【网上办事大厅】您的验证码为{code}，5分钟内有效。如非本人操作，请忽略本短信。"
        )
        return code


@pytest.fixture
def postman(live_hall: LiveHall, redis_conn: redis.Redis) -> Postman:
    db = live_hall.db
    settings = live_hall.app.extensions["hall.settings"]
    channels = build_channels(settings, redis_conn)
    queue = make_queue(redis_conn)
    context = jobs.JobContext(db=db, channels=channels, max_attempts=settings.delivery_max_attempts)
    return Postman(
        live_hall,
        build_relay(db, channels, queue),
        SimpleWorker([queue], connection=redis_conn),
        context,
    )


def id_number(first17: str) -> str:
    """A resident ID number with its GB 11643 check digit."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(first17, weights, strict=True))
    return first17 + "10X98765432"[total % 11]


def ask_for_code(page: Page, phone: str) -> None:
    """Type the number and press 获取验证码, as a person would."""
    page.fill("#phone", phone)
    page.get_by_role("button", name="获取验证码").click()
    masked = f"{phone[:3]}****{phone[-4:]}"
    expect(page.locator("#sms-sent")).to_have_text(f"验证码已发送至 {masked}，5 分钟内有效。")
    # the resend button waits out the one-a-minute limit
    expect(page.locator("#send-code")).to_be_disabled()
    expect(page.locator("#phone")).to_have_value(phone)


def enter_code(page: Page, code: str) -> None:
    page.fill("#code", code)
    page.get_by_role("button", name="登录", exact=True).click()


def a_minute_passes(connection: redis.Redis, phone: str) -> None:
    """The hall sends one code a minute per number: forget this number's minute counter
    instead of sleeping 60 s (the hourly and daily counters stay)."""
    assert connection.delete(f"{CODES_PREFIX}limit:phone:60:{phone}") == 1


def archives_handler(hall: LiveHall) -> str:
    """The person holding process_admin in 档案馆 (1007), from the database."""
    with hall.db.reader() as s:
        userids = s.scalars(
            select(Person.userid)
            .join(RoleGrant, RoleGrant.person_id == Person.id)
            .join(Department, Department.id == RoleGrant.department_id)
            .where(RoleGrant.role_code == RoleCode.PROCESS_ADMIN, Department.code == ARCHIVES)
        ).all()
    assert list(userids) == [ARCHIVES_CLERK]
    return userids[0]


def test_an_alumnus_signs_in_by_sms_applies_and_gets_the_result_by_sms(
    live_hall: LiveHall, contexts, postman: Postman, redis_conn: redis.Redis
) -> None:
    with live_hall.db.reader() as s:
        alumnus = s.scalar(select(Person).where(Person.userid == FIRST_ALUMNUS))
        assert alumnus is not None
        assert alumnus.kind == PersonKind.OFFCAMPUS
        assert alumnus.mobile == ALUMNUS_MOBILE
        name = alumnus.name

    # --- sign in with the mobile number and the code the phone receives
    page = contexts().new_page()
    page.goto(live_hall.url("/login/sms?next=/"))
    expect(page.get_by_role("heading", name="校外人员登录", level=1)).to_be_visible()
    shot(page, "oc-01-sms-login")
    ask_for_code(page, ALUMNUS_MOBILE)
    assert postman.inbox(ALUMNUS_MOBILE) == []  # nothing leaves before the worker runs
    code = postman.code_for(ALUMNUS_MOBILE)
    shot(page, "oc-02-code-sent")

    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    enter_code(page, wrong)
    expect(page.locator("#sms-error")).to_have_text("验证码不正确，还可以再试 4 次。")
    expect(page.locator("#phone")).to_have_value(ALUMNUS_MOBILE)
    assert "/login/sms" in page.url
    shot(page, "oc-03-wrong-code")

    enter_code(page, code)
    page.wait_for_url(live_hall.url("/"))

    # --- the catalogue shows only the off-campus services, and no to-dos
    cards = page.locator("ul.cards li.card h3 a")
    expect(cards).to_have_count(3)
    assert sorted(cards.all_inner_texts()) == sorted(
        ["档案查询预约", "毕业证书遗失补办（毕业证明书）", "访客入校预约"]
    )
    expect(page.get_by_text("共 3 项服务")).to_be_visible()
    expect(page.locator(".mainnav")).to_contain_text("我的申请")
    expect(page.locator(".mainnav").get_by_role("link", name=re.compile("待办"))).to_have_count(0)
    expect(page.locator('a[href="/tasks"]')).to_have_count(0)
    shot(page, "oc-04-offcampus-catalogue")

    # --- apply for 档案查询预约, filling the form like a person
    page.get_by_role("link", name="档案查询预约").click()
    expect(page.get_by_role("heading", name="档案查询预约", level=1)).to_be_visible()
    expect(page.locator("#f-name")).to_have_value(name)  # prefilled from the account
    expect(page.locator("#f-mobile")).to_have_value(ALUMNUS_MOBILE)
    page.get_by_label("个人").check()
    page.fill("#f-id_number", id_number("45030519900101123"))
    page.get_by_label("成绩单").check()
    page.get_by_label("学籍表").check()
    page.fill("#f-student_number", "2012010001")
    page.fill("#f-entry_year", "2012")
    page.fill("#f-major", "临床医学")
    page.set_input_files(
        "#f-id_photos",
        files=[{"name": "身份证正反面.png", "mimeType": "image/png", "buffer": tiny_png()}],
    )
    expect(page.locator(".files li")).to_contain_text("身份证正反面.png")
    shot(page, "oc-05-archive-form")
    page.get_by_role("button", name="提交", exact=True).click()
    page.wait_for_url(re.compile(r"/applications/\d+$"))
    expect(page.locator(".flash-success")).to_have_text("已提交")
    expect(page.locator(".flowchart li.current")).to_contain_text("档案馆核实并预约")
    app_id = int(page.url.rsplit("/", 1)[1])
    with live_hall.db.reader() as s:
        application = s.get(Application, app_id)
        assert application is not None
        serial = application.serial
        assert application.form["mobile"] == ALUMNUS_MOBILE
        assert application.form["contents"] == ["transcript", "status_form"]
    shot(page, "oc-06-application-submitted")
    postman.deliver()  # the submission tells the handler, never the alumnus's phone
    assert [m["template"] for m in postman.inbox(ALUMNUS_MOBILE)] == ["code"]

    # --- the archives' process_admin handles the to-do in the browser
    handler = contexts().new_page()
    sign_in(handler, live_hall, archives_handler(live_hall), "/tasks")
    handler.locator(f'a[href="/applications/{app_id}"]').first.click()
    handler.wait_for_url(live_hall.url(f"/applications/{app_id}"))
    expect(handler.get_by_role("heading", name=re.compile("办理操作"))).to_be_visible()
    expect(handler.get_by_role("link", name="身份证正反面.png")).to_be_visible()
    # the optional 办理须知 starts from its default, as the process defines it
    expect(handler.locator("#f-result-note")).to_have_value(
        "请携带身份证原件到主校区行政楼 1 楼档案馆办理。"
    )
    handler.fill("#f-result-appointment", APPOINTMENT)
    handler.fill("#decision-comment", "档案已核实")
    shot(handler, "oc-07-handler-form")
    handler.get_by_role("button", name="办结", exact=True).click()
    expect(handler.locator(".flash-success")).to_have_text("已办理")
    expect(handler.get_by_role("heading", name=re.compile("办理操作"))).to_have_count(0)
    shot(handler, "oc-08-handled")

    # --- the result reaches the alumnus's phone by SMS, with the short link
    postman.deliver()
    link = live_hall.url(f"/m/{app_id}")
    results = [m for m in postman.inbox(ALUMNUS_MOBILE) if m["template"] == "result"]
    assert len(results) == 1
    assert results[0]["params"] == {
        "title": "档案查询预约",
        "outcome": "已办结",
        "serial": serial,
        "no": str(app_id),
    }
    expected = (
        f"【网上办事大厅】您申请的档案查询预约已办结，办件编号{serial}。"
        f"详情请登录网上办事大厅查看：{link}"
    )
    assert results[0]["text"] == expected
    with live_hall.db.reader() as s:  # the SMS log: codes masked, both sent by the sandbox
        log = [
            (m.purpose, m.params, m.status, m.provider)
            for m in reversed(recent(s, phone=ALUMNUS_MOBILE))
        ]
        sms_delivery = s.scalar(
            select(Delivery.status)
            .join(Outbox, Outbox.id == Delivery.outbox_id)
            .where(
                Outbox.kind == Kind.APPLICATION_RESULT,
                Outbox.application_id == app_id,
                Delivery.channel == "sms",
            )
        )
    assert log == [
        (SmsPurpose.LOGIN, {"code": MASK}, SmsStatus.SENT, "sandbox"),
        (SmsPurpose.RESULT, results[0]["params"], SmsStatus.SENT, "sandbox"),
    ]
    assert sms_delivery == DeliveryStatus.SENT
    phone = contexts(viewport=PHONE).new_page()
    phone.goto(live_hall.url(f"/_sandbox/sms/?phone={ALUMNUS_MOBILE}"))
    expect(phone.get_by_text(expected)).to_be_visible()
    shot(phone, "oc-09-result-sms-on-the-phone")

    # --- the link, opened signed out, goes through the SMS sign-in to the application
    reader = contexts(viewport=PHONE).new_page()
    reader.goto(link)
    reader.wait_for_url(re.compile(r"/login/sms\?next=%2Fapplications%2F\d+$"))
    assert reader.url.endswith(f"%2Fapplications%2F{app_id}")
    a_minute_passes(redis_conn, ALUMNUS_MOBILE)
    ask_for_code(reader, ALUMNUS_MOBILE)
    second = postman.code_for(ALUMNUS_MOBILE)
    assert [m["template"] for m in postman.inbox(ALUMNUS_MOBILE)] == ["code", "result", "code"]
    enter_code(reader, second)
    reader.wait_for_url(live_hall.url(f"/applications/{app_id}"))
    # a handled service reads 已办结 on the page, as in the SMS
    expect(reader.locator(".status").first).to_have_text("已办结")
    expect(reader.locator("main")).to_contain_text(APPOINTMENT)
    expect(reader.locator(".tabbar")).to_be_visible()
    expect(reader.locator('.tabbar a[href="/tasks"]')).to_have_count(0)
    shot(reader, "oc-10-result-from-the-sms-link-phone")


def test_a_new_number_gives_its_name_and_gets_an_offcampus_account(
    live_hall: LiveHall, contexts, postman: Postman
) -> None:
    with live_hall.db.reader() as s:
        assert s.scalar(select(Person).where(Person.mobile == NEW_MOBILE)) is None

    page = contexts(viewport=PHONE).new_page()
    page.goto(live_hall.url("/login/sms?next=/"))
    ask_for_code(page, NEW_MOBILE)
    code = postman.code_for(NEW_MOBILE)
    enter_code(page, code)
    page.wait_for_url(re.compile(r"/login/sms/profile\?next=%2F$"))
    expect(page.get_by_role("heading", name="完善信息", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text("手机号 139****5678 已验证")
    with live_hall.db.reader() as s:  # no account until the name is given
        assert s.scalar(select(Person).where(Person.userid == f"oc{NEW_MOBILE}")) is None
    shot(page, "oc-11-profile-phone")

    page.fill("#name", "林晓雨")
    page.get_by_role("button", name="完成并登录").click()
    page.wait_for_url(live_hall.url("/"))
    expect(page.locator("ul.cards li.card")).to_have_count(3)
    expect(page.get_by_role("link", name="档案查询预约")).to_be_visible()
    expect(page.locator('a[href="/tasks"]')).to_have_count(0)
    expect(page.locator("body")).to_contain_text("林晓雨")
    shot(page, "oc-12-new-offcampus-person-signed-in")

    with live_hall.db.reader() as s:
        person = s.scalar(select(Person).where(Person.userid == f"oc{NEW_MOBILE}"))
        assert person is not None
        assert person.kind == PersonKind.OFFCAMPUS
        assert person.name == "林晓雨"
        assert person.mobile == NEW_MOBILE
        assert person.department_id is None

    # off-campus people sign out back to the SMS sign-in, not to the school's CAS
    page.get_by_role("link", name="退出").click()
    page.wait_for_url(live_hall.url("/login/sms"))
    expect(page.get_by_role("heading", name="校外人员登录", level=1)).to_be_visible()

    # the code was single use: replaying it in a fresh browser is refused
    again = contexts().new_page()
    again.goto(live_hall.url("/login/sms"))
    again.fill("#phone", NEW_MOBILE)
    enter_code(again, code)
    expect(again.locator("#sms-error")).to_have_text("验证码已失效，请重新获取。")


def test_a_visitor_finds_a_service_in_the_guide_and_signs_in_to_apply(
    live_hall: LiveHall, contexts, postman: Postman
) -> None:
    visitor = contexts(viewport=PHONE).new_page()
    visitor.goto(live_hall.url("/guide"))
    expect(visitor.locator("#sign-in-choices")).to_be_visible()
    visitor.get_by_role("link", name="毕业证书遗失补办（毕业证明书）").click()
    expect(visitor.locator("#guide-name")).to_have_text("毕业证书遗失补办（毕业证明书）")
    expect(visitor.get_by_text("所需材料")).to_be_visible()
    shot(visitor, "oc-13-guide-of-a-service")
    visitor.get_by_role("link", name="校外人员登录办理").click()
    visitor.wait_for_url(re.compile(r"/login/sms\?next=%2Fprocesses%2Fdiploma_reissue$"))
    ask_for_code(visitor, ALUMNUS_MOBILE)
    enter_code(visitor, postman.code_for(ALUMNUS_MOBILE))
    visitor.wait_for_url(live_hall.url("/processes/diploma_reissue"))
    expect(visitor.locator("#form-title")).to_have_text("毕业证书遗失补办（毕业证明书）")
    shot(visitor, "oc-14-the-form-after-signing-in")


VISITOR_MOBILE = "13912340001"


def test_a_teacher_invites_a_visitor_who_applies_from_the_sms_link_and_gets_a_pass(
    live_hall: LiveHall, contexts, postman: Postman
) -> None:
    # --- the teacher invites from the catalogue
    teacher = contexts().new_page()
    sign_in(teacher, live_hall, FIRST_TEACHER)
    teacher.get_by_role("link", name="发起邀请：访客入校预约").click()
    teacher.fill("#invitee-name", "林访客")
    teacher.fill("#invitee-phone", VISITOR_MOBILE)
    school_now = datetime.now(SCHOOL_TZ)
    start = (school_now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    end = (school_now + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    teacher.fill("[name='window.start']", start)
    teacher.fill("[name='window.end']", end)
    teacher.fill("[name='reason']", "参加学术讲座")
    shot(teacher, "oc-21-invite-form")
    teacher.get_by_role("button", name="发送邀请短信").click()
    expect(teacher.locator(".flash-success")).to_have_text("已向 139****0001 发送邀请短信")
    expect(teacher.locator("table.list")).to_contain_text("待填写")

    # --- the SMS carries the link; the visitor proves the number and completes the form
    postman.deliver()
    [invite] = [m for m in postman.inbox(VISITOR_MOBILE) if m["template"] == "invite"]
    found = re.search(r"请于\d+月\d+日\d\d:\d\d前点击链接填写：(http\S+/i/\S+)$", invite["text"])
    assert found is not None, invite["text"]
    visitor = contexts(viewport=PHONE).new_page()
    visitor.goto(found.group(1))
    expect(visitor.locator("main")).to_contain_text("邀请您办理访客入校预约")
    expect(visitor.locator("main")).to_contain_text("139****0001")
    shot(visitor, "oc-22-invitation-landing")
    visitor.get_by_role("link", name="验证手机号并填写").click()
    ask_for_code(visitor, VISITOR_MOBILE)
    enter_code(visitor, postman.code_for(VISITOR_MOBILE))
    visitor.fill("#name", "林访客")
    visitor.get_by_role("button", name="完成并登录").click()
    visitor.wait_for_url(re.compile(r"/processes/visitor_entry\?invite="))
    fixed = visitor.locator("#invitation")
    expect(fixed).to_contain_text("参加学术讲座")
    expect(fixed).to_contain_text(start.replace("T", " "))
    expect(visitor.locator("[name='reason']")).to_have_count(0)  # the inviter's, fixed
    visitor.fill("#f-id_number", id_number("45030519900101123"))
    visitor.set_input_files(
        "#f-photo", files=[{"name": "照片.png", "mimeType": "image/png", "buffer": tiny_png()}]
    )
    expect(visitor.locator(".files li")).to_contain_text("照片.png")
    shot(visitor, "oc-23-invited-form")
    visitor.get_by_role("button", name="提交", exact=True).click()
    visitor.wait_for_url(re.compile(r"/applications/\d+$"))
    app_id = int(visitor.url.rsplit("/", 1)[1])

    # --- the teacher, the host, confirms; the visitor has a valid pass
    teacher.goto(live_hall.url(f"/applications/{app_id}"))
    expect(teacher.locator("main")).to_contain_text(f"（{FIRST_TEACHER}）")
    teacher.get_by_role("button", name="同意", exact=True).click()
    expect(teacher.locator(".flash-success")).to_have_text("已同意")
    postman.deliver()
    assert [m["template"] for m in postman.inbox(VISITOR_MOBILE)] == [
        "invite",
        "code",
        "result",
    ]
    visitor.reload()
    visitor.get_by_role("link", name="入校通行码").click()
    expect(visitor.locator("main")).to_contain_text("有效")
    shot(visitor, "oc-24-visitor-pass")
    teacher.goto(live_hall.url("/invitations"))
    expect(teacher.locator("table.list")).to_contain_text("已提交")
