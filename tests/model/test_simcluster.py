"""The simulated cluster: event model, schedules, history, and the `fixed` group property."""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.model import simcluster
from planner.model.allocator import Pool
from planner.model.controller import Controller, Result
from planner.model.service import (
    ALLOCATED_FROM_POOL_ANNOTATION,
    LB_IPS_ANNOTATION,
    ingress_ips,
)
from planner.model.simcluster import (
    RELOAD,
    Arrive,
    Process,
    SimulatedCluster,
    adversarial_runs,
    explore,
    random_runs,
    replay,
)
from tests.model.test_seed_scenario import with_group_annotations

ONE_IP = Pool("one", ["10.0.0.1/32"])
LAN = Pool("lan", ["10.0.0.0/27"])
LAN2 = Pool("lan2", ["10.0.1.0/29"])  # fixed pools for the example tests


def svc(
    name: str,
    *,
    status: tuple[str, ...] = (),
    ip: str | None = None,
    share: str | None = None,
    ports: list[tuple[str, int]] | None = None,
    local: bool = False,
    pool: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A LoadBalancer Service in namespace "ns", optionally with a status."""
    annotations = {"metallb.io/address-pool": pool} if pool else {}
    if ip:
        annotations[LB_IPS_ANNOTATION] = ip
    if share:
        annotations["metallb.io/allow-shared-ip"] = share
    body: dict[str, Any] = {
        "type": "LoadBalancer",
        "selector": {"app": "web"},
        "externalTrafficPolicy": "Local" if local else "Cluster",
        "ports": [{"port": p, "protocol": proto} for proto, p in (ports or [("TCP", 80)])],
    }
    body.update(spec)
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "ns", "annotations": annotations},
        "spec": body,
    }
    if status:
        manifest["status"] = {"loadBalancer": {"ingress": [{"ip": i} for i in status]}}
    return manifest


class TestBootstrap:
    def test_assigned_services_first_keep_their_ip(self) -> None:
        # "aaa" sorts first by name but holds nothing: the holder is handled first anyway.
        holder = svc("zzz", status=("10.0.0.1",), share="a")
        newcomer = svc("aaa", ip="10.0.0.1", share="b")
        cluster = SimulatedCluster.bootstrap([ONE_IP], [newcomer, holder], "metallb-0.15")
        assert cluster.ips("ns/zzz") == ("10.0.0.1",)
        assert cluster.stuck_at_end("ns/aaa")
        assert cluster.handled[0].item == RELOAD
        assert [k for k, _ in cluster.handled[0].results] == ["ns/zzz", "ns/aaa"]

    def test_cluster_ips_assigned_for_new_services(self) -> None:
        cluster = SimulatedCluster.bootstrap([LAN], [svc("a")], "metallb-0.15")
        spec = cluster.store["ns/a"]["spec"]
        assert spec["clusterIPs"] == [spec["clusterIP"]]
        assert cluster.ips("ns/a") == ("10.0.0.0",)

    def test_dual_stack_cluster_ips(self) -> None:
        pools = [Pool("dual", ["10.0.0.0/27", "fd00::/120"])]
        service = svc("a", ipFamilyPolicy="RequireDualStack")
        cluster = SimulatedCluster.bootstrap(pools, [service], "metallb-0.15")
        assert cluster.ips("ns/a") == ("10.0.0.0", "fd00::")


class TestEvents:
    def test_arrival_keeps_status_pool_annotation_and_cluster_ip(self) -> None:
        cluster = SimulatedCluster.bootstrap([LAN], [svc("a")], "metallb-0.15")
        before = copy.deepcopy(cluster.store["ns/a"])
        cluster.arrive("ns/a", svc("a", ports=[("TCP", 81)]))
        stored = cluster.store["ns/a"]
        assert stored["status"] == before["status"]
        assert stored["metadata"]["annotations"][ALLOCATED_FROM_POOL_ANNOTATION] == "lan"
        assert stored["spec"]["clusterIP"] == before["spec"]["clusterIP"]
        assert cluster.queue == ["ns/a"]

    def test_queue_deduplicates(self) -> None:
        cluster = SimulatedCluster.bootstrap([LAN], [svc("a")], "metallb-0.15")
        cluster.arrive("ns/a", svc("a", ports=[("TCP", 81)]))
        cluster.arrive("ns/a", svc("a", ports=[("TCP", 82)]))
        assert cluster.queue == ["ns/a"]

    def test_own_status_write_queues_the_service_again(self) -> None:
        cluster = SimulatedCluster.bootstrap([LAN], [], "metallb-0.15")
        cluster.arrive("ns/a", svc("a"))
        cluster.process_next()
        assert cluster.ips("ns/a") == ("10.0.0.0",)
        assert cluster.queue == ["ns/a"]  # the echo of its own write
        handled = cluster.process_next()
        assert handled is not None and handled.results[0][1].service is None
        assert cluster.queue == []

    def test_deleting_a_holder_lets_a_waiting_service_in(self) -> None:
        holder = svc("a", status=("10.0.0.1",))
        cluster = SimulatedCluster.bootstrap([ONE_IP], [holder, svc("b")], "metallb-0.14")
        assert cluster.stuck_at_end("ns/b")
        cluster.arrive("ns/a", None)
        cluster.process_next()
        assert cluster.queue == [RELOAD]
        assert cluster.settle()
        assert cluster.ips("ns/b") == ("10.0.0.1",)
        assert not cluster.went_pending("ns/b")  # it never had an IP before

    def test_pass_orders_put_assigned_first_and_permute_ties(self) -> None:
        services = [svc(name) for name in ("d", "c", "b")] + [svc("a", status=("10.0.0.1",))]
        cluster = SimulatedCluster.bootstrap([ONE_IP], services, "metallb-0.15")
        assert [cluster.ips(f"ns/{n}") for n in "abcd"] == [("10.0.0.1",), (), (), ()]
        orders = cluster.pass_orders(all_ties=True)
        assert orders[0] == ("ns/a", "ns/b", "ns/c", "ns/d")
        assert len(set(orders)) == 6
        assert {order[0] for order in orders} == {"ns/a"}
        cluster.arrive("ns/e", svc("e"))
        assert len(set(cluster.pass_orders(all_ties=True))) == 24  # 4 pending: 4! orders
        cluster.arrive("ns/f", svc("f"))
        # 5! is over the cap: the default order and the one with ties reversed.
        assert cluster.pass_orders(all_ties=True) == [
            ("ns/a", "ns/b", "ns/c", "ns/d", "ns/e", "ns/f"),
            ("ns/a", "ns/f", "ns/e", "ns/d", "ns/c", "ns/b"),
        ]


class TestConfiguration:
    def test_new_pools_reprocess_every_service(self) -> None:
        cluster = SimulatedCluster.bootstrap([LAN], [svc("a")], "metallb-0.15")
        cluster.set_pools([LAN2])
        assert cluster.queue == [RELOAD]
        assert cluster.settle()
        # Its IP left every pool: it moves straight to one of the new pool, never pending.
        assert cluster.ips("ns/a") == ("10.0.1.0",)
        assert cluster.changed_ip("ns/a") and not cluster.went_pending("ns/a")

    def test_namespace_selectors_read_namespace_labels(self) -> None:
        pinned = Pool("team", ["10.0.2.0/30"], namespace_selectors=[{"matchLabels": {"t": "x"}}])
        labels = {"ns": {"t": "x"}}
        cluster = SimulatedCluster.bootstrap([LAN, pinned], [svc("a")], namespaces=labels)
        assert cluster.ips("ns/a") == ("10.0.2.0",)
        unlabelled = SimulatedCluster.bootstrap([LAN, pinned], [svc("a")], namespaces={"ns": {}})
        assert unlabelled.ips("ns/a") == ("10.0.0.0",)


class TestHistory:
    def test_facts(self) -> None:
        holder = svc("a", status=("10.0.0.1",), ports=[("TCP", 1)], share="k")
        cluster = SimulatedCluster.bootstrap([LAN], [holder], "metallb-0.15")
        cluster.arrive("ns/a", svc("a", ip="10.0.0.5", ports=[("TCP", 1)], share="k"))
        assert cluster.settle()
        assert cluster.changed_ip("ns/a")
        assert not cluster.went_pending("ns/a")
        assert cluster.statuses("ns/a") == [("10.0.0.1",), ("10.0.0.5",)]
        cluster.arrive("ns/a", svc("a", ip="10.9.9.9", ports=[("TCP", 1)], share="k"))
        assert cluster.settle()
        assert cluster.went_pending("ns/a") and cluster.stuck_at_end("ns/a")
        assert cluster.pending_steps("ns/a") >= 1
        assert cluster.warnings("ns/a")[-1].startswith("AllocationFailed")

    def test_leaving_load_balancer_is_not_an_outage(self) -> None:
        cluster = SimulatedCluster.bootstrap([LAN], [svc("a")], "metallb-0.15")
        cluster.arrive("ns/a", svc("a", type="ClusterIP"))
        assert cluster.settle()
        assert cluster.ips("ns/a") == ()
        assert not cluster.went_pending("ns/a") and not cluster.stuck_at_end("ns/a")


class TestSchedules:
    def _two_writes(self) -> tuple[SimulatedCluster, list[Any]]:
        cluster = SimulatedCluster.bootstrap([LAN], [], "metallb-0.15")
        return cluster, [("ns/a", svc("a")), ("ns/b", svc("b"))]

    def test_explore_covers_both_arrival_orders_and_leaves_the_original_alone(self) -> None:
        cluster, writes = self._two_writes()
        runs = list(explore(cluster, writes))
        firsts = {run.schedule[0] for run in runs}
        assert firsts == {Arrive("ns/a"), Arrive("ns/b")}
        assert len({run.schedule for run in runs}) == len(runs)
        assert all(run.settled for run in runs)
        # The first to be handled gets .0: both outcomes show up.
        assert {run.cluster.ips("ns/a") for run in runs} == {("10.0.0.0",), ("10.0.0.1",)}
        assert cluster.store == {} and cluster.step == 1

    def test_snapshot_and_restore(self) -> None:
        cluster, writes = self._two_writes()
        saved = cluster.snapshot()
        cluster.arrive(*writes[0])
        assert cluster.settle() and cluster.ips("ns/a") == ("10.0.0.0",)
        cluster.restore(saved)
        assert (cluster.store, cluster.queue, cluster.step) == ({}, [], 1)
        assert cluster.controller.allocator.services() == []
        cluster.arrive(*writes[1])
        assert cluster.settle() and cluster.ips("ns/b") == ("10.0.0.0",)
        cluster.restore(saved)  # a snapshot can be restored more than once
        assert cluster.store == {}

    def test_random_runs_are_reproducible(self) -> None:
        cluster, writes = self._two_writes()
        first = [r.schedule for r in random_runs(cluster, writes, seed=7, count=5)]
        again = [r.schedule for r in random_runs(cluster, writes, seed=7, count=5)]
        assert first == again

    def test_replay_gives_the_same_end(self) -> None:
        cluster, writes = self._two_writes()
        for run in random_runs(cluster, writes, seed=3, count=3):
            replayed = replay(cluster, writes, run.schedule)
            assert replayed.cluster.store == run.cluster.store

    def test_adversarial_runs(self) -> None:
        cluster, writes = self._two_writes()
        labels = [run.label for run in adversarial_runs(cluster, writes)]
        assert labels == ["one at a time", "all at once", "before reprocess"] * 2

    def test_process_with_explicit_pass_order(self) -> None:
        cluster = SimulatedCluster.bootstrap([ONE_IP], [], "metallb-0.15")
        cluster.submit("ns/a", svc("a"))
        cluster.submit("ns/b", svc("b"))
        cluster.apply(Arrive("ns/a"))
        cluster.apply(Arrive("ns/b"))
        cluster.queue = [RELOAD]  # as if a reprocess-all were due before their own events
        cluster.apply(Process(("ns/b", "ns/a")))
        assert cluster.ips("ns/b") == ("10.0.0.1",)
        assert cluster.stuck_at_end("ns/a")


# --- the group-transition property (behaviour `fixed`) ----------------------------------------

EDITS = ("local", "rekey", "move", "to-blocker", "clash", "pool")
ONLY_REQUESTED = ("move", "to-blocker")  # edits of the requested IP
ONLY_AUTO = ("pool",)  # a requested IP outside the new pool would be a different failure
INFEASIBLE = ("to-blocker", "clash")
BLOCKER_IP = "10.0.0.20"


@dataclass(frozen=True)
class Group:
    index: int
    size: int
    requested: bool
    edit: str

    @property
    def ip(self) -> str:
        return f"10.0.0.{10 + self.index}"

    def members(self) -> list[str]:
        return [f"ns/g{self.index}-m{m}" for m in range(self.size)]

    def manifest(self, member: int, desired: bool) -> dict[str, Any]:
        """The member as live (with status) or as desired after this group's edit."""
        edit = self.edit if desired else ""
        ports = [("TCP", 1000 + member)]
        if edit == "clash" and member == 1:
            ports = [("TCP", 1000)]
        if self.requested:
            ip = {"move": f"10.0.0.{14 + self.index}", "to-blocker": BLOCKER_IP}.get(edit, self.ip)
        else:
            ip = None
        return svc(
            f"g{self.index}-m{member}",
            ip=ip,
            share=f"g{self.index}-new" if edit == "rekey" else f"g{self.index}",
            ports=ports,
            local=edit in ("local", "clash"),
            pool="lan2" if edit == "pool" else None,
            status=() if desired else (self.ip,),
        )

    def target(self) -> str | None:
        """The IP every member must end on (None: any one IP of pool lan2)."""
        if self.edit == "pool":
            return None
        if self.edit in INFEASIBLE:
            return self.ip
        return f"10.0.0.{14 + self.index}" if self.requested and self.edit == "move" else self.ip


def groups_strategy() -> st.SearchStrategy[list[Group]]:
    def build(specs: list[tuple[int, bool, str]]) -> list[Group]:
        groups = []
        for index, (size, requested, edit) in enumerate(specs):
            fits = edit not in (ONLY_AUTO if requested else ONLY_REQUESTED)
            groups.append(Group(index, size, requested, edit if fits else "local"))
        return groups

    spec = st.tuples(st.integers(2, 3), st.booleans(), st.sampled_from(EDITS))
    return st.lists(spec, min_size=1, max_size=2).map(build)


def pools_strategy() -> st.SearchStrategy[list[Pool]]:
    """Two pools: `lan` holds every group's old and new IPs, `lan2` is the pool-move target."""
    lan = st.builds(
        lambda addresses, avoid: Pool("lan", addresses, avoid_buggy_ips=avoid),
        st.sampled_from([["10.0.0.0/27"], ["10.0.0.0-10.0.0.40"], ["10.0.0.8/29", "10.0.0.16/29"]]),
        st.booleans(),
    )
    lan2 = st.builds(
        lambda addresses, avoid: Pool("lan2", addresses, avoid_buggy_ips=avoid),
        st.sampled_from([["10.0.1.0/29"], ["10.0.1.3-10.0.1.9"], ["10.0.1.0/30"]]),
        st.booleans(),
    )
    return st.tuples(lan, lan2).map(list)


def _component(groups: list[Group]) -> tuple[list[Any], list[tuple[str, Any]]]:
    """The random groups' live Services (and a blocker on BLOCKER_IP) and their desired writes,
    both with the group-wide annotations stamped."""
    blocker = svc("blocker", status=(BLOCKER_IP,), share="blocker", ports=[("TCP", 1)])
    live = [g.manifest(m, desired=False) for g in groups for m in range(g.size)]
    desired = [g.manifest(m, desired=True) for g in groups for m in range(g.size)]
    writes = [(f"ns/{m['metadata']['name']}", m) for m in with_group_annotations(desired)]
    return [blocker, *with_group_annotations(live)], writes


@settings(max_examples=20, deadline=None)
@given(
    groups=groups_strategy(),
    pools=pools_strategy(),
    seed=st.integers(0, 2**16),
    reverse=st.booleans(),
)
def test_fixed_groups_never_pending(
    groups: list[Group], pools: list[Pool], seed: int, reverse: bool
) -> None:
    services, writes = _component(groups)
    cluster = SimulatedCluster.bootstrap(pools, services, "fixed")
    for group in groups:
        assert all(cluster.ips(m) == (group.ip,) for m in group.members())
    if reverse:
        writes.reverse()
    runs = [*adversarial_runs(cluster, writes), *random_runs(cluster, writes, seed, count=4)]
    if len(writes) == 2:
        runs.extend(explore(cluster, writes, explore_ties=True))  # every interleaving
    for run in runs:
        end = run.cluster
        assert run.settled, run.describe()
        assert not any(end.went_pending(k) for k in end.store), run.describe()
        assert end.ips("ns/blocker") == (BLOCKER_IP,)
        ends = []
        for group in groups:
            # Feasible: every member on the target; infeasible: every member kept its IP.
            ips = {end.ips(m) for m in group.members()}
            assert len(ips) == 1, run.describe()
            ends.append(ips.pop())
            target = group.target()
            if target is None:
                assert pools[1].contains(ip_address(ends[-1][0])), run.describe()
            else:
                assert ends[-1] == (target,), run.describe()
            if group.edit in INFEASIBLE:
                member = group.members()[0]
                assert any("GroupTransitionInfeasible" in w for w in end.warnings(member))
        assert len(set(ends)) == len(ends)  # no two groups on one IP


def _everything(run: Any) -> tuple[Any, ...]:
    """A run as comparable values, down to the order set_pools walks allocations in."""
    cluster = run.cluster
    allocator = cluster.controller.allocator
    walk = tuple(allocator._allocated)
    return (
        run.schedule,
        cluster.history,
        cluster.events,
        cluster.store,
        allocator.snapshot(),
        walk,
    )


@settings(max_examples=15, deadline=None)
@given(
    groups=groups_strategy(),
    pools=pools_strategy(),
    seed=st.integers(0, 2**16),
    behavior=st.sampled_from(["fixed", "metallb-0.15", "metallb-0.14"]),
)
def test_handling_that_changed_nothing_is_not_repeated_and_nothing_else_changes(
    groups: list[Group], pools: list[Pool], seed: int, behavior: str
) -> None:
    """The controller skips a Service (or, fixed, a group transition) whose last handling
    changed nothing while neither the allocator nor the manifests changed since: every run is
    exactly as without the shortcut."""
    services, writes = _component(groups)

    def runs() -> list[Any]:
        cluster = SimulatedCluster.bootstrap(pools, services, behavior)
        found = [*adversarial_runs(cluster, writes), *random_runs(cluster, writes, seed, count=4)]
        return [_everything(run) for run in found]

    with_shortcut = runs()
    with (
        mock.patch.object(Controller, "_still_settled", return_value=False),
        mock.patch.object(Controller, "_still_unchanged", return_value=False),
    ):
        assert runs() == with_shortcut


@settings(max_examples=15, deadline=None)
@given(
    groups=groups_strategy(),
    pools=pools_strategy(),
    seed=st.integers(0, 2**16),
    behavior=st.sampled_from(["fixed", "metallb-0.15", "metallb-0.14"]),
)
def test_runs_from_a_shared_prepared_start_are_the_runs_prepared_one_by_one(
    groups: list[Group], pools: list[Pool], seed: int, behavior: str
) -> None:
    """random_runs and adversarial_runs copy one prepared start per run set: every run (its
    schedule, history, events, handled items, store and allocator) is exactly the run prepared
    on its own, and no run leaks into the next."""
    services, writes = _component(groups)
    # A Service written twice: its writes arrive in submit order, which reversing changes.
    writes.append(writes[0])

    def runs() -> list[Any]:
        cluster = SimulatedCluster.bootstrap(pools, services, behavior)
        found = [*adversarial_runs(cluster, writes), *random_runs(cluster, writes, seed, count=4)]
        return [(*_everything(run), run.cluster.handled, run.label, run.settled) for run in found]

    shared = runs()
    plain = mock.patch.object(
        simcluster, "_started", lambda cluster, writes, start: simcluster.prepared(cluster, writes)
    )
    with plain:
        assert runs() == shared


@pytest.mark.parametrize("behavior", ["fixed", "metallb-0.15", "metallb-0.14"])
def test_a_settled_service_is_handled_again_when_the_pools_change(behavior: str) -> None:
    """The shortcut holds only while the allocator is unchanged: new pools re-run the handling
    (the group's IP is in no pool any more: stock MetalLB moves it, fixed says it cannot)."""
    group = with_group_annotations(
        [
            svc("a", status=("10.0.0.5",), share="g", ports=[("TCP", 53)]),
            svc("b", status=("10.0.0.5",), share="g", ports=[("UDP", 53)]),
        ]
    )

    def story() -> tuple[Any, ...]:
        cluster = SimulatedCluster.bootstrap([LAN, LAN2], group, behavior)
        cluster.arrive("ns/a", cluster.store["ns/a"])  # handled again: nothing to do
        cluster.settle()
        cluster.set_pools([LAN2])
        cluster.settle()
        return cluster.history, cluster.events, cluster.store

    found = story()
    if behavior == "fixed":
        assert any("GroupTransitionInfeasible" in str(e) for _, e in found[1])
    else:
        moved = [ingress_ips(found[2][key]) for key in ("ns/a", "ns/b")]
        assert all(ips and ips[0].startswith("10.0.1.") for ips in moved), moved
    with (
        mock.patch.object(Controller, "_still_settled", return_value=False),
        mock.patch.object(Controller, "_still_unchanged", return_value=False),
    ):
        assert story() == found


@settings(max_examples=15, deadline=None)
@given(
    groups=groups_strategy(),
    pools=pools_strategy(),
    seed=st.integers(0, 2**16),
)
def test_a_groups_remembered_readiness_and_order_change_nothing(
    groups: list[Group], pools: list[Pool], seed: int
) -> None:
    """`fixed` remembers a group's readiness and transition order while its members' cached
    manifests are the same objects: every run is exactly as when both are read afresh."""
    services, writes = _component(groups)

    def runs() -> list[Any]:
        cluster = SimulatedCluster.bootstrap(pools, services, "fixed")
        found = [*adversarial_runs(cluster, writes), *random_runs(cluster, writes, seed, count=4)]
        return [_everything(run) for run in found]

    remembered = runs()
    fresh_facts = Controller._group_facts

    def afresh(self: Controller, members: tuple[str, ...], digest: str) -> Any:
        self._group_memo.clear()
        return fresh_facts(self, members, digest)

    with mock.patch.object(Controller, "_group_facts", afresh):
        assert runs() == remembered


@pytest.mark.parametrize("behavior", ["metallb-0.15", "metallb-0.14"])
def test_a_pending_service_handled_again_on_the_same_state_is_answered_again(
    behavior: str,
) -> None:
    """A Service that cannot have its requested IP fails the same way on an unchanged
    allocator: the second handling is answered without running (no convergeBalancer), alike."""
    blocker = svc("blocker", status=("10.0.0.5",), share="b", clusterIP="10.96.0.1")
    wanted = svc("wanted", ip="10.0.0.5", share="w", ports=[("UDP", 53)], clusterIP="10.96.0.2")
    controller = Controller([LAN], behavior, shares_manifests=True)
    controller.set_balancer("ns/blocker", blocker)
    first = controller.set_balancer("ns/wanted", wanted)
    assert first.state == "error_no_retry" and first.warnings, first
    with mock.patch.object(Controller, "_converge_one") as converge:
        again = controller.set_balancer("ns/wanted", wanted)
    converge.assert_not_called()
    assert again == first and again.warnings is not first.warnings
    controller.set_balancer("ns/blocker", None)  # the allocator changed: handled for real
    assert controller.set_balancer("ns/wanted", wanted).state != "error_no_retry"


def test_a_settled_sharing_service_is_not_handled_again_when_only_others_changed() -> None:
    """A sharing Service that converged with nothing to do reads only its allocation, its IP's
    key and its ports' holders: another Service coming is no reason to run it again; its IP
    remembering another key is."""
    a = svc("a", status=("10.0.0.5",), share="g", ports=[("TCP", 53)], clusterIP="10.96.0.1")
    b = svc("b", ip="10.0.0.5", share="g", ports=[("UDP", 53)], clusterIP="10.96.0.2")
    controller = Controller([LAN], "metallb-0.15", shares_manifests=True)
    a = controller.set_balancer("ns/a", a).service or a  # as MetalLB wrote it
    assert controller.set_balancer("ns/a", a) == Result("success")
    # The allocator changes, not what `a` reads.
    assert controller.set_balancer("ns/b", b).service is not None
    with mock.patch.object(Controller, "_converge_one") as converge:
        assert controller.set_balancer("ns/a", a).state == "success"
    converge.assert_not_called()
    controller.allocator._key_for_ip[ip_address("10.0.0.5")] = controller.allocator._key_for_ip[
        ip_address("10.0.0.5")
    ]._replace(sharing="other")
    ran = Result("error", a)  # a write: nothing to remember
    with mock.patch.object(Controller, "_converge_one", return_value=ran) as converge:
        assert controller.set_balancer("ns/a", a) is ran
    converge.assert_called_once()


# --- per-step shortcuts: each one is what the plain computation gives ----------------------


def _listed_runs(
    cluster: SimulatedCluster, writes: list[Any], seed: int, count: int, max_steps: int = 500
) -> list[tuple[Any, ...]]:
    """random_runs as it was: every step builds the whole option list and draws from it. At
    every step each option drawn by index is the listed one, and the warnings and tie groups
    the indexes keep are those a scan of the events and of the stored Services gives."""
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        state = simcluster.prepared(cluster, writes)
        schedule: list[simcluster.Action] = []
        while len(schedule) < max_steps:
            actions = state.options(True)
            assert state.option_count(True) == len(actions)
            assert [state.option(i, True) for i in range(len(actions))] == actions
            _assert_indexes_are_scans(state)
            if not actions:
                break
            action = rng.choice(actions)
            state.apply(action)
            schedule.append(action)
        found.append((tuple(schedule), state.history, state.events, not state.options()))
    return found


def _assert_indexes_are_scans(state: SimulatedCluster) -> None:
    for key in {e.svc_key for _, e in state.events} | set(state.store):
        scanned = [str(e) for _, e in state.events if e.svc_key == key and e.type == "Warning"]
        assert state.warnings(key) == scanned
    by_count: dict[int, list[str]] = {}
    for key in sorted(state.store):
        by_count.setdefault(len(ingress_ips(state.store[key])), []).append(key)
    assert state._tie_groups() == [by_count[n] for n in sorted(by_count, reverse=True)]
    assert state.pending_writes() == sorted(k for k, w in state._pending.items() if w)


@settings(max_examples=15, deadline=None)
@given(
    groups=groups_strategy(),
    pools=pools_strategy(),
    seed=st.integers(0, 2**16),
    behavior=st.sampled_from(["fixed", "metallb-0.15", "metallb-0.14"]),
)
def test_random_runs_draw_as_a_draw_from_the_whole_option_list(
    groups: list[Group], pools: list[Pool], seed: int, behavior: str
) -> None:
    """random_runs draws an option's index (rng.choice over range(option_count)) and builds
    that one option: the same schedules, histories and events as drawing from options()."""
    services, writes = _component(groups)
    writes.append(writes[0])  # a Service written twice stays pending after its first arrival
    cluster = SimulatedCluster.bootstrap(pools, services, behavior)
    drawn = [
        (r.schedule, r.cluster.history, r.cluster.events, r.settled)
        for r in random_runs(cluster, writes, seed, count=4)
    ]
    assert drawn == _listed_runs(cluster, writes, seed, count=4)


@pytest.mark.parametrize(("services", "orders"), [(3, 6), (5, 2)])
def test_options_by_index_at_a_reprocess_all_pass(services: int, orders: int) -> None:
    """At a queued reprocess-all pass with ties: every order among 3 pending Services (3! = 6),
    only sorted and reversed among 5 (5! > MAX_PASS_ORDERS); with a pending write first."""
    cluster = SimulatedCluster.bootstrap([LAN], [svc(f"s{i}") for i in range(services)])
    cluster.submit("ns/late", svc("late"))
    cluster.queue.append(RELOAD)
    actions = cluster.options(explore_ties=True)
    assert len(actions) == 1 + orders == cluster.option_count(explore_ties=True)
    assert [cluster.option(i, explore_ties=True) for i in range(len(actions))] == actions
    assert cluster.option(1) == Process() == cluster.options()[1]
    with pytest.raises(IndexError):
        cluster.option(len(actions), explore_ties=True)


def test_warnings_of_a_copy_are_its_own() -> None:
    """The per-Service warning index is copied with the cluster: a branch's warnings do not
    reach the cluster it was copied from, and a restore brings the saved ones back."""
    cluster = SimulatedCluster.bootstrap([ONE_IP], [svc("a", status=("10.0.0.1",))])
    saved = cluster.snapshot()
    branch = cluster.copy()
    branch.arrive("ns/b", svc("b"))  # the only IP is taken: b gets a warning
    branch.settle()
    assert branch.warnings("ns/b") and not cluster.warnings("ns/b")
    cluster.arrive("ns/b", svc("b"))
    cluster.settle()
    assert cluster.warnings("ns/b") == branch.warnings("ns/b")
    cluster.restore(saved)
    assert cluster.warnings("ns/b") == []


def test_a_pass_orders_by_the_stored_manifest_not_a_stale_count() -> None:
    """The ingress-IP count a pass sorts by is kept per stored manifest: a Service stored
    anew (here by hand) is counted again."""
    cluster = SimulatedCluster.bootstrap(
        [LAN], [svc("a", status=("10.0.0.1",)), svc("b", status=("10.0.0.2",))]
    )
    assert cluster.pass_orders() == [("ns/a", "ns/b")]
    two = copy.deepcopy(cluster.store["ns/b"])
    two["status"]["loadBalancer"]["ingress"].append({"ip": "10.0.0.3"})
    cluster.store["ns/b"] = two
    assert cluster.pass_orders() == [("ns/b", "ns/a")]


def test_tie_groups_are_the_callers_to_change() -> None:
    """The tie groups are kept while the store is the same; each caller gets lists of its own
    (the state explorer takes Services out of them as it hands them over)."""
    cluster = SimulatedCluster.bootstrap([LAN], [svc("a"), svc("b"), svc("c")])
    groups = cluster._tie_groups()
    assert groups == [["ns/a", "ns/b", "ns/c"]]
    groups[0].remove("ns/a")
    groups.append(["ns/x"])
    assert cluster._tie_groups() == [["ns/a", "ns/b", "ns/c"]]
    assert len(cluster.pass_orders(all_ties=True)) == 6
