"""Contacts through the contacts assistant: departments, members, batch jobs, OAuth."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from config import load_settings
from wework.api import BatchAPI, MemberRow, PartyRow
from wework.client import app_client
from wework.errors import WeComError
from wework.sandbox.store import BATCH_CHUNK

from .conftest import Sandbox, add_people


def test_department_crud(wecom: Sandbox) -> None:
    with wecom.contacts() as c:
        college = c.department.create("临床医学院", 1, order=10)
        office = c.department.create("教务办", college, id=900)
        assert office == 900
        with pytest.raises(WeComError) as dup:
            c.department.create("教务办", college)
        assert dup.value.errcode == 60008
        with pytest.raises(WeComError) as bad:
            c.department.create("坏*名字", 1)
        assert bad.value.errcode == 60009
        c.department.update(office, name="教学办公室")
        tree = c.department.list(college)
        assert [(d["id"], d["name"]) for d in tree] == [
            (college, "临床医学院"),
            (900, "教学办公室"),
        ]
        assert {"id": 900, "parentid": college, "order": 0} in c.department.simplelist()
        with pytest.raises(WeComError) as cycle:
            c.department.update(college, parentid=900)
        assert cycle.value.errcode == 60010
        with pytest.raises(WeComError) as children:
            c.department.delete(college)
        assert children.value.errcode == 60006
        c.user.create("t001", "王老师", department=[900], mobile="13800000001")
        with pytest.raises(WeComError) as members:
            c.department.delete(900)
        assert members.value.errcode == 60005
        c.user.delete("t001")
        c.department.delete(900)
        with pytest.raises(WeComError) as gone:
            c.department.list(900)
        assert gone.value.errcode == 60003
        with pytest.raises(WeComError) as root:
            c.department.delete(1)
        assert root.value.errcode == 60007


def test_member_crud(wecom: Sandbox) -> None:
    with wecom.contacts() as c:
        c.user.create(
            "T001", "王老师", department=[1], mobile="13800000001", position="辅导员", gender="2"
        )
        member = c.user.get("t001")  # userids are case-insensitive
        assert (member["userid"], member["name"], member["position"]) == (
            "T001",
            "王老师",
            "辅导员",
        )
        assert member["status"] == 4
        for userid, mobile, errcode in [
            ("T001", "13800000009", 60102),
            ("t002", "13800000001", 60104),
            ("t003", "12", 60103),
            ("bad id!", "13800000003", 40003),
            ("t004", None, 60129),
        ]:
            with pytest.raises(WeComError) as caught:
                c.user.create(userid, "某人", department=[1], mobile=mobile)
            assert caught.value.errcode == errcode
        with pytest.raises(WeComError) as dept:
            c.user.create("t005", "某人", department=[404], mobile="13800000005")
        assert dept.value.errcode == 60003
        c.user.update("t001", name="王主任", enable=0)
        assert c.user.get("T001")["name"] == "王主任"
        c.user.create("t006", "李老师", department=[1], email="li@example.edu.cn")
        assert [r["userid"] for r in c.user.iter_ids(limit=1)] == ["T001", "t006"]
        c.user.delete("T001")
        with pytest.raises(WeComError) as gone:
            c.user.get("t001")
        assert gone.value.errcode == 60111


def test_disabled_member_is_an_invalid_recipient(wecom: Sandbox) -> None:
    add_people(wecom, "lisi", "wangwu")
    with wecom.contacts() as c:
        c.user.update("wangwu", enable=0)
    with wecom.client() as app:
        result = app.message.send_text(["lisi", "wangwu"], "x")
    assert result.invalid_users == ("wangwu",)


def test_batch_sync_replace_and_parties(wecom: Sandbox) -> None:
    with wecom.contacts() as c:
        parties = BatchAPI.parties_csv(
            [
                PartyRow(10, "基础医学院", 1, 1),
                PartyRow(11, "解剖教研室", 10),
                PartyRow(12, "人事处", 1),
            ]
        )
        job = c.batch.replace_party(c.batch.upload_csv(parties))
        result = c.batch.get_result(job)
        assert result.done
        assert result.type == "replace_party"
        assert {(r["partyid"], r["errcode"]) for r in result.result} == {(10, 0), (11, 0), (12, 0)}
        assert {d["id"] for d in c.department.list()} == {1, 10, 11, 12}

        members = [
            MemberRow("s001", "张三", [11], mobile="13900000001"),
            MemberRow("s002", "李四", [10, 12], email="lisi@example.edu.cn", position="干事"),
            MemberRow("bad id", "坏", [10], mobile="13900000003"),
        ]
        job = c.batch.sync_user(c.batch.upload_csv(BatchAPI.members_csv(members)))
        result = c.batch.get_result(job)
        assert [(r["userid"], r["errcode"]) for r in result.result] == [
            ("s001", 0),
            ("s002", 0),
            ("bad id", 40003),
        ]
        assert c.user.get("s002")["department"] == [10, 12]

        job = c.batch.replace_user(c.batch.upload_csv(BatchAPI.members_csv(members[1:2])))
        result = c.batch.get_result(job)
        assert ("s001", "deleted") in {(r["userid"], r["errmsg"]) for r in result.result}
        # list_id answers one row per (member, department), as WeCom does.
        assert [(r["userid"], r["department"]) for r in c.user.iter_ids()] == [
            ("s002", 10),
            ("s002", 12),
        ]

        # A department missing from the file goes; its members move to the root.
        parties = BatchAPI.parties_csv([PartyRow(10, "基础医学院", 1)])
        c.batch.replace_party(c.batch.upload_csv(parties))
        assert {d["id"] for d in c.department.list()} == {1, 10}
        assert c.user.get("s002")["department"] == [10]

        with pytest.raises(WeComError) as missing:
            c.batch.sync_user("3nosuchmedia")
        assert missing.value.errcode == 40007
        with pytest.raises(WeComError) as header:
            c.batch.sync_user(c.batch.upload_csv("a,b\n1,2\n"))
        assert header.value.errcode == 40058


def test_a_large_batch_job_is_accepted_at_once_and_applied_in_chunks(wecom: Sandbox) -> None:
    total = 2 * BATCH_CHUNK + 500
    rows = [MemberRow(f"b{i:05d}", f"人{i}", [1], mobile=f"136{i:08d}") for i in range(total)]
    seen: list[tuple[int, int]] = []
    with wecom.contacts() as c:
        job = c.batch.sync_user(c.batch.upload_csv(BatchAPI.members_csv(rows)))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            result = c.batch.get_result(job)
            seen.append((result.status, result.percentage))
            if result.done:
                break
            assert result.status in {1, 2}
            assert result.result == []
            time.sleep(0.05)
        assert result.done, seen
        assert result.total == total
        assert len(result.result) == total
        assert all(r["errcode"] == 0 for r in result.result)
        assert [p for _s, p in seen] == sorted(p for _s, p in seen)  # progress only grows
        assert c.user.get(f"b{total - 1:05d}")["name"] == f"人{total - 1}"


def test_replace_user_refuses_mass_deletion(wecom: Sandbox) -> None:
    rows = [MemberRow(f"u{i:03d}", f"人{i}", [1], mobile=f"137{i:08d}") for i in range(60)]
    with wecom.contacts() as c:
        c.batch.sync_user(c.batch.upload_csv(BatchAPI.members_csv(rows)))
        job = c.batch.replace_user(c.batch.upload_csv(BatchAPI.members_csv(rows[:2])))
        result = c.batch.get_result(job)
        assert any("20%" in r["errmsg"] for r in result.result)
        assert len(list(c.user.iter_ids())) == 60


def test_oauth_in_wecom_and_qr_login(wecom: Sandbox) -> None:
    add_people(wecom, "lisi")
    with wecom.client() as client:
        url = client.oauth.authorize_url("http://127.0.0.1:9/sso/wecom?next=/me", state="xyz")
        assert url.startswith(f"{wecom.base}/_sandbox/wecom/connect/oauth2/authorize?")
        assert url.endswith("#wechat_redirect")
        query = parse_qs(urlsplit(url).query)
        assert query["appid"] == [wecom.settings.wecom_corp_id]
        assert query["agentid"] == [str(wecom.settings.wecom_agent_id)]
        assert query["scope"] == ["snsapi_base"]
        page = requests.get(url, timeout=5)
        assert page.status_code == 200
        assert "企业微信网页授权" in page.text
        assert "lisi" in page.text
        answer = requests.post(
            url.split("#")[0], data={"userid": "lisi"}, allow_redirects=False, timeout=5
        )
        assert answer.status_code == 302
        target = urlsplit(answer.headers["Location"])
        assert target.path == "/sso/wecom"
        back = parse_qs(target.query)
        assert back["state"] == ["xyz"]
        assert back["next"] == ["/me"]
        assert client.oauth.userid_from_code(back["code"][0]) == "lisi"
        with pytest.raises(WeComError) as reused:
            client.oauth.get_user_info(back["code"][0])
        assert reused.value.errcode == 40029

        qr = client.oauth.qr_login_url("http://127.0.0.1:9/sso/qr", state="s")
        assert "login_type=CorpApp" in qr
        assert "扫码登录" in requests.get(qr, timeout=5).text


def test_oauth_urls_for_real_wecom(redis_conn, tmp_path) -> None:
    settings = load_settings(
        sandbox=False,
        wecom_corp_id="ww1436e0e65a779aee",
        wecom_agent_id=1000002,
        wecom_secret="s",
        var_dir=tmp_path,
        secret_key="k",
    )
    with app_client(settings, redis_conn) as client:
        assert client.API_BASE_URL == "https://qyapi.weixin.qq.com/cgi-bin/"
        url = client.oauth.authorize_url("https://hall.example.edu.cn/sso/wecom", state="1")
        assert url.startswith(
            "https://open.weixin.qq.com/connect/oauth2/authorize?appid=ww1436e0e65a779aee"
            "&redirect_uri=https%3A%2F%2Fhall.example.edu.cn%2Fsso%2Fwecom"
        )
        assert "&agentid=1000002#wechat_redirect" in url
        assert client.oauth.qr_login_url("https://h/x").startswith(
            "https://login.work.weixin.qq.com/wwlogin/sso/login?login_type=CorpApp"
        )


def test_authsucc_activates_a_member(wecom: Sandbox) -> None:
    add_people(wecom, "lisi")
    with wecom.client() as client:
        client.auth.authsucc("lisi")
        with pytest.raises(WeComError) as missing:
            client.auth.authsucc("ghost")
    assert missing.value.errcode == 60111
    assert wecom.store.get_user("lisi")["status"] == 1
