"""Plays WeCom's side of a callback in tests: encrypt, sign, post; verify and open replies."""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from defusedxml.ElementTree import fromstring
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from hall.models import Person
from wework.crypto import WeComCrypto
from wework.sandbox.store import SandboxStore

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_xml(name: str, **values: Any) -> str:
    """A fixture with its $placeholders filled (ids the test's rows got)."""
    text = (FIXTURES / f"{name}.xml").read_text(encoding="utf-8")
    return string.Template(text).substitute({k: str(v) for k, v in values.items()})


def outer_xml(corp_id: str, encrypt: str, agent_id: str = "") -> str:
    agent = f"<AgentID><![CDATA[{agent_id}]]></AgentID>" if agent_id else ""
    return (
        f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>{agent}"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    )


@dataclass
class Reply:
    """A decrypted passive reply: its fields as text."""

    fields: dict[str, str]
    button: str | None

    @property
    def msg_type(self) -> str:
        return self.fields["MsgType"]


@dataclass
class WeComPeer:
    client: FlaskClient
    crypto: WeComCrypto
    corp_id: str
    path: str = "/wecom/callback"
    agent_id: str = ""

    def signed_query(
        self, encrypt: str, *, timestamp: int | None = None, nonce: str | None = None
    ) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or secrets.token_hex(6)
        return {
            "msg_signature": self.crypto.signature(ts, nonce, encrypt),
            "timestamp": ts,
            "nonce": nonce,
        }

    def envelope(self, inner: str) -> tuple[str, dict[str, str]]:
        encrypt = self.crypto.encrypt(inner.encode("utf-8"))
        return outer_xml(self.corp_id, encrypt, self.agent_id), self.signed_query(encrypt)

    def post(self, inner: str, **query: str) -> TestResponse:
        body, signed = self.envelope(inner)
        return self.client.post(
            self.path, query_string={**signed, **query}, data=body, content_type="text/xml"
        )

    def post_raw(self, body: bytes | str, query: dict[str, str]) -> TestResponse:
        return self.client.post(self.path, query_string=query, data=body, content_type="text/xml")

    def open_reply(self, response: TestResponse) -> Reply:
        assert response.status_code == 200, response.status_code
        outer = fromstring(response.data)
        encrypt = outer.findtext("Encrypt") or ""
        assert self.crypto.check_signature(
            outer.findtext("MsgSignature") or "",
            outer.findtext("TimeStamp") or "",
            outer.findtext("Nonce") or "",
            encrypt,
        )
        inner = fromstring(self.crypto.decrypt(encrypt))
        fields = {child.tag: (child.text or "") for child in inner if len(child) == 0}
        return Reply(fields=fields, button=inner.findtext("Button/ReplaceName"))


# ------------------------------------------------------ the sandbox WeCom's side


def add_member(store: SandboxStore, who: Person) -> None:
    """Make `who` a member of the sandbox corp, as the nightly push would."""
    store.create_user(
        {"userid": who.userid, "name": who.name, "department": [1], "mobile": who.mobile}
    )


def cards_of(store: SandboxStore, userid: str) -> list[dict[str, Any]]:
    """The template cards the sandbox delivered to `userid`, oldest first."""
    return [m for m in store.inbox(userid) if m["msgtype"] == "template_card"]
