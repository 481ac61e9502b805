"""Inside WeCom, pages sign in through WeCom OAuth instead of CAS."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.sso.conftest import Hall, People

WECOM_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 wxwork/4.1.20 MicroMessenger/7.0.1 Language/zh"
)


def test_inside_wecom_login_goes_to_wecom_oauth(hall: Hall) -> None:
    phone = hall.browser(WECOM_UA)
    login = phone.get(hall.url("/login?next=/api/v1/me"), allow_redirects=False)
    assert login.status_code == 302
    assert login.headers["Location"] == "/login/wecom?next=%2Fapi%2Fv1%2Fme"
    deep = phone.get(hall.url("/go/leave"), allow_redirects=False)
    assert deep.headers["Location"] == "/login/wecom?next=%2Fapi%2Fv1%2Fprocesses%2Fleave"

    oauth = phone.get(hall.url("/login/wecom?next=/api/v1/me"), allow_redirects=False)
    assert oauth.status_code == 302
    target = urlsplit(oauth.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == (
        f"{hall.base_url}/_sandbox/wecom/connect/oauth2/authorize"
    )
    assert target.fragment == "wechat_redirect"
    query = parse_qs(target.query)
    assert query["appid"] == [hall.settings.wecom_corp_id]
    assert query["redirect_uri"] == [f"{hall.base_url}/login/wecom?next=%2Fapi%2Fv1%2Fme"]
    assert query["scope"] == ["snsapi_base"]
    assert len(query["state"][0]) >= 16


def test_a_wrong_oauth_state_is_refused(hall: Hall, people: People) -> None:
    phone = hall.browser(WECOM_UA)
    phone.get(hall.url("/login/wecom"), allow_redirects=False)
    reply = phone.get(hall.url("/login/wecom?code=abc&state=forged"), allow_redirects=False)
    assert reply.status_code == 403
    assert "INVALID_STATE" in reply.text
    # No state at all (a code replayed into a fresh browser).
    fresh = hall.browser(WECOM_UA)
    assert fresh.get(hall.url("/login/wecom?code=abc&state=x")).status_code == 403


def test_a_code_wecom_does_not_know_is_refused(hall: Hall, people: People) -> None:
    phone = hall.browser(WECOM_UA)
    start = phone.get(hall.url("/login/wecom"), allow_redirects=False)
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    reply = phone.get(hall.url("/login/wecom"), params={"code": "no-such-code", "state": state})
    assert reply.status_code == 403
    assert "登录未成功" in reply.text
    assert phone.get(hall.url("/api/v1/me")).status_code == 401
