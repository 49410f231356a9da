"""IPv6 and families on real layouts (issue 13, section 4): a Service stating no ipFamilies takes
its family from its requested IPs, else its cluster IPs, else the cluster's pools and Services."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from planner.analysis.conflicts import static_conflicts
from planner.model.controller import BEHAVIORS
from planner.model.pools import Pool
from planner.model.service import cluster_family, family
from planner.objects import KubeObject, ObjectKey
from planner.pipeline import DiffOptions, build_report, load_scenario, plan_scenario
from planner.sources.live import LiveSource

REAL = Path(__file__).resolve().parent / "fixtures" / "real"


def _service(name: str, ips: str = "", **spec: Any) -> dict[str, Any]:
    annotations = {"metallb.io/loadBalancerIPs": ips} if ips else {}
    body: dict[str, Any] = {"type": "LoadBalancer", "ports": [{"port": 53, "protocol": "UDP"}]}
    body.update(spec)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "dns", "annotations": annotations},
        "spec": body,
    }


# --- the family rule ----------------------------------------------------------------------------


def test_a_request_tells_the_family_of_a_service_stating_none() -> None:
    assert family(_service("v6", "2001:db8::53")) == "ipv6"
    assert family(_service("v4", "192.168.1.53")) == "ipv4"


def test_two_requested_ips_make_it_dual_stack_only_when_its_policy_allows() -> None:
    both = "192.168.1.53,2001:db8::53"
    assert family(_service("dual", both, ipFamilyPolicy="PreferDualStack")) == "dual"
    assert family(_service("single", both)) == "ipv4"  # SingleStack: the cluster decides
    assert family(_service("single", both), default="ipv6") == "ipv6"


def test_cluster_ips_and_stated_families_win_over_the_request() -> None:
    live = _service("v6", clusterIPs=["10.43.0.9"], clusterIP="10.43.0.9")
    assert family(_service("v6", "2001:db8::53"), live) == "ipv4"  # the API server keeps it
    assert family(_service("v6", "2001:db8::53", ipFamilies=["IPv4"])) == "ipv4"


def test_without_anything_the_cluster_decides() -> None:
    assert family(_service("auto"), default="ipv6") == "ipv6"
    assert cluster_family(["2001:db8:42::/112", "fd00:43::1a"]) == "ipv6"
    assert cluster_family(["2001:db8:42::/112", "192.168.1.0/24"]) == "ipv4"
    assert cluster_family([]) == "ipv4"


@pytest.mark.parametrize(
    ("cidrs", "conflicts"),
    [(["2001:db8:42::/112"], 0), (["192.168.1.0/24", "2001:db8:42::/112"], 0)],
)
def test_a_requested_ipv6_address_is_no_family_mismatch(cidrs: list[str], conflicts: int) -> None:
    obj = KubeObject(ObjectKey("Service", "dns", "v6"), _service("v6", "2001:db8:42::53"))
    pools = [Pool("lan", tuple(cidrs))]
    assert len(static_conflicts({"dns/v6": obj}, pools, {})) == conflicts


def test_a_single_stack_service_requesting_two_families_is_still_a_mismatch() -> None:
    body = _service("both", "192.168.1.53,2001:db8:42::53")
    obj = KubeObject(ObjectKey("Service", "dns", "both"), body)
    pools = [Pool("lan", ("192.168.1.0/24", "2001:db8:42::/112"))]
    [conflict] = static_conflicts({"dns/both": obj}, pools, {})
    assert "does not match the ipFamily" in conflict.message


def test_a_prefer_dual_stack_group_stating_no_families_shares_both_addresses() -> None:
    both = "192.168.1.53,2001:db8:42::53"
    objects = {}
    for name, proto in (("dns-tcp", "TCP"), ("dns-udp", "UDP")):
        body = _service(name, both, ipFamilyPolicy="PreferDualStack")
        body["metadata"]["annotations"]["metallb.io/allow-shared-ip"] = "dns"
        body["spec"]["ports"] = [{"port": 53, "protocol": proto}]
        objects[f"dns/{name}"] = KubeObject(ObjectKey("Service", "dns", name), body)
    pools = [Pool("lan", ("192.168.1.0/24", "2001:db8:42::/112"))]
    assert static_conflicts(objects, pools, {}) == ()


# --- an IPv6-only home lab, end to end ----------------------------------------------------------


def _ipv6_only() -> tuple[list[str], LiveSource]:
    return [str(REAL / "ipv6-only" / "desired")], LiveSource.file(
        str(REAL / "ipv6-only" / "live.yaml")
    )


def test_an_ipv6_only_cluster_has_no_family_conflict_and_nobody_stuck() -> None:
    desired, live = _ipv6_only()
    report = build_report(desired, live, DiffOptions(prune="none"))
    assert report.conflicts == ()
    [group] = report.groups
    assert group.members == ("home/mosquitto-mqtt", "home/mosquitto-ws")
    assert group.ips == ("2001:db8:42::20",)
    for behavior in BEHAVIORS:
        assert not report.predictions[behavior].pending, behavior


def test_an_ipv6_only_cluster_gives_an_auto_assigned_service_an_ipv6_address() -> None:
    desired, live = _ipv6_only()
    plan = plan_scenario(load_scenario(desired, live, prune="none"))
    expected = plan.waves[-1].expected_ips
    assert expected["home/mosquitto-mqtt"] == (("2001:db8:42::20",),)
    [[auto]] = expected["home/zigbee2mqtt"]
    assert ":" in auto
