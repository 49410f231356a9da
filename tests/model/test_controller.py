"""The controller, one Service event at a time (controller/main.go SetBalancer, service.go)."""

from __future__ import annotations

import copy
import random
import re
from typing import Any

import click
import pytest
import yaml

from planner.controller import Controller as PublicController
from planner.model.allocator import Pool
from planner.model.controller import (
    BEHAVIORS,
    ERROR_NO_RETRY,
    RELEASES,
    REPROCESS_ALL,
    SUCCESS,
    Behavior,
    Controller,
    release_note,
    release_of,
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
        assert (result.state, result.service, result.warnings) == (SUCCESS, None, [])
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

    def test_unknown_behavior_lists_the_names_as_strings(self) -> None:
        expected = "expected one of ('metallb-0.14', 'metallb-0.15', 'fixed')"
        with pytest.raises(ValueError, match=re.escape(expected)):
            Controller([POOL], behavior="metallb-0.13")

    def test_behaviors_are_the_enums_strings_in_the_documented_order(self) -> None:
        assert BEHAVIORS == tuple(Behavior) == ("metallb-0.14", "metallb-0.15", "fixed")
        # plain strings: click.Choice matches Enum choices by name, yaml.safe_dump refuses them
        assert all(type(b) is str for b in BEHAVIORS)
        assert yaml.safe_dump(list(BEHAVIORS)) == "- metallb-0.14\n- metallb-0.15\n- fixed\n"
        assert click.Choice(BEHAVIORS).convert("fixed", None, None) == "fixed"
        assert {Behavior.FIXED: 1}["fixed"] == 1

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

    def test_v0149_require_dual_stack_with_one_cluster_ip_asks_the_allocator(self) -> None:
        # The cluster-IP count check came with v0.15.0; v0.14.9's allocator then wants both
        # families of a RequireDualStack Service and fails on a single-family pool.
        c = Controller([POOL], behavior="metallb-0.14")
        result = c.set_balancer("ns/a", svc("a", policy="RequireDualStack"))
        assert result.state == ERROR_NO_RETRY
        assert result.warnings[0].startswith("AllocationFailed")
        pools = [Pool("dual", ["192.168.10.0/24", "fd00:10::/120"])]
        c = Controller(pools, behavior="metallb-0.14")
        result = c.set_balancer("ns/a", svc("a", policy="RequireDualStack"))
        assert result.state == SUCCESS
        assert result.service is not None
        assert ingress_ips(result.service) == ("192.168.10.0", "fd00:10::")

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
            # v0.14.9 has the extra-family step (commit 5f648117d); v0.14.8 had not
            ("metallb-0.14", ("192.168.10.7", "fd00:10::")),
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

    def test_a_field_the_api_server_would_refuse_fails_the_event(self) -> None:
        manifest = svc("a", status=("192.168.10.7",))
        manifest["spec"]["ports"] = [{"port": "fifty-three"}]
        result = Controller([POOL]).set_balancer("ns/a", manifest)
        assert result.state == ERROR_NO_RETRY
        assert result.warnings == [
            "LoadBalancerFailed: spec.ports[0].port: must be an integer, not 'fifty-three'"
        ]

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
        assert result.warnings == [expected.format("metallb.universe.tf/allow-shared-ip")]


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

    @pytest.mark.parametrize("behavior", ["metallb-0.15", "fixed"])
    def test_allocation_key_compares_the_joined_string(self, behavior: str) -> None:
        # AllocationKey is backend + sharing in one string: moving "prod" from the sharing key
        # into the selector of a Local Service is no change there, so no reprocess-all.
        c = Controller([POOL], behavior=behavior)
        first = handled(c, "a", svc("a", share="prodkey", ip="192.168.10.53", local=True))
        moved = copy.deepcopy(first)
        moved["spec"]["selector"] = {"app": "webprod"}
        moved["metadata"]["annotations"]["metallb.io/allow-shared-ip"] = "key"
        assert c.set_balancer("ns/a", moved).state == SUCCESS
        assert c.allocation_key("ns/a") == ("key", "app=webprod")
        other = copy.deepcopy(moved)
        other["metadata"]["annotations"]["metallb.io/allow-shared-ip"] = "other"
        assert c.set_balancer("ns/a", other).state == REPROCESS_ALL

    @pytest.mark.parametrize(
        ("behavior", "state_of_second"),
        [
            ("metallb-0.14", SUCCESS),
            ("metallb-0.15", REPROCESS_ALL),
            ("fixed", REPROCESS_ALL),
            # the enum members pick the same rules as their strings
            (Behavior.METALLB_0_14, SUCCESS),
            (Behavior.METALLB_0_15, REPROCESS_ALL),
            (Behavior.FIXED, REPROCESS_ALL),
        ],
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

    def test_restart_in_the_middle_of_a_transition(self) -> None:
        # One member already carries the new digest (and Local), the other not yet.
        c = Controller([POOL], behavior="fixed")
        ip = ("192.168.10.53",)
        tcp = svc("tcp", ports=[("TCP", 53)], share="dns", ip=ip[0], status=ip, local=True)
        udp = svc("udp", ports=[("UDP", 53)], share="dns", ip=ip[0], status=ip)
        assert c.set_balancer("ns/tcp", grouped(tcp, self.MEMBERS, "d2")).service is None
        assert c.set_balancer("ns/udp", grouped(udp, self.MEMBERS, "d1")).service is None
        # Both re-claimed the IP although neither group is ready: nobody else can take it.
        assert c.allocator.holders(ip[0]) == ["ns/tcp", "ns/udp"]
        intruder = c.set_balancer("ns/x", svc("x", share="other", ip=ip[0]))
        assert intruder.state == ERROR_NO_RETRY
        udp["spec"]["externalTrafficPolicy"] = "Local"
        done = c.set_balancer("ns/udp", grouped(udp, self.MEMBERS, "d2"))
        # udp re-claimed under the key the IP remembered, which is the target: nothing moved
        # (the writes only add the pool annotation these hand-made manifests lack).
        assert done.state == SUCCESS
        assert done.service is not None and ingress_ips(done.service) == ip
        assert ingress_ips(done.group_writes["ns/tcp"]) == ip
        assert c.allocation_key("ns/tcp") == c.allocation_key("ns/udp") == ("dns", "app=web")
        assert c.allocator.holders(ip[0]) == ["ns/tcp", "ns/udp"]

    def test_without_annotations_it_is_metallb_0_15(self) -> None:
        c = Controller([POOL], behavior="fixed")
        tcp = handled(c, "tcp", svc("tcp", ports=[("TCP", 53)], share="dns", ip="192.168.10.53"))
        handled(c, "udp", svc("udp", ports=[("UDP", 53)], share="dns", ip="192.168.10.53"))
        tcp["spec"]["externalTrafficPolicy"] = "Local"
        first = c.set_balancer("ns/tcp", tcp)
        assert first.service is not None and ingress_ips(first.service) == ()

    def test_transition_group_swaps_requested_ips_in_one_step(self) -> None:
        """A planner transition group may move its members to different requested IPs."""
        c = Controller([POOL], behavior="fixed")
        blue = handled(c, "blue", svc("blue", ip="192.168.10.30"))
        green = handled(c, "green", svc("green", ip="192.168.10.31"))
        blue["metadata"]["annotations"]["metallb.io/loadBalancerIPs"] = "192.168.10.31"
        green["metadata"]["annotations"]["metallb.io/loadBalancerIPs"] = "192.168.10.30"
        waiting = c.set_balancer("ns/blue", grouped(blue, "ns/blue,ns/green", "swap"))
        assert (waiting.service, c.allocator.ips("ns/blue")) == (None, ["192.168.10.30"])
        done = c.set_balancer("ns/green", grouped(green, "ns/blue,ns/green", "swap"))
        assert done.service is not None and ingress_ips(done.service) == ("192.168.10.30",)
        assert ingress_ips(done.group_writes["ns/blue"]) == ("192.168.10.31",)

    def test_converged_group_writes_nothing_and_does_not_loop(self) -> None:
        c = Controller([POOL], behavior="fixed")
        tcp, _ = self._pair(c)
        again = c.set_balancer("ns/tcp", tcp)
        assert (again.state, again.service, again.group_writes) == (SUCCESS, None, {})


# --- MetalLB's own controller table (controller/controller_test.go TestControllerMutation) ------
# Every case goes through ONE controller under the same key "test", in a shuffled order, several
# times: convergence must not depend on what the controller held before. As in MetalLB's test,
# a case "wants an error" when a Warning event is raised, and only the status is compared.

TEAM = "team=metallb"
MUTATION_POOLS = [
    Pool("pool1", ["1.2.3.0/31"]),
    Pool("pool2", ["3.4.5.6/32"], auto_assign=False),
    Pool("pool3", ["1000::/127"]),
    Pool("pool4", ["2000::1/128"], auto_assign=False),
    Pool("pool5", ["1.2.3.0/31", "1000::/127"]),
    Pool("pool6", ["7.8.9.0/31"], namespaces=["test-ns1"], priority=10),
    Pool("pool7", ["10.11.12.0/31"], namespaces=["test-ns1"], priority=11),
    Pool("pool8", ["13.14.15.0/31"], service_selectors=[TEAM], priority=9),
    Pool("pool9", ["16.17.18.0/31"], namespaces=["test-ns2"]),
    Pool("pool10", ["19.20.21.0/31"], service_selectors=[TEAM], priority=8),
    Pool(
        "pool11", ["22.23.24.0/31"], namespaces=["test-ns1"], service_selectors=[TEAM], priority=8
    ),
    Pool(
        "pool12", ["25.26.27.0/31"], namespaces=["test-ns1"], service_selectors=[TEAM], priority=5
    ),
]
LB_IPS = "metallb.io/loadBalancerIPs"
POOL_NOTE = "metallb.io/address-pool"


def case(
    cluster_ips: list[str] | None = None,
    *,
    kind: str = "LoadBalancer",
    lb_ip: str = "",
    notes: dict[str, str] | None = None,
    status: list[str] | None = None,
    ingress: list[dict[str, str]] | None = None,
    policy: str = "",
    cluster_ip: str = "",
    namespace: str = "",
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Service as MetalLB's test builds it (only the fields it sets)."""
    spec: dict[str, Any] = {"type": kind}
    if cluster_ips:
        spec["clusterIPs"] = cluster_ips
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    if lb_ip:
        spec["loadBalancerIP"] = lb_ip
    if policy:
        spec["ipFamilyPolicy"] = policy
    meta: dict[str, Any] = {"annotations": dict(notes or {})}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = labels
    manifest: dict[str, Any] = {"metadata": meta, "spec": spec}
    entries = ingress if ingress is not None else [{"ip": ip} for ip in status or []]
    if entries:
        manifest["status"] = {"loadBalancer": {"ingress": entries}}
    return manifest


V4, DUAL, V6 = ["1.2.3.4"], ["1.2.3.4", "3000::1"], ["3000::1"]
NOT_WRITTEN: tuple[str, ...] | None = None
# (description, input or None for a deletion, status written or NOT_WRITTEN, warning expected)
MUTATION_CASES: list[tuple[str, dict[str, Any] | None, tuple[str, ...] | None, bool]] = [
    ("deleted balancer", None, NOT_WRITTEN, False),
    ("simple non-LoadBalancer", case(V4, kind="ClusterIP"), NOT_WRITTEN, False),
    ("simple LoadBalancer", case(V4), ("1.2.3.0",), False),
    ("request specific IP", case(V4, lb_ip="1.2.3.1"), ("1.2.3.1",), False),
    ("specific IP by annotation", case(V4, notes={LB_IPS: "1.2.3.1"}), ("1.2.3.1",), False),
    ("IP from both", case(V4, lb_ip="1.2.3.2", notes={LB_IPS: "1.2.3.1"}), NOT_WRITTEN, True),
    ("invalid IP", case(V4, lb_ip="please sir may I have an IP"), NOT_WRITTEN, True),
    (
        "incompatible IP and pool",
        case(V4, notes={LB_IPS: "1.2.3.1", POOL_NOTE: "pool2"}),
        NOT_WRITTEN,
        True,
    ),
    ("invalid IP annotation", case(V4, notes={LB_IPS: "please sir"}), NOT_WRITTEN, True),
    ("two IPs of one family", case(V4, notes={LB_IPS: "1.2.3.1,1.2.3.2"}), NOT_WRITTEN, True),
    ("infeasible IP", case(V4, lb_ip="1.2.3.4", status=["1.2.3.1"]), (), True),
    ("IP from a pool", case(V4, notes={POOL_NOTE: "pool1"}), ("1.2.3.0",), False),
    (
        "switch to another pool",
        case(V4, notes={POOL_NOTE: "pool2"}, status=["1.2.3.0"]),
        ("3.4.5.6",),
        False,
    ),
    ("unknown pool", case(V4, notes={POOL_NOTE: "does-not-exist"}), NOT_WRITTEN, True),
    ("invalid IP assigned", case(V4, status=["2.3.4.5"]), ("1.2.3.0",), False),
    (
        "invalid ingress state",
        case(V4, ingress=[{"hostname": "foo.bar.local"}, {"ip": "10.10.10.10"}]),
        ("1.2.3.0",),
        False,
    ),
    ("former LoadBalancer", case(V4, kind="NodePort", status=["1.2.3.0"]), (), False),
    ("layer2", case(V4, lb_ip="3.4.5.6"), ("3.4.5.6",), False),
    ("No ClusterIP", case(None), NOT_WRITTEN, False),
    ("wrong family ipv4", case(V6, lb_ip="1.2.3.1"), NOT_WRITTEN, True),
    ("wrong family ipv4 annotation", case(V6, notes={LB_IPS: "1.2.3.1"}), NOT_WRITTEN, True),
    ("wrong family ipv6", case(V4, lb_ip="1000::"), NOT_WRITTEN, True),
    ("wrong family ipv6 annotation", case(V4, notes={LB_IPS: "1000::"}), NOT_WRITTEN, True),
    ("ipv6 assigned to ipv4", case(V4, status=["1000::"]), ("1.2.3.0",), False),
    ("ipv4 assigned to ipv6", case(V6, status=["1.2.3.0"]), ("1000::",), False),
    ("dual", case(DUAL, policy="RequireDualStack"), ("1.2.3.0", "1000::"), False),
    (
        "dual from a pool",
        case(DUAL, policy="RequireDualStack", notes={POOL_NOTE: "pool5"}),
        ("1.2.3.0", "1000::"),
        False,
    ),
    ("dual, PreferDualStack", case(DUAL, policy="PreferDualStack"), ("1.2.3.0", "1000::"), False),
    (
        "single stack, PreferDualStack, namespace pool",
        case(V4, policy="PreferDualStack", namespace="test-ns1"),
        ("7.8.9.0",),
        False,
    ),
    (
        "dual pool, PreferDualStack",
        case(DUAL, policy="PreferDualStack", notes={POOL_NOTE: "pool5"}),
        ("1.2.3.0", "1000::"),
        False,
    ),
    (
        "ipv4 pool, PreferDualStack",
        case(["1.2.3.4", "1000::"], policy="PreferDualStack", notes={POOL_NOTE: "pool1"}),
        ("1.2.3.0",),
        False,
    ),
    (
        "ipv6 pool, PreferDualStack",
        case(["1000::1"], policy="PreferDualStack", notes={POOL_NOTE: "pool3"}),
        ("1000::",),
        False,
    ),
    ("one IP on dual stack", case(DUAL, lb_ip="1.2.3.1"), NOT_WRITTEN, True),
    ("one IP annotation on dual stack", case(DUAL, notes={LB_IPS: "1.2.3.1"}), NOT_WRITTEN, True),
    (
        "dual IPs by annotation",
        case(DUAL, policy="RequireDualStack", notes={LB_IPS: "1.2.3.0,1000::"}),
        ("1.2.3.0", "1000::"),
        False,
    ),
    (
        "dual with invalid ingress",
        case(
            ["3000::1", "5.6.7.8"],
            policy="RequireDualStack",
            ingress=[{"hostname": "foo.bar.local"}, {"ip": "1000::"}],
        ),
        ("1.2.3.0", "1000::"),
        False,
    ),
    (
        "dual IPs on a single stack cluster IP",
        case(None, cluster_ip="1.2.3.4", notes={LB_IPS: "1.2.3.0,1000::"}),
        NOT_WRITTEN,
        True,
    ),
    ("namespace pool", case(V4, namespace="test-ns1"), ("7.8.9.0",), False),
    ("no-priority namespace pool", case(V4, namespace="test-ns2"), ("16.17.18.0",), False),
    ("label pool", case(V4, labels={"team": "metallb"}), ("19.20.21.0",), False),
    (
        "namespace and label pool",
        case(V4, namespace="test-ns1", labels={"team": "metallb"}),
        ("25.26.27.0",),
        False,
    ),
    (
        "three IPs assigned: unknown family",
        case(V4, status=["1.2.3.0", "1.2.3.1", "1.2.3.2"]),
        ("1.2.3.0",),
        True,
    ),
]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metallb_controller_mutation_table(seed: int) -> None:
    controller = Controller(MUTATION_POOLS, behavior="metallb-0.15")
    cases = list(MUTATION_CASES)
    random.Random(seed).shuffle(cases)
    for description, manifest, written, warns in cases * 2:
        result = controller.set_balancer("test", copy.deepcopy(manifest) if manifest else None)
        assert result.state != "error", description
        assert bool(result.warnings) == warns, (description, result.warnings)
        if written is None:
            assert result.service is None, (description, result.service)
        else:
            assert result.service is not None, description
            assert ingress_ips(result.service) == written, description


def test_metallb_delete_recycles_ip() -> None:
    controller = Controller([Pool("default", ["1.2.3.0/32"])])
    first = controller.set_balancer("test", case(V4))
    assert first.service is not None and ingress_ips(first.service) == ("1.2.3.0",)
    second = controller.set_balancer("test2", case(V4))
    assert second.service is None  # nothing left, nothing to write
    assert controller.set_balancer("test", None).state == REPROCESS_ALL
    again = controller.set_balancer("test2", case(V4))
    assert again.service is not None and ingress_ips(again.service) == ("1.2.3.0",)


def test_metallb_controller_config() -> None:
    controller = Controller(None)
    service = case(V4)
    assert controller.set_balancer("test", service) == controller.set_balancer("test", service)
    assert controller.set_balancer("test", service).service is None
    controller.set_pools([])
    controller.set_pools([Pool("default", ["1.2.3.0/24"])])
    result = controller.set_balancer("test", service)
    assert result.service is not None and ingress_ips(result.service) == ("1.2.3.0",)
    assert controller.set_pools(None) == ERROR_NO_RETRY


@pytest.mark.parametrize("behavior", ["metallb-0.14", "metallb-0.15", "fixed"])
def test_metallb_controller_reassign(behavior: str) -> None:
    default = Pool("default", ["1.2.3.0/24", "1000::1/127"])
    second = Pool("second", ["4.5.6.0/24"])
    controller = Controller(None, behavior=behavior)
    assert controller.set_pools([default]) == REPROCESS_ALL
    first = controller.set_balancer("test", case(V4))
    # An unshared Service's first allocation keeps the zero allocation key: plain success.
    assert first.state == SUCCESS
    assert first.service is not None and ingress_ips(first.service) == ("1.2.3.0",)
    controller.set_pools([default, second])
    same = controller.set_balancer("test", first.service)
    assert (same.state, same.service) == (SUCCESS, None)
    assert controller.set_pools([second]) == REPROCESS_ALL
    moved = controller.set_balancer("test", first.service)
    assert moved.state == SUCCESS
    assert moved.service is not None and ingress_ips(moved.service) == ("4.5.6.0",)


def test_metallb_controller_dual_stack_config() -> None:
    controller = Controller(None)
    service = case(["1.2.3.4", "1000::"], policy="RequireDualStack")
    first = controller.set_balancer("test", service)
    assert (first.service, first.warnings) == (None, [])
    controller.set_pools([])
    controller.set_pools([Pool("default", ["1.2.3.0/24", "1000::1/127"])])
    result = controller.set_balancer("test", service)
    assert result.service is not None
    assert ingress_ips(result.service) == ("1.2.3.0", "1000::")


def test_each_behaviour_names_its_exact_release() -> None:
    assert release_of("metallb-0.14") == "MetalLB v0.14.9"
    assert release_of(Behavior.METALLB_0_15) == "MetalLB v0.15.3"
    assert release_note("metallb-0.14") == " (MetalLB v0.14.9)"
    assert release_note("metallb-9.9") == ""
    assert set(RELEASES) == set(BEHAVIORS)
