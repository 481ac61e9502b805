"""The callback pipeline: envelope → event → dedupe → handler → sealed passive reply.

`CallbackService` is built once per app by `callbacks.init_app`; the views call
`url_check` (GET) and `receive` (POST) and map `Rejected` to its status.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import redis

from callbacks.contacts import ContactEventSink, RedisContactLog
from callbacks.dedupe import ClaimState, Deduper
from callbacks.envelope import Rejected, open_envelope, seal, verify_url
from callbacks.events import parse_event
from callbacks.handlers import (
    CONTACTS_EVENT_HANDLERS,
    EVENT_HANDLERS,
    CallbackContext,
    Handler,
    handler_for,
)
from cards import LinkBuilder
from config import Settings
from hall.db import Database
from hall.services import Hall
from wework.crypto import WeComCrypto

log = logging.getLogger("hall.callbacks")

APP = "app"
CONTACTS = "contacts"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One callback URL: its credentials, its handler table, the AgentID it must carry."""

    name: str
    crypto: WeComCrypto
    handlers: dict[str, Handler]
    agent_id: str | None  # events naming another agent are refused (None: not checked)


class CallbackService:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        redis_conn: Callable[[], redis.Redis],
        clock: Callable[[], float] = time.time,
        hall: Callable[[Database], Hall] = Hall,
        contacts: Callable[[redis.Redis], ContactEventSink] = RedisContactLog,
    ) -> None:
        self.settings = settings
        self.db = db
        self._redis = redis_conn
        self.clock = clock
        self._hall = hall
        self._contacts = contacts
        self.links = LinkBuilder(settings.base_url)
        corp = settings.wecom_corp_id
        self.endpoints = {
            APP: Endpoint(
                APP,
                WeComCrypto(settings.wecom_token, settings.wecom_aes_key, corp),
                EVENT_HANDLERS,
                str(settings.wecom_agent_id),
            ),
            CONTACTS: Endpoint(
                CONTACTS,
                WeComCrypto(settings.wecom_contacts_token, settings.wecom_contacts_aes_key, corp),
                CONTACTS_EVENT_HANDLERS,
                None,
            ),
        }

    def url_check(self, endpoint: str, args: Mapping[str, str]) -> str:
        return verify_url(self.endpoints[endpoint].crypto, args, self.clock())

    def receive(self, endpoint: str, args: Mapping[str, str], body: bytes) -> str | None:
        """The encrypted passive reply for a POSTed callback, or None for an empty 200."""
        where = self.endpoints[endpoint]
        now = self.clock()
        event = parse_event(open_envelope(where.crypto, args, body, now))
        if event.to_user != self.settings.wecom_corp_id:
            raise Rejected(403, "inner ToUserName is not our corp")
        if where.agent_id is not None and event.agent_id not in {"", where.agent_id}:
            raise Rejected(403, f"AgentID {event.agent_id[:20]!r} is not ours")
        connection = self._redis()
        dedupe = Deduper(connection, endpoint)
        key = event.dedupe_key()
        claim = dedupe.claim(key)
        if claim.state is ClaimState.BUSY:
            log.info("WeCom retry of %s while the first attempt runs: answered empty", event.type)
            return None
        if claim.state is ClaimState.DONE:
            log.info("WeCom retry of %s: the first answer replayed", event.type)
            reply = claim.reply
        else:
            context = CallbackContext(
                db=self.db,
                hall=self._hall(self.db),
                redis=connection,
                links=self.links,
                contacts=self._contacts(connection),
                corp_id=self.settings.wecom_corp_id,
                endpoint=endpoint,
                now=now,
            )
            try:
                reply = handler_for(where.handlers, event)(context, event)
            except BaseException:
                dedupe.release(key)  # WeCom's next retry runs it again
                raise
            dedupe.finish(key, reply)
        return seal(where.crypto, reply, now) if reply is not None else None
