"""Off-campus sign-in by SMS code, page by page (the browser journey is tests/e2e): codes are
queued through the outbox and held only in Redis, the hall's limits answer before any
gateway, a proved number signs in to its account or opens one, and nothing else does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from config import load_settings
from hall import offcampus
from hall.db import Database
from hall.models import Outbox, Person, PersonKind, PersonStatus
from sms.models import MASK, SmsMessage, SmsPurpose, SmsStatus
from sso.sessions import COOKIE_NAME
from tests import factories
from tests.web_views.conftest import csrf_of
from web.app import create_app
from web.sms_channel import CODE_KIND, PENDING_CODE

ALUMNUS_PHONE = "13877310001"
NEW_PHONE = "13912345678"


@pytest.fixture
def alumnus(session: Session) -> Person:
    who = factories.person(
        session,
        "丁翔",
        kind=PersonKind.OFFCAMPUS,
        userid=f"oc{ALUMNUS_PHONE}",
        mobile=ALUMNUS_PHONE,
    )
    session.commit()
    return who


def _post(client: FlaskClient, path: str, **data: str) -> TestResponse:
    token = csrf_of(client, "/login/sms")
    return client.post(path, data={"csrf_token": token, **data})


def _send(client: FlaskClient, phone: str) -> TestResponse:
    return _post(client, "/login/sms/code", phone=phone)


def _code(session: Session, conn: redis.Redis, phone: str) -> str:
    session.expire_all()
    row = session.scalars(
        select(SmsMessage).where(SmsMessage.phone == phone).order_by(SmsMessage.id.desc())
    ).first()
    assert row is not None
    value = conn.get(f"{PENDING_CODE}{row.out_id}")
    assert isinstance(value, bytes)
    return value.decode()


def _signed_in_as(client: FlaskClient) -> object:
    with client.session_transaction() as s:
        return s.get("userid"), s.get("login_via")


def test_a_code_is_queued_through_the_outbox_and_never_stored_in_the_database(
    app: Flask, session: Session, redis_conn: redis.Redis
) -> None:
    client = app.test_client()
    page = _send(client, "138 7731 0001")
    assert page.status_code == 200
    assert "验证码已发送至 138****0001" in page.get_data(as_text=True)
    row = session.scalars(select(SmsMessage)).one()
    assert (row.phone, row.purpose, row.status) == (
        ALUMNUS_PHONE,
        SmsPurpose.LOGIN,
        SmsStatus.QUEUED,
    )
    assert row.params == {"code": MASK}
    outbox = session.get(Outbox, row.outbox_id)
    assert outbox is not None
    assert outbox.kind == CODE_KIND
    assert outbox.payload == {"sms_message_id": row.id}
    code = _code(session, redis_conn, ALUMNUS_PHONE)
    assert re.fullmatch(r"\d{6}", code)
    assert 0 < redis_conn.ttl(f"{PENDING_CODE}{row.out_id}") <= 300


@pytest.mark.parametrize("phone", ["", "12345", "23877310001", "1387731000a", "138773100012"])
def test_a_bad_number_is_refused_and_nothing_is_queued(
    app: Flask, session: Session, phone: str
) -> None:
    page = _send(app.test_client(), phone)
    assert page.status_code == 400
    assert "请输入正确的手机号码" in page.get_data(as_text=True)
    assert session.scalars(select(SmsMessage)).first() is None


def test_a_second_code_within_the_minute_is_refused_with_the_wait(
    app: Flask, session: Session
) -> None:
    client = app.test_client()
    _send(client, ALUMNUS_PHONE)
    again = _send(client, ALUMNUS_PHONE)
    assert again.status_code == 429
    text = again.get_data(as_text=True)
    assert re.search(r"发送过于频繁，请 \d+ 秒后再试", text)
    assert 'data-wait="' in text
    assert 'data-wait="0"' not in text
    assert len(session.scalars(select(SmsMessage)).all()) == 1


def test_the_page_answers_in_english_on_request(app: Flask) -> None:
    client = app.test_client()
    client.set_cookie("hall_lang", "en")
    page = client.get("/login/sms", headers={"Accept-Language": "en"})
    assert "Off-campus sign-in" in page.get_data(as_text=True)


def test_without_the_csrf_token_nothing_is_sent(app: Flask, session: Session) -> None:
    page = app.test_client().post("/login/sms/code", data={"phone": ALUMNUS_PHONE})
    assert page.status_code == 400
    assert session.scalars(select(SmsMessage)).first() is None


def test_the_right_code_signs_the_alumnus_in_once(
    app: Flask, session: Session, redis_conn: redis.Redis, alumnus: Person
) -> None:
    client = app.test_client()
    _send(client, ALUMNUS_PHONE)
    code = _code(session, redis_conn, ALUMNUS_PHONE)
    signed = _post(client, "/login/sms", phone=ALUMNUS_PHONE, code=code, next="/applications")
    assert signed.status_code == 302
    assert signed.headers["Location"] == "/applications"
    assert _signed_in_as(client) == (alumnus.userid, "sms")
    assert client.get("/applications").status_code == 200
    # single use: the same code in another browser does nothing
    other = app.test_client()
    again = _post(other, "/login/sms", phone=ALUMNUS_PHONE, code=code)
    assert again.status_code == 400
    assert "验证码已失效" in again.get_data(as_text=True)
    assert _signed_in_as(other) == (None, None)


def test_wrong_codes_count_down_then_the_code_is_dead(
    app: Flask, session: Session, redis_conn: redis.Redis, alumnus: Person
) -> None:
    client = app.test_client()
    _send(client, ALUMNUS_PHONE)
    code = _code(session, redis_conn, ALUMNUS_PHONE)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        page = _post(client, "/login/sms", phone=ALUMNUS_PHONE, code=wrong)
        assert f"验证码不正确，还可以再试 {left} 次" in page.get_data(as_text=True)
    _post(client, "/login/sms", phone=ALUMNUS_PHONE, code=wrong)
    late = _post(client, "/login/sms", phone=ALUMNUS_PHONE, code=code)
    assert "验证码已失效" in late.get_data(as_text=True)
    assert _signed_in_as(client) == (None, None)


def test_a_new_number_opens_an_off_campus_account_with_the_name_given(
    app: Flask, session: Session, redis_conn: redis.Redis
) -> None:
    client = app.test_client()
    _send(client, NEW_PHONE)
    code = _code(session, redis_conn, NEW_PHONE)
    proved = _post(client, "/login/sms", phone=NEW_PHONE, code=code, next="/")
    assert proved.status_code == 302
    assert proved.headers["Location"].startswith("/login/sms/profile")
    assert _signed_in_as(client) == (None, None)
    form = client.get(proved.headers["Location"])
    assert "139****5678" in form.get_data(as_text=True)
    token = csrf_of(client, "/login/sms")
    short = client.post("/login/sms/profile", data={"csrf_token": token, "name": "王", "next": "/"})
    assert short.status_code == 400
    assert session.scalar(select(Person).where(Person.userid == f"oc{NEW_PHONE}")) is None
    done = client.post(
        "/login/sms/profile", data={"csrf_token": token, "name": " 王  女士 ", "next": "/"}
    )
    assert done.status_code == 302
    assert done.headers["Location"] == "/"
    session.expire_all()
    person = session.scalar(select(Person).where(Person.userid == f"oc{NEW_PHONE}"))
    assert person is not None
    assert (person.kind, person.name, person.mobile, person.status) == (
        PersonKind.OFFCAMPUS,
        "王 女士",
        NEW_PHONE,
        PersonStatus.ACTIVE,
    )
    assert _signed_in_as(client) == (person.userid, "sms")
    catalogue = client.get("/").get_data(as_text=True)
    assert 'href="/tasks"' not in catalogue  # off-campus people only apply


def test_the_profile_page_needs_a_proved_number(app: Flask, session: Session) -> None:
    client = app.test_client()
    page = client.get("/login/sms/profile?next=/")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login/sms")
    token = csrf_of(client, "/login/sms")
    posted = client.post("/login/sms/profile", data={"csrf_token": token, "name": "冒名者"})
    assert posted.status_code == 302
    assert session.scalars(select(Person).where(Person.name == "冒名者")).first() is None


def test_a_school_members_number_is_sent_to_the_school_sign_in(
    app: Flask, session: Session, redis_conn: redis.Redis
) -> None:
    staff = factories.person(session, "李老师", userid="t1", mobile="13700000009")
    session.commit()
    client = app.test_client()
    _send(client, staff.mobile or "")
    code = _code(session, redis_conn, "13700000009")
    page = _post(client, "/login/sms", phone="13700000009", code=code)
    assert page.status_code == 403
    assert "请使用统一身份认证登录" in page.get_data(as_text=True)
    assert _signed_in_as(client) == (None, None)
    assert session.scalar(select(Person).where(Person.userid == "oc13700000009")) is None


def test_a_disabled_off_campus_account_does_not_sign_in(
    app: Flask, session: Session, redis_conn: redis.Redis, alumnus: Person
) -> None:
    alumnus.status = PersonStatus.INACTIVE
    session.commit()
    client = app.test_client()
    _send(client, ALUMNUS_PHONE)
    page = _post(
        client, "/login/sms", phone=ALUMNUS_PHONE, code=_code(session, redis_conn, ALUMNUS_PHONE)
    )
    assert page.status_code == 403
    assert _signed_in_as(client) == (None, None)


def test_the_sms_link_lands_on_the_application_through_the_sign_in(
    app: Flask, alumnus: Person
) -> None:
    out = app.test_client().get("/m/42")
    assert out.status_code == 302
    assert out.headers["Location"] == "/login/sms?next=%2Fapplications%2F42"
    client = app.test_client()
    with client.session_transaction() as s:
        s["person_id"] = alumnus.id
        s["userid"] = alumnus.userid
        s["login_via"] = "sms"
    assert client.get("/m/42").headers["Location"] == "/applications/42"
    # signing out of an SMS session goes back to the SMS sign-in, not to CAS
    assert client.get("/logout").headers["Location"] == "/login/sms"


def test_a_next_that_leaves_the_hall_is_ignored(
    app: Flask, session: Session, redis_conn: redis.Redis, alumnus: Person
) -> None:
    client = app.test_client()
    _send(client, ALUMNUS_PHONE)
    code = _code(session, redis_conn, ALUMNUS_PHONE)
    page = _post(client, "/login/sms", phone=ALUMNUS_PHONE, code=code, next="https://evil.example/")
    assert page.headers["Location"] == "/"


def _app_with(db: Database, redis_conn: redis.Redis, tmp_path: Path, **settings: object) -> Flask:
    config = load_settings(
        var_dir=tmp_path,
        secret_key="offcampus-test",
        database_url=db.engine.url.render_as_string(hide_password=False),
        sandbox=True,
        **settings,
    )
    return create_app(config, database=db, redis=redis_conn)


@pytest.mark.parametrize(("proxies", "refused"), [(0, True), (1, False)])
def test_the_address_limit_counts_clients_behind_a_trusted_proxy(
    db: Database, redis_conn: redis.Redis, tmp_path: Path, proxies: int, refused: bool
) -> None:
    app = _app_with(db, redis_conn, tmp_path, trusted_proxies=proxies)
    statuses = []
    for n in range(21):  # 20 an hour per address
        client = app.test_client()
        token = csrf_of(client, "/login/sms")
        answer = client.post(
            "/login/sms/code",
            data={"csrf_token": token, "phone": f"1390000{n:04d}"},
            headers={"X-Forwarded-For": f"203.0.113.{n}"},  # a forged header without a proxy
        )
        statuses.append(answer.status_code)
    assert statuses[:20] == [200] * 20
    assert (statuses[20] == 429) is refused


def _signed_in(app: Flask, who: Person) -> FlaskClient:
    client = app.test_client()
    with client.session_transaction() as s:
        s["person_id"] = who.id
        s["userid"] = who.userid
        s["login_via"] = "sms"
    return client


def test_off_campus_people_reach_only_the_applicants_pages(
    app: Flask, session: Session, alumnus: Person
) -> None:
    staff = factories.person(session, "李老师", userid="t1")
    session.commit()
    client = _signed_in(app, alumnus)
    for path in ("/", "/applications", "/messages"):
        assert client.get(path).status_code == 200, path
    for path in ("/people/search?q=oc", "/tasks", "/tasks/done", "/delegations", "/monitor"):
        assert client.get(path).status_code == 404, path
    # and nobody finds them in the picker: their userid is their number
    picker = _signed_in(app, staff).get("/people/search?q=oc138").get_data(as_text=True)
    assert "丁翔" not in picker
    assert ALUMNUS_PHONE not in picker


def test_full_width_digits_are_the_same_number_and_other_scripts_none(
    app: Flask, session: Session
) -> None:
    client = app.test_client()
    assert _send(client, "１３８７７３１０００１").status_code == 200
    assert session.scalars(select(SmsMessage.phone)).all() == [ALUMNUS_PHONE]
    again = _send(app.test_client(), ALUMNUS_PHONE)  # the same number: the minute's limit
    assert again.status_code == 429
    arabic = _send(app.test_client(), "١٣٨٧٧٣١٠٠٠٢")
    assert arabic.status_code == 400


def test_proving_a_new_number_gives_the_session_a_new_id(
    app: Flask, session: Session, redis_conn: redis.Redis
) -> None:
    client = app.test_client()
    _send(client, NEW_PHONE)
    before = client.get_cookie(COOKIE_NAME)
    assert before is not None
    _post(client, "/login/sms", phone=NEW_PHONE, code=_code(session, redis_conn, NEW_PHONE))
    after = client.get_cookie(COOKIE_NAME)
    assert after is not None
    assert after.value != before.value  # a planted session id never carries the proof


def test_the_hourly_allowance_says_how_long_to_wait(
    app: Flask, session: Session, redis_conn: redis.Redis
) -> None:
    for _ in range(5):
        assert _send(app.test_client(), ALUMNUS_PHONE).status_code == 200
        redis_conn.delete(f"sms:limit:phone:60:{ALUMNUS_PHONE}")  # the minute has passed
    sixth = _send(app.test_client(), ALUMNUS_PHONE)
    assert sixth.status_code == 429
    assert re.search(r"该号码获取验证码的次数过多，请 \d+ 分钟后再试", sixth.get_data(as_text=True))


def test_opening_an_account_twice_gives_the_same_one_and_never_a_closed_one(
    session: Session, alumnus: Person
) -> None:
    first = offcampus.open_account(session, NEW_PHONE, "王女士")
    again = offcampus.open_account(session, NEW_PHONE, "别的名字")
    assert again.id == first.id
    assert again.name == "王女士"
    alumnus.status = PersonStatus.INACTIVE
    session.flush()
    with pytest.raises(offcampus.NotOpen):
        offcampus.open_account(session, ALUMNUS_PHONE, "丁翔")
