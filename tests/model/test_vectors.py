"""The fixed behaviour's exported test vectors (docs/fixed-allocator-vectors.json)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from planner.model.vectors import dumps, replay, vectors_table

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "fixed-allocator-vectors.json"


def test_the_committed_table_is_up_to_date() -> None:
    # Regenerate with: python -m planner.model.vectors > docs/fixed-allocator-vectors.json
    assert VECTORS.read_text() == dumps(vectors_table())


def test_the_model_passes_the_committed_table() -> None:
    table = json.loads(VECTORS.read_text())
    assert table["behavior"] == "fixed"
    assert len(table["tests"]) >= 7
    assert replay(table) == []


def test_the_table_covers_the_contract() -> None:
    table = vectors_table()
    reasons = {e[2] for t in table["tests"] for s in t["steps"] for e in s["want"]["events"]}
    states = {s["want"]["state"] for t in table["tests"] for s in t["steps"]}
    assert {"WaitingForGroup", "GroupTransitionInfeasible", "IPAllocated"} <= reasons
    assert {"SyncStateSuccess", "SyncStateReprocessAll", "SyncStateErrorNoRetry"} <= states
    writes = [s["want"]["groupWrites"] for t in table["tests"] for s in t["steps"]]
    assert any(writes), "one step writes another member (the completing event)"


def test_replay_reports_a_wrong_expectation() -> None:
    table = copy.deepcopy(vectors_table())
    step = table["tests"][0]["steps"][0]
    step["want"]["state"] = "SyncStateError"
    assert replay(table) == [f"{table['tests'][0]['desc']}: step 0 (ns/dns-tcp): state"]
