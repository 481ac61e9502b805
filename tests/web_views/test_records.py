"""The approval record's QR code: a signed token of (id, serial, status, finished_at),
checked on a public page that shows only serial, process, status, date and a masked name."""

from __future__ import annotations

import re
import time
from html import unescape

from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from tests import factories
from tests.web_views.helpers import pending_task, post, submit, text
from web.views.present import mask_name
from web.views.records import SALT


def approved_record(client_for, school, db, session) -> tuple[int, str]:
    app_id = submit(db, school.alice)
    task = pending_task(session, app_id)
    post(client_for(school.bob), f"/tasks/{task.id}/decide", {"action": "approve"})
    page = text(client_for(school.alice).get(f"/applications/{app_id}/record"))
    assert "<svg" in page
    link = re.search(r'href="(http://[^"]+/verify/[^"]+)"', page)
    assert link is not None
    return app_id, unescape(link.group(1)).split("/verify/", 1)[1]


def test_the_qr_link_verifies_without_signing_in(client_for, school, db, session):
    _app_id, token = approved_record(client_for, school, db, session)
    response = client_for(None).get(f"/verify/{token}")
    assert response.status_code == 200
    page = text(response)
    assert "记录有效" in page
    assert "简单申请" in page
    assert "已通过" in page
    assert "王*丽" in page
    # nothing personal beyond the masked name
    for secret in ("王小丽", "参加学术会议", "13800138000", "李处长", "alice"):
        assert secret not in page


def test_a_changed_application_is_reported(client_for, school, db, session):
    app_id = submit(db, school.alice)
    page = text(client_for(school.alice).get(f"/applications/{app_id}/record"))
    token = unescape(re.search(r"/verify/([^\"]+)\"", page).group(1))  # type: ignore[union-attr]
    post(client_for(school.alice), f"/applications/{app_id}/withdraw", {})
    answer = text(client_for(None).get(f"/verify/{token}"))
    assert "记录真实，但办件状态已变更" in answer
    assert "已撤回" in answer


def test_forged_tokens_are_refused(client_for, school, db, session, app):
    app_id, token = approved_record(client_for, school, db, session)
    anonymous = client_for(None)
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert anonymous.get(f"/verify/{tampered}").status_code == 404
    wrong_key = URLSafeTimedSerializer("not-the-key", salt=SALT)
    forged = wrong_key.dumps([app_id, "x", "approved", None])
    response = anonymous.get(f"/verify/{forged}")
    assert response.status_code == 404
    assert "无效的核验码" in text(response)
    assert anonymous.get("/verify/garbage").status_code == 404
    with app.app_context():
        right_key = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=SALT)
        unknown = right_key.dumps([app_id + 1000, "x", "approved", None])
    assert anonymous.get(f"/verify/{unknown}").status_code == 404


class _YearsAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 6 * 365 * 24 * 3600


def test_expired_tokens_are_refused(client_for, school, db, session, app):
    _app_id, token = approved_record(client_for, school, db, session)
    old = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=SALT, signer=_YearsAgo)
    payload = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=SALT).loads(token)
    response = client_for(None).get(f"/verify/{old.dumps(payload)}")
    assert response.status_code == 404
    assert "无效的核验码" in text(response)


def test_mask_name():
    assert mask_name("王小丽") == "王*丽"
    assert mask_name("李明") == "李*"
    assert mask_name("欧阳娜娜") == "欧**娜"
    assert mask_name("X") == "*"


def test_a_field_marked_not_printed_stays_off_the_record(client_for, school, db, session):
    spec = factories.simple_spec(
        "CS",
        key="with_id",
        form=[
            {"key": "reason", "label": "事由", "type": "text", "required": True},
            {"key": "id_no", "label": "身份证号", "type": "text", "printed": False},
        ],
        flow=[{"key": "head", "name": "负责人审批", "approver": {"type": "dept_head"}}],
    )
    factories.process(session, spec)
    session.commit()
    app_id = submit(db, school.alice, "with_id", reason="开证明", id_no="110101199001011234")
    alice = client_for(school.alice)
    record = text(alice.get(f"/applications/{app_id}/record"))
    assert "开证明" in record
    assert "身份证号" not in record
    assert "110101199001011234" not in record
    # the application's own page still shows everything to those who may see it
    assert "110101199001011234" in text(alice.get(f"/applications/{app_id}"))
