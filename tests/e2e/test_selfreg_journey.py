"""Self-registration in a real browser: the information center shows the join QR code; a
student opens the page on a phone, picks 学生, signs in at the sandbox CAS, is matched and
pushed (relay and worker run here); the sandbox WeCom shows them activated and the admin
page lists the row. Then a teacher joins through WeCom's member verification."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis
from playwright.sync_api import Page, expect
from rq import SimpleWorker
from sqlalchemy import select

from hall import jobs
from hall.channels import ChannelRegistry, InAppChannel, LogChannel
from hall.demo import FIRST_STUDENT, FIRST_TEACHER, IT_ADMIN
from hall.models import Person
from selfreg.push import JoinChannel
from tests.e2e.conftest import PHONE, LiveHall, shot, sign_in
from web.worker import build_relay, drain, make_queue
from wework.sandbox import sandbox_store


@pytest.fixture
def worker(live_hall: LiveHall, redis_conn: redis.Redis) -> Iterator[Callable[[], None]]:
    """One pass of the worker: relay the outbox, run the queued jobs."""
    settings = live_hall.app.extensions["hall.settings"]
    join = JoinChannel.from_settings(settings, redis_conn)
    channels = ChannelRegistry([InAppChannel(), LogChannel(), join])
    queue = make_queue(redis_conn)
    relay = build_relay(live_hall.db, channels, queue)
    context = jobs.JobContext(db=live_hall.db, channels=channels, max_attempts=3)
    rq_worker = SimpleWorker([queue], connection=redis_conn)

    def run() -> None:
        with jobs.bound(context):
            drain(relay, rq_worker)

    try:
        yield run
    finally:
        join.close()


def cas_sign_in(page: Page, userid: str) -> None:
    """The sandbox CAS's own page, as the person sees it."""
    expect(page.locator("#username")).to_be_visible()
    page.fill("#username", userid)
    page.fill("#password", "demo")
    page.click("button[type=submit]")


def test_a_student_joins_through_the_qr_code(live_hall: LiveHall, contexts, worker) -> None:
    admin = contexts().new_page()
    sign_in(admin, live_hall, IT_ADMIN, "/admin/selfreg")
    expect(admin.get_by_role("heading", name="自助注册", level=1)).to_be_visible()
    qr = admin.locator("#join-qr svg")
    expect(qr).to_be_visible()
    join_url = admin.locator("#join-qr code").inner_text()
    assert join_url == live_hall.url("/join")
    expect(admin.locator("#selfreg-rows")).to_have_count(0)
    shot(admin, "selfreg-01-admin-qr")

    phone = contexts(viewport=PHONE).new_page()
    phone.goto(join_url)  # what the QR code opens
    expect(phone.get_by_role("heading", name="加入学校企业微信")).to_be_visible()
    phone.locator("label[for=kind-student]").click()
    expect(phone.locator("#kind-student")).to_be_checked()
    shot(phone, "selfreg-02-choose-type-phone")
    phone.get_by_role("button", name="前往统一身份认证").click()
    cas_sign_in(phone, FIRST_STUDENT)
    phone.wait_for_url(live_hall.url("/join/status"))
    expect(phone.locator("#registration")).to_have_attribute("data-status", "pending")
    expect(phone.get_by_role("heading", level=1)).to_have_text("身份已核对，正在加入学校企业微信")
    shot(phone, "selfreg-03-matched-pending-phone")

    worker()
    # the page refreshes itself while the push is pending
    expect(phone.locator("#registration")).to_have_attribute(
        "data-status", "joined", timeout=10_000
    )
    expect(phone.get_by_role("heading", level=1)).to_have_text("您已加入学校企业微信")
    shot(phone, "selfreg-04-joined-phone")

    wecom = contexts().new_page()
    wecom.goto(live_hall.url(f"/_sandbox/wecom/?userid={FIRST_STUDENT}"))
    expect(wecom.locator("#member-status")).to_have_text("已激活")
    expect(wecom.locator("#joining")).to_contain_text("已激活")
    shot(wecom, "selfreg-05-sandbox-wecom-activated")

    admin.reload()
    row = admin.locator(f'#selfreg-rows tr[data-userid="{FIRST_STUDENT}"]')
    expect(row).to_contain_text("已加入")
    expect(row).to_contain_text("扫码")
    expect(admin.locator('#selfreg-counts a[data-status="joined"]')).to_contain_text("1")
    shot(admin, "selfreg-06-admin-table")


def test_a_teacher_joins_through_wecom_member_verification(
    live_hall: LiveHall, contexts, worker
) -> None:
    store = sandbox_store(live_hall.app)
    with live_hall.db.reader() as s:
        teacher = s.scalar(select(Person).where(Person.userid == FIRST_TEACHER))
        assert teacher is not None
        # the nightly push made the teacher a member who has not joined yet
        store.create_user(
            {
                "userid": teacher.userid,
                "name": teacher.name,
                "department": [1],
                "mobile": teacher.mobile,
            }
        )
    phone = contexts(viewport=PHONE).new_page()
    phone.goto(live_hall.url(f"/_sandbox/wecom/?userid={FIRST_TEACHER}"))
    expect(phone.locator("#member-status")).to_have_text("未激活")
    phone.get_by_role("button", name="扫码加入学校").click()
    phone.wait_for_url(live_hall.url("/join"))
    expect(phone.locator("#joining-member")).to_contain_text(FIRST_TEACHER)
    phone.locator("label[for=kind-staff]").click()
    shot(phone, "selfreg-07-verification-phone")
    phone.get_by_role("button", name="前往统一身份认证").click()
    cas_sign_in(phone, FIRST_TEACHER)
    phone.wait_for_url(live_hall.url("/join/status"))
    worker()
    expect(phone.locator("#registration")).to_have_attribute(
        "data-status", "joined", timeout=10_000
    )
    phone.goto(live_hall.url(f"/_sandbox/wecom/?userid={FIRST_TEACHER}"))
    expect(phone.locator("#member-status")).to_have_text("已激活")
    shot(phone, "selfreg-08-verified-activated-phone")
