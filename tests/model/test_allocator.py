"""The allocator model against MetalLB's rules (internal/allocator/allocator.go, allocation.go)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.allocator import (
    AllocationError,
    Allocator,
    ErrorKind,
    Outcome,
    Pool,
    Port,
    shuffled_pool_order,
)
from planner.model._addrindex import UndoLog
from planner.model.allocator import AllocationRequest, _resolve

TCP80 = [Port("TCP", 80)]
TCP443 = [Port("TCP", 443)]
DNS_TCP = [Port("TCP", 53)]
DNS_UDP = [Port("UDP", 53)]
REQUIRE_DUAL = {"spec": {"ipFamilyPolicy": "RequireDualStack"}}
PREFER_DUAL = {"spec": {"ipFamilyPolicy": "PreferDualStack"}}


def svc(namespace: str = "", labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "labels": labels or {}}, "spec": spec}


def refused(call: Callable[[], object], allocator: Allocator) -> AllocationError:
    """Run a call that must fail, check it changed nothing, and return its error."""
    before = allocator.snapshot()
    with pytest.raises(AllocationError) as caught:
        call()
    assert allocator.snapshot() == before
    return caught.value


@pytest.fixture
def assigning() -> Allocator:
    return Allocator(
        [
            Pool("test", ["1.2.3.4/31", "1000::4/127"]),
            Pool("test2", ["1.2.4.0/24", "1000::4:0/120"], avoid_buggy_ips=True),
            Pool("pinned-ns", ["1.2.5.0/24"], namespaces=["team-a"]),
            Pool("pinned-svc", ["1.2.6.0/24"], service_selectors=[{"matchLabels": {"team": "lb"}}]),
            Pool(
                "pinned-both",
                ["1.2.7.0/24"],
                namespaces=["team-b"],
                service_selectors=[{"matchLabels": {"foo": "bar"}}],
            ),
        ]
    )


# --- assign: the sharing rule, per IP --------------------------------------------------------


def test_assign_records_ip_and_pool_and_is_idempotent(assigning: Allocator) -> None:
    assigning.assign("s1", None, ["1.2.3.4"], [], "", "")
    assigning.assign("s1", None, ["1.2.3.4"], [], "", "")
    assert assigning.ips("s1") == ["1.2.3.4"]
    assert assigning.pool("s1") == "test"
    assert assigning.holders("1.2.3.4") == ["s1"]


def test_unshared_ip_cannot_be_taken(assigning: Allocator) -> None:
    assigning.assign("ns/s1", None, ["1.2.3.4"], [], "", "")
    error = refused(lambda: assigning.assign("ns/s2", None, ["1.2.3.4"], [], "", ""), assigning)
    assert error.kind == ErrorKind.SHARING_KEY_MISMATCH
    assert str(error) == 'can\'t change sharing key for "ns/s2", address also in use by ns/s1'


def test_released_ip_can_be_taken_by_another(assigning: Allocator) -> None:
    assigning.assign("s1", None, ["1.2.3.4"], [], "", "")
    assert assigning.unassign("s1") is True
    assert assigning.unassign("s1") is False
    assigning.assign("s2", None, ["1.2.3.4"], [], "", "")
    assert assigning.ips("s2") == ["1.2.3.4"]
    assert assigning.ips("s1") == []
    assert assigning.pool("s1") is None


def test_buggy_ip_is_in_no_pool_of_an_avoiding_pool(assigning: Allocator) -> None:
    for ip in ("1.2.4.0", "1.2.4.255"):
        error = refused(lambda ip=ip: assigning.assign("s3", None, [ip], [], "", ""), assigning)
        assert error.kind == ErrorKind.NOT_ALLOWED
        assert str(error) == f'["{ip}"] is not allowed in config'
    assigning.assign("s3", None, ["1.2.4.254"], [], "", "")


def test_ip_outside_every_pool_is_not_allowed(assigning: Allocator) -> None:
    error = refused(lambda: assigning.assign("s", None, ["9.9.9.9"], [], "", ""), assigning)
    assert error.kind == ErrorKind.NOT_ALLOWED


def test_sharing_needs_equal_non_empty_keys_and_distinct_ports(assigning: Allocator) -> None:
    assigning.assign("s4", None, ["1.2.4.3"], TCP80, "share", "backend")
    cases = [
        (TCP80, "share", "backend", ErrorKind.PORT_IN_USE),
        (TCP443, "other", "backend", ErrorKind.SHARING_KEY_MISMATCH),
        (TCP443, "share", "otherbackend", ErrorKind.SHARING_KEY_MISMATCH),
        (TCP443, "", "backend", ErrorKind.SHARING_KEY_MISMATCH),
    ]
    for ports, sharing, backend, kind in cases:
        error = refused(
            lambda p=ports, s=sharing, b=backend: assigning.assign(
                "s3", None, ["1.2.4.3"], p, s, b
            ),
            assigning,
        )
        assert error.kind == kind
    assigning.assign("s3", None, ["1.2.4.3"], TCP443, "share", "backend")
    assert assigning.holders("1.2.4.3") == ["s3", "s4"]


def test_port_in_use_message_is_metallbs(assigning: Allocator) -> None:
    assigning.assign("a", None, ["1.2.4.3"], DNS_TCP, "dns", "")
    error = refused(lambda: assigning.assign("b", None, ["1.2.4.3"], DNS_TCP, "dns", ""), assigning)
    assert str(error) == 'port TCP/53 is already in use on "1.2.4.3"'


def test_same_port_number_with_another_protocol_shares(assigning: Allocator) -> None:
    assigning.assign("ns/dns-tcp", None, ["1.2.4.3"], DNS_TCP, "dns", "")
    assigning.assign("ns/dns-udp", None, ["1.2.4.3"], DNS_UDP, "dns", "")
    assert assigning.holders("1.2.4.3") == ["ns/dns-tcp", "ns/dns-udp"]


def test_existing_service_without_sharing_key_blocks_sharing(assigning: Allocator) -> None:
    assigning.assign("a", None, ["1.2.4.3"], TCP80, "", "")
    error = refused(lambda: assigning.assign("b", None, ["1.2.4.3"], TCP443, "k", ""), assigning)
    assert error.kind == ErrorKind.SHARING_KEY_MISMATCH


def test_sole_holder_may_change_its_key_and_ports_in_place(assigning: Allocator) -> None:
    assigning.assign("s4", None, ["1.2.4.3"], TCP80, "sharing", "backend")
    assigning.assign("s4", None, ["1.2.4.3"], TCP443, "share", "other")
    assert assigning.remembered_key("1.2.4.3") == ("share", "other")


def test_holder_among_others_cannot_change_its_key(assigning: Allocator) -> None:
    assigning.assign("s3", None, ["1.2.4.3"], TCP443, "share", "backend")
    assigning.assign("s4", None, ["1.2.4.3"], TCP80, "share", "backend")
    for sharing, backend in (("othershare", "backend"), ("share", "otherbackend")):
        error = refused(
            lambda s=sharing, b=backend: assigning.assign("s3", None, ["1.2.4.3"], TCP443, s, b),
            assigning,
        )
        assert error.kind == ErrorKind.SHARING_KEY_MISMATCH
        assert str(error).endswith("address also in use by s4")
    assigning.assign("s3", None, ["1.2.4.3"], DNS_UDP, "share", "backend")


def test_ip_remembers_the_last_assigned_key_even_after_that_service_left(
    assigning: Allocator,
) -> None:
    assigning.assign("a", None, ["1.2.4.3"], TCP80, "k", "")
    assigning.assign("b", None, ["1.2.4.3"], TCP443, "k", "")
    assigning.unassign("b")
    assert assigning.remembered_key("1.2.4.3") == ("k", "")
    # a is now the only holder: it may change the key the IP remembers.
    assigning.assign("a", None, ["1.2.4.3"], TCP80, "k2", "x")
    assert assigning.remembered_key("1.2.4.3") == ("k2", "x")


def test_key_is_forgotten_when_no_port_is_left_on_the_ip(assigning: Allocator) -> None:
    # MetalLB drops the IP's key when its last PORT goes, even if a port-less service stays.
    assigning.assign("with-port", None, ["1.2.4.3"], TCP80, "k", "")
    assigning.assign("no-ports", None, ["1.2.4.3"], [], "k", "")
    assigning.unassign("with-port")
    assert assigning.holders("1.2.4.3") == ["no-ports"]
    assert assigning.remembered_key("1.2.4.3") is None
    assigning.assign("stranger", None, ["1.2.4.3"], TCP80, "", "")
    assert assigning.holders("1.2.4.3") == ["no-ports", "stranger"]


def test_group_cannot_change_key_one_member_at_a_time(assigning: Allocator) -> None:
    """The seed scenario at allocator level: both DNS services switch Cluster -> Local."""
    assigning.assign("ns/a", None, ["1.2.4.3"], DNS_TCP, "dns", "")
    assigning.assign("ns/b", None, ["1.2.4.3"], DNS_UDP, "dns", "")
    local = "app=dns"
    error = refused(
        lambda: assigning.assign("ns/a", None, ["1.2.4.3"], DNS_TCP, "dns", local), assigning
    )
    assert str(error) == 'can\'t change sharing key for "ns/a", address also in use by ns/b'
    assigning.unassign("ns/a")  # the controller clears a: a is pending
    assigning.assign("ns/b", None, ["1.2.4.3"], DNS_UDP, "dns", local)  # b alone: in place
    assigning.assign("ns/a", None, ["1.2.4.3"], DNS_TCP, "dns", local)  # a can come back
    assert assigning.holders("1.2.4.3") == ["ns/a", "ns/b"]


def test_assign_sorts_other_holders_in_the_message(assigning: Allocator) -> None:
    for name, port in (("z", 1), ("b", 2), ("m", 3)):
        assigning.assign(name, None, ["1.2.4.3"], [Port("TCP", port)], "k", "")
    error = refused(lambda: assigning.assign("new", None, ["1.2.4.3"], TCP80, "j", ""), assigning)
    assert str(error).endswith("address also in use by b,m,z")


def test_ports_may_be_given_as_tuples(assigning: Allocator) -> None:
    assigning.assign("a", None, ["1.2.4.3"], [("TCP", 53)], "dns", "")
    error = refused(lambda: assigning.assign("b", None, ["1.2.4.3"], DNS_TCP, "dns", ""), assigning)
    assert error.kind == ErrorKind.PORT_IN_USE


# --- assign: dual stack and bad input --------------------------------------------------------


def test_dual_stack_assign_needs_one_pool_owning_both(assigning: Allocator) -> None:
    assigning.assign("s1", None, ["1.2.3.4", "1000::4"], [], "", "")
    assert assigning.ips("s1") == ["1.2.3.4", "1000::4"]
    error = refused(
        lambda: assigning.assign("s1", None, ["1.2.4.5", "1000::4"], [], "", ""), assigning
    )
    assert error.kind == ErrorKind.NOT_ALLOWED
    assert str(error) == '["1.2.4.5" "1000::4"] is not allowed in config'


def test_two_ips_of_one_family_and_three_ips_are_refused(assigning: Allocator) -> None:
    error = refused(
        lambda: assigning.assign("s", None, ["1.2.4.5", "1.2.4.6"], [], "", ""), assigning
    )
    assert error.kind == ErrorKind.SAME_FAMILY
    assert str(error) == '"1.2.4.5" "1.2.4.6" has the same family'
    three = ["1.2.4.5", "1.2.4.6", "1000::4:5"]
    error = refused(lambda: assigning.assign("s", None, three, [], "", ""), assigning)
    assert error.kind == ErrorKind.TOO_MANY_IPS
    assert str(error) == 'more than two addresses ["1.2.4.5" "1.2.4.6" "1000::4:5"]'


def test_invalid_ip_is_an_allocation_error(assigning: Allocator) -> None:
    error = refused(lambda: assigning.assign("s", None, ["1.2.4.300"], [], "", ""), assigning)
    assert error.kind == ErrorKind.INVALID_IP


def test_ipv4_mapped_ipv6_counts_as_ipv4(assigning: Allocator) -> None:
    assigning.assign("s", None, ["::ffff:1.2.4.9"], [], "", "")
    assert assigning.ips("s") == ["1.2.4.9"]


# --- assign: pinned pools ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "ip", "allowed"),
    [
        (svc("team-a"), "1.2.5.10", True),
        (svc("elsewhere"), "1.2.5.10", False),
        (svc("elsewhere", {"team": "lb"}), "1.2.6.10", True),
        (svc("elsewhere", {"team": "red"}), "1.2.6.10", False),
        (svc("team-b", {"foo": "bar"}), "1.2.7.10", True),
        (svc("team-b", {"team": "lb"}), "1.2.7.10", False),
        (svc("elsewhere", {"foo": "bar"}), "1.2.7.10", False),
    ],
)
def test_assign_honours_the_owning_pools_service_allocation(
    assigning: Allocator, service: dict[str, Any], ip: str, allowed: bool
) -> None:
    if allowed:
        assigning.assign("s1", service, [ip], [], "", "")
        assert assigning.ips("s1") == [ip]
        return
    error = refused(lambda: assigning.assign("s1", service, [ip], [], "", ""), assigning)
    assert error.kind == ErrorKind.POOL_INCOMPATIBLE
    assert str(error).endswith("not compatible for ip assignment")


def test_namespace_comes_from_the_service_key_when_the_manifest_has_none(
    assigning: Allocator,
) -> None:
    assigning.assign("team-a/web", {"metadata": {"name": "web"}}, ["1.2.5.10"], [], "", "")
    assert assigning.pool("team-a/web") == "pinned-ns"


# --- allocate ----------------------------------------------------------------------------------


def test_allocate_fills_a_pool_then_shares_by_key() -> None:
    allocator = Allocator([Pool("test", ["1.2.3.4/31", "1.2.3.10/31"])])
    got = [allocator.allocate(f"s{i}", {}, "ipv4", [], "", "") for i in range(4)]
    assert got == [["1.2.3.4"], ["1.2.3.5"], ["1.2.3.10"], ["1.2.3.11"]]
    error = refused(lambda: allocator.allocate("s5", {}, "ipv4", [], "", ""), allocator)
    assert error.kind == ErrorKind.NO_AVAILABLE_IPS
    assert str(error) == "no available IPs"
    allocator.unassign("s1")
    assert allocator.allocate("s5", {}, "ipv4", TCP80, "share", "") == ["1.2.3.5"]
    assert allocator.allocate("s6", {}, "ipv4", TCP443, "share", "") == ["1.2.3.5"]


def test_allocate_prefers_the_lowest_shareable_address() -> None:
    allocator = Allocator([Pool("p", ["10.0.0.0/29"])])
    allocator.assign("a", {}, ["10.0.0.5"], TCP80, "web", "")
    assert allocator.allocate("b", {}, "ipv4", TCP443, "web", "") == ["10.0.0.0"]
    allocator.assign("c", {}, ["10.0.0.2"], TCP80, "web", "")
    assert allocator.allocate("d", {}, "ipv4", TCP443, "web", "") == ["10.0.0.1"]
    assert allocator.allocate("e", {}, "ipv4", TCP443, "web", "") == ["10.0.0.2"]


def test_allocate_for_a_holder_re_assigns_its_ips() -> None:
    allocator = Allocator([Pool("p", ["10.0.0.0/30"])])
    first = allocator.allocate("a", {}, "ipv4", TCP80, "k", "")
    assert allocator.allocate("a", {}, "ipv4", TCP443, "k2", "") == first
    assert allocator.remembered_key(first[0]) == ("k2", "")
    allocator.assign("b", {}, first, [Port("UDP", 1)], "k2", "")
    error = refused(lambda: allocator.allocate("a", {}, "ipv4", TCP80, "k3", ""), allocator)
    assert error.kind == ErrorKind.SHARING_KEY_MISMATCH


def test_allocate_skips_pools_without_auto_assign() -> None:
    allocator = Allocator(
        [Pool("manual", ["1.2.3.4/31"], auto_assign=False), Pool("auto", ["1.2.3.10/31"])]
    )
    assert allocator.allocate("s1", {}, "ipv4", [], "", "") == ["1.2.3.10"]
    assert allocator.allocate("s2", {}, "ipv4", [], "", "") == ["1.2.3.11"]
    refused(lambda: allocator.allocate("s3", {}, "ipv4", [], "", ""), allocator)
    assert allocator.allocate_from_pool("s3", {}, "ipv4", "manual", [], "", "") == ["1.2.3.4"]


def test_allocate_skips_buggy_ips_of_avoiding_pools_only() -> None:
    allocator = Allocator(
        [
            Pool("plain", ["1.2.3.0/31", "1.2.3.254/31"]),
            Pool("avoid", ["1.2.4.0/31", "1.2.4.254/31"], avoid_buggy_ips=True),
        ]
    )
    got = {allocator.allocate(f"s{i}", {}, "ipv4", [], "", "")[0] for i in range(6)}
    assert got == {"1.2.3.0", "1.2.3.1", "1.2.3.254", "1.2.3.255", "1.2.4.1", "1.2.4.254"}
    refused(lambda: allocator.allocate("s7", {}, "ipv4", [], "", ""), allocator)


def test_ipv6_allocation_ignores_buggy_rule() -> None:
    allocator = Allocator([Pool("v6", ["1000::/127"], avoid_buggy_ips=True)])
    assert allocator.allocate("a", {}, "ipv6", [], "", "") == ["1000::"]
    assert allocator.allocate("b", {}, "ipv6", [], "", "") == ["1000::1"]


def test_pinned_namespace_pool_comes_before_all_pools() -> None:
    allocator = Allocator(
        [Pool("general", ["10.0.0.0/24"]), Pool("team", ["10.1.0.0/31"], namespaces=["team"])]
    )
    assert allocator.allocate("team/a", svc("team"), "ipv4", [], "", "") == ["10.1.0.0"]
    assert allocator.pool("team/a") == "team"
    assert allocator.allocate("other/a", svc("other"), "ipv4", [], "", "") == ["10.0.0.0"]


def test_pinned_pools_exhausted_fall_back_to_all_pools() -> None:
    allocator = Allocator(
        [Pool("general", ["10.0.0.0/24"]), Pool("team", ["10.1.0.0/32"], namespaces=["team"])]
    )
    allocator.allocate("team/a", svc("team"), "ipv4", [], "", "")
    assert allocator.allocate("team/b", svc("team"), "ipv4", [], "", "") == ["10.0.0.0"]


def test_priority_orders_pinned_pools_lower_first_and_zero_last() -> None:
    allocator = Allocator(
        [
            Pool("p0", ["10.0.0.0/32"], namespaces=["ns"]),
            Pool("p20", ["10.0.1.0/32"], namespaces=["ns"], priority=20),
            Pool("p10", ["10.0.2.0/32"], service_selectors=["app=web"], priority=10),
        ]
    )
    web = svc("ns", {"app": "web"})
    got = [allocator.allocate(f"ns/s{i}", web, "ipv4", [], "", "")[0] for i in range(3)]
    assert got == ["10.0.2.0", "10.0.1.0", "10.0.0.0"]
    assert allocator.pool("ns/s0") == "p10"


def test_pools_with_a_service_allocation_are_left_out_of_the_all_pools_pass() -> None:
    # v0.14.9: a serviceAllocation setting only a priority is never pinned either.
    allocator = Allocator(
        [
            Pool("elsewhere", ["10.0.0.0/24"], namespaces=["other"]),
            Pool("priority-only", ["10.0.1.0/24"], priority=5),
            Pool("empty-allocation", ["10.0.2.0/24"], has_service_allocation=True),
        ],
        version="0.14",
    )
    error = refused(lambda: allocator.allocate("ns/s", svc("ns"), "ipv4", [], "", ""), allocator)
    assert error.kind == ErrorKind.NO_AVAILABLE_IPS
    # but an explicit IP or pool request may use them: their allocation matches everyone
    allocator.assign("ns/s", svc("ns"), ["10.0.2.7"], [], "", "")
    assert allocator.allocate_from_pool("ns/t", svc("ns"), "ipv4", "priority-only", [], "", "") == [
        "10.0.1.0"
    ]


def test_v015_a_priority_only_service_allocation_is_pinned_for_every_service() -> None:
    # v0.15.0+ config.go addressPoolServiceAllocationsFromCR: no namespaces and no selectors
    # means the match-everything selector, so the pool is pinned, before the general pools.
    pools = [
        Pool("general", ["10.0.0.0/24"]),
        Pool("elsewhere", ["10.0.3.0/24"], namespaces=["other"]),
        Pool("priority-only", ["10.0.1.0/24"], priority=5),
        Pool("empty-allocation", ["10.0.2.0/24"], has_service_allocation=True),
        Pool(
            "no-namespace-yet", ["10.0.4.0/24"], namespace_selectors=[{"matchLabels": {"a": "b"}}]
        ),
    ]
    allocator = Allocator(pools, version="0.15")
    assert allocator.allocate("ns/s", svc("ns"), "ipv4", [], "", "") == ["10.0.1.0"]
    # priority 5 beats the namespace pool's priority 0
    assert allocator.allocate("other/s", svc("other"), "ipv4", [], "", "") == ["10.0.1.1"]
    # priority 5 before the zero-priority empty allocation; both before "general"
    assert allocator.possible_allocations(AllocationRequest("x/s", svc("x"), "ipv4")) == {
        ("10.0.1.2",)
    }
    for name in ("ns/s", "other/s"):
        allocator.unassign(name)
    v0149 = Allocator(pools, version="0.14")
    assert v0149.allocate("ns/s", svc("ns"), "ipv4", [], "", "") == ["10.0.0.0"]


def test_namespace_selectors_use_namespace_labels() -> None:
    pool = Pool("prod", ["10.9.0.0/24"], namespace_selectors=[{"matchLabels": {"env": "prod"}}])
    allocator = Allocator([pool, Pool("general", ["10.0.0.0/24"])])
    assert allocator.allocate("shop/a", svc("shop"), "ipv4", [], "", "") == ["10.0.0.0"]
    allocator.set_namespace_labels({"shop": {"env": "prod"}, "dev": {"env": "dev"}})
    assert allocator.allocate("shop/b", svc("shop"), "ipv4", [], "", "") == ["10.9.0.0"]
    assert allocator.allocate("dev/a", svc("dev"), "ipv4", [], "", "") == ["10.0.0.1"]
    error = refused(
        lambda: allocator.assign("dev/a", svc("dev"), ["10.9.0.5"], [], "", ""), allocator
    )
    assert error.kind == ErrorKind.POOL_INCOMPATIBLE


def test_namespace_selector_matching_no_namespace_makes_the_pool_open_to_assign() -> None:
    # MetalLB only tests namespaces when the resolved set is non-empty.
    pool = Pool("prod", ["10.9.0.0/24"], namespace_selectors=["env=prod"])
    allocator = Allocator([pool], namespace_labels={"dev": {"env": "dev"}})
    allocator.assign("dev/a", svc("dev"), ["10.9.0.5"], [], "", "")
    assert allocator.pool("dev/a") == "prod"


def test_namespace_selector_may_use_the_automatic_name_label() -> None:
    selector = {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["shop"]}
        ]
    }
    allocator = Allocator(
        [Pool("shop", ["10.9.0.0/24"], namespace_selectors=[selector])],
        namespace_labels={"shop": {}, "dev": {}},
    )
    assert allocator.allocate("shop/a", svc("shop"), "ipv4", [], "", "") == ["10.9.0.0"]
    refused(lambda: allocator.allocate("dev/a", svc("dev"), "ipv4", [], "", ""), allocator)


# --- allocate: families --------------------------------------------------------------------


def test_require_dual_stack_takes_both_from_one_pool() -> None:
    allocator = Allocator([Pool("v4", ["10.0.0.0/31"]), Pool("v6", ["1000::/127"])])
    error = refused(lambda: allocator.allocate("s", REQUIRE_DUAL, "dual", [], "", ""), allocator)
    assert error.kind == ErrorKind.NO_AVAILABLE_IPS
    allocator.set_pools([Pool("both", ["10.0.0.0/31", "1000::/127"])])
    assert allocator.allocate("s", REQUIRE_DUAL, "dual", [], "", "") == ["10.0.0.0", "1000::"]


def test_prefer_dual_stack_falls_back_to_the_primary_family() -> None:
    pools = [Pool("v4", ["10.0.0.0/31"]), Pool("v6", ["1000::/127"])]
    allocator = Allocator(pools)
    assert allocator.allocate("s", PREFER_DUAL, "dual", [], "", "") == ["10.0.0.0"]
    v6_first = {"spec": {"ipFamilyPolicy": "PreferDualStack", "ipFamilies": ["IPv6", "IPv4"]}}
    assert allocator.allocate("t", v6_first, "dual", [], "", "") == ["1000::"]
    assert allocator.possible_allocations(AllocationRequest("u", v6_first, "dual")) == {
        ("1000::1",)
    }


def test_prefer_dual_stack_takes_both_when_one_pool_has_both() -> None:
    allocator = Allocator(
        [Pool("v4", ["10.0.0.0/31"]), Pool("both", ["10.1.0.0/31", "1000::/127"])]
    )
    assert allocator.allocate("s", PREFER_DUAL, "dual", [], "", "") == ["10.1.0.0", "1000::"]


def test_ip_family_policy_keyword_overrides_the_manifest() -> None:
    allocator = Allocator([Pool("v4", ["10.0.0.0/31"])])
    error = refused(lambda: allocator.allocate("s", REQUIRE_DUAL, "dual", [], "", ""), allocator)
    assert error.kind == ErrorKind.NO_AVAILABLE_IPS
    got = allocator.allocate(
        "s", REQUIRE_DUAL, "dual", [], "", "", ip_family_policy="PreferDualStack"
    )
    assert got == ["10.0.0.0"]


def test_dual_without_a_dual_stack_policy_fails_as_in_metallb() -> None:
    allocator = Allocator([Pool("both", ["10.0.0.0/31", "1000::/127"])])
    error = refused(lambda: allocator.allocate("s", {}, "dual", [], "", ""), allocator)
    assert error.kind == ErrorKind.NO_AVAILABLE_IPS
    assert allocator.possible_allocations(AllocationRequest("s", {}, "dual")) == {()}


def test_single_family_takes_only_its_family() -> None:
    allocator = Allocator([Pool("both", ["10.0.0.0/31", "1000::/127"])])
    assert allocator.allocate("a", PREFER_DUAL, "ipv6", [], "", "") == ["1000::"]
    assert allocator.allocate("b", PREFER_DUAL, "ipv4", [], "", "") == ["10.0.0.0"]


def test_bad_family_or_policy_is_a_value_error() -> None:
    allocator = Allocator([Pool("p", ["10.0.0.0/31"])])
    with pytest.raises(ValueError, match="family"):
        allocator.allocate("s", {}, "ipv5", [], "", "")
    with pytest.raises(ValueError, match="policy"):
        allocator.allocate("s", {}, "dual", [], "", "", ip_family_policy="Maybe")


# --- allocate_from_pool ------------------------------------------------------------------------


@pytest.fixture
def from_pool() -> Allocator:
    return Allocator(
        [
            Pool("test", ["1.2.3.4/31", "1000::/127"]),
            Pool("v4", ["10.0.0.0/31"]),
            Pool("pinned", ["10.5.0.0/31"], namespaces=["team"]),
        ]
    )


def test_allocate_from_pool_takes_that_pool(from_pool: Allocator) -> None:
    assert from_pool.allocate_from_pool("s", {}, "ipv4", "v4", [], "", "") == ["10.0.0.0"]
    assert from_pool.pool("s") == "v4"


def test_allocate_from_unknown_pool(from_pool: Allocator) -> None:
    error = refused(
        lambda: from_pool.allocate_from_pool("s", {}, "ipv4", "nope", [], "", ""), from_pool
    )
    assert error.kind == ErrorKind.UNKNOWN_POOL
    assert str(error) == 'unknown pool "nope"'


def test_allocate_from_exhausted_pool_uses_metallbs_nil_ip_message(from_pool: Allocator) -> None:
    from_pool.allocate_from_pool("a", {}, "ipv4", "v4", [], "", "")
    from_pool.allocate_from_pool("b", {}, "ipv4", "v4", [], "", "")
    error = refused(
        lambda: from_pool.allocate_from_pool("c", {}, "ipv4", "v4", [], "", ""), from_pool
    )
    assert error.kind == ErrorKind.NO_AVAILABLE_IPS
    assert str(error) == '["<nil>"] is not allowed in config'


def test_allocate_from_pool_without_a_dual_pair(from_pool: Allocator) -> None:
    error = refused(
        lambda: from_pool.allocate_from_pool("c", REQUIRE_DUAL, "dual", "v4", [], "", ""), from_pool
    )
    assert str(error) == "no available IPs in pool v4 for dual IPFamily"
    assert from_pool.allocate_from_pool("c", PREFER_DUAL, "dual", "v4", [], "", "") == ["10.0.0.0"]


def test_allocate_from_pool_with_a_held_ip_of_another_family(from_pool: Allocator) -> None:
    from_pool.allocate_from_pool("s1", {}, "ipv4", "test", [], "", "")
    error = refused(
        lambda: from_pool.allocate_from_pool("s1", {}, "ipv6", "test", [], "", ""), from_pool
    )
    assert error.kind == ErrorKind.WRONG_FAMILY
    assert str(error) == "IP for wrong family assigned alloc ipv4 service family ipv6"
    assert from_pool.allocate_from_pool("s1", PREFER_DUAL, "dual", "test", [], "", "") == [
        "1.2.3.4"
    ]


def test_allocate_from_a_pinned_pool_checks_compatibility(from_pool: Allocator) -> None:
    error = refused(
        lambda: from_pool.allocate_from_pool("x/s", svc("x"), "ipv4", "pinned", [], "", ""),
        from_pool,
    )
    assert error.kind == ErrorKind.POOL_INCOMPATIBLE
    got = from_pool.allocate_from_pool("team/s", svc("team"), "ipv4", "pinned", [], "", "")
    assert got == ["10.5.0.0"]


def test_additional_family_for_a_prefer_dual_stack_service(from_pool: Allocator) -> None:
    from_pool.allocate_from_pool("s", PREFER_DUAL, "ipv4", "test", [], "", "")
    extra = from_pool.allocate_from_pool_for_additional_family(
        "s", PREFER_DUAL, "1.2.3.4", "test", [], "", ""
    )
    assert extra == "1000::"
    assert from_pool.ips("s") == ["1.2.3.4", "1000::"]
    from_pool.allocate_from_pool("t", PREFER_DUAL, "ipv4", "v4", [], "", "")
    error = refused(
        lambda: from_pool.allocate_from_pool_for_additional_family(
            "t", PREFER_DUAL, "10.0.0.0", "v4", [], "", ""
        ),
        from_pool,
    )
    assert str(error) == '["10.0.0.0" "<nil>"] is not allowed in config'


# --- set_pools ----------------------------------------------------------------------------------


def reloaded(pools: list[Pool]) -> Allocator:
    allocator = Allocator(
        [Pool("test", ["1.2.3.0/30", "1000::/126"]), Pool("unused", ["1.2.4.0/30"])]
    )
    allocator.assign("s1", None, ["1.2.3.0"], [], "", "")
    allocator.assign("s2", None, ["1000::"], [], "", "")
    allocator.set_pools(pools)
    return allocator


@pytest.mark.parametrize(
    ("pools", "pool_s1", "pool_s2"),
    [
        ([Pool("test", ["1.2.3.0/30", "1000::/126"])], "test", "test"),
        ([Pool("test", ["1.2.3.0/24", "1000::/120"])], "test", "test"),
        ([Pool("test", ["1.2.3.2/31", "1000::/126"])], None, "test"),
        ([Pool("test", ["1.2.3.0/30", "1000::2/127"])], "test", None),
        ([Pool("test2", ["1.2.3.0/30", "1000::/126"])], "test2", "test2"),
        (
            [
                Pool("test", ["1.2.3.0/31", "1000::2/127"]),
                Pool("test2", ["1.2.3.2/31", "1000::/127"]),
            ],
            "test",
            "test2",
        ),
        ([Pool("test2", ["1.2.3.0/31", "1000::/127"], avoid_buggy_ips=True)], None, "test2"),
    ],
)
def test_set_pools_re_maps_or_drops_allocations(
    pools: list[Pool], pool_s1: str | None, pool_s2: str | None
) -> None:
    allocator = reloaded(pools)
    assert (allocator.pool("s1"), allocator.pool("s2")) == (pool_s1, pool_s2)


def test_set_pools_reports_dropped_services_and_frees_their_ips() -> None:
    allocator = Allocator([Pool("a", ["10.0.0.0/31"]), Pool("b", ["10.1.0.0/31"])])
    allocator.assign("ns/x", None, ["10.0.0.0"], TCP80, "k", "")
    allocator.assign("ns/y", None, ["10.1.0.0"], TCP80, "", "")
    assert allocator.orphaned_by([Pool("b", ["10.1.0.0/31"])]) == ["ns/x"]
    assert allocator.set_pools([Pool("b", ["10.1.0.0/31"])]) == ["ns/x"]
    assert allocator.ips("ns/x") == []
    assert allocator.remembered_key("10.0.0.0") is None
    assert allocator.ips("ns/y") == ["10.1.0.0"]


def test_set_pools_refuses_duplicate_names() -> None:
    with pytest.raises(ValueError, match="duplicate definition of pool"):
        Allocator([Pool("a", ["10.0.0.0/31"]), Pool("a", ["10.1.0.0/31"])])


# --- enumeration of Go map order -----------------------------------------------------------


def test_several_auto_assign_pools_give_a_set_of_outcomes_and_change_nothing() -> None:
    allocator = Allocator(
        [Pool("a", ["10.0.0.0/30"]), Pool("b", ["10.1.0.0/30"]), Pool("c", ["1000::/126"])]
    )
    before = allocator.snapshot()
    assert allocator.possible_allocations(AllocationRequest("s", {}, "ipv4")) == {
        ("10.0.0.0",),
        ("10.1.0.0",),
    }
    outcomes = allocator.possible_allocate_outcomes(AllocationRequest("s", {}, "ipv4"))
    assert outcomes == {Outcome(("10.0.0.0",), "a"), Outcome(("10.1.0.0",), "b")}
    assert allocator.snapshot() == before


def test_the_enumerators_take_one_request_and_nothing_else() -> None:
    """The positional form of `allocate` is gone from the enumerators: one request asks."""
    allocator = Allocator([Pool("a", ["10.0.0.0/30"]), Pool("b", ["1000::/126"])])
    allocator.assign("x/held", svc("x"), ["10.0.0.0"], TCP80, "web", "")
    request = AllocationRequest(
        "x/s", svc("x"), "dual", TCP443, "web", "", ip_family_policy="PreferDualStack"
    )
    outcomes = allocator.possible_allocate_outcomes(request)
    # PreferDualStack: the shared IPv4 address of pool a beats pool b's IPv6-only offer.
    assert outcomes == {Outcome(("10.0.0.0",), "a")}
    assert allocator.possible_allocations(request) == {o.ips for o in outcomes}
    with pytest.raises(TypeError, match="positional argument"):
        allocator.possible_allocations(request, "dual")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="positional argument"):
        allocator.possible_allocate_outcomes("x/s", svc("x"), "dual")  # type: ignore[call-arg, arg-type]


def test_enumeration_sees_sharing_candidates_in_every_pool() -> None:
    allocator = Allocator([Pool("a", ["10.0.0.0/30"]), Pool("b", ["10.1.0.0/30"])])
    allocator.assign("x", None, ["10.1.0.2"], TCP80, "web", "")
    allocator.assign("y", None, ["10.0.0.0"], TCP80, "", "")
    assert allocator.possible_allocations(
        AllocationRequest("s", {}, "ipv4", TCP443, "web", "")
    ) == {
        ("10.0.0.1",),
        ("10.1.0.0",),
    }
    assert allocator.possible_allocations(AllocationRequest("s", {}, "ipv4", TCP80, "web", "")) == {
        ("10.0.0.1",),
        ("10.1.0.0",),
    }


def test_pinned_pools_of_equal_priority_are_unordered() -> None:
    allocator = Allocator(
        [
            Pool("x", ["10.0.0.0/31"], namespaces=["ns"], priority=1),
            Pool("y", ["10.1.0.0/31"], namespaces=["ns"], priority=1),
            Pool("z", ["10.2.0.0/31"], namespaces=["ns"], priority=2),
            Pool("general", ["10.3.0.0/31"]),
        ]
    )
    assert allocator.possible_allocations(AllocationRequest("ns/s", svc("ns"), "ipv4")) == {
        ("10.0.0.0",),
        ("10.1.0.0",),
    }


def test_overlapping_pools_make_the_recorded_pool_uncertain() -> None:
    allocator = Allocator([Pool("wide", ["10.0.0.0/24"]), Pool("narrow", ["10.0.0.0/30"])])
    outcomes = allocator.possible_assign_outcomes(AllocationRequest("s", None, ips=["10.0.0.1"]))
    assert outcomes == {Outcome(("10.0.0.1",), "wide"), Outcome(("10.0.0.1",), "narrow")}
    reversed_order = Allocator(allocator.pools.values(), pool_order=lambda names: names[::-1])
    reversed_order.assign("s", None, ["10.0.0.1"], [], "", "")
    assert reversed_order.pool("s") == "narrow"


def test_overlap_with_a_pinned_pool_may_fail_or_succeed() -> None:
    allocator = Allocator(
        [Pool("open", ["10.0.0.0/30"]), Pool("team", ["10.0.0.0/30"], namespaces=["team"])]
    )
    outcomes = allocator.possible_assign_outcomes(
        AllocationRequest("x/s", svc("x"), ips=["10.0.0.1"])
    )
    assert outcomes == {
        Outcome(("10.0.0.1",), "open"),
        Outcome((), None, ErrorKind.POOL_INCOMPATIBLE),
    }
    assert allocator.possible_allocations(AllocationRequest("x/s", svc("x"), "ipv4")) == {
        ("10.0.0.0",),
        (),
    }


def test_enumerating_from_a_pool_reports_errors_as_outcomes() -> None:
    allocator = Allocator([Pool("a", ["10.0.0.0/32"])])
    assert allocator.possible_allocate_from_pool_outcomes(
        AllocationRequest("s", {}, pool_name="zzz")
    ) == {Outcome((), None, ErrorKind.UNKNOWN_POOL)}
    assert allocator.possible_allocate_from_pool_outcomes(
        AllocationRequest("s", {}, pool_name="a")
    ) == {Outcome(("10.0.0.0",), "a")}
    assert allocator.possible_allocations_from_pool(
        AllocationRequest("s", {}, pool_name="zzz")
    ) == {()}


def test_shuffled_order_is_reproducible() -> None:
    pools = [Pool(f"p{i}", [f"10.{i}.0.0/30"]) for i in range(6)]
    picks = [
        [
            Allocator(pools, pool_order=shuffled_pool_order(seed)).allocate(
                "s", {}, "ipv4", [], "", ""
            )[0]
            for _ in range(2)
        ]
        for seed in (1, 2, 3)
    ]
    assert all(first == second for first, second in picks)
    assert len({first for first, _ in picks}) > 1


def test_a_pool_order_that_drops_names_is_rejected() -> None:
    allocator = Allocator(
        [Pool("a", ["10.0.0.0/30"]), Pool("b", ["10.1.0.0/30"])], pool_order=lambda names: names[:1]
    )
    with pytest.raises(ValueError, match="permutation"):
        allocator.allocate("s", {}, "ipv4", [], "", "")


def test_clone_is_independent() -> None:
    allocator = Allocator([Pool("a", ["10.0.0.0/30"])])
    allocator.allocate("s", {}, "ipv4", TCP80, "k", "")
    twin = allocator.clone()
    twin.allocate("t", {}, "ipv4", TCP443, "k", "")
    twin.unassign("s")
    assert allocator.services() == ["s"]
    assert twin.services() == ["t"]
    assert allocator.holders("10.0.0.0") == ["s"]


# --- clone: copy-on-write of the per-IP and per-key tables -------------------------------------

# Overlapping pools (re-ordering them re-maps allocations), an avoid-buggy range across a /24 edge
# (the "4-nobuggy" index) and an IPv6 network; the last configuration drops most allocations.
_COW_CONFIGS = [
    [
        Pool("a", ["10.0.0.252-10.0.1.3", "1000::/126"], avoid_buggy_ips=True),
        Pool("b", ["10.0.1.0/30"]),
    ],
    [Pool("b", ["10.0.1.0/30"]), Pool("a", ["10.0.0.252-10.0.1.3", "1000::/126"])],
    [Pool("a", ["10.0.0.254/31"])],
]
_COW_IPS = ["10.0.0.253", "10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1", "1000::1"]


def cow_apply(allocator: Allocator, op: tuple[Any, ...]) -> object:
    """Run one operation; a refusal is a result too (it must change nothing)."""
    action, svc_key, arg, ports, sharing = op
    try:
        if action == "allocate":
            return allocator.allocate(svc_key, {}, arg, ports, sharing, "")
        if action == "assign":
            return allocator.assign(svc_key, None, [arg], ports, sharing, "")
        if action == "unassign":
            return allocator.unassign(svc_key)
        return allocator.set_pools(_COW_CONFIGS[arg])
    except AllocationError as error:
        return error.kind


def replayed(ops: list[tuple[Any, ...]]) -> Allocator:
    """A fresh allocator that went through the operations (no clone anywhere)."""
    allocator = Allocator(_COW_CONFIGS[0])
    for op in ops:
        cow_apply(allocator, op)
    return allocator


def tables(allocator: Allocator) -> tuple[Any, ...]:
    """The per-IP and per-key indexes as plain values (insertion order of the inner dicts too)."""
    return (
        {ip: list(ports.items()) for ip, ports in allocator._ports_in_use.items()},
        {ip: list(svcs) for ip, svcs in allocator._services_on_ip.items()},
        {family: (s.starts, s.ends) for family, s in allocator._index._keyed.items()},
        dict(allocator._index._key_ips),
        {entry: (s.starts, s.ends) for entry, s in allocator._index._key_port_ips.items()},
    )


def assert_same_as_replayed(allocator: Allocator, ops: list[tuple[Any, ...]]) -> None:
    fresh = replayed(ops)
    assert allocator.snapshot() == fresh.snapshot()
    assert tables(allocator) == tables(fresh)


# Pool a's only keyless IPv4 addresses left are 10.0.1.2-3; 10.0.1.1 is shared under key k.
_COW_BASE = [
    ("assign", "s1", "10.0.1.1", TCP80, "k"),
    ("assign", "s2", "10.0.1.1", TCP443, "k"),
    ("assign", "x", "10.0.0.252", [], ""),
    ("assign", "w", "10.0.0.253", [], ""),
    ("assign", "v", "10.0.0.254", [], ""),
    ("allocate", "s3", "ipv4", DNS_UDP, "k"),  # shares 10.0.1.1
]


def test_clone_and_original_diverge_independently() -> None:
    original = replayed(_COW_BASE)
    twin = original.clone()
    ops_original = [
        ("unassign", "s1", None, [], ""),  # TCP/80 leaves the shared IP
        ("assign", "x", "10.0.0.252", TCP80, "j"),  # sole holder re-keys its IP
        ("allocate", "n", "ipv4", TCP80, "k"),  # first fit: the shared IP, TCP/80 free again
    ]
    ops_twin = [
        ("assign", "s5", "10.0.1.2", TCP80, "k"),  # a second address with key k and TCP/80
        ("assign", "s4", "10.0.1.1", DNS_TCP, "k"),  # joins the shared IP's holders and ports
        ("unassign", "s2", None, [], ""),
        ("unassign", "x", None, [], ""),  # 10.0.0.252 forgets its key here only
        ("allocate", "m", "ipv4", TCP80, "k"),  # TCP/80 still held on the shared IP: skip it
        ("set_pools", None, 1, [], ""),  # re-maps the holders of 10.0.1.1 to pool b
    ]
    # The twin changes first, so a container it changed in place would show in the original.
    assert [cow_apply(twin, op) for op in ops_twin][4] == ["10.0.0.252"]
    assert_same_as_replayed(original, _COW_BASE)
    assert [cow_apply(original, op) for op in ops_original][-1] == ["10.0.1.1"]
    assert original.holders("10.0.1.1") == ["n", "s2", "s3"]
    assert twin.holders("10.0.1.1") == ["s1", "s3", "s4"]
    assert (original.pool("s3"), twin.pool("s3")) == ("a", "b")
    assert_same_as_replayed(original, _COW_BASE + ops_original)
    assert_same_as_replayed(twin, _COW_BASE + ops_twin)
    # The next auto-assigned IPs agree with fresh allocators in the same state.
    probe = ("allocate", "probe", "ipv4", DNS_UDP, "k")
    assert cow_apply(original, probe) == cow_apply(replayed(_COW_BASE + ops_original), probe)
    assert cow_apply(twin, probe) == cow_apply(replayed(_COW_BASE + ops_twin), probe)
    assert (original.ips("probe"), twin.ips("probe")) == (["10.0.1.2"], ["10.0.1.0"])


def test_a_clone_of_a_clone_and_both_ancestors_stay_independent() -> None:
    unassign_s3 = ("unassign", "s3", None, [], "")
    first = replayed(_COW_BASE)
    second = first.clone()
    cow_apply(second, unassign_s3)
    third = second.clone()
    later = {
        "first": ("assign", "y", "10.0.1.2", TCP80, ""),
        "second": ("allocate", "z", "ipv6", TCP80, "k"),
        "third": ("assign", "x", "10.0.0.252", TCP80, "j"),  # its sole holder re-keys an IP
    }
    cow_apply(third, later["third"])
    cow_apply(second, later["second"])
    cow_apply(first, later["first"])
    assert_same_as_replayed(first, _COW_BASE + [later["first"]])
    assert_same_as_replayed(second, _COW_BASE + [unassign_s3, later["second"]])
    assert_same_as_replayed(third, _COW_BASE + [unassign_s3, later["third"]])
    assert first.holders("10.0.1.1") == ["s1", "s2", "s3"]
    assert first.holders("10.0.1.2") == ["y"]
    assert second.holders("10.0.1.1") == ["s1", "s2"]
    assert second.ips("z") == ["1000::"]
    assert third.holders("10.0.1.1") == ["s1", "s2"]
    assert (second.remembered_key("10.0.0.252"), third.remembered_key("10.0.0.252")) == (
        ("", ""),
        ("j", ""),
    )


_cow_svcs = st.sampled_from(["s1", "s2", "s3", "s4"])
_cow_ports = st.sampled_from([[], TCP80, TCP443, TCP80 + DNS_UDP])
_cow_keys = st.sampled_from(["", "k", "k", "j"])
_cow_ops = st.one_of(
    st.tuples(
        st.just("allocate"), _cow_svcs, st.sampled_from(["ipv4", "ipv6"]), _cow_ports, _cow_keys
    ),
    st.tuples(st.just("assign"), _cow_svcs, st.sampled_from(_COW_IPS), _cow_ports, _cow_keys),
    st.tuples(st.just("unassign"), _cow_svcs, st.none(), st.just([]), st.just("")),
    st.tuples(st.just("set_pools"), st.none(), st.integers(0, 2), st.just([]), st.just("")),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.integers(0, 3), _cow_ops),
            st.tuples(st.integers(0, 3), _cow_ops),
            st.tuples(st.integers(0, 3), st.just(("clone",))),
        ),
        max_size=30,
    )
)
def test_cloned_then_changed_allocators_match_replaying_from_scratch(
    steps: list[tuple[int, tuple[Any, ...]]],
) -> None:
    allocators = [Allocator(_COW_CONFIGS[0])]
    histories: list[list[tuple[Any, ...]]] = [[]]
    for who, op in steps:
        index = who % len(allocators)
        if op == ("clone",):
            allocators.append(allocators[index].clone())
            histories.append(list(histories[index]))
            continue
        cow_apply(allocators[index], op)
        histories[index].append(op)
    for allocator, history in zip(allocators, histories, strict=True):
        assert_same_as_replayed(allocator, history)
    # Auto-assigning on each (one more change) agrees with a fresh replay and leaves the others be.
    for allocator, history in zip(allocators, histories, strict=True):
        for probe in (("allocate", "p", "ipv4", TCP80, "k"), ("allocate", "q", "ipv4", [], "")):
            assert cow_apply(allocator, probe) == cow_apply(replayed(history), probe)
            history.append(probe)
    for allocator, history in zip(allocators, histories, strict=True):
        assert_same_as_replayed(allocator, history)


# --- clone: taken lazily (pending until read, the original recording its changes) --------------


def _walk(allocator: Allocator) -> list[str]:
    """The order set_pools walks allocations (a clone must keep it too), which each
    allocation's place in the walk (what a pending clone restores it by) agrees with."""
    walk = list(allocator._allocated)
    assert sorted(allocator._walk, key=allocator._walk.__getitem__) == walk
    return walk


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.integers(0, 3), _cow_ops),
            st.tuples(st.integers(0, 3), st.just(("clone",))),
            st.tuples(st.integers(0, 3), st.just(("read",))),
        ),
        max_size=40,
    ),
    st.sampled_from([1, 3, 1024]),
)
def test_a_pending_clone_read_late_is_the_allocator_as_it_was_when_cloned(
    steps: list[tuple[int, tuple[Any, ...]]], limit: int
) -> None:
    """Clones left pending while their original changes (past the undo log's limit, which
    rebuilds every pending clone at once), read at random points: each is exactly an allocator
    replayed from scratch, walk order too; an eager copy taken at clone time agrees."""
    allocators = [Allocator(_COW_CONFIGS[0])]
    histories: list[list[tuple[Any, ...]]] = [[]]
    with mock.patch.object(UndoLog, "MIN_LIMIT", limit):
        for who, op in steps:
            index = who % len(allocators)
            if op == ("clone",):
                allocators.append(allocators[index].clone())
                histories.append(list(histories[index]))
            elif op == ("read",):
                assert _walk(allocators[index]) == _walk(replayed(histories[index]))
            else:
                cow_apply(allocators[index], op)
                histories[index].append(op)
        for allocator, history in zip(allocators, histories, strict=True):
            assert_same_as_replayed(allocator, history)
            assert _walk(allocator) == _walk(replayed(history))


def test_a_dropped_pending_clone_stops_the_recording() -> None:
    """A group transition's saved allocator, dropped unread: the original records nothing more
    and holds no old containers."""
    original = replayed(_COW_BASE)
    saved = original.clone()
    cow_apply(original, ("unassign", "s1", None, [], ""))
    assert original._undo is not None and original._undo.entries
    del saved
    cow_apply(original, ("unassign", "s2", None, [], ""))
    assert original._undo.entries == []
    assert all(table._undo is None for table in original._tables())
    assert_same_as_replayed(
        original, _COW_BASE + [("unassign", "s1", None, [], ""), ("unassign", "s2", None, [], "")]
    )


def test_a_pending_clone_given_an_attribute_keeps_it() -> None:
    """Setting an attribute first (a pool order) rebuilds the clone before, not over, it."""
    original = replayed(_COW_BASE)
    twin = original.clone()
    order = shuffled_pool_order(1)
    twin._pool_order = order
    assert twin._pool_order is order
    assert type(twin) is Allocator
    assert_same_as_replayed(twin, _COW_BASE)


def test_the_saved_allocator_of_a_failed_transition_is_the_one_before_it() -> None:
    """The clone read after the original was changed and dropped (a failed group transition
    puts its saved allocator back): the state before, walk order and all."""
    original = replayed(_COW_BASE)
    walk = _walk(original)
    saved = original.clone()
    for op in [
        ("unassign", "s1", None, [], ""),
        ("unassign", "s2", None, [], ""),
        ("assign", "s1", "10.0.1.2", TCP80, "j"),
        ("assign", "w", "10.0.0.253", [], ""),  # re-assigned as it was: walked last
    ]:
        cow_apply(original, op)
    del original
    assert _walk(saved) == walk
    assert_same_as_replayed(saved, _COW_BASE)


def test_large_pool_allocates_lazily_and_densely() -> None:
    allocator = Allocator([Pool("big", ["10.0.0.0/16"], avoid_buggy_ips=True)])
    got = [allocator.allocate(f"s{i}", {}, "ipv4", [], "", "")[0] for i in range(600)]
    assert got[:3] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert "10.0.1.0" not in got and "10.0.0.255" not in got
    assert got[254] == "10.0.1.1"
    allocator.unassign("s100")
    assert allocator.allocate("again", {}, "ipv4", [], "", "") == [got[100]]


# --- property: the simulated pick is always one of the enumerated outcomes ---------------------

_CIDRS = ["10.0.0.0/30", "10.0.0.0/31", "10.0.0.4/31", "10.0.1.0/31", "1000::/127", "10.0.0.254/31"]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Pool], list[tuple[Any, ...]], int]:
    pools = []
    for index in range(draw(st.integers(1, 4))):
        pools.append(
            Pool(
                f"p{index}",
                draw(st.lists(st.sampled_from(_CIDRS), min_size=1, max_size=2, unique=True)),
                auto_assign=draw(st.booleans()),
                avoid_buggy_ips=draw(st.booleans()),
                namespaces=draw(st.sampled_from([[], ["a"], ["b"]])),
                priority=draw(st.sampled_from([0, 0, 1, 2])),
            )
        )
    step = st.tuples(
        st.sampled_from(["allocate", "allocate", "unassign", "from_pool"]),
        st.sampled_from(["a/s1", "a/s2", "b/s3", "b/s4", "c/s5"]),
        st.sampled_from(["ipv4", "ipv4", "ipv6", "dual"]),
        st.sampled_from(["SingleStack", "PreferDualStack", "RequireDualStack"]),
        st.sampled_from(["", "k", "j"]),
        st.sampled_from(["", "sel"]),
        st.sampled_from([[], TCP80, TCP443, DNS_UDP]),
        st.sampled_from([p.name for p in pools]),
    )
    return pools, draw(st.lists(step, min_size=1, max_size=12)), draw(st.integers(0, 2**16))


def possible_and_actual(
    allocator: Allocator, step: tuple[Any, ...]
) -> tuple[set[Outcome], Outcome]:
    """What the enumerator allows for one step, then what the seeded simulation did."""
    action, key, family, policy, sharing, backend, ports, pool_name = step
    manifest = svc(key.split("/")[0], ipFamilyPolicy=policy)
    args = (key, manifest, family, ports, sharing, backend)
    before = allocator.snapshot()
    if action == "allocate":
        possible = allocator.possible_allocate_outcomes(AllocationRequest(*args))
    else:
        request = AllocationRequest(*args, pool_name=pool_name)
        possible = allocator.possible_allocate_from_pool_outcomes(request)
    assert allocator.snapshot() == before
    try:
        if action == "allocate":
            ips = allocator.allocate(*args)
        else:
            ips = allocator.allocate_from_pool(*args[:3], pool_name, *args[3:])
    except AllocationError as error:
        assert allocator.snapshot() == before
        return possible, Outcome((), None, error.kind)
    return possible, Outcome(tuple(ips), allocator.pool(key))


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.sampled_from(["0.14.8", "0.14", "0.15"]))
def test_simulated_pick_is_always_an_enumerated_outcome(
    scenario: tuple[list[Pool], list[tuple[Any, ...]], int], version: str
) -> None:
    pools, steps, seed = scenario
    allocator = Allocator(pools, pool_order=shuffled_pool_order(seed), version=version)
    for step in steps:
        if step[0] == "unassign":
            allocator.unassign(step[1])
            continue
        possible, actual = possible_and_actual(allocator, step)
        assert actual in possible


def observed_over_seeds(allocator: Allocator, *args: Any) -> set[Outcome]:
    """Outcomes of `allocate` on clones of the allocator, under 200 seeded Go-map orders."""
    seen = set()
    for seed in range(200):
        twin = allocator.clone()
        twin._pool_order = shuffled_pool_order(seed)
        try:
            seen.add(Outcome(tuple(twin.allocate(*args)), twin.pool(args[0])))
        except AllocationError as error:
            seen.add(Outcome((), None, error.kind))
    return seen


@pytest.mark.parametrize("version", ["0.14.8", "0.14", "0.15"])
def test_every_enumerated_outcome_happens_under_some_order(version: str) -> None:
    allocator = Allocator(
        version=version,
        pools=[
            Pool("a", ["10.0.0.0/30"]),
            Pool("b", ["10.0.0.0/31"]),
            Pool("c", ["10.0.1.0/30"], namespaces=["x"]),
            Pool("d", ["10.0.2.0/30"], namespaces=["x"]),
            Pool("e", ["10.0.0.2/31"], namespaces=["y"]),
        ],
    )
    allocator.assign("x/held", svc("x"), ["10.0.1.0"], TCP80, "k", "")
    allocator.assign("q/h0", svc("q"), ["10.0.0.0"], TCP80, "", "")
    allocator.assign("q/h1", svc("q"), ["10.0.0.1"], TCP80, "", "")
    # q/s lands on 10.0.0.2, which pool e (pinned to y) also owns: it may fail.
    assert allocator.possible_allocations(AllocationRequest("q/s", svc("q"), "ipv4")) == {
        ("10.0.0.2",),
        (),
    }
    for args in (
        ("z/s", svc("z"), "ipv4", [], "", ""),
        ("x/s", svc("x"), "ipv4", TCP443, "k", ""),
        ("q/s", svc("q"), "ipv4", TCP80, "", ""),
    ):
        possible = allocator.possible_allocate_outcomes(AllocationRequest(*args))
        assert observed_over_seeds(allocator, *args) == possible


# --- the v0.14.8 allocator (pool by pool) -------------------------------------------------------


def test_v014_tries_the_next_pool_when_assign_fails_in_one() -> None:
    pools = [
        Pool("open", ["10.0.0.0/30"]),
        Pool("team", ["10.0.0.0/30"], namespaces=["team"]),
        Pool("spare", ["10.9.0.0/30"]),
    ]
    order = lambda names: sorted(names, key=["team", "open", "spare"].index)
    v015 = Allocator(pools, pool_order=order)
    v014 = Allocator(pools, pool_order=order, version="0.14.8")
    # poolFor gives "team" (incompatible) for 10.0.0.0: v0.15 gives up, v0.14.8 moves on.
    refused(lambda: v015.allocate("x/s", svc("x"), "ipv4", [], "", ""), v015)
    assert v014.allocate("x/s", svc("x"), "ipv4", [], "", "") == ["10.9.0.0"]
    # Under other orders "open" may own 10.0.0.0 (success there) or "spare" comes first.
    assert v014.possible_allocations(AllocationRequest("x/t", svc("x"), "ipv4")) == {
        ("10.0.0.0",),
        ("10.9.0.1",),
    }


def test_v014_dual_stack_needs_both_families_whatever_the_policy() -> None:
    allocator = Allocator([Pool("v4", ["10.0.0.0/31"])], version="0.14.8")
    error = refused(lambda: allocator.allocate("s", PREFER_DUAL, "dual", [], "", ""), allocator)
    assert error.kind == ErrorKind.NO_AVAILABLE_IPS
    error = refused(
        lambda: allocator.allocate_from_pool("s", PREFER_DUAL, "dual", "v4", [], "", ""), allocator
    )
    assert str(error) == 'no available IPs in pool "v4" for dual IPFamily'


def test_v014_returns_dual_ips_in_the_pools_cidr_order() -> None:
    pools = [Pool("both", ["1000::/127", "10.0.0.0/31"])]
    assert Allocator(pools, version="0.14.8").allocate("s", REQUIRE_DUAL, "dual", [], "", "") == [
        "1000::",
        "10.0.0.0",
    ]
    assert Allocator(pools).allocate("s", REQUIRE_DUAL, "dual", [], "", "") == [
        "10.0.0.0",
        "1000::",
    ]


def test_v014_exhausted_pool_message_and_strict_family_check() -> None:
    allocator = Allocator(
        [Pool("v4", ["10.0.0.0/32"]), Pool("both", ["10.1.0.0/31", "1000::/127"])],
        version="0.14.8",
    )
    allocator.allocate_from_pool("a", {}, "ipv4", "v4", [], "", "")
    error = refused(
        lambda: allocator.allocate_from_pool("b", {}, "ipv4", "v4", [], "", ""), allocator
    )
    assert str(error) == 'no available IPs in pool "v4" for ipv4 IPFamily'
    allocator.allocate_from_pool("c", PREFER_DUAL, "ipv4", "both", [], "", "")
    error = refused(
        lambda: allocator.allocate_from_pool("c", PREFER_DUAL, "dual", "both", [], "", ""),
        allocator,
    )
    assert error.kind == ErrorKind.WRONG_FAMILY


def test_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version"):
        Allocator([], version="0.13")


def first_fit_by_brute_force(
    allocator: Allocator, pool: Pool, svc_key: str, ports: list[Port], sharing: str
) -> list[str | None]:
    """MetalLB's getIPFromCIDR, literally: every address of every CIDR, in order."""
    found: list[str | None] = []
    for network in pool.networks:
        hit = None
        for ip in network:
            if pool.avoid_buggy_ips and ip.version == 4 and int(ip) & 0xFF in (0, 255):
                continue
            try:
                probe = allocator.clone()
                probe.assign(svc_key, None, [str(ip)], ports, sharing, "")
            except AllocationError:
                continue
            hit = str(ip)
            break
        found.append(hit)
    return found


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 70),
            st.sampled_from(["", "k", "j"]),
            st.sampled_from([TCP80, TCP443, DNS_UDP, []]),
            st.booleans(),
        ),
        max_size=40,
    ),
    st.sampled_from(["", "k", "j"]),
    st.sampled_from([TCP80, TCP443, DNS_UDP, []]),
    st.booleans(),
)
def test_indexed_first_fit_matches_a_brute_force_scan(
    holds: list[tuple[int, str, list[Port], bool]],
    sharing: str,
    ports: list[Port],
    avoid: bool,
) -> None:
    pool = Pool("p", ["10.0.0.250/31", "10.0.0.252-10.0.1.10", "1000::/124"], avoid_buggy_ips=avoid)
    allocator = Allocator([Pool("all", ["10.0.0.0/16", "1000::/120"])])
    for index, (offset, key, held_ports, release) in enumerate(holds):
        ip = f"10.0.0.{240 + offset}" if offset < 16 else f"10.0.1.{offset - 16}"
        try:
            allocator.assign(f"h{index}", None, [ip], held_ports, key, "")
        except AllocationError:
            continue
        if release and index % 3 == 0:
            allocator.unassign(f"h{index // 2}")
    allocator.set_pools([Pool("all", ["10.0.0.0/16", "1000::/120"]), pool])
    expected = first_fit_by_brute_force(allocator, pool, "new", ports, sharing)
    request = _resolve(AllocationRequest("new", None, "ipv4", ports, sharing, ""))
    got = [allocator._first_fit(n, pool.avoid_buggy_ips, request) for n in pool.networks]
    assert [None if ip is None else str(ip) for ip in got] == expected


# --- the v0.14.9 allocator: PreferDualStack support (commit 5f648117d) ---------------------------


def test_v0149_best_pool_gives_up_where_v0148_tries_the_next_pool() -> None:
    pools = [
        Pool("open", ["10.0.0.0/30"]),
        Pool("team", ["10.0.0.0/30"], namespaces=["team"]),
        Pool("spare", ["10.9.0.0/30"]),
    ]
    order = lambda names: sorted(names, key=["team", "open", "spare"].index)
    v0149 = Allocator(pools, pool_order=order, version="0.14")
    refused(lambda: v0149.allocate("x/s", svc("x"), "ipv4", [], "", ""), v0149)


def test_v0149_prefer_dual_stack_falls_back_and_orders_ipv4_first() -> None:
    v0149 = Allocator([Pool("v4", ["10.0.0.0/31"])], version="0.14")
    assert v0149.allocate("s", PREFER_DUAL, "dual", [], "", "") == ["10.0.0.0"]
    pools = [Pool("both", ["1000::/127", "10.0.0.0/31"])]
    assert Allocator(pools, version="0.14").allocate("s", REQUIRE_DUAL, "dual", [], "", "") == [
        "10.0.0.0",
        "1000::",
    ]


def test_v0149_single_stack_prefer_dual_stack_gets_both_families() -> None:
    # v0.15.0 (PR #2726) aligns a single-stack Service to its family; v0.14.9 goes by the policy.
    pools = [Pool("both", ["10.1.0.0/31", "1000::/127"])]
    assert Allocator(pools, version="0.14").allocate("s", PREFER_DUAL, "ipv4", [], "", "") == [
        "10.1.0.0",
        "1000::",
    ]
    assert Allocator(pools, version="0.15").allocate("s", PREFER_DUAL, "ipv4", [], "", "") == [
        "10.1.0.0"
    ]
    v0149 = Allocator([Pool("v4", ["10.0.0.0/31"])], version="0.14")
    error = refused(lambda: v0149.allocate("s", REQUIRE_DUAL, "ipv4", [], "", ""), v0149)
    assert error.kind == ErrorKind.NO_AVAILABLE_IPS


def test_v0149_exhausted_pool_message_and_tolerant_family_check() -> None:
    allocator = Allocator(
        [Pool("v4", ["10.0.0.0/32"]), Pool("both", ["10.1.0.0/31", "1000::/127"])], version="0.14"
    )
    allocator.allocate_from_pool("a", {}, "ipv4", "v4", [], "", "")
    error = refused(
        lambda: allocator.allocate_from_pool("b", {}, "ipv4", "v4", [], "", ""), allocator
    )
    assert str(error) == "no available IPs in pool v4 for ipv4 IPFamily"
    allocator.allocate_from_pool("c", {}, "ipv4", "both", [], "", "")
    # a held IPv4 is kept for a PreferDualStack dual request (v0.14.9 tolerates it)
    assert allocator.allocate_from_pool("c", PREFER_DUAL, "dual", "both", [], "", "") == [
        "10.1.0.0"
    ]
    assert (
        allocator.allocate_from_pool_for_additional_family(
            "c", PREFER_DUAL, "10.1.0.0", "both", [], "", ""
        )
        == "1000::"
    )
