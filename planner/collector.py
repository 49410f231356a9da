"""Keeping Python's cyclic garbage collector off the data a stage builds or only reads.

    @collector_paused
    def load_desired(...): ...

    @built_data_frozen
    def report_of_scenario(...): ...

    with simulation_collections():
        runs = random_runs(...)  # or explore_states(...)

Reading, diffing and grouping 10,000 Services allocate millions of dicts, lists and records that
all stay alive, and none of them is in a reference cycle. Every full collection
the allocations trigger walks all of them again to find nothing: at 10,000 Services those
collections took about a fifth of the stages' CPU time (bench/README.md, readpath). Paused, the
objects are freed by reference counting as before; whatever cycle a stage leaves (an exception's
traceback) is collected once the collector runs again, at the next stage's first allocations.
The simulation that follows makes garbage cycles of its own, so the collector runs there, but
over what the simulation creates: the scenario it only reads is frozen (`gc.freeze`) until the
stage ends (10,000 Services: diff 4.08 -> 3.87, plan --verify 6.92 -> 6.42 CPU s, bench/README.md).
Whether a freeze is on is remembered here, not asked of `gc.get_freeze_count()`: that walks every
frozen object (CPython 3.11), and 13 calls cost 0.38 s of a 10,000-Service diff.
Sampled runs and the state explorer also allocate millions of long-lived objects and make no
reference cycle (tests/simulate/test_world.py, tests/simulate/test_collector.py), so the
collector is paused there as well: one group of 1,000 sampled, 3.9 of 30 CPU s (bench/README.md,
"onegroup"); a group of 16 explored, about a third of its CPU time ("states16").
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")


@dataclass
class _Freeze:
    """Whether a `built_data_frozen` call is running."""

    on: bool = False


_FREEZE = _Freeze()


def collector_paused(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """`function` run with the cyclic collector off (left off if it was off already); what it
    built then joins the oldest generation (`_resumed`)."""
    return _bracketed(function, gc.isenabled, gc.disable, _resumed)


def built_data_frozen(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """`function` run with every object that exists when it starts (the scenario, a plan) moved
    out of the cyclic collector's sight, and moved back when it ends: the collections the
    simulation triggers then walk only what it creates. A nested call changes nothing."""
    return _bracketed(function, lambda: not _FREEZE.on, _freeze, _unfreeze)


def join_the_callers_freeze() -> None:
    """Inside a caller's freeze (`built_data_frozen`), freeze what exists now as well: the
    collections that follow walk only what is made after, and the caller's unfreeze lets it all
    go. Outside one, nothing."""
    if _FREEZE.on:
        gc.freeze()


def _resumed() -> None:
    """The collector on again, with everything that exists now in its oldest generation (inside
    a freeze: frozen with the caller's). Left in the youngest, the millions of objects a paused
    stage allocated would all be walked by the first young collection after it (10,000
    Services: 0.10 s, after reading) and again when they move on. `freeze` then `unfreeze`
    moves them there without walking them (CPython links the generations' lists)."""
    gc.freeze()
    if not _FREEZE.on:
        gc.unfreeze()
    gc.enable()


def _freeze() -> None:
    gc.freeze()
    _FREEZE.on = True


def _unfreeze() -> None:
    _FREEZE.on = False
    gc.unfreeze()


def _bracketed(
    function: Callable[_P, _R],
    needed: Callable[[], bool],
    start: Callable[[], None],
    stop: Callable[[], None],
) -> Callable[_P, _R]:
    """`function` run between `start` and `stop` (also on an error) when `needed` says so at the
    call, else as it is (an outer call already did it)."""

    @functools.wraps(function)
    def bracketed(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if not needed():
            return function(*args, **kwargs)
        start()
        try:
            return function(*args, **kwargs)
        finally:
            stop()

    return bracketed


@contextmanager
def simulation_collections() -> Iterator[None]:
    """The cyclic collector paused inside the block (left off when it was off); what the block
    made frozen with the caller's data after, when the caller froze its data (built_data_frozen):
    it stays out of the collector's sight until the caller unfreezes its own data (reference
    counting frees it as before)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
    join_the_callers_freeze()
