"""通行码 on the web: the applicant's button on an approved application, and the public page
`/pass/<token>` a guard scans: its live state (driven by the hall's clock), its QR code of
its own address, nothing personal beyond the masked name, and 404 for any bad token."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from hall import demo
from hall.clock import FrozenClock
from hall.db import Database
from hall.models import Application, Person, PersonKind
from hall.services import Decision, Hall
from hall.states import AppStatus
from tests import factories
from tests.web_views.conftest import School
from tests.web_views.helpers import pending_task, post, text
from web.views.passes import SALT, qr_svg, token_for

# The window, in the school's wall time (UTC+8): 2026-09-02 08:00 → 2026-09-03 20:00.
WINDOW = {"start": "2026-09-02T08:00", "end": "2026-09-03T20:00"}
BEFORE = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)  # FrozenClock's start: 16:00 the day before
OPENS = datetime(2026, 9, 2, 0, 0, tzinfo=UTC)  # 08:00 local
CLOSES = datetime(2026, 9, 3, 12, 0, tzinfo=UTC)  # 20:00 local
ID_NUMBER = "110101199003074514"
HOST = {"type": "persons", "userids": ["bob"]}
PASS_LINK = re.compile(r'href="(/pass/[^"]+)"')


def gate_spec(**overrides: object) -> dict[str, object]:
    spec = factories.simple_spec(
        "CS",
        key="visit",
        name="入校预约",
        form=[
            {"key": "reason", "label": "事由", "type": "text", "required": True},
            {"key": "window", "label": "入校时间", "type": "datetime_range", "required": True},
            {"key": "phone", "label": "手机", "type": "mobile", "required": True},
            {"key": "id_no", "label": "身份证号", "type": "idcard"},
        ],
        options={
            "gate_pass": {"field": "window", "label": "入校通行码"},
            "revoke_window_hours": 72,
        },
    )
    spec.update(overrides)
    return spec


@dataclass
class Approved:
    app_id: int
    serial: str
    clock: FrozenClock
    hall: Hall


def approved(
    app: Flask, db: Database, session: Session, applicant: Person, approver: Person, **spec: object
) -> Approved:
    clock = FrozenClock(BEFORE)
    app.extensions["hall.clock"] = clock
    factories.process(session, gate_spec(**spec))
    session.commit()
    hall = Hall(db, clock)
    form = {"reason": "参加学术会议", "window": WINDOW, "phone": "13800138000", "id_no": ID_NUMBER}
    app_id = hall.submit(applicant.id, "visit", form).application_id
    hall.decide(approver.id, pending_task(session, app_id).id, Decision("approve"))
    serial = session.scalar(select(Application.serial).where(Application.id == app_id))
    assert serial is not None
    return Approved(app_id, serial, clock, hall)


def move(clock: FrozenClock, moment: datetime) -> None:
    clock.advance(seconds=(moment - clock.now()).total_seconds())


def pass_link(client: FlaskClient, app_id: int) -> str:
    page = text(client.get(f"/applications/{app_id}"))
    found = PASS_LINK.search(page)
    assert found is not None, "no pass button"
    return unescape(found.group(1))


def token_for_test(app: Flask, done: Approved) -> str:
    with app.test_request_context():
        return token_for(done.app_id, done.serial)


def state_of(page: str) -> str:
    found = re.search(r'<div class="pass-state"[^>]*><strong>([^<]+)</strong>', page)
    assert found is not None
    return found.group(1)


def test_the_applicant_opens_the_pass_of_an_approved_application(
    app: Flask, client_for, db: Database, session: Session, school: School
) -> None:
    done = approved(app, db, session, school.alice, school.bob)
    alice = client_for(school.alice)
    detail = text(alice.get(f"/applications/{done.app_id}"))
    assert 'class="btn btn-primary btn-pass"' in detail
    assert ">入校通行码</a>" in detail
    link = pass_link(alice, done.app_id)
    response = client_for(None).get(link)  # the guard is not signed in
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = text(response)
    assert '<h1 class="pass-label">入校通行码</h1>' in page
    assert "入校预约" in page
    assert done.serial in page
    assert "王*丽" in page
    assert "2026-09-02 08:00 至 2026-09-03 20:00" in page
    assert "2026-09-01 16:00:00" in page  # the time of checking, local
    assert 'data-now-ms="1788249600000"' in page  # the live clock starts at the hall's time
    assert "pass.js" in page
    # nothing personal beyond the masked name: no ID number, mobile, reason or userid
    for secret in ("王小丽", ID_NUMBER, "13800138000", "参加学术会议", "alice", "李处长"):
        assert secret not in page
    # the QR code is this very page's absolute address, so a scan shows the same page
    url = "http://127.0.0.1:5000" + link
    assert qr_svg(url) in page
    assert url == "http://127.0.0.1:5000/pass/" + token_for_test(app, done)


def test_the_state_follows_the_hall_clock(
    app: Flask, client_for, db: Database, session: Session, school: School
) -> None:
    done = approved(app, db, session, school.alice, school.bob)
    link = pass_link(client_for(school.alice), done.app_id)
    guard = client_for(None)
    seen = {}
    for moment in (BEFORE, OPENS, CLOSES, CLOSES.replace(second=1)):
        move(done.clock, moment)
        page = text(guard.get(link))
        seen[moment] = (state_of(page), re.search(r'class="[^"]*(pass-\w+)"', page))
    assert [state for state, _ in seen.values()] == ["未到有效时间", "有效", "有效", "已过期"]
    classes = [m.group(1) if m else "" for _, m in seen.values()]
    assert classes == ["pass-not_yet", "pass-valid", "pass-valid", "pass-expired"]


def test_a_revoked_pass_says_so(
    app: Flask, client_for, db: Database, session: Session, school: School
) -> None:
    done = approved(app, db, session, school.alice, school.bob)
    alice = client_for(school.alice)
    link = pass_link(alice, done.app_id)
    move(done.clock, OPENS)
    assert state_of(text(client_for(None).get(link))) == "有效"
    done.hall.revoke(school.alice.id, done.app_id, comment="行程取消")
    response = client_for(None).get(link)
    assert response.status_code == 200
    assert state_of(text(response)) == "已撤销"
    assert PASS_LINK.search(text(alice.get(f"/applications/{done.app_id}"))) is None


@pytest.mark.parametrize("ending", ["withdraw", "reject"])
def test_an_application_that_was_not_approved_gives_no_valid_pass(
    ending: str, app: Flask, client_for, session: Session, school: School
) -> None:
    clock = FrozenClock(OPENS)
    app.extensions["hall.clock"] = clock
    factories.process(session, gate_spec())
    session.commit()
    hall = Hall(app.extensions["hall.db"], clock)
    form = {"reason": "参加学术会议", "window": WINDOW, "phone": "13800138000"}
    app_id = hall.submit(school.alice.id, "visit", form).application_id
    alice = client_for(school.alice)
    assert PASS_LINK.search(text(alice.get(f"/applications/{app_id}"))) is None  # pending
    if ending == "withdraw":
        hall.withdraw(school.alice.id, app_id)
    else:
        hall.decide(school.bob.id, pending_task(session, app_id).id, Decision("reject"))
    assert PASS_LINK.search(text(alice.get(f"/applications/{app_id}"))) is None
    serial = session.scalar(select(Application.serial).where(Application.id == app_id))
    assert serial is not None
    with app.test_request_context():
        token = token_for(app_id, serial)
    response = client_for(None).get(f"/pass/{token}")
    assert response.status_code == 200
    assert state_of(text(response)) == "无效"


def test_the_button_is_the_applicant_s_alone(
    app: Flask, client_for, db: Database, session: Session, school: School
) -> None:
    done = approved(app, db, session, school.alice, school.bob)
    reviewer = text(client_for(school.bob).get(f"/applications/{done.app_id}"))
    assert "/applications/" in reviewer  # the reviewer sees the application ...
    assert PASS_LINK.search(reviewer) is None  # ... but not the pass
    # an approved application of a process without a gate pass has none either
    plain = Hall(db, done.clock).submit(school.alice.id, "simple", {"reason": "开会"})
    task = pending_task(session, plain.application_id)
    Hall(db, done.clock).decide(school.bob.id, task.id, Decision("approve"))
    page = text(client_for(school.alice).get(f"/applications/{plain.application_id}"))
    assert "已通过" in page
    assert PASS_LINK.search(page) is None


def test_forged_or_foreign_tokens_are_404(
    app: Flask, client_for, db: Database, session: Session, school: School
) -> None:
    done = approved(app, db, session, school.alice, school.bob)
    link = pass_link(client_for(school.alice), done.app_id)
    token = link.removeprefix("/pass/")
    guard = client_for(None)
    plain = Hall(db, done.clock).submit(school.alice.id, "simple", {"reason": "开会"})
    plain_serial = session.scalar(
        select(Application.serial).where(Application.id == plain.application_id)
    )
    assert plain_serial is not None
    with app.app_context():
        right = URLSafeSerializer(app.config["SECRET_KEY"], salt=SALT)
        unknown = right.dumps([done.app_id + 1000, done.serial])
        wrong_serial = right.dumps([done.app_id, plain_serial])
        no_gate_pass = right.dumps([plain.application_id, plain_serial])
        odd_shapes = [right.dumps(["1", done.serial]), right.dumps([True, done.serial])]
        odd_shapes.append(right.dumps({"id": done.app_id}))
    forged = URLSafeSerializer("not-the-key", salt=SALT).dumps([done.app_id, done.serial])
    other_salt = URLSafeSerializer(app.config["SECRET_KEY"], salt="hall.approval-record.v1")
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    bad = [tampered, forged, other_salt.dumps([done.app_id, done.serial]), "garbage"]
    bad += [unknown, wrong_serial, no_gate_pass, *odd_shapes, token + "x" * 300]
    for candidate in bad:
        response = guard.get(f"/pass/{candidate}")
        assert response.status_code == 404, candidate
        page = text(response)
        assert "无效的通行码" in page
        assert done.serial not in page
        assert "王*丽" not in page
        assert "<svg" not in page
    assert guard.get(link).status_code == 200


def test_the_pass_in_english(
    app: Flask, client_for, db: Database, session: Session, school: School
) -> None:
    done = approved(app, db, session, school.alice, school.bob)
    link = pass_link(client_for(school.alice), done.app_id)
    move(done.clock, OPENS)
    english = {"Accept-Language": "en"}
    page = text(client_for(None).get(link, headers=english))
    assert '<html lang="en">' in page
    for words in ("Valid", "Current time", "Valid during", "Checked at", "Serial"):
        assert words in page, words
    assert "2026-09-02 08:00 to 2026-09-03 20:00" in page
    # the records' own text stays as written (the label, the service, the masked name)
    chinese = set(re.findall(r"[\u4e00-\u9fff]+", re.sub(r"<[^>]+>", " ", page)))
    assert chinese <= {"入校通行码", "入校预约", "王", "丽", "中文", "切换到中文"}
    invalid = client_for(None).get("/pass/garbage", headers=english)
    assert invalid.status_code == 404
    assert "Invalid gate pass" in text(invalid)


def test_an_off_campus_applicant_reaches_the_pass(
    app: Flask, client_for, db: Database, session: Session, school: School
) -> None:
    visitor = factories.person(
        session, "丁翔", kind=PersonKind.OFFCAMPUS, userid="oc13877310001", mobile="13877310001"
    )
    done = approved(
        app,
        db,
        session,
        visitor,
        school.bob,
        audience=["offcampus"],
        flow=[{"key": "host", "name": "接待人审批", "approver": HOST}],
    )
    move(done.clock, OPENS)
    client = client_for(visitor)
    link = pass_link(client, done.app_id)
    response = client.get(link)
    assert response.status_code == 200
    page = text(response)
    assert state_of(page) == "有效"
    assert "丁*" in page
    assert "13877310001" not in page


def test_the_demo_leave_campus_end_to_end(
    app: Flask, client_for, db: Database, session: Session
) -> None:
    with db.unit_of_work() as s:
        assert demo.load_demo(s) is not None
    clock = FrozenClock(datetime(2026, 9, 1, 1, 0, tzinfo=UTC))  # 09:00 in the school
    app.extensions["hall.clock"] = clock
    student = session.scalar(select(Person).where(Person.userid == demo.FIRST_STUDENT))
    counsellor = session.scalar(select(Person).where(Person.userid == demo.FIRST_COUNSELLOR))
    assert student is not None
    assert student.mobile is not None
    assert counsellor is not None
    me = client_for(student)
    form = text(me.get("/processes/leave_campus"))
    assert "离校/返校时间" in form
    assert student.mobile in form  # prefilled
    applied = post(
        me,
        "/processes/leave_campus/apply",
        {
            "action": "submit",
            "window.start": "2026-09-01T14:00",
            "window.end": "2026-09-02T21:00",
            "destination": "市第一人民医院",
            "reason": "复诊",
            "mobile": student.mobile,
        },
        page="/processes/leave_campus",
    )
    assert applied.status_code == 302, text(applied)[:2000]
    app_id = int(applied.headers["Location"].rsplit("/", 1)[-1])
    assert PASS_LINK.search(text(me.get(f"/applications/{app_id}"))) is None
    task = pending_task(session, app_id)
    assert task.assignee_id == counsellor.id
    decided = post(
        client_for(counsellor),
        f"/tasks/{task.id}/decide",
        {"action": "approve"},
        page=f"/applications/{app_id}",
    )
    assert decided.status_code == 302
    session.expire_all()
    application = session.get(Application, app_id)
    assert application is not None
    assert application.status is AppStatus.APPROVED
    link = pass_link(me, app_id)
    guard = client_for(None)
    assert state_of(text(guard.get(link))) == "未到有效时间"  # 09:00, leaving at 14:00
    clock.advance(hours=6)  # 15:00
    page = text(guard.get(link))
    assert state_of(page) == "有效"
    assert "出校通行码" in page
    assert "学生出校申请" in page
    assert "2026-09-01 14:00 至 2026-09-02 21:00" in page
    assert student.name not in page
    assert student.mobile not in page
    clock.advance(days=2)
    assert state_of(text(guard.get(link))) == "已过期"
