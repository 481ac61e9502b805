"""消息中心: a person's in-app notices, newest first; opening one marks it read and goes to
its application; the menu counts the unread ones; someone else's notice is not found."""

from __future__ import annotations

from sqlalchemy.orm import Session

from hall.models import Notification
from tests.web_views.helpers import post, submit, text


def _notice(session: Session, person_id: int, title: str, application_id: int | None) -> int:
    row = Notification(
        person_id=person_id,
        kind="task_assigned",
        title=title,
        body=f"{title}的正文",
        application_id=application_id,
    )
    session.add(row)
    session.commit()
    return row.id


def test_messages_newest_first_and_opening_one_marks_it_read(client_for, school, db, session):
    app_id = submit(db, school.alice)
    older = _notice(session, school.bob.id, "您有一条新的待办", app_id)
    newer = _notice(session, school.bob.id, "系统通知", None)
    bob = client_for(school.bob)
    page = text(bob.get("/messages"))
    assert page.index("系统通知") < page.index("您有一条新的待办")
    assert "您有一条新的待办的正文" in page
    assert '<span class="badge" aria-label="2">2</span>' in text(bob.get("/tasks"))  # the menu

    opened = post(bob, f"/messages/{older}/open", {}, page="/messages")
    assert opened.status_code == 302
    assert opened.headers["Location"].endswith(f"/applications/{app_id}")
    session.expire_all()
    assert session.get(Notification, older).read_at is not None
    assert session.get(Notification, newer).read_at is None
    # A notice without an application goes back to the list.
    assert (
        post(bob, f"/messages/{newer}/open", {}, page="/messages")
        .headers["Location"]
        .endswith("/messages")
    )


def test_mark_all_read_and_strangers(client_for, school, db, session):
    first = _notice(session, school.bob.id, "一", None)
    _notice(session, school.bob.id, "二", None)
    theirs = _notice(session, school.carol.id, "张老师的", None)
    bob = client_for(school.bob)
    assert post(bob, f"/messages/{theirs}/open", {}, page="/messages").status_code == 404
    done = post(bob, "/messages/read", {}, page="/messages")
    assert "已全部标为已读" in text(bob.get(done.headers["Location"]))
    session.expire_all()
    assert session.get(Notification, first).read_at is not None
    assert session.get(Notification, theirs).read_at is None  # only one's own
    assert "全部标为已读</button>" not in text(bob.get("/messages"))
    assert "没有消息" in text(client_for(school.dave).get("/messages"))
