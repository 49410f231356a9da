"""Allocation inputs from Service manifests, rule by rule (controller/service.go, k8salloc.go)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.errors import Origin, PlannerError
from planner.model.service import (
    FAMILIES,
    GROUP_ANNOTATION_PREFIX,
    AllocationInputs,
    ServiceInputError,
    allocation_inputs,
    backend_key,
    family,
    family_policy,
    ingress_ips,
    inputs_remembered,
    is_load_balancer,
    ports,
    requested_ips,
    requested_pool,
    sharing_key,
)
from planner.objects import svc_key_of


def service(annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    """A LoadBalancer Service manifest with the given annotations and spec fields."""
    body: dict[str, Any] = {"type": "LoadBalancer", "ports": [{"port": 53}]}
    body.update(spec)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "dns", "namespace": "ns", "annotations": annotations or {}},
        "spec": body,
    }


class TestSharingKey:
    def test_stable_annotation(self) -> None:
        assert sharing_key(service({"metallb.io/allow-shared-ip": "k"})) == "k"

    def test_deprecated_annotation_alone(self) -> None:
        assert sharing_key(service({"metallb.universe.tf/allow-shared-ip": "old"})) == "old"

    def test_stable_wins_over_deprecated(self) -> None:
        svc = service(
            {"metallb.io/allow-shared-ip": "new", "metallb.universe.tf/allow-shared-ip": "old"}
        )
        assert sharing_key(svc) == "new"

    def test_stable_key_present_but_empty_still_wins(self) -> None:
        svc = service(
            {"metallb.io/allow-shared-ip": "", "metallb.universe.tf/allow-shared-ip": "old"}
        )
        assert sharing_key(svc) == ""

    def test_absent_is_empty(self) -> None:
        assert sharing_key(service()) == ""


class TestBackendKey:
    def test_cluster_policy_is_empty(self) -> None:
        svc = service(externalTrafficPolicy="Cluster", selector={"app": "dns"})
        assert backend_key(svc) == ""

    def test_unset_policy_is_empty(self) -> None:
        assert backend_key(service(selector={"app": "dns"})) == ""

    def test_local_policy_renders_selector_sorted(self) -> None:
        svc = service(externalTrafficPolicy="Local", selector={"tier": "b", "app": "dns"})
        assert backend_key(svc) == "app=dns,tier=b"

    def test_local_without_selector_is_empty(self) -> None:
        assert backend_key(service(externalTrafficPolicy="Local")) == ""


class TestPorts:
    def test_protocol_defaults_to_tcp(self) -> None:
        svc = service(ports=[{"port": 53}, {"port": 53, "protocol": "UDP"}])
        assert [(p.proto, p.port) for p in ports(svc)] == [("TCP", 53), ("UDP", 53)]

    def test_missing_port_number_is_an_error(self) -> None:
        with pytest.raises(ServiceInputError, match=r"spec\.ports\[0\]\.port"):
            ports(service(ports=[{"protocol": "TCP"}]))

    def test_services_with_equal_ports_share_one_record_each(self) -> None:
        """Port records are frozen: one per (protocol, port) serves every Service."""
        first = ports(service(ports=[{"port": 53}, {"port": 53, "protocol": "UDP"}]))
        second = ports(service(ports=[{"port": 53, "protocol": "UDP"}, {"port": 53}]))
        assert first == second[::-1]
        assert first[0] is second[1] and first[1] is second[0]
        assert ports(service(ports=[{"port": 54}]))[0] not in first


class TestRequestedIPs:
    def test_none(self) -> None:
        assert requested_ips(service()) == ()

    def test_stable_annotation(self) -> None:
        svc = service({"metallb.io/loadBalancerIPs": "192.168.10.53"})
        assert requested_ips(svc) == ("192.168.10.53",)

    def test_deprecated_annotation(self) -> None:
        svc = service({"metallb.universe.tf/loadBalancerIPs": "10.0.0.1, fd00::1"})
        assert requested_ips(svc) == ("10.0.0.1", "fd00::1")

    def test_spec_load_balancer_ip(self) -> None:
        assert requested_ips(service(loadBalancerIP="10.0.0.9")) == ("10.0.0.9",)

    def test_ipv6_is_canonical(self) -> None:
        svc = service({"metallb.io/loadBalancerIPs": "FD00:0:0::0001"})
        assert requested_ips(svc) == ("fd00::1",)

    def test_ipv4_mapped_counts_as_ipv4(self) -> None:
        svc = service({"metallb.io/loadBalancerIPs": "::ffff:10.0.0.1"})
        assert requested_ips(svc) == ("10.0.0.1",)

    def test_annotation_and_spec_together_is_an_error(self) -> None:
        svc = service({"metallb.io/loadBalancerIPs": "10.0.0.1"}, loadBalancerIP="10.0.0.1")
        with pytest.raises(ServiceInputError) as err:
            requested_ips(svc)
        assert err.value.field == "spec.loadBalancerIP"
        assert "metallb.io/loadBalancerIPs" in err.value.message

    def test_invalid_ip_names_the_annotation(self) -> None:
        svc = service({"metallb.io/loadBalancerIPs": "10.0.0.300"})
        with pytest.raises(ServiceInputError, match="'10.0.0.300' is not a valid IP") as err:
            requested_ips(svc)
        assert err.value.field == "metadata.annotations.metallb.io/loadBalancerIPs"

    def test_invalid_spec_ip(self) -> None:
        with pytest.raises(ServiceInputError, match=r"spec\.loadBalancerIP"):
            requested_ips(service(loadBalancerIP="nope"))

    def test_more_than_two_ips(self) -> None:
        svc = service({"metallb.io/loadBalancerIPs": "10.0.0.1,fd00::1,10.0.0.2"})
        with pytest.raises(ServiceInputError, match="requests 3 IPs"):
            requested_ips(svc)

    def test_two_of_one_family(self) -> None:
        svc = service({"metallb.io/loadBalancerIPs": "10.0.0.1,10.0.0.2"})
        with pytest.raises(ServiceInputError, match="same family"):
            requested_ips(svc)


class TestRequestedPool:
    def test_both_prefixes_stable_wins(self) -> None:
        svc = service({"metallb.io/address-pool": "a", "metallb.universe.tf/address-pool": "b"})
        assert requested_pool(svc) == "a"

    def test_deprecated(self) -> None:
        assert requested_pool(service({"metallb.universe.tf/address-pool": "b"})) == "b"

    def test_none(self) -> None:
        assert requested_pool(service()) == ""


class TestFamily:
    def test_from_cluster_ips_dual(self) -> None:
        assert family(service(clusterIPs=["10.96.0.1", "fd00::1"])) == "dual"

    def test_from_cluster_ip_ipv6(self) -> None:
        assert family(service(clusterIP="fd00::10")) == "ipv6"

    def test_from_ip_families(self) -> None:
        assert family(service(ipFamilies=["IPv6"])) == "ipv6"
        assert family(service(ipFamilies=["IPv4", "IPv6"])) == "dual"

    def test_require_dual_stack_policy(self) -> None:
        assert family(service(ipFamilyPolicy="RequireDualStack")) == "dual"

    def test_from_live_object(self) -> None:
        live = service(clusterIPs=["fd00::10"])
        assert family(service(), live) == "ipv6"

    def test_cluster_ips_beat_live(self) -> None:
        assert family(service(clusterIPs=["10.96.0.1"]), service(clusterIPs=["fd00::1"])) == "ipv4"

    def test_default_ipv4(self) -> None:
        assert family(service()) == "ipv4"

    def test_policy_default_and_live(self) -> None:
        assert family_policy(service()) == "SingleStack"
        live = service(ipFamilyPolicy="PreferDualStack")
        assert family_policy(service(), live) == "PreferDualStack"

    def test_bad_policy(self) -> None:
        with pytest.raises(ServiceInputError, match="spec.ipFamilyPolicy"):
            family_policy(service(ipFamilyPolicy="Sometimes"))


class TestAllocationInputs:
    def test_all_fields(self) -> None:
        svc = service(
            {"metallb.io/allow-shared-ip": "dns", "metallb.io/loadBalancerIPs": "10.0.0.53"},
            externalTrafficPolicy="Local",
            selector={"app": "dns"},
            ports=[{"port": 53, "protocol": "UDP"}],
        )
        svc["metadata"]["labels"] = {"z": "1", "a": "2"}
        inputs = allocation_inputs(svc)
        assert inputs == AllocationInputs(
            svc_key="ns/dns",
            is_load_balancer=True,
            sharing_key="dns",
            backend_key="app=dns",
            ports=inputs.ports,
            requested_ips=("10.0.0.53",),
            requested_pool="",
            family="ipv4",
            family_policy="SingleStack",
            labels=(("a", "2"), ("z", "1")),
        )
        assert [(p.proto, p.port) for p in inputs.ports] == [("UDP", 53)]
        assert inputs.allocation_key == ("dns", "app=dns")

    def test_not_load_balancer(self) -> None:
        assert not allocation_inputs(service(type="ClusterIP")).is_load_balancer

    def test_error_is_a_planner_error_and_takes_an_origin(self) -> None:
        svc = service({"metallb.io/loadBalancerIPs": "bad"})
        with pytest.raises(PlannerError) as err:
            allocation_inputs(svc)
        assert isinstance(err.value, ServiceInputError)
        located = err.value.with_origin(Origin("dns.yaml", 1, 12))
        assert str(located).startswith("dns.yaml: document 2, line 12: metadata.annotations.")

    def test_ingress_ips(self) -> None:
        svc = service()
        svc["status"] = {"loadBalancer": {"ingress": [{"ip": "10.0.0.1", "ipMode": "VIP"}]}}
        assert ingress_ips(svc) == ("10.0.0.1",)
        assert ingress_ips(service()) == ()

    def test_group_prefix(self) -> None:
        assert GROUP_ANNOTATION_PREFIX == "shared-ip-planner.dev/"


@pytest.mark.parametrize(
    ("cluster_ips", "expected"),
    [
        (["10.0.0.1"], "ipv4"),
        (["255.255.255.255"], "ipv4"),
        (["fd00::1"], "ipv6"),
        (["::ffff:10.0.0.1"], "ipv6"),
        (["10.0.0.1", "fd00::1"], "dual"),
        (["010.0.0.1"], "cannot tell the IP family: '010.0.0.1' does not appear"),
        (["10.0.0.1."], "cannot tell the IP family: '10.0.0.1.' does not appear"),
        (["10.0.0.256"], "cannot tell the IP family: '10.0.0.256' does not appear"),
        (["10.0.0.1", "10.0.0.2"], "['10.0.0.1', '10.0.0.2'] is not one IP or two IPs"),
    ],
)
def test_the_family_of_cluster_ips_plain_ipv4_ones_without_a_parse(
    cluster_ips: list[str], expected: str
) -> None:
    """A single plain IPv4 cluster IP is told by its spelling; anything else is parsed, with
    the same families and the same errors."""
    svc = {"metadata": {"name": "a"}, "spec": {"clusterIPs": cluster_ips}}
    if " " not in expected:
        assert family(svc) == expected
        return
    with pytest.raises(PlannerError, match=re.escape(expected)):
        family(svc)


class TestInputsRemembered:
    """Within `inputs_remembered`, each (manifest, live, default family) is derived once, by
    identity; outside it, each call derives anew."""

    def test_the_same_objects_give_the_same_inputs_once(self) -> None:
        svc, live = (
            service({"metallb.io/allow-shared-ip": "k"}),
            service(ipFamilyPolicy="PreferDualStack"),
        )

        @inputs_remembered
        def twice() -> tuple[AllocationInputs, AllocationInputs]:
            return allocation_inputs(svc, live), allocation_inputs(svc, live)

        first, second = twice()
        assert first is second
        assert first == allocation_inputs(svc, live)
        assert first is not allocation_inputs(svc, live)  # outside: derived anew

    def test_each_live_object_and_family_apart(self) -> None:
        svc, live = service(), service(ipFamilyPolicy="PreferDualStack")

        @inputs_remembered
        def three() -> list[AllocationInputs]:
            return [
                allocation_inputs(svc),
                allocation_inputs(svc, live),
                allocation_inputs(svc, None, "ipv6"),
            ]

        alone, with_live, ipv6 = three()
        assert (alone.family_policy, alone.family) == ("SingleStack", "ipv4")
        assert with_live.family_policy == "PreferDualStack"
        assert ipv6.family == "ipv6"

    def test_by_identity_an_equal_copy_is_read_again(self) -> None:
        """A changed copy is another object: its own inputs, never the original's."""
        svc = service({"metallb.io/allow-shared-ip": "a"})
        copy = service({"metallb.io/allow-shared-ip": "b"})

        @inputs_remembered
        def both() -> tuple[str, str]:
            return allocation_inputs(svc).sharing_key, allocation_inputs(copy).sharing_key

        assert both() == ("a", "b")

    def test_a_bad_input_raises_every_time(self) -> None:
        bad = service(ipFamilyPolicy="Sometimes")

        @inputs_remembered
        def raised() -> int:
            count = 0
            for _ in range(2):
                with pytest.raises(ServiceInputError, match="spec.ipFamilyPolicy"):
                    allocation_inputs(bad)
                count += 1
            return count

        assert raised() == 2

    def test_a_nested_call_shares_the_outer_table(self) -> None:
        svc = service()

        @inputs_remembered
        def inner() -> AllocationInputs:
            return allocation_inputs(svc)

        @inputs_remembered
        def outer() -> tuple[AllocationInputs, AllocationInputs]:
            return allocation_inputs(svc), inner()

        first, nested = outer()
        assert first is nested
        assert inner() is not first  # a new outer call: a new table


# --- inputs read again in context from those read alone -------------------------------------

_CLUSTER_IPS = st.sampled_from([None, "10.96.0.1", "fd00::1", "None", "", "not-an-ip"])
_POLICIES = st.sampled_from([None, "SingleStack", "PreferDualStack", "RequireDualStack", "Often"])
_FAMILIES = st.sampled_from([None, [], ["IPv4"], ["IPv6"], ["IPv4", "IPv6"], ["IPX"]])
_REQUESTS = st.sampled_from([None, "10.0.0.1", "fd00::10", "10.0.0.1,fd00::10", "bad"])


@st.composite
def _context_manifest(draw: st.DrawFn) -> dict[str, Any]:
    """A Service stating any mix of what decides its family and its family policy."""
    spec: dict[str, Any] = {}
    for name, values in (
        ("clusterIP", _CLUSTER_IPS),
        ("ipFamilyPolicy", _POLICIES),
        ("ipFamilies", _FAMILIES),
        ("loadBalancerIP", st.sampled_from([None, "10.0.0.2", "fd00::2"])),
    ):
        value = draw(values)
        if value is not None:
            spec[name] = value
    if draw(st.booleans()):
        spec["clusterIPs"] = [spec.get("clusterIP", "10.96.0.2")]
    request = draw(_REQUESTS)
    annotations = {} if request is None else {"metallb.io/loadBalancerIPs": request}
    return service(annotations, **spec)


def _outcome(read: Any) -> AllocationInputs | str:
    try:
        return read()  # type: ignore[no-any-return]
    except ServiceInputError as err:
        return f"ServiceInputError: {err}"


@given(_context_manifest(), st.one_of(st.none(), _context_manifest()), st.sampled_from(FAMILIES))
def test_inputs_read_again_from_those_read_alone_equal_a_whole_derivation(
    svc: dict[str, Any], live: dict[str, Any] | None, default_family: str
) -> None:
    """`read_alone` derives only the family and its policy again: the result (or the error)
    is the whole derivation's, and the very record read alone when the context changes
    neither."""
    try:
        alone = allocation_inputs(svc)
    except ServiceInputError:
        return  # nothing read alone to start from
    whole = _outcome(lambda: allocation_inputs(svc, live, default_family))
    again = _outcome(lambda: allocation_inputs(svc, live, default_family, read_alone=alone))
    assert again == whole
    if isinstance(again, AllocationInputs) and again == alone:
        assert again is alone


def test_inputs_read_again_from_a_stamped_copy_read_alone() -> None:
    """The inputs of a copy that differs only where no input reads (the group-wide
    annotations) serve the original: only the live object's family is taken."""
    desired = service({"metallb.io/allow-shared-ip": "k"})
    stamped = service({"metallb.io/allow-shared-ip": "k", GROUP_ANNOTATION_PREFIX + "group": "g"})
    live = service(clusterIPs=["fd00::1"], ipFamilyPolicy="SingleStack")
    again = allocation_inputs(stamped, live, read_alone=allocation_inputs(desired))
    assert again == allocation_inputs(stamped, live)
    assert (again.family, again.sharing_key) == ("ipv6", "k")


# --- the whole derivation against its inputs read one by one --------------------------------

_ANNOTATION_VALUES = st.sampled_from([None, "", "k", "10.0.0.1", "fd00::10,10.0.0.1", "pool-a"])
_PORTS = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"port": st.sampled_from([53, 443, "80", True])},
            optional={"protocol": st.sampled_from(["TCP", "UDP", ""])},
        ),
        st.just("53"),
    ),
    max_size=3,
)


@st.composite
def _any_inputs_manifest(draw: st.DrawFn) -> dict[str, Any]:
    """A Service stating any mix of the fields the allocation inputs read, some of them bad."""
    svc = draw(_context_manifest())
    spec = svc["spec"]
    for name, values in (
        ("type", st.sampled_from([None, "LoadBalancer", "ClusterIP"])),
        ("externalTrafficPolicy", st.sampled_from([None, "Cluster", "Local"])),
        ("selector", st.sampled_from([None, {}, {"app": "dns", "tier": "edge"}])),
        ("ports", st.one_of(st.none(), _PORTS)),
    ):
        value = draw(values)
        spec.pop(name, None)
        if value is not None:
            spec[name] = value
    annotations = svc["metadata"]["annotations"]
    for prefix in ("metallb.io/", "metallb.universe.tf/"):
        for name in ("allow-shared-ip", "address-pool", "loadBalancerIPs"):
            value = draw(_ANNOTATION_VALUES)
            if value is not None:
                annotations[prefix + name] = value
    if draw(st.booleans()):
        svc["metadata"]["labels"] = {"b": "2", "a": draw(st.sampled_from(["1", 1]))}
    return svc


@given(_any_inputs_manifest(), st.one_of(st.none(), _context_manifest()), st.sampled_from(FAMILIES))
def test_inputs_derived_at_once_equal_each_input_read_alone(
    svc: dict[str, Any], live: dict[str, Any] | None, default_family: str
) -> None:
    """The derivation reads each section once for all its inputs: the record (or the first
    error, in the order of the record's fields) is the one the public readers give one by one."""

    def one_by_one() -> AllocationInputs:
        labels = svc["metadata"].get("labels") or {}
        return AllocationInputs(
            svc_key=svc_key_of(svc),
            is_load_balancer=is_load_balancer(svc),
            sharing_key=sharing_key(svc),
            backend_key=backend_key(svc),
            ports=ports(svc),
            requested_ips=requested_ips(svc),
            requested_pool=requested_pool(svc),
            family=family(svc, live, default_family),
            family_policy=family_policy(svc, live),
            labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        )

    expected = _outcome(one_by_one)
    assert _outcome(lambda: allocation_inputs(svc, live, default_family)) == expected
