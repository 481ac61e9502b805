"""Hostile and broken callbacks: refused with a 4xx, nothing changed, never a 5xx."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config import load_settings
from hall.models import ActionLog, Task
from hall.states import TaskStatus
from tests.callbacks.conftest import pending_task, submit
from tests.callbacks.wecom_peer import fixture_xml, outer_xml
from tests.conftest import REDIS_URL
from web.app import create_app
from wework.crypto import WeComCrypto

# Tencent's sample values (sbzhu/weworkapi_python, callback/Sample.py), see reference/wecom.md.
SAMPLE_TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
SAMPLE_AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
SAMPLE_CORP_ID = "ww1436e0e65a779aee"
SAMPLE_QUERY = {
    "msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
    "timestamp": "1476416373",
    "nonce": "47744683",
    "echostr": (
        "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA=="
    ),
}


@pytest.fixture
def sample_app(db, tmp_path, redis_conn):
    settings = load_settings(
        var_dir=tmp_path,
        secret_key="test",
        sandbox=False,
        redis_url=REDIS_URL,
        wecom_corp_id=SAMPLE_CORP_ID,
        wecom_agent_id=1000002,
        wecom_secret="unused",
        wecom_token=SAMPLE_TOKEN,
        wecom_aes_key=SAMPLE_AES_KEY,
        wecom_contacts_token=SAMPLE_TOKEN,
        wecom_contacts_aes_key=SAMPLE_AES_KEY,
        cas_url="https://cas.example.edu.cn/cas/",
    )
    app = create_app(settings, database=db, redis=redis_conn)
    # The sample was signed in 2016: the service's clock is put back to that moment.
    app.extensions["hall.callbacks"].clock = lambda: 1476416373.0
    return app


@pytest.mark.parametrize("path", ["/wecom/callback", "/wecom/contacts/callback"])
def test_url_check_with_the_official_sample(sample_app, path):
    response = sample_app.test_client().get(path, query_string=SAMPLE_QUERY)
    assert response.status_code == 200
    assert response.data == b"1288432023552776189"  # bare: no quotes, no newline


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"msg_signature": "0" * 40}, 403),
        ({"msg_signature": "not-hex"}, 400),
        ({"timestamp": "1476416074"}, 403),  # 299 s + 300 s before: outside the window
        ({"timestamp": "1476416674"}, 403),  # 301 s ahead
        ({"timestamp": "abc"}, 400),
        ({"nonce": "bad nonce!"}, 400),
        ({"echostr": ""}, 400),
        ({"echostr": "@@@"}, 403),  # the signature covers echostr
    ],
)
def test_url_check_refusals(sample_app, change, status):
    query = {**SAMPLE_QUERY, **change}
    assert sample_app.test_client().get("/wecom/callback", query_string=query).status_code == (
        status
    )


def test_url_check_accepts_a_timestamp_at_the_edge_of_the_window(sample_app):
    sample_app.extensions["hall.callbacks"].clock = lambda: 1476416373.0 + 300
    response = sample_app.test_client().get("/wecom/callback", query_string=SAMPLE_QUERY)
    assert response.data == b"1288432023552776189"


# ------------------------------------------------------------------ POST refusals


@pytest.fixture
def click(wecom, session, school):
    """An approve click on a fresh task, not yet posted: (task, inner xml)."""
    app_id = submit(wecom.client.application.extensions["hall.db"], school)
    task = pending_task(session, app_id)
    xml = fixture_xml(
        "template_card_event__approve",
        corp_id=wecom.corp_id,
        agent_id=wecom.agent_id,
        userid=school.head.userid,
        task_id=task.id,
    )
    return task, xml


def _nothing_changed(session: Session, task: Task) -> None:
    session.expire_all()
    row = session.get(Task, task.id)
    assert row is not None
    assert row.status == TaskStatus.PENDING
    decided = session.scalar(
        select(func.count()).select_from(ActionLog).where(ActionLog.action == "approve")
    )
    assert decided == 0


def test_forged_signature(wecom, session, click):
    task, xml = click
    body, query = wecom.envelope(xml)
    query["msg_signature"] = "f" * 40
    assert wecom.post_raw(body, query).status_code == 403
    _nothing_changed(session, task)


def test_signed_with_another_token(wecom, session, settings, click):
    task, xml = click
    forger = WeComCrypto("another-token", settings.wecom_aes_key, settings.wecom_corp_id)
    encrypt = forger.encrypt(xml.encode())
    ts, nonce = str(int(time.time())), "abc123"
    query = {"msg_signature": forger.signature(ts, nonce, encrypt), "timestamp": ts, "nonce": nonce}
    assert wecom.post_raw(outer_xml(wecom.corp_id, encrypt), query).status_code == 403
    _nothing_changed(session, task)


@pytest.mark.parametrize("skew", [-301, 301, -10_000])
def test_replayed_outside_the_window(wecom, session, click, skew):
    task, xml = click
    encrypt = wecom.crypto.encrypt(xml.encode())
    query = wecom.signed_query(encrypt, timestamp=int(time.time()) + skew)
    assert wecom.post_raw(outer_xml(wecom.corp_id, encrypt), query).status_code == 403
    _nothing_changed(session, task)


def test_wrong_corp_inside_the_ciphertext(wecom, session, settings, click):
    task, xml = click
    other = WeComCrypto(settings.wecom_token, settings.wecom_aes_key, "wwsomeoneelse000001")
    encrypt = other.encrypt(xml.encode())
    query = wecom.signed_query(encrypt)
    assert wecom.post_raw(outer_xml(wecom.corp_id, encrypt), query).status_code == 400
    _nothing_changed(session, task)


def test_wrong_corp_in_the_outer_xml(wecom, session, click):
    task, xml = click
    encrypt = wecom.crypto.encrypt(xml.encode())
    body = outer_xml("wwsomeoneelse000001", encrypt)
    assert wecom.post_raw(body, wecom.signed_query(encrypt)).status_code == 403
    _nothing_changed(session, task)


def test_wrong_corp_in_the_inner_xml(wecom, session, click):
    task, xml = click
    forged = xml.replace(wecom.corp_id, "wwsomeoneelse000001")
    assert wecom.post(forged).status_code == 403
    _nothing_changed(session, task)


def test_wrong_agent(wecom, session, click):
    task, xml = click
    forged = xml.replace(f"<AgentID>{wecom.agent_id}</AgentID>", "<AgentID>1000999</AgentID>")
    assert wecom.post(forged).status_code == 403
    _nothing_changed(session, task)


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    "<xml><ToUserName>&lol3;</ToUserName><Encrypt>x</Encrypt></xml>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>&xxe;</ToUserName><Encrypt>x</Encrypt></xml>"
)


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        XXE,
        "<xml><Encrypt>",
        "not xml at all",
        "<other><Encrypt>x</Encrypt></other>",
        "",
    ],
)
def test_hostile_or_malformed_outer_xml(wecom, session, click, body):
    task, _xml = click
    response = wecom.post_raw(body, wecom.signed_query("x"))
    assert response.status_code == 400
    _nothing_changed(session, task)


@pytest.mark.parametrize("inner", [BILLION_LAUGHS, XXE, "<xml><MsgType>", "<xml></xml>", "\xff"])
def test_hostile_or_malformed_inner_xml(wecom, session, click, inner):
    task, _xml = click
    assert wecom.post(inner).status_code == 400
    _nothing_changed(session, task)


def test_body_too_large(wecom, session, click):
    task, xml = click
    body, query = wecom.envelope(xml)
    padded = body.replace("</xml>", " " * (64 * 1024) + "</xml>")
    assert wecom.post_raw(padded, query).status_code == 413
    _nothing_changed(session, task)


@pytest.mark.parametrize("missing", ["msg_signature", "timestamp", "nonce"])
def test_missing_query_parameter(wecom, session, click, missing):
    task, xml = click
    body, query = wecom.envelope(xml)
    del query[missing]
    assert wecom.post_raw(body, query).status_code == 400
    _nothing_changed(session, task)


def test_unsupported_method(wecom):
    assert wecom.client.put("/wecom/callback").status_code == 405
