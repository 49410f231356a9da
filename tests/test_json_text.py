"""orjson's text is taken only where it is json's, byte for byte; elsewhere the answer is None."""

from __future__ import annotations

import json
import math
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from planner.json_text import canonical_bytes, canonical_bytes_each, canonical_text, indented_text


def _values(
    text: st.SearchStrategy[str], scalars: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars | text,
        lambda children: (
            st.lists(children, max_size=4)
            | st.tuples(children, children)
            | st.dictionaries(text, children, max_size=4)
        ),
        max_leaves=30,
    )


# Everything json writes: any text, any float (NaN, infinities, tiny and huge), any integer.
ANY_TEXT = st.text(max_size=8)
ANY_VALUE = _values(
    ANY_TEXT, st.none() | st.booleans() | st.integers() | st.floats() | st.floats(-1e-3, 1e-3)
)
# What a plan mostly holds: printable ASCII text, integers, booleans (orjson must take these).
ASCII_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=8)
PLAIN_VALUE = _values(
    ASCII_TEXT.filter(lambda s: "null" not in s and "e-" not in s and "0.0000" not in s),
    st.booleans() | st.integers(-(2**63), 2**64 - 1),
)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _indented(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True)


@settings(max_examples=400, deadline=None)
@given(ANY_VALUE)
@example({"a": [1e-7, 1e-5, 0.00012, 1e16, 1e300, -0.0, 5e-324]})
@example(["é", "\x7f", '\x00\x1f\b\f\n\r\t"\\/', "\u2028", "😀"])
@example({"big": [2**64, -(2**63) - 1, 2**100]})
@example({"nested": [[], {}, [[{}]], {"e": {}}]})
def test_a_text_given_is_the_text_json_writes(value: Any) -> None:
    canonical, indented = canonical_text(value), indented_text(value)
    assert canonical is None or canonical == _canonical(value)
    assert indented is None or indented == _indented(value)


@settings(max_examples=200, deadline=None)
@given(PLAIN_VALUE)
def test_plain_data_is_written_by_orjson(value: Any) -> None:
    # The fast path is taken where a plan's data lives: no silent fall back to the slow one.
    assert canonical_text(value) == _canonical(value)
    assert indented_text(value) == _indented(value)


@settings(max_examples=300, deadline=None)
@given(st.floats())
def test_a_float_is_written_as_json_writes_it_or_not_at_all(number: float) -> None:
    for value in ([number], {"x": number}):
        text = canonical_text(value)
        assert text is None or text == _canonical(value)
    if math.isfinite(number) and (number == 0 or abs(number) >= 1e-4) and _no_sign(repr(number)):
        assert canonical_text([number]) == _canonical([number])  # orjson's own float text


@dataclass
class _Point:
    x: int


@pytest.mark.parametrize(
    "value",
    [
        "café",  # raw UTF-8 in orjson's text
        "\x7f",  # raw DEL
        1e-7,  # orjson's 1e-7 for json's 1e-07
        1e-5,  # orjson's 0.00001 for json's 1e-05
        float("nan"),  # orjson's null for json's NaN
        float("inf"),
        None,  # null: not told apart from NaN
        2**64,  # beyond orjson's integers
        {1: "one"},  # a key json turns into text
        OrderedDict(a=1),  # a subclass: json writes it by its own rules
        _Point(1),  # json refuses it, orjson would write it
    ],
)
def test_what_orjson_may_write_otherwise_is_left_to_json(value: Any) -> None:
    assert canonical_text(value) is None
    assert indented_text([value]) is None


def test_a_string_merely_looking_suspect_is_left_to_json_and_still_right() -> None:
    # "1e-" where a number could stand in a name: not sure (json's own writer is asked).
    for name in ("retry 1e-2", "a:1e-2", "x,-1.5e-2", "[2e-1"):
        assert canonical_text({"name": name}) is None, name
        assert indented_text({"name": name}) is None, name
    # A digit before `e-` after anything else is no float: orjson's text is taken.
    for name in ("team-1e-2", "svc-e-2", "3f1c2a90-6a0e-4c3b-9d2e-5c1f0e2d3a4b", "v1.0e-2"):
        assert canonical_text({"name": name}) == _canonical({"name": name}), name
        assert indented_text([name]) == _indented([name]), name


# Kubernetes uids (random version-4 UUIDs: one in seven holds a digit before `e-`), and text
# made of what a number is made of, so that look-alikes of floats stand in every place.
UID = st.uuids(version=4).map(str)
NUMBER_LIKE = st.text(st.sampled_from('0123456789e-.+:,[] \n"a'), max_size=12)
# A float's look-alike: what a number starts with before `e-`, where a number can stand (a
# string's raw line break is escaped).
LOOK_ALIKE = re.compile(r"[\[:, ]-?[0-9]+(\.[0-9]+)?e-")


def _no_sign(text: str) -> bool:
    """No `null`, no `0.0000`, no number's start before `e-` (a uid's `6a0e-` is none)."""
    return "null" not in text and "0.0000" not in text and not LOOK_ALIKE.search(text)


SNAPSHOT_TEXT = UID | ASCII_TEXT.filter(_no_sign)
# Floats that json and orjson write alike (no exponent below -4, no run of zeros after a point).
SAME_FLOATS = st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda f: f == 0 or (abs(f) >= 1e-4 and _no_sign(repr(f)))
)


@settings(max_examples=500, deadline=None)
@given(_values(UID | NUMBER_LIKE, st.floats() | st.floats(-1e-3, 1e-3) | st.integers()))
@example(["9f0e-1", 1e-07, "0e-5", -2.5e-10, {"1e-": [5e-324, "a0e-"]}])
@example({"uid": "0e-", "x": [[1.5e-05], "1e-05"]})
def test_uids_and_real_floats_are_written_as_json_writes_them_or_not_at_all(value: Any) -> None:
    """The exact sign check: where orjson writes a float otherwise (`1e-7`), the text is None,
    whatever strings stand around it; where a text is given, it is json's byte for byte."""
    canonical, indented = canonical_text(value), indented_text(value)
    assert canonical is None or canonical == _canonical(value)
    assert indented is None or indented == _indented(value)
    together = canonical_bytes_each([value, value])
    assert together is None or together == [_canonical(value).encode()] * 2


@settings(max_examples=300, deadline=None)
@given(_values(SNAPSHOT_TEXT, SAME_FLOATS | st.integers(-(2**63), 2**64 - 1) | st.booleans()))
@example({"metadata": {"uid": "3f1c2a90-6a0e-4c3b-9d2e-5c1f0e2d3a4b"}, "weight": 1e16})
@example(["team-1e-2", "90e-", 2.5, {"0e-1": "a.5e-"}])
def test_uids_beside_floats_json_writes_alike_take_orjsons_text(value: Any) -> None:
    """A live snapshot's uids no longer send a text to json's writer: only a sign does."""
    assert canonical_text(value) == _canonical(value)
    assert indented_text(value) == _indented(value)


@settings(max_examples=200, deadline=None)
@given(st.lists(ANY_VALUE, max_size=4))
def test_texts_checked_together_are_each_text_or_none_at_all(values: list[Any]) -> None:
    """The texts checked in one pass are each one's canonical text, or None when any one alone
    would be None."""
    alone = [canonical_bytes(value) for value in values]
    together = canonical_bytes_each(values)
    assert together == (None if None in alone else alone)
    if together is not None:
        assert [text.decode() for text in together] == [_canonical(v) for v in values]


def test_a_checked_value_is_written_by_orjson_unsearched_but_a_refusal_is_still_none() -> None:
    """`checked` is the caller's word that the data holds no sign (planner.plan.records found
    none in its canonical text): orjson's text is taken as it is, a refusal is still None."""
    assert indented_text([1e-07]) is None  # json writes 1e-07, orjson 1e-7
    assert indented_text([1e-07], checked=True) == "[\n  1e-7\n]"
    assert indented_text({"a": 1}, checked=True) == json.dumps({"a": 1}, indent=2)
    assert indented_text([2**70], checked=True) is None
