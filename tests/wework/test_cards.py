"""Template cards: send, validation, response codes, updates, and the phone's button path."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from wework.errors import WeComError
from wework.sandbox import courier

from .conftest import Sandbox, add_people


def approval_card(task_id: str = "apply-2026-0001_r1", buttons: int = 2) -> dict[str, Any]:
    keys = [("approve", "同意", 1), ("reject", "驳回", 3), ("return", "退回", 2)]
    return {
        "card_type": "button_interaction",
        "source": {"desc": "网上办事大厅"},
        "main_title": {"title": "请假申请待审批", "desc": "张三 · 2 天"},
        "sub_title_text": "事由：参加学术会议",
        "horizontal_content_list": [{"keyname": "申请人", "value": "张三"}],
        "card_action": {"type": 1, "url": "http://127.0.0.1/a/1"},
        "task_id": task_id,
        "button_list": [
            {"text": f"{text}{i}" if i >= 3 else text, "style": style, "key": f"{key}{i}"}
            for i, (key, text, style) in ((n, keys[n % 3]) for n in range(buttons))
        ],
    }


def messages(wecom: Sandbox, userid: str) -> list[dict[str, Any]]:
    response = requests.get(
        f"{wecom.base}/_sandbox/wecom/api/messages", params={"userid": userid}, timeout=5
    )
    assert response.status_code == 200
    return list(response.json()["messages"])


def test_card_send_returns_response_code_and_shows_in_json(wecom: Sandbox) -> None:
    add_people(wecom, "lisi")
    with wecom.client() as client:
        result = client.message.send_template_card(["lisi"], approval_card())
    assert result.response_code
    [message] = messages(wecom, "lisi")
    assert message["msgtype"] == "template_card"
    assert message["task_id"] == "apply-2026-0001_r1"
    assert message["response_code"] == result.response_code
    assert message["template_card"]["main_title"]["title"] == "请假申请待审批"
    assert message["replace_name"] is None
    assert 71 * 3600 < wecom.store.response_code_ttl(result.response_code) <= 72 * 3600


def test_text_notice_has_no_response_code(wecom: Sandbox) -> None:
    add_people(wecom, "lisi")
    card = {
        "card_type": "text_notice",
        "main_title": {"title": "申请已通过"},
        "card_action": {"type": 1, "url": "http://127.0.0.1/a/1"},
    }
    with wecom.client() as client:
        result = client.message.send_template_card(["lisi"], card)
    assert result.msgid
    assert result.response_code is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"task_id": "has space"}, "task_id"),
        ({"task_id": "x" * 129}, "task_id"),
        ({"main_title": {"title": "长" * 37}}, "main_title"),
        ({"button_list": []}, "button_list"),
        ({"button_list": [{"text": f"b{i}", "key": f"k{i}"} for i in range(7)]}, "button_list"),
        ({"button_list": [{"text": "a", "key": "k"}, {"text": "b", "key": "k"}]}, "duplicate"),
        ({"button_list": [{"text": "十一个字的按钮文字太长了", "key": "k"}]}, "button text"),
        ({"button_list": [{"text": "a", "key": "k", "style": 5}]}, "style"),
        ({"action_menu": {"desc": "更多", "action_list": []}}, "action_menu"),
    ],
)
def test_card_limits_are_enforced(wecom: Sandbox, change: dict[str, Any], message: str) -> None:
    add_people(wecom, "lisi")
    with wecom.client() as client, pytest.raises(WeComError, match=message) as caught:
        client.message.send(
            {"msgtype": "template_card", "template_card": {**approval_card(), **change}},
            userids=["lisi"],
        )
    assert caught.value.errcode == 40058
    assert messages(wecom, "lisi") == []


def test_task_id_is_unique_within_the_app(wecom: Sandbox) -> None:
    add_people(wecom, "lisi")
    with wecom.client() as client:
        client.message.send_template_card(["lisi"], approval_card("t1"))
        with pytest.raises(WeComError, match="already used"):
            client.message.send_template_card(["lisi"], approval_card("t1"))


def test_update_replace_name_is_single_use(wecom: Sandbox) -> None:
    add_people(wecom, "lisi", "wangwu")
    with wecom.client() as client:
        sent = client.message.send_template_card(["lisi", "wangwu"], approval_card())
        assert sent.response_code
        invalid = client.message.update_template_card(
            sent.response_code, userids=["lisi", "ghost"], replace_name="已同意"
        )
        assert invalid == ("ghost",)
        with pytest.raises(WeComError, match="response_code"):
            client.message.update_template_card(sent.response_code, replace_name="已驳回")
    assert messages(wecom, "lisi")[0]["replace_name"] == "已同意"
    assert messages(wecom, "wangwu")[0]["replace_name"] is None


def test_update_with_a_whole_card(wecom: Sandbox) -> None:
    add_people(wecom, "lisi")
    with wecom.client() as client:
        sent = client.message.send_template_card(["lisi"], approval_card())
        done = {**approval_card(), "main_title": {"title": "请假申请已处理"}}
        client.message.update_template_card(str(sent.response_code), card=done)
    assert messages(wecom, "lisi")[0]["template_card"]["main_title"]["title"] == "请假申请已处理"


def test_update_needs_exactly_one_change(wecom: Sandbox) -> None:
    with wecom.client() as client, pytest.raises(ValueError, match="exactly one"):
        client.message.update_template_card("rc", replace_name="x", card={})


def test_more_than_1000_card_recipients_is_refused(wecom: Sandbox) -> None:
    with wecom.client() as client, pytest.raises(ValueError, match="task_id"):
        client.message.send_template_card([f"u{i}" for i in range(1001)], approval_card())


# -- the phone: button clicks become encrypted callbacks ---------------------------------


def test_click_sends_an_encrypted_template_card_event(wecom: Sandbox) -> None:
    add_people(wecom, "lisi")
    with wecom.client() as client:
        client.message.send_template_card(["lisi"], approval_card())
    response = requests.post(
        f"{wecom.base}/_sandbox/wecom/api/click",
        json={"userid": "lisi", "task_id": "apply-2026-0001_r1", "key": "approve0"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    delivery = response.json()
    assert delivery["ok"]
    assert delivery["reply_fields"]["ReplaceName"] == "已同意"
    [event] = wecom.receiver.received
    assert event["ToUserName"] == wecom.settings.wecom_corp_id
    assert event["FromUserName"] == "lisi"
    assert event["MsgType"] == "event"
    assert event["Event"] == "template_card_event"
    assert event["EventKey"] == "approve0"
    assert event["TaskId"] == "apply-2026-0001_r1"
    assert event["CardType"] == "button_interaction"
    assert event["AgentID"] == str(wecom.settings.wecom_agent_id)
    assert event["CreateTime"].isdigit()
    assert "<AgentID>1000002</AgentID>" in wecom.receiver.raw[0]
    # The click's ResponseCode works once for update_template_card.
    assert [m["replace_name"] for m in messages(wecom, "lisi")] == ["已同意"]
    with wecom.client() as client:
        client.message.update_template_card(event["ResponseCode"], replace_name="已撤销")
    assert messages(wecom, "lisi")[0]["replace_name"] == "已撤销"


def test_a_replaced_card_cannot_be_clicked_again(wecom: Sandbox) -> None:
    add_people(wecom, "lisi")
    with wecom.client() as client:
        client.message.send_template_card(["lisi"], approval_card())
    body = {"userid": "lisi", "task_id": "apply-2026-0001_r1", "key": "approve0"}
    url = f"{wecom.base}/_sandbox/wecom/api/click"
    assert requests.post(url, json=body, timeout=10).status_code == 200
    again = requests.post(url, json=body, timeout=10)
    assert again.status_code == 400
    assert "已同意" in again.json()["error"]
    assert len(wecom.receiver.received) == 1


def test_wecom_retries_until_200(wecom: Sandbox) -> None:
    add_people(wecom, "lisi")
    with wecom.client() as client:
        client.message.send_template_card(["lisi"], approval_card())
    wecom.receiver.statuses = [500, 503]
    delivery = requests.post(
        f"{wecom.base}/_sandbox/wecom/api/click",
        json={"userid": "lisi", "task_id": "apply-2026-0001_r1", "key": "reject1"},
        timeout=10,
    ).json()
    assert [a["status"] for a in delivery["attempts"]] == [500, 503, 200]
    assert delivery["ok"]
    assert len(wecom.receiver.received) == 3
    assert len({r["ResponseCode"] for r in wecom.receiver.received}) == 1  # the same event


def test_no_retry_when_asked_and_not_found_callback(wecom: Sandbox) -> None:
    add_people(wecom, "lisi")
    with wecom.client() as client:
        client.message.send_template_card(["lisi"], approval_card())
    delivery = requests.post(
        f"{wecom.base}/_sandbox/wecom/api/click",
        json={
            "userid": "lisi",
            "task_id": "apply-2026-0001_r1",
            "key": "approve0",
            "url": f"{wecom.base}/no/such/callback",
        },
        timeout=10,
    ).json()
    assert [a["status"] for a in delivery["attempts"]] == [404, 404, 404]
    assert not delivery["ok"]
    assert messages(wecom, "lisi")[0]["replace_name"] is None


def test_phone_page_renders_cards_and_buttons_work(wecom: Sandbox) -> None:
    add_people(wecom, "lisi")
    with wecom.client() as client:
        client.message.send_text(["lisi"], "欢迎使用网上办事大厅")
        client.message.send_template_card(["lisi"], approval_card())
    with requests.Session() as http:
        page = http.get(f"{wecom.base}/_sandbox/wecom/", params={"userid": "lisi"}, timeout=5)
        assert page.status_code == 200
        html = page.text
        assert 'lang="zh-CN"' in html
        assert "请假申请待审批" in html
        assert "欢迎使用网上办事大厅" in html
        assert 'name="key" value="approve0"' in html
        assert "http://" not in html.split("<body>")[0].replace(wecom.base, "")  # no CDN
        clicked = http.post(
            f"{wecom.base}/_sandbox/wecom/phone/click",
            data={"userid": "lisi", "task_id": "apply-2026-0001_r1", "key": "approve0"},
            timeout=10,
        )
        assert clicked.status_code == 200  # followed the 303 back to the phone
        assert "已同意" in clicked.text
        assert "已送达" in clicked.text
        assert 'name="key" value="approve0"' not in clicked.text
    assert wecom.receiver.received[0]["EventKey"] == "approve0"


def test_phone_page_without_members_and_index(wecom: Sandbox) -> None:
    page = requests.get(f"{wecom.base}/_sandbox/wecom/", timeout=5)
    assert page.status_code == 200
    assert "通讯录为空" in page.text
    add_people(wecom, "lisi")
    page = requests.get(f"{wecom.base}/_sandbox/wecom/", timeout=5)
    assert "请选择一位成员" in page.text
    missing = requests.get(f"{wecom.base}/_sandbox/wecom/api/messages?userid=ghost", timeout=5)
    assert missing.status_code == 404


def test_say_and_enter_agent(wecom: Sandbox) -> None:
    add_people(wecom, "lisi")
    wecom.receiver.reply = "text"
    said = requests.post(
        f"{wecom.base}/_sandbox/wecom/api/say",
        json={"userid": "lisi", "content": "待办"},
        timeout=10,
    ).json()
    assert said["ok"]
    assert said["reply_fields"]["Content"] == "您有 2 条待办"
    text = wecom.receiver.received[0]
    assert (text["MsgType"], text["Content"], text["FromUserName"]) == ("text", "待办", "lisi")
    assert text["MsgId"].isdigit()
    # The passive text reply arrives on the phone; the member's own line is not a delivery.
    assert [m["text"]["content"] for m in messages(wecom, "lisi")] == ["您有 2 条待办"]
    wecom.receiver.reply = ""
    entered = requests.post(
        f"{wecom.base}/_sandbox/wecom/api/enter", json={"userid": "lisi"}, timeout=10
    ).json()
    assert entered["ok"]
    assert wecom.receiver.received[1]["Event"] == "enter_agent"
    page = requests.get(f"{wecom.base}/_sandbox/wecom/?userid=lisi", timeout=5).text
    assert "进入应用" in page
    assert "发送「待办」" in page


def test_duplicate_delivery_when_asked(wecom: Sandbox) -> None:
    add_people(wecom, "lisi")
    delivery = requests.post(
        f"{wecom.base}/_sandbox/wecom/api/enter",
        json={"userid": "lisi", "duplicate": True},
        timeout=10,
    ).json()
    assert [a["status"] for a in delivery["attempts"]] == [200, 200]
    assert wecom.receiver.raw[0] == wecom.receiver.raw[1]


def test_faults_over_http(wecom: Sandbox) -> None:
    url = f"{wecom.base}/_sandbox/wecom/api/faults"
    assert requests.post(url, json={"kind": "nonsense"}, timeout=5).status_code == 400
    assert requests.post(url, json={"kind": "busy", "times": 5}, timeout=5).json() == {"ok": True}
    assert requests.delete(url, timeout=5).json() == {"ok": True}
    with wecom.client() as client:
        client.department.list()
    calls = requests.get(f"{wecom.base}/_sandbox/wecom/api/calls", timeout=5).json()
    assert calls == {"gettoken": 1, "department/list": 1}


def test_a_slow_callback_leaves_the_phone_page_showing_it_in_flight(
    wecom: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_people(wecom, "lisi")
    monkeypatch.setattr(courier, "WAIT", 0.1)
    wecom.receiver.delay = 2.0  # the hall is slow to answer: the page does not wait for it
    with requests.Session() as http:
        page = http.post(
            f"{wecom.base}/_sandbox/wecom/phone/say",
            data={"userid": "lisi", "content": "待办"},
            timeout=10,
        )
        assert page.status_code == 200
        assert "正在投递 1 条回调" in page.text
        assert '<meta http-equiv="refresh" content="1">' in page.text
        deadline = time.monotonic() + 10
        while "正在投递" in page.text and time.monotonic() < deadline:
            time.sleep(0.2)
            page = http.get(f"{wecom.base}/_sandbox/wecom/", params={"userid": "lisi"}, timeout=5)
        assert "已送达" in page.text
        assert 'http-equiv="refresh"' not in page.text
    assert wecom.receiver.received[0]["Content"] == "待办"


def test_a_phone_form_error_is_shown_on_the_phone(wecom: Sandbox) -> None:
    add_people(wecom, "lisi")
    page = requests.post(
        f"{wecom.base}/_sandbox/wecom/phone/say",
        data={"userid": "lisi", "content": "  "},
        timeout=10,
    )
    assert "消息不能为空" in page.text
    assert wecom.receiver.received == []
