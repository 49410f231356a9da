"""Journals are untrusted input: schema-checked, a wrong type refused, never read as another."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from planner.apply.journal import FileJournal, JournalRecord, record_from_json
from planner.errors import InputError

DIGEST = "0123456789abcdef" * 4
GOOD: dict[str, Any] = {"version": 1, "plan_digest": DIGEST, "finished_waves": [2, 1]}


def test_a_good_journal_reads() -> None:
    assert record_from_json(json.dumps(GOOD), "j") == JournalRecord(DIGEST, (1, 2))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"finished_waves": "1"}, "'1' is not of type 'array'"),
        ({"finished_waves": ["1"]}, "'1' is not of type 'integer'"),
        ({"finished_waves": [1.0]}, "1.0 is not of type 'integer'"),
        ({"finished_waves": [True]}, "True is not of type 'integer'"),
        ({"finished_waves": [0]}, "less than the minimum of 1"),
        ({"finished_waves": [1, 1]}, "non-unique elements"),
        ({"plan_digest": 123}, "123 is not of type 'string'"),
        ({"plan_digest": ""}, "should be non-empty"),
        ({"version": "1"}, "unsupported version '1'"),
        ({"extra": 1}, "'extra' was unexpected"),
    ],
)
def test_a_wrong_type_is_refused_not_converted(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as caught:
        record_from_json(json.dumps({**GOOD, **change}), "configmap ns/name key k")
    text = str(caught.value)
    assert message in text
    assert text.startswith("configmap ns/name key k: not a planner journal (")
    assert text.endswith("move it away to start over") and "\n" not in text


@pytest.mark.parametrize("text", ["[]", "1", "null", '"x"', "{", "[" * 100_000])
def test_not_an_object_is_one_line(text: str, tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="not a planner journal") as caught:
        FileJournal(path).load()
    assert "\n" not in str(caught.value)
