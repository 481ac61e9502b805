"""Invitations in the web view: a staff member invites a visitor from the catalogue, the
SMS link lands on a page that asks for the invited number's code, and the invitee's form
shows what the inviter filled without letting it change. Forged links, other numbers and
used-up invitations get clear pages and change nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hall import invitations
from hall.db import Database
from hall.engine import SCHOOL_TZ
from hall.models import Application, Invitation, Outbox, Person
from hall.services import Decision, Hall
from sms.models import SmsMessage, SmsPurpose, SmsStatus
from tests import factories
from tests.web_views.conftest import csrf_of
from tests.web_views.helpers import pending_task, text

VISITOR_PHONE = factories.VISITOR_PHONE
SECRET = "web-views-test"
# Visits a month ahead of the real clock the pages run on (invitations to past visits are
# refused); the link lasts its 7 days.
VISIT_DAY = (datetime.now(SCHOOL_TZ) + timedelta(days=30)).date().isoformat()
OTHER_DAY = (
    (datetime.now(SCHOOL_TZ) + timedelta(days=40)).date().isoformat()
)  # the app fixture's secret key


@pytest.fixture
def visit(session: Session) -> SimpleNamespace:
    return factories.visit_school(session)


INVITE_FORM = {
    "invitee_name": "来访者",
    "invitee_phone": "138 7731 0009",
    "window.start": f"{VISIT_DAY}T09:00",
    "window.end": f"{VISIT_DAY}T17:00",
    "reason": "学术交流",
}


def _post(client: FlaskClient, path: str, data: dict[str, Any], *, form_page: str) -> Any:
    return client.post(path, data={"csrf_token": csrf_of(client, form_page), **data})


def _invite(client: FlaskClient, **changes: str) -> Any:
    return _post(
        client,
        "/processes/visit/invite",
        {**INVITE_FORM, **changes},
        form_page="/processes/visit/invite",
    )


def _the_invitation(session: Session) -> Invitation:
    session.expire_all()
    return session.scalars(select(Invitation)).one()


def test_staff_find_the_invitation_on_the_catalogue_and_send_one(
    client_for: Any, session: Session, visit: SimpleNamespace
) -> None:
    client = client_for(visit.host)
    catalogue = text(client.get("/"))
    assert "邀请校外人员" in catalogue
    assert 'href="/processes/visit/invite"' in catalogue
    form = text(client.get("/processes/visit/invite"))
    assert "访客手机号" in form
    assert "来访时段" in form
    assert "来访事由" in form
    assert "身份证号" not in form  # the invitee's own fields are theirs to fill
    sent = _invite(client)
    assert sent.status_code == 302
    listing = text(client.get(sent.headers["Location"]))
    assert "已向 138****0009 发送邀请短信" in listing
    assert "来访者" in listing
    assert "待填写" in listing
    found = _the_invitation(session)
    assert found.phone == VISITOR_PHONE
    assert found.values["host"] == "host1"
    assert session.scalar(
        select(func.count(Outbox.id)).where(Outbox.kind == invitations.INVITE_KIND)
    )


def test_a_bad_invitation_form_comes_back_with_each_problem(
    client_for: Any, session: Session, visit: SimpleNamespace
) -> None:
    client = client_for(visit.host)
    page = _invite(client, invitee_name="李", invitee_phone="12345", reason="")
    assert page.status_code == 422
    body = text(page)
    assert "请填写 2–32 个字的姓名" in body
    assert "请填写正确的手机号码" in body
    assert 'value="12345"' in body  # what was typed stays
    assert session.scalar(select(func.count(Invitation.id))) == 0


@pytest.mark.parametrize("who", ["student", "visitor"])
def test_only_staff_reach_the_invitation_pages(
    client_for: Any, visit: SimpleNamespace, who: str
) -> None:
    client = client_for(getattr(visit, who))
    assert client.get("/processes/visit/invite").status_code == 404
    assert client.get("/invitations").status_code == 404
    assert "邀请校外人员" not in text(client.get("/"))


def test_the_inviter_cancels_and_the_link_then_says_so(
    client_for: Any, session: Session, visit: SimpleNamespace
) -> None:
    client = client_for(visit.host)
    _invite(client)
    found = _the_invitation(session)
    # A colleague cannot cancel it.
    other = client_for(visit.colleague)
    refused = _post(
        other, f"/invitations/{found.id}/cancel", {}, form_page="/processes/visit/invite"
    )
    assert refused.status_code == 404
    done = _post(client, f"/invitations/{found.id}/cancel", {}, form_page="/invitations")
    assert done.status_code == 302
    assert "已取消" in text(client.get("/invitations"))
    landing = client_for(None).get(f"/i/{invitations.token(SECRET, found.id)}")
    assert landing.status_code == 410
    assert "邀请人已取消该邀请" in text(landing)


def test_a_forged_link_is_refused(client_for: Any, visit: SimpleNamespace) -> None:
    for token in ("1.AAAAAAAAAAAAAAAAAAAA", "nonsense", "9" * 300):
        page = client_for(None).get(f"/i/{token}")
        assert page.status_code == 404
        assert "邀请链接无效" in text(page)


def test_the_link_asks_for_the_invited_numbers_code(
    client_for: Any, session: Session, visit: SimpleNamespace
) -> None:
    _invite(client_for(visit.host))
    token = invitations.token(SECRET, _the_invitation(session).id)
    page = client_for(None).get(f"/i/{token}")
    assert page.status_code == 200
    body = text(page)
    assert "周老师邀请您办理访客入校预约" in body
    assert "138****0009" in body
    assert VISITOR_PHONE not in body  # a forwarded link does not tell the number
    assert f'href="/login/sms?next=%2Fi%2F{token}"' in body
    # Another account is told to sign out first.
    other = text(client_for(visit.stranger).get(f"/i/{token}"))
    assert "您当前登录的不是该号码的账号" in other


def test_the_invitee_applies_with_the_inviters_fields_fixed(
    client_for: Any, session: Session, visit: SimpleNamespace
) -> None:
    _invite(client_for(visit.host))
    found = _the_invitation(session)
    token = invitations.token(SECRET, found.id)
    client = client_for(visit.visitor)
    landing = client.get(f"/i/{token}")
    assert landing.status_code == 302
    form_url = landing.headers["Location"]
    assert form_url == f"/processes/visit?invite={token}"
    form = text(client.get(form_url))
    assert "周老师邀请您办理" in form
    assert f"{VISIT_DAY} 09:00 至 {VISIT_DAY} 17:00" in form
    assert 'name="window.start"' not in form  # fixed: shown, not editable
    assert 'name="host"' not in form
    assert f'name="invite" value="{token}"' in form
    assert "保存草稿" not in form
    # The posted form tries to change the fixed fields: the invitation wins.
    submitted = _post(
        client,
        "/processes/visit/apply",
        {
            "invite": token,
            "action": "submit",
            "idno": "11010519491231002X",
            "host": "host2",
            "window.start": f"{OTHER_DAY}T00:00",
            "window.end": f"{OTHER_DAY}T23:00",
            "reason": "别的事",
        },
        form_page=form_url,
    )
    assert submitted.status_code == 302, text(submitted)
    session.expire_all()
    app = session.scalars(select(Application)).one()
    assert app.form["host"] == "host1"
    assert app.form["window"] == {"start": f"{VISIT_DAY}T09:00", "end": f"{VISIT_DAY}T17:00"}
    assert app.form["reason"] == "学术交流"
    assert _the_invitation(session).application_id == app.id
    # The link now leads to the application; the list shows it submitted.
    again = client.get(f"/i/{token}")
    assert again.status_code == 302
    assert again.headers["Location"].endswith(f"/applications/{app.id}")
    host = client_for(visit.host)
    assert "已提交" in text(host.get("/invitations"))
    # The host's to-do shows who and when in words, not a userid and an ISO stamp.
    page = text(host.get(f"/applications/{app.id}"))
    assert "周老师（host1）" in page
    assert f"{VISIT_DAY} 09:00 至 {VISIT_DAY} 17:00" in page


def test_the_invitees_own_mistakes_come_back_with_the_invitation(
    client_for: Any, session: Session, visit: SimpleNamespace
) -> None:
    _invite(client_for(visit.host))
    token = invitations.token(SECRET, _the_invitation(session).id)
    client = client_for(visit.visitor)
    form_url = f"/processes/visit?invite={token}"
    page = _post(
        client,
        "/processes/visit/apply",
        {"invite": token, "action": "submit", "idno": "123"},
        form_page=form_url,
    )
    assert page.status_code == 422
    body = text(page)
    assert "周老师邀请您办理" in body
    assert f'name="invite" value="{token}"' in body
    assert session.scalar(select(func.count(Application.id))) == 0


def test_without_an_invitation_the_form_explains_and_another_number_is_refused(
    client_for: Any, session: Session, visit: SimpleNamespace
) -> None:
    visitor = client_for(visit.visitor)
    plain = text(visitor.get("/processes/visit"))
    assert "本事项须由校内教职工邀请后办理" in plain
    assert 'name="idno"' not in plain
    _invite(client_for(visit.host))
    token = invitations.token(SECRET, _the_invitation(session).id)
    stranger = client_for(visit.stranger)
    assert stranger.get(f"/processes/visit?invite={token}").status_code == 404


def test_the_pages_answer_in_english(
    client_for: Any, session: Session, visit: SimpleNamespace
) -> None:
    client = client_for(visit.host)
    client.set_cookie("hall_lang", "en")
    assert "Send the invitation" in text(client.get("/processes/visit/invite"))
    _invite(client)
    assert "Invitations I sent" in text(client.get("/invitations"))
    token = invitations.token(SECRET, _the_invitation(session).id)
    anonymous = client_for(None)
    anonymous.set_cookie("hall_lang", "en")
    assert "Prove the number and fill in" in text(anonymous.get(f"/i/{token}"))


def test_a_person_is_needed_for_the_staff_pages(client_for: Any, visit: SimpleNamespace) -> None:
    page = client_for(None).get("/invitations")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login")
    _ = Person  # the fixture's people are all that exist


def test_a_returned_invited_application_shows_the_inviters_fields_fixed_again(
    client_for: Any, session: Session, db: Database, visit: SimpleNamespace
) -> None:
    _invite(client_for(visit.host))
    found = _the_invitation(session)
    app_id = (
        Hall(db)
        .submit(visit.visitor.id, "visit", {"idno": "11010519491231002X"}, invitation_id=found.id)
        .application_id
    )
    Hall(db).decide(
        visit.host.id, pending_task(session, app_id).id, Decision("return", comment="补充单位")
    )
    client = client_for(visit.visitor)
    edit = text(client.get(f"/applications/{app_id}/edit"))
    assert "周老师邀请您办理" in edit
    assert 'name="window.start"' not in edit
    assert 'name="host"' not in edit
    assert 'name="invite"' not in edit  # a resubmission needs no link
    # The visitor reads the host's name, not their staff number; the host reads both.
    mine = text(client.get(f"/applications/{app_id}"))
    assert "周老师" in mine
    assert "host1" not in mine
    assert "周老师（host1）" in text(client_for(visit.host).get(f"/applications/{app_id}"))


def test_the_inviter_sees_whether_the_text_went_out_and_can_forward_the_link(
    client_for: Any, session: Session, visit: SimpleNamespace
) -> None:
    client = client_for(visit.host)
    _invite(client)
    found = _the_invitation(session)
    link = f"http://127.0.0.1:5000/i/{invitations.token(SECRET, found.id)}"
    listing = text(client.get("/invitations"))
    assert "短信待发送" in listing
    assert f'value="{link}"' in listing
    session.add(
        SmsMessage(
            phone=found.phone,
            purpose=SmsPurpose.INVITE,
            template="invite",
            params={},
            out_id=f"o{found.outbox_id}",
            provider="sandbox",
            status=SmsStatus.FAILED,
            error="blacklisted",
            outbox_id=found.outbox_id,
        )
    )
    session.commit()
    assert "短信发送失败" in text(client.get("/invitations"))
    # Once used, there is no link to forward.
    found.cancelled_at = found.created_at
    session.commit()
    assert "/i/" not in text(client.get("/invitations"))
