"""The callback pipeline: envelope → event → dedupe → handler → sealed passive reply.

`CallbackService` is built once per app by `callbacks.init_app`; the views call
`url_check` (GET) and `receive` (POST) and map `Rejected` to its status.

Redis (the dedupe store) being unreachable is not fatal: the event is handled without
dedupe, and a card click stays exactly-once through the task's own state in the database
(see `receive`); tests/callbacks/test_faults.py runs a click with Redis down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import redis

from callbacks.contacts import ContactEventSink, RedisContactLog
from callbacks.dedupe import Claim, ClaimState, Deduper
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
        try:
            claim: Claim | None = dedupe.claim(key)
        except redis.RedisError as exc:
            # Redis is down. Handle the event anyway rather than answer 500 and lose the
            # click after WeCom's 3 attempts: a card click stays exactly-once without Redis,
            # because the engine decides under the application's row lock and a retry, even
            # a concurrent one, then finds the task already decided by this reviewer and
            # answers as the first delivery did (`Hall.decide_as`). Handlers that need
            # Redis themselves (contact events) fail before doing anything, and WeCom
            # retries them.
            log.warning("dedupe unavailable, handling %s without it: %s", event.type, exc)
            claim = None
        if claim is not None and claim.state is ClaimState.BUSY:
            log.info("WeCom retry of %s while the first attempt runs: answered empty", event.type)
            return None
        if claim is not None and claim.state is ClaimState.DONE:
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
                if claim is not None:
                    _best_effort(dedupe.release, key)  # WeCom's next retry runs it again
                raise
            if claim is not None:
                # The handler has committed: a Redis failure here must not turn the answer
                # into a 500 (the reviewer's button would stay clickable); a retry without
                # the stored answer replays the decision from the database instead.
                _best_effort(dedupe.finish, key, reply)
        return seal(where.crypto, reply, now) if reply is not None else None


def _best_effort(operation: Callable[..., None], *args: object) -> None:
    """Run a dedupe bookkeeping step; a Redis failure is logged, never raised."""
    try:
        operation(*args)
    except redis.RedisError as exc:
        log.warning("dedupe %s failed: %s", operation.__name__, exc)
