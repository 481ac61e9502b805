"""The simulated phone shows text messages as the WeCom client does: links as links."""

from __future__ import annotations

from wework.sandbox.rendering import text_message


def test_anchor_with_a_web_address_becomes_a_link_and_the_rest_stays_text():
    shown = text_message(
        '您有1条待办：\n1. <a href="http://h/go?a=1&b=2">张三的请假申请</a>（审批）'
    )
    assert str(shown) == (
        '您有1条待办：\n1. <a href="http://h/go?a=1&amp;b=2">张三的请假申请</a>（审批）'
    )


def test_anything_else_that_looks_like_markup_is_shown_escaped():
    shown = str(text_message('<script>x</script><a href="javascript:alert(1)">点我</a><b>粗</b>'))
    assert "<script>" not in shown
    assert "<a " not in shown
    assert shown.startswith("&lt;script&gt;")


def test_a_link_label_cannot_smuggle_markup():
    shown = str(text_message('<a href="https://h/x">a<img src=x onerror=1></a>'))
    assert shown == '<a href="https://h/x">a&lt;img src=x onerror=1&gt;</a>'
