"""The WeCom channel words outcomes as the rest of the hall does (hall.channels)."""

from __future__ import annotations

from cards import NoticeView
from hall.channels import OUTCOME_PHRASES
from web.wecom_channel import _result_card

VIEW = NoticeView(title="张三的请假", process_name="请假", serial="1", detail_url="https://h/1")


def test_each_outcome_has_the_halls_phrase_and_an_unknown_one_reads_handled():
    for outcome, phrase in OUTCOME_PHRASES.items():
        assert _result_card(VIEW, outcome)["main_title"]["title"] == f"您的申请{phrase}"
    assert _result_card(VIEW, "mystery")["main_title"]["title"] == "您的申请已办结"
