"""Invitations (入校预约): a staff member invites someone off campus by SMS link; only the
invited number's account may use it, once, while it is open, and what the inviter filled
wins over anything the invitee's form says. Runs on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hall import invitations, queries
from hall.clock import FrozenClock
from hall.definitions import DefinitionError, parse_spec
from hall.engine import SCHOOL_TZ
from hall.errors import Conflict, Invalid, InviteOnly, NotFound, RateLimited
from hall.models import Application, Invitation, Outbox, Person, PersonStatus, Task
from hall.services import Decision, Hall
from hall.states import AppStatus, TaskStatus
from tests import factories

SECRET = "invitation-test-secret"
VISITOR_PHONE = factories.VISITOR_PHONE
WINDOW = {"start": "2026-09-03T09:00", "end": "2026-09-03T17:00"}


@pytest.fixture
def visit(session: Session) -> SimpleNamespace:
    return factories.visit_school(session)


def _invite(session: Session, clock: FrozenClock, inviter: Person, **form: Any) -> Invitation:
    fields = {"window": WINDOW, "reason": "学术交流", **form}
    found = invitations.create(
        session, clock.now(), inviter.id, "visit", name="来访者", phone=VISITOR_PHONE, form=fields
    )
    session.commit()
    return found


VISITOR_FORM = {
    "idno": "11010519491231002X",
    "host": "host2",
    "window": {"start": "2026-09-09T00:00", "end": "2026-09-09T23:00"},
    "reason": "改过",
}


# ------------------------------------------------------------------ definitions


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"audience": ["staff"]}, "off-campus"),
        ({"options": {"invite": {"host_field": "reason"}}}, "not a person field"),
        ({"options": {"invite": {"host_field": "host", "fields": ["nope"]}}}, "unknown field"),
        ({"options": {"invite": {"host_field": "host", "fields": ["host"]}}}, "cannot fill"),
        (
            {"options": {"invite": {"host_field": "host", "fields": ["reason", "reason"]}}},
            "twice",
        ),
    ],
)
def test_a_broken_invite_option_is_refused_with_its_reason(
    change: dict[str, Any], message: str
) -> None:
    spec = {**factories.visit_spec(), **change}
    with pytest.raises(DefinitionError, match=message):
        parse_spec(spec)


def test_the_library_visit_takes_invitations_only() -> None:
    from hall.process_library import load_library  # noqa: PLC0415

    spec = next(s for s in load_library() if s.key == "visitor_entry")
    assert spec.options.invite is not None
    assert spec.options.invite.only
    assert spec.options.invite.host_field == "host"


# ----------------------------------------------------------------------- tokens


def test_a_token_names_its_invitation_and_nothing_else() -> None:
    token = invitations.token(SECRET, 42)
    assert invitations.invitation_id(SECRET, token) == 42
    assert len(token) < 30  # it travels in an SMS
    _, _, mac = token.partition(".")
    assert invitations.invitation_id(SECRET, f"43.{mac}") is None  # another id
    assert invitations.invitation_id("another-secret", token) is None
    assert invitations.invitation_id(SECRET, token[:-1]) is None
    for junk in ("", ".", "42", "x.y", "٤٢." + mac, "9" * 40 + "." + mac, token + "a" * 100):
        assert invitations.invitation_id(SECRET, junk) is None


# ---------------------------------------------------------------------- create


def test_staff_invite_and_the_sms_is_queued(
    session: Session, clock: FrozenClock, visit: SimpleNamespace
) -> None:
    found = _invite(session, clock, visit.host)
    assert found.values == {
        "window": WINDOW,
        "reason": "学术交流",
        "host": "host1",  # the inviter is the host, whatever the form said
    }
    # The link lasts 7 days, but no longer than the visit: this one ends sooner.
    assert found.expires_at == datetime(2026, 9, 3, 17, 0, tzinfo=SCHOOL_TZ)
    assert invitations.state(found, clock.now()) == invitations.State.OPEN
    outbox = session.scalars(select(Outbox).where(Outbox.kind == invitations.INVITE_KIND)).one()
    assert outbox.payload == {"invitation_id": found.id}
    assert outbox.recipient_id is None  # a number, not an account


def test_a_later_visit_keeps_the_links_seven_days_and_a_past_one_is_refused(
    session: Session, clock: FrozenClock, visit: SimpleNamespace
) -> None:
    later = _invite(
        session, clock, visit.host, window={"start": "2026-10-01T09:00", "end": "2026-10-01T17:00"}
    )
    assert later.expires_at == clock.now() + timedelta(days=7)
    with pytest.raises(Invalid) as caught:
        _invite(
            session,
            clock,
            visit.host,
            window={"start": "2026-08-31T09:00", "end": "2026-08-31T17:00"},
        )
    assert caught.value.detail["fields"] == {"window": "时间已过，请重新选择"}


def test_the_inviter_cannot_name_another_host(
    session: Session, clock: FrozenClock, visit: SimpleNamespace
) -> None:
    found = _invite(session, clock, visit.host, host="host2")
    assert found.values["host"] == "host1"


def test_only_staff_invite(session: Session, clock: FrozenClock, visit: SimpleNamespace) -> None:
    for who in (visit.student, visit.visitor):
        with pytest.raises(NotFound):
            _invite(session, clock, who)
    assert session.scalar(select(func.count(Invitation.id))) == 0


def test_bad_input_names_every_problem_and_writes_nothing(
    session: Session, clock: FrozenClock, visit: SimpleNamespace
) -> None:
    with pytest.raises(Invalid) as caught:
        invitations.create(
            session,
            clock.now(),
            visit.host.id,
            "visit",
            name="李",
            phone="1234",
            form={"window": {"start": "2026-09-03T17:00", "end": "2026-09-03T09:00"}},
        )
    fields = caught.value.detail["fields"]
    assert isinstance(fields, dict)
    assert set(fields) == {"invitee_name", "invitee_phone", "window", "reason"}
    session.rollback()
    assert session.scalar(select(func.count(Invitation.id))) == 0
    assert session.scalar(select(func.count(Outbox.id))) == 0


def test_a_day_allows_thirty_invitations(
    session: Session, clock: FrozenClock, visit: SimpleNamespace
) -> None:
    for _ in range(invitations.PER_DAY):
        _invite(session, clock, visit.host)
    with pytest.raises(RateLimited):
        _invite(session, clock, visit.host)
    clock.advance(days=1, seconds=1)
    _invite(session, clock, visit.host)


# --------------------------------------------------------------------- submit


def test_the_invitee_applies_and_the_inviters_fields_win(
    session: Session, hall: Hall, clock: FrozenClock, visit: SimpleNamespace
) -> None:
    found = _invite(session, clock, visit.host)
    result = hall.submit(visit.visitor.id, "visit", VISITOR_FORM, invitation_id=found.id)
    session.expire_all()
    app = session.get(Application, result.application_id)
    assert app is not None
    assert app.status == AppStatus.PENDING
    assert app.form["host"] == "host1"
    assert app.form["window"] == WINDOW
    assert app.form["reason"] == "学术交流"
    assert app.form["idno"] == "11010519491231002X"
    assert app.form["name"] == "来访者"  # from the account
    task = session.scalars(select(Task).where(Task.application_id == app.id)).one()
    assert (task.assignee_id, task.status) == (visit.host.id, TaskStatus.PENDING)
    used = session.get(Invitation, found.id)
    assert used is not None
    assert used.application_id == app.id
    assert invitations.state(used, clock.now()) == invitations.State.USED
    with pytest.raises(Conflict, match="已提交过"):
        hall.submit(visit.visitor.id, "visit", VISITOR_FORM, invitation_id=found.id)


def test_only_the_invited_number_may_use_it(
    session: Session, hall: Hall, clock: FrozenClock, visit: SimpleNamespace
) -> None:
    found = _invite(session, clock, visit.host)
    with pytest.raises(NotFound):
        hall.submit(visit.stranger.id, "visit", VISITOR_FORM, invitation_id=found.id)
    session.expire_all()
    assert session.scalar(select(func.count(Application.id))) == 0
    assert session.get(Invitation, found.id).application_id is None  # type: ignore[union-attr]


def test_an_invitation_only_process_refuses_a_plain_application(
    session: Session, hall: Hall, visit: SimpleNamespace
) -> None:
    with pytest.raises(Conflict, match="邀请"):
        hall.submit(visit.visitor.id, "visit", {**VISITOR_FORM, "host": "host1"})
    assert session.scalar(select(func.count(Application.id))) == 0


def test_an_expired_or_cancelled_invitation_is_refused(
    session: Session, hall: Hall, clock: FrozenClock, visit: SimpleNamespace
) -> None:
    expiring = _invite(session, clock, visit.host)
    cancelled = _invite(session, clock, visit.host)
    invitations.cancel(session, clock.now(), visit.host.id, cancelled.id)
    session.commit()
    with pytest.raises(Conflict, match="取消"):
        hall.submit(visit.visitor.id, "visit", VISITOR_FORM, invitation_id=cancelled.id)
    clock.advance(days=7)
    with pytest.raises(Conflict, match="过期"):
        hall.submit(visit.visitor.id, "visit", VISITOR_FORM, invitation_id=expiring.id)
    assert session.scalar(select(func.count(Application.id))) == 0


def test_only_the_inviter_cancels_an_open_invitation(
    session: Session, clock: FrozenClock, visit: SimpleNamespace
) -> None:
    found = _invite(session, clock, visit.host)
    with pytest.raises(NotFound):
        invitations.cancel(session, clock.now(), visit.colleague.id, found.id)
    invitations.cancel(session, clock.now(), visit.host.id, found.id)
    session.commit()
    with pytest.raises(Conflict):
        invitations.cancel(session, clock.now(), visit.host.id, found.id)


def test_the_processes_staff_may_invite_to(session: Session, visit: SimpleNamespace) -> None:
    assert invitations.invitable_processes(session, visit.host) == [("visit", "访客入校预约")]
    assert invitations.invitable_processes(session, visit.student) == []
    assert invitations.invitable_processes(session, visit.visitor) == []


# ------------------------------------------------- after the first submission


def _submitted(session: Session, hall: Hall, clock: FrozenClock, visit: SimpleNamespace) -> int:
    found = _invite(session, clock, visit.host)
    return hall.submit(
        visit.visitor.id, "visit", VISITOR_FORM, invitation_id=found.id
    ).application_id


def test_a_returned_invited_application_keeps_the_inviters_fields(
    session: Session, hall: Hall, clock: FrozenClock, visit: SimpleNamespace
) -> None:
    app_id = _submitted(session, hall, clock, visit)
    task = session.scalars(select(Task).where(Task.application_id == app_id)).one()
    hall.decide(visit.host.id, task.id, Decision("return", comment="照片看不清"))
    # The resubmission tries to name another host, or the visitor themself, and a new time.
    for host in ("host2", visit.visitor.userid):
        hall.resubmit(visit.visitor.id, app_id, {**VISITOR_FORM, "host": host})
        session.expire_all()
        app = session.get(Application, app_id)
        assert app is not None
        assert (app.form["host"], app.form["window"], app.form["reason"]) == (
            "host1",
            WINDOW,
            "学术交流",
        )
        pending = session.scalars(
            select(Task).where(
                Task.application_id == app_id, Task.__table__.c.status == TaskStatus.PENDING
            )
        ).one()
        assert pending.assignee_id == visit.host.id
        hall.decide(visit.host.id, pending.id, Decision("return", comment="再看看"))


def test_the_host_of_an_open_visit_is_a_member_of_staff_never_the_applicant(
    session: Session, hall: Hall, visit: SimpleNamespace
) -> None:
    factories.process(session, {**factories.visit_spec(), "key": "open_visit"})
    session.commit()
    for host in (visit.visitor.userid, visit.student.userid, visit.stranger.userid):
        with pytest.raises(Invalid) as caught:
            hall.submit(visit.visitor.id, "open_visit", {**VISITOR_FORM, "host": host})
        assert caught.value.detail["fields"] == {"host": "接待人须为本校在职教职工"}
    assert session.scalar(select(func.count(Application.id))) == 0
    done = hall.submit(visit.visitor.id, "open_visit", {**VISITOR_FORM, "host": "host2"})
    session.expire_all()
    app = session.get(Application, done.application_id)
    assert app is not None
    assert app.status == AppStatus.PENDING  # the colleague confirms; nothing passed by itself


def test_an_invitation_from_a_host_who_left_is_void(
    session: Session, hall: Hall, clock: FrozenClock, visit: SimpleNamespace
) -> None:
    found = _invite(session, clock, visit.host)
    visit.host.status = PersonStatus.INACTIVE
    session.commit()
    assert invitations.state(found, clock.now()) == invitations.State.VOID
    with pytest.raises(Conflict, match="无法接待"):
        hall.submit(visit.visitor.id, "visit", VISITOR_FORM, invitation_id=found.id)


def test_an_inviters_field_broken_by_a_new_version_is_the_inviters_problem(
    session: Session, hall: Hall, clock: FrozenClock, visit: SimpleNamespace
) -> None:
    found = _invite(session, clock, visit.host)
    stricter = factories.visit_spec(only=True)
    next(f for f in stricter["form"] if f["key"] == "reason")["max_length"] = 2
    factories.process(session, stricter)
    session.commit()
    with pytest.raises(Invalid) as caught:
        hall.submit(visit.visitor.id, "visit", VISITOR_FORM, invitation_id=found.id)
    assert caught.value.detail["fields"] == {"_form": "邀请内容已失效，请联系邀请人重新邀请"}


def test_withdrawing_gives_the_invitation_back(
    session: Session, hall: Hall, clock: FrozenClock, visit: SimpleNamespace
) -> None:
    app_id = _submitted(session, hall, clock, visit)
    hall.withdraw(visit.visitor.id, app_id)
    found = session.scalars(select(Invitation)).one()
    session.refresh(found)
    assert invitations.state(found, clock.now()) == invitations.State.OPEN
    again = hall.submit(visit.visitor.id, "visit", VISITOR_FORM, invitation_id=found.id)
    assert again.application_id != app_id


def test_an_invitation_only_refusal_has_its_own_code(hall: Hall, visit: SimpleNamespace) -> None:
    with pytest.raises(InviteOnly) as caught:
        hall.submit(visit.visitor.id, "visit", {**VISITOR_FORM, "host": "host1"})
    assert caught.value.code == "invite_only"


def test_no_draft_of_an_invitation_only_process_and_the_catalogue_says_so(
    session: Session, hall: Hall, visit: SimpleNamespace
) -> None:
    with pytest.raises(InviteOnly):
        hall.save_draft(visit.visitor.id, "visit", {"idno": "11010519491231002X"})
    assert session.scalar(select(func.count(Application.id))) == 0
    [entry] = queries.catalogue(session, visit.visitor.id).items
    assert (entry.key, entry.invite_only) == ("visit", True)
