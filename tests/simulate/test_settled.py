"""Settled Services (planner.simulate.states._Settled): a handling that is a no-op now stays one
in every state reachable, and leaving settled Services' orders and queue places out of the
exploration finds exactly the outcomes of the whole one, under every behaviour."""

from __future__ import annotations

from typing import Any
from unittest import mock

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from planner.model.controller import BEHAVIORS, SUCCESS, Controller, Result, copy_manifest
from planner.model.simcluster import SimulatedCluster, prepared
from planner.simulate.states import _Interner, _Settled, explore_states
from tests.model.test_seed_scenario import with_group_annotations
from tests.model.test_simcluster import svc
from tests.simulate.test_states import (
    BRUTE_MAX_RUNS,
    POOLS,
    Spec,
    _brute,
    _brute_outcomes,
    _cluster,
    _outcomes,
    _without,
    components,
)


def _state(cluster: SimulatedCluster, interner: _Interner) -> Any:
    return interner.compact(cluster.fingerprint(interner.manifest))


def _no_op(cluster: SimulatedCluster, key: str, interner: _Interner) -> bool:
    """Handling the Service on a copy answers success and leaves the state as it was."""
    trial = cluster.copy()
    before = _state(trial, interner)
    result = trial.controller.set_balancer(key, trial.store[key])
    return result == Result(SUCCESS) and _state(trial, interner) == before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(component=components(), behavior=st.sampled_from(["metallb-0.14", "metallb-0.15"]))
def test_a_settled_service_stays_a_no_op_on_every_schedule(
    component: tuple[list[Spec], list[tuple[str, Spec | None]]], behavior: str
) -> None:
    """Along every schedule, from the first state where a Service is settled on, handling it is
    a no-op in every later state (the claim the reduction rests on)."""
    base, writes = _cluster(*component, behavior)
    runs = _brute(base, writes)
    assume(len(runs) <= BRUTE_MAX_RUNS)
    interner, settled = _Interner(), _Settled()
    for run in runs[:300]:
        state = prepared(base, writes)
        claimed: set[str] = set()
        for action in (None, *run.schedule):
            if action is not None:
                state.apply(action)
            claimed |= {k for k in state.store if settled.settled(state, k)}
            for key in claimed:
                assert key in state.store and _no_op(state, key, interner), (key, run.describe())


def test_a_holder_is_settled_and_one_whose_key_changed_is_not() -> None:
    live = [Spec("a", "dns", 0, "10.0.0.1", False), Spec("b", "dns", 1, "10.0.0.1", False)]
    base, writes = _cluster(live, [("a", Spec("a", "dns", 0, "10.0.0.1", True))], "metallb-0.15")
    state = prepared(base, writes)
    settled = _Settled()
    assert settled.settled(state, "ns/a") is False  # its write is still to come
    assert settled.settled(state, "ns/a", in_pass=True) and settled.settled(state, "ns/b")
    state.apply(state.options()[0])  # a's write (Local) arrives: its allocation is Cluster's
    assert not settled.settled(state, "ns/a") and settled.settled(state, "ns/b")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(component=components(), behavior=st.sampled_from(BEHAVIORS))
def test_settling_finds_the_same_outcomes_on_random_components(
    component: tuple[list[Spec], list[tuple[str, Spec | None]]], behavior: str
) -> None:
    _without("settling", *_cluster(*component, behavior))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(2, 3),
    writes=st.integers(1, 3),
    requested=st.booleans(),
    behavior=st.sampled_from(BEHAVIORS),
)
def test_settling_finds_the_same_outcomes_on_groups_changing_their_key(
    size: int, writes: int, requested: bool, behavior: str
) -> None:
    """A sharing group, some members moving Cluster -> Local: with and without settling (and
    with and without symmetry), the same outcomes."""
    ip = "10.0.0.1" if requested else None
    live = [Spec(f"m{i}", "k1", i % 3, ip, False) for i in range(size)]
    moves: list[tuple[str, Spec | None]] = [
        (s.name, Spec(s.name, s.share, s.ports, s.ip, True)) for s in live[: min(writes, size)]
    ]
    base, stamped = _cluster(live, moves, behavior)
    for symmetry in (False, True):
        whole = explore_states(base, stamped, symmetry=symmetry, settling=False)
        reduced = explore_states(base, stamped, symmetry=symmetry)
        assert _outcomes(reduced) == _outcomes(whole)
        assert reduced.states <= whole.states


def test_settling_leaves_out_the_orders_and_queue_places_of_settled_members() -> None:
    """Three members on one requested IP, all moving Cluster -> Local: fewer states under the
    stock behaviours (the same outcomes); under fixed nothing is settled, and only the passes'
    tie groups that change nothing are taken in one order."""
    live = [Spec(f"m{i}", "k1", i, "10.0.0.1", False) for i in range(3)]
    moves: list[tuple[str, Spec | None]] = [
        (s.name, Spec(s.name, s.share, s.ports, s.ip, True)) for s in live
    ]
    for behavior in BEHAVIORS:
        base, stamped = _cluster(live, moves, behavior)
        whole = explore_states(base, stamped, settling=False)
        reduced = explore_states(base, stamped)
        assert _outcomes(reduced) == _outcomes(whole) and reduced.complete
        if behavior == "fixed":
            assert reduced.states <= whole.states
        else:
            assert reduced.states * 3 < whole.states * 2, (behavior, reduced.states, whole.states)


def test_a_verdict_is_remembered_by_the_manifests_content_not_the_object() -> None:
    """Each state's handling stores a new manifest object: one equal in content to a manifest
    judged before takes the verdict remembered (no second trial handling), the same verdict a
    fresh judge gives; one that differs is judged again."""
    live = [Spec("a", "dns", 0, "10.0.0.1", False), Spec("b", "dns", 1, "10.0.0.1", False)]
    base, writes = _cluster(live, [("a", Spec("a", "dns", 0, "10.0.0.1", True))], "metallb-0.15")
    state = prepared(base, writes)
    settled = _Settled()
    assert settled.settled(state, "ns/b")
    again = state.copy()
    copied = copy_manifest(again.store["ns/b"])
    again.store["ns/b"] = copied
    again.controller._cache["ns/b"] = copied
    trials = []
    real = Controller.copy

    def counted(self: Controller) -> Controller:
        trials.append(1)
        return real(self)

    with mock.patch.object(Controller, "copy", counted):
        assert settled.settled(again, "ns/b") is _Settled().settled(again, "ns/b") is True
        assert len(trials) == 1  # the fresh judge's trial alone
        changed = copy_manifest(copied)
        changed["metadata"]["labels"] = {"team": "dns"}
        again.store["ns/b"] = again.controller._cache["ns/b"] = changed
        settled.settled(again, "ns/b")
        assert len(trials) == 2


def _moving_group(
    size: int, writes: int, local: bool
) -> tuple[SimulatedCluster, list[tuple[str, dict[str, Any] | None]]]:
    """`size` members sharing 10.0.0.1 (one port each), the first `writes` of them moving to
    10.0.0.2 (and to Local with `local`), stamped with the group annotations, under fixed."""

    def member(index: int, ip: str, local: bool) -> dict[str, Any]:
        return svc(f"m{index}", ip=ip, share="k1", ports=[("TCP", 53 + index)], local=local)

    live = [member(i, "10.0.0.1", False) for i in range(size)]
    desired = {f"m{i}": member(i, "10.0.0.1", False) for i in range(size)}
    desired.update({f"m{i}": member(i, "10.0.0.2", local) for i in range(writes)})
    stamped = {m["metadata"]["name"]: m for m in with_group_annotations(desired.values())}
    base = SimulatedCluster.bootstrap(POOLS, live, "fixed")
    return base, [(f"ns/m{i}", stamped[f"m{i}"]) for i in range(writes)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=st.integers(2, 5), writes=st.integers(1, 5), local=st.booleans())
def test_under_fixed_a_pass_whose_tie_group_changes_nothing_is_one_order(
    size: int, writes: int, local: bool
) -> None:
    """A group moving to another requested IP under fixed (its members waiting for the last
    one): each reprocess-all pass whose members' handlings leave the state as it is takes one
    order. The same outcomes as without it (with and without symmetry), and as every schedule
    where those are few enough to enumerate."""
    base, stamped = _moving_group(size, min(writes, size), local)
    _without("settling", base, stamped)
    if size <= 3:
        runs = _brute(base, stamped)
        if len(runs) <= BRUTE_MAX_RUNS:
            assert _outcomes(explore_states(base, stamped)) == _brute_outcomes(base, runs)


def test_under_fixed_a_group_move_costs_its_members_not_their_subsets() -> None:
    """Eight members moving together to another requested IP: about 2^n partial passes each
    before (988 of 1,077 states), none now, and no Service ever pending."""
    base, stamped = _moving_group(8, 8, False)
    whole = explore_states(base, stamped, settling=False)
    reduced = explore_states(base, stamped)
    assert _outcomes(reduced) == _outcomes(whole) and reduced.complete
    assert not reduced.pending
    assert reduced.pass_states * 10 < whole.pass_states, (reduced.pass_states, whole.pass_states)
