"""Services of another loadBalancerClass never reach MetalLB's controller (filterByLoadBalancerClass,
internal/k8s/controllers/service_controller.go at v0.14.9 and v0.15.3)."""

from __future__ import annotations

from typing import Any

import pytest

from planner.model.allocator import Pool
from planner.model.controller import REPROCESS_ALL, SUCCESS, Behavior, Controller
from planner.model.group_annotations import desired_sharing_groups, stamp_group_annotations
from planner.model.service import GROUP_ANNOTATION, handled_by_metallb, ingress_ips
from tests.model.test_controller import svc

POOL = Pool("lan", ("192.168.10.0/24",))
OTHER_CLASS = "example.com/other-lb"


def classed(manifest: dict[str, Any], lb_class: str | None) -> dict[str, Any]:
    """The manifest with `spec.loadBalancerClass` set (None: left unset)."""
    if lb_class is not None:
        manifest["spec"]["loadBalancerClass"] = lb_class
    return manifest


@pytest.mark.parametrize(
    ("service_class", "flag", "handled"),
    [
        (None, "", True),  # no class, MetalLB without --lb-class: ours
        (OTHER_CLASS, "", False),  # any class at all is another implementation's
        (None, "metallb", False),  # with --lb-class, a Service without a class is not ours
        ("metallb", "metallb", True),
        (OTHER_CLASS, "metallb", False),
        ("", "", True),  # Go compares *class with the flag: "" == ""
    ],
)
def test_the_filter_as_go_writes_it(service_class: str | None, flag: str, handled: bool) -> None:
    assert handled_by_metallb(classed(svc("a"), service_class), flag) is handled


def test_a_deletion_always_reaches_the_controller() -> None:
    assert handled_by_metallb(None, "metallb")


@pytest.mark.parametrize("behavior", list(Behavior))
def test_the_controller_ignores_a_service_of_another_class(behavior: str) -> None:
    c = Controller([POOL], behavior=behavior)
    foreign = classed(svc("foreign", ip="192.168.10.5", share="k"), OTHER_CLASS)
    result = c.set_balancer("ns/foreign", foreign)
    assert result.state == SUCCESS
    assert result.service is None  # no status written, no pool annotation
    assert result.events == ()
    assert c.allocator.pool("ns/foreign") is None
    # The IP it asks for is still free for a Service MetalLB does handle.
    mine = c.set_balancer("ns/mine", svc("mine", ip="192.168.10.5"))
    assert mine.service is not None
    assert ingress_ips(mine.service) == ("192.168.10.5",)


def test_a_service_of_another_class_keeps_its_status_and_holds_nothing() -> None:
    c = Controller([POOL])
    foreign = classed(svc("foreign", status=("192.168.10.7",)), OTHER_CLASS)
    assert not c.hold("ns/foreign", foreign)
    assert c.set_balancer("ns/foreign", foreign).service is None
    assert c.allocator.pool("ns/foreign") is None
    # Its deletion reaches the controller, which held nothing for it: nothing to reprocess.
    assert c.set_balancer("ns/foreign", None).state == SUCCESS


def test_with_lb_class_only_services_of_that_class_are_handled() -> None:
    c = Controller([POOL], lb_class="metallb")
    assert c.set_balancer("ns/plain", svc("plain")).service is None
    handled = c.set_balancer("ns/mine", classed(svc("mine"), "metallb"))
    assert handled.service is not None and ingress_ips(handled.service)


def test_a_foreign_service_is_not_a_member_the_fixed_controller_waits_for() -> None:
    c = Controller([POOL], behavior=Behavior.FIXED)
    foreign = classed(svc("foreign"), OTHER_CLASS)
    c.observe("ns/foreign", foreign)
    assert c.set_balancer("ns/a", svc("a", status=("192.168.10.9",))).state in (
        SUCCESS,
        REPROCESS_ALL,
    )
    assert "ns/foreign" not in c._cache


def test_group_annotations_skip_services_of_another_class() -> None:
    a = svc("a", share="k", ip="192.168.10.5", ports=[("TCP", 53)])
    b = svc("b", share="k", ip="192.168.10.5", ports=[("UDP", 53)])
    foreign = classed(svc("c", share="k", ip="192.168.10.5", ports=[("TCP", 80)]), OTHER_CLASS)
    groups = desired_sharing_groups([a, b, foreign])
    assert [g.members for g in groups] == [("ns/a", "ns/b")]
    stamped = stamp_group_annotations([a, b, foreign])
    assert GROUP_ANNOTATION not in stamped[2]["metadata"]["annotations"]
    # Under --lb-class other-lb the class-less pair is not MetalLB's: no group at all.
    assert desired_sharing_groups([a, b, foreign], OTHER_CLASS) == []
