"""The cyclic garbage collector paused while the simulation builds what it keeps.

    with collector.simulation_collections():
        runs = random_runs(...)  # or explore_states(...)

Sampled runs and the state explorer allocate millions of long-lived objects (each step's stored
manifests and records, the explored states and their fingerprints) and make no reference cycle
(tests/simulate/test_world.py, tests/simulate/test_collector.py), so every collection walked them
to find nothing: one group of 1,000 sampled, 3.9 of 30 CPU s (bench/README.md, "onegroup"); a
group of 16 explored, about a third of its CPU time (bench/README.md, "states16").
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from planner.sources.collector import join_the_callers_freeze


@contextmanager
def simulation_collections() -> Iterator[None]:
    """The cyclic collector paused inside the block (left off when it was off); what the block
    made frozen with the caller's data after, when the caller froze its data
    (planner.sources.collector.built_data_frozen): it stays out of the collector's sight until
    the caller unfreezes its own data (reference counting frees it as before)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
    join_the_callers_freeze()
