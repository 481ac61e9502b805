"""WeCom retries, concurrent clicks and fuzzed bodies."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callbacks.dedupe import Deduper
from callbacks.events import parse_event
from callbacks.handlers import FILL_IN_ON_THE_WEB
from hall.models import ActionLog, Application, IdempotencyRecord, Task
from hall.services import Hall
from hall.states import AppStatus, TaskStatus
from tests import factories
from tests.callbacks.conftest import pending_task, submit
from tests.callbacks.wecom_peer import Reply, WeComPeer, fixture_xml
from web.app import create_app

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _approvals(session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(ActionLog).where(ActionLog.action == "approve")
        )
        or 0
    )


@pytest.fixture
def approve_click(wecom, session, school):
    app_id = submit(wecom.client.application.extensions["hall.db"], school)
    task = pending_task(session, app_id)
    xml = fixture_xml(
        "template_card_event__approve",
        corp_id=wecom.corp_id,
        agent_id=wecom.agent_id,
        userid=school.head.userid,
        task_id=task.id,
    )
    return app_id, task, xml


def test_a_callback_delivered_three_times_decides_once(wecom, session, approve_click):
    app_id, _task, xml = approve_click
    replies = [wecom.open_reply(wecom.post(xml)) for _ in range(3)]
    assert [r.button for r in replies] == ["已同意"] * 3
    session.expire_all()
    assert _approvals(session) == 1
    assert session.get(Application, app_id).status == AppStatus.APPROVED


def test_a_retry_after_a_lost_dedupe_key_replays_the_decision(
    wecom, session, approve_click, redis_conn
):
    """The first attempt committed, then the process died before storing its answer."""
    _app_id, _task, xml = approve_click
    assert wecom.open_reply(wecom.post(xml)).button == "已同意"
    redis_conn.flushdb()
    assert wecom.open_reply(wecom.post(xml)).button == "已同意"
    session.expire_all()
    assert _approvals(session) == 1
    # The task itself answered the retry: a click leaves no idempotency record behind.
    assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0


def test_a_retry_while_the_first_attempt_runs_is_answered_empty(
    wecom, session, approve_click, redis_conn
):
    _app_id, task, xml = approve_click
    event = parse_event(xml.encode())
    assert Deduper(redis_conn, "app").claim(event.dedupe_key()).state.value == "new"
    response = wecom.post(xml)
    assert (response.status_code, response.data) == (200, b"")
    session.expire_all()
    assert session.get(Task, task.id).status == TaskStatus.PENDING


def test_a_failed_attempt_releases_its_claim(wecom, session, approve_click, redis_conn):
    _app_id, task, xml = approve_click
    service = wecom.client.application.extensions["hall.callbacks"]
    real_hall = service._hall

    class Broken(Hall):
        def decide_as(self, *args, **kwargs):
            raise ConnectionError("database went away")

    service._hall = Broken
    wecom.client.application.config["TESTING"] = False  # a real 500, as WeCom would see it
    assert wecom.post(xml).status_code == 500
    service._hall = real_hall
    assert wecom.open_reply(wecom.post(xml)).button == "已同意"
    session.expire_all()
    assert session.get(Task, task.id).status == TaskStatus.APPROVED


def test_a_second_click_on_a_decided_card_says_handled(wecom, session, approve_click):
    _app_id, _task, xml = approve_click
    assert wecom.open_reply(wecom.post(xml)).button == "已同意"
    reject = xml.replace("approve:", "reject:").replace("vb8approve", "vb8reject")
    assert wecom.open_reply(wecom.post(reject)).button == "已处理"
    session.expire_all()
    assert _approvals(session) == 1


def test_someone_elses_task_is_not_decided(wecom, session, school, approve_click):
    _app_id, task, xml = approve_click
    forged = xml.replace(school.head.userid, school.colleague.userid)
    reply = wecom.open_reply(wecom.post(forged))
    assert (reply.msg_type, reply.fields["Content"]) == ("text", "该待办不存在或已不由您处理。")
    session.expire_all()
    assert session.get(Task, task.id).status == TaskStatus.PENDING


def test_a_key_that_does_not_match_the_card_is_ignored(wecom, session, approve_click):
    _app_id, task, xml = approve_click
    forged = xml.replace(f"hall-{task.id}-1-", f"hall-{task.id + 1}-1-")
    response = wecom.post(forged)
    assert (response.status_code, response.data) == (200, b"")
    session.expire_all()
    assert session.get(Task, task.id).status == TaskStatus.PENDING


def _click_on_a_step(
    wecom: WeComPeer, session: Session, step: dict[str, Any], fixture: str
) -> tuple[Task, Reply]:
    """The head clicks `fixture`'s button on the card of a one-step process with `step`."""
    from tests.callbacks.conftest import make_school  # noqa: PLC0415

    school = make_school(session, step=step)
    app_id = submit(wecom.client.application.extensions["hall.db"], school)
    task = pending_task(session, app_id)
    xml = fixture_xml(
        fixture,
        corp_id=wecom.corp_id,
        agent_id=wecom.agent_id,
        userid=school.head.userid,
        task_id=task.id,
    )
    reply = wecom.open_reply(wecom.post(xml))
    session.expire_all()
    return task, reply


def test_return_where_the_step_forbids_it_is_explained(wecom, session):
    task, reply = _click_on_a_step(
        wecom, session, {"allow_return": False}, "template_card_event__return"
    )
    assert (reply.msg_type, reply.fields["Content"]) == ("text", "该环节不允许退回")
    assert session.get(Task, task.id).status == TaskStatus.PENDING


def test_approve_on_a_step_that_needs_a_result_says_where_to_fill_it_in(wecom, session):
    """An older card of a handling step still carries 同意; the result needs the web view."""
    step = {"kind": "handle", "result_fields": [factories.resolution_field()]}
    task, reply = _click_on_a_step(wecom, session, step, "template_card_event__approve")
    assert (reply.msg_type, reply.fields["Content"]) == ("text", FILL_IN_ON_THE_WEB)
    assert session.get(Task, task.id).status == TaskStatus.PENDING


# --------------------------------------------------------------- concurrency


@pytest.mark.pg_only
def test_fifty_concurrent_clicks_on_one_any_of_step_decide_once(
    committed_db, tmp_path: Path, redis_conn, settings
):
    with committed_db.unit_of_work() as s:
        dept = factories.department(s, "教务处")
        reviewers = [factories.person(s, f"审批人{i}", dept=dept) for i in range(50)]
        applicant = factories.person(s, "张三", dept=dept)
        spec = factories.simple_spec(
            dept.code,
            flow=[
                {
                    "key": "any",
                    "name": "任一人审批",
                    "mode": "any",
                    "approver": {"type": "persons", "userids": [r.userid for r in reviewers]},
                }
            ],
        )
        key = factories.process(s, spec).process.key
        reviewer_ids = {r.id: r.userid for r in reviewers}
        applicant_id = applicant.id
    app_id = Hall(committed_db).submit(applicant_id, key, {"reason": "并发"}).application_id
    with committed_db.reader() as s:
        tasks = s.scalars(select(Task).where(Task.application_id == app_id)).all()
        clicks = [(reviewer_ids[t.assignee_id], t.id) for t in tasks]
    assert len(clicks) == 50

    app = create_app(settings, database=committed_db, redis=redis_conn)
    crypto_peer = WeComPeer(
        app.test_client(),
        app.extensions["hall.callbacks"].endpoints["app"].crypto,
        settings.wecom_corp_id,
        agent_id=str(settings.wecom_agent_id),
    )
    barrier = threading.Barrier(len(clicks))
    buttons: list[str | None] = []
    lock = threading.Lock()

    def click(userid: str, task_id: int) -> None:
        peer = WeComPeer(
            app.test_client(),
            crypto_peer.crypto,
            crypto_peer.corp_id,
            agent_id=crypto_peer.agent_id,
        )
        xml = fixture_xml(
            "template_card_event__approve",
            corp_id=peer.corp_id,
            agent_id=peer.agent_id,
            userid=userid,
            task_id=task_id,
        )
        body, query = peer.envelope(xml)
        barrier.wait()
        reply = peer.open_reply(peer.post_raw(body, query))
        with lock:
            buttons.append(reply.button)

    threads = [threading.Thread(target=click, args=c) for c in clicks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(buttons, key=str) == sorted(["已同意"] + ["已处理"] * 49, key=str)
    with committed_db.reader() as s:
        assert s.get(Application, app_id).status == AppStatus.APPROVED
        assert _approvals(s) == 1
        states = [t.status for t in s.scalars(select(Task).where(Task.application_id == app_id))]
        assert states.count(TaskStatus.APPROVED) == 1
        assert states.count(TaskStatus.CANCELLED) == 49


# ---------------------------------------------------------------------- fuzz


def _state(session: Session) -> tuple[int, int, list[TaskStatus]]:
    session.expire_all()
    return (
        _approvals(session),
        session.scalar(select(func.count()).select_from(ActionLog)) or 0,
        [t.status for t in session.scalars(select(Task).order_by(Task.id))],
    )


@FUZZ
@given(
    body=st.binary(max_size=2048),
    query=st.dictionaries(
        st.sampled_from(["msg_signature", "timestamp", "nonce", "echostr"]), st.text(max_size=60)
    ),
)
def test_fuzzed_raw_bodies_never_fail_the_server(wecom, session, approve_click, body, query):
    before = _state(session)
    assert wecom.post_raw(body, query).status_code < 500
    assert wecom.client.get("/wecom/callback", query_string=query).status_code < 500
    assert _state(session) == before


@FUZZ
@given(
    inner=st.one_of(
        st.text(max_size=1024), st.binary(max_size=1024).map(lambda b: b.decode("latin-1"))
    )
)
def test_fuzzed_signed_plaintexts_never_fail_the_server(wecom, session, approve_click, inner):
    before = _state(session)
    assert wecom.post(inner).status_code < 500
    assert _state(session) == before


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40)


_EVENT_FIELDS = st.fixed_dictionaries(
    {
        "msg_type": st.sampled_from(["event", "text", "image", "", "EVENT"]),
        "event": st.sampled_from(
            [
                "template_card_event",
                "template_card_menu_event",
                "enter_agent",
                "change_contact",
                "batch_job_result",
                "click",
                "",
            ]
        ),
        "key": st.one_of(
            _text, st.sampled_from(["approve:1", "reject:99999999", "transfer:1", "menu:todo"])
        ),
        "task_id": _text,
        "from_user": _text,
        "content": _text,
        "create_time": st.one_of(st.integers(0, 2**40).map(str), _text),
    }
)


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "") + "]]>"


@FUZZ
@given(fields=_EVENT_FIELDS)
def test_fuzzed_events_never_fail_the_server(wecom, session, approve_click, fields):
    f = {k: _cdata(v) for k, v in fields.items()}
    inner = (
        f"<xml><ToUserName>{_cdata(wecom.corp_id)}</ToUserName>"
        f"<FromUserName>{f['from_user']}</FromUserName>"
        f"<CreateTime>{f['create_time']}</CreateTime>"
        f"<MsgType>{f['msg_type']}</MsgType><Event>{f['event']}</Event>"
        f"<EventKey>{f['key']}</EventKey><TaskId>{f['task_id']}</TaskId>"
        f"<Content>{f['content']}</Content><ChangeType>{f['content']}</ChangeType>"
        f"<BatchJob><JobId>{f['task_id']}</JobId><ErrCode>{f['content']}</ErrCode></BatchJob>"
        f"<AgentID>{wecom.agent_id}</AgentID></xml>"
    )
    before = _state(session)
    assert wecom.post(inner).status_code < 500
    assert _state(session) == before
