"""Links a card opens: hall pages reached through WeCom OAuth (docs 91022, 96442).

Inside WeCom a page learns who is looking only through the OAuth redirect. The hall's
`/login/wecom?next=<path>` starts it (with its own anti-forgery `state` kept in the browser
session), WeCom comes back with a `code`, the hall exchanges it for the userid and lands on
`next`. Cards therefore link to `/login/wecom` with the page as `next`, never straight to
open.weixin.qq.com: a state minted here could not be checked there.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

WECOM_LOGIN_PATH = "/login/wecom"
APPLICATION_PATH = "/go/application/{id}"  # the deep link of one application (web/auth.py)
HOME_PATH = "/"


@dataclass(frozen=True, slots=True)
class LinkBuilder:
    """Builds OAuth-wrapped links to hall pages from the hall's public base URL."""

    base_url: str

    def oauth(self, path: str) -> str:
        """A link that signs the WeCom member in, then opens `path` (same-origin)."""
        if not path.startswith("/") or path.startswith("//"):
            raise ValueError(f"not a hall path: {path!r}")
        query = urlencode({"next": path})
        return f"{self.base_url.rstrip('/')}{WECOM_LOGIN_PATH}?{query}"

    def application(self, application_id: int) -> str:
        return self.oauth(APPLICATION_PATH.format(id=int(application_id)))

    def return_form(self, application_id: int) -> str:
        """The application's page with its 退回 form open: a return needs a typed reason."""
        return self.oauth(f"/applications/{int(application_id)}?act=return")

    def overdue_monitor(self) -> str:
        """办件监控 showing only the overdue to-dos (administrators)."""
        return self.oauth("/monitor?overdue=1")

    def todo(self) -> str:
        return self.oauth("/tasks")

    def my_applications(self) -> str:
        return self.oauth("/applications")

    def home(self) -> str:
        return self.oauth(HOME_PATH)
