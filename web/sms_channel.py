"""The SMS channel: sign-in codes and application results reach off-campus people by SMS.

| outbox kind          | what the phone gets                                            |
|----------------------|----------------------------------------------------------------|
| `sms_code`           | the sign-in code (`sms.templates` "code")                       |
| `application_result` | an off-campus applicant's result, with a link to the application |
| `sms_invite`         | a staff member's invitation to apply (入校预约), with its link     |

Staff and students are told in WeCom, never by SMS. A result goes to the number the
off-campus account proved when it signed in.

Codes travel through the outbox like every other message, so a gateway outage is retried
with backoff and a restart loses nothing. The code itself is never written to the database:
the page puts it in Redis under the message's `out_id` for 5 minutes; the row and the
delivery log hold it masked. Each message is logged in `sms_message` (sms/models.py) in the
delivery job's transaction; a gateway's refusal is logged as FAILED and its delivery ends
DEAD (`Refused`: 投递失败 shows it), never retried.
"""

from __future__ import annotations

import logging
import secrets
from typing import NoReturn

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings, SettingsError
from hall import invitations
from hall.channels import (
    OUTCOME_PHRASES,
    ChannelError,
    Deferred,
    PermanentError,
    Refused,
    result_of,
)
from hall.clock import utcnow
from hall.engine import SCHOOL_TZ
from hall.models import Application, Invitation, Outbox, Person, PersonKind
from hall.outbox import Kind, emit
from sms.codes import CODE_TTL
from sms.models import MASK, SmsMessage, SmsPurpose, SmsStatus
from sms.providers import Sms, SmsError, SmsProvider, SmsRateLimited, SmsRejected, make_provider
from sms.templates import cut

log = logging.getLogger("hall.deliver.sms")

CODE_KIND = "sms_code"
PENDING_CODE = "sms:outgoing:"  # + out_id → the code, until sent or expired


def queue_code(session: Session, connection: redis.Redis, phone: str, code: str) -> SmsMessage:
    """Log a sign-in code for `phone` and queue it in the caller's transaction.

    Redis gets the code first, so the delivery can never run before it is there.
    """
    out_id = f"c{secrets.token_hex(12)}"
    connection.set(f"{PENDING_CODE}{out_id}", code, ex=CODE_TTL)
    row = SmsMessage(
        phone=phone,
        purpose=SmsPurpose.LOGIN,
        template="code",
        params={"code": MASK},
        out_id=out_id,
        provider="",
        status=SmsStatus.QUEUED,
    )
    session.add(row)
    session.flush()
    outbox = emit(session, CODE_KIND, recipient_id=None, sms_message_id=row.id)
    session.flush()
    row.outbox_id = outbox.id
    return row


class SmsChannel:
    """Delivers sign-in codes, off-campus results and invitations through the configured
    provider."""

    name = "sms"

    def __init__(
        self, settings: Settings, connection: redis.Redis, provider: SmsProvider | None = None
    ) -> None:
        self.settings = settings
        self.redis = connection
        self._provider = provider

    @property
    def provider(self) -> SmsProvider:
        if self._provider is None:
            try:
                self._provider = make_provider(self.settings)
            except SettingsError as exc:  # not configured: nothing can be sent, ever
                raise PermanentError(f"SMS is not configured: {exc}") from exc
        return self._provider

    def accepts(self, outbox: Outbox) -> bool:
        if outbox.kind in {CODE_KIND, invitations.INVITE_KIND}:
            return True
        return outbox.kind == Kind.APPLICATION_RESULT and outbox.recipient_id is not None

    def send(self, session: Session, outbox: Outbox) -> None:
        if outbox.kind == CODE_KIND:
            self._send_code(session, outbox)
        elif outbox.kind == invitations.INVITE_KIND:
            self._send_invite(session, outbox)
        else:
            self._send_result(session, outbox)

    def _send_code(self, session: Session, outbox: Outbox) -> None:
        message_id = (outbox.payload or {}).get("sms_message_id")
        row = session.get(SmsMessage, message_id) if isinstance(message_id, int) else None
        if row is None:
            raise PermanentError(f"outbox {outbox.id}: no SMS log row {message_id!r}")
        if row.status in DONE:
            return  # a retried job after a commit we did not hear about: never twice
        row.status, row.error = SmsStatus.QUEUED, None  # a refused one, retried
        code = self.redis.get(f"{PENDING_CODE}{row.out_id}")
        if code is None:
            self._refuse(row, "the code expired before it could be sent")
        value = code.decode() if isinstance(code, bytes) else str(code)
        self._deliver(row, {"code": value})
        self.redis.delete(f"{PENDING_CODE}{row.out_id}")

    def _send_result(self, session: Session, outbox: Outbox) -> None:
        recipient = session.get(Person, outbox.recipient_id) if outbox.recipient_id else None
        if recipient is None or recipient.kind != PersonKind.OFFCAMPUS:
            return  # school members are told in WeCom
        logged = _logged(session, outbox)
        if logged is not None and logged.status in DONE:
            return  # a retried job after a commit we did not hear about: never twice
        app = session.get(Application, outbox.application_id) if outbox.application_id else None
        if app is None:
            raise PermanentError(f"outbox {outbox.id} names no application")
        # The number the account proved, not one typed on the form: a form could otherwise
        # have the hall text anyone, and only the proved number's owner can open the link.
        phone = recipient.mobile or ""
        if not phone:
            log.warning("outbox %s: %s has no mobile number, no SMS", outbox.id, recipient.userid)
            return
        outcome, _results = result_of(app, str((outbox.payload or {}).get("outcome") or ""))
        params = {
            "title": cut(app.version.name, 20),
            "outcome": OUTCOME_SMS.get(outcome, OUTCOME_SMS["handled"]),
            "serial": app.serial,
            "no": str(app.id),  # the link's last part: {base}/m/<no> (sms.templates)
        }
        self._log_and_send(session, outbox, logged, phone, SmsPurpose.RESULT, params=params)

    def _send_invite(self, session: Session, outbox: Outbox) -> None:
        invitation_id = (outbox.payload or {}).get("invitation_id")
        invitation = (
            session.get(Invitation, invitation_id) if isinstance(invitation_id, int) else None
        )
        if invitation is None:
            raise PermanentError(f"outbox {outbox.id}: no invitation {invitation_id!r}")
        logged = _logged(session, outbox)
        if logged is not None and logged.status in DONE:
            return  # a retried job after a commit we did not hear about: never twice
        if invitations.state(invitation, utcnow()) != invitations.State.OPEN:
            log.info("invitation %s is no longer open, no SMS", invitation.id)
            return
        # When the link stops working, in the school's time: 12月6日21:30.
        deadline = invitation.expires_at.astimezone(SCHOOL_TZ)
        params = {
            "host": cut(invitation.host.name, 10),
            "title": cut(invitations.process_name(invitation), 20),
            "deadline": f"{deadline.month}月{deadline.day}日{deadline:%H:%M}",
            "token": invitations.token(self.settings.secret_key, invitation.id),
        }
        self._log_and_send(
            session, outbox, logged, invitation.phone, SmsPurpose.INVITE, params=params
        )

    def _log_and_send(
        self,
        session: Session,
        outbox: Outbox,
        row: SmsMessage | None,
        phone: str,
        purpose: SmsPurpose,
        *,
        params: dict[str, str],
    ) -> None:
        """Log an outbox row's SMS (its template is named after the purpose) and send it,
        in the delivery's transaction. A refused one is tried again on the same row when the
        information center retries its delivery (after fixing a template id, say): `row` is
        that refused one, from `_logged`."""
        if row is None:
            row = SmsMessage(out_id=f"o{outbox.id}", provider="", outbox_id=outbox.id)
            session.add(row)
        row.phone, row.purpose, row.template = phone, purpose, purpose.value
        row.params, row.status, row.error = params, SmsStatus.QUEUED, None
        self._deliver(row, params)
        session.flush()

    def _deliver(self, row: SmsMessage, params: dict[str, str]) -> None:
        try:
            provider = self.provider
        except PermanentError as exc:  # not configured: the log says so, not 待发送 forever
            self._refuse(row, str(exc))
        row.provider = provider.name
        try:
            sent = provider.send(Sms(row.phone, row.template, params, row.out_id))
        except SmsRateLimited as exc:
            raise Deferred(str(exc), retry_after=exc.retry_after) from exc
        except SmsRejected as exc:
            self._refuse(row, f"{exc.code}: {exc}" if exc.code else str(exc))
        except SmsError as exc:
            raise ChannelError(str(exc)) from exc
        row.status = SmsStatus.SENT
        row.provider_id = sent.provider_id or None
        row.sent_at = utcnow()
        log.info("sms %s sent to %s via %s", row.out_id, mask(row.phone), provider.name)

    @staticmethod
    def _refuse(row: SmsMessage, error: str) -> NoReturn:
        """Log the message FAILED and end its delivery DEAD (投递失败), keeping the log row."""
        row.status = SmsStatus.FAILED
        row.error = error[:2000]
        log.warning("sms %s to %s failed: %s", row.out_id, mask(row.phone), error)
        raise Refused(f"sms {row.out_id}: {error}")


# A message in these states went out: a delivery that runs again never sends it twice. A
# FAILED one (refused) is sent again when its delivery is retried.
DONE = frozenset({SmsStatus.SENT, SmsStatus.DELIVERED})


def _logged(session: Session, outbox: Outbox) -> SmsMessage | None:
    """The log row an earlier run of this outbox row's delivery left, if any."""
    return session.scalar(select(SmsMessage).where(SmsMessage.outbox_id == outbox.id))


# How each outcome reads in「您申请的${title}${outcome}」: the hall's phrases, but for the
# two a text must say more gently or with what to do next.
OUTCOME_SMS = {
    **OUTCOME_PHRASES,
    "rejected": "未通过",
    "returned": "被退回，请修改后重新提交",
}


def mask(phone: str) -> str:
    """138****0001: enough to tell numbers apart in logs and pages, not to dial."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 8 else "****"
