"""planner.pipeline: the plan and its proof in one run (`plan_and_proof`)."""

from __future__ import annotations

from typing import Any
from unittest import mock

from planner.model import service as service_module
from planner.objects import Manifest
from planner.pipeline import plan_and_proof, plan_scenario
from planner.plan.verify import verify_plan
from tests.plan.test_build import LAN, scenario_of, seed_case


def test_the_plan_and_its_proof_are_those_made_apart() -> None:
    scenario = scenario_of(*seed_case(), [LAN])
    plan, report = plan_and_proof(scenario, prove=True)
    assert plan == plan_scenario(scenario)
    assert report == verify_plan(plan)
    assert report.ok and report.claims
    assert plan_and_proof(scenario, prove=False) == (plan, None)


def test_the_proof_derives_no_allocation_input_planning_derived() -> None:
    """The proof reads the plan's manifests, the very objects planning read: in one run their
    inputs are derived once (each derivation was most of the proof at 10,000 Services)."""
    scenario = scenario_of(*seed_case(), [LAN])
    derived: dict[bool, list[tuple[int, int | None, str]]] = {True: [], False: []}
    real = service_module._derived_inputs

    for prove in (False, True):

        def counted(
            svc: Manifest,
            live: Manifest | None,
            family: str,
            alone: Any = None,
            prove: bool = prove,
        ) -> Any:
            derived[prove].append((id(svc), None if live is None else id(live), family))
            return real(svc, live, family, alone)

        with mock.patch.object(service_module, "_derived_inputs", counted):
            plan_and_proof(scenario, prove=prove)
    assert derived[False], "planning reads no inputs: the test no longer tells anything"
    assert len(derived[True]) == len(derived[False])
    assert len(derived[True]) == len(set(derived[True]))


def test_planning_reads_the_stamped_copies_inputs_only() -> None:
    """The static conflicts read the stamped copies' inputs, as the diff does: the units read
    the same ones, so no repo body (unstamped) is derived besides them."""
    scenario = scenario_of(*seed_case(), [LAN])
    bodies = {id(obj.body) for obj in scenario.desired_objects.values()}
    stamped = {id(manifest) for manifest in scenario.stamped_services.values()}
    derived: list[int] = []
    real = service_module._derived_inputs

    def counted(svc: Manifest, *context: Any) -> Any:  # (live object, family, ...)
        derived.append(id(svc))
        return real(svc, *context)

    with mock.patch.object(service_module, "_derived_inputs", counted):
        plan_and_proof(scenario, prove=False)
    assert stamped <= set(derived), "the stamped copies are no longer read: the test tells nothing"
    assert not bodies & set(derived)
