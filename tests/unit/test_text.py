"""domain/text.py: markup leaves client names; plain text stays exactly as sent."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.text import parsed_plain_text, plain_text
from domain.validation import decode_problem
from tests.unit.api_support import SAMPLE


@pytest.mark.parametrize(
    "text",
    ["A & B", "a < b", "1 <2 and 3> 2", "O'Brien; DROP TABLE x;--", "Zoë 🙂", "", "x > y"],
)
def test_plain_text_is_kept_exactly(text):
    assert plain_text(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<b>Bob</b>", "Bob"),
        ("<script>alert(1)</script>Ann", "Ann"),
        ("<img src=x onerror=alert(1)>Eve", "Eve"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;Mo", "Mo"),  # escaped markup is markup too
        ("&amp;lt;b&amp;gt;Al", "Al"),
        ('<a href="javascript:x()">Jo</a>', "Jo"),
    ],
)
def test_markup_is_removed(text, expected):
    assert plain_text(text) == expected
    assert plain_text(plain_text(text)) == plain_text(text)  # idempotent


def test_decode_problem_strips_markup_from_every_name_and_leaves_ids_alone():
    doc = json.loads(SAMPLE)
    doc["name"] = "<script>x</script>Ward 7"
    doc["shift_types"][0]["name"] = "<b>Early</b>"
    doc["employees"][0]["name"] = "<i>Alice</i> & co"
    problem = decode_problem(json.dumps(doc))
    assert problem.name == "Ward 7"
    assert problem.shift_types[0].name == "Early"
    assert problem.employees[0].name == "Alice & co"
    assert problem.employees[0].id == doc["employees"][0]["id"]


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="<&\r\x00", codec="utf-8")))
def test_text_that_skips_the_parser_is_what_the_parser_would_return(text):
    assert plain_text(text) == parsed_plain_text(text) == text


@pytest.mark.parametrize("text", ["a\rb", "a&lt;b>x", "x<y"])
def test_text_with_a_character_the_parser_rewrites_still_goes_through_it(text):
    assert plain_text(text) == parsed_plain_text(text)
