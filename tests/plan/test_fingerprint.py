"""A fingerprint's parts hash canonical_json's text, whichever encoder writes it."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

from hypothesis import given, settings

from planner.plan import fingerprint
from planner.plan.graph import canonical_json
from tests.render.test_indented_json import json_values


def _expected(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:16]


def _parts(value: Any) -> list[str]:
    """The three hashes of a fingerprint whose spec and labels are `value`, annotations hold it."""
    manifest = {"spec": value, "metadata": {"labels": value, "annotations": {"a": value}}}
    return fingerprint.live_fingerprint(manifest).removeprefix("fp1:").split(".")


@settings(max_examples=200, deadline=None)
@given(json_values(max_size=6, max_leaves=40))
def test_a_part_is_hashed_as_canonical_json_writes_it(value: Any) -> None:
    assert _parts(value) == [
        _expected(value or {}),
        _expected(value or {}),
        _expected({"a": value}),
    ]


def test_unusual_values_are_hashed_as_canonical_json_writes_them() -> None:
    value = {"a": OrderedDict(b=1), "c": {1: "one", 2: [True]}, "d": (1, 2.5), "e": "café"}
    assert _parts(value) == [_expected(value), _expected(value), _expected({"a": value})]


def test_a_live_fingerprint_hashes_spec_labels_and_chosen_annotations() -> None:
    notes = {"a": "1", "metallb.io/ip-allocated-from-pool": "lan"}
    manifest = {"metadata": {"labels": {"app": "x"}, "annotations": notes}, "spec": {"b": [2]}}
    parts = [_expected({"b": [2]}), _expected({"app": "x"}), _expected({"a": "1"})]
    assert fingerprint.live_fingerprint(manifest) == "fp1:" + ".".join(parts)
