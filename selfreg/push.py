"""The join channel: a matched registration becomes an admitted WeCom member.

The relay hands the outbox row `services.register` wrote (kind `selfreg_push`) to this
channel in a delivery job. The push creates the member through the contacts assistant
(`user/create`, invitations off; 60102 "userid exists" — the nightly push got there first —
turns into `user/update`), then admits them with the app's `user/authsucc` (doc 99521).

WeCom's answer lands on the registration row in the job's transaction:

- success → `joined`;
- a refusal (bad mobile, mobile taken, no such department, wrong secret, …) → `failed` with
  errcode/errmsg, for the information center to fix and retry;
- a rate limit (45009/45033) → `Deferred`: the delivery waits as told and tries again,
  however often (never lost, never failed for it);
- WeCom unreachable (after the client's own bounded retries) → the delivery retries with
  backoff; on its last allowed attempt the row becomes `failed` instead, so the table never
  claims a push is still coming when none is.
"""

from __future__ import annotations

import logging

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from hall.channels import ChannelError, Deferred, PermanentError
from hall.clock import Clock, SystemClock
from hall.models import Delivery, Outbox
from selfreg.models import Registration, RegStatus
from selfreg.services import CHANNEL, PUSH_KIND
from sync.push import Member, member_of
from wework.client import WeComClient, app_client, contacts_client
from wework.errors import RateLimited, WeComError, WeComUnavailable

log = logging.getLogger("selfreg.push")

USERID_EXISTS = 60102
ERRMSG_MAX = 2000
NOT_IN_RECORDS = "人员已不在学校数据中，未推送"


class JoinChannel:
    """Pushes self-registrations to WeCom (contacts assistant + the app's authsucc)."""

    name = CHANNEL

    def __init__(
        self,
        contacts: WeComClient,
        app: WeComClient,
        *,
        max_attempts: int,
        clock: Clock | None = None,
    ) -> None:
        self.contacts = contacts
        self.app = app
        self.max_attempts = max_attempts
        self.clock: Clock = clock or SystemClock()

    @classmethod
    def from_settings(cls, settings: Settings, connection: redis.Redis) -> JoinChannel:
        return cls(
            contacts_client(settings, connection),
            app_client(settings, connection),
            max_attempts=settings.delivery_max_attempts,
        )

    def close(self) -> None:
        self.contacts.close()
        self.app.close()

    def accepts(self, outbox: Outbox) -> bool:
        return outbox.kind == PUSH_KIND

    def send(self, session: Session, outbox: Outbox) -> None:
        registration_id = (outbox.payload or {}).get("registration_id")
        row = session.scalars(
            select(Registration).where(Registration.id == registration_id).with_for_update()
        ).one_or_none()
        if row is None:
            raise PermanentError(f"outbox {outbox.id}: no registration {registration_id!r}")
        if row.status != RegStatus.PENDING or row.outbox_id != outbox.id:
            return  # done already, or superseded by a newer request
        member = member_of(session, row.person_id) if row.person_id else None
        if member is None or not member.enable:
            self._failed(row, None, NOT_IN_RECORDS)
            return
        try:
            self._push(member)
        except RateLimited as exc:
            raise Deferred(str(exc), retry_after=exc.retry_after) from exc
        except WeComUnavailable as exc:
            if not self._last_attempt(session, outbox):
                raise ChannelError(str(exc)) from exc
            self._failed(row, exc.errcode, exc.errmsg)
            return
        except WeComError as exc:
            self._failed(row, exc.errcode, exc.errmsg)
            return
        row.fire("join")
        row.attempts += 1
        row.errcode = row.errmsg = None
        row.joined_at = row.updated_at = self.clock.now()
        log.info("self-registration: %s joined WeCom", row.userid)

    def _push(self, member: Member) -> None:
        fields = member.fields()
        try:
            self.contacts.user.create(
                member.userid,
                member.name,
                department=list(member.departments),
                mobile=member.mobile,
                email=member.email,
                position=member.position or "",
                gender=fields.get("gender"),
                main_department=member.departments[0],
                enable=True,
                to_invite=False,
            )
        except WeComError as exc:
            if exc.errcode != USERID_EXISTS or isinstance(exc, RateLimited):
                raise
            self.contacts.user.update(member.userid, **fields)
        self.app.auth.authsucc(member.userid)

    def _last_attempt(self, session: Session, outbox: Outbox) -> bool:
        failures = session.scalar(
            select(Delivery.attempts).where(
                Delivery.outbox_id == outbox.id, Delivery.channel == self.name
            )
        )
        return (failures or 0) + 1 >= self.max_attempts

    def _failed(self, row: Registration, errcode: int | None, errmsg: str) -> None:
        row.fire("fail")
        row.attempts += 1
        row.errcode = errcode
        row.errmsg = errmsg[:ERRMSG_MAX]
        row.updated_at = self.clock.now()
        log.warning("self-registration: pushing %s failed: %s %s", row.userid, errcode, errmsg)
