"""The whole chain in one place: sources → scenario (diff) → plan → verify.

scenario = load_scenario(["desired/"], LiveSource.file("live.yaml"))
plan = plan_scenario(scenario, strategy="atomic")
report = verify_plan(plan)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from planner.diff import PruneMode
from planner.analysis.build import LiveSource, scenario_conflicts
from planner.plan.records import Plan
from planner.plan.build import build_plan
from planner.diff.scenario import Scenario, build_scenario
from planner.sources import HelmOptions, load_desired


def load_scenario(
    desired_paths: Sequence[str],
    live: LiveSource,
    *,
    prune: PruneMode = "tracked",
    helm: HelmOptions | None = None,
    stdin: TextIO | None = None,
) -> Scenario:
    """Read the desired sources and the live state (all input first), then diff them."""
    helm = helm or HelmOptions()
    desired = load_desired(desired_paths, stdin=stdin, helm=helm)
    return build_scenario(desired, live.load(desired_paths, helm), prune)


def plan_scenario(
    scenario: Scenario, *, strategy: str = "atomic", target: str = "metallb-0.15"
) -> Plan:
    """The plan for a scenario; static conflicts refuse it (PlanRefused, exit 3)."""
    conflicts = scenario_conflicts(scenario)
    return build_plan(scenario, conflicts=conflicts, strategy=strategy, target=target)
