"""The report builder behind `planner diff`: exit-code policy, live sources, plan extras."""

from __future__ import annotations

import pytest

from planner.analysis.build import (
    exit_code,
    report_of_scenario,
    scenario_conflicts,
    scenario_groups,
    scenario_inputs,
    verdict,
    violates,
)
from planner.analysis.groups import load_balancer_inputs
from planner.analysis.records import Conflict, DiffReport, Prediction, ServiceFate
from planner.diff import Change
from planner.errors import Origin
from planner.model import service
from planner.model.controller import BEHAVIORS
from planner.model.service import AllocationInputs
from planner.objects import Manifest, ObjectKey, svc_key_of
from planner.pipeline import DiffOptions, build_report, load_scenario
from planner.sources.live import LiveSource
from planner.sources.states import Unrendered
from tests.conftest import SAMPLES

UPDATE = Change(ObjectKey("Service", "dns", "dns-tcp"), "update")
UNCHANGED = Change(ObjectKey("Service", "dns", "dns-udp"), "unchanged")


def _prediction(behavior: str, pending: bool = False, stuck: bool = False) -> Prediction:
    fates = (ServiceFate("dns/dns-tcp", pending=pending, stuck=stuck, ip_changed=False),)
    return Prediction(behavior, fates if pending or stuck else (), 1, True)


def _report(
    changes: tuple[Change, ...],
    target: str = "metallb-0.15",
    pending: bool = False,
    stuck: bool = False,
    conflicts: tuple[Conflict, ...] = (),
) -> DiffReport:
    predictions = {b: _prediction(b) for b in BEHAVIORS}
    predictions[target] = _prediction(target, pending, stuck)
    return DiffReport(changes, (), conflicts, predictions, target)


@pytest.mark.parametrize(
    ("pending", "stuck", "fail_on", "code"),
    [
        (False, False, "stuck", 1),
        (True, False, "stuck", 1),
        (True, True, "stuck", 3),
        (True, False, "pending", 3),
        (False, True, "pending", 3),  # stuck without a recorded pending still fails "pending"
        (True, True, "never", 1),
    ],
)
def test_exit_code_judges_the_target(pending: bool, stuck: bool, fail_on: str, code: int) -> None:
    assert exit_code(_report((UPDATE,), pending=pending, stuck=stuck), fail_on) == code


def test_only_the_target_behaviour_counts() -> None:
    report = _report((UPDATE,), target="fixed")
    worse = {**report.predictions, "metallb-0.14": _prediction("metallb-0.14", True, True)}
    judged = DiffReport(report.changes, (), (), worse, "fixed")
    assert exit_code(judged, "pending") == 1


def test_the_verdict_counts_what_was_unchecked_per_kind() -> None:
    origin = Origin("apps.yaml")
    unchecked = (
        Unrendered("HelmRelease dns/dns", origin, "helm is not on PATH"),
        Unrendered("Application argocd/a", origin, "a chart", "Application", "not followed"),
        Unrendered("HelmRelease web/web", origin, "helm is not on PATH"),
        Unrendered("Application argocd/b", origin, "a chart", "Application", "not followed"),
        Unrendered(
            "ApplicationSet argocd/all", origin, "generated", "ApplicationSet", "not followed"
        ),
    )
    report = DiffReport((UNCHANGED,), (), (), {}, "metallb-0.15", unrendered=unchecked[:1])
    assert verdict(report).sentence == (
        "passes: no changes; 1 HelmRelease not rendered (Services unchecked)"
    )
    report = DiffReport((UNCHANGED,), (), (), {}, "metallb-0.15", unrendered=unchecked)
    assert verdict(report, "unrendered").sentence == (
        "blocks: 2 HelmReleases not rendered, 2 Applications not followed, "
        "1 ApplicationSet not followed (Services unchecked) (--fail-on unrendered)"
    )


def test_no_changes_exit_0_even_with_a_bad_prediction() -> None:
    assert exit_code(_report((UNCHANGED,), pending=True, stuck=True), "pending") == 0


def test_a_static_conflict_exits_3_even_without_changes() -> None:
    error = Conflict("port TCP/53 is already in use", ("a/x", "a/y"))
    assert exit_code(_report((UNCHANGED,), conflicts=(error,)), "never") == 3


def test_a_warning_does_not_fail() -> None:
    warning = Conflict("shared across namespaces", ("a/x", "b/y"), severity="warning")
    assert exit_code(_report((UPDATE,), conflicts=(warning,)), "stuck") == 1


def test_unknown_policy_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="sometimes"):
        exit_code(_report((UPDATE,)), "sometimes")


def test_no_prediction_for_the_target_violates_nothing() -> None:
    assert violates(None, "pending") is False


@pytest.mark.parametrize(
    ("source", "described"),
    [
        (LiveSource.file("live.yaml"), "file live.yaml"),
        (LiveSource.kubectl(), "kubectl"),
        (LiveSource.kubectl("prod"), "kubectl (context prod)"),
        (LiveSource.git("origin/main"), "git origin/main"),
    ],
)
def test_live_source_names_itself(source: LiveSource, described: str) -> None:
    assert source.describe() == described


def test_the_plan_is_added_only_when_asked() -> None:
    seed = SAMPLES / "seed-dns-local"
    live = LiveSource.file(str(seed / "live.yaml"))
    plain = build_report([str(seed / "desired")], live)
    planned = build_report([str(seed / "desired")], live, DiffOptions(with_plan=True))
    assert plain.extras == {}
    assert set(planned.extras) == {"plan", "mermaid"}
    assert str(planned.extras["mermaid"]).startswith("flowchart TB")
    assert "dns/dns-tcp" in str(planned.extras["plan"])
    assert planned.predictions == plain.predictions


def test_nothing_to_plan_adds_no_plan() -> None:
    seed = SAMPLES / "seed-dns-local"
    live = str(seed / "live.yaml")
    report = build_report([live], LiveSource.file(live), DiffOptions(with_plan=True))
    assert report.extras == {} and report.notes == ()


@pytest.mark.parametrize(
    "sample", ["seed-dns-local", "join-group", "group-dissolve", "port-clash", "dual-stack-group"]
)
def test_inputs_read_once_give_the_groups_and_conflicts_each_reads_alone(sample: str) -> None:
    scenario = load_scenario(
        [str(SAMPLES / sample / "desired")], LiveSource.file(str(SAMPLES / sample / "live.yaml"))
    )
    inputs = scenario_inputs(scenario)
    assert inputs  # every sample has LoadBalancers
    assert scenario_groups(scenario, inputs) == scenario_groups(scenario)
    assert scenario_conflicts(scenario, inputs) == scenario_conflicts(scenario)
    assert set(inputs) <= set(scenario.services_after)


@pytest.mark.parametrize("sample", ["seed-dns-local", "dual-stack-group", "group-split"])
def test_scenario_inputs_read_again_from_the_stamp_equal_those_derived_whole(
    sample: str,
) -> None:
    """The desired Services' inputs are read again from what the stamp read of them alone
    (only their live objects' family is new): the same as a whole derivation of each."""
    scenario = load_scenario(
        [str(SAMPLES / sample / "desired")], LiveSource.file(str(SAMPLES / sample / "live.yaml"))
    )
    assert set(scenario.inputs_read_alone) == set(scenario.desired_services)
    whole = load_balancer_inputs(scenario.stamped_after, scenario.live_services, scenario.pools)
    inputs = scenario_inputs(scenario)
    assert inputs == whole
    shared = [svc for svc in inputs if inputs[svc] is scenario.inputs_read_alone.get(svc)]
    assert shared, "no record read alone is used again: the test no longer tells anything"


@pytest.mark.parametrize("sample", ["seed-dns-local", "join-group", "group-split", "swap-ips"])
def test_the_report_derives_a_services_inputs_with_its_live_object_once(
    sample: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The groups, the conflicts and the simulation's writes read the same stamped Services:
    each one's inputs, with its live object as context, are derived once for all of them."""
    scenario = load_scenario(
        [str(SAMPLES / sample / "desired")], LiveSource.file(str(SAMPLES / sample / "live.yaml"))
    )
    derived: list[str] = []
    derive = service._derived_inputs

    def counted(
        svc: Manifest,
        live: Manifest | None,
        default_family: str,
        read_alone: AllocationInputs | None = None,
    ) -> AllocationInputs:
        if live is not None and live is not svc:
            derived.append(svc_key_of(svc))
        return derive(svc, live, default_family, read_alone)

    monkeypatch.setattr(service, "_derived_inputs", counted)
    report = report_of_scenario(scenario)
    assert report.changes and derived
    assert len(derived) == len(set(derived))
