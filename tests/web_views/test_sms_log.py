"""The information center's SMS log: numbers masked, filters, and nobody else sees it."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from sms.models import SmsMessage, SmsPurpose, SmsStatus
from tests import factories
from tests.web_views.conftest import sign_in
from web.i18n import CATALOGUE
from web.views.admin import SMS_PURPOSE_LABELS


def _log(
    session: Session,
    phone: str,
    status: SmsStatus,
    error: str | None = None,
    purpose: SmsPurpose = SmsPurpose.LOGIN,
) -> None:
    session.add(
        SmsMessage(
            phone=phone,
            purpose=purpose,
            template="code",
            params={"code": "******"},
            out_id=f"c{phone[-4:]}{status.value}",
            provider="sandbox",
            provider_id=f"SBX-{phone[-4:]}",
            status=status,
            error=error,
        )
    )


def test_the_info_center_sees_the_log_masked_and_filtered(app: Flask, session: Session) -> None:
    admin = factories.person(session, "信息中心", roles=("info_center",))
    _log(session, "13877310001", SmsStatus.SENT)
    _log(session, "13912345678", SmsStatus.FAILED, "blacklisted: the number refuses messages")
    session.commit()
    client = sign_in(app.test_client(), admin)
    page = client.get("/admin/sms").get_data(as_text=True)
    assert "138****0001" in page
    assert "139****5678" in page
    assert "13877310001" not in page
    assert "短信平台：sandbox；签名：网上办事大厅" in page
    failed = client.get("/admin/sms?status=failed").get_data(as_text=True)
    assert "139****5678" in failed
    assert "blacklisted" in failed
    assert "138****0001" not in failed
    one = client.get("/admin/sms?phone=138-7731-0001").get_data(as_text=True)
    assert "138****0001" in one
    assert "139****5678" not in one
    odd = client.get("/admin/sms?status=nonsense&before=x")
    assert odd.status_code == 200


@pytest.mark.parametrize("purpose", list(SmsPurpose))
def test_every_kind_of_text_is_listed_with_its_name(
    app: Flask, session: Session, purpose: SmsPurpose
) -> None:
    admin = factories.person(session, "信息中心", roles=("info_center",))
    _log(session, "13877310001", SmsStatus.SENT, purpose=purpose)
    session.commit()
    page = sign_in(app.test_client(), admin).get("/admin/sms")
    assert page.status_code == 200
    assert SMS_PURPOSE_LABELS[purpose] in page.get_data(as_text=True)
    client = sign_in(app.test_client(), admin)
    client.set_cookie("hall_lang", "en")
    assert CATALOGUE[SMS_PURPOSE_LABELS[purpose]] in client.get("/admin/sms").get_data(as_text=True)


def test_others_get_the_not_found_page(app: Flask, session: Session) -> None:
    someone = factories.person(session, "普通教师")
    session.commit()
    page = sign_in(app.test_client(), someone).get("/admin/sms")
    assert page.status_code == 404
