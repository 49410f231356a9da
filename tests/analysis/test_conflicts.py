"""Static conflicts and warnings, each from small real manifests read from files (with origins)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.analysis.conflicts import static_conflicts
from planner.analysis.records import Conflict
from planner.model.allocator import AllocationError, Allocator
from planner.model.pools import Pool, pools_from_objects
from planner.model.service import ServiceInputError, allocation_inputs
from planner.objects import KubeObject, ObjectKey
from planner.sources.desired import load_desired

POOL_LAN = {
    "apiVersion": "metallb.io/v1beta1",
    "kind": "IPAddressPool",
    "metadata": {"name": "lan", "namespace": "metallb-system"},
    "spec": {"addresses": ["192.168.10.0/24", "fd00:10::/120"]},
}


def service(
    name: str,
    namespace: str = "apps",
    *,
    annotations: dict[str, str] | None = None,
    ports: tuple[tuple[str, int], ...] = (("TCP", 80),),
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A LoadBalancer Service manifest as a repo would hold it."""
    body: dict[str, Any] = {
        "type": "LoadBalancer",
        "selector": {"app": name},
        "ports": [{"name": f"p{port}", "port": port, "protocol": proto} for proto, port in ports],
    }
    body.update(spec)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": body}


def pool(name: str, *addresses: str, **spec: Any) -> dict[str, Any]:
    """An IPAddressPool manifest."""
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": "metallb-system"},
        "spec": {"addresses": list(addresses), **spec},
    }


def namespace(name: str, **labels: str) -> dict[str, Any]:
    """A Namespace manifest with labels."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def conflicts_of(tmp_path: Path, *manifests: dict[str, Any]) -> tuple[Conflict, ...]:
    """Write the manifests as one multi-document file, load it as the planner does, check it."""
    path = tmp_path / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(manifests, sort_keys=False))
    state = load_desired([str(path)])
    services = {obj.key.svc_key: obj for obj in state.objects if obj.is_service}
    return static_conflicts(services, pools_from_objects(state.pools), state.namespaces)


def only(conflicts: tuple[Conflict, ...], severity: str = "error") -> Conflict:
    """The single conflict of a severity (fails when there are none or several)."""
    found = [c for c in conflicts if c.severity == severity]
    assert len(found) == 1, found
    return found[0]


def origin_of(tmp_path: Path, document: int) -> str:
    """How the loader names document N (1-based) of the test file; each starts at `apiVersion`."""
    text = (tmp_path / "manifests.yaml").read_text().split("\n")
    starts = [i + 1 for i, line in enumerate(text) if line.startswith("apiVersion")]
    return f"{tmp_path / 'manifests.yaml'}: document {document}, line {starts[document - 1]}"


SHARED = {"metallb.io/allow-shared-ip": "web", "metallb.io/loadBalancerIPs": "192.168.10.20"}


class TestKeysOnOneRequestedIP:
    def test_different_sharing_keys(self, tmp_path: Path) -> None:
        other = {**SHARED, "metallb.io/allow-shared-ip": "admin"}
        found = conflicts_of(
            tmp_path,
            POOL_LAN,
            service("web", annotations=SHARED),
            service("admin", annotations=other, ports=(("TCP", 8080),)),
        )
        conflict = only(found)
        assert conflict.objects == ("apps/admin", "apps/web")
        assert 'sharing key "web" does not match existing sharing key "admin"' in conflict.message
        assert '"192.168.10.20"' in conflict.message
        assert conflict.origins == (origin_of(tmp_path, 3), origin_of(tmp_path, 2))
        assert conflict.origin == origin_of(tmp_path, 3)

    def test_empty_sharing_key_beside_others(self, tmp_path: Path) -> None:
        lone = {"metallb.io/loadBalancerIPs": "192.168.10.20"}
        found = conflicts_of(
            tmp_path,
            POOL_LAN,
            service("web", annotations=SHARED),
            service("solo", annotations=lone, ports=(("TCP", 8080),)),
        )
        conflict = only(found)
        assert conflict.objects == ("apps/solo", "apps/web")
        assert "apps/solo does not allow sharing" in conflict.message
        assert "new service does not allow sharing" in conflict.message

    def test_local_members_with_different_selectors(self, tmp_path: Path) -> None:
        found = conflicts_of(
            tmp_path,
            POOL_LAN,
            service("web", annotations=SHARED, externalTrafficPolicy="Local"),
            service(
                "api", annotations=SHARED, externalTrafficPolicy="Local", ports=(("TCP", 443),)
            ),
        )
        conflict = only(found)
        assert conflict.objects == ("apps/api", "apps/web")
        assert 'backend key "app=web" does not match existing sharing key "app=api"' in (
            conflict.message
        )

    def test_same_selector_under_local_is_fine(self, tmp_path: Path) -> None:
        found = conflicts_of(
            tmp_path,
            POOL_LAN,
            service("web", annotations=SHARED, externalTrafficPolicy="Local"),
            service(
                "web-tls",
                annotations=SHARED,
                externalTrafficPolicy="Local",
                selector={"app": "web"},
                ports=(("TCP", 443),),
            ),
        )
        # Different selectors would clash under Local; here web-tls selects app=web too.
        assert found == ()

    def test_different_selectors_under_cluster_are_fine(self, tmp_path: Path) -> None:
        found = conflicts_of(
            tmp_path,
            POOL_LAN,
            service("web", annotations=SHARED),
            service("api", annotations=SHARED, ports=(("TCP", 443),)),
        )
        assert found == ()


class TestPortClash:
    def test_sample_port_clash(self, samples_dir: Path) -> None:
        state = load_desired([str(samples_dir / "port-clash" / "desired")])
        services = {obj.key.svc_key: obj for obj in state.objects if obj.is_service}
        found = static_conflicts(services, pools_from_objects(state.pools), state.namespaces)
        conflict = only(found)
        assert conflict.message.startswith('port TCP/443 is already in use on "192.168.10.60"')
        assert conflict.objects == ("apps/https-a", "apps/https-b")
        assert [o.split(": ")[1] for o in conflict.origins] == [
            "document 1, line 2",
            "document 2, line 22",
        ]

    def test_same_port_other_protocol_is_fine(self, tmp_path: Path) -> None:
        found = conflicts_of(
            tmp_path,
            POOL_LAN,
            service("dns-tcp", annotations=SHARED, ports=(("TCP", 53),)),
            service("dns-udp", annotations=SHARED, ports=(("UDP", 53),)),
        )
        assert found == ()

    def test_each_clashing_port_is_named(self, tmp_path: Path) -> None:
        found = conflicts_of(
            tmp_path,
            POOL_LAN,
            service("a", annotations=SHARED, ports=(("TCP", 80), ("TCP", 443))),
            service("b", annotations=SHARED, ports=(("TCP", 443), ("TCP", 80))),
        )
        assert [c.message.split(":")[0] for c in found] == [
            'port TCP/80 is already in use on "192.168.10.20"',
            'port TCP/443 is already in use on "192.168.10.20"',
        ]


class TestRequestedIPsAndPools:
    def test_ip_outside_every_pool(self, tmp_path: Path) -> None:
        wanted = {"metallb.io/loadBalancerIPs": "10.99.0.1"}
        conflict = only(conflicts_of(tmp_path, POOL_LAN, service("web", annotations=wanted)))
        assert conflict.message.startswith('["10.99.0.1"] is not allowed in config')
        assert conflict.objects == ("apps/web",)
        assert conflict.origin == origin_of(tmp_path, 2)

    def test_buggy_ip_of_an_avoiding_pool_is_outside(self, tmp_path: Path) -> None:
        wanted = {"metallb.io/loadBalancerIPs": "192.168.10.255"}
        avoiding = pool("lan", "192.168.10.0/24", avoidBuggyIPs=True)
        conflict = only(conflicts_of(tmp_path, avoiding, service("web", annotations=wanted)))
        assert conflict.message.startswith('["192.168.10.255"] is not allowed in config')

    def test_dual_stack_pair_split_over_two_pools(self, tmp_path: Path) -> None:
        wanted = {"metallb.io/loadBalancerIPs": "192.168.10.5,fd00:20::5"}
        found = conflicts_of(
            tmp_path,
            pool("v4", "192.168.10.0/24"),
            pool("v6", "fd00:20::/120"),
            service("web", annotations=wanted, ipFamilyPolicy="RequireDualStack"),
        )
        assert "not all in one IPAddressPool" in only(found).message

    def test_both_spec_load_balancer_ip_and_annotation(self, tmp_path: Path) -> None:
        wanted = {"metallb.io/loadBalancerIPs": "192.168.10.20"}
        found = conflicts_of(
            tmp_path, POOL_LAN, service("web", annotations=wanted, loadBalancerIP="192.168.10.20")
        )
        conflict = only(found)
        assert conflict.message.startswith(
            "service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP"
        )
        assert conflict.origin == origin_of(tmp_path, 2)

    def test_unknown_pool(self, tmp_path: Path) -> None:
        wanted = {"metallb.io/address-pool": "lann"}
        conflict = only(conflicts_of(tmp_path, POOL_LAN, service("web", annotations=wanted)))
        assert conflict.message.startswith('unknown pool "lann"')
        assert "the pools are lan" in conflict.message

    def test_requested_pool_does_not_contain_the_ip(self, tmp_path: Path) -> None:
        wanted = {"metallb.io/loadBalancerIPs": "192.168.10.20", "metallb.io/address-pool": "dmz"}
        found = conflicts_of(
            tmp_path, POOL_LAN, pool("dmz", "192.168.20.0/24"), service("web", annotations=wanted)
        )
        assert only(found).message.startswith(
            'requested loadBalancer IP(s) ["192.168.10.20"] is not compatible with requested'
            " address pool dmz"
        )

    def test_requested_pool_containing_the_ip_is_fine(self, tmp_path: Path) -> None:
        wanted = {"metallb.io/loadBalancerIPs": "192.168.10.20", "metallb.io/address-pool": "lan"}
        assert conflicts_of(tmp_path, POOL_LAN, service("web", annotations=wanted)) == ()

    def test_pool_pinned_to_other_namespaces(self, tmp_path: Path) -> None:
        pinned = pool("team", "192.168.30.0/24", serviceAllocation={"namespaces": ["team-a"]})
        wanted = {"metallb.io/address-pool": "team"}
        found = conflicts_of(tmp_path, pinned, service("web", "team-b", annotations=wanted))
        conflict = only(found)
        assert conflict.message.startswith("pool team not compatible for ip assignment")
        assert conflict.objects == ("team-b/web",)

    def test_requested_ip_in_a_pool_pinned_by_service_labels(self, tmp_path: Path) -> None:
        pinned = pool(
            "public",
            "192.168.40.0/24",
            serviceAllocation={"serviceSelectors": [{"matchLabels": {"exposure": "public"}}]},
        )
        wanted = {"metallb.io/loadBalancerIPs": "192.168.40.1"}
        found = conflicts_of(
            tmp_path,
            pinned,
            service("web", annotations=wanted),
            service(
                "site",
                annotations={"metallb.io/loadBalancerIPs": "192.168.40.2"},
                labels={"exposure": "public"},
            ),
        )
        assert only(found).objects == ("apps/web",)

    def test_pool_pinned_by_namespace_labels(self, tmp_path: Path) -> None:
        pinned = pool(
            "prod",
            "192.168.50.0/24",
            serviceAllocation={"namespaceSelectors": [{"matchLabels": {"env": "prod"}}]},
        )
        wanted = {"metallb.io/address-pool": "prod"}
        found = conflicts_of(
            tmp_path,
            pinned,
            namespace("shop", env="prod"),
            namespace("lab", env="dev"),
            service("web", "shop", annotations=wanted),
            service("web", "lab", annotations=wanted),
        )
        assert only(found).objects == ("lab/web",)

    def test_requested_ip_of_the_other_family(self, tmp_path: Path) -> None:
        wanted = {"metallb.io/loadBalancerIPs": "fd00:10::20"}
        found = conflicts_of(
            tmp_path, POOL_LAN, service("web", annotations=wanted, ipFamilies=["IPv4"])
        )
        assert only(found).message.startswith(
            'requested loadBalancer IP(s) ["fd00:10::20"] does not match the ipFamily of the service'
        )

    def test_family_unstated_is_not_guessed(self, tmp_path: Path) -> None:
        # Without ipFamilies or cluster IPs the family is the cluster's default: maybe IPv6.
        wanted = {"metallb.io/loadBalancerIPs": "fd00:10::20"}
        assert conflicts_of(tmp_path, POOL_LAN, service("web", annotations=wanted)) == ()

    def test_family_from_the_live_object(self, tmp_path: Path) -> None:
        wanted = {"metallb.io/loadBalancerIPs": "192.168.10.20"}
        path = tmp_path / "manifests.yaml"
        path.write_text(yaml.safe_dump_all([POOL_LAN, service("web", annotations=wanted)]))
        state = load_desired([str(path)])
        services = {obj.key.svc_key: obj for obj in state.objects if obj.is_service}
        live = {"apps/web": service("web", clusterIPs=["fd00:96::17"])}
        pools = pools_from_objects(state.pools)
        assert static_conflicts(services, pools, {}) == ()
        conflict = only(static_conflicts(services, pools, {}, live_services=live))
        assert "the service: apps/web is ipv6, the request is ipv4" in conflict.message

    def test_more_than_two_ips(self, tmp_path: Path) -> None:
        wanted = {"metallb.io/loadBalancerIPs": "192.168.10.1,fd00:10::1,192.168.10.2"}
        conflict = only(conflicts_of(tmp_path, POOL_LAN, service("web", annotations=wanted)))
        assert conflict.message.startswith(
            'more than two addresses ["192.168.10.1" "fd00:10::1" "192.168.10.2"]'
        )

    def test_two_ips_of_one_family(self, tmp_path: Path) -> None:
        wanted = {"metallb.io/loadBalancerIPs": "192.168.10.1, 192.168.10.2"}
        conflict = only(conflicts_of(tmp_path, POOL_LAN, service("web", annotations=wanted)))
        assert conflict.message.startswith('"192.168.10.1" "192.168.10.2" has the same family')

    def test_invalid_ip_is_bad_input_not_a_conflict(self, tmp_path: Path) -> None:
        wanted = {"metallb.io/loadBalancerIPs": "192.168.10.300"}
        with pytest.raises(ServiceInputError) as err:
            conflicts_of(tmp_path, POOL_LAN, service("web", annotations=wanted))
        assert str(err.value).startswith(origin_of(tmp_path, 2))


class TestPoolTooSmall:
    def test_more_services_than_addresses(self, tmp_path: Path) -> None:
        small = pool("tiny", "192.168.60.0/31")
        wanted = {"metallb.io/address-pool": "tiny"}
        found = conflicts_of(
            tmp_path, small, *(service(f"s{i}", annotations=wanted) for i in range(3))
        )
        conflict = only(found)
        assert conflict.message.startswith('no available IPs in pool "tiny"')
        assert "need at least 3 IPv4 addresses, it has 2" in conflict.message
        assert conflict.objects == ("apps/s0", "apps/s1", "apps/s2")

    def test_sharing_services_count_once(self, tmp_path: Path) -> None:
        small = pool("tiny", "192.168.60.0/31")
        shared = {"metallb.io/address-pool": "tiny", "metallb.io/allow-shared-ip": "k"}
        found = conflicts_of(
            tmp_path,
            small,
            *(service(f"s{i}", annotations=shared, ports=(("TCP", 80 + i),)) for i in range(3)),
            service("other", annotations={"metallb.io/address-pool": "tiny"}),
        )
        assert found == ()

    def test_requested_ips_in_the_pool_are_taken(self, tmp_path: Path) -> None:
        small = pool("tiny", "192.168.60.0/31")
        found = conflicts_of(
            tmp_path,
            small,
            service("pinned", annotations={"metallb.io/loadBalancerIPs": "192.168.60.1"}),
            service("a", annotations={"metallb.io/address-pool": "tiny"}),
            service("b", annotations={"metallb.io/address-pool": "tiny"}),
        )
        assert "need at least 3 IPv4 addresses, it has 2" in only(found).message


class TestWarnings:
    def test_sharing_across_namespaces(self, tmp_path: Path) -> None:
        found = conflicts_of(
            tmp_path,
            POOL_LAN,
            service("web", "team-a", annotations=SHARED),
            service("api", "team-b", annotations=SHARED, ports=(("TCP", 443),)),
        )
        warning = only(found, "warning")
        assert not [c for c in found if c.severity == "error"]
        assert warning.objects == ("team-a/web", "team-b/api")
        assert "across namespaces team-a, team-b" in warning.message
        assert warning.origins == (origin_of(tmp_path, 2), origin_of(tmp_path, 3))

    def test_auto_assigned_sharing_across_namespaces(self, tmp_path: Path) -> None:
        shared = {"metallb.io/allow-shared-ip": "web"}
        found = conflicts_of(
            tmp_path,
            POOL_LAN,
            service("web", "team-a", annotations=shared),
            service("api", "team-b", annotations=shared, ports=(("TCP", 443),)),
        )
        assert 'sharing key "web" (auto-assigned)' in only(found, "warning").message

    def test_deprecated_annotations_name_the_stable_one(self, tmp_path: Path) -> None:
        old = {
            "metallb.universe.tf/allow-shared-ip": "web",
            "metallb.universe.tf/loadBalancerIPs": "192.168.10.20",
        }
        warning = only(conflicts_of(tmp_path, POOL_LAN, service("web", annotations=old)), "warning")
        assert warning.message == (
            "metallb.universe.tf/allow-shared-ip is deprecated, use metallb.io/allow-shared-ip; "
            "metallb.universe.tf/loadBalancerIPs is deprecated, use metallb.io/loadBalancerIPs"
        )
        assert warning.origin == origin_of(tmp_path, 2)

    def test_deprecated_annotation_shadowed_by_the_stable_one(self, tmp_path: Path) -> None:
        both = {**SHARED, "metallb.universe.tf/allow-shared-ip": "old"}
        warning = only(
            conflicts_of(tmp_path, POOL_LAN, service("web", annotations=both)), "warning"
        )
        assert "(ignored: the stable one is also set and wins)" in warning.message

    def test_errors_come_before_warnings(self, tmp_path: Path) -> None:
        old = {"metallb.universe.tf/loadBalancerIPs": "10.99.0.1"}
        found = conflicts_of(tmp_path, POOL_LAN, service("web", annotations=old))
        assert [c.severity for c in found] == ["error", "warning"]


class TestWhatIsNotAConflict:
    def test_seed_sample_is_clean(self, samples_dir: Path) -> None:
        state = load_desired([str(samples_dir / "seed-dns-local" / "desired")])
        services = {obj.key.svc_key: obj for obj in state.objects if obj.is_service}
        assert static_conflicts(services, pools_from_objects(state.pools), state.namespaces) == ()

    def test_services_of_other_types_are_ignored(self, tmp_path: Path) -> None:
        wanted = {"metallb.io/loadBalancerIPs": "10.99.0.1"}
        cluster_ip = service("web", annotations=wanted, type="ClusterIP")
        assert conflicts_of(tmp_path, POOL_LAN, cluster_ip) == ()


def test_ten_thousand_services_are_checked_in_linear_time() -> None:
    """2,500 groups of four on requested IPs, one port clash planted: found, and fast."""
    pools = pools_from_objects([pool("big", "10.0.0.0/16")])
    services = {}
    for index in range(10_000):
        group, member = divmod(index, 4)
        ip = f"10.0.{group // 250}.{group % 250 + 1}"
        port = 80 if index == 9_999 else 80 + member  # the last one clashes with its group's first
        manifest = service(
            f"s{index}",
            f"ns{group % 7}",
            annotations={
                "metallb.io/allow-shared-ip": f"g{group}",
                "metallb.io/loadBalancerIPs": ip,
            },
            ports=(("TCP", port),),
        )
        services[f"ns{group % 7}/s{index}"] = _kube_object(manifest)
    started = time.perf_counter()
    found = static_conflicts(services, pools, {})
    elapsed = time.perf_counter() - started
    errors = [c for c in found if c.severity == "error"]
    last = f"ns{(9_999 // 4) % 7}"
    assert len(errors) == 1 and errors[0].objects == (f"{last}/s9996", f"{last}/s9999")
    assert elapsed < 10, elapsed  # about 0.3 s on a laptop; a quadratic check would take minutes


def _kube_object(manifest: dict[str, Any]) -> KubeObject:
    meta = manifest["metadata"]
    return KubeObject(ObjectKey("Service", meta["namespace"], meta["name"]), manifest)


# --- property: the static rules agree with the allocator model -----------------------------------

_PORTS = (("TCP", 53), ("UDP", 53), ("TCP", 80))
_requests = st.fixed_dictionaries(
    {
        "key": st.sampled_from(["", "a", "b"]),
        "policy": st.sampled_from(["Cluster", "Local"]),
        "app": st.sampled_from(["x", "y"]),
        "ip": st.sampled_from(["192.168.10.1", "192.168.10.2", "10.99.0.1"]),
        "ports": st.lists(st.sampled_from(_PORTS), min_size=1, max_size=3, unique=True),
    }
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_requests, min_size=1, max_size=5))
def test_no_error_exactly_when_the_allocator_takes_every_request(
    requests: list[dict[str, Any]],
) -> None:
    """Services requesting IPs: static errors iff MetalLB's Assign refuses one in name order."""
    pools = [Pool("lan", ("192.168.10.0/24",))]
    services = {}
    for index, request in enumerate(requests):
        annotations = {"metallb.io/loadBalancerIPs": request["ip"]}
        if request["key"]:
            annotations["metallb.io/allow-shared-ip"] = request["key"]
        manifest = service(
            f"s{index}",
            annotations=annotations,
            ports=tuple(request["ports"]),
            externalTrafficPolicy=request["policy"],
            selector={"app": request["app"]},
        )
        services[f"apps/s{index}"] = _kube_object(manifest)
    errors = [c for c in static_conflicts(services, pools, {}) if c.severity == "error"]
    allocator = Allocator(pools)
    refused = []
    for svc_key in sorted(services):
        inputs = allocation_inputs(services[svc_key].body)
        try:
            allocator.assign(
                svc_key,
                services[svc_key].body,
                inputs.requested_ips,
                inputs.ports,
                inputs.sharing_key,
                inputs.backend_key,
            )
        except AllocationError:
            refused.append(svc_key)
    assert bool(errors) == bool(refused), (errors, refused)
    # Every refused Service is named by some error.
    named = {obj for conflict in errors for obj in conflict.objects}
    assert set(refused) <= named
