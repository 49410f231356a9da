"""From Service writes to units: which Services must move together, and what each frees and takes.

A unit is one Service's change, or a group transition: every written member of a sharing group
whose group-wide annotations change, plus the Services joining or leaving the group. For each
unit we list the resources it releases and claims (IPs, (protocol, port) pairs on an IP, slots in
a full pool) so that `planner.plan.graph` can order the units. Pure: no cluster, no files.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from planner.model._unionfind import UnionFind
from planner.model.allocator import Port
from planner.model.service import (
    GROUP_ANNOTATION,
    AllocationInputs,
    allocation_inputs,
    annotation,
    ingress_ips,
)
from planner.objects import Manifest
from planner.plan.graph import GROUP_TRANSITION, SERVICE, Resource, Unit, canonical_json

APPLY = "apply"
DELETE = "delete"


@dataclass(frozen=True)
class Write:
    """One object write of the plan: the full desired Service (annotations stamped) or a deletion."""

    service: str  # "namespace/name"
    op: str  # APPLY | DELETE
    manifest: Manifest | None  # None for a deletion

    def canonical(self) -> str:
        return canonical_json([self.service, self.op, self.manifest])


def writes_content(writes: Iterable[Write]) -> str:
    """The canonical text of several writes, one line each (what unit ids hash)."""
    return "\n".join(w.canonical() for w in writes)


@dataclass(frozen=True)
class Holding:
    """What a Service holds (live) or will hold (target): IPs, ports and keys, and the pools."""

    ips: tuple[str, ...]
    ports: tuple[Port, ...]
    sharing_key: str
    backend_key: str
    auto: bool = False  # target only: no requested IP, MetalLB picks (see `could_take`)


_NOTHING = Holding((), (), "", "")

# Given a Service's target inputs and the Services to ignore (they move in the same unit),
# the IPs MetalLB could pick for it and the pools it would pick from.
AutoCandidates = Callable[
    [Manifest, AllocationInputs, frozenset[str]], tuple[frozenset[str], frozenset[str]]
]
PoolOf = Callable[[str], str]


@dataclass(frozen=True)
class UnitInputs:
    """Everything unit drafting reads: live and desired Services, the writes, and the model's views."""

    live: Mapping[str, Manifest]  # svc → live object (with status)
    desired: Mapping[str, Manifest]  # svc → desired object (annotations stamped)
    writes: Mapping[str, Write]  # svc → its write (only Services that change)
    pool_of: PoolOf  # IP → pool name ("" when in no pool)
    auto_candidates: AutoCandidates


def live_holding(live: Manifest) -> Holding:
    """What a live Service holds now, read from its status and its current keys."""
    inputs = allocation_inputs(live)
    ips = ingress_ips(live) if inputs.is_load_balancer else ()
    return Holding(ips, inputs.ports, inputs.sharing_key, inputs.backend_key)


def target_holding(desired: Manifest, live: Manifest | None, co_holders_stay: bool) -> Holding:
    """What a desired Service will hold: its requested IPs, its live IPs if it may keep them, or auto."""
    inputs = allocation_inputs(desired, live)
    if not inputs.is_load_balancer:
        return _NOTHING
    if inputs.requested_ips:
        return Holding(inputs.requested_ips, inputs.ports, inputs.sharing_key, inputs.backend_key)
    current = live_holding(live) if live is not None else None
    if current and current.ips and _may_keep(inputs, current, live, co_holders_stay):
        return Holding(current.ips, inputs.ports, inputs.sharing_key, inputs.backend_key)
    return Holding((), inputs.ports, inputs.sharing_key, inputs.backend_key, auto=True)


def _may_keep(
    inputs: AllocationInputs, current: Holding, live: Manifest | None, co_holders_stay: bool
) -> bool:
    """MetalLB keeps an auto-assigned IP when the pool request still matches and the key still fits."""
    live_inputs = allocation_inputs(live) if live is not None else None
    if live_inputs and inputs.requested_pool != live_inputs.requested_pool:
        return False
    key_same = (inputs.sharing_key, inputs.backend_key) == (
        current.sharing_key,
        current.backend_key,
    )
    return key_same or not co_holders_stay


def draft_units(data: UnitInputs) -> list[Unit]:
    """The units of the plan (unordered), each with what it releases and claims."""
    holdings = {svc: live_holding(obj) for svc, obj in data.live.items()}
    holders = _holders_by_ip(holdings)
    groups = _union_services(data, holdings, holders)
    return [_unit(sorted(services), data, holdings, holders) for services in groups]


def _holders_by_ip(holdings: Mapping[str, Holding]) -> dict[str, set[str]]:
    holders: dict[str, set[str]] = defaultdict(set)
    for svc, holding in holdings.items():
        for ip in holding.ips:
            holders[ip].add(svc)
    return holders


def _union_services(
    data: UnitInputs, holdings: Mapping[str, Holding], holders: Mapping[str, set[str]]
) -> list[set[str]]:
    """Written Services joined by desired group, and by a live IP they share and both keep.

    A member that leaves the IP is not joined: the "waits for" edges order it (it releases the
    IP, the members that stay claim it under their new key).
    """
    joined = UnionFind(data.writes)
    for a, b in (*_same_group_pairs(data), *_kept_ip_pairs(data, holdings, holders)):
        # Only written Services are joined (UnionFind would add any other as a new set).
        if a in data.writes and b in data.writes:
            joined.union(a, b)
    return sorted(joined.to_sets(), key=sorted)


def _same_group_pairs(data: UnitInputs) -> Iterator[tuple[str, str]]:
    """Written Services the desired state puts in one group, paired with its first member."""
    by_group: dict[str, list[str]] = defaultdict(list)
    for svc in data.writes:
        group = annotation(data.desired.get(svc), GROUP_ANNOTATION)
        if group:
            by_group[group].append(svc)
    for members in by_group.values():
        for other in members[1:]:
            yield members[0], other


def _kept_ip_pairs(
    data: UnitInputs, holdings: Mapping[str, Holding], holders: Mapping[str, set[str]]
) -> Iterator[tuple[str, str]]:
    """Written Services that hold a live IP together and both keep it, each pair once (the
    relation is symmetric: a 4-member group on one IP gave 16 pairs, 6 join it)."""
    staying = {svc: _staying_ips(svc, data) for svc in data.writes}
    for svc in data.writes:
        for ip in set(holdings.get(svc, _NOTHING).ips) & staying[svc]:
            for other in holders.get(ip, ()):
                if svc < other and other in staying and ip in staying[other]:
                    yield svc, other


def _staying_ips(svc: str, data: UnitInputs) -> set[str]:
    """The live IPs a written Service will still hold: requested again, or kept in its pool."""
    desired, live = data.desired.get(svc), data.live.get(svc)
    if desired is None or live is None:
        return set()
    inputs = allocation_inputs(desired, live)
    if not inputs.is_load_balancer:
        return set()
    if inputs.requested_ips:
        return set(inputs.requested_ips) & set(ingress_ips(live))
    if inputs.requested_pool != allocation_inputs(live).requested_pool:
        return set()
    return set(ingress_ips(live))


def _unit(
    services: list[str],
    data: UnitInputs,
    holdings: Mapping[str, Holding],
    holders: Mapping[str, set[str]],
) -> Unit:
    inside = frozenset(services)
    members = _members(services, data, holders)
    releases: set[Resource] = set()
    claims: set[Resource] = set()
    could_take: set[str] = set()
    requested: set[str] = set()
    pools: set[str] = set()
    targets: dict[str, Holding] = {}
    for svc in services:
        targets[svc] = _target(svc, data, holders, inside)
    for svc in services:
        before = holdings.get(svc, _NOTHING)
        after = targets[svc]
        releases |= _released(svc, before, after, holders, inside, targets, data.pool_of)
        claims |= _claimed(before, after)
        pools |= {data.pool_of(ip) for ip in before.ips + after.ips} - {""}
        if after.auto:
            ips, candidate_pools = data.auto_candidates(
                data.desired[svc], _inputs(data, svc), inside
            )
            could_take |= ips
            pools |= candidate_pools
            if not ips:
                claims |= {Resource("pool-slot", pool) for pool in candidate_pools}
        elif data.desired.get(svc) is not None:
            requested |= set(_inputs(data, svc).requested_ips) - set(before.ips)
    writes = [data.writes[svc] for svc in services]
    return Unit(
        kind=GROUP_TRANSITION if len(members) > 1 else SERVICE,
        services=tuple(services),
        content=writes_content(writes),
        releases=frozenset(releases),
        claims=frozenset(claims),
        could_take=frozenset(could_take),
        requested_claims=frozenset(requested),
        release_only=all(not targets[svc].ips and not targets[svc].auto for svc in services),
        pools_touched=frozenset(pools),
        members=members,
    )


def _inputs(data: UnitInputs, svc: str) -> AllocationInputs:
    return allocation_inputs(data.desired[svc], data.live.get(svc))


def _target(
    svc: str, data: UnitInputs, holders: Mapping[str, set[str]], inside: frozenset[str]
) -> Holding:
    desired = data.desired.get(svc)
    if desired is None:
        return _NOTHING
    live = data.live.get(svc)
    live_ips = ingress_ips(live) if live is not None else ()
    others_stay = any(holders.get(ip, set()) - inside - {svc} for ip in live_ips)
    return target_holding(desired, live, others_stay)


def _members(
    services: list[str], data: UnitInputs, holders: Mapping[str, set[str]]
) -> tuple[str, ...]:
    """Every Service of the groups the unit moves: desired group members and live co-holders."""
    members = set(services)
    for svc in services:
        for side in (data.desired.get(svc), data.live.get(svc)):
            listed = annotation(side, GROUP_ANNOTATION + "-members")
            members |= {m for m in listed.split(",") if m}
        live = data.live.get(svc)
        for ip in ingress_ips(live) if live is not None else ():
            members |= holders.get(ip, set())
    return tuple(sorted(members))


def _released(
    svc: str,
    before: Holding,
    after: Holding,
    holders: Mapping[str, set[str]],
    inside: frozenset[str],
    targets: Mapping[str, Holding],
    pool_of: PoolOf,
) -> set[Resource]:
    """IPs this Service leaves (and their pool slots when nobody stays), and ports it gives up."""
    out: set[Resource] = set()
    for ip in before.ips:
        if ip not in after.ips or not _keys_fit(before, after):
            out.add(Resource("ip", ip))
            staying = {s for s in holders.get(ip, set()) - {svc} if s not in inside}
            staying |= {s for s in inside if ip in targets[s].ips}
            if not staying and ip not in after.ips:
                out.add(Resource("pool-slot", pool_of(ip)))
        kept = set(after.ports) if ip in after.ips else set()
        out |= {Resource("port", ip, _port(p)) for p in before.ports if p not in kept}
    return out


def _claimed(before: Holding, after: Holding) -> set[Resource]:
    """IPs this Service takes (or takes under a new key), and ports new to it on an IP."""
    out: set[Resource] = set()
    for ip in after.ips:
        if ip not in before.ips or not _keys_fit(before, after):
            out.add(Resource("ip", ip))
        had = set(before.ports) if ip in before.ips else set()
        out |= {Resource("port", ip, _port(p)) for p in after.ports if p not in had}
    return out


def _keys_fit(before: Holding, after: Holding) -> bool:
    return (before.sharing_key, before.backend_key) == (after.sharing_key, after.backend_key)


def _port(port: Port) -> str:
    return f"{port.proto}/{port.port}"


def written_services(units: Iterable[Unit]) -> list[str]:
    """Every Service some unit writes, sorted."""
    return sorted({svc for unit in units for svc in unit.services})
