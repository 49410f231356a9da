"""The fast indented JSON writer gives exactly what json.dumps(indent=2, sort_keys=True) gives."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from planner.render import indented_json
from planner.render.indented_json import dumps_indented

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_it_writes_what_json_dumps_writes(value: Any) -> None:
    assert dumps_indented(value) == json.dumps(value, indent=2, sort_keys=True)


def test_unusual_values_are_left_to_json() -> None:
    # A dict subclass and a non-string key: json's own rules (it turns 1 into "1").
    value = {"a": OrderedDict(b=1), 1: [True]}
    assert dumps_indented({"x": value["a"]}) == json.dumps(
        {"x": value["a"]}, indent=2, sort_keys=True
    )
    assert dumps_indented({1: [True]}) == json.dumps({1: [True]}, indent=2, sort_keys=True)


def test_non_ascii_text_is_escaped_as_json_does() -> None:
    assert dumps_indented({"name": "café ☕"}) == '{\n  "name": "caf\\u00e9 \\u2615"\n}'


@settings(max_examples=100, deadline=None)
@given(values)
def test_joining_pieces_on_the_way_changes_nothing(value: Any) -> None:
    # Joined after every few pieces (a plan's millions of pieces are joined as they come).
    compact_at = indented_json.COMPACT_AT
    indented_json.COMPACT_AT = 3
    try:
        assert dumps_indented(value) == json.dumps(value, indent=2, sort_keys=True)
    finally:
        indented_json.COMPACT_AT = compact_at
