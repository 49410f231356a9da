"""Pools, label selectors and address parsing, as MetalLB's internal/config/config.go reads them."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from planner.errors import InputError, Origin
from planner.model.pools import Pool, PoolAddressError, parse_addresses, pools_from_objects
from planner.model.selectors import LabelSelector
from planner.objects import KubeObject, ObjectKey


def nets(*texts: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(t) for t in texts)


# --- addresses ---------------------------------------------------------------------------------


def test_cidr_host_bits_are_masked_like_go() -> None:
    assert parse_addresses("10.0.0.7/24") == nets("10.0.0.0/24")
    assert parse_addresses("1000::5/126") == nets("1000::4/126")


def test_range_is_summarised_into_cidrs_in_order() -> None:
    assert parse_addresses("10.0.0.1-10.0.0.6") == nets(
        "10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"
    )
    assert parse_addresses("10.0.0.0 - 10.0.0.255") == nets("10.0.0.0/24")
    assert parse_addresses("1000::-1000::3") == nets("1000::/126")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("10.0.0.0", 'invalid CIDR "10.0.0.0"'),
        ("10.0.0.0/33", 'invalid CIDR "10.0.0.0/33"'),
        ("banana/8", 'invalid CIDR "banana/8"'),
        (
            "10.0.0.9-10.0.0.1",
            'invalid IP range "10.0.0.9-10.0.0.1": start IP "10.0.0.9" is after the end IP "10.0.0.1"',
        ),
        ("10.0.0.x-10.0.0.1", 'invalid IP range "10.0.0.x-10.0.0.1": invalid start IP "10.0.0.x"'),
        ("10.0.0.1-", 'invalid IP range "10.0.0.1-": invalid end IP ""'),
        ("10.0.0.1-1000::1", "are of different families"),
    ],
)
def test_bad_addresses_are_refused(entry: str, message: str) -> None:
    with pytest.raises(PoolAddressError, match=message.replace("[", r"\[")):
        parse_addresses(entry)


# --- Pool ----------------------------------------------------------------------------------------


def test_pool_normalises_its_inputs() -> None:
    pool = Pool(
        "p", "10.0.0.0/31", namespaces=["a"], service_selectors=[{"matchLabels": {"x": "y"}}]
    )
    assert pool.cidrs == ("10.0.0.0/31",)
    assert pool.namespaces == ("a",)
    assert pool.service_selectors == (LabelSelector.of("x=y"),)
    assert pool.has_service_allocation is True
    assert hash(pool) == hash(
        Pool("p", ["10.0.0.0/31"], namespaces=("a",), service_selectors=["x=y"])
    )


def test_single_strings_are_not_split_into_characters() -> None:
    pool = Pool("p", "10.0.0.0/31", namespaces="team", service_selectors="app=web")
    assert (pool.namespaces, len(pool.service_selectors)) == (("team",), 1)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, False),
        ({"priority": 3}, True),
        ({"namespace_selectors": ["env=prod"]}, True),
        ({"has_service_allocation": True}, True),
        ({"namespaces": ["a"], "has_service_allocation": False}, False),
    ],
)
def test_service_allocation_flag(kwargs: dict[str, Any], expected: bool) -> None:
    assert Pool("p", ["10.0.0.0/31"], **kwargs).has_service_allocation is expected


def test_pool_contains_skips_buggy_ips_when_avoiding() -> None:
    plain = Pool("plain", ["10.0.0.0/24"])
    avoid = Pool("avoid", ["10.0.0.0/24", "1000::/120"], avoid_buggy_ips=True)
    for text, in_plain, in_avoid in (
        ("10.0.0.0", True, False),
        ("10.0.0.255", True, False),
        ("10.0.0.1", True, True),
        ("1000::ff", False, True),
    ):
        ip = ipaddress.ip_address(text)
        assert (plain.contains(ip), avoid.contains(ip)) == (in_plain, in_avoid)


def test_bad_cidr_in_a_pool_raises_value_error() -> None:
    with pytest.raises(ValueError, match="invalid CIDR"):
        Pool("p", ["10.0.0.0/99"])


# --- label selectors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ({}, {}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]},
            {"a": "2"},
            True,
        ),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        (
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]},
            {"a": "1"},
            False,
        ),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
        ("a=1,b!=2", {"a": "1"}, True),
        ("a=1,b!=2", {"a": "1", "b": "2"}, False),
        ("a in (1, 2),!c", {"a": "2"}, True),
        ("a notin (1),b", {"a": "3"}, False),
        ("a==1", {"a": "1"}, True),
    ],
)
def test_label_selector_semantics(selector: Any, labels: dict[str, str], matches: bool) -> None:
    assert LabelSelector.of(selector).matches(labels) is matches


@pytest.mark.parametrize(
    "selector",
    [
        {"matchExpressions": [{"key": "a", "operator": "In"}]},
        {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
        {"matchExpressions": [{"key": "a", "operator": "Near"}]},
        {"matchLabel": {"a": "1"}},
    ],
)
def test_invalid_label_selectors_are_refused(selector: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LabelSelector.of(selector)


# --- pools_from_objects ------------------------------------------------------------------------


def ipaddresspool(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": "metallb-system"},
        "spec": spec,
    }


def legacy_configmap(config: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "config", "namespace": "metallb-system"},
        "data": {"config": config},
    }


def test_ipaddresspool_defaults() -> None:
    [pool] = pools_from_objects(
        [ipaddresspool("web", addresses=["10.0.0.0/30", "10.0.1.1-10.0.1.2"])]
    )
    assert pool == Pool("web", ["10.0.0.0/30", "10.0.1.1-10.0.1.2"], has_service_allocation=False)
    assert (pool.auto_assign, pool.avoid_buggy_ips, pool.has_service_allocation) == (
        True,
        False,
        False,
    )


def test_ipaddresspool_with_service_allocation() -> None:
    spec = {
        "addresses": ["10.0.0.0/24"],
        "autoAssign": False,
        "avoidBuggyIPs": True,
        "serviceAllocation": {
            "priority": 10,
            "namespaces": ["shop"],
            "namespaceSelectors": [{"matchLabels": {"env": "prod"}}],
            "serviceSelectors": [{"matchExpressions": [{"key": "tier", "operator": "Exists"}]}],
        },
    }
    [pool] = pools_from_objects([ipaddresspool("prod", **spec)])
    assert (pool.auto_assign, pool.avoid_buggy_ips, pool.priority) == (False, True, 10)
    assert pool.namespaces == ("shop",)
    assert pool.namespace_selectors == (LabelSelector.of("env=prod"),)
    assert pool.service_selectors == (LabelSelector.of("tier"),)


def test_empty_service_allocation_still_counts() -> None:
    [pool] = pools_from_objects(
        [ipaddresspool("p", addresses=["10.0.0.0/24"], serviceAllocation={})]
    )
    assert pool.has_service_allocation is True


def test_legacy_configmap_and_address_pool_crd() -> None:
    config = """
address-pools:
- name: default
  protocol: layer2
  addresses: [192.168.1.240-192.168.1.250]
- name: manual
  protocol: bgp
  auto-assign: false
  avoid-buggy-ips: true
  addresses: [10.9.0.0/24]
"""
    legacy_crd = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "AddressPool",
        "metadata": {"name": "old"},
        "spec": {"protocol": "layer2", "addresses": ["10.8.0.0/30"]},
    }
    pools = pools_from_objects([legacy_configmap(config), legacy_crd])
    assert [p.name for p in pools] == ["default", "manual", "old"]
    assert (pools[1].auto_assign, pools[1].avoid_buggy_ips) == (False, True)
    assert pools[0].networks[0] == ipaddress.ip_network("192.168.1.240/29")


def test_unrelated_objects_are_ignored() -> None:
    objects = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "x"},
            "data": {"config": "a: 1"},
        },
        {"apiVersion": "example.com/v1", "kind": "IPAddressPool", "metadata": {"name": "y"}},
    ]
    assert pools_from_objects(objects) == []


@pytest.mark.parametrize(
    ("objects", "message"),
    [
        (
            [ipaddresspool("p", addresses=["10.0.0.0/24", "10.0.1.9-10.0.1.1"])],
            "IPAddressPool metallb-system/p: spec.addresses[1]: invalid IP range",
        ),
        (
            [ipaddresspool("p", addresses=["10.0.0.0/40"])],
            'spec.addresses[0]: invalid CIDR "10.0.0.0/40"',
        ),
        ([ipaddresspool("p", addresses=["10.0.0.1-1000::1"])], "different families"),
        ([ipaddresspool("p", addresses=[])], "spec.addresses: pool has no prefixes defined"),
        (
            [ipaddresspool("p", addresses=["10.0.0.0/24"], autoAssign="yes")],
            "spec.autoAssign: must be true or false",
        ),
        (
            [
                ipaddresspool("p", addresses=["10.0.0.0/24"]),
                ipaddresspool("p", addresses=["10.1.0.0/24"]),
            ],
            'duplicate definition of pool "p"',
        ),
        (
            [
                ipaddresspool("a", addresses=["10.0.0.0/24"]),
                ipaddresspool("b", addresses=["10.0.0.128/25"]),
            ],
            'overlaps with already defined CIDR "10.0.0.0/24"',
        ),
        (
            [
                ipaddresspool(
                    "p", addresses=["10.0.0.0/24"], serviceAllocation={"namespaces": ["a", "a"]}
                )
            ],
            "spec.serviceAllocation.namespaces: duplicate",
        ),
        (
            [
                ipaddresspool(
                    "p",
                    addresses=["10.0.0.0/24"],
                    serviceAllocation={
                        "serviceSelectors": [{"matchExpressions": [{"key": "a", "operator": "In"}]}]
                    },
                )
            ],
            "spec.serviceAllocation.serviceSelectors[0]: operator In needs at least one value",
        ),
        (
            [ipaddresspool("p", addresses=["10.0.0.0/24"], serviceAllocation={"priority": "high"})],
            "spec.serviceAllocation.priority: must be an integer",
        ),
        (
            [legacy_configmap("address-pools:\n- name: x\n  addresses: [10.0.0.0/24]\n")],
            "address-pools[0].protocol: missing protocol",
        ),
        ([legacy_configmap("address-pools: [\n")], "data.config: not valid YAML"),
    ],
)
def test_bad_pools_name_object_and_field(objects: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(InputError) as caught:
        pools_from_objects(objects)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_errors_carry_the_origin_of_a_kube_object() -> None:
    origin = Origin("pools.yaml", 1, 12)
    body = ipaddresspool("p", addresses=["nope"])
    obj = KubeObject(ObjectKey("IPAddressPool", "metallb-system", "p"), body, origin)
    with pytest.raises(InputError) as caught:
        pools_from_objects([obj])
    assert caught.value.origin == origin
    assert str(caught.value).startswith(
        "pools.yaml: document 2, line 12: IPAddressPool metallb-system/p"
    )
