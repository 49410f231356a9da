"""The state explorer finds exactly the outcomes the brute-force schedule enumeration finds, on
random small components; its counterexamples are real schedules."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from planner.model import simcluster
from planner.model.allocator import Pool
from planner.model.controller import BEHAVIORS, copy_manifest
from planner.model.simcluster import RELOAD, TIES_CUT, Run, SimulatedCluster, explore, replay
from planner.simulate.states import explore_states
from tests.model.test_seed_scenario import with_group_annotations
from tests.model.test_simcluster import svc

POOLS = [Pool("lan", ["10.0.0.0/30"]), Pool("lan2", ["10.0.1.0/31"])]
REQUESTED = (None, "10.0.0.1", "10.0.0.2", "10.0.1.1")
PORTS = ([("TCP", 53)], [("UDP", 53)], [("TCP", 80)])
# Brute force beyond this many schedules is too slow for a property test: such draws are skipped.
BRUTE_MAX_RUNS = 4000


@dataclass(frozen=True)
class Spec:
    """One Service's allocation inputs."""

    name: str
    share: str
    ports: int
    ip: str | None
    local: bool

    def manifest(self) -> dict[str, Any]:
        return svc(
            self.name,
            ip=self.ip,
            share=self.share or None,
            ports=PORTS[self.ports],
            local=self.local,
        )


def _spec(name: str) -> st.SearchStrategy[Spec]:
    return st.builds(
        Spec,
        st.just(name),
        st.sampled_from(["", "k1", "k2"]),
        st.integers(0, len(PORTS) - 1),
        st.sampled_from(REQUESTED),
        st.booleans(),
    )


@st.composite
def components(draw: st.DrawFn) -> tuple[list[Spec], list[tuple[str, Spec | None]]]:
    """Up to three live Services and one to three writes: edits, deletions and new Services."""
    live = [draw(_spec(f"s{i}")) for i in range(draw(st.integers(0, 3)))]
    names = [s.name for s in live] + ["n0", "n1"]
    targets = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    writes: list[tuple[str, Spec | None]] = []
    for name in targets:
        deleted = name.startswith("s") and draw(st.integers(0, 4)) == 0
        writes.append((name, None if deleted else draw(_spec(name))))
    return live, writes


def _cluster(
    live: list[Spec], writes: list[tuple[str, Spec | None]], behavior: str
) -> tuple[SimulatedCluster, list[tuple[str, dict[str, Any] | None]]]:
    """The live Services bootstrapped, the writes stamped with group annotations (for fixed)."""
    desired = {s.name: s.manifest() for s in live}
    for name, spec in writes:
        if spec is None:
            desired.pop(name, None)
        else:
            desired[name] = spec.manifest()
    stamped = {m["metadata"]["name"]: m for m in with_group_annotations(desired.values())}
    base = SimulatedCluster.bootstrap(POOLS, [s.manifest() for s in live], behavior)
    return base, [(f"ns/{name}", stamped.get(name)) for name, _ in writes]


def _brute(base: SimulatedCluster, writes: list[tuple[str, Any]]) -> list[Run]:
    """Every schedule, every reprocess-all pass in every tie order (none cut), up to a cap."""
    runs = []
    with mock.patch.object(simcluster, "MAX_PASS_ORDERS", math.inf):
        for run in explore(base, writes, explore_ties=True):
            runs.append(run)
            if len(runs) > BRUTE_MAX_RUNS:
                break
    return runs


def _brute_outcomes(base: SimulatedCluster, runs: list[Run]) -> tuple[Any, ...]:
    """The outcomes of every run, as _outcomes gives them for an exploration."""

    def every(fact: str) -> frozenset[str]:
        return frozenset(s for r in runs for s in r.cluster.history if getattr(r.cluster, fact)(s))

    pending = every("went_pending")
    always = frozenset(s for s in pending if all(r.cluster.went_pending(s) for r in runs))
    final: dict[str, set[tuple[str, ...]]] = {}
    warned: dict[str, set[str]] = {}
    for run in runs:
        for key in run.cluster.store:
            final.setdefault(key, set()).add(run.cluster.ips(key))
        # The warnings of the schedule, not those of the bootstrap before it.
        for _, event in run.cluster.events[len(base.events) :]:
            if event.type == "Warning":
                warned.setdefault(event.svc_key, set()).add(str(event))
    return (
        True,
        pending,
        always,
        every("stuck_at_end"),
        every("changed_ip"),
        {k: frozenset(v) for k, v in sorted(final.items())},
        {k: frozenset(v) for k, v in sorted(warned.items())},
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(component=components(), behavior=st.sampled_from(BEHAVIORS))
def test_states_find_exactly_the_outcomes_of_every_schedule(
    component: tuple[list[Spec], list[tuple[str, Spec | None]]], behavior: str
) -> None:
    base, writes = _cluster(*component, behavior)
    runs = _brute(base, writes)
    assume(len(runs) <= BRUTE_MAX_RUNS)
    found = explore_states(base, writes)
    # Brute force takes every tie order; the explorer every one too, pass by pass.
    assert not any(run.extra.get(TIES_CUT) for run in runs) and not found.ties_cut
    assert all(run.settled for run in runs)
    assert found.complete and found.diverging == 0
    assert _outcomes(found) == _brute_outcomes(base, runs)
    # Whole states lie on some schedule; so does each partial pass (a prefix of a pass's order).
    assert found.states - found.pass_states <= sum(len(r.schedule) for r in runs) + 1
    in_passes = sum(
        len(h.results) - 1
        for r in runs
        for h in r.cluster.handled[len(base.handled) :]
        if h.item == RELOAD and h.results
    )
    assert found.pass_states <= in_passes
    # Counterexamples are real schedules: replayed, they show what was found.
    for key, path in found.pending_paths.items():
        assert replay(base, writes, path).cluster.went_pending(key)
    for terminal in found.terminals:
        again = replay(base, writes, terminal.schedule).cluster
        assert dict(again.store) == dict(terminal.cluster.store)


def _seed_pair(behavior: str) -> tuple[SimulatedCluster, list[tuple[str, Any]]]:
    """Two Services share 10.0.0.1 (TCP and UDP 53) and both move Cluster -> Local."""
    live = [Spec("a", "dns", 0, "10.0.0.1", False), Spec("b", "dns", 1, "10.0.0.1", False)]
    writes: list[tuple[str, Spec | None]] = [
        ("a", Spec("a", "dns", 0, "10.0.0.1", True)),
        ("b", Spec("b", "dns", 1, "10.0.0.1", True)),
    ]
    return _cluster(live, writes, behavior)


def test_the_seed_pair_under_each_behaviour() -> None:
    outcomes = {}
    for behavior in BEHAVIORS:
        found = explore_states(*_seed_pair(behavior))
        assert found.complete
        outcomes[behavior] = (found.pending, found.stuck)
    both = frozenset({"ns/a", "ns/b"})
    assert outcomes["metallb-0.14"] == (both, both)
    assert outcomes["metallb-0.15"] == (both, frozenset())
    assert outcomes["fixed"] == (frozenset(), frozenset())


def test_a_stuck_witness_is_a_real_shortest_schedule() -> None:
    base, writes = _seed_pair("metallb-0.14")
    found = explore_states(base, writes)
    witness = found.witness("stuck:ns/a")
    assert witness is not None
    assert replay(base, writes, witness.schedule).cluster.stuck_at_end("ns/a")
    assert found.witness("stuck:ns/nobody") is None


def test_the_state_budget_stops_the_exploration_and_says_so() -> None:
    base, writes = _seed_pair("metallb-0.15")
    whole = explore_states(base, writes)
    cut = explore_states(base, writes, max_states=5)
    assert whole.complete and not whole.budget_reached
    assert not cut.complete and cut.budget_reached and cut.states == 5


def test_every_tie_order_of_a_pass_is_taken_and_none_cut() -> None:
    """Five holders tie in every pass (5! = 120 orders, more than brute force's MAX_PASS_ORDERS):
    the explorer takes them all, pass by pass, and finds what every order finds."""
    live = [Spec(f"h{i}", "k", 0, None, False) for i in range(5)]
    pools = [Pool("lan", ["10.0.0.0/29"])]
    for behavior in BEHAVIORS:
        base = SimulatedCluster.bootstrap(pools, [s.manifest() for s in live], behavior)
        writes = [("ns/h0", Spec("h0", "k", 0, None, True).manifest())]
        found = explore_states(base, writes)
        assert not found.ties_cut and found.complete and not found.budget_reached
        runs = _brute(base, writes)
        assert len(runs) <= BRUTE_MAX_RUNS
        assert _outcomes(found) == _brute_outcomes(base, runs)
        if behavior == "metallb-0.15":  # its key change reprocesses all (the others' do not)
            without = explore_states(base, writes, explore_ties=False)
            assert without.ties_cut and not without.complete


def _without(reduction: str, base: SimulatedCluster, writes: Any) -> None:
    """With and without one reduction (each with and without symmetry), the same outcomes, and
    the reduced exploration's counterexamples and end states lie on real schedules."""
    for symmetry in (False, True):
        whole = explore_states(base, writes, symmetry=symmetry, **{reduction: False})
        reduced = explore_states(base, writes, symmetry=symmetry)
        assert _outcomes(reduced) == _outcomes(whole)
        assert reduced.diverging == whole.diverging
        for key, path in reduced.pending_paths.items():
            assert replay(base, writes, path).cluster.went_pending(key)
        for terminal in reduced.terminals:
            again = replay(base, writes, terminal.schedule).cluster
            assert dict(again.store) == dict(terminal.cluster.store)


def _outcomes(found: Any) -> tuple[Any, ...]:
    return (
        found.complete,
        found.pending,
        found.always_pending,
        found.stuck,
        found.changed,
        found.final_ips,
        found.warnings,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(2, 4),
    writes=st.integers(1, 4),
    requested=st.booleans(),
    same_ports=st.booleans(),
    behavior=st.sampled_from(BEHAVIORS),
)
def test_symmetry_reduction_finds_the_same_outcomes(
    size: int, writes: int, requested: bool, same_ports: bool, behavior: str
) -> None:
    """Interchangeable members (one sharing key, own or equal ports, a requested IP or none),
    some of them changing Cluster -> Local: the reduced graph's outcomes are the whole one's."""
    ip = "10.0.0.1" if requested else None
    live = [Spec(f"m{i}", "k1", 0 if same_ports else i % 3, ip, False) for i in range(size)]
    moves: list[tuple[str, Spec | None]] = [
        (s.name, Spec(s.name, s.share, s.ports, s.ip, True)) for s in live[: min(writes, size)]
    ]
    base, stamped = _cluster(live, moves, behavior)
    whole = explore_states(base, stamped, symmetry=False)
    reduced = explore_states(base, stamped)
    assert _outcomes(reduced) == _outcomes(whole)
    assert reduced.states <= whole.states
    for key, path in reduced.pending_paths.items():
        assert replay(base, stamped, path).cluster.went_pending(key)


def test_symmetry_collapses_the_orders_of_identical_members() -> None:
    live = [Spec(f"m{i}", "dns", i % 2, "10.0.0.1", False) for i in range(2)]
    moves: list[tuple[str, Spec | None]] = [
        (s.name, Spec(s.name, "dns", s.ports, s.ip, True)) for s in live
    ]
    base, stamped = _cluster(live, moves, "metallb-0.15")
    reduced = explore_states(base, stamped)
    whole = explore_states(base, stamped, symmetry=False)
    assert reduced.symmetric == (("ns/m0", "ns/m1"),)
    assert reduced.states < whole.states
    # The fixed allocator too: its transition of this group writes no member (the IP stays),
    # so nothing it does follows the members' name order (issue 16).
    fixed_base, fixed_stamped = _cluster(live, moves, "fixed")
    fixed = explore_states(fixed_base, fixed_stamped)
    assert fixed.symmetric == (("ns/m0", "ns/m1"),) and not fixed.symmetry_dropped
    assert fixed.states < explore_states(fixed_base, fixed_stamped, symmetry=False).states


def _told_apart(manifest: dict[str, Any], index: int, *, live: bool) -> dict[str, Any]:
    """The manifest with what tells real Services apart and the model never reads: port names
    and target ports, and (live only, as the API server sets them) uid, resourceVersion,
    nodePort and healthCheckNodePort."""
    told = copy_manifest(manifest)
    for entry in told["spec"]["ports"]:
        entry.update(name=f"port-{index}", targetPort=8000 + index)
        if live:
            entry["nodePort"] = 30000 + index
    if live:
        told["metadata"].update(uid=f"uid-{index}", resourceVersion=str(100 + index))
        told["spec"]["healthCheckNodePort"] = 31000 + index
    return told


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(2, 4),
    writes=st.integers(1, 4),
    requested=st.booleans(),
    behavior=st.sampled_from(BEHAVIORS),
)
def test_members_told_apart_only_by_unread_fields_are_interchangeable(
    size: int, writes: int, requested: bool, behavior: str
) -> None:
    """Members with their own port names, target ports, uids and node ports (the generator's
    DNS/HTTP groups) form one class, and the reduced graph's outcomes are the whole one's."""
    ip = "10.0.0.1" if requested else None
    specs = [Spec(f"m{i}", "k1", i % 3, ip, False) for i in range(size)]
    live = [_told_apart(s.manifest(), i, live=True) for i, s in enumerate(specs)]
    base = SimulatedCluster.bootstrap(POOLS, live, behavior)
    desired = {s.name: Spec(s.name, s.share, s.ports, s.ip, True).manifest() for s in specs}
    stamped = {m["metadata"]["name"]: m for m in with_group_annotations(desired.values())}
    moved = [
        (f"ns/{s.name}", _told_apart(stamped[s.name], i, live=False))
        for i, s in enumerate(specs[: min(writes, size)])
    ]
    whole = explore_states(base, moved, symmetry=False)
    reduced = explore_states(base, moved)
    assert _outcomes(reduced) == _outcomes(whole)
    assert reduced.states <= whole.states
    if behavior != "fixed" and writes >= size and size == 3:
        # Ports TCP/53, UDP/53, TCP/80: disjoint, so all three members are one class.
        assert reduced.symmetric == (("ns/m0", "ns/m1", "ns/m2"),)
    for terminal in reduced.terminals:
        again = replay(base, moved, terminal.schedule).cluster
        assert dict(again.store) == dict(terminal.cluster.store)


def test_a_service_changing_ports_keeps_others_from_being_interchangeable() -> None:
    """Found by the property above (hypothesis), metallb-0.14: s0 and s1 formed a class although
    s2 moves from s0's port to s1's (the port check left out a Service whose ports change), and
    the closure renamed s2's warning to one no schedule raises."""
    live = [
        Spec("s0", "k2", 0, "10.0.1.1", False),
        Spec("s1", "k2", 1, "10.0.1.1", False),
        Spec("s2", "", 0, "10.0.1.1", False),
    ]
    base, writes = _cluster(live, [("s2", Spec("s2", "k2", 1, "10.0.1.1", False))], "metallb-0.14")
    found = explore_states(base, writes)
    assert found.warnings == _brute_outcomes(base, _brute(base, writes))[-1]
