"""The fast indented JSON writer gives exactly what json.dumps(indent=2, sort_keys=True) gives."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.plan import records
from planner.render import indented_json
from planner.render.indented_json import dumps_indented


def json_values(max_size: int, max_leaves: int) -> st.SearchStrategy[Any]:
    """Values json can write: scalars, and lists, tuples and string-keyed dicts of them."""
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=max_size)
            | st.tuples(children, children)
            | st.dictionaries(st.text(max_size=6), children, max_size=max_size)
        ),
        max_leaves=max_leaves,
    )


values = json_values(max_size=4, max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(values)
def test_it_writes_what_json_dumps_writes(value: Any) -> None:
    assert dumps_indented(value) == json.dumps(value, indent=2, sort_keys=True)


@settings(max_examples=300, deadline=None)
@given(values)
def test_its_own_writer_writes_what_json_dumps_writes(value: Any) -> None:
    # Every leaf by the writer here, as where orjson's text is not sure (planner.json_text).
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(indented_json, "indented_text", lambda value, checked=False: None)
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


@settings(max_examples=200, deadline=None)
@given(values)
def test_its_pieces_make_what_json_dumps_writes(value: Any) -> None:
    # Every container walked item by item, a piece handed out after every few small strings.
    saved = indented_json.WALKED_DEPTH, indented_json.WALKED_LENGTH, indented_json.COMPACT_AT
    indented_json.WALKED_DEPTH, indented_json.WALKED_LENGTH, indented_json.COMPACT_AT = 99, 0, 3
    try:
        text = "".join(indented_json.indented_pieces(value))
    finally:
        indented_json.WALKED_DEPTH, indented_json.WALKED_LENGTH, indented_json.COMPACT_AT = saved
    assert text == json.dumps(value, indent=2, sort_keys=True)


def test_unusual_values_inside_walked_containers_are_written_as_json_writes_them() -> None:
    # Left to json at their own depth: json's text of the whole document, byte for byte.
    value = {
        "a": [{"b": OrderedDict(c=[1, {"d": None}])}, {2: "two", 1: [True]}],
        "e": {"f": OrderedDict()},
        "g": [OrderedDict(h=1.5)] * 20,
    }
    assert dumps_indented(value) == json.dumps(value, indent=2, sort_keys=True)
    assert dumps_indented({1: [True]}) == json.dumps({1: [True]}, indent=2, sort_keys=True)


@pytest.mark.parametrize("fast_leaves", [True, False])
def test_a_long_document_comes_in_pieces_none_of_them_whole(
    fast_leaves: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan's waves and Services are walked item by item: the text is handed out in pieces of
    about COMPACT_AT small strings (written here) or HANDED_OUT_AT characters of leaves (written
    by orjson), never as one string of the whole document."""
    monkeypatch.setattr(indented_json, "HANDED_OUT_AT", 200_000)  # the document's tenth or so
    if not fast_leaves:
        monkeypatch.setattr(indented_json, "indented_text", lambda value, checked=False: None)
    services = {f"team/svc-{i:05d}": {"spec": {"ports": [{"port": i}]}} for i in range(20_000)}
    value = {"baseline": {"services": services}, "waves": [{"units": list(services)}]}
    pieces = list(indented_json.indented_pieces(value))
    text = "".join(pieces)
    assert text == json.dumps(value, indent=2, sort_keys=True)
    assert len(pieces) >= 3
    assert max(len(piece) for piece in pieces) < len(text) / 2


def test_keys_that_do_not_sort_raise_what_json_raises() -> None:
    """Keys are checked as they are written, after sorting: keys json cannot sort (a string
    and an int) raise json's own TypeError, deep in a leaf as at the top."""
    for value in ({"a": {"b": 1, 2: "two"}}, {"a": [{"x": {3: 1, "y": 2}}]}):
        with pytest.raises(TypeError) as ours:
            dumps_indented(value)
        with pytest.raises(TypeError) as theirs:
            json.dumps(value, indent=2, sort_keys=True)
        assert str(ours.value) == str(theirs.value)


def test_strings_and_ints_after_other_values_in_one_dict() -> None:
    # The one-piece path (a key with its string or int) beside values written apart.
    value = {"s": "x", "i": 7, "b": True, "f": 1.5, "n": None, "l": ["y", 3, {}], "d": {"k": 2}}
    assert dumps_indented({"top": [value]}) == json.dumps(
        {"top": [value]}, indent=2, sort_keys=True
    )


@settings(max_examples=300, deadline=None)
@given(json_values(max_size=6, max_leaves=40), st.integers(1, 3), st.integers(0, 3))
def test_runs_of_leaves_of_any_length_write_what_json_dumps_writes(
    value: Any, run_length: int, walked_length: int
) -> None:
    """Leaves written whole are encoded a run at a time (its brackets cut off): however long
    the runs and whichever containers are walked, the text is json's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(records, "RUN_LENGTH", run_length)
        patch.setattr(indented_json, "WALKED_LENGTH", walked_length)
        assert dumps_indented(value) == json.dumps(value, indent=2, sort_keys=True)
