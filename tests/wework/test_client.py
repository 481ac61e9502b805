"""The client against the real sandbox over HTTP: shared tokens, bounded retries, limits."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests
import responses

from wework.api import BatchAPI, MemberRow
from wework.client import WeComClient
from wework.errors import RateLimited, WeComError, WeComUnavailable
from wework.tokens import TokenStore

from .conftest import Sandbox, add_people


def _inbox(wecom: Sandbox, userid: str) -> list[dict[str, Any]]:
    return wecom.store.inbox(userid)


def test_token_is_shared_by_two_clients(wecom: Sandbox) -> None:
    with wecom.client() as first, wecom.client() as second:
        first.department.list()
        second.department.list()
        assert first.tokens.get() == second.tokens.get()
    assert wecom.store.calls()["gettoken"] == 1


def test_each_secret_has_its_own_token_key(wecom: Sandbox) -> None:
    with wecom.client() as app, wecom.contacts() as contacts:
        assert app.tokens.key != contacts.tokens.key
        assert wecom.settings.wecom_secret not in app.tokens.key
        app.department.list()
        contacts.department.list()
        assert app.tokens.get() != contacts.tokens.get()
        assert wecom.store.calls()["gettoken"] == 2
        # Each token keeps working after the other was fetched (no shared expiry key).
        app.department.list()
        contacts.department.create("信息中心", 1)
    assert wecom.store.calls()["gettoken"] == 2


def test_concurrent_refresh_fetches_once(wecom: Sandbox) -> None:
    wecom.store.inject("slow", path="gettoken", seconds=0.3)
    clients = [wecom.client() for _ in range(8)]
    tokens: list[str] = []
    barrier = threading.Barrier(len(clients))

    def work(client: WeComClient) -> None:
        barrier.wait()
        tokens.append(client.tokens.get())

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    assert len(tokens) == 8
    assert len(set(tokens)) == 1
    assert wecom.store.calls()["gettoken"] == 1


def test_token_ttl_leaves_a_margin(wecom: Sandbox) -> None:
    with wecom.client() as client:
        client.tokens.get()
        assert 7200 - 300 - 5 <= client.tokens.ttl() <= 7200 - 300


def test_busy_twice_then_ok_delivers_once(wecom: Sandbox) -> None:
    add_people(wecom, "zhangsan")
    wecom.store.inject("busy", 2, path="message/send")
    with wecom.client() as client:
        result = client.message.send_text(["zhangsan"], "您的申请已通过")
    assert result.msgid
    assert [m["text"]["content"] for m in _inbox(wecom, "zhangsan")] == ["您的申请已通过"]
    assert wecom.store.calls()["message/send"] == 3


def test_busy_forever_gives_up_after_three_retries(wecom: Sandbox) -> None:
    add_people(wecom, "zhangsan")
    wecom.store.inject("busy", 10, path="message/send")
    with wecom.client() as client, pytest.raises(WeComUnavailable) as caught:
        client.message.send_text(["zhangsan"], "x")
    assert caught.value.errcode == -1
    assert wecom.store.calls()["message/send"] == 4
    assert _inbox(wecom, "zhangsan") == []


def test_persistent_invalid_token_refetches_once_then_fails(wecom: Sandbox) -> None:
    add_people(wecom, "zhangsan")
    with wecom.client() as client:
        client.tokens.get()
        wecom.store.inject("invalid_token", 50, path="message/send")
        with pytest.raises(WeComError) as caught:
            client.message.send_text(["zhangsan"], "x")
    assert caught.value.errcode == 40014
    calls = wecom.store.calls()
    assert calls["message/send"] == 2
    # The contacts token (add_people), the app token, one refetch: no loop.
    assert calls["gettoken"] == 3


def test_expired_token_is_refetched_and_the_call_succeeds(wecom: Sandbox) -> None:
    add_people(wecom, "zhangsan")
    with wecom.client() as client:
        old = client.tokens.get()
        wecom.store.inject("expire_token", path="message/send")
        client.message.send_text(["zhangsan"], "x")
        assert client.tokens.get() != old
    assert wecom.store.calls()["message/send"] == 2
    assert len(_inbox(wecom, "zhangsan")) == 1


def test_naturally_expired_token(wecom: Sandbox) -> None:
    wecom.store.set_token_ttl(1)
    with wecom.client() as client:
        token = client.tokens.get()
        assert wecom.store.check_token(token).kind == "app"
        wecom.store.expire_token(token)
        client.department.list()  # 42001 -> refetch -> ok
    assert wecom.store.calls()["gettoken"] == 2


@pytest.mark.parametrize(("kind", "errcode"), [("rate_limit", 45009), ("concurrency", 45033)])
def test_rate_limit_raises_with_retry_after(wecom: Sandbox, kind: str, errcode: int) -> None:
    add_people(wecom, "zhangsan")
    wecom.store.inject(kind, path="message/send")
    with wecom.client() as client, pytest.raises(RateLimited) as caught:
        client.message.send_text(["zhangsan"], "x")
    assert caught.value.errcode == errcode
    assert caught.value.retry_after > 0
    assert wecom.store.calls()["message/send"] == 1


def test_timeout_retries_at_most_three_times(wecom: Sandbox) -> None:
    add_people(wecom, "zhangsan")
    wecom.store.inject("timeout", 10, path="message/send", seconds=0.6)
    with (
        wecom.client(timeout=(1.0, 0.2)) as client,
        pytest.raises(WeComUnavailable) as caught,
    ):
        client.message.send_text(["zhangsan"], "x")
    assert "Timeout" in caught.value.errmsg
    assert wecom.store.calls()["message/send"] == 4


def test_one_timeout_then_ok(wecom: Sandbox) -> None:
    add_people(wecom, "zhangsan")
    wecom.store.inject("timeout", 1, path="message/send", seconds=0.4)
    with wecom.client(timeout=(1.0, 0.2)) as client:
        client.message.send_text(["zhangsan"], "x")
    assert len(_inbox(wecom, "zhangsan")) == 1


def test_http_500_is_transient(wecom: Sandbox) -> None:
    wecom.store.inject("http_500", 1, path="department/list")
    with wecom.client() as client:
        assert client.department.list()[0]["id"] == 1


def test_wrong_secret_fails_without_looping(wecom: Sandbox) -> None:
    with (
        WeComClient(
            wecom.settings.wecom_corp_id,
            "wrong-secret",
            redis_conn=wecom.redis,
            api_base=wecom.settings.wecom_api_base,
            agent_id=wecom.settings.wecom_agent_id,
        ) as client,
        pytest.raises(WeComError) as caught,
    ):
        client.department.list()
    assert caught.value.errcode == 40001
    assert wecom.store.calls()["gettoken"] == 1


def test_secrets_are_kept_apart(wecom: Sandbox) -> None:
    add_people(wecom, "zhangsan")
    with wecom.contacts() as contacts, pytest.raises(ValueError, match="agent id"):
        contacts.message.send({"msgtype": "text", "text": {"content": "x"}}, userids=["zhangsan"])
    with wecom.client() as app, pytest.raises(WeComError) as caught2:
        app.department.create("越权", 1)
    assert caught2.value.errcode == 48002


def test_contacts_token_cannot_send(wecom: Sandbox) -> None:
    add_people(wecom, "zhangsan")
    with wecom.contacts() as contacts:
        contacts.agent_id = wecom.settings.wecom_agent_id
        with pytest.raises(WeComError) as caught:
            contacts.message.send_text(["zhangsan"], "x")
    assert caught.value.errcode == 48002


def test_per_member_limit_defers_never_drops(wecom: Sandbox) -> None:
    add_people(wecom, "zhangsan", "lisi")
    with wecom.client() as client:
        for i in range(30):
            assert client.message.send_text(["zhangsan"], f"第{i}条").complete
        result = client.message.send_text(["zhangsan", "lisi"], "第31条")
    assert result.deferred_users == ("zhangsan",)
    assert 0 < result.retry_after <= 60
    assert not result.complete
    assert len(_inbox(wecom, "zhangsan")) == 30
    assert [m["text"]["content"] for m in _inbox(wecom, "lisi")] == ["第31条"]


def test_all_deferred_makes_no_call(wecom: Sandbox) -> None:
    add_people(wecom, "zhangsan")
    with wecom.client() as client:
        for _ in range(30):
            client.message.send_text(["zhangsan"], "x")
        result = client.message.send_text(["ZhangSan"], "y")
    assert result.msgid is None
    assert result.deferred_users == ("ZhangSan",)
    assert wecom.store.calls()["message/send"] == 30


def test_recipients_are_batched_by_1000(wecom: Sandbox) -> None:
    with wecom.contacts() as contacts:
        rows = [
            MemberRow(userid=f"s{i:04d}", name=f"学生{i}", departments=[1], mobile=f"139{i:08d}")
            for i in range(1001)
        ]
        media = contacts.batch.upload_csv(BatchAPI.members_csv(rows))
        contacts.batch.sync_user(media)
    with wecom.client() as client:
        result = client.message.send_markdown([r.userid for r in rows], "**通知**")
    assert len(result.msgids) == 2
    assert wecom.store.calls()["message/send"] == 2
    assert len(_inbox(wecom, "s0000")) == 1
    assert len(_inbox(wecom, "s1000")) == 1


def test_markdown_and_unknown_users(wecom: Sandbox) -> None:
    add_people(wecom, "zhangsan")
    with wecom.client() as client:
        result = client.message.send_markdown(["zhangsan", "ghost"], "# 标题")
        assert result.invalid_users == ("ghost",)
        with pytest.raises(WeComError) as caught:
            client.message.send_text(["ghost"], "x")
    assert caught.value.errcode == 81013


def test_invalid_message_type(wecom: Sandbox) -> None:
    add_people(wecom, "zhangsan")
    with wecom.client() as client, pytest.raises(WeComError) as caught:
        client.message.send({"msgtype": "hologram", "hologram": {}}, userids=["zhangsan"])
    assert caught.value.errcode == 40008


def test_wechatpy_areas_use_the_bounded_loop(wecom: Sandbox) -> None:
    # wechatpy's own areas (here `tag`) go through our _request: shared token, retries.
    wecom.store.inject("busy", 1, path="tag/list")
    with wecom.client() as client, pytest.raises(WeComError) as caught:
        client.tag.list()
    assert caught.value.errcode == 48001  # not simulated, but reached after one retry
    assert wecom.store.calls()["tag/list"] == 2
    add_people(wecom, "lisi")
    with wecom.client() as client:
        # wechatpy's areas pass `params={...}`: it must reach the query string.
        assert client.get("user/get", params={"userid": "lisi"})["userid"] == "lisi"


# -- pure error paths at the network edge (responses) ------------------------------------


def _offline_client(redis_conn, **options) -> WeComClient:
    return WeComClient(
        "wwoffline",
        "secret",
        redis_conn=redis_conn,
        api_base="https://wecom.invalid/cgi-bin",
        agent_id=1,
        backoff=0,
        **options,
    )


@responses.activate
def test_non_json_answer_is_an_error(redis_conn) -> None:
    responses.get(
        "https://wecom.invalid/cgi-bin/gettoken", json={"access_token": "t", "expires_in": 7200}
    )
    responses.get("https://wecom.invalid/cgi-bin/user/get", body="<html>gateway</html>")
    with _offline_client(redis_conn) as client, pytest.raises(WeComError, match="not JSON"):
        client.user.get("u")


@responses.activate
def test_connection_errors_are_bounded(redis_conn) -> None:
    responses.get(
        "https://wecom.invalid/cgi-bin/gettoken", body=requests.ConnectionError("refused")
    )
    slept: list[float] = []
    with _offline_client(redis_conn, sleep=slept.append) as client, pytest.raises(WeComUnavailable):
        client.department.list()
    assert len(responses.calls) == 4
    assert slept == [0, 0, 0]


@responses.activate
def test_backoff_doubles(redis_conn) -> None:
    responses.get("https://wecom.invalid/cgi-bin/gettoken", json={"errcode": -1, "errmsg": "busy"})
    slept: list[float] = []
    client = WeComClient(
        "wwoffline",
        "secret",
        redis_conn=redis_conn,
        api_base="https://wecom.invalid/cgi-bin",
        sleep=slept.append,
    )
    with client, pytest.raises(WeComUnavailable):
        client.tokens.get()
    assert slept == [0.5, 1.0, 2.0]


def test_token_store_compare_and_delete(redis_conn) -> None:
    fetched: list[str] = []

    def fetch() -> tuple[str, int]:
        fetched.append("x")
        return f"token{len(fetched)}", 7200

    store = TokenStore(redis_conn, "ww1", "s", fetch)
    assert store.get() == "token1"
    store.invalidate("stale")  # someone else's stale failure does not drop a fresh token
    assert store.get() == "token1"
    store.invalidate("token1")
    assert store.get() == "token2"
    other = TokenStore(redis_conn, "ww1", "s2", fetch)
    assert other.key != store.key
