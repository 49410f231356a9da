"""The fixed behaviour's exported test vectors (docs/fixed-allocator-vectors.json)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from planner.model.controller import ERROR_NO_RETRY, Behavior, Controller
from planner.model.vectors import LAN, dumps, held, replay, service, stamped, vectors_table

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "fixed-allocator-vectors.json"


def test_the_committed_table_is_up_to_date() -> None:
    # Regenerate with: python -m planner.model.vectors > docs/fixed-allocator-vectors.json
    assert VECTORS.read_text() == dumps(vectors_table())


def test_the_model_passes_the_committed_table() -> None:
    table = json.loads(VECTORS.read_text())
    assert table["behavior"] == "fixed"
    assert len(table["tests"]) >= 8
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


def test_an_infeasible_transition_leaves_every_member_holding_its_ports() -> None:
    # b is handed straight into the transition (a fresh controller: after a restart) and never
    # recorded before it; when the transition fails, b re-claims the IP its status shows.
    a, b = stamped(
        service("a", share="k", ips="192.168.10.20", port=("TCP", 80)),
        service("b", share="k", ips="192.168.10.20", port=("TCP", 443)),
    )
    c = Controller([LAN], behavior=Behavior.FIXED)
    c.set_balancer("ns/other", held(service("other", ips="192.168.10.20"), ["192.168.10.20"]))
    c.set_balancer("ns/a", held(a, ["192.168.10.30"]))
    assert c.set_balancer("ns/b", held(b, ["192.168.10.30"])).state == ERROR_NO_RETRY
    assert c.allocator.holders("192.168.10.30") == ["ns/a", "ns/b"]
    assert c.allocator.ips("ns/b") == ["192.168.10.30"]


def test_the_table_has_a_restart_in_the_middle_of_a_transition() -> None:
    restart = next(t for t in vectors_table()["tests"] if "restart" in t["desc"])
    wants = [s["want"] for s in restart["steps"]]
    assert [w["state"] for w in wants] == [
        "SyncStateSuccess",  # b (old key) waits, re-claims under its own key
        "SyncStateSuccess",  # a (new key) waits, re-claims under the group's old key
        "SyncStateErrorNoRetry",  # a stranger cannot take the re-claimed IP
        "SyncStateReprocessAll",  # b (new key): the group moves together
        "SyncStateReprocessAll",  # a Service with the new key shares the IP
    ]
    assert wants[-1]["service"]["status"]["loadBalancer"]["ingress"] == [{"ip": "192.168.10.40"}]
