"""Inside WeCom, pages sign in through WeCom OAuth instead of CAS."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from hall.models import Person
from tests.sso.conftest import Hall, People
from wework import sandbox as wecom_sandbox
from wework.sandbox import SandboxStore

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
    assert deep.headers["Location"] == "/login/wecom?next=%2Fprocesses%2Fleave"

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


def _wecom_simulator(hall: Hall) -> SandboxStore:
    """The sandbox WeCom on the same server (mounted here if the factory has not yet)."""
    if "wework.sandbox" not in hall.app.extensions:
        wecom_sandbox.init_app(hall.app, hall.redis)
    return wecom_sandbox.sandbox_store(hall.app)


def _oauth_round_trip(hall: Hall, phone: requests.Session, userid: str) -> requests.Response:
    start = phone.get(hall.url("/login/wecom?next=/api/v1/me"), allow_redirects=False)
    authorize = urlsplit(start.headers["Location"])
    fields = {key: values[0] for key, values in parse_qs(authorize.query).items()}
    # The member confirms on WeCom's sign-in screen; WeCom returns with code and state.
    confirmed = phone.post(
        f"{authorize.scheme}://{authorize.netloc}{authorize.path}",
        data={**fields, "userid": userid},
        allow_redirects=False,
    )
    assert confirmed.status_code == 302, confirmed.text
    assert confirmed.headers["Location"].startswith(hall.url("/login/wecom?next="))
    return phone.get(confirmed.headers["Location"], allow_redirects=False)


def test_a_wecom_member_signs_in_through_oauth(hall: Hall, people: People) -> None:
    store = _wecom_simulator(hall)
    store.create_user(
        {"userid": "alice", "name": "王小丽", "department": [1], "mobile": "13900000001"}
    )
    phone = hall.browser(WECOM_UA)

    landed = _oauth_round_trip(hall, phone, "alice")

    assert landed.status_code == 302
    assert landed.headers["Location"] == "/api/v1/me"
    me = phone.get(hall.url("/api/v1/me"))
    assert me.status_code == 200
    assert me.json()["userid"] == "alice"


def test_a_wecom_member_unknown_to_the_hall_gets_no_account(
    hall: Hall, people: People, session: Session
) -> None:
    store = _wecom_simulator(hall)
    store.create_user(
        {"userid": "visitor", "name": "访客", "department": [1], "mobile": "13900000002"}
    )
    phone = hall.browser(WECOM_UA)

    landed = _oauth_round_trip(hall, phone, "visitor")

    assert landed.status_code == 403
    assert "您在网上办事大厅还没有账号" in landed.text
    assert session.scalar(select(Person).where(Person.userid == "visitor")) is None


def test_the_sandbox_sign_in_screen_offers_the_member_whose_phone_was_open(
    hall: Hall, people: People
) -> None:
    store = _wecom_simulator(hall)
    store.create_user(
        {"userid": "alice", "name": "王小丽", "department": [1], "mobile": "13900000001"}
    )
    desk = hall.browser(WECOM_UA)
    start = desk.get(hall.url("/login/wecom?next=/api/v1/me"), allow_redirects=False)
    before = desk.get(start.headers["Location"])
    assert "以当前手机的成员" not in before.text  # no phone opened yet: only the list

    assert desk.get(hall.url("/_sandbox/wecom/"), params={"userid": "alice"}).status_code == 200
    screen = desk.get(start.headers["Location"])
    assert "以当前手机的成员 王小丽（alice）打开" in screen.text
    # A QR code is scanned by whoever picks up a phone: that screen has no default.
    qr = start.headers["Location"].replace("/connect/oauth2/authorize", "/wwlogin/sso/login")
    assert "以当前手机的成员" not in desk.get(qr).text
