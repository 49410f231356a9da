"""Units: which written Services move together, and what each unit releases and claims."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from planner.model.group_annotations import stamp_group_annotations
from planner.model.service import GROUP_ANNOTATION, Port
from planner.objects import Manifest, svc_key_of
from planner.plan.graph import GROUP_TRANSITION, SERVICE, Resource, Unit
from planner.plan.units import (
    APPLY,
    DELETE,
    Holding,
    UnitInputs,
    Write,
    _holders_by_ip,
    _kept_ip_pairs,
    draft_units,
    live_holding,
    target_holding,
    written_services,
)
from tests.plan.test_build import service

POOL = "lan"


def with_ip(manifest: Manifest, *ips: str) -> Manifest:
    """A live copy of the Service holding `ips`."""
    live = copy.deepcopy(manifest)
    live["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}
    return live


def inputs(
    live: list[Manifest],
    desired: list[Manifest],
    deleted: tuple[str, ...] = (),
    free: frozenset[str] = frozenset({"10.0.0.9"}),
) -> UnitInputs:
    """UnitInputs for a commit: every desired Service that differs from live is written."""
    stamped = {svc_key_of(m): m for m in stamp_group_annotations(desired)}
    live_by_key = {svc_key_of(m): m for m in live}
    writes: dict[str, Write] = {
        svc: Write(svc, APPLY, m)
        for svc, m in stamped.items()
        if _without_status(live_by_key.get(svc)) != m
    }
    writes.update({svc: Write(svc, DELETE, None) for svc in deleted})

    def candidates(
        _: Manifest, __: object, ___: frozenset[str]
    ) -> tuple[frozenset[str], frozenset[str]]:
        return free, frozenset({POOL})

    return UnitInputs(live_by_key, stamped, writes, lambda ip: POOL, candidates)


def _without_status(manifest: Manifest | None) -> Manifest | None:
    if manifest is None:
        return None
    return {k: v for k, v in manifest.items() if k != "status"}


def by_services(units: list[Unit]) -> Mapping[tuple[str, ...], Unit]:
    return {u.services: u for u in units}


SEED_LIVE = [
    with_ip(service("tcp", port=53, share="dns", ips=["10.0.0.5"]), "10.0.0.5"),
    with_ip(service("udp", port=53, proto="UDP", share="dns", ips=["10.0.0.5"]), "10.0.0.5"),
]
SEED_DESIRED = [
    service("tcp", port=53, share="dns", ips=["10.0.0.5"], local=True),
    service("udp", port=53, proto="UDP", share="dns", ips=["10.0.0.5"], local=True),
]


def test_live_holding_reads_status_ports_and_keys() -> None:
    holding = live_holding(SEED_LIVE[1])
    assert holding == Holding(("10.0.0.5",), (Port("UDP", 53),), "dns", "")


def test_target_holding_of_a_request_is_the_requested_ips() -> None:
    target = target_holding(SEED_DESIRED[0], SEED_LIVE[0], co_holders_stay=True)
    assert target.ips == ("10.0.0.5",)
    assert target.backend_key == "app=web"
    assert not target.auto


def test_an_auto_assigned_service_keeps_its_ip_unless_its_key_changes_under_co_holders() -> None:
    live = with_ip(service("a", share="k"), "10.0.0.3")
    same_key = service("a", share="k", port=8080)
    new_key = service("a", share="k", local=True)
    assert target_holding(same_key, live, co_holders_stay=True).ips == ("10.0.0.3",)
    assert target_holding(new_key, live, co_holders_stay=False).ips == ("10.0.0.3",)
    assert target_holding(new_key, live, co_holders_stay=True).auto


def test_a_pool_change_makes_an_auto_assigned_service_pick_again() -> None:
    live = with_ip(service("a"), "10.0.0.3")
    assert target_holding(service("a", pool="dmz"), live, co_holders_stay=False).auto


def test_a_service_leaving_load_balancer_holds_nothing() -> None:
    live = with_ip(service("a"), "10.0.0.3")
    assert target_holding(service("a", kind="ClusterIP"), live, True) == Holding((), (), "", "")


def test_a_key_change_of_a_group_is_one_unit_releasing_and_claiming_the_shared_ip() -> None:
    units = draft_units(inputs(SEED_LIVE, SEED_DESIRED))
    assert len(units) == 1
    unit = units[0]
    assert unit.kind == GROUP_TRANSITION
    assert unit.services == ("apps/tcp", "apps/udp")
    assert unit.members == ("apps/tcp", "apps/udp")
    ip = Resource("ip", "10.0.0.5")
    assert ip in unit.releases and ip in unit.claims
    assert Resource("pool-slot", POOL) not in unit.releases  # the group stays on its IP
    assert unit.requested_claims == frozenset()  # it holds the IP it requests already
    assert not unit.release_only


def test_a_joining_service_moves_with_the_group_it_joins() -> None:
    live = [with_ip(service("http", share="in", ips=["10.0.0.8"]), "10.0.0.8")]
    desired = [
        service("http", share="in", ips=["10.0.0.8"]),
        service("quic", port=443, proto="UDP", share="in", ips=["10.0.0.8"]),
    ]
    units = draft_units(inputs(live, desired))
    assert [(u.kind, u.services) for u in units] == [(GROUP_TRANSITION, ("apps/http", "apps/quic"))]
    unit = units[0]
    assert Resource("port", "10.0.0.8", "UDP/443") in unit.claims
    assert unit.requested_claims == {"10.0.0.8"}


def test_a_leaving_member_is_a_group_transition_listing_the_member_that_stays() -> None:
    live = [
        with_ip(service("a", share="web", ips=["10.0.0.2"]), "10.0.0.2"),
        with_ip(service("b", port=81, share="web", ips=["10.0.0.2"]), "10.0.0.2"),
    ]
    desired = [service("a", share="web", ips=["10.0.0.2"]), service("b", port=81, ips=["10.0.0.3"])]
    # Only b's write changes anything once a's annotations are left as they are.
    data = inputs(live, desired)
    writes = {svc: w for svc, w in data.writes.items() if svc == "apps/b"}
    units = draft_units(
        UnitInputs(data.live, data.desired, writes, data.pool_of, data.auto_candidates)
    )
    assert [(u.kind, u.services, u.members) for u in units] == [
        (GROUP_TRANSITION, ("apps/b",), ("apps/a", "apps/b"))
    ]
    unit = units[0]
    assert Resource("port", "10.0.0.2", "TCP/81") in unit.releases
    assert Resource("ip", "10.0.0.3") in unit.claims
    assert Resource("pool-slot", POOL) not in unit.releases  # a still holds 10.0.0.2


def test_a_lone_service_is_a_service_unit() -> None:
    live = [with_ip(service("solo", ips=["10.0.0.4"]), "10.0.0.4")]
    units = draft_units(inputs(live, [service("solo", ips=["10.0.0.6"])]))
    assert [(u.kind, u.services, u.members) for u in units] == [
        (SERVICE, ("apps/solo",), ("apps/solo",))
    ]
    assert units[0].releases >= {Resource("ip", "10.0.0.4"), Resource("pool-slot", POOL)}
    assert units[0].requested_claims == {"10.0.0.6"}


def test_a_deletion_releases_its_ip_its_ports_and_its_pool_slot() -> None:
    live = [with_ip(service("gone", ips=["10.0.0.4"]), "10.0.0.4")]
    units = draft_units(inputs(live, [], deleted=("apps/gone",)))
    unit = units[0]
    assert unit.release_only
    assert unit.releases == {
        Resource("ip", "10.0.0.4"),
        Resource("port", "10.0.0.4", "TCP/80"),
        Resource("pool-slot", POOL),
    }
    assert unit.claims == frozenset()
    assert unit.pools_touched == {POOL}


def test_an_auto_assigned_creation_could_take_the_free_ips() -> None:
    units = draft_units(inputs([], [service("new")], free=frozenset({"10.0.0.7", "10.0.0.9"})))
    assert units[0].could_take == {"10.0.0.7", "10.0.0.9"}
    assert units[0].claims == frozenset()


def test_an_auto_assigned_creation_in_a_full_pool_claims_a_slot() -> None:
    units = draft_units(inputs([], [service("new")], free=frozenset()))
    assert units[0].claims == {Resource("pool-slot", POOL)}


def test_swapping_services_are_separate_units_each_claiming_what_the_other_releases() -> None:
    live = [
        with_ip(service("blue", ips=["10.0.0.1"]), "10.0.0.1"),
        with_ip(service("green", ips=["10.0.0.2"]), "10.0.0.2"),
    ]
    desired = [service("blue", ips=["10.0.0.2"]), service("green", ips=["10.0.0.1"])]
    units = by_services(draft_units(inputs(live, desired)))
    blue, green = units[("apps/blue",)], units[("apps/green",)]
    assert (
        Resource("ip", "10.0.0.1") in blue.releases and Resource("ip", "10.0.0.1") in green.claims
    )
    assert (
        Resource("ip", "10.0.0.2") in green.releases and Resource("ip", "10.0.0.2") in blue.claims
    )


def test_the_group_annotation_joins_written_services_of_one_desired_group() -> None:
    desired = [service("x", share="k"), service("y", port=81, share="k")]
    data = inputs([], desired)
    assert all(GROUP_ANNOTATION in m["metadata"]["annotations"] for m in data.desired.values())
    units = draft_units(data)
    assert [u.services for u in units] == [("apps/x", "apps/y")]


def test_written_services_lists_every_written_service_once_sorted() -> None:
    units = draft_units(inputs(SEED_LIVE, SEED_DESIRED))
    assert written_services([*units, *units]) == ["apps/tcp", "apps/udp"]


def test_unit_content_is_the_canonical_text_of_its_writes() -> None:
    data = inputs(SEED_LIVE, SEED_DESIRED)
    unit = draft_units(data)[0]
    assert unit.content == "\n".join(data.writes[s].canonical() for s in unit.services)


def test_services_that_keep_a_shared_ip_are_paired_once_each() -> None:
    """Pairs join sets (a symmetric relation): each pair once, none of a Service with itself."""
    live = [
        with_ip(service(name, port=port, share="dns", ips=["10.0.0.5"]), "10.0.0.5")
        for name, port in (("a", 53), ("b", 54), ("c", 55))
    ]
    desired = [
        service(name, port=port + 1000, share="dns", ips=["10.0.0.5"])
        for name, port in (("a", 53), ("b", 54), ("c", 55))
    ]
    data = inputs(live, desired)
    holdings = {svc: live_holding(manifest) for svc, manifest in data.live.items()}
    pairs = list(_kept_ip_pairs(data, holdings, _holders_by_ip(holdings)))
    assert sorted(pairs) == [("apps/a", "apps/b"), ("apps/a", "apps/c"), ("apps/b", "apps/c")]
    assert [u.services for u in draft_units(data)] == [("apps/a", "apps/b", "apps/c")]
