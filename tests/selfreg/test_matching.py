"""Matching a CAS identity against the synced people, on PostgreSQL and SQLite."""

from __future__ import annotations

import pytest

from hall.models import PersonKind
from selfreg import matching
from selfreg.matching import Match, Mismatch, match
from tests.selfreg.conftest import claim

STAFF, STUDENT = PersonKind.STAFF, PersonKind.STUDENT


@pytest.fixture(params=["postgresql", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    result: str = request.param
    return result


def test_an_active_person_of_the_chosen_type_matches(session, people):
    found = match(session, claim("2023010001", cas_name="林同学"))
    assert isinstance(found, Match)
    assert found.person.id == people.student.id
    staff = match(session, claim("20010001", STAFF))  # no name released: not compared
    assert isinstance(staff, Match)
    assert staff.person.id == people.teacher.id


@pytest.mark.parametrize("cas_name", ["林同学", " 林 同学 ", "林\u3000同学"])
def test_names_are_compared_without_spacing_and_width_differences(session, people, cas_name):
    assert isinstance(match(session, claim("2023010001", cas_name=cas_name)), Match)


def test_a_middle_dot_variant_is_the_same_name(session, people):
    people.student.name = "阿依古丽·买买提"
    session.commit()
    assert isinstance(match(session, claim("2023010001", cas_name="阿依古丽•买买提")), Match)


def test_full_width_latin_letters_are_the_same_name(session, people):
    people.student.name = "Anna Li"
    session.commit()
    assert isinstance(match(session, claim("2023010001", cas_name="ＡＮＮＡ　ｌｉ")), Match)


@pytest.mark.parametrize(
    "case",
    [
        ("nobody", STUDENT, {}, matching.NOT_FOUND.format(userid="nobody")),
        ("2019010001", STUDENT, {}, matching.INACTIVE.format(userid="2019010001")),
        ("2023010001", STAFF, {}, matching.WRONG_KIND[STUDENT].format(userid="2023010001")),
        ("20010001", STUDENT, {}, matching.WRONG_KIND[STAFF].format(userid="20010001")),
        (
            "o13700000001",
            STAFF,
            {},
            matching.WRONG_KIND[PersonKind.OFFCAMPUS].format(userid="o13700000001"),
        ),
        (
            "2023010001",
            STUDENT,
            {"cas_name": "林同"},
            matching.NAME_MISMATCH.format(userid="2023010001"),
        ),
        (
            "2023010001",
            STUDENT,
            {"wecom_userid": "20010001"},
            matching.NOT_THE_MEMBER.format(userid="2023010001", member="20010001"),
        ),
    ],
)
def test_every_mismatch_says_why(session, people, case):
    userid, kind, extra, expected = case
    found = match(session, claim(userid, kind, **extra))
    assert isinstance(found, Mismatch)
    assert found.reason == expected
    assert "{" not in found.reason


def test_the_wecom_member_is_compared_without_case(session, people):
    people.teacher.userid = "zhang.san"
    session.commit()
    found = match(session, claim("zhang.san", STAFF, wecom_userid="Zhang.San"))
    assert isinstance(found, Match)


def test_an_inactive_person_is_told_so_whatever_type_they_chose(session, people):
    found = match(session, claim("2019010001", STAFF))
    assert isinstance(found, Mismatch)
    assert found.reason == matching.INACTIVE.format(userid="2019010001")
    assert found.person is not None
    assert found.person.id == people.graduate.id
