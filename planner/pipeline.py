"""The whole chain in one place: sources → scenario (diff) → analysis → plan → verify.

scenario = load_scenario(["desired/"], LiveSource.file("live.yaml"))
plan = plan_scenario(scenario, strategy="atomic")
plan, report = plan_and_proof(scenario, prove=True)  # the plan and its proof, in one run
diff = build_report(["desired/"], LiveSource.file("live.yaml"), DiffOptions(with_plan=True))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from planner.analysis.build import (
    pool_notes,
    report_of_scenario,
    scenario_conflicts,
    scenario_inputs,
    status_notes,
)
from planner.analysis.records import DiffReport
from planner.collector import built_data_frozen
from planner.diff import PruneMode
from planner.diff.scenario import Scenario, build_scenario
from planner.errors import PlannerError
from planner.model.controller import DEFAULT_TARGET
from planner.model.service import inputs_remembered
from planner.progress import Progress, no_progress
from planner.simulate.world import DEFAULT_MAX_STATES, Explorations
from planner.sources import HelmOptions, load_desired
from planner.sources.kustomize_cache import build_cache
from planner.sources.live import LiveSource, with_pools_from_elsewhere

if TYPE_CHECKING:  # the plan stage is imported when a plan is built: a diff never needs it
    from planner.plan.records import Plan
    from planner.plan.verify import VerifyReport


def load_scenario(
    desired_paths: Sequence[str],
    live: LiveSource,
    *,
    prune: PruneMode = "tracked",
    helm: HelmOptions | None = None,
    stdin: TextIO | None = None,
    progress: Progress = no_progress,
    lb_class: str = "",
    pools: Sequence[str] = (),
) -> Scenario:
    """Read the desired sources and the live state (all input first), then diff them.

    `lb_class`: MetalLB's `--lb-class` (Services of other classes are not MetalLB's)."""
    helm = helm or HelmOptions()
    progress("loading")
    absent = live.absent_paths(desired_paths)  # --live-git: an app the commit deletes
    with build_cache():  # the ref's builds of unchanged inputs reuse the work tree's
        desired = load_desired(desired_paths, stdin=stdin, helm=helm, absent=absent)
        live_state = live.load(desired_paths, helm)
    desired, live_state = with_pools_from_elsewhere(desired, live_state, live, pools)
    progress("loading", len(desired.objects) + len(live_state.objects))
    return build_scenario(desired, live_state, prune, lb_class)


@built_data_frozen
def plan_scenario(
    scenario: Scenario,
    *,
    strategy: str = "atomic",
    target: str = DEFAULT_TARGET,
    explorations: Explorations | None = None,
    progress: Progress = no_progress,
    max_states: int = DEFAULT_MAX_STATES,
    seed: int = 0,
) -> Plan:
    """The plan for a scenario; static conflicts refuse it (PlanRefused, exit 3)."""
    from planner.plan.build import build_plan

    # The stamped copies' inputs (as the diff reads them): on a cluster of the default family,
    # planning's units read these very inputs again (one derivation instead of two).
    conflicts = scenario_conflicts(scenario, scenario_inputs(scenario))
    plan = build_plan(
        scenario,
        conflicts=conflicts,
        strategy=strategy,
        target=target,
        explorations=explorations,
        progress=progress,
        max_states=max_states,
        seed=seed,
    )
    # the same notes as `planner diff` gives: no pool known, the sources' warnings, statuses
    # unknown (a git ref: the expected IPs of Services that request none are predictions)
    notes = (*pool_notes(scenario), *scenario.source_notes, *plan.notes, *status_notes(scenario))
    return dataclasses.replace(plan, notes=notes)


@inputs_remembered
def plan_and_proof(
    scenario: Scenario,
    *,
    prove: bool,
    strategy: str = "atomic",
    target: str = DEFAULT_TARGET,
    progress: Progress = no_progress,
    max_states: int = DEFAULT_MAX_STATES,
    seed: int = 0,
) -> tuple[Plan, VerifyReport | None]:
    """The plan for a scenario and, with `prove`, its proof (`verify_plan`) in the same run: the
    proof reuses the explorations planning made and, for the same manifests, the allocation
    inputs it derived (at 10,000 Services the proof derived 23,000 again, most of its time)."""
    from planner.plan.verify import verify_plan

    explorations = Explorations() if prove else None  # remembered for the proof only
    plan = plan_scenario(
        scenario,
        strategy=strategy,
        target=target,
        explorations=explorations,
        progress=progress,
        max_states=max_states,
        seed=seed,  # the sample beyond the budget is the one the proof replays
    )
    if not prove:
        return plan, None
    report = verify_plan(
        plan, seed=seed, explorations=explorations, progress=progress, max_states=max_states
    )
    return plan, report


@dataclass(frozen=True)
class DiffOptions:
    """What `planner diff` judges and how: target behaviour, pruning, exploration seed, helm."""

    target: str = DEFAULT_TARGET
    prune: PruneMode = "tracked"
    seed: int = 0
    helm: HelmOptions = field(default_factory=HelmOptions)
    with_plan: bool = False  # add the plan summary and its Mermaid picture (for Markdown)
    lb_class: str = ""  # MetalLB's --lb-class: Services of other classes are not MetalLB's
    max_states: int = DEFAULT_MAX_STATES  # the state budget of one component's exploration
    pools: tuple[str, ...] = ()  # --pools: files or directories holding pools (context)


def build_report(
    desired_paths: Sequence[str],
    live: LiveSource,
    options: DiffOptions | None = None,
    stdin: TextIO | None = None,
    progress: Progress = no_progress,
) -> DiffReport:
    """Read desired and live state, diff them and build the full report (all behaviours).

    Raises a PlannerError (exit 2) for bad input or a missing tool; reads before it computes,
    so nothing is reported for half-read input.
    """
    options = options or DiffOptions()
    scenario = load_scenario(
        desired_paths,
        live,
        prune=options.prune,
        helm=options.helm,
        stdin=stdin,
        progress=progress,
        lb_class=options.lb_class,
        pools=options.pools,
    )
    report = report_of_scenario(
        scenario,
        target=options.target,
        seed=options.seed,
        max_states=options.max_states,
        notes=scenario.source_notes,
        live_source=live.describe(),
        progress=progress,
    )
    if not options.with_plan:
        return report
    return with_plan(report, scenario, progress, options.max_states)


def with_plan(
    report: DiffReport,
    scenario: Scenario,
    progress: Progress = no_progress,
    max_states: int = DEFAULT_MAX_STATES,
) -> DiffReport:
    """The report with the plan summary and Mermaid picture; a note instead when the planner
    refuses (the refusal is a finding of the report, not an error of the diff)."""
    if not any(change.changed for change in scenario.changes):
        return report
    from planner.plan.build import build_plan
    from planner.render.plan import mermaid_plan, plan_table

    try:
        plan = build_plan(
            scenario,
            conflicts=report.conflicts,
            target=report.target,
            progress=progress,
            max_states=max_states,
        )
    except PlannerError as refusal:
        return dataclasses.replace(report, notes=(*report.notes, f"no plan: {refusal}"))
    extras = {**report.extras, "plan": plan_table(plan), "mermaid": mermaid_plan(plan)}
    return dataclasses.replace(report, extras=extras)
