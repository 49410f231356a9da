"""What Explorations remembers of an exploration: the runs as explored, minus their logs."""

from __future__ import annotations

from typing import Any

from planner.model.allocator import Pool
from planner.model.simcluster import SimulatedCluster
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
