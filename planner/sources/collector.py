"""Pausing Python's cyclic garbage collector while a stage builds data without cycles.

    @collector_paused
    def load_desired(...): ...

Reading, diffing and grouping 10,000 Services allocate millions of dicts, lists and records that
all stay alive, and none of them is in a reference cycle. Every full collection
the allocations trigger walks all of them again to find nothing: at 10,000 Services those
collections took about a fifth of the stages' CPU time (bench/README.md, readpath). Paused, the
objects are freed by reference counting as before; whatever cycle a stage leaves (an exception's
traceback) is collected once the collector runs again, at the next stage's first allocations.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")


def collector_paused(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """`function` run with the cyclic collector off (left off if it was off already)."""

    @functools.wraps(function)
    def paused(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if not gc.isenabled():
            return function(*args, **kwargs)
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            gc.enable()

    return paused
