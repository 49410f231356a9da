"""The `planner diff` report of one scenario, and the exit code it gives.

    report = report_of_scenario(scenario, target="metallb-0.14")
    code = exit_code(report, fail_on="stuck")   # 0 no change, 1 changes within policy, 3 not

Reading the sources and adding the plan is the pipeline's (`planner.pipeline.build_report`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from planner.analysis.conflicts import static_conflicts
from planner.analysis.groups import load_balancer_inputs, sharing_groups
from planner.analysis.predict import predict
from planner.analysis.records import Conflict, DiffReport, Prediction, SharingGroupReport
from planner.collector import built_data_frozen, collector_paused
from planner.diff.scenario import NO_POOLS_NOTE, Scenario
from planner.model.controller import BEHAVIORS, DEFAULT_TARGET
from planner.model.service import AllocationInputs, inputs_remembered
from planner.progress import Progress, no_progress
from planner.simulate.world import DEFAULT_MAX_STATES

# "unrendered": as "stuck", and a desired HelmRelease left unrendered (Services unchecked) blocks.
FAIL_ON_POLICIES: tuple[str, ...] = ("never", "stuck", "pending", "unrendered")
DEFAULT_FAIL_ON = "stuck"

EXIT_NO_CHANGES = 0
EXIT_CHANGES = 1
EXIT_POLICY = 3

GIT_STATUS_NOTE = (
    "live state was read from a git ref, so statuses are unknown: "
    "live IPs are the requested ones or the model's prediction"
)


@collector_paused
def scenario_groups(
    scenario: Scenario, inputs: Mapping[str, AllocationInputs] | None = None
) -> tuple[SharingGroupReport, ...]:
    """The sharing groups of the scenario's live and desired state (`inputs`: those of
    `scenario_inputs`, when the caller has them)."""
    return sharing_groups(
        scenario.live_services,
        scenario.services_after,  # unmanaged live Services are context, never "leaving"
        scenario.pools,
        scenario.namespaces,
        scenario.key_changes,
        scenario.statuses_known,
        desired_inputs=inputs,
    )


@collector_paused
def scenario_conflicts(
    scenario: Scenario, inputs: Mapping[str, AllocationInputs] | None = None
) -> tuple[Conflict, ...]:
    """The scenario's static conflicts (things that can never converge) and warnings
    (`inputs`: those of `scenario_inputs`, when the caller has them)."""
    return static_conflicts(
        scenario.desired_objects,
        scenario.pools,
        scenario.namespaces,
        scenario.live_services,
        known_inputs=inputs,
    )


@collector_paused
def scenario_inputs(scenario: Scenario) -> dict[str, AllocationInputs]:
    """The allocation inputs of the Services after the commit, read once for both the groups
    and the static conflicts (each read all of them on its own before). Read from the stamped
    copies: the group-wide annotations are no allocation input, and the simulation reads the
    inputs of these very objects (in `report_of_scenario`, derived once for both). The
    desired Services' are read again from what the stamp read of them alone."""
    return load_balancer_inputs(
        scenario.stamped_after,
        scenario.live_services,
        scenario.pools,
        read_alone=scenario.inputs_read_alone,
    )


@built_data_frozen
@inputs_remembered
def report_of_scenario(
    scenario: Scenario,
    *,
    target: str = DEFAULT_TARGET,
    seed: int = 0,
    max_states: int = DEFAULT_MAX_STATES,
    notes: Sequence[str] = (),
    live_source: str = "",
    progress: Progress = no_progress,
) -> DiffReport:
    """The report of one scenario: its changes, sharing groups, static conflicts, predictions
    (every behaviour, judged for `target`)."""
    inputs = scenario_inputs(scenario)
    return DiffReport(
        changes=scenario.changes,
        groups=scenario_groups(scenario, inputs),
        conflicts=scenario_conflicts(scenario, inputs),
        predictions=predict(scenario, BEHAVIORS, seed, progress=progress, max_states=max_states),
        target=target,
        notes=pool_notes(scenario) + tuple(notes) + status_notes(scenario),
        live_source=live_source,
        statuses_known=scenario.statuses_known,
        unrendered=scenario.unrendered,
    )


def pool_notes(scenario: Scenario) -> tuple[str, ...]:
    """The one note, first of all, when no pool is known (a stand-in pool owns every address)."""
    return () if scenario.pools_known else (NO_POOLS_NOTE,)


def status_notes(scenario: Scenario) -> tuple[str, ...]:
    """The one note, last, when live state came from a git ref: statuses are unknown."""
    if scenario.statuses_known:
        return ()
    return (GIT_STATUS_NOTE,)


def exit_code(report: DiffReport, fail_on: str = DEFAULT_FAIL_ON) -> int:
    """0 no change; 1 changes within policy; 3 a static conflict, or changes whose prediction
    for the report's target violates `fail_on` ("never" | "stuck" | "pending" | "unrendered")."""
    return verdict(report, fail_on).code


@dataclass(frozen=True)
class Verdict:
    """The exit code of `planner diff` and the one line that explains it (reports begin with it)."""

    code: int  # EXIT_NO_CHANGES | EXIT_CHANGES | EXIT_POLICY
    sentence: str  # "blocks: 1 static conflict", "passes: no changes", ...
    fail_on: str
    services: tuple[str, ...] = ()  # the target's Services that break the policy, when they block

    @property
    def blocks(self) -> bool:
        return self.code == EXIT_POLICY


def verdict(report: DiffReport, fail_on: str = DEFAULT_FAIL_ON) -> Verdict:
    """Judge the report under `fail_on`: static conflicts block whatever the policy, as do
    unrendered HelmReleases under "unrendered"; no change passes; otherwise the target's
    prediction decides. The one source of the exit code."""
    if fail_on not in FAIL_ON_POLICIES:
        raise ValueError(f"unknown --fail-on policy {fail_on!r}")
    if report.errors:
        conflicts = _counted(len(report.errors), "static conflict")
        return Verdict(EXIT_POLICY, f"blocks: {conflicts}", fail_on)
    unchecked = _unchecked(report)
    if fail_on == "unrendered" and report.unrendered:
        return Verdict(EXIT_POLICY, f"blocks: {unchecked} (--fail-on unrendered)", fail_on)
    also = f"; {unchecked}" if report.unrendered else ""
    if not any(change.changed for change in report.changes):
        return Verdict(EXIT_NO_CHANGES, f"passes: no changes{also}", fail_on)
    prediction = report.predictions.get(report.target)
    if prediction is None:
        sentence = f"passes: changes, no prediction for {report.target}{also}"
        return Verdict(EXIT_CHANGES, sentence, fail_on)
    if violates(prediction, fail_on):
        word = "pending" if fail_on == "pending" else "stuck"
        services = _pending_or_stuck(prediction) if fail_on == "pending" else prediction.stuck
        sentence = (
            f"blocks: {_counted(len(services), 'Service')} {word} under {report.target} "
            f"(--fail-on {fail_on})"
        )
        return Verdict(EXIT_POLICY, sentence, fail_on, services)
    sentence = _passing(prediction, report.target, fail_on) + _sampled(prediction) + also
    return Verdict(EXIT_CHANGES, sentence, fail_on)


def _unchecked(report: DiffReport) -> str:
    """What was not rendered or followed, per kind in order of appearance: "1 HelmRelease not
    rendered, 2 Applications not followed (Services unchecked)"."""
    counts = Counter((entry.kind, entry.missed) for entry in report.unrendered)
    counted = [f"{_counted(count, kind)} {missed}" for (kind, missed), count in counts.items()]
    return f"{', '.join(counted)} (Services unchecked)"


def _passing(prediction: Prediction, target: str, fail_on: str) -> str:
    """Why changes pass: what the policy checked, and what it let through (briefly pending
    Services under --fail-on stuck, anything under --fail-on never)."""
    pending = _pending_or_stuck(prediction)
    if fail_on == "pending":
        return f"passes: changes, none makes a Service go pending under {target}"
    if fail_on in ("stuck", "unrendered"):
        sentence = f"passes: changes, none leaves a Service stuck under {target}"
        if pending:
            sentence += f" ({_counted(len(pending), 'Service')} pending for a while)"
        return sentence
    if prediction.stuck:
        stuck = _counted(len(prediction.stuck), "Service")
        return f"passes: changes; {stuck} stuck under {target}, allowed by --fail-on never"
    if pending:
        return (
            f"passes: changes; {_counted(len(pending), 'Service')} pending under {target}, "
            "allowed by --fail-on never"
        )
    return f"passes: changes, none makes a Service go pending under {target}"


def _sampled(prediction: Prediction) -> str:
    """A pass that rests partly on sampled orders says so: what a sample did not show may
    still happen there (blocking needs no such words: a sampled order that shows it is real)."""
    if not prediction.sampled_components:
        return ""
    return f"; {_counted(prediction.sampled_components, 'component')} only sampled, not every order"


def _pending_or_stuck(prediction: Prediction) -> tuple[str, ...]:
    return tuple(f.service for f in prediction.fates if f.pending or f.stuck)


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def violates(prediction: Prediction | None, fail_on: str) -> bool:
    """Whether a behaviour's prediction breaks the policy: any stuck, or any pending at all."""
    if prediction is None or fail_on == "never":
        return False
    if fail_on in ("stuck", "unrendered"):
        return bool(prediction.stuck)
    return bool(prediction.pending or prediction.stuck)
