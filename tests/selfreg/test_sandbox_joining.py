"""What the sandbox WeCom gained for self-registration: `corp/get_join_qrcode`, the join QR
code's page, and the phone's "扫码加入学校", which behave like WeCom's member verification
(a redirect to the school's verification page with a single-use code)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.wework.conftest import Sandbox
from wework.errors import WeComError


def _member(wecom: Sandbox, userid: str = "2023010001") -> None:
    wecom.store.create_user(
        {"userid": userid, "name": "林同学", "department": [1], "mobile": "13800000001"}
    )


def _code(url: str) -> str:
    [code] = parse_qs(urlsplit(url).query)["code"]
    return code


def test_the_join_qrcode_needs_the_contacts_secret(wecom: Sandbox) -> None:
    with wecom.contacts() as contacts:
        link = contacts.auth.join_qrcode()
        assert link.startswith(wecom.base + "/_sandbox/wecom/join?vcode=")
        assert contacts.auth.join_qrcode(size_type=1) != link
        with pytest.raises(ValueError, match="size_type"):
            contacts.auth.join_qrcode(size_type=9)
        token = contacts.access_token
    with wecom.client() as app, pytest.raises(WeComError) as refused:
        app.auth.join_qrcode()
    assert refused.value.errcode == 48002
    raw = requests.get(
        wecom.base + "/_sandbox/wecom/cgi-bin/corp/get_join_qrcode",
        params={"access_token": token, "size_type": "9"},
        timeout=5,
    ).json()
    assert raw["errcode"] == 40058


def test_scanning_the_join_qrcode_leads_to_the_verification_page(wecom: Sandbox) -> None:
    _member(wecom)
    with wecom.contacts() as contacts:
        link = contacts.auth.join_qrcode()
    page = requests.get(link, timeout=5)
    assert page.status_code == 200
    assert "林同学（2023010001）" in page.text
    assert "未激活" in page.text
    vcode = parse_qs(urlsplit(link).query)["vcode"][0]
    scanned = requests.post(
        wecom.base + "/_sandbox/wecom/join",
        data={"vcode": vcode, "userid": "2023010001"},
        allow_redirects=False,
        timeout=5,
    )
    assert scanned.status_code == 303
    target = scanned.headers["Location"]
    assert target.startswith(wecom.base + "/join?code=")
    with wecom.client() as app:
        assert app.oauth.userid_from_code(_code(target)) == "2023010001"
        with pytest.raises(WeComError) as used:
            app.oauth.userid_from_code(_code(target))  # single use
    assert used.value.errcode == 40029

    expired = requests.get(wecom.base + "/_sandbox/wecom/join?vcode=forged", timeout=5)
    assert expired.status_code == 404
    assert "二维码已失效" in expired.text
    nobody = requests.post(
        wecom.base + "/_sandbox/wecom/join",
        data={"vcode": vcode, "userid": "nobody"},
        allow_redirects=False,
        timeout=5,
    )
    assert nobody.status_code == 400
    assert "不能加入" in nobody.text


def test_the_phone_joins_and_shows_the_member_activated(wecom: Sandbox) -> None:
    _member(wecom)
    wecom.store.set_verification_url("https://hall.example.edu.cn/join?from=wecom")
    phone = requests.get(wecom.base + "/_sandbox/wecom/?userid=2023010001", timeout=5).text
    assert "未激活" in phone
    assert "扫码加入学校" in phone
    joined = requests.post(
        wecom.base + "/_sandbox/wecom/phone/join",
        data={"userid": "2023010001"},
        allow_redirects=False,
        timeout=5,
    )
    assert joined.status_code == 303
    assert joined.headers["Location"].startswith(
        "https://hall.example.edu.cn/join?from=wecom&code="
    )
    api = requests.post(
        wecom.base + "/_sandbox/wecom/api/join", json={"userid": "2023010001"}, timeout=5
    )
    assert api.status_code == 200
    assert _code(api.json()["url"]) != _code(joined.headers["Location"])

    with wecom.client() as app:
        app.auth.authsucc("2023010001")
    phone = requests.get(wecom.base + "/_sandbox/wecom/?userid=2023010001", timeout=5).text
    assert "已激活" in phone
    assert "扫码加入学校" not in phone
    again = requests.post(
        wecom.base + "/_sandbox/wecom/phone/join",
        data={"userid": "2023010001"},
        allow_redirects=False,
        timeout=5,
    )
    assert again.status_code == 303
    assert "error=" in again.headers["Location"]
    refused = requests.post(
        wecom.base + "/_sandbox/wecom/api/join", json={"userid": "2023010001"}, timeout=5
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "the member is activated already"
