"""Independent components: writes that touch disjoint IPs and pools are simulated apart, and the
reduction is sound — each component alone ends exactly as the whole cluster does."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from planner.model.allocator import Allocator
from planner.model.group_annotations import stamp_group_annotations
from planner.model.pools import pools_from_objects
from planner.model.simcluster import SimulatedCluster, one_at_a_time
from planner.objects import Manifest, svc_key_of
from planner.simulate.reduction import changes_allocation, components, pool_owner
from planner.simulate.world import World
from tests.plan.test_build import ip_pool, running, service

LAN = ip_pool("lan", "10.0.0.0/29")
DMZ = ip_pool("dmz", "10.0.1.0/29", auto_assign=False)
POOLS = pools_from_objects([LAN, DMZ])


def by_key(manifests: list[Manifest]) -> dict[str, Manifest]:
    return {svc_key_of(m): m for m in manifests}


def test_a_write_that_changes_no_allocation_input_is_left_out() -> None:
    live = by_key(running([service("a", share="k", ips=["10.0.0.1"])], [LAN]))
    annotated = stamp_group_annotations([service("a", share="k", ips=["10.0.0.1"])])[0]
    assert not changes_allocation("apps/a", annotated, live)
    assert changes_allocation("apps/a", service("a", share="k", ips=["10.0.0.2"]), live)
    assert changes_allocation("apps/a", None, live)
    assert changes_allocation("apps/new", service("new"), live)
    assert components([("apps/a", annotated)], live, POOLS) == []


def test_groups_on_disjoint_ips_are_separate_components() -> None:
    live_list = [
        service("a1", share="a", ips=["10.0.0.1"]),
        service("a2", port=81, share="a", ips=["10.0.0.1"]),
        service("b1", share="b", ips=["10.0.0.2"]),
    ]
    live = by_key(running(live_list, [LAN]))
    writes = [
        ("apps/a1", service("a1", share="a", ips=["10.0.0.1"], local=True)),
        ("apps/a2", service("a2", port=81, share="a", ips=["10.0.0.1"], local=True)),
        ("apps/b1", service("b1", share="b", ips=["10.0.0.2"], local=True)),
    ]
    found = components(writes, live, POOLS)
    assert [c.services for c in found] == [("apps/a1", "apps/a2"), ("apps/b1",)]
    assert [c.context for c in found] == [("apps/a1", "apps/a2"), ("apps/b1",)]


def test_the_context_holds_the_other_holders_of_a_written_services_ip() -> None:
    live = by_key(
        running(
            [
                service("a", share="k", ips=["10.0.0.1"]),
                service("b", port=81, share="k", ips=["10.0.0.1"]),
            ],
            [LAN],
        )
    )
    (only,) = components([("apps/a", service("a", share="k", ips=["10.0.0.3"]))], live, POOLS)
    assert only.services == ("apps/a",)
    assert only.context == ("apps/a", "apps/b")


def test_auto_assigned_writes_drawing_from_one_pool_are_one_component_with_its_holders() -> None:
    live = by_key(running([service("held", ips=["10.0.0.4"])], [LAN, DMZ]))
    writes = [("apps/x", service("x", port=81)), ("apps/y", service("y", port=82))]
    (only,) = components(writes, live, POOLS)
    assert only.services == ("apps/x", "apps/y")
    assert only.context == ()
    assert only.frozen == ("apps/held",)  # its IP is taken; the controller never handles it


def test_an_ip_requested_in_a_pool_an_auto_assigned_write_draws_from_joins_it() -> None:
    writes = [("apps/pinned", service("pinned", ips=["10.0.0.1"])), ("apps/auto", service("auto"))]
    assert [c.services for c in components(writes, {}, POOLS)] == [("apps/auto", "apps/pinned")]


def test_a_requested_ip_in_a_pool_nobody_draws_from_stays_apart() -> None:
    writes = [
        ("apps/pinned", service("pinned", ips=["10.0.1.1"])),
        ("apps/auto", service("auto")),
    ]
    assert [c.services for c in components(writes, {}, POOLS)] == [
        ("apps/auto",),
        ("apps/pinned",),
    ]


def test_an_unchanged_member_stays_when_another_member_of_its_group_changes() -> None:
    before = [
        service("a", share="k", ips=["10.0.0.1"]),
        service("b", port=81, share="k", ips=["10.0.0.1"]),
    ]
    live = by_key(running(before, [LAN]))
    after = stamp_group_annotations(
        [
            service("a", share="k", ips=["10.0.0.1"]),
            service("b", port=82, share="k", ips=["10.0.0.1"]),
        ]
    )
    writes = [(svc_key_of(m), m) for m in after]
    (only,) = components(writes, live, POOLS)
    assert only.services == ("apps/a", "apps/b")


def _end_ips(cluster: SimulatedCluster) -> dict[str, tuple[str, ...]]:
    return {svc: cluster.ips(svc) for svc in cluster.store}


def test_each_component_alone_ends_as_the_whole_cluster_does_in_every_write_order() -> None:
    """The soundness argument of planner.simulate.reduction on one example: two groups changing keys on
    their own IPs, an auto-assigned creation and a deletion, under every behaviour and order."""
    before = [
        service("a1", share="a", ips=["10.0.0.1"]),
        service("a2", port=81, share="a", ips=["10.0.0.1"]),
        service("b1", share="b", ips=["10.0.1.1"], pool="dmz"),
        service("b2", port=81, share="b", ips=["10.0.1.1"], pool="dmz"),
        service("gone", port=90),
    ]
    live = by_key(running(before, [LAN, DMZ]))
    after = stamp_group_annotations(
        [
            service("a1", share="a", ips=["10.0.0.1"], local=True, app="a"),
            service("a2", port=81, share="a", ips=["10.0.0.1"], local=True, app="a"),
            service("b1", share="b", ips=["10.0.1.1"], pool="dmz", local=True, app="b"),
            service("b2", port=81, share="b", ips=["10.0.1.1"], pool="dmz", local=True, app="b"),
            service("new", port=91),
        ]
    )
    writes = [(svc_key_of(m), m) for m in after] + [("apps/gone", None)]
    parts = components(writes, live, POOLS)
    assert [p.services for p in parts] == [
        ("apps/a1", "apps/a2", "apps/gone", "apps/new"),  # a's IP is in the pool `new` draws from
        ("apps/b1", "apps/b2"),
    ]
    for behavior in ("metallb-0.15", "fixed"):
        whole = SimulatedCluster.bootstrap(POOLS, live, behavior)
        world = World(live, POOLS, POOLS)
        alone = {
            part.services: world.cluster(part.context, behavior, part.frozen) for part in parts
        }
        for order in itertools.islice(itertools.permutations(writes), 0, None, 41):
            together = _end_ips(one_at_a_time(whole, list(order)).cluster)
            for part in parts:
                mine = [w for w in order if w[0] in part.services]
                run = one_at_a_time(alone[part.services], mine).cluster
                assert _end_ips(run) == {s: together[s] for s in run.store}


def test_the_pool_owner_asks_the_allocator_once_per_ip(monkeypatch: pytest.MonkeyPatch) -> None:
    """The owner of an IP is the allocator's answer, remembered: asked again, the same answer
    without another look-up ("" for an IP no pool owns)."""
    asked: list[tuple[str, ...]] = []
    looked_up = Allocator.pool_for_ips

    def counting(self: Allocator, ips: Sequence[str]) -> str | None:
        asked.append(tuple(ips))
        return looked_up(self, ips)

    monkeypatch.setattr(Allocator, "pool_for_ips", counting)
    owner = pool_owner(POOLS)
    ips = ["10.0.0.1", "10.0.1.2", "192.168.0.1", "10.0.0.1", "192.168.0.1", "10.0.1.2"]
    assert [owner(ip) for ip in ips] == ["lan", "dmz", "", "lan", "", "dmz"]
    assert asked == [("10.0.0.1",), ("10.0.1.2",), ("192.168.0.1",)]
