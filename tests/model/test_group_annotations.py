"""The group-wide annotations: which Services form a group, the id, members and digest formats."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import subprocess
import sys
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from planner.errors import InputError
from planner.model.group_annotations import (
    DIGEST_FORMAT,
    DIGEST_LENGTH,
    GROUP_ANNOTATION,
    GROUP_ANNOTATION_KEYS,
    GROUP_DIGEST_ANNOTATION,
    GROUP_MEMBERS_ANNOTATION,
    canonical_inputs,
    desired_sharing_groups,
    group_annotations,
    stamp_group_annotations,
    stamped_services,
)
from planner.model.service import GROUP_ANNOTATION_PREFIX, AllocationInputs, allocation_inputs

REPO = Path(__file__).resolve().parents[2]

# Kubernetes qualified names: an optional DNS-subdomain prefix and "/", then a name of at most 63
# characters, alphanumeric at both ends with "-", "_", "." inside.
QUALIFIED_NAME = re.compile(
    r"^(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)


def service(
    name: str,
    key: str = "k",
    ips: str = "",
    pool: str = "",
    namespace: str = "apps",
    port: int = 80,
    protocol: str = "TCP",
    local: bool = False,
    kind: str = "LoadBalancer",
) -> dict:
    annotations = {"metallb.io/allow-shared-ip": key} if key else {}
    if ips:
        annotations["metallb.io/loadBalancerIPs"] = ips
    if pool:
        annotations["metallb.io/address-pool"] = pool
    spec: dict = {"type": kind, "ports": [{"port": port, "protocol": protocol}]}
    if local:
        spec["externalTrafficPolicy"] = "Local"
        spec["selector"] = {"app": name}
    metadata = {"name": name, "namespace": namespace, "annotations": annotations}
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def test_requested_ip_group_gets_three_identical_annotations() -> None:
    services = [service("b", ips="10.0.0.1", port=53), service("a", ips="10.0.0.1", port=54)]
    result = group_annotations(services)
    assert list(result) == ["apps/a", "apps/b"]
    assert result["apps/a"] == result["apps/b"]
    assert result["apps/a"][GROUP_ANNOTATION] == "k@10.0.0.1"
    assert result["apps/a"][GROUP_MEMBERS_ANNOTATION] == "apps/a,apps/b"
    assert re.fullmatch(r"[0-9a-f]{32}", result["apps/a"][GROUP_DIGEST_ANNOTATION])


def test_keys_are_qualified_names_under_the_prefix_and_values_strings() -> None:
    result = group_annotations([service("a", ips="10.0.0.1"), service("b", ips="10.0.0.1")])
    for stamped in result.values():
        assert tuple(stamped) == GROUP_ANNOTATION_KEYS
        for key, value in stamped.items():
            assert key.startswith(GROUP_ANNOTATION_PREFIX) and QUALIFIED_NAME.match(key)
            assert isinstance(value, str) and value


def test_pool_groups_are_per_sharing_key_and_pool() -> None:
    services = [
        service("a", pool="lan"),
        service("b", pool="lan", port=81),
        service("c", pool="wan"),
        service("d", key="other", pool="lan"),
        service("e"),
        service("f", port=82),
    ]
    groups = {g.group_id: g.members for g in desired_sharing_groups(services)}
    assert groups == {"k@pool/*": ("apps/e", "apps/f"), "k@pool/lan": ("apps/a", "apps/b")}


def test_overlapping_requested_ips_join_one_group() -> None:
    services = [
        service("a", ips="10.0.0.1"),
        service("b", ips="2001:db8::1,10.0.0.1", port=81),
        service("c", ips="2001:db8::1", port=82),
        service("d", ips="10.0.0.9", port=83),
        service("e", key="other", ips="10.0.0.1", port=84),
    ]
    (group,) = desired_sharing_groups(services)
    assert group.group_id == "k@10.0.0.1,2001:db8::1"
    assert group.members == ("apps/a", "apps/b", "apps/c")
    assert group.requested_ips == ("10.0.0.1", "2001:db8::1")


def test_services_that_share_with_nobody_get_nothing() -> None:
    services = [
        service("alone", ips="10.0.0.1"),
        service("nokey", key="", ips="10.0.0.2"),
        service("nokey2", key="", ips="10.0.0.2", port=81),
        service("cluster-ip", ips="10.0.0.3", kind="ClusterIP"),
        service("lb", ips="10.0.0.3", port=81),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
    ]
    assert group_annotations(services) == {}


def test_requested_ips_win_over_the_pool_for_grouping() -> None:
    services = [service("a", ips="10.0.0.1", pool="lan"), service("b", pool="lan")]
    assert desired_sharing_groups(services) == []


def test_a_service_defined_twice_is_an_error() -> None:
    with pytest.raises(InputError, match="apps/a is defined more than once"):
        group_annotations([service("a"), service("a", port=81)])


def test_canonical_serialisation_is_the_documented_one() -> None:
    a = service("a", key="dns-é", ips="fd00::1,10.0.0.1", port=53, protocol="UDP", local=True)
    a["spec"]["ports"].append({"port": 53})
    b = service("b", key="dns-é", ips="10.0.0.1", pool="lan")
    payload = canonical_inputs([allocation_inputs(b), allocation_inputs(a)])
    assert payload == (
        b'["shared-ip-planner.dev/group-digest/v1",['
        b'["apps/a","dns-\\u00e9","app=a",[["TCP",53],["UDP",53]],["10.0.0.1","fd00::1"],"",'
        b'"ipv4","SingleStack"],'
        b'["apps/b","dns-\\u00e9","",[["TCP",80]],["10.0.0.1"],"lan","ipv4","SingleStack"]]]'
    )
    (group,) = desired_sharing_groups([a, b])
    assert group.digest == hashlib.sha256(payload).hexdigest()[:DIGEST_LENGTH]
    assert json.loads(payload)[0] == DIGEST_FORMAT


def test_digest_ignores_the_order_ports_and_ips_are_written_in() -> None:
    a = service("a", ips="10.0.0.1,fd00::1")
    a["spec"]["ports"] = [{"port": 443}, {"port": 80}]
    b = copy.deepcopy(a)
    b["metadata"]["annotations"]["metallb.io/loadBalancerIPs"] = "fd00::1,10.0.0.1"
    b["spec"]["ports"] = [{"port": 80}, {"port": 443}]
    other = service("o", ips="10.0.0.1", port=8080)
    assert group_annotations([a, other]) == group_annotations([b, other])


@given(st.lists(st.ip_addresses(), max_size=6))
def test_requested_ips_are_serialised_once_each_v4_first_numerically(
    addresses: list[IPv4Address | IPv6Address],
) -> None:
    """As a reference sort of the parsed addresses gives them (the code sorts the canonical
    texts allocation_inputs writes, without writing the parsed addresses back)."""
    inputs = AllocationInputs(
        "ns/a", True, "k", "", (), tuple(map(str, addresses)), "", "ipv4", "SingleStack", ()
    )
    member = json.loads(canonical_inputs([inputs]))[1][0]
    reference = sorted(set(addresses), key=lambda address: (address.version, address))
    assert member[4] == [str(address) for address in reference]


EDITS = {
    "backend key (Local)": lambda s: s["spec"].update(
        externalTrafficPolicy="Local", selector={"app": "x"}
    ),
    "port": lambda s: s["spec"]["ports"].append({"port": 9999, "protocol": "UDP"}),
    "family policy": lambda s: s["spec"].update(ipFamilyPolicy="PreferDualStack"),
    "ip families": lambda s: s["spec"].update(ipFamilies=["IPv4", "IPv6"]),
}


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(min_value=2, max_value=5),
    pick=st.integers(min_value=0, max_value=4),
    edit=st.sampled_from(sorted(EDITS)),
    by_ip=st.booleans(),
)
def test_any_members_input_change_changes_every_members_digest(
    size: int, pick: int, edit: str, by_ip: bool
) -> None:
    # A pool group member that moves to Local leaves the group (another backend key can never
    # share its IP): test_pool_members_with_different_backend_keys_are_separate_groups.
    assume(by_ip or edit != "backend key (Local)")
    ips = "10.0.0.1" if by_ip else ""
    services = [service(f"s{i}", ips=ips, pool="lan", port=1000 + i) for i in range(size)]
    before = group_annotations(services)
    edited = copy.deepcopy(services)
    EDITS[edit](edited[pick % size])
    after = group_annotations(edited)
    assert list(after) == list(before)
    assert len({a[GROUP_DIGEST_ANNOTATION] for a in after.values()}) == 1
    for member, stamped in after.items():
        assert stamped[GROUP_DIGEST_ANNOTATION] != before[member][GROUP_DIGEST_ANNOTATION]
        assert stamped[GROUP_ANNOTATION] == before[member][GROUP_ANNOTATION]


def test_whole_group_key_change_moves_every_member_to_a_new_id_and_digest() -> None:
    services = [service(n, key="old", ips="10.0.0.1", port=p) for n, p in (("a", 1), ("b", 2))]
    moved = [service(n, key="new", ips="10.0.0.1", port=p) for n, p in (("a", 1), ("b", 2))]
    before, after = group_annotations(services), group_annotations(moved)
    for member in ("apps/a", "apps/b"):
        assert after[member][GROUP_ANNOTATION] == "new@10.0.0.1"
        assert after[member][GROUP_DIGEST_ANNOTATION] != before[member][GROUP_DIGEST_ANNOTATION]


def test_a_member_leaving_changes_the_others_and_loses_its_own() -> None:
    services = [service(n, ips="10.0.0.1", port=p) for n, p in (("a", 1), ("b", 2), ("c", 3))]
    before = group_annotations(services)
    services[2]["metadata"]["annotations"]["metallb.io/allow-shared-ip"] = "elsewhere"
    after = group_annotations(services)
    assert list(after) == ["apps/a", "apps/b"]
    assert after["apps/a"][GROUP_MEMBERS_ANNOTATION] == "apps/a,apps/b"
    assert after["apps/a"][GROUP_DIGEST_ANNOTATION] != before["apps/a"][GROUP_DIGEST_ANNOTATION]


@settings(max_examples=30, deadline=None)
@given(st.permutations(list(range(6))))
def test_input_order_does_not_matter(order: list[int]) -> None:
    services = [
        service(f"s{i}", ips="10.0.0.1" if i < 3 else "", pool="" if i < 5 else "lan", port=i)
        for i in range(6)
    ]
    shuffled = [services[i] for i in order]
    assert json.dumps(group_annotations(shuffled)) == json.dumps(group_annotations(services))


def test_same_bytes_in_a_fresh_interpreter_with_another_hash_seed() -> None:
    script = (
        "import json, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from tests.model.test_group_annotations import service\n"
        "from planner.model.group_annotations import group_annotations\n"
        "s = [service('b', ips='10.0.0.1', port=1), service('a', ips='10.0.0.1', port=2),\n"
        "     service('c', pool='lan'), service('d', pool='lan', port=8443)]\n"
        "print(json.dumps(group_annotations(s)))\n"
    )
    outputs = []
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, "-c", script, str(REPO)], env=env, capture_output=True, check=True
        )
        outputs.append(run.stdout)
    assert outputs[0] == outputs[1]
    assert b"k@pool/lan" in outputs[0]


def test_stamp_sets_copies_and_removes_stale_annotations() -> None:
    members = [service("a", ips="10.0.0.1", port=1), service("b", ips="10.0.0.1", port=2)]
    stale = service("c", key="")
    stale["metadata"]["annotations"] = {GROUP_ANNOTATION: "old", "team": "x"}
    only_ours = service("d", key="")
    only_ours["metadata"]["annotations"] = {GROUP_DIGEST_ANNOTATION: "0" * 32}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}
    inputs = [*members, stale, only_ours, config]
    pristine = copy.deepcopy(inputs)
    stamped = stamp_group_annotations(inputs)
    assert inputs == pristine
    wanted = group_annotations(inputs)
    for manifest in stamped[:2]:
        annotations = manifest["metadata"]["annotations"]
        key = f"apps/{manifest['metadata']['name']}"
        assert {k: annotations[k] for k in GROUP_ANNOTATION_KEYS} == wanted[key]
    assert stamped[2]["metadata"]["annotations"] == {"team": "x"}
    assert "annotations" not in stamped[3]["metadata"]
    assert stamped[4] == config
    assert stamp_group_annotations(stamped) == stamped


def test_stamped_services_give_the_stamp_and_the_inputs_it_read_in_order() -> None:
    """Each manifest's inputs read alone, aligned with the copies: None for what is no Service
    or no Service MetalLB (`--lb-class`) is handed."""
    members = [service("a", ips="10.0.0.1", port=1), service("b", ips="10.0.0.1", port=2)]
    other_class = service("c")
    other_class["spec"]["loadBalancerClass"] = "other"
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}
    manifests = [*members, other_class, config]
    stamped = stamped_services(manifests)
    assert stamped.manifests == stamp_group_annotations(manifests)
    assert stamped.inputs == [
        allocation_inputs(members[0]),
        allocation_inputs(members[1]),
        None,
        None,
    ]
    assert stamped_services(manifests, lb_class=None).inputs[2] == allocation_inputs(other_class)


def test_worked_example_in_the_docs_matches_the_code() -> None:
    docs = (REPO / "docs" / "annotations.md").read_text()
    block = docs.split("<!-- worked-example", 1)[1].split("```\n", 2)[1]
    lines = dict(
        line.split(" = " if line.startswith("P = ") else ": ", 1) for line in block.splitlines()
    )
    manifests = list(
        yaml.safe_load_all((REPO / "samples/seed-dns-local/desired/dns.yaml").read_text())
    )
    (group,) = desired_sharing_groups(manifests)
    assert lines.pop("P").encode("ascii") == canonical_inputs(group.inputs)
    assert lines == group.annotations()


@st.composite
def _random_services(draw: st.DrawFn) -> list[dict]:
    count = draw(st.integers(min_value=0, max_value=10))
    result = []
    for i in range(count):
        ips = draw(st.sampled_from(["", "10.0.0.1", "10.0.0.2", "fd00::1", "10.0.0.1,fd00::1"]))
        result.append(
            service(
                f"s{i}",
                key=draw(st.sampled_from(["", "a", "b"])),
                ips=ips,
                pool=draw(st.sampled_from(["", "lan"])),
                port=i,
                kind=draw(st.sampled_from(["LoadBalancer", "LoadBalancer", "ClusterIP"])),
            )
        )
    return result


@settings(max_examples=80, deadline=None)
@given(_random_services())
def test_groups_are_consistent_partitions(services: list[dict]) -> None:
    result = group_annotations(services)
    inputs = {i.svc_key: i for i in map(allocation_inputs, services)}
    for key, stamped in result.items():
        members = stamped[GROUP_MEMBERS_ANNOTATION].split(",")
        assert key in members and len(members) >= 2 and members == sorted(members)
        assert all(result[m] == stamped for m in members)
        assert {inputs[m].sharing_key for m in members} == {inputs[key].sharing_key}
        assert all(inputs[m].is_load_balancer for m in members)
    candidates = [i for i in inputs.values() if i.is_load_balancer and i.sharing_key]
    for x in candidates:
        for y in candidates:
            same_key = x.svc_key != y.svc_key and x.sharing_key == y.sharing_key
            overlap = set(x.requested_ips) & set(y.requested_ips)
            same_pool = not x.requested_ips and not y.requested_ips
            if same_key and (overlap or (same_pool and x.requested_pool == y.requested_pool)):
                assert result[x.svc_key] == result[y.svc_key]
    ungrouped = {i.svc_key for i in inputs.values()} - set(result)
    assert all(
        key not in stamped[GROUP_MEMBERS_ANNOTATION].split(",")
        for key in ungrouped
        for stamped in result.values()
    )


def test_pool_members_with_different_backend_keys_are_separate_groups() -> None:
    """They can never share an IP (MetalLB places them apart), so grouping them would be wrong."""

    def svc(name: str, local: bool, app: str) -> dict:
        spec = {"type": "LoadBalancer", "selector": {"app": app}, "ports": [{"port": 80}]}
        if local:
            spec["externalTrafficPolicy"] = "Local"
        annotations = {"metallb.io/allow-shared-ip": "g"}
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": "ns", "annotations": annotations},
            "spec": spec,
        }

    services = [
        svc("a", True, "x"),
        svc("b", False, "x"),
        svc("c", False, "x"),
        svc("d", True, "x"),
    ]
    groups = desired_sharing_groups(services)
    assert [g.members for g in groups] == [("ns/b", "ns/c"), ("ns/a", "ns/d")]
    assert [g.group_id for g in groups] == ["g@pool/*/backend=", "g@pool/*/backend=app=x"]
