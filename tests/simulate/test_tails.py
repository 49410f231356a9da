"""Keys queued behind a reprocess-all pass (planner.simulate.states._Tails): states told apart
only by their order are merged, on trust checked when the exploration ends; explorations with
and without the merging, and brute-force schedule enumeration, find the same outcomes; a
merge the check refutes makes the exploration start again without it."""

from __future__ import annotations

from typing import Any
from unittest import mock

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from planner.model.allocator import Pool
from planner.model.controller import BEHAVIORS
from planner.model.simcluster import RELOAD, SimulatedCluster
from planner.simulate import states
from planner.simulate.states import _Settled, _Tails, explore_states
from tests.model.test_simcluster import svc
from tests.simulate.test_commute import STOCK, _group
from tests.simulate.test_states import (
    BRUTE_MAX_RUNS,
    Spec,
    _brute,
    _brute_outcomes,
    _cluster,
    _outcomes,
    _without,
    components,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(component=components(), behavior=st.sampled_from(BEHAVIORS))
def test_merging_tails_finds_the_same_outcomes_on_random_components(
    component: tuple[list[Spec], list[tuple[str, Spec | None]]], behavior: str
) -> None:
    _without("tails", *_cluster(*component, behavior))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(2, 4),
    moving=st.integers(1, 4),
    labelled=st.booleans(),
    behavior=st.sampled_from(STOCK),
)
def test_merging_tails_finds_the_same_outcomes_on_groups_changing_their_key(
    size: int, moving: int, labelled: bool, behavior: str
) -> None:
    """Members of one IP, some or all moving Cluster -> Local (interchangeable or each with a
    label of its own): with and without the merging (and symmetry), the same outcomes."""
    base, writes = _group(size, min(moving, size), behavior, labelled=labelled)
    for symmetry in (False, True):
        whole = explore_states(base, writes, tails=False, symmetry=symmetry)
        reduced = explore_states(base, writes, symmetry=symmetry)
        assert _outcomes(reduced) == _outcomes(whole)
        assert reduced.states <= whole.states and not reduced.tails_dropped


def test_a_key_change_of_three_members_against_every_schedule() -> None:
    """Brute force takes every schedule and every tie order: the merged exploration finds the
    same pending, stuck, changed Services, final IPs and warnings."""
    for behavior in STOCK:
        base, writes = _group(3, 3, behavior, labelled=True)
        runs = _brute(base, writes)
        assert len(runs) <= BRUTE_MAX_RUNS
        found = explore_states(base, writes)
        assert found.tails_merged and not found.tails_dropped
        assert _outcomes(found) == _brute_outcomes(base, runs)


def test_a_larger_key_change_takes_far_fewer_states() -> None:
    """Four interchangeable members, all moving: the orders behind passes were most states."""
    for behavior in STOCK:
        base, writes = _group(4, 4, behavior)
        whole = explore_states(base, writes, tails=False)
        reduced = explore_states(base, writes)
        assert _outcomes(reduced) == _outcomes(whole) and reduced.complete
        assert reduced.states < whole.states and reduced.tails_merged


def test_a_refuted_merge_starts_the_exploration_again_without_it() -> None:
    """When no pass is found to end alike behind it, every merge made is refuted: the
    exploration is run again without merging (and says why), with the same outcomes."""
    for behavior in STOCK:
        base, writes = _group(3, 3, behavior, labelled=True)
        whole = explore_states(base, writes, tails=False)
        with mock.patch.object(_Tails, "_any_order", lambda self, end: False):
            refuted = explore_states(base, writes)
        assert refuted.tails_dropped and not refuted.tails_merged
        assert _outcomes(refuted) == _outcomes(whole) and refuted.states == whole.states


def test_a_swap_cycle_is_not_merged() -> None:
    """Three Services each taking the next one's IP: who is handled first behind a pass decides
    who gets an IP, so the check refutes the merging and the exploration is the whole one."""

    def service(index: int, ip: int, status: bool) -> dict[str, Any]:
        manifest = svc(f"c{index}", ip=f"10.0.0.{ip + 1}", ports=[("TCP", 80)])
        if status:
            manifest["status"] = {"loadBalancer": {"ingress": [{"ip": f"10.0.0.{ip + 1}"}]}}
        return manifest

    pools = [Pool("lan", ["10.0.0.0/29"])]
    for behavior in STOCK:
        base = SimulatedCluster.bootstrap(pools, [service(i, i, True) for i in range(3)], behavior)
        writes = [(f"ns/c{i}", service(i, (i + 1) % 3, False)) for i in range(3)]
        whole = explore_states(base, writes, tails=False)
        found = explore_states(base, writes)
        assert found.tails_dropped and _outcomes(found) == _outcomes(whole)


def _queued(behavior: str, keys: list[tuple[str, str]]) -> SimulatedCluster:
    """New Services (name, sharing key) requesting 10.0.0.1, queued in that order before a
    pass, none of them handled yet."""
    cluster = SimulatedCluster.bootstrap([Pool("lan", ["10.0.0.0/29"])], [], behavior)
    for index, (name, share) in enumerate(keys):
        manifest = svc(name, ip="10.0.0.1", share=share, ports=[(("TCP", "UDP")[index % 2], 53)])
        cluster.submit(f"ns/{name}", manifest)
        cluster.apply(cluster.options()[0])
    cluster.queue.append(RELOAD)
    return cluster


def test_joiners_behind_a_pass_end_alike_and_rivals_do_not() -> None:
    """The check on a pass's end: Services that all join one IP under one sharing key end in
    one state in any order; two with different keys on a free IP do not (the first takes it)."""
    for behavior in STOCK:
        tails = _Tails(_Settled(), lambda state, left: (0, states._IDENTITY_RENAMING))
        assert tails._any_order(_queued(behavior, [("a", "k1"), ("b", "k1")]))
        assert not tails._any_order(_queued(behavior, [("a", "k1"), ("b", "k2")]))
        pending = _queued(behavior, [("a", "k1"), ("b", "k1")])
        pending.submit("ns/a", svc("a", ip="10.0.0.1", share="k1", ports=[("TCP", 53)]))
        assert not tails._any_order(pending)  # a write of a's own may come between them


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(component=components(), behavior=st.sampled_from(STOCK))
def test_merging_tails_against_every_schedule_of_random_components(
    component: tuple[list[Spec], list[tuple[str, Spec | None]]], behavior: str
) -> None:
    """The merged exploration (the default) against brute force, stock behaviours."""
    base, writes = _cluster(*component, behavior)
    runs = _brute(base, writes)
    assume(len(runs) <= BRUTE_MAX_RUNS)
    found = explore_states(base, writes)
    assert found.complete
    assert found.pending == {
        s for r in runs for s in r.cluster.history if r.cluster.went_pending(s)
    }
    assert found.stuck == {s for r in runs for s in r.cluster.store if r.cluster.stuck_at_end(s)}
    assert found.changed == {s for r in runs for s in r.cluster.history if r.cluster.changed_ip(s)}
