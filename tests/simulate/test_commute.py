"""Tie groups whose handlings commute (planner.simulate.states._Commuting): every collapsed
group ends where every order of it ends, with the same warnings up to renaming inside a class
of interchangeable Services; explorations with and without the reduction, and brute-force
schedule enumeration, find the same outcomes; and each guard is needed."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.model.simcluster import SimulatedCluster
from planner.simulate import states
from planner.simulate.states import _Commuting, _Interner, _Renaming, _Settled, explore_states
from tests.model.test_seed_scenario import with_group_annotations
from tests.model.test_simcluster import svc
from tests.simulate.test_states import BRUTE_MAX_RUNS, POOLS, _brute, _brute_outcomes, _outcomes

STOCK = ("metallb-0.14", "metallb-0.15")
OWN_PORTS = [("TCP", 53), ("UDP", 53), ("TCP", 80), ("UDP", 80)]


def _group(
    size: int, moving: int, behavior: str, *, labelled: bool = False
) -> tuple[SimulatedCluster, list[tuple[str, dict[str, Any] | None]]]:
    """`size` members sharing 10.0.0.1 (key k1, a port each); the first `moving` of them move
    Cluster -> Local. `labelled`: each carries a label of its own, so none is interchangeable."""

    def member(index: int, local: bool) -> dict[str, Any]:
        manifest = svc(
            f"m{index}", ip="10.0.0.1", share="k1", ports=[OWN_PORTS[index]], local=local
        )
        if labelled:
            manifest["metadata"]["labels"] = {"n": str(index)}
        return manifest

    base = SimulatedCluster.bootstrap(POOLS, [member(i, False) for i in range(size)], behavior)
    desired = [member(i, i < moving) for i in range(size)]
    stamped = {m["metadata"]["name"]: m for m in with_group_annotations(desired)}
    return base, [(f"ns/m{i}", stamped[f"m{i}"]) for i in range(moving)]


def _state(cluster: SimulatedCluster, masked: bool, interner: _Interner) -> Any:
    """The state's fingerprint; `masked`: settled Services' places in the queue left out."""
    if not masked:
        return interner.compact(cluster.fingerprint(interner.manifest))
    quiet = _Settled().queued(cluster)
    twin = cluster.copy()
    twin.queue = [k for k in twin.queue if k not in quiet]
    return interner.compact(twin.fingerprint(interner.manifest))


def _renamed(texts: set[str], classes: Sequence[frozenset[str]]) -> set[str]:
    """The texts under every permutation of each class (keys only: these texts name no port)."""
    found = set(texts)
    for members in classes:
        ordered = sorted(members)
        for image in itertools.permutations(ordered):
            renaming = _Renaming(dict(zip(ordered, image, strict=True)), {})
            found |= {renaming.text(t) for t in texts}
    return found


@contextmanager
def checked_groups(checked: list[int]) -> Iterator[None]:
    """While exploring, check each collapsed tie group against every order of it: the same
    end states (settled queue places masked when the group ends the pass), and each member's
    warnings in every order among the collapsed group's, renamed inside its class."""
    group = _Commuting.group

    def checking(
        self: _Commuting,
        cluster: SimulatedCluster,
        current: tuple[str, ...],
        later: tuple[tuple[str, ...], ...],
        warnings: dict[str, set[str]],
    ) -> Any:
        raised: dict[str, set[str]] = {}
        taken = group(self, cluster, current, later, raised)
        for svc_key, texts in raised.items():
            warnings.setdefault(svc_key, set()).update(texts)
        if taken is None:
            return None
        interner, masked = _Interner(), not later
        ends, every = set(), {}
        for order in itertools.permutations(current):
            after = cluster.copy()
            for member in order:
                logged = len(after.events)
                after.handle_listed(member)
                states._collect(after.events[logged:], every)
            ends.add(_state(after, masked, interner))
        assert {_state(after, masked, interner) for after, _ in taken} == ends, current
        classes = [c for c in self._classes if set(current) <= c]
        for member in current:
            seen = _renamed(raised.get(member, set()), classes)
            for other in current:
                # A member's texts in another order are renamings of some member's here.
                seen |= _renamed(raised.get(other, set()), classes)
            assert every.get(member, set()) <= seen, (member, every.get(member), seen)
        checked.append(len(current))
        return taken

    with mock.patch.object(_Commuting, "group", checking):
        yield


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(2, 4),
    moving=st.integers(1, 4),
    labelled=st.booleans(),
    behavior=st.sampled_from(STOCK),
)
def test_collapsed_groups_end_where_every_order_ends(
    size: int, moving: int, labelled: bool, behavior: str
) -> None:
    base, writes = _group(size, min(moving, size), behavior, labelled=labelled)
    checked: list[int] = []
    with checked_groups(checked):
        found = explore_states(base, writes)
    assert found.complete and found.commuted == len(checked)


def test_key_changes_collapse_groups_of_each_kind() -> None:
    """Joiners, leavers and all-but-one groups all occur in a key change, and are checked."""
    kinds: set[str] = set()
    original = _Commuting.group

    def noting(
        self: _Commuting, cluster: SimulatedCluster, current: Any, later: Any, w: Any
    ) -> Any:
        taken = original(self, cluster, current, later, w)
        if taken is not None:
            kinds.add("joiners" if not later else "leavers" if len(taken) == 1 else "all but one")
        return taken

    for behavior in STOCK:
        base, writes = _group(4, 4, behavior)
        checked: list[int] = []
        with checked_groups(checked), mock.patch.object(_Commuting, "group", noting):
            found = explore_states(base, writes)
        assert found.complete and found.commuted > 0
    assert kinds == {"joiners", "leavers", "all but one"}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(2, 4),
    moving=st.integers(1, 4),
    labelled=st.booleans(),
    behavior=st.sampled_from(STOCK),
)
def test_commuting_finds_the_same_outcomes_with_and_without_it(
    size: int, moving: int, labelled: bool, behavior: str
) -> None:
    """With and without the reduction (and with and without symmetry), the same outcomes:
    who is ever pending, always pending, stuck at the end, changes IP, the final IPs and the
    warnings."""
    base, writes = _group(size, min(moving, size), behavior, labelled=labelled)
    for symmetry in (False, True):
        whole = explore_states(base, writes, symmetry=symmetry, commute=False)
        reduced = explore_states(base, writes, symmetry=symmetry)
        assert _outcomes(reduced) == _outcomes(whole)
        assert reduced.states <= whole.states and whole.commuted == 0


def _every_schedule(base: SimulatedCluster, writes: Any) -> tuple[Any, ...]:
    """The outcomes of every schedule (every tie order), as _outcomes gives them."""
    runs = _brute(base, writes)
    assert len(runs) <= BRUTE_MAX_RUNS and all(run.settled for run in runs)
    return _brute_outcomes(base, runs)


@pytest.mark.parametrize("behavior", STOCK)
@pytest.mark.parametrize(("moving", "labelled"), [(3, False), (3, True), (2, True)])
def test_commuting_finds_what_brute_force_finds(behavior: str, moving: int, labelled: bool) -> None:
    base, writes = _group(3, moving, behavior, labelled=labelled)
    found = explore_states(base, writes)
    assert _outcomes(found) == _every_schedule(base, writes)


def test_without_the_class_guard_a_leavers_warnings_would_be_lost() -> None:
    """Leavers that are not interchangeable (a label each) raise, in other orders, warnings
    naming other holders that are no renaming of this order's: taken in one order without the
    class guard, the group check finds warnings of other orders missing."""
    base, writes = _group(4, 3, "metallb-0.15", labelled=True)
    checked: list[int] = []
    unguarded = mock.patch.object(_Commuting, "_interchangeable", lambda self, moves: True)
    with unguarded, pytest.raises(AssertionError, match="also in use by"), checked_groups(checked):
        explore_states(base, writes)


def test_without_the_after_check_a_last_members_takeover_would_be_lost() -> None:
    """All members moved: in a pass the last member of each order finds the IP free of other
    holders and takes it over. Without the check that the IP kept its key and a holder, the
    group would be taken as leavers in one order, and the ends where another member is last
    would be lost."""
    base, writes = _group(3, 3, "metallb-0.15")
    checked: list[int] = []
    unguarded = mock.patch.object(states, "_all_left", lambda *args: True)
    with unguarded, pytest.raises(AssertionError, match="ns/m1"), checked_groups(checked):
        explore_states(base, writes)
