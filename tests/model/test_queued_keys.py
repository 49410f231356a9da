"""The simulated cluster's queue keeps its keys as a set too (SimulatedCluster._enqueue):
queuing and taking keys behave as on the plain public list, whatever callers do to it."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from planner.model.controller import Controller
from planner.model.simcluster import SimulatedCluster


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["enqueue", "dequeue", "append", "replace", "copy"]),
            st.sampled_from(["ns/a", "ns/b", "ns/c", "metallbreload/reload"]),
        ),
        max_size=30,
    )
)
def test_the_queues_key_set_is_the_queue_however_callers_change_it(steps: list[Any]) -> None:
    """SimulatedCluster._enqueue keeps the queued keys as a set: queuing and taking keys
    behave as on the plain list (a key waiting is not queued again), also after a caller
    appended to the public list, replaced it, or the cluster was copied."""
    cluster = SimulatedCluster(Controller())
    plain: list[str] = []
    for op, key in steps:
        if op == "enqueue":
            cluster._enqueue(key)
            if key not in plain:
                plain.append(key)
        elif op == "dequeue" and plain:
            assert cluster._dequeue() == plain.pop(0)
        elif op == "append":
            cluster.queue.append(key)
            plain.append(key)
        elif op == "replace":
            cluster.queue = [key, *cluster.queue]
            plain.insert(0, key)
        elif op == "copy":
            cluster = cluster.copy()
        assert cluster.queue == plain
