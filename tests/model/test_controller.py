"""The controller, one Service event at a time (controller/main.go SetBalancer, service.go)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from planner.controller import Controller as PublicController
from planner.model.allocator import Pool
from planner.model.controller import (
    ERROR_NO_RETRY,
    REPROCESS_ALL,
    SUCCESS,
    Controller,
)
from planner.model.service import (
    ALLOCATED_FROM_POOL_ANNOTATION,
    GROUP_ANNOTATION,
    GROUP_DIGEST_ANNOTATION,
    GROUP_MEMBERS_ANNOTATION,
    ingress_ips,
)

POOL = Pool("lan", ["192.168.10.0/24"])
OTHER = Pool("other", ["10.20.0.0/30"])


def svc(
    name: str,
    *,
    ports: list[tuple[str, int]] | None = None,
    share: str | None = None,
    ip: str | None = None,
    status: tuple[str, ...] = (),
    local: bool = False,
    pool: str | None = None,
    cluster_ips: list[str] | None = None,
    policy: str | None = None,
    kind: str = "LoadBalancer",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Service manifest as the API server hands it to MetalLB (cluster IP set)."""
    notes = dict(annotations or {})
    if share is not None:
        notes["metallb.io/allow-shared-ip"] = share
    if ip is not None:
        notes["metallb.io/loadBalancerIPs"] = ip
    if pool is not None:
        notes["metallb.io/address-pool"] = pool
    spec: dict[str, Any] = {
        "type": kind,
        "ports": [{"port": p, "protocol": proto} for proto, p in (ports or [("TCP", 80)])],
        "selector": {"app": "web"},
        "externalTrafficPolicy": "Local" if local else "Cluster",
        "clusterIPs": cluster_ips if cluster_ips is not None else ["10.96.0.10"],
    }
    if policy:
        spec["ipFamilyPolicy"] = policy
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "ns", "annotations": notes},
        "spec": spec,
    }
    if status:
        manifest["status"] = {"loadBalancer": {"ingress": [{"ip": i} for i in status]}}
    return manifest


def handled(c: Controller, name: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """Hand a Service to the controller and return the object as it is afterwards."""
    result = c.set_balancer(f"ns/{name}", manifest)
    return result.service if result.service is not None else manifest


class TestConfiguration:
    def test_no_configuration_yet_does_nothing(self) -> None:
        c = Controller(None)
        result = c.set_balancer("ns/a", svc("a"))
        assert (result.state, result.service, result.warnings) == (SUCCESS, None, ())
        assert c.allocator.ips("ns/a") == []

    def test_set_pools_asks_to_reprocess_all(self) -> None:
        assert Controller(None).set_pools([POOL]) == REPROCESS_ALL

    def test_deleted_configuration_is_error_no_retry_and_keeps_pools(self) -> None:
        c = Controller([POOL])
        assert c.set_pools(None) == ERROR_NO_RETRY
        assert handled(c, "a", svc("a"))["status"]["loadBalancer"]["ingress"] == [
            {"ip": "192.168.10.0"}
        ]

    def test_empty_pools_clear_and_fail(self) -> None:
        c = Controller([POOL])
        first = handled(c, "a", svc("a"))
        assert c.set_pools([]) == REPROCESS_ALL  # the allocator drops what no pool owns
        result = c.set_balancer("ns/a", first)
        assert result.state == ERROR_NO_RETRY
        assert result.service is not None and ingress_ips(result.service) == ()
        again = c.set_balancer("ns/a", result.service)
        assert (again.state, again.service) == (ERROR_NO_RETRY, None)

    def test_pools_that_drop_an_ip_move_the_service(self) -> None:
        c = Controller([POOL, OTHER])
        first = handled(c, "a", svc("a", pool="lan"))
        c.set_pools([OTHER, Pool("lan", ["192.168.20.0/24"])])
        moved = c.set_balancer("ns/a", first)
        assert moved.service is not None
        assert ingress_ips(moved.service) == ("192.168.20.0",)

    def test_unknown_behavior(self) -> None:
        with pytest.raises(ValueError, match="unknown behavior"):
            Controller([POOL], behavior="metallb-0.13")

    def test_public_module_re_exports(self) -> None:
        assert PublicController is Controller


class TestAllocation:
    def test_first_free_ip_status_and_pool_annotation(self) -> None:
        result = Controller([POOL]).set_balancer("ns/a", svc("a"))
        assert result.state == SUCCESS
        assert result.service is not None
        assert ingress_ips(result.service) == ("192.168.10.0",)
        assert result.service["metadata"]["annotations"][ALLOCATED_FROM_POOL_ANNOTATION] == "lan"

    def test_input_is_not_mutated(self) -> None:
        manifest = svc("a")
        before = copy.deepcopy(manifest)
        Controller([POOL]).set_balancer("ns/a", manifest)
        assert manifest == before

    def test_converged_service_writes_nothing(self) -> None:
        c = Controller([POOL])
        first = handled(c, "a", svc("a"))
        again = c.set_balancer("ns/a", first)
        assert (again.state, again.service) == (SUCCESS, None)

    def test_requested_ip_by_annotation_and_by_spec(self) -> None:
        c = Controller([POOL])
        assert ingress_ips(handled(c, "a", svc("a", ip="192.168.10.53"))) == ("192.168.10.53",)
        by_spec = svc("b")
        by_spec["spec"]["loadBalancerIP"] = "192.168.10.54"
        assert ingress_ips(handled(c, "b", by_spec)) == ("192.168.10.54",)

    def test_requested_ip_outside_pools_fails(self) -> None:
        result = Controller([POOL]).set_balancer("ns/a", svc("a", ip="10.9.9.9"))
        assert result.state == ERROR_NO_RETRY
        assert result.service is None
        assert len(result.warnings) == 1
        assert result.warnings[0].startswith('AllocationFailed: Failed to allocate IP for "ns/a"')
        assert "is not allowed in config" in result.warnings[0]

    def test_both_requests_fail(self) -> None:
        manifest = svc("a", ip="192.168.10.53")
        manifest["spec"]["loadBalancerIP"] = "192.168.10.53"
        result = Controller([POOL]).set_balancer("ns/a", manifest)
        assert result.state == ERROR_NO_RETRY
        assert "AllocationFailed" in result.warnings[0]
        assert "cannot be set together" in result.warnings[0]

    def test_bad_request_on_a_service_with_an_ip_keeps_the_ip(self) -> None:
        c = Controller([POOL])
        first = handled(c, "a", svc("a"))
        first["metadata"]["annotations"]["metallb.io/loadBalancerIPs"] = "not-an-ip"
        result = c.set_balancer("ns/a", first)
        assert (result.state, result.service) == (ERROR_NO_RETRY, None)
        assert result.warnings[0].startswith("LoadBalancerFailed: invalid requested")
        assert c.allocator.ips("ns/a") == ["192.168.10.0"]

    def test_changed_requested_ip_moves_the_service(self) -> None:
        c = Controller([POOL])
        first = handled(c, "a", svc("a", ip="192.168.10.53"))
        first["metadata"]["annotations"]["metallb.io/loadBalancerIPs"] = "192.168.10.60"
        assert ingress_ips(handled(c, "a", first)) == ("192.168.10.60",)
        assert c.allocator.ips("ns/a") == ["192.168.10.60"]

    def test_changed_requested_pool_moves_the_service(self) -> None:
        c = Controller([POOL, OTHER])
        first = handled(c, "a", svc("a", pool="lan"))
        first["metadata"]["annotations"]["metallb.io/address-pool"] = "other"
        moved = handled(c, "a", first)
        assert ingress_ips(moved) == ("10.20.0.0",)
        assert moved["metadata"]["annotations"][ALLOCATED_FROM_POOL_ANNOTATION] == "other"

    def test_requested_ip_must_match_requested_pool(self) -> None:
        result = Controller([POOL, OTHER]).set_balancer(
            "ns/a", svc("a", ip="192.168.10.53", pool="other")
        )
        assert result.state == ERROR_NO_RETRY
        assert "not compatible with requested address pool other" in result.warnings[0]

    def test_no_cluster_ip_clears_and_fails(self) -> None:
        c = Controller([POOL])
        first = handled(c, "a", svc("a"))
        first["spec"]["clusterIPs"] = []
        result = c.set_balancer("ns/a", first)
        assert result.state == REPROCESS_ALL  # it lost its IP while the IP is still in a pool
        assert result.service is not None and ingress_ips(result.service) == ()

    def test_require_dual_stack_needs_two_cluster_ips(self) -> None:
        result = Controller([POOL]).set_balancer("ns/a", svc("a", policy="RequireDualStack"))
        assert result.state == ERROR_NO_RETRY
        assert result.warnings[0].startswith("not enough clusterips")

    def test_dual_stack(self) -> None:
        pools = [Pool("dual", ["192.168.10.0/24", "fd00:10::/120"])]
        manifest = svc("a", cluster_ips=["10.96.0.1", "fd00::1"], policy="RequireDualStack")
        result = Controller(pools).set_balancer("ns/a", manifest)
        assert result.service is not None
        assert ingress_ips(result.service) == ("192.168.10.0", "fd00:10::")

    @pytest.mark.parametrize(
        ("behavior", "expected"),
        [
            ("metallb-0.15", ("192.168.10.7", "fd00:10::")),
            ("metallb-0.14", ("192.168.10.7",)),  # the extra-family step came with v0.15
        ],
    )
    def test_prefer_dual_stack_adds_the_missing_family(
        self, behavior: str, expected: tuple[str, ...]
    ) -> None:
        pools = [Pool("dual", ["192.168.10.0/24", "fd00:10::/120"])]
        manifest = svc(
            "a",
            cluster_ips=["10.96.0.1", "fd00::1"],
            policy="PreferDualStack",
            status=("192.168.10.7",),
        )
        result = Controller(pools, behavior=behavior).set_balancer("ns/a", manifest)
        final = result.service if result.service is not None else manifest
        assert ingress_ips(final) == expected

    def test_not_load_balancer_releases_and_clears(self) -> None:
        c = Controller([POOL])
        first = handled(c, "a", svc("a"))
        first["spec"]["type"] = "ClusterIP"
        result = c.set_balancer("ns/a", first)
        assert result.state == REPROCESS_ALL
        assert result.service is not None
        assert ingress_ips(result.service) == ()
        assert ALLOCATED_FROM_POOL_ANNOTATION not in result.service["metadata"]["annotations"]
        assert c.allocator.ips("ns/a") == []

    def test_deleted_service(self) -> None:
        c = Controller([POOL])
        handled(c, "a", svc("a"))
        assert c.set_balancer("ns/a", None).state == REPROCESS_ALL
        assert c.allocator.ips("ns/a") == []
        assert c.set_balancer("ns/never", None).state == SUCCESS

    def test_deprecated_annotation_warning_on_write(self) -> None:
        manifest = svc("a", annotations={"metallb.universe.tf/allow-shared-ip": "k"})
        result = Controller([POOL]).set_balancer("ns/a", manifest)
        expected = "deprecatedAnnotation: Service uses deprecated annotation {}"
        assert result.warnings == (expected.format("metallb.universe.tf/allow-shared-ip"),)


class TestSharing:
    def test_two_services_share_one_requested_ip(self) -> None:
        c = Controller([POOL])
        tcp = handled(c, "tcp", svc("tcp", ports=[("TCP", 53)], share="dns", ip="192.168.10.53"))
        udp = handled(c, "udp", svc("udp", ports=[("UDP", 53)], share="dns", ip="192.168.10.53"))
        assert ingress_ips(tcp) == ingress_ips(udp) == ("192.168.10.53",)

    def test_other_sharing_key_is_refused(self) -> None:
        c = Controller([POOL])
        handled(c, "tcp", svc("tcp", ports=[("TCP", 53)], share="dns", ip="192.168.10.53"))
        result = c.set_balancer(
            "ns/udp", svc("udp", ports=[("UDP", 53)], share="other", ip="192.168.10.53")
        )
        assert result.state == ERROR_NO_RETRY
        assert "sharing key" in result.warnings[0]

    def test_port_clash_is_refused(self) -> None:
        c = Controller([POOL])
        handled(c, "a", svc("a", ports=[("TCP", 53)], share="dns", ip="192.168.10.53"))
        result = c.set_balancer(
            "ns/b", svc("b", ports=[("TCP", 53)], share="dns", ip="192.168.10.53")
        )
        assert "port TCP/53 is already in use" in result.warnings[0]

    def test_sole_holder_changes_its_key_in_place(self) -> None:
        c = Controller([POOL])
        first = handled(c, "a", svc("a", share="dns", ip="192.168.10.53"))
        first["spec"]["externalTrafficPolicy"] = "Local"
        result = c.set_balancer("ns/a", first)
        assert result.service is None  # nothing to write: same IP
        assert c.allocation_key("ns/a") == ("dns", "app=web")

    @pytest.mark.parametrize(
        ("behavior", "state_of_second"),
        [("metallb-0.14", SUCCESS), ("metallb-0.15", REPROCESS_ALL), ("fixed", REPROCESS_ALL)],
    )
    def test_key_change_of_a_group_member(self, behavior: str, state_of_second: str) -> None:
        c = Controller([POOL], behavior=behavior)
        tcp = handled(c, "tcp", svc("tcp", ports=[("TCP", 53)], share="dns", ip="192.168.10.53"))
        udp = handled(c, "udp", svc("udp", ports=[("UDP", 53)], share="dns", ip="192.168.10.53"))
        tcp["spec"]["externalTrafficPolicy"] = "Local"
        first = c.set_balancer("ns/tcp", tcp)
        # The first member no longer matches the second: it loses the IP, goes pending.
        assert first.state == REPROCESS_ALL
        assert first.service is not None and ingress_ips(first.service) == ()
        assert (
            'can\'t change sharing key for "ns/tcp", address also in use by ns/udp'
            in (first.warnings[0])
        )
        udp["spec"]["externalTrafficPolicy"] = "Local"
        second = c.set_balancer("ns/udp", udp)
        # Only v0.15 (PR #2692) looks at the others again when a key changes.
        assert (second.state, second.service) == (state_of_second, None)
        back = c.set_balancer("ns/tcp", first.service)
        assert back.service is not None and ingress_ips(back.service) == ("192.168.10.53",)


def grouped(manifest: dict[str, Any], members: str, digest: str) -> dict[str, Any]:
    """The manifest with group-wide annotations (values chosen by the test)."""
    notes = manifest["metadata"]["annotations"]
    notes[GROUP_ANNOTATION] = "dns@192.168.10.53"
    notes[GROUP_MEMBERS_ANNOTATION] = members
    notes[GROUP_DIGEST_ANNOTATION] = digest
    return manifest


class TestFixed:
    MEMBERS = "ns/tcp,ns/udp"

    def _pair(self, c: Controller, digest: str = "d1") -> tuple[dict[str, Any], dict[str, Any]]:
        """Both members handled; the first waits for the second, which moves both."""
        tcp = svc("tcp", ports=[("TCP", 53)], share="dns", ip="192.168.10.53")
        udp = svc("udp", ports=[("UDP", 53)], share="dns", ip="192.168.10.53")
        waiting = c.set_balancer("ns/tcp", grouped(tcp, self.MEMBERS, digest))
        assert (waiting.service, c.allocator.ips("ns/tcp")) == (None, [])
        done = c.set_balancer("ns/udp", grouped(udp, self.MEMBERS, digest))
        assert done.service is not None
        return done.group_writes["ns/tcp"], done.service

    def test_member_waits_for_its_group_then_all_move_together(self) -> None:
        c = Controller([POOL], behavior="fixed")
        tcp, udp = self._pair(c)
        for manifest in (tcp, udp):
            manifest["spec"]["externalTrafficPolicy"] = "Local"
            manifest["spec"]["selector"] = {"app": "dns"}
            manifest["metadata"]["annotations"][GROUP_DIGEST_ANNOTATION] = "d2"
        waiting = c.set_balancer("ns/tcp", tcp)
        assert (waiting.state, waiting.service, waiting.group_writes) == (SUCCESS, None, {})
        assert c.allocation_key("ns/tcp") == ("dns", "")  # untouched while waiting
        done = c.set_balancer("ns/udp", udp)
        assert done.state == REPROCESS_ALL
        assert c.allocation_key("ns/tcp") == c.allocation_key("ns/udp") == ("dns", "app=dns")
        assert c.allocator.ips("ns/tcp") == c.allocator.ips("ns/udp") == ["192.168.10.53"]

    def test_group_writes_carry_the_other_members(self) -> None:
        c = Controller([POOL], behavior="fixed")
        tcp, udp = self._pair(c)
        for manifest in (tcp, udp):
            manifest["metadata"]["annotations"]["metallb.io/loadBalancerIPs"] = "192.168.10.60"
            manifest["metadata"]["annotations"][GROUP_DIGEST_ANNOTATION] = "d2"
        assert c.set_balancer("ns/tcp", tcp).service is None
        done = c.set_balancer("ns/udp", udp)
        assert done.service is not None and ingress_ips(done.service) == ("192.168.10.60",)
        assert set(done.group_writes) == {"ns/tcp"}
        assert ingress_ips(done.group_writes["ns/tcp"]) == ("192.168.10.60",)

    def test_infeasible_transition_keeps_everything(self) -> None:
        c = Controller([POOL], behavior="fixed")
        handled(c, "x", svc("x", ports=[("TCP", 1)], share="x", ip="192.168.10.60"))
        tcp, udp = self._pair(c)
        for manifest in (tcp, udp):
            manifest["metadata"]["annotations"]["metallb.io/loadBalancerIPs"] = "192.168.10.60"
            manifest["metadata"]["annotations"][GROUP_DIGEST_ANNOTATION] = "d2"
        c.set_balancer("ns/tcp", tcp)
        failed = c.set_balancer("ns/udp", udp)
        assert (failed.state, failed.service, failed.group_writes) == (ERROR_NO_RETRY, None, {})
        assert failed.warnings[0].startswith("GroupTransitionInfeasible: ")
        assert {e.svc_key for e in failed.events} == {"ns/tcp", "ns/udp"}
        assert c.allocator.ips("ns/tcp") == c.allocator.ips("ns/udp") == ["192.168.10.53"]
        assert c.allocation_key("ns/tcp") == ("dns", "")

    def test_without_annotations_it_is_metallb_0_15(self) -> None:
        c = Controller([POOL], behavior="fixed")
        tcp = handled(c, "tcp", svc("tcp", ports=[("TCP", 53)], share="dns", ip="192.168.10.53"))
        handled(c, "udp", svc("udp", ports=[("UDP", 53)], share="dns", ip="192.168.10.53"))
        tcp["spec"]["externalTrafficPolicy"] = "Local"
        first = c.set_balancer("ns/tcp", tcp)
        assert first.service is not None and ingress_ips(first.service) == ()

    def test_converged_group_writes_nothing_and_does_not_loop(self) -> None:
        c = Controller([POOL], behavior="fixed")
        tcp, _ = self._pair(c)
        again = c.set_balancer("ns/tcp", tcp)
        assert (again.state, again.service, again.group_writes) == (SUCCESS, None, {})
