"""The designer's pages through the Flask test client on PostgreSQL: who may open which
route (everyone else gets the 404 page), department boundaries, the information center,
CSRF refusals that change nothing, and the pages in English."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from hall import designer as designer_module
from hall.designer import (
    APPLICANT_SUBJECTS,
    COMPARE_PROP_LABELS,
    GROUP_LABELS,
    KIND_LABELS,
    MODE_LABELS,
    OP_LABELS,
    ROLE_LABELS,
    RULE_LABELS,
    RULE_PROP_LABELS,
    STEP_KIND_LABELS,
    STUDENT_LEVELS,
    describe_path,
)
from hall.models import ProcessDraft
from tests.role_pages import (
    EN,
    assert_missing,
    campus,
    cjk_parts,
    client,
    counts,
    gettext_ids,
    make_app,
    missing_page,
    text,
    token,
    untranslated,
    used_messages,
)
from web.i18n import CATALOGUE, gettext
from web.views.designer import JS_LABELS, MESSAGES, VALUES, say

VOCABULARIES = (
    APPLICANT_SUBJECTS,
    COMPARE_PROP_LABELS,
    GROUP_LABELS,
    KIND_LABELS,
    MODE_LABELS,
    OP_LABELS,
    ROLE_LABELS,
    RULE_LABELS,
    RULE_PROP_LABELS,
    STEP_KIND_LABELS,
)


@pytest.fixture
def backend():
    return "postgresql"


@pytest.fixture
def app(db, redis_conn, tmp_path):
    return make_app(db, redis_conn, tmp_path)


@pytest.fixture
def school(session):
    return campus(session)


def _draft(session, key):
    session.expire_all()
    return session.scalar(select(ProcessDraft).where(ProcessDraft.process_key == key))


def _save(c, key, data, csrf, revision=None):
    body = {"data": data, "revision": revision}
    return c.post(f"/designer/{key}/save", json=body, headers={"X-CSRFToken": csrf})


def _blob(page, name):
    found = re.search(rf'<script type="application/json" id="{name}">(.*?)</script>', page)
    assert found is not None
    return json.loads(found.group(1))


def _state_of(page):
    return _blob(page, "draft-data")


@pytest.mark.parametrize("who", ["student", "teacher", "dean", "jwc_clerk"])
def test_every_route_is_the_404_page_without_the_role(app, school, session, who):
    c = client(app, getattr(school, who))
    missing = missing_page(c)
    csrf = token(c)
    before = counts(session)
    for path in ("/designer/", "/designer/cs_leave", "/designer/jwc_exam", "/designer/nope"):
        assert_missing(c.get(path), missing, path)
    posts = {
        "/designer/new": {"key": "x_new", "name": "新事项", "department": "CS"},
        "/designer/cs_leave/who": {"applicant": school.student.userid},
        "/designer/cs_leave/publish": {},
        "/designer/cs_leave/discard": {},
    }
    for path, data in posts.items():
        assert_missing(c.post(path, data={"csrf_token": csrf, **data}), missing, path)
    # the editor's JSON save: the same answer as for a draft that does not exist
    refused = _save(c, "cs_leave", {"name": "改名"}, csrf)
    absent = _save(c, "no_such_process", {"name": "改名"}, csrf)
    assert refused.status_code == absent.status_code == 404
    assert refused.get_json() == absent.get_json()
    assert counts(session) == before
    assert "流程设计" not in text(c.get("/"))  # no link in the navigation either


def test_a_department_administrator_is_refused_other_departments(app, school, session):
    theirs = client(app, school.jwc_admin)
    assert theirs.get("/designer/jwc_exam").status_code == 200  # JWC's own draft now exists
    jwc_csrf = token(theirs)
    saved = _save(
        theirs, "jwc_exam", {**_draft(session, "jwc_exam").data, "name": "缓考申请"}, jwc_csrf
    )
    assert saved.status_code == 200, saved.get_json()
    draft = _draft(session, "jwc_exam")
    revision, data = draft.revision, dict(draft.data)

    c = client(app, school.cs_admin)
    missing = missing_page(c)
    csrf = token(c)
    before = counts(session)
    assert_missing(c.get("/designer/jwc_exam"), missing, "edit")
    for action in ("who", "publish", "discard"):
        data_ = {"csrf_token": csrf, "applicant": school.student.userid, "revision": str(revision)}
        assert_missing(c.post(f"/designer/jwc_exam/{action}", data=data_), missing, action)
    assert _save(c, "jwc_exam", {"name": "越权"}, csrf).status_code == 404
    # a new process for a department one does not administer is refused on the form
    refused = c.post(
        "/designer/new",
        data={"csrf_token": csrf, "key": "cs_in_jwc", "name": "越权事项", "department": "JWC"},
    )
    assert refused.status_code == 422
    assert "只能为自己管理的部门建立事项" in text(refused)
    assert counts(session) == before
    after = _draft(session, "jwc_exam")
    assert (after.revision, after.data) == (revision, data)
    listing = text(c.get("/designer/"))
    assert "学院请假" in listing
    assert "缓考申请" not in listing
    assert "教务缓考" not in listing


def test_a_department_administrator_edits_and_publishes_their_own(app, school, session):
    c = client(app, school.cs_admin)
    csrf = token(c)
    page = c.get("/designer/cs_leave")
    assert page.status_code == 200
    data = _state_of(text(page))
    revision = _blob(text(page), "draft-state")["revision"]
    state = _save(c, "cs_leave", {**data, "name": "学院请假（新）"}, csrf, revision).get_json()
    assert state["valid"] is True
    assert state["changes"] == ["事项名称：学院请假 → 学院请假（新）"]
    published = c.post(
        "/designer/cs_leave/publish", data={"csrf_token": csrf, "revision": state["revision"]}
    )
    assert published.status_code == 200
    assert "已发布为第 2 版" in text(published)
    assert _draft(session, "cs_leave") is None
    session.refresh(school.cs_proc.process)
    assert school.cs_proc.process.current_version.number == 2


def test_a_stale_publish_is_refused_with_a_message(app, school, session):
    c = client(app, school.cs_admin)
    csrf = token(c)
    data = _state_of(text(c.get("/designer/cs_leave")))
    assert _save(c, "cs_leave", {**data, "name": "另一个名字"}, csrf).status_code == 200
    stale = c.post("/designer/cs_leave/publish", data={"csrf_token": csrf, "revision": "0"})
    assert stale.status_code == 302
    assert "草稿已被他人修改，请刷新后再发布" in text(c.get(stale.headers["Location"]))
    assert _draft(session, "cs_leave") is not None
    session.refresh(school.cs_proc.process)
    assert school.cs_proc.process.current_version.number == 1


def test_the_information_center_edits_and_publishes_any_department(app, school, session):
    c = client(app, school.it_admin)
    csrf = token(c)
    listing = text(c.get("/designer/"))
    assert "学院请假" in listing
    assert "教务缓考" in listing
    data = _state_of(text(c.get("/designer/jwc_exam")))
    state = _save(c, "jwc_exam", {**data, "category": "考试"}, csrf).get_json()
    assert state["valid"] is True
    published = c.post(
        "/designer/jwc_exam/publish", data={"csrf_token": csrf, "revision": state["revision"]}
    )
    assert published.status_code == 200
    session.refresh(school.jwc_proc.process)
    assert school.jwc_proc.process.current_version.number == 2
    created = c.post(
        "/designer/new",
        data={"csrf_token": csrf, "key": "jwc_new", "name": "教务新事项", "department": "JWC"},
    )
    assert created.status_code == 302
    assert created.headers["Location"] == "/designer/jwc_new"
    assert _draft(session, "jwc_new") is not None


@pytest.mark.parametrize("csrf", [None, "forged-token"])
def test_posts_without_a_valid_token_change_nothing(app, school, session, csrf):
    c = client(app, school.cs_admin)
    data = _state_of(text(c.get("/designer/cs_leave")))  # the draft exists from here on
    before = counts(session)
    revision = _draft(session, "cs_leave").revision
    body = {} if csrf is None else {"csrf_token": csrf}
    posts = {
        "/designer/new": {"key": "cs_more", "name": "又一个", "department": "CS"},
        "/designer/cs_leave/who": {"applicant": school.student.userid},
        "/designer/cs_leave/publish": {"revision": str(revision)},
        "/designer/cs_leave/discard": {},
    }
    for path, form in posts.items():
        response = c.post(path, data={**body, **form})
        assert response.status_code == 400, path
        assert "请求已过期" in text(response)
    headers = {} if csrf is None else {"X-CSRFToken": csrf}
    saved = c.post(
        "/designer/cs_leave/save", json={"data": {**data, "name": "无令牌"}}, headers=headers
    )
    assert saved.status_code == 400
    assert counts(session) == before
    draft = _draft(session, "cs_leave")
    assert draft.revision == revision
    assert draft.data["name"] == "学院请假"
    session.refresh(school.cs_proc.process)
    assert school.cs_proc.process.current_version.number == 1


def test_every_message_has_an_english_text():
    used = used_messages("designer") | gettext_ids("designer")
    used |= set(JS_LABELS.values()) | set(MESSAGES) | set(VALUES)
    for words in VOCABULARIES:
        used |= set(words.values())
    # the problems the designer services report, and the words of conditions and rules
    source = Path(designer_module.__file__).read_text(encoding="utf-8")
    used |= set(re.findall(r'Problem\([^\n]*?, "([^"{]+)"\)', source))
    used |= set(re.findall(r'say\("([^"]+)"\)', source)) | set(
        re.findall(r"say\('([^']+)'", source)
    )
    missing = sorted(m for m in used if m not in CATALOGUE)
    assert missing == [], missing


def test_problems_and_words_in_english(app):
    with app.test_request_context(headers=EN):
        assert say("表单中没有字段 gone") == "The form has no field gone"
        assert (
            say("「请假类型」不能用「大于」比较")
            == "“请假类型” cannot be compared with “greater than”"
        )
        assert (
            say("「事假」不是「申请人类别」的选项") == "“事假” is not an option of “Applicant kind”"
        )
        assert say("请填写部门编码") == "Please fill in Department code"
        assert describe_path("flow.0.cc.1.role", gettext) == "Flow step 1 · CC 2 · Role"


def test_service_messages_in_english(app):
    with app.test_request_context(headers=EN):
        assert (
            say("新事项「学院请假」首次发布")
            == "New service “学院请假” published for the first time"
        )
        assert (
            say("修改字段「事由」：标题 事由 → 原因；必填 否 → 是；选项已修改")
            == "Changed field “事由”: Label 事由 → 原因; required no → yes; Options changed"
        )
        assert say("没有编码为 NOPE 的部门") == "No department has the code NOPE"
        assert say("王老师（wang），代 李老师 审批") == "王老师（wang）, for 李老师"
        assert (
            say("a message the catalogue does not know") == "a message the catalogue does not know"
        )
    with app.test_request_context():
        assert say("没有编码为 NOPE 的部门") == "没有编码为 NOPE 的部门"


def test_the_designer_pages_in_english(app, school, session):
    c = client(app, school.cs_admin)
    csrf = token(c)
    people = [school.cs_admin.name, school.student.name, school.counsellor.name, school.dean.name]
    departments = [school.cs.name, school.jwc.name]

    index = c.get("/designer/", headers=EN)
    assert "Services I can design" in text(index)
    assert untranslated(text(index), ["学院请假", *people, *departments]) == []

    created = c.post(
        "/designer/new",
        data={"csrf_token": csrf, "key": "cs_new", "name": "新的事项", "department": "CS"},
        headers=EN,
    )
    assert created.status_code == 302
    # a problem (an unknown department) and the first publication in the change list
    data = _state_of(text(c.get("/designer/cs_new")))
    state = _save(c, "cs_new", {**data, "visible_to": ["NOPE"]}, csrf).get_json()
    assert [p["message"] for p in state["problems"]] == ["没有编码为 NOPE 的部门"]
    en_state = c.post(
        "/designer/cs_new/save",
        json={"data": {**data, "visible_to": ["NOPE"]}},
        headers={"X-CSRFToken": csrf, **EN},
    ).get_json()
    assert en_state["problems"] == [
        {"path": "visible_to", "where": "Visible to", "message": "No department has the code NOPE"}
    ]
    assert en_state["changes"] == ["New service “新的事项” published for the first time"]

    edit = text(c.get("/designer/cs_new", headers=EN))
    spec = cjk_parts(data)
    for english in ("Publish as a new version", "Service details", "Who would approve", "Saved"):
        assert english in edit
    # the editor offers the school's departments and the data center's study levels as
    # they are (values to compare with), besides the records' own text
    choices = _blob(edit, "draft-choices")
    data_values = [name for _code, name in choices["departments"]] + choices["levels"]
    assert set(choices["levels"]) == set(STUDENT_LEVELS)
    assert untranslated(edit, [*spec, *people, *data_values]) == []
    labels = re.search(r'<script type="application/json" id="designer-labels">(.*?)</script>', edit)
    assert labels is not None
    script_labels = json.loads(labels.group(1))
    assert set(script_labels) == set(JS_LABELS)
    assert script_labels["add_compare"] == "Add a comparison"
    assert [v for v in script_labels.values() if re.search(r"[\u4e00-\u9fff]", v)] == []

    who = c.post(
        "/designer/cs_leave/who",
        data={"csrf_token": csrf, "applicant": school.student.userid, "reason": "病假"},
        headers=EN,
    )
    assert who.status_code == 200
    assert untranslated(text(who), ["负责人审批", *people]) == []
    unknown = c.post(
        "/designer/cs_leave/who", data={"csrf_token": csrf, "applicant": "nobody"}, headers=EN
    )
    assert "No such active staff member or student" in text(unknown)

    data = _state_of(text(c.get("/designer/cs_leave")))
    state = _save(c, "cs_leave", {**data, "name": "学院请假二"}, csrf).get_json()
    published = c.post(
        "/designer/cs_leave/publish",
        data={"csrf_token": csrf, "revision": state["revision"]},
        headers=EN,
    )
    page = text(published)
    assert "Published as version 2" in page
    assert "Service name: 学院请假 → 学院请假二" in page
    assert untranslated(page, ["学院请假二", "学院请假", *people]) == []
