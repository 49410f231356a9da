"""The seed scenario (samples/seed-dns-local) on the simulated cluster, for every behaviour.

dns-tcp (TCP/53) and dns-udp (UDP/53) share 192.168.10.53 with `allow-shared-ip`; one commit
switches both from externalTrafficPolicy Cluster to Local with the same selector, so their
backend key changes and whichever member MetalLB handles first no longer matches the other.
"""

from __future__ import annotations

import copy
import hashlib
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.model.pools import pools_from_objects
from planner.model.service import (
    GROUP_ANNOTATION,
    GROUP_DIGEST_ANNOTATION,
    GROUP_MEMBERS_ANNOTATION,
    LB_IPS_ANNOTATION,
    allocation_inputs,
)
from planner.model.simcluster import (
    Run,
    SimulatedCluster,
    all_at_once,
    explore,
    one_at_a_time,
)
from planner.objects import svc_key_of

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "seed-dns-local"
TCP, UDP = "dns/dns-tcp", "dns/dns-udp"
IP = ("192.168.10.53",)
ORDERS = [(TCP, UDP), (UDP, TCP)]


def with_group_annotations(manifests: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies stamped with the group-wide annotations (a small stand-in for planner.model.group_annotations).

    A group is the LoadBalancer Services with one non-empty sharing key and the same requested
    IPs (or pool); the digest hashes every member's allocation inputs.
    """
    stamped = [copy.deepcopy(m) for m in manifests]
    inputs = {svc_key_of(m): allocation_inputs(m) for m in stamped}
    groups: dict[str, list[str]] = defaultdict(list)
    for key, found in sorted(inputs.items()):
        if found.is_load_balancer and found.sharing_key:
            target = ",".join(found.requested_ips) or found.requested_pool or "*"
            groups[f"{found.sharing_key}@{target}"].append(key)
    for group, members in groups.items():
        if len(members) < 2:
            continue
        digest = hashlib.sha256(repr([inputs[m] for m in members]).encode()).hexdigest()[:32]
        for manifest in stamped:
            if svc_key_of(manifest) in members:
                annotations = manifest["metadata"].setdefault("annotations", {})
                annotations[GROUP_ANNOTATION] = group
                annotations[GROUP_MEMBERS_ANNOTATION] = ",".join(members)
                annotations[GROUP_DIGEST_ANNOTATION] = digest
    return stamped


def load_sample() -> tuple[list[Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """(pools, live Services with statuses, desired Services) from the sample's files."""
    live = yaml.safe_load((SAMPLE / "live.yaml").read_text())["items"]
    desired = list(yaml.safe_load_all((SAMPLE / "desired" / "dns.yaml").read_text()))
    pools = pools_from_objects(yaml.safe_load_all((SAMPLE / "desired" / "pool.yaml").read_text()))
    services = [item for item in live if item["kind"] == "Service"]
    return pools, services, desired


def scenario(
    behavior: str, *, annotated: bool = False, auto_assigned: bool = False
) -> tuple[SimulatedCluster, dict[str, dict[str, Any]]]:
    """The bootstrapped live cluster and the desired write of each Service."""
    pools, live, desired = load_sample()
    if auto_assigned:
        for manifest in [*live, *desired]:
            manifest["metadata"]["annotations"].pop(LB_IPS_ANNOTATION)
    if annotated:
        live, desired = with_group_annotations(live), with_group_annotations(desired)
    cluster = SimulatedCluster.bootstrap(pools, live, behavior)
    return cluster, {svc_key_of(m): m for m in desired}


def writes_in(order: tuple[str, str], desired: dict[str, dict[str, Any]]) -> list[Any]:
    return [(key, desired[key]) for key in order]


def facts(run: Run) -> dict[str, tuple[bool, bool, bool, tuple[str, ...]]]:
    """(went pending, stuck at the end, changed IP, final IPs) per Service."""
    c = run.cluster
    return {
        k: (c.went_pending(k), c.stuck_at_end(k), c.changed_ip(k), c.ips(k)) for k in (TCP, UDP)
    }


class TestBootstrap:
    @pytest.mark.parametrize("behavior", ["metallb-0.14", "metallb-0.15", "fixed"])
    def test_live_state_is_taken_over_as_is(self, behavior: str) -> None:
        cluster, _ = scenario(behavior)
        assert cluster.ips(TCP) == cluster.ips(UDP) == IP
        assert cluster.controller.allocator.holders(IP[0]) == [TCP, UDP]
        assert cluster.controller.allocation_key(TCP) == ("dns-192.168.10.53", "")
        assert cluster.queue == []


class TestOneWriteAtATime:
    """Each write is fully processed before the next one arrives."""

    @pytest.mark.parametrize("order", ORDERS)
    def test_metallb_0_14_first_member_stays_pending(self, order: tuple[str, str]) -> None:
        cluster, desired = scenario("metallb-0.14")
        run = one_at_a_time(cluster, writes_in(order, desired))
        first, second = order
        assert facts(run)[first] == (True, True, False, ())
        assert facts(run)[second] == (False, False, False, IP)
        assert any("can't change sharing key" in w for w in run.cluster.warnings(first))

    @pytest.mark.parametrize("order", ORDERS)
    def test_metallb_0_14_touching_the_stuck_member_brings_it_back(
        self, order: tuple[str, str]
    ) -> None:
        cluster, desired = scenario("metallb-0.14")
        stuck = one_at_a_time(cluster, writes_in(order, desired)).cluster
        touched = copy.deepcopy(desired[order[0]])
        touched["metadata"]["labels"]["nudge"] = "1"
        stuck.arrive(order[0], touched)
        assert stuck.settle()
        assert stuck.ips(order[0]) == IP
        assert stuck.statuses(order[0]) == [IP, (), IP]

    @pytest.mark.parametrize("order", ORDERS)
    def test_metallb_0_15_first_member_pending_for_a_while(self, order: tuple[str, str]) -> None:
        cluster, desired = scenario("metallb-0.15")
        run = one_at_a_time(cluster, writes_in(order, desired))
        first, second = order
        assert facts(run)[first] == (True, False, False, IP)
        assert facts(run)[second] == (False, False, False, IP)
        # Pending from its own event until the second member's key change reprocessed it.
        assert run.cluster.pending_steps(first) >= 2
        assert run.cluster.statuses(first) == [IP, (), IP]

    @pytest.mark.parametrize("order", ORDERS)
    def test_fixed_without_annotations_is_metallb_0_15(self, order: tuple[str, str]) -> None:
        fixed, desired = scenario("fixed")
        stock, _ = scenario("metallb-0.15")
        writes = writes_in(order, desired)
        fixed_run, stock_run = one_at_a_time(fixed, writes), one_at_a_time(stock, writes)
        assert facts(fixed_run) == facts(stock_run)
        assert fixed_run.schedule == stock_run.schedule
        assert facts(fixed_run)[order[0]][0]  # it does go pending

    @pytest.mark.parametrize("order", ORDERS)
    def test_fixed_with_annotations_nobody_pending(self, order: tuple[str, str]) -> None:
        cluster, desired = scenario("fixed", annotated=True)
        run = one_at_a_time(cluster, writes_in(order, desired))
        assert facts(run) == {TCP: (False, False, False, IP), UDP: (False, False, False, IP)}
        allocator = run.cluster.controller.allocator
        assert allocator.remembered_key(IP[0]) == (
            "dns-192.168.10.53",
            "app.kubernetes.io/name=coredns",
        )


class TestBothWritesBeforeTheController:
    """Both writes arrive before the controller handles either of them."""

    @pytest.mark.parametrize("behavior", ["metallb-0.14", "metallb-0.15"])
    @pytest.mark.parametrize("order", ORDERS)
    def test_first_member_pending_then_saved(self, behavior: str, order: tuple[str, str]) -> None:
        # The first member fails against the second's old key and loses the IP; its own status
        # write queues it again behind the second member's event, which moves the IP to the
        # new key: so it gets the IP back, with v0.14 too (luck: the timing saved it).
        cluster, desired = scenario(behavior)
        run = all_at_once(cluster, writes_in(order, desired))
        first, second = order
        assert facts(run)[first] == (True, False, False, IP)
        assert facts(run)[second] == (False, False, False, IP)

    @pytest.mark.parametrize("order", ORDERS)
    def test_fixed_with_annotations(self, order: tuple[str, str]) -> None:
        cluster, desired = scenario("fixed", annotated=True)
        run = all_at_once(cluster, writes_in(order, desired))
        assert facts(run) == {TCP: (False, False, False, IP), UDP: (False, False, False, IP)}


class TestEveryInterleaving:
    def _runs(self, behavior: str, annotated: bool = False) -> list[Run]:
        cluster, desired = scenario(behavior, annotated=annotated)
        return list(explore(cluster, writes_in((TCP, UDP), desired), explore_ties=True))

    def test_metallb_0_14_stuck_in_some_orders_saved_by_luck_in_others(self) -> None:
        runs = self._runs("metallb-0.14")
        assert all(r.settled for r in runs)
        assert all(any(f[0] for f in facts(r).values()) for r in runs)  # always someone pending
        stuck = [r for r in runs if any(f[1] for f in facts(r).values())]
        assert stuck and len(stuck) < len(runs)

    def test_metallb_0_15_always_pending_never_stuck(self) -> None:
        runs = self._runs("metallb-0.15")
        assert all(any(f[0] for f in facts(r).values()) for r in runs)
        assert all(f[3] == IP for r in runs for f in facts(r).values())

    def test_fixed_with_annotations_never_pending(self) -> None:
        runs = self._runs("fixed", annotated=True)
        assert len(runs) >= 6
        for run in runs:
            assert facts(run) == {TCP: (False, False, False, IP), UDP: (False, False, False, IP)}, (
                run.describe()
            )


class TestAutoAssigned:
    """No requested IPs: the members share 192.168.10.53 only because MetalLB put them there."""

    @pytest.mark.parametrize("behavior", ["metallb-0.14", "metallb-0.15"])
    @pytest.mark.parametrize("order", ORDERS)
    def test_silent_split(self, behavior: str, order: tuple[str, str]) -> None:
        cluster, desired = scenario(behavior, auto_assigned=True)
        run = one_at_a_time(cluster, writes_in(order, desired))
        first, second = order
        # The first member cannot keep .53, so it takes the first free address instead:
        # never pending, no AllocationFailed, but the group is split across two IPs.
        assert facts(run)[first] == (False, False, True, ("192.168.10.0",))
        assert facts(run)[second] == (False, False, False, IP)
        assert not any(w.startswith("AllocationFailed") for w in run.cluster.warnings(first))

    def test_fixed_with_annotations_keeps_the_group_together(self) -> None:
        cluster, desired = scenario("fixed", auto_assigned=True, annotated=True)
        for run in explore(cluster, writes_in((TCP, UDP), desired)):
            assert facts(run) == {TCP: (False, False, False, IP), UDP: (False, False, False, IP)}
