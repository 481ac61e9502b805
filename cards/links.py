"""Links a card opens: hall pages reached through WeCom OAuth (docs 91022, 96442).

Inside WeCom a page learns who is looking only through the OAuth redirect: the card links to
`open.weixin.qq.com/connect/oauth2/authorize` with our page as `redirect_uri`, and WeCom comes
back with a `code` the web view exchanges for the userid (`auth/getuserinfo`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

WECOM_AUTHORIZE = "https://open.weixin.qq.com/connect/oauth2/authorize"
APPLICATION_PATH = "/m/applications/{id}"  # the mobile web view of one application
TODO_PATH = "/m/todo"  # the mobile to-do list


@dataclass(frozen=True, slots=True)
class LinkBuilder:
    """Builds OAuth-wrapped links to hall pages; `authorize_url` is the simulator's in sandbox."""

    base_url: str
    corp_id: str
    agent_id: int
    authorize_url: str = WECOM_AUTHORIZE

    def page(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def oauth(self, path: str, state: str = "hall") -> str:
        query = urlencode(
            {
                "appid": self.corp_id,
                "redirect_uri": self.page(path),
                "response_type": "code",
                "scope": "snsapi_base",
                "state": state,
                "agentid": str(self.agent_id),
            },
            quote_via=quote,
        )
        return f"{self.authorize_url}?{query}#wechat_redirect"

    def application(self, application_id: int) -> str:
        return self.oauth(APPLICATION_PATH.format(id=application_id), state=f"a{application_id}")

    def todo(self) -> str:
        return self.oauth(TODO_PATH, state="todo")
