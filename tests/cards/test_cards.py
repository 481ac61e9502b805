"""Card builders: shapes WeCom accepts, limits enforced by visible truncation."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cards import (
    NO_TARGET,
    Candidate,
    CardAction,
    CardLimitError,
    HelpLinks,
    LinkBuilder,
    NoticeView,
    Reminder,
    ReplaceName,
    ReviewView,
    Row,
    action_key,
    card_task_id,
    cc_card,
    cut,
    hall_task_of,
    handled_elsewhere_card,
    help_card,
    overdue_digest_card,
    parse_key,
    replace_name_update,
    result_card,
    review_card,
    revoked_card,
    template_card_message,
    transfer_question_key,
)
from cards.limits import TASK_ID_RE

DETAIL = "https://hall.example.edu.cn/m/applications/7"
RETURN_FORM = "https://hall.example.edu.cn/m/applications/7?act=return"


def _view(**kw) -> ReviewView:
    base: dict[str, Any] = {
        "task_id": 123,
        "round": 1,
        "process_name": "教职工请假",
        "serial": "20260901-0007",
        "applicant_name": "张三",
        "applicant_department": "计算机学院",
        "step_name": "负责人审批",
        "detail_url": DETAIL,
        "return_url": RETURN_FORM,
        "rows": (Row("请假类型", "事假"), Row("天数", "2")),
    }
    base.update(kw)
    return ReviewView(**base)


def _notice(**kw) -> NoticeView:
    base: dict[str, Any] = {
        "title": "张三的教职工请假",
        "process_name": "教职工请假",
        "serial": "20260901-0007",
        "detail_url": DETAIL,
    }
    base.update(kw)
    return NoticeView(**base)


# ------------------------------------------------------------------ truncation


def test_cut_keeps_short_text_and_marks_long_text():
    assert cut("同意", 10) == "同意"
    assert cut("一二三四五六七八九十甲", 10) == "一二三四五六七八九…"
    assert len(cut("x" * 100, 36)) == 36
    assert cut("两行\n文字  多空格", 20) == "两行 文字 多空格"


# --------------------------------------------------------------- review card


def test_review_card_shape():
    card = review_card(_view(), nonce="n1")
    assert card["card_type"] == "button_interaction"
    assert card["main_title"] == {
        "title": "教职工请假",
        "desc": "张三（计算机学院）提交 · 负责人审批",
    }
    assert card["horizontal_content_list"] == [
        {"keyname": "请假类型", "value": "事假"},
        {"keyname": "天数", "value": "2"},
    ]
    assert card["card_action"] == {"type": 1, "url": DETAIL}
    assert card["quote_area"]["url"] == DETAIL
    assert card["quote_area"]["title"] == "办件编号 20260901-0007"
    assert card["task_id"] == "hall-123-1-n1"
    assert card["button_list"] == [
        {"text": "同意", "style": 1, "key": "approve:123"},
        {"text": "驳回", "style": 3, "key": "reject:123"},
        # A return needs a typed reason: the button opens the page's 退回 form.
        {"type": 1, "text": "退回", "style": 2, "url": RETURN_FORM},
    ]
    assert "button_selection" not in card
    assert [a["key"] for a in card["action_menu"]["action_list"]] == ["menu:todo", "menu:progress"]


def test_review_card_without_return():
    card = review_card(_view(allow_return=False), nonce="n1")
    assert [b["key"] for b in card["button_list"]] == ["approve:123", "reject:123"]


def test_handling_step_card_reads_banjie_or_links_to_the_form_it_needs():
    plain = review_card(_view(kind="handle"), nonce="n1")
    assert plain["button_list"][0] == {"text": "办结", "style": 1, "key": "approve:123"}
    # Fields to fill in (处理结果 ...): a card cannot collect them, so no 办结 that can only
    # fail, but a link to the web view's form, and the other decisions as before.
    form = review_card(_view(kind="handle", fill_in=True), nonce="n1")
    assert form["button_list"] == [
        {"type": 1, "text": "去办理", "style": 1, "url": DETAIL},
        {"text": "驳回", "style": 3, "key": "reject:123"},
        {"type": 1, "text": "退回", "style": 2, "url": RETURN_FORM},
    ]
    assert not any(b.get("key") == "approve:123" for b in form["button_list"])


def test_a_consent_card_asks_agree_or_not():
    card = review_card(_view(kind="consent", allow_return=False), nonce="n1")
    assert [(b["text"], b["key"]) for b in card["button_list"]] == [
        ("同意", "approve:123"),
        ("不同意", "reject:123"),
    ]


def test_a_card_sent_back_by_a_later_step_says_who_and_why():
    card = review_card(_view(returned_by="赵处长", return_reason="请核对天数"), nonce="n1")
    assert card["sub_title_text"] == "赵处长退回：请核对天数"
    bare = review_card(_view(returned_by="赵处长"), nonce="n2")
    assert bare["sub_title_text"] == "赵处长退回：请重新处理。"
    gone = review_card(_view(reassigned_from="陈辅导员"), nonce="n4")
    assert gone["sub_title_text"] == "原处理人陈辅导员已停用，转由您处理。"
    # Without a return URL (a view built elsewhere) 退回 opens the detail page.
    plain = review_card(_view(return_url=""), nonce="n3")
    assert plain["button_list"][2] == {"type": 1, "text": "退回", "style": 2, "url": DETAIL}


def test_the_overdue_digest_opens_the_monitor():
    url = "https://hall.example.edu.cn/login/wecom?next=%2Fmonitor%3Foverdue%3D1"
    card = overdue_digest_card(count=3, since="09月02日 09:00", monitor_url=url)
    assert card["card_type"] == "text_notice"
    assert card["main_title"]["title"] == "3件待办超时未办"
    assert card["emphasis_content"] == {"title": "3", "desc": "件超时待办"}
    assert (
        card["sub_title_text"]
        == "最早的已于09月02日 09:00超时。请在「办件监控」中查看，必要时改派。"
    )
    assert card["card_action"] == {"type": 1, "url": url}
    assert card["jump_list"] == [{"type": 1, "title": "打开办件监控", "url": url}]


def test_a_resubmitted_application_says_so_unless_it_is_a_reminder():
    card = review_card(_view(resubmitted=True), nonce="n1")
    assert card["sub_title_text"] == "申请人已按退回意见修改并重新提交。"
    urged = review_card(_view(resubmitted=True), nonce="n2", reminder=Reminder("张三"))
    assert urged["sub_title_text"] == "张三催办：请尽快处理。"
    assert "sub_title_text" not in review_card(_view(), nonce="n3")
    back = review_card(_view(signed_by="王五"), nonce="n4")  # after a signer added before
    assert back["sub_title_text"] == "您加签的王五已同意，请继续处理。"


def test_review_card_transfer_dropdown_has_at_most_ten_unique_options():
    people = [Candidate(f"u{i:02d}", f"同事{i}") for i in range(14)]
    card = review_card(_view(transfer_candidates=[people[0], *people]), nonce="n1")
    selection = card["button_selection"]
    assert selection["question_key"] == "transfer_to:123"
    assert selection["title"] == "转交给"
    # WeCom preselects an option: 请选择, so tapping 转交 untouched transfers to nobody.
    assert selection["selected_id"] == NO_TARGET
    assert selection["option_list"][0] == {"id": NO_TARGET, "text": "请选择"}
    ids = [o["id"] for o in selection["option_list"][1:]]
    assert ids == [f"u{i:02d}" for i in range(9)]
    assert card["button_list"][-1] == {"text": "转交", "style": 4, "key": "transfer:123"}


def test_review_card_truncates_every_visible_text():
    long = "很长的" * 40
    card = review_card(
        _view(
            process_name=long,
            applicant_name=long,
            step_name=long,
            rows=[Row(long, long)],
            transfer_candidates=[Candidate("u1", long)],
        ),
        nonce="n1",
    )
    assert len(card["main_title"]["title"]) == 36
    assert card["main_title"]["title"].endswith("…")
    assert len(card["main_title"]["desc"]) == 44
    assert card["horizontal_content_list"][0] == {"keyname": "很长的很…", "value": long[:29] + "…"}
    assert card["button_selection"]["option_list"][1]["text"] == long[:9] + "…"


def test_review_card_shows_six_rows_and_links_the_rest():
    rows = [Row(f"字段{i}", str(i)) for i in range(9)]
    card = review_card(_view(rows=rows), nonce="n1")
    shown = card["horizontal_content_list"]
    assert len(shown) == 6
    assert [r["keyname"] for r in shown[:5]] == [f"字段{i}" for i in range(5)]
    assert shown[5] == {"type": 1, "keyname": "更多", "value": "另有4项，见详情", "url": DETAIL}


def test_review_card_with_exactly_six_rows_shows_them_all():
    rows = [Row(f"字段{i}", str(i)) for i in range(6)]
    card = review_card(_view(rows=rows), nonce="n1")
    assert [r["value"] for r in card["horizontal_content_list"]] == [str(i) for i in range(6)]


def test_reminder_card_is_a_fresh_review_card():
    card = review_card(_view(), nonce="n2", reminder=Reminder(urged_by="张三", waited_hours=30))
    assert card["main_title"]["title"] == "【催办】教职工请假"
    assert card["sub_title_text"] == "张三催办：已等待30小时，请尽快处理。"
    assert card["task_id"] == "hall-123-1-n2"
    assert card["button_list"][0]["key"] == "approve:123"
    timer = review_card(_view(), nonce="n3", reminder=Reminder(waited_hours=30, overdue_hours=6))
    assert timer["main_title"]["title"] == "【超时提醒】教职工请假"  # nobody urged: the timer
    assert timer["sub_title_text"] == "提醒：已超过办理时限6小时，请尽快处理。"
    assert review_card(_view(), nonce="n4", reminder=Reminder())["sub_title_text"] == (
        "提醒：已超过办理时限，请尽快处理。"
    )


def test_review_card_skips_candidates_whose_userid_cannot_be_an_option_id():
    card = review_card(_view(transfer_candidates=[Candidate("x" * 129, "太长")]), nonce="n")
    assert "button_selection" not in card
    assert [b.get("key") for b in card["button_list"]] == ["approve:123", "reject:123", None]


# ------------------------------------------------------------------- task ids


def test_card_task_id_alphabet_and_length():
    assert card_task_id(5, 2, "abc") == "hall-5-2-abc"
    assert card_task_id(5, 2, "a.b c/d+é@_-") == "hall-5-2-abcd@_-"
    long = card_task_id(10**17, 99, "z" * 500)
    assert len(long.encode()) == 128
    assert TASK_ID_RE.fullmatch(long)
    with pytest.raises(CardLimitError):
        card_task_id(5, 2, "...")
    with pytest.raises(CardLimitError):
        card_task_id(-1, 2, "abc")


@given(task=st.integers(0, 10**18), round_=st.integers(0, 10**4), nonce=st.text(min_size=1))
def test_card_task_id_is_always_valid_or_refused(task, round_, nonce):
    try:
        value = card_task_id(task, round_, nonce)
    except CardLimitError:
        assert not re.sub(r"[^0-9A-Za-z_\-@]", "", nonce)
    else:
        assert TASK_ID_RE.fullmatch(value)
        assert len(value.encode()) <= 128
        assert hall_task_of(value) == task


def test_hall_task_of_rejects_foreign_ids():
    assert hall_task_of("hall-42-1-abc") == 42
    assert hall_task_of("other-42-1-abc") is None
    assert hall_task_of("hall-x-1-abc") is None
    assert hall_task_of("hall-42") is None


# ----------------------------------------------------------------------- keys


def test_keys_round_trip():
    for action in CardAction:
        parsed = parse_key(action_key(action, 77))
        assert parsed is not None
        assert (parsed.action, parsed.task_id) == (action, 77)
    assert transfer_question_key(77) == "transfer_to:77"


@pytest.mark.parametrize(
    "key", ["", "approve", "approve:", "approve:x", "delete:1", "approve:-1", "approve:١٢", "a:1:2"]
)
def test_parse_key_refuses_anything_else(key):
    assert parse_key(key) is None


def test_parse_key_refuses_huge_numbers():
    assert parse_key("approve:" + "9" * 19) is None


# -------------------------------------------------------------------- notices


def test_result_card_approved():
    card = result_card(_notice(comment="同意，注意安全"), outcome="approved", phrase="已通过")
    assert card["card_type"] == "text_notice"
    assert card["main_title"] == {"title": "您的申请已通过", "desc": "张三的教职工请假"}
    assert card["emphasis_content"] == {"title": "已通过", "desc": "办理结果"}
    assert card["sub_title_text"] == "审批意见：同意，注意安全。"
    assert card["horizontal_content_list"] == [
        {"keyname": "事项", "value": "教职工请假"},
        {"keyname": "办件编号", "value": "20260901-0007"},
    ]
    assert card["card_action"] == {"type": 1, "url": DETAIL}
    assert card["jump_list"] == [{"type": 1, "title": "查看详情", "url": DETAIL}]
    assert "task_id" not in card


def test_result_card_returned_asks_to_resubmit():
    returned = result_card(_notice(comment="材料不全"), outcome="returned", phrase="被退回修改")
    assert returned["main_title"]["title"] == "您的申请被退回修改"
    assert returned["sub_title_text"] == "退回原因：材料不全。请修改后重新提交。"
    asked = result_card(
        _notice(comment="请补充医院证明！"), outcome="returned", phrase="被退回修改"
    )
    assert asked["sub_title_text"] == "退回原因：请补充医院证明！请修改后重新提交。"
    handled = result_card(_notice(), outcome="handled", phrase="已办结")
    assert handled["main_title"]["title"] == "您的申请已办结"
    assert "sub_title_text" not in handled


def test_result_card_with_handling_result_rows():
    rows = [Row(f"结果{i}", "x") for i in range(6)]
    card = result_card(_notice(rows=rows), outcome="handled", phrase="已办结")
    assert len(card["horizontal_content_list"]) == 6
    assert card["horizontal_content_list"][-1]["value"] == "另有3项，见详情"


def test_cc_card():
    card = cc_card(_notice(), applicant_name="张三")
    assert card["card_type"] == "text_notice"
    assert card["main_title"]["title"] == "抄送：张三的申请"
    assert card["sub_title_text"] == "此申请已抄送给您，仅供知悉，无需处理。"
    assert card["card_action"]["url"] == DETAIL
    by_hand = cc_card(_notice(comment="请知悉"), applicant_name="张三", by="李老师")
    assert by_hand["sub_title_text"] == "李老师将此申请抄送给您，仅供知悉，无需处理。附言：请知悉。"


def test_revoked_card_says_who_took_the_approval_back_and_why():
    card = revoked_card(_notice(comment="会议取消"), applicant_name="张三")
    assert card["card_type"] == "text_notice"
    assert card["main_title"]["title"] == "申请已撤销：张三的申请"
    assert card["sub_title_text"] == (
        "张三撤销了已通过的此申请，原审批结果不再有效。撤销原因：会议取消。"
    )
    assert card["card_action"]["url"] == DETAIL


def test_handled_elsewhere_card_and_withdrawn_variant():
    card = handled_elsewhere_card(_notice())
    assert card["main_title"]["title"] == "待办已由他人处理"
    withdrawn = handled_elsewhere_card(_notice(), withdrawn=True)
    assert withdrawn["main_title"]["title"] == "申请已撤回"
    assert withdrawn["sub_title_text"] == "申请人已撤回此申请，您无需再处理。"


# -------------------------------------------------------------------- updates


def test_replace_name_update():
    body = replace_name_update(
        userids=["u1"], agent_id=1000002, response_code="rc", name=ReplaceName.HANDLED_ELSEWHERE
    )
    assert body == {
        "userids": ["u1"],
        "agentid": 1000002,
        "response_code": "rc",
        "button": {"replace_name": "已由他人处理"},
    }
    cut_name = replace_name_update(userids=["u1"], agent_id=1, response_code="rc", name="一" * 20)
    assert cut_name["button"]["replace_name"] == "一" * 9 + "…"


@pytest.mark.parametrize(("userids", "code"), [([], "rc"), (["u"] * 1001, "rc"), (["u1"], "")])
def test_replace_name_update_refuses_bad_input(userids, code):
    with pytest.raises(CardLimitError):
        replace_name_update(userids=userids, agent_id=1, response_code=code, name="已处理")


def test_replace_names_fit_a_button():
    assert all(len(name.value) <= 10 for name in ReplaceName)


def test_template_card_message():
    card = review_card(_view(), nonce="n")
    assert template_card_message(touser="u1", agent_id=9, card=card) == {
        "touser": "u1",
        "msgtype": "template_card",
        "agentid": 9,
        "template_card": card,
    }


# ---------------------------------------------------------------------- links


def test_oauth_link_goes_through_the_halls_wecom_login():
    links = LinkBuilder(base_url="https://hall.example.edu.cn/")
    url = links.application(7)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://hall.example.edu.cn/login/wecom"
    )
    assert parse_qs(parts.query) == {"next": ["/go/application/7"]}
    assert url == "https://hall.example.edu.cn/login/wecom?next=%2Fgo%2Fapplication%2F7"
    assert links.home() == "https://hall.example.edu.cn/login/wecom?next=%2F"


@pytest.mark.parametrize("path", ["https://evil.example.com/", "//evil.example.com/x", "x"])
def test_oauth_link_refuses_foreign_targets(path):
    with pytest.raises(ValueError, match="not a hall path"):
        LinkBuilder(base_url="https://hall.example.edu.cn").oauth(path)


def test_the_help_card_lists_the_commands_and_the_pending_figure():
    links = HelpLinks(todo="https://h/t", applications="https://h/a", home="https://h/")
    card = help_card(pending=3, links=links)
    assert card["card_type"] == "text_notice"
    assert card["emphasis_content"] == {"title": "3", "desc": "条待办等您处理"}
    assert [r["keyname"] for r in card["horizontal_content_list"]] == [
        "待办",
        "进度",
        "审批卡片",
        "退回",
    ]
    assert all(len(r["value"]) <= 30 for r in card["horizontal_content_list"])
    assert [j["url"] for j in card["jump_list"]] == ["https://h/t", "https://h/a", "https://h/"]
    assert card["card_action"] == {"type": 1, "url": "https://h/"}
    assert "emphasis_content" not in help_card(pending=0, links=links)
