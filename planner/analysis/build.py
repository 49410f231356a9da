"""The `planner diff` report of one scenario, and the exit code it gives.

    report = report_of_scenario(scenario, target="metallb-0.14")
    code = exit_code(report, fail_on="stuck")   # 0 no change, 1 changes within policy, 3 not

Reading the sources and adding the plan is the pipeline's (`planner.pipeline.build_report`).
"""

from __future__ import annotations

from collections.abc import Sequence

from planner.analysis.conflicts import static_conflicts
from planner.analysis.groups import sharing_groups
from planner.analysis.predict import predict
from planner.analysis.records import BEHAVIORS, Conflict, DiffReport, Prediction, SharingGroupReport
from planner.diff.scenario import Scenario
from planner.progress import Progress, no_progress

DEFAULT_TARGET = "metallb-0.15"
FAIL_ON_POLICIES: tuple[str, ...] = ("never", "stuck", "pending")
DEFAULT_FAIL_ON = "stuck"

EXIT_NO_CHANGES = 0
EXIT_CHANGES = 1
EXIT_POLICY = 3

GIT_STATUS_NOTE = (
    "live state was read from a git ref, so statuses are unknown: "
    "live IPs are the requested ones or the model's prediction"
)


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
    *,
    target: str = DEFAULT_TARGET,
    seed: int = 0,
    notes: Sequence[str] = (),
    live_source: str = "",
    progress: Progress = no_progress,
) -> DiffReport:
    """The report of one scenario: its changes, sharing groups, static conflicts, predictions
    (every behaviour, judged for `target`)."""
    return DiffReport(
        changes=scenario.changes,
        groups=scenario_groups(scenario),
        conflicts=scenario_conflicts(scenario),
        predictions=predict(scenario, BEHAVIORS, seed, progress=progress),
        target=target,
        notes=tuple(notes) + _status_notes(scenario),
        live_source=live_source,
        statuses_known=scenario.statuses_known,
    )


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
