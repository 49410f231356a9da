"""The cyclic collector paused while the state explorer runs: it is off inside, on again after,
and the exploration leaves no cyclic garbage (which only the collector would free)."""

from __future__ import annotations

import gc
from typing import Any
from unittest import mock

import pytest

from planner.simulate import states
from planner.simulate.states import explore_states
from tests.simulate.test_fixed_symmetry import _group
from tests.simulate.test_states import _cluster

BEHAVIORS = ["metallb-0.14", "metallb-0.15", "fixed"]


def test_states_are_explored_with_the_collector_paused() -> None:
    """Off while exploring, on again afterwards, also when the exploration fails."""
    seen: list[bool] = []
    base, stamped = _cluster(*_group("key change", 2, 2, False), "metallb-0.15")
    explore = states._explore_tails

    def noted(*args: Any) -> Any:
        seen.append(gc.isenabled())
        return explore(*args)

    assert gc.isenabled()
    with mock.patch.object(states, "_explore_tails", noted):
        assert explore_states(base, stamped).complete
    assert seen == [False] and gc.isenabled()
    with (
        mock.patch.object(states, "_explore_tails", side_effect=RuntimeError("failed")),
        pytest.raises(RuntimeError),
    ):
        explore_states(base, stamped)
    assert gc.isenabled()


@pytest.mark.parametrize("behavior", BEHAVIORS)
@pytest.mark.parametrize("scenario", ["key change", "auto key change", "move", "blocked"])
def test_an_exploration_makes_no_reference_cycles(behavior: str, scenario: str) -> None:
    """Key changes, moves and a blocked transition (under fixed: the reduction given up, the
    component explored again) leave nothing for the collector."""
    base, stamped = _cluster(*_group(scenario, 3, 3, False), behavior)
    gc.collect()
    gc.disable()
    try:
        found = explore_states(base, stamped)
        assert found.states
        assert gc.collect() == 0
    finally:
        gc.enable()
