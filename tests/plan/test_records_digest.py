"""A plan's digest is the sha256 of its canonical JSON, hashed in pieces as they are made."""

from __future__ import annotations

import gc
import hashlib
import json
import re
from collections import OrderedDict
from typing import Any

from hypothesis import given, settings

from planner.pipeline import load_scenario, plan_scenario
from planner.plan import records
from planner.plan.records import content_digest, plan_to_dict
from planner.render.indented_json import indented_pieces
from planner.render.plan import plan_pieces
from planner.sources.live import LiveSource
from tests.conftest import SAMPLES
from tests.render.test_indented_json import json_values

_values = json_values(max_size=20, max_leaves=60)


def _canonical_digest(content: Any) -> str:
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@settings(max_examples=200, deadline=None)
@given(_values)
def test_the_digest_hashes_what_json_dumps_writes(value: Any) -> None:
    """Whichever containers are walked item by item and however the pieces are gathered, the
    digest is that of the whole canonical text (its own field left out)."""
    data = {"content": value, "digest": "left out"}
    expected = _canonical_digest({"content": value})
    assert content_digest(data) == expected
    saved = records._WALKED_DEPTH, records._WALKED_LENGTH
    records._WALKED_DEPTH, records._WALKED_LENGTH = 99, 0
    try:
        assert content_digest(data) == expected
    finally:
        records._WALKED_DEPTH, records._WALKED_LENGTH = saved


@settings(max_examples=200, deadline=None)
@given(_values)
def test_runs_of_leaves_cut_anywhere_hash_what_json_dumps_writes(value: Any) -> None:
    """Leaves are encoded a run at a time: runs of one, two or three leaves give the same digest."""
    expected = _canonical_digest({"content": value})
    saved = records.RUN_LENGTH, records._WALKED_LENGTH
    try:
        for run_length in (1, 2, 3):
            records.RUN_LENGTH, records._WALKED_LENGTH = run_length, 1
            assert content_digest({"content": value}) == expected
    finally:
        records.RUN_LENGTH, records._WALKED_LENGTH = saved


def test_a_walked_container_comes_in_runs_of_leaves_and_walked_items_alone() -> None:
    value = {"d": 4, "a": 1, "b": list(range(20)), "c": 3, "e": 5, "f": 6}
    saved = records.RUN_LENGTH
    records.RUN_LENGTH = 2
    try:
        runs = list(records.item_runs(value, 0, 3, 16))
    finally:
        records.RUN_LENGTH = saved
    # "b" is longer than 16: walked on its own; the leaves around it in sorted runs of two
    assert runs == [(["a"], True), (["b"], False), (["c", "d"], True), (["e", "f"], True)]
    assert records.sub_container(value, ["c", "d"]) == {"c": 3, "d": 4}
    assert records.sub_container([7, 8, 9], [0, 2]) == [7, 9]


def test_the_text_is_hashed_piece_by_piece_as_it_is_made(monkeypatch: Any) -> None:
    """A piece is at most a run of leaves, hashed as soon as it is made: the whole text is never
    held, and nothing is copied to gather it."""
    content = {"services": [{"name": "x" * 40, "index": i} for i in range(3000)]}
    hashed: list[int] = []
    real = hashlib.sha256

    class Recorded:
        def __init__(self) -> None:
            self.inner = real()

        def update(self, data: bytes) -> None:
            hashed.append(len(data))
            self.inner.update(data)

        def hexdigest(self) -> str:
            return self.inner.hexdigest()

    expected = _canonical_digest(content)
    monkeypatch.setattr(records.hashlib, "sha256", Recorded)
    assert content_digest(content) == expected
    run = len(json.dumps(content["services"][:256], separators=(",", ":")))
    assert len(hashed) > 2
    assert max(hashed) <= run


def test_unusual_values_are_hashed_as_json_writes_them() -> None:
    content = {"a": [OrderedDict(b=1)] * 20, "c": {1: "one", 2: [True]}, "d": {"e": (1, 2.5)}}
    assert content_digest(content) == _canonical_digest(content)


def test_the_digest_of_a_sample_plan_is_that_of_its_canonical_json() -> None:
    sample = SAMPLES / "seed-dns-local"
    scenario = load_scenario([str(sample / "desired")], LiveSource.file(str(sample / "live.yaml")))
    data = plan_to_dict(plan_scenario(scenario))
    assert data["digest"] == _canonical_digest({k: v for k, v in data.items() if k != "digest"})


def test_the_plan_is_made_data_with_the_collector_paused(monkeypatch: Any) -> None:
    """Its containers (no cycle) would set off a full collection of every object of the run."""
    sample = SAMPLES / "seed-dns-local"
    scenario = load_scenario([str(sample / "desired")], LiveSource.file(str(sample / "live.yaml")))
    plan = plan_scenario(scenario)
    seen: list[bool] = []
    made = records._content_to_dict

    def watched(plan: records.Plan) -> dict[str, Any]:
        seen.append(gc.isenabled())
        return made(plan)

    monkeypatch.setattr(records, "_content_to_dict", watched)
    assert gc.isenabled()
    data = plan_to_dict(plan)
    assert seen == [False] and gc.isenabled()
    assert data["digest"] == _canonical_digest({k: v for k, v in data.items() if k != "digest"})


@settings(max_examples=300, deadline=None)
@given(_values)
def test_where_the_digest_found_no_sign_the_text_unsearched_is_what_json_dumps_writes(
    value: Any,
) -> None:
    """The render trusts the digest's search (plan_data): data whose canonical text orjson wrote
    all of, sign-free, is written indented by orjson unsearched, and is json's text still."""
    data = {"content": value, "digest": "sha256:0123abc"}
    _, checked = records._digest(data)
    text = "".join(indented_pieces(data, checked=checked))
    assert text == json.dumps(data, indent=2, sort_keys=True)


def test_a_sign_anywhere_in_the_plan_data_leaves_its_text_searched() -> None:
    plain = {"a": [1, "two", {"b": True}], "c": 2.5}
    assert records._digest(plain)[1]
    for sign in (None, "caf\u00e9", 1e-07, "\x7f", "0.00001", "at 1e-5"):
        data = {**plain, "d": [sign]}
        assert not records._digest(data)[1], sign
        assert "".join(indented_pieces(data, checked=False)) == json.dumps(
            data, indent=2, sort_keys=True
        )


def test_a_sample_plan_is_written_as_json_writes_it_searched_or_not() -> None:
    """The seed's live uids hold "0e-", "1e-", a digit before `e-` but no float: its text is
    written unsearched; the same plan with a float's look-alike in a string is searched. Both
    are json's text."""
    sample = SAMPLES / "seed-dns-local"
    scenario = load_scenario([str(sample / "desired")], LiveSource.file(str(sample / "live.yaml")))
    plan = plan_scenario(scenario)
    written = records.plan_data(plan)
    assert re.search(r"[0-9]e-", json.dumps(written.data))
    assert written.checked and written.data == plan_to_dict(plan)
    assert (
        "".join(plan_pieces(plan, "json"))
        == json.dumps(written.data, indent=2, sort_keys=True) + "\n"
    )
    look_alike = json.loads(re.sub(r"([0-9])e-", r" \1e-", json.dumps(written.data)))
    assert not records._digest(look_alike)[1]
    assert "".join(indented_pieces(look_alike, checked=False)) == json.dumps(
        look_alike, indent=2, sort_keys=True
    )
