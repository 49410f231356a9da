"""What Explorations remembers of an exploration: the runs as explored, minus their logs."""

from __future__ import annotations

import gc
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
