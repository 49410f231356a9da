"""The facts every renderer shares: counts, behaviour order, patch lines, JSON-ready extras."""

from __future__ import annotations

from dataclasses import dataclass, replace

from planner.analysis.records import Conflict, Prediction
from planner.render.summary import (
    changed,
    counts,
    extra_text,
    located_objects,
    ordered_predictions,
    patch_line,
    to_jsonable,
)
from tests.render.sample_report import sample_report


def test_counts_every_op_group_and_conflict() -> None:
    total = counts(sample_report())
    assert total.ops == {"create": 2, "update": 3, "delete": 1, "unchanged": 1}
    assert (total.groups, total.groups_touched, total.groups_key_changing) == (3, 2, 1)
    assert (total.errors, total.warnings) == (1, 1)


def test_changed_leaves_out_unchanged_objects() -> None:
    ops = {c.op for c in changed(sample_report())}
    assert ops == {"create", "update", "delete"}


def test_predictions_come_in_behaviour_order_unknown_ones_last() -> None:
    report = sample_report()
    custom = {name: Prediction(name, (), 0, False) for name in ("zz-custom", "aa-other")}
    shuffled = replace(report, predictions={**custom, **report.predictions})
    ordered = [p.behavior for p in ordered_predictions(shuffled)]
    assert ordered == ["metallb-0.14", "metallb-0.15", "fixed", "aa-other", "zz-custom"]


def test_patch_lines() -> None:
    assert (
        patch_line({"op": "replace", "path": "/spec/x", "value": "Local"})
        == 'replace /spec/x: "Local"'
    )
    assert patch_line({"op": "remove", "path": "/spec/x"}) == "remove /spec/x"
    assert patch_line({"op": "move", "from": "/a", "path": "/b"}) == "move /a -> /b"
    assert patch_line({"op": "add", "path": "", "value": {"b": 1, "a": 2}}) == (
        'add (whole object): {"a": 2, "b": 1}'
    )


def test_located_objects_pairs_each_object_with_its_origin() -> None:
    both = Conflict("m", ("a", "b"), origin="f: 1", origins=("f: 1", "g: 2"))
    assert located_objects(both) == [("a", "f: 1"), ("b", "g: 2")]
    first_only = Conflict("m", ("a", "b"), origin="f: 1")
    assert located_objects(first_only) == [("a", "f: 1"), ("b", "")]


@dataclass(frozen=True)
class _Wave:
    units: tuple[str, ...]


def test_extras_become_json_ready() -> None:
    value = {"waves": (_Wave(("u1",)),), "ids": {"b", "a"}, "other": object}
    ready = to_jsonable(value)
    assert ready["waves"] == [{"units": ["u1"]}]
    assert ready["ids"] == ["a", "b"]
    assert ready["other"] == str(object)
    assert extra_text("wave 1\n") == "wave 1"
    assert extra_text({"b": 1, "a": [1]}).splitlines()[0:2] == ["{", '  "a": [']
