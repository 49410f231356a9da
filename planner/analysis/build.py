"""The `planner diff` report: desired sources and one live source in, a `DiffReport` out.

    live = LiveSource.file("live.yaml")
    report = build_report(["desired/"], live, DiffOptions(target="metallb-0.14"))
    code = exit_code(report, fail_on="stuck")   # 0 no change, 1 changes within policy, 3 not

The command (`planner/commands/diff.py`) only parses options, calls these and renders the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from planner.analysis.conflicts import static_conflicts
from planner.diff import PruneMode
from planner.errors import PlannerError
from planner.analysis.groups import sharing_groups
from planner.plan.build import build_plan
from planner.simulate.world import predict
from planner.render.plan import mermaid_plan, plan_table
from planner.analysis.records import BEHAVIORS, Conflict, DiffReport, Prediction, SharingGroupReport
from planner.diff.scenario import Scenario, build_scenario
from planner.sources import (
    HelmOptions,
    LiveState,
    load_desired,
    load_live_file,
    load_live_git,
    load_live_kubectl,
)

DEFAULT_TARGET = "metallb-0.15"
FAIL_ON_POLICIES: tuple[str, ...] = ("never", "stuck", "pending")
DEFAULT_FAIL_ON = "stuck"

EXIT_NO_CHANGES = 0
EXIT_CHANGES = 1
EXIT_POLICY = 3

LIVE_FILE = "file"
LIVE_KUBECTL = "kubectl"
LIVE_GIT = "git"

GIT_STATUS_NOTE = (
    "live state was read from a git ref, so statuses are unknown: "
    "live IPs are the requested ones or the model's prediction"
)


@dataclass(frozen=True)
class LiveSource:
    """Where live state comes from: a snapshot file, kubectl (in a context), or a git ref."""

    kind: str  # LIVE_FILE | LIVE_KUBECTL | LIVE_GIT
    value: str | None = None  # the file path, the kubeconfig context, or the git ref

    @classmethod
    def file(cls, path: str) -> LiveSource:
        return cls(LIVE_FILE, path)

    @classmethod
    def kubectl(cls, context: str | None = None) -> LiveSource:
        return cls(LIVE_KUBECTL, context)

    @classmethod
    def git(cls, ref: str) -> LiveSource:
        return cls(LIVE_GIT, ref)

    def describe(self) -> str:
        """How reports name the source: "file PATH", "kubectl (context X)", "git REF"."""
        if self.kind == LIVE_KUBECTL:
            return f"kubectl (context {self.value})" if self.value else "kubectl"
        return f"{self.kind} {self.value}"

    def load(self, desired_paths: Sequence[str], helm: HelmOptions) -> LiveState:
        """Read the live state; a git ref reads `desired_paths` as they were at that ref."""
        if self.kind == LIVE_FILE:
            return load_live_file(str(self.value))
        if self.kind == LIVE_KUBECTL:
            return load_live_kubectl(self.value)
        return load_live_git(str(self.value), desired_paths, helm=helm)


@dataclass(frozen=True)
class DiffOptions:
    """What the report judges and how: target behaviour, pruning, exploration seed, helm."""

    target: str = DEFAULT_TARGET
    prune: PruneMode = "tracked"
    seed: int = 0
    helm: HelmOptions = field(default_factory=HelmOptions)
    with_plan: bool = False  # add the plan summary and its Mermaid picture (for Markdown)


def build_report(
    desired_paths: Sequence[str],
    live: LiveSource,
    options: DiffOptions | None = None,
    stdin: TextIO | None = None,
) -> DiffReport:
    """Read desired and live state, diff them and build the full report (all behaviours).

    Raises a PlannerError (exit 2) for bad input or a missing tool; reads before it computes,
    so nothing is reported for half-read input.
    """
    options = options or DiffOptions()
    desired = load_desired(desired_paths, stdin=stdin, helm=options.helm)
    live_state = live.load(desired_paths, options.helm)
    scenario = build_scenario(desired, live_state, options.prune)
    notes = tuple(desired.notes) + tuple(live_state.notes)
    return report_of_scenario(scenario, options, notes, live.describe())


def scenario_groups(scenario: Scenario) -> tuple[SharingGroupReport, ...]:
    """The sharing groups of the scenario's live and desired state."""
    return sharing_groups(
        scenario.live_services,
        scenario.desired_services,
        scenario.pools,
        scenario.namespaces,
        scenario.key_changes,
        scenario.statuses_known,
    )


def scenario_conflicts(scenario: Scenario) -> tuple[Conflict, ...]:
    """The scenario's static conflicts (things that can never converge) and warnings."""
    return static_conflicts(
        scenario.desired_objects, scenario.pools, scenario.namespaces, scenario.live_services
    )


def report_of_scenario(
    scenario: Scenario,
    options: DiffOptions | None = None,
    notes: Sequence[str] = (),
    live_source: str = "",
) -> DiffReport:
    """The report of one scenario: its changes, sharing groups, static conflicts, predictions."""
    options = options or DiffOptions()
    groups = scenario_groups(scenario)
    conflicts = scenario_conflicts(scenario)
    extras, plan_notes = (
        _plan_extras(scenario, conflicts, options) if options.with_plan else ({}, ())
    )
    return DiffReport(
        changes=scenario.changes,
        groups=groups,
        conflicts=conflicts,
        predictions=predict(scenario, BEHAVIORS, options.seed),
        target=options.target,
        notes=tuple(notes) + _status_notes(scenario) + plan_notes,
        live_source=live_source,
        statuses_known=scenario.statuses_known,
        extras=extras,
    )


def _plan_extras(
    scenario: Scenario, conflicts: Sequence[Conflict], options: DiffOptions
) -> tuple[dict[str, object], tuple[str, ...]]:
    """The plan summary and Mermaid picture; a note instead when there is nothing to plan or
    the planner refuses (the refusal is a finding of the report, not an error of the diff)."""
    if not any(change.changed for change in scenario.changes):
        return {}, ()
    try:
        plan = build_plan(scenario, conflicts=conflicts, target=options.target)
    except PlannerError as refusal:
        return {}, (f"no plan: {refusal}",)
    return {"plan": plan_table(plan), "mermaid": mermaid_plan(plan)}, ()


def _status_notes(scenario: Scenario) -> tuple[str, ...]:
    if scenario.statuses_known:
        return ()
    return (GIT_STATUS_NOTE,)


def exit_code(report: DiffReport, fail_on: str = DEFAULT_FAIL_ON) -> int:
    """0 no change; 1 changes within policy; 3 a static conflict, or changes whose prediction
    for the report's target violates `fail_on` ("never" | "stuck" | "pending")."""
    if fail_on not in FAIL_ON_POLICIES:
        raise ValueError(f"unknown --fail-on policy {fail_on!r}")
    if report.errors:
        return EXIT_POLICY
    if not any(change.changed for change in report.changes):
        return EXIT_NO_CHANGES
    if violates(report.predictions.get(report.target), fail_on):
        return EXIT_POLICY
    return EXIT_CHANGES


def violates(prediction: Prediction | None, fail_on: str) -> bool:
    """Whether a behaviour's prediction breaks the policy: any stuck, or any pending at all."""
    if prediction is None or fail_on == "never":
        return False
    if fail_on == "stuck":
        return bool(prediction.stuck)
    return bool(prediction.pending or prediction.stuck)
