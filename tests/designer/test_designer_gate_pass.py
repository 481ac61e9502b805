"""通行码 in the designer: the option is edited with the others, a wrong field is said at
its control, and the preview says what an approval gives."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.role_pages import EN, campus, client, make_app, text, token


def _with_window(data: dict[str, Any], gate_pass: dict[str, Any]) -> dict[str, Any]:
    window = {"key": "window", "label": "离校时间", "type": "datetime_range", "required": True}
    return {**data, "form": [*data["form"], window], "options": {"gate_pass": gate_pass}}


def _draft_data(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="draft-data">(.*?)</script>', page)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_a_gate_pass_on_a_field_that_is_no_range_is_said_at_the_field(designer, school):
    designer.create(school.cs_admin.id, key="cs_out", name="出校", department_code="CS")
    data = designer.open_draft(school.cs_admin.id, "cs_out").data
    view = designer.save(school.cs_admin.id, "cs_out", _with_window(data, {"field": "reason"}))
    assert [(p.path, p.message) for p in view.problems] == [
        ("options.gate_pass.field", "请选择表单中的日期范围或时间范围字段")
    ]
    long = _with_window(data, {"field": "window", "label": "长" * 21})
    view = designer.save(school.cs_admin.id, "cs_out", long)
    assert [(p.path, p.message) for p in view.problems] == [
        ("options.gate_pass.label", "不能超过 20 个字符")
    ]
    fine = _with_window(data, {"field": "window", "label": "出校通行码"})
    view = designer.save(school.cs_admin.id, "cs_out", fine)
    assert view.valid
    assert view.data["options"] == {"gate_pass": {"field": "window", "label": "出校通行码"}}


@pytest.fixture
def backend():
    return "postgresql"


@pytest.fixture
def app(db, redis_conn, tmp_path):
    return make_app(db, redis_conn, tmp_path)


@pytest.fixture
def campus_school(session):
    return campus(session)


def test_the_editor_offers_the_option_and_the_preview_says_it(app, campus_school):
    c = client(app, campus_school.cs_admin)
    csrf = token(c)
    page = text(c.get("/designer/cs_leave"))
    assert "gate_pass_field" in page  # the editor script's labels
    data = _with_window(_draft_data(page), {"field": "window", "label": "出校通行码"})
    saved = c.post("/designer/cs_leave/save", json={"data": data}, headers={"X-CSRFToken": csrf})
    state = saved.get_json()
    assert state["problems"] == []
    assert state["changes"][0] == "流程选项已修改"
    assert "通过后生成「出校通行码」，在「离校时间」内有效" in state["preview"]
    english = c.post(
        "/designer/cs_leave/save",
        json={"data": {**data, "options": {"gate_pass": {"field": "reason"}}}},
        headers={"X-CSRFToken": csrf, **EN},
    ).get_json()
    assert english["problems"] == [
        {
            "path": "options.gate_pass.field",
            "where": "Flow options",
            "message": "Please choose a date or time range field of the form",
        }
    ]
    english = c.post(
        "/designer/cs_leave/save", json={"data": data}, headers={"X-CSRFToken": csrf, **EN}
    ).get_json()
    assert "Once approved: “出校通行码”, valid during “离校时间”" in english["preview"]
