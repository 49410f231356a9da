"""What Explorations remembers of an exploration: the runs as explored, minus their logs."""

from __future__ import annotations

import gc
import weakref
from typing import Any
from unittest import mock

import pytest

from planner.model.allocator import Pool
from planner.model.simcluster import SimulatedCluster, random_runs
from planner.simulate import world
from planner.simulate.world import Explorations
from tests.model.test_simcluster import svc

POOL = Pool("lan", ["10.0.0.0/27"])


def _outcome(run: Any) -> tuple[Any, ...]:
    cluster = run.cluster
    return (
        run.schedule,
        run.settled,
        run.label,
        cluster.store,
        cluster.history,
        cluster.events,
        cluster.controller.allocator.snapshot(),
    )


def test_a_remembered_exploration_is_the_first_without_the_handled_log() -> None:
    """The second identical exploration is the first, run for run, except that the log of
    handled queue items (read by no verdict) was not kept."""
    base = SimulatedCluster.bootstrap([POOL], [], "metallb-0.15")
    explorations = Explorations()
    explorations.note_origin(base, "empty cluster")
    writes = [(f"ns/s{i}", svc(f"s{i}")) for i in range(2)]
    first = explorations.explored(base, writes, seed=0)
    again = explorations.explored(base, writes, seed=0)
    assert first.runs and len(again.runs) == len(first.runs)
    assert [_outcome(r) for r in again.runs] == [_outcome(r) for r in first.runs]
    assert all(r.cluster.handled for r in first.runs)
    assert not any(r.cluster.handled for r in again.runs)


def test_sampled_runs_are_drawn_with_rare_full_collections() -> None:
    """While runs are sampled the oldest generation's threshold is raised (younger ones as
    they were); it is back afterwards, also when the block fails."""
    before = gc.get_threshold()
    seen: list[tuple[int, ...]] = []
    base = SimulatedCluster.bootstrap([POOL], [], "metallb-0.15")
    writes = [(f"ns/s{i}", svc(f"s{i}")) for i in range(2)]

    def noted(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.get_threshold())
        return random_runs(*args, **kwargs)

    with mock.patch.object(world, "random_runs", noted):
        assert world._sampled(base, writes, seed=0)
    assert seen == [(before[0], before[1], max(before[2], world.SAMPLING_FULL_GC_THRESHOLD))]
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), world.rare_full_collections():
        raise RuntimeError("a run failed")
    assert gc.get_threshold() == before


class Survivors:
    """Weak references to the clusters a step is handed, in order: when each came, how many of
    the earlier ones were still alive (after a collection)."""

    def __init__(self) -> None:
        self._seen: list[weakref.ref[SimulatedCluster]] = []
        self.alive: list[int] = []

    def see(self, cluster: SimulatedCluster) -> None:
        gc.collect()
        self.alive.append(sum(ref() is not None for ref in self._seen))
        self._seen.append(weakref.ref(cluster))


def test_sampled_runs_keep_no_handled_log() -> None:
    """Beyond the state budget every run is sampled: no run keeps its log of handled queue
    items (no verdict reads it; at 100,000 Services the logs held some 700 MB)."""
    base = SimulatedCluster.bootstrap([POOL], [], "metallb-0.15")
    writes = [(f"ns/s{i}", svc(f"s{i}")) for i in range(3)]
    sampled = world.explore_writes(base, writes, seed=0, max_states=1)
    assert not sampled.exhaustive and len(sampled.runs) == world.SAMPLED_RUNS + 6
    assert all(run.schedule for run in sampled.runs)
    assert not any(run.cluster.handled for run in sampled.runs)


def test_a_remembered_exploration_is_copied_one_run_at_a_time() -> None:
    """Read one by one, a remembered exploration's runs are copied as they are read: no copy is
    alive once the next is handed out (the whole sample beside the remembered one was the
    peak of `plan --verify` at 100,000 Services)."""
    base = SimulatedCluster.bootstrap([POOL], [], "metallb-0.15")
    explorations = Explorations()
    explorations.note_origin(base, "empty cluster")
    writes = [(f"ns/s{i}", svc(f"s{i}")) for i in range(3)]
    first = explorations.explored(base, writes, seed=0, max_states=1)
    again = explorations.explored(base, writes, seed=0, max_states=1)
    survivors = Survivors()
    outcomes = []
    for run in world.one_by_one(again.runs):
        survivors.see(run.cluster)
        outcomes.append(_outcome(run))
    assert outcomes == [_outcome(r) for r in first.runs]
    assert survivors.alive == [0] * len(first.runs)


def test_one_by_one_lets_each_run_of_a_tuple_go() -> None:
    """An exploration's own runs, read one by one once the exploration is dropped: each run is
    gone when the next is handed out."""
    base = SimulatedCluster.bootstrap([POOL], [], "metallb-0.15")
    writes = [(f"ns/s{i}", svc(f"s{i}")) for i in range(3)]
    exploration = world.explore_writes(base, writes, seed=0, max_states=1)
    runs = world.one_by_one(exploration.runs)
    del exploration
    survivors = Survivors()
    for run in runs:
        survivors.see(run.cluster)
    assert survivors.alive == [0] * (world.SAMPLED_RUNS + 6)
