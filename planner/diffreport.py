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

from planner.conflicts import static_conflicts
from planner.diff import PruneMode
from planner.errors import PlannerError
from planner.graph import Edge, OrderedUnits, Unit
from planner.groups import sharing_groups
from planner.plan import Plan, PlannedUnit, PlannedWave
from planner.planning import build_plan
from planner.predict import predict
from planner.render import mermaid_waves
from planner.report import BEHAVIORS, Conflict, DiffReport, Prediction
from planner.scenario import Scenario, build_scenario
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


def report_of_scenario(
    scenario: Scenario,
    options: DiffOptions | None = None,
    notes: Sequence[str] = (),
    live_source: str = "",
) -> DiffReport:
    """The report of one scenario: its changes, sharing groups, static conflicts, predictions."""
    options = options or DiffOptions()
    groups = sharing_groups(
        scenario.live_services,
        scenario.desired_services,
        scenario.pools,
        scenario.namespaces,
        scenario.key_changes,
        scenario.statuses_known,
    )
    conflicts = static_conflicts(
        scenario.desired_objects, scenario.pools, scenario.namespaces, scenario.live_services
    )
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
    return {"plan": plan_summary(plan), "mermaid": mermaid_waves(plan_graph(plan))}, ()


# Beyond this many units in one wave, the summary counts the rest.
SUMMARY_UNITS_PER_WAVE = 20


def plan_summary(plan: Plan, units_per_wave: int = SUMMARY_UNITS_PER_WAVE) -> str:
    """The plan in a few lines: its waves (units, expected IPs, nudges), then the pending
    windows each behaviour still has while it is applied."""
    lines = [f"{len(plan.waves)} wave(s), strategy {plan.strategy}, target {plan.target}"]
    for wave in plan.waves:
        lines += _wave_lines(wave, units_per_wave)
    lines.append("pending while the plan is applied:")
    for behavior in sorted(plan.predictions, key=_behavior_order):
        windows = plan.predictions[behavior].windows
        said = [f"{w.service} (wave {w.wave}, until {w.until})" for w in windows]
        lines.append(f"  {behavior}: {', '.join(said) or 'nobody'}")
    return "\n".join(lines + list(plan.notes))


def _wave_lines(wave: PlannedWave, units_per_wave: int) -> list[str]:
    lines = [f"wave {wave.index}"]
    for unit in wave.units[:units_per_wave]:
        lines.append(f"  {unit.kind}: {', '.join(unit.services)}")
        for svc in unit.services:
            if svc in wave.expected_ips:
                options = " or ".join(", ".join(ips) or "none" for ips in wave.expected_ips[svc])
                lines.append(f"    {svc} -> {options}")
    hidden = len(wave.units) - units_per_wave
    if hidden > 0:
        lines.append(f"  ... and {hidden} more unit(s)")
    for behavior, services in sorted(wave.nudges.items()):
        if services:
            lines.append(f"  nudge under {behavior}: {', '.join(services)}")
    return lines


def _behavior_order(behavior: str) -> tuple[int, str]:
    return (BEHAVIORS.index(behavior) if behavior in BEHAVIORS else len(BEHAVIORS), behavior)


def plan_graph(plan: Plan) -> OrderedUnits:
    """The plan's waves and "waits for" edges in the shape `mermaid_waves` draws.

    A plan unit keeps its reasons for the whole unit, so each of its edges carries all of them.
    """
    drawn = {unit.id: _drawn_unit(unit) for unit in plan.units}
    waves = tuple(tuple(drawn[unit.id] for unit in wave.units) for wave in plan.waves)
    edges = tuple(
        Edge(drawn[before].id, drawn[unit.id].id, unit.reasons)
        for unit in plan.units
        for before in unit.waits_for
        if before in drawn
    )
    return OrderedUnits(waves=waves, edges=edges)


def _drawn_unit(unit: PlannedUnit) -> Unit:
    # The plan unit's id is the content: the drawn node then has a stable id of its own.
    return Unit(kind=unit.kind, services=unit.services, content=unit.id)


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
