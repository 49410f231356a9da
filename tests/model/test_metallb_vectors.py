"""MetalLB's own allocator and controller tests, replayed against the model of their release.

tests/model/metallb_vectors/<tag>/<file>.json are MetalLB's test tables at the tag (inputs and
expected outputs only), one JSON table per Go test file: `allocator_test.json` from
`internal/allocator/allocator_test.go`, `controller_test.json` from
`controller/controller_test.go`, `service_controller_test.json` (TestLBClass) from
`internal/k8s/controllers/service_controller_test.go`; transcribe.py there wrote them. Each
table runs under the behaviour that reproduces its release (v0.14.9: metallb-0.14, v0.15.3:
metallb-0.15), so a case added after v0.14.9 runs only for 0.15.
docs/model.md ("Conformance") lists the Go tests left out and why.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from planner.model.allocator import (
    AllocationError,
    Allocator,
    PoolOrder,
    shuffled_pool_order,
)
from planner.model.controller import Behavior, Controller, Result
from planner.model.pools import Pool
from planner.model.service import handled_by_metallb, ingress_ips
from planner.model.vectors import GO_STATES
from tests.model.metallb_vectors import transcribe

VECTORS = Path(__file__).resolve().parent / "metallb_vectors"
RELEASES = {"v0.14.9": Behavior.METALLB_0_14, "v0.15.3": Behavior.METALLB_0_15}
ALLOCATOR_VERSION = {"v0.14.9": "0.14", "v0.15.3": "0.15"}
# Go iterates the pools map in a random order: every table must pass in any order, so each
# runs in configuration order and in a few seeded shuffles.
POOL_ORDERS: tuple[int | None, ...] = (None, 1, 2, 3)
# TestControllerMutation says every case is a pure function of its input whatever ran before,
# and checks it by running the table 100 times shuffled; we run it in order, then shuffled.
SHUFFLED_ROUNDS = 5
# Every transcribed case passes: the model has no known difference from these tests.


def table(tag: str, name: str) -> dict[str, Any]:
    """One release's transcribed table (`name`: allocator_test or controller_test)."""
    loaded: dict[str, Any] = json.loads((VECTORS / tag / f"{name}.json").read_text())
    return loaded


def pools_of(entries: Sequence[Mapping[str, Any]]) -> list[Pool]:
    """The model's pools for the table's config.Pool entries (in the table's order)."""
    pools = []
    for entry in entries:
        allocation = entry.get("serviceAllocation")
        pools.append(
            Pool(
                entry["name"],
                tuple(entry["cidr"]),
                auto_assign=entry["autoAssign"],
                avoid_buggy_ips=entry["avoidBuggyIPs"],
                namespaces=tuple(allocation["namespaces"]) if allocation else (),
                service_selectors=tuple(allocation["serviceSelectors"]) if allocation else (),
                priority=allocation["priority"] if allocation else 0,
                has_service_allocation=allocation is not None,
            )
        )
    return pools


def _ports(step: Mapping[str, Any]) -> list[tuple[str, int]]:
    return [(proto, number) for proto, number in step.get("ports") or []]


def allocator_step(alloc: Allocator, step: Mapping[str, Any]) -> str | None:
    """Run one allocator step as the Go test's loop does; a line saying what failed, or None."""
    op, key = step["op"], step.get("svcKey", "")
    if op == "unassign":
        alloc.unassign(key)
        return None
    if op == "set_pools":
        alloc.set_pools(pools_of(step["pools"]))
        return None
    if op == "pool":
        got = alloc.pool(key) or ""
        return None if got == step["want"] else f"pool of {key} is {got!r}, want {step['want']!r}"
    had = alloc.ips(key)
    try:
        ips = _allocator_call(alloc, step)
    except AllocationError as err:
        if step["wantErr"]:
            # A refused Assign must not have recorded the IPs it was asked for.
            if op == "assign" and had != step["ips"] and alloc.ips(key) == step["ips"]:
                return "refused, but recorded the allocation"
            return None
        return f"error {err.message!r}"
    if step["wantErr"]:
        return f"no error (got {ips})"
    if op == "assign":
        return None if alloc.ips(key) == step["ips"] else f"recorded {alloc.ips(key)}"
    unexpected = [ip for ip in ips if ip not in step["validIPs"]]
    return f"unexpected IPs {unexpected}" if unexpected else None


def _allocator_call(alloc: Allocator, step: Mapping[str, Any]) -> list[str]:
    key, svc, ports = step["svcKey"], step["svc"], _ports(step)
    keys = (step.get("sharingKey", ""), step.get("backendKey", ""))
    if step["op"] == "assign":
        alloc.assign(key, svc, step["ips"], ports, *keys)
        return list(step["ips"])
    if step["op"] == "allocate":
        return alloc.allocate(key, svc, step["ipFamily"], ports, *keys)
    assert step["op"] == "allocate_from_pool", step["op"]
    return alloc.allocate_from_pool(key, svc, step["ipFamily"], step["poolName"], ports, *keys)


def controller_step(controller: Controller, step: Mapping[str, Any]) -> str | None:
    """Run one controller step as the Go test does; a line saying what failed, or None."""
    if step["op"] == "set_pools":
        pools = None if step["pools"] is None else pools_of(step["pools"])
        return _state_problem(GO_STATES[controller.set_pools(pools)], step)
    result = controller.set_balancer(step["svcKey"], step["in"])
    problem = _state_problem(GO_STATES[result.state], step)
    if problem is None and "wantErr" in step and _warned(result) != step["wantErr"]:
        problem = f"warning event {_warned(result)}, want {step['wantErr']}"
    if problem is None and "want" in step:
        problem = _write_problem(result, step["want"])
    return problem


def _state_problem(state: str, step: Mapping[str, Any]) -> str | None:
    if "state" in step and state != step["state"]:
        return f"state {state}, want {step['state']}"
    if "stateNot" in step and state == step["stateNot"]:
        return f"state {state}"
    return None


def _warned(result: Result) -> bool:
    """Whether the run raised a Warning event (the Go test's loggedWarning: Errorf was called)."""
    return any(event.type == "Warning" for event in result.events)


def _write_problem(result: Result, want: Mapping[str, Any] | None) -> str | None:
    """The Go test records only the status written (UpdateStatus); nil: nothing written."""
    if want is None:
        return None if result.service is None else f"wrote {ingress_ips(result.service)}"
    if result.service is None:
        return "wrote nothing"
    got, wanted = ingress_ips(result.service), ingress_ips(dict(want))
    return None if got == wanted else f"wrote status {list(got)}, want {list(wanted)}"


def run_allocator_test(
    test: Mapping[str, Any], version: str, order: PoolOrder | None = None
) -> list[str]:
    """Every step of one allocator test on a fresh allocator: "case: problem" per failing step."""
    alloc = Allocator(pools_of(test["pools"]), pool_order=order, version=version)
    failures = []
    for step in test["steps"]:
        problem = allocator_step(alloc, step)
        if problem:
            failures.append(f"{step['desc']}: {problem}")
    return failures


def run_controller_test(test: Mapping[str, Any], behavior: str) -> list[str]:
    """Every step of one controller test on a fresh controller (a shuffled table: in order,
    then in SHUFFLED_ROUNDS seeded shuffles on the same controller)."""
    pools = None if test["pools"] is None else pools_of(test["pools"])
    controller = Controller(pools, behavior=behavior)
    steps = list(test["steps"])
    rounds = [steps]
    if test.get("shuffle"):
        rng = random.Random(0)
        rounds += [rng.sample(steps, len(steps)) for _ in range(SHUFFLED_ROUNDS)]
    failures = []
    for steps_in_round in rounds:
        for step in steps_in_round:
            problem = controller_step(controller, step)
            if problem:
                failures.append(f"{step['desc']}: {problem}")
    return failures


def _cases(name: str) -> Iterator[Any]:
    for tag in RELEASES:
        for index, test in enumerate(table(tag, name)["tests"]):
            case = test.get("case", "")
            label = f"{tag}-{test['goTest']}{'-' + case if case else ''}-{index}"
            yield pytest.param(tag, test, id=label.replace(" ", "_"))


@pytest.mark.parametrize(("tag", "test"), list(_cases("allocator_test")))
@pytest.mark.parametrize("seed", POOL_ORDERS)
def test_metallb_allocator_tests(tag: str, test: Mapping[str, Any], seed: int | None) -> None:
    order: PoolOrder | None = None if seed is None else shuffled_pool_order(seed)
    assert run_allocator_test(test, ALLOCATOR_VERSION[tag], order) == []


@pytest.mark.parametrize(("tag", "test"), list(_cases("controller_test")))
def test_metallb_controller_tests(tag: str, test: Mapping[str, Any]) -> None:
    assert run_controller_test(test, RELEASES[tag]) == []


@pytest.mark.parametrize("tag", list(RELEASES))
def test_metallb_lb_class_filter(tag: str) -> None:
    # internal/k8s/controllers TestLBClass: filterByLoadBalancerClass, and through the model's
    # controller: a filtered Service gets nothing, one that is not filtered gets an IP.
    (test,) = table(tag, "service_controller_test")["tests"]
    assert len(test["steps"]) == 5
    for step in test["steps"]:
        spec: dict[str, Any] = {"type": "LoadBalancer", "clusterIPs": ["10.96.0.1"]}
        if step["serviceLBClass"] is not None:
            spec["loadBalancerClass"] = step["serviceLBClass"]
        svc = {"metadata": {"name": "s", "namespace": "ns"}, "spec": spec}
        assert handled_by_metallb(svc, step["lbClass"]) is not step["shouldFilter"], step["desc"]
        controller = Controller(
            [Pool("p", ("10.0.0.0/31",))], behavior=RELEASES[tag], lb_class=step["lbClass"]
        )
        written = controller.set_balancer("ns/s", svc).service
        assert (written is None) is step["shouldFilter"], step["desc"]


# --- what separates the releases -------------------------------------------------------------

# The controller cases v0.15.3 added to TestControllerMutation (v0.15.0's single-stack alignment,
# PR #2726, and its RequireDualStack check): the v0.14.9 model must fail both, as v0.14.9 does.
ADDED_IN_V015 = {
    "request IPs from dualstack pool with PreferDualStack policy but single stack clusterip",
    "request IPs from dualstack pool with RequireDualStack policy but single stack clusterip",
}


def _descs(tag: str, name: str) -> set[str]:
    return {s["desc"] for t in table(tag, name)["tests"] for s in t["steps"]}


def test_v0153_adds_exactly_two_controller_cases_to_v0149() -> None:
    assert _descs("v0.15.3", "controller_test") - _descs("v0.14.9", "controller_test") == (
        ADDED_IN_V015
    )
    assert _descs("v0.14.9", "controller_test") <= _descs("v0.15.3", "controller_test")
    # The allocator's tables are the same at both tags (only metrics lines changed there).
    assert (
        table("v0.14.9", "allocator_test")["tests"] == table("v0.15.3", "allocator_test")["tests"]
    )


def test_the_cases_added_after_v0149_fail_under_the_v0149_model() -> None:
    failing = {
        failure.split(": ")[0]
        for test in table("v0.15.3", "controller_test")["tests"]
        for failure in run_controller_test(test, Behavior.METALLB_0_14)
    }
    assert failing == ADDED_IN_V015


def test_the_v0149_controller_tests_pass_under_the_v0153_model_too() -> None:
    for test in table("v0.14.9", "controller_test")["tests"]:
        assert run_controller_test(test, Behavior.METALLB_0_15) == []


def test_fixed_passes_v0153s_controller_tests() -> None:
    # `fixed` is v0.15.3 plus the group rule, which no Service without the group annotations
    # reaches: MetalLB's own controller tests must pass under it unchanged.
    for test in table("v0.15.3", "controller_test")["tests"]:
        assert run_controller_test(test, Behavior.FIXED) == []


def test_v0148s_allocator_fails_the_prefer_dual_stack_case_v0149_added_to_the_allocator() -> None:
    # v0.14.9's TestPoolAllocation already holds the PreferDualStack cases (commit 5f648117d):
    # the v0.14.8 mode refuses to widen a held IPv6 to dual stack, as v0.14.8 does.
    failures = [
        failure
        for test in table("v0.14.9", "allocator_test")["tests"]
        for failure in run_allocator_test(test, "0.14.8")
    ]
    assert [f.split(": ")[0] for f in failures] == ["s3 gets dualstack"]


# --- the tables and the runner ----------------------------------------------------------------


def test_the_tables_hold_every_mappable_go_test() -> None:
    for tag in RELEASES:
        go_tests = {t["goTest"] for t in table(tag, "allocator_test")["tests"]}
        assert go_tests == {
            "TestAssignment",
            "TestPoolAllocation",
            "TestAllocation",
            "TestBuggyIPs",
            "TestConfigReload",
            "TestAutoAssign",
        }
        go_tests = {t["goTest"] for t in table(tag, "controller_test")["tests"]}
        assert go_tests == {
            "TestControllerMutation",
            "TestControllerConfig",
            "TestDeleteRecyclesIP",
            "TestControllerReassign",
            "TestControllerDualStackConfig",
        }
        steps = sum(len(t["steps"]) for t in table(tag, "allocator_test")["tests"])
        assert steps == 224
    assert sum(len(t["steps"]) for t in table("v0.15.3", "controller_test")["tests"]) == 67


def test_a_mutation_case_wants_only_a_status_change() -> None:
    # The Go test compares the input with only the written status replaced: a transcribed
    # `want` that differs from its `in` elsewhere would be a transcription error.
    for tag in RELEASES:
        mutation = table(tag, "controller_test")["tests"][0]
        for step in mutation["steps"]:
            if step["want"] is not None:
                assert {k: v for k, v in step["want"].items() if k != "status"} == {
                    k: v for k, v in (step["in"] or {}).items() if k != "status"
                }, step["desc"]


def _first(test_name: str, tag: str = "v0.15.3", name: str = "allocator_test") -> dict[str, Any]:
    return next(t for t in table(tag, name)["tests"] if t["goTest"] == test_name)


def test_the_runner_reports_a_wrong_error_expectation() -> None:
    test = _first("TestAssignment")
    test["steps"][2]["wantErr"] = False  # "s2 can't grab s1's IP"
    assert run_allocator_test(test, "0.15") == [
        "s2 can't grab s1's IP: error "
        + repr('can\'t change sharing key for "s2", address also in use by s1')
    ]
    test["steps"][2]["wantErr"] = True
    test["steps"][0]["wantErr"] = True  # "assign s1" succeeds
    assert run_allocator_test(test, "0.15")[0] == "assign s1: no error (got ['1.2.3.4'])"


def test_the_runner_reports_an_unexpected_ip() -> None:
    test = _first("TestAllocation")
    test["steps"][0]["validIPs"] = ["9.9.9.9"]
    assert run_allocator_test(test, "0.15")[0].startswith("s1 gets an IPv4: unexpected IPs")


def test_the_runner_reports_a_wrong_write_or_state() -> None:
    test = _first("TestDeleteRecyclesIP", name="controller_test")
    test["steps"][0]["want"]["status"]["loadBalancer"]["ingress"] = [{"ip": "1.2.3.9"}]
    test["steps"][2]["state"] = "SyncStateSuccess"
    assert run_controller_test(test, Behavior.METALLB_0_15) == [
        "svc1 takes the only IP: wrote status ['1.2.3.0'], want ['1.2.3.9']",
        "deleting svc1 reprocesses all: state SyncStateReprocessAll, want SyncStateSuccess",
    ]


def test_the_transcriber_reads_a_go_table_row() -> None:
    go = """
    tests := []struct {
        desc string
        svc  *v1.Service
    }{
        {
            desc: "request specific IP", // a comment
            in: &v1.Service{
                ObjectMeta: metav1.ObjectMeta{
                    Annotations: map[string]string{AnnotationAddressPool: "pool5"},
                },
                Spec: v1.ServiceSpec{
                    Type:           "LoadBalancer",
                    ClusterIPs:     []string{"1.2.3.4"},
                    IPFamilyPolicy: &IPFamilyPolicyPreferDualStack,
                    Ports:          []v1.ServicePort{{Protocol: v1.ProtocolTCP, Port: 80}},
                },
                Status: statusAssigned([]string{"1.2.3.0"}),
            },
            ports: ports("tcp/80"),
            wantErr: true,
        },
    }
    """
    assert transcribe.table_rows(go, {}) == [
        {
            "desc": "request specific IP",
            "in": {
                "metadata": {"annotations": {"metallb.io/address-pool": "pool5"}},
                "spec": {
                    "type": "LoadBalancer",
                    "clusterIPs": ["1.2.3.4"],
                    "ipFamilyPolicy": "PreferDualStack",
                    "ports": [{"protocol": "TCP", "port": 80}],
                },
                "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.0"}]}},
            },
            "ports": [["tcp", 80]],
            "wantErr": True,
        }
    ]
