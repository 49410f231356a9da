"""Sharing groups of live and desired state, matched, with what the commit does to each.

A sharing group is two or more LoadBalancer Services on one IP through a sharing key: Services
that request one IP without `metallb.io/allow-shared-ip` are a conflict, never a group. Live groups come from the
Services' `status.loadBalancer.ingress`; desired groups from what each Service will hold after
the commit: its requested IPs; its live IPs when it keeps its allocation key; otherwise the
allocator model's prediction (planner.model.allocator), which may be a SET of possible IPs when
MetalLB's pick depends on Go's map order. With live state from a git ref (no statuses) the live
IPs are themselves requested or predicted. Every group says where its IPs come from.

    >>> for group in sharing_groups(live, desired, pools, namespace_labels, key_changes, True):
    ...     print(group.id, group.members, group.ips, group.ips_source, group.touched)
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from planner.analysis.conflicts import cluster_family_of
from planner.analysis.records import SharingGroupReport
from planner.diff.keys import REQUESTED_POOL, SHARING_KEY
from planner.digest import sha256_hex
from planner.model.addresses import ip_address
from planner.model.allocator import AllocationError, AllocationRequest, Allocator, Port
from planner.model.pools import Pool, parse_ip
from planner.model.service import (
    AllocationInputs,
    ServiceInputError,
    allocation_inputs,
    ingress_ips,
    is_load_balancer,
)
from planner.objects import Manifest

__all__ = ["load_balancer_inputs", "sharing_groups"]

LIVE = "live"
REQUESTED = "requested"
PREDICTED = "predicted"

# When members' IPs come from different places, the group reports the least certain one.
_CERTAINTY = {LIVE: 0, REQUESTED: 1, PREDICTED: 2}

_Address = tuple[int, int]  # (IP version, the address as an integer), as the allocator keys it


class _Placement(NamedTuple):
    """The IPs one Service holds in one state, and every IP it might hold instead (a tuple: made
    for every Service of both states, a frozen dataclass cost a microsecond more each)."""

    ips: tuple[str, ...]  # the model's simulated pick when predicted
    possible: tuple[str, ...]  # `ips` plus the alternatives Go's map order allows, sorted
    source: str  # LIVE | REQUESTED | PREDICTED
    shares: bool = True  # False: requested without a sharing key, so in no sharing group


class _Group(NamedTuple):
    """Services sharing an IP in one state."""

    members: frozenset[str]
    ips: tuple[str, ...]  # sorted
    source: str


@dataclass(frozen=True)
class _World:
    """What the prediction needs besides the Services: pools and namespaces."""

    pools: tuple[Pool, ...]
    namespace_labels: Mapping[str, Mapping[str, str]]


def sharing_groups(
    live_services: Mapping[str, Manifest],
    desired_services: Mapping[str, Manifest],
    pools: Sequence[Pool],
    namespace_labels: Mapping[str, Mapping[str, str]],
    key_changes: Mapping[str, tuple[str, ...]],
    statuses_known: bool,
    desired_inputs: Mapping[str, AllocationInputs] | None = None,
) -> tuple[SharingGroupReport, ...]:
    """The sharing groups of live and desired state, matched, marked joining/leaving/touched.

    Services are keyed "namespace/name". `key_changes` maps a Service to its key-changing edited
    fields (planner.diff.key_changing_fields). `statuses_known` is False when live state comes
    from a git ref: live IPs are then requested or predicted rather than read from statuses.
    `desired_inputs`: `load_balancer_inputs(desired_services, live_services, pools)` when the
    caller has it (the static conflicts read the same).
    """
    world = _World(tuple(pools), namespace_labels)
    default_family = cluster_family_of(pools, live_services.values())
    if desired_inputs is None:
        desired_inputs = _inputs_by_service(desired_services, live_services, default_family)
    if statuses_known:
        live_place = _observed_placements(live_services)
    else:
        live_inputs = _inputs_by_service(live_services, {}, default_family)
        live_place = _derived_placements(live_services, live_inputs, {}, world)
    kept = _kept_placements(desired_inputs, live_place, key_changes)
    desired_place = _derived_placements(desired_services, desired_inputs, kept, world, live_place)
    pairs = _matched(_groups_of(live_place), _groups_of(desired_place))
    moves = _Moves(live_place, desired_place)
    reports = [_report(live, desired, moves, key_changes) for live, desired in pairs]
    return tuple(sorted(reports, key=_report_order))


# --- allocation inputs ------------------------------------------------------------------------


def load_balancer_inputs(
    services: Mapping[str, Manifest],
    live_services: Mapping[str, Manifest],
    pools: Sequence[Pool],
    read_alone: Mapping[str, AllocationInputs] | None = None,
) -> dict[str, AllocationInputs]:
    """The allocation inputs of every LoadBalancer in `services` that MetalLB can read, each
    with its live object and the cluster's family as context, sorted by Service (`read_alone`:
    some Services' inputs read without context, `allocation_inputs`'s `read_alone`)."""
    default_family = cluster_family_of(pools, live_services.values())
    return _inputs_by_service(services, live_services, default_family, read_alone)


def _inputs_by_service(
    services: Mapping[str, Manifest],
    live: Mapping[str, Manifest],
    default_family: str,
    read_alone: Mapping[str, AllocationInputs] | None = None,
) -> dict[str, AllocationInputs]:
    """Inputs of every LoadBalancer Service; one MetalLB cannot read gets no IP (a conflict)."""
    alone = read_alone or {}
    result = {}
    for svc_key in sorted(services):
        try:
            inputs = allocation_inputs(
                services[svc_key],
                live.get(svc_key),
                default_family,
                read_alone=alone.get(svc_key),
            )
        except ServiceInputError:
            continue  # planner.analysis.conflicts reports it; MetalLB gives such a Service no IP
        if inputs.is_load_balancer:
            result[svc_key] = inputs
    return result


# --- placements: which Service holds which IPs in one state ------------------------------------


def _observed_placements(services: Mapping[str, Manifest]) -> dict[str, _Placement]:
    """IPs read from `status.loadBalancer.ingress` of LoadBalancers (a pending one holds none)."""
    placements = {}
    for svc_key in sorted(services):
        ips = ingress_ips(services[svc_key])
        if ips and is_load_balancer(services[svc_key]):
            placements[svc_key] = _Placement(ips, _sorted_ips(ips), LIVE)
    return placements


def _kept_placements(
    desired_inputs: Mapping[str, AllocationInputs],
    live_place: Mapping[str, _Placement],
    key_changes: Mapping[str, tuple[str, ...]],
) -> dict[str, _Placement]:
    """Desired Services without requested IPs keep what they hold live when nothing moves them.

    That is when they keep their key, or when they share with nobody: the only holder of an IP
    may change its key in place. A change of requested pool moves a Service anyway.
    """
    return {
        svc_key: live_place[svc_key]
        for svc_key, inputs in desired_inputs.items()
        if svc_key in live_place
        and not inputs.requested_ips
        and _keeps_allocation(inputs, key_changes.get(svc_key, ()))
    }


def _keeps_allocation(inputs: AllocationInputs, changed: tuple[str, ...]) -> bool:
    if not changed:
        return True
    alone = not inputs.sharing_key and SHARING_KEY not in changed
    return alone and REQUESTED_POOL not in changed


def _derived_placements(
    services: Mapping[str, Manifest],
    inputs: Mapping[str, AllocationInputs],
    kept: Mapping[str, _Placement],
    world: _World,
    previous: Mapping[str, _Placement] | None = None,
) -> dict[str, _Placement]:
    """Requested IPs, kept IPs, and the model's prediction for sharing Services without either.

    Services that share with nobody and request nothing are left out: they are in no group, and
    MetalLB never lets them onto an address a sharing Service holds.
    """
    placements = dict(kept)
    for svc_key, svc_inputs in inputs.items():
        if svc_inputs.requested_ips and svc_key not in placements:
            ips = svc_inputs.requested_ips
            # Without a sharing key, two requesters of one IP are a conflict (planner.analysis
            # .conflicts), not a group: MetalLB gives the IP to one of them.
            shares = bool(svc_inputs.sharing_key)
            placements[svc_key] = _Placement(ips, _sorted_ips(ips), REQUESTED, shares)
    to_predict = [
        svc_key
        for svc_key, svc_inputs in inputs.items()
        if svc_key not in placements and svc_inputs.sharing_key
    ]
    if to_predict:
        placements.update(
            _predicted(services, inputs, placements, to_predict, world, previous or {})
        )
    return placements


def _predicted(
    services: Mapping[str, Manifest],
    inputs: Mapping[str, AllocationInputs],
    holders: Mapping[str, _Placement],
    to_predict: Sequence[str],
    world: _World,
    previous: Mapping[str, _Placement],
) -> dict[str, _Placement]:
    """Run the allocator model: holders first, then each Service to predict, in name order.

    Like MetalLB's convergeBalancer, a Service first tries to keep the IPs it held before; then
    it takes what Allocate (or AllocateFromPool) gives. Every pick Go's map order could make
    instead is kept in `possible`.
    """
    allocator = Allocator(world.pools, namespace_labels=world.namespace_labels)
    ordered = sorted(holders, key=lambda key: _CERTAINTY[holders[key].source])
    reach = _Reach.of(world.pools, [inputs[svc_key] for svc_key in to_predict], previous)
    for svc_key in _holders_that_matter(ordered, holders, reach):
        svc_inputs = inputs[svc_key]
        try:
            allocator.assign(
                svc_key, services[svc_key], holders[svc_key].ips, *_key_args(svc_inputs)
            )
        except AllocationError:
            continue  # a static conflict: this holder gets nothing, and blocks nothing
    predicted = {}
    for svc_key in sorted(to_predict):
        placement = _predict_one(
            allocator, services[svc_key], inputs[svc_key], previous.get(svc_key)
        )
        if placement is not None:
            predicted[svc_key] = placement
    return predicted


@dataclass(frozen=True)
class _Reach:
    """The addresses the predictions may read: every network of a pool they may search, and
    the IPs the Services to predict held before (each as (IP version, integer))."""

    bounds: tuple[tuple[int, int, int], ...]  # (version, first, last) of each network
    addresses: frozenset[_Address]

    @classmethod
    def of(
        cls,
        pools: Sequence[Pool],
        to_predict: Sequence[AllocationInputs],
        previous: Mapping[str, _Placement],
    ) -> _Reach:
        """Allocate searches auto-assign pools only (pinned ones too), AllocateFromPool the
        requested pool; keeping an allocation reads the IPs held before."""
        requested = {inputs.requested_pool for inputs in to_predict}
        searched = [pool for pool in pools if pool.auto_assign or pool.name in requested]
        bounds = tuple(
            (net.version, int(net.network_address), int(net.broadcast_address))
            for pool in searched
            for net in pool.networks
        )
        held = (previous.get(inputs.svc_key) for inputs in to_predict)
        addresses = {_address(ip) for placement in held if placement for ip in placement.ips}
        return cls(bounds, frozenset(a for a in addresses if a is not None))

    def covers(self, address: _Address | None) -> bool:
        """Whether a prediction may read this address (an unreadable one, to be safe: yes)."""
        if address is None or address in self.addresses:
            return True
        version, number = address
        return any(v == version and low <= number <= high for v, low, high in self.bounds)


def _holders_that_matter(
    ordered: Sequence[str], holders: Mapping[str, _Placement], reach: _Reach
) -> list[str]:
    """The holders (in `ordered` order) on an address the predictions may read, and every
    holder linked to one through shared addresses: whether an earlier holder took an address
    decides whether a later one gets all of its own. The others change nothing the predictions
    read (at 10,000 Services, 9,000 holders of requested-only pools for 80 predictions)."""
    address_of = {ip: _address(ip) for placement in holders.values() for ip in placement.ips}
    on_address: dict[_Address | None, list[str]] = defaultdict(list)
    for svc_key in ordered:
        for ip in holders[svc_key].ips:
            on_address[address_of[ip]].append(svc_key)
    # An unreadable address (None) is covered: its holders are kept, and the links through it
    # only reach holders kept anyway.
    covered = [address for address in on_address if reach.covers(address)]
    kept = _linked_to(
        covered, on_address, lambda svc_key: map(address_of.get, holders[svc_key].ips)
    )
    return [svc_key for svc_key in ordered if svc_key in kept]


def _linked_to(
    covered: Iterable[_Address | None],
    on_address: Mapping[_Address | None, Sequence[str]],
    addresses: Callable[[str], Iterable[_Address | None]],
) -> set[str]:
    """The holders on the `covered` addresses, and every holder linked to one by a chain of
    shared addresses (`addresses`: a holder's)."""
    kept: set[str] = set()
    seen = set(covered)
    queue = list(seen)
    while queue:
        for svc_key in on_address[queue.pop()]:
            if svc_key in kept:
                continue
            kept.add(svc_key)
            linked = [address for address in addresses(svc_key) if address not in seen]
            seen.update(linked)
            queue.extend(linked)
    return kept


def _address(ip: str) -> _Address | None:
    """The address as the allocator keys it (Go's net.ParseIP); None when it cannot parse it."""
    try:
        parsed = parse_ip(ip)
    except ValueError:
        return None
    return (parsed.version, int(parsed))


def _predict_one(
    allocator: Allocator,
    svc: Manifest,
    inputs: AllocationInputs,
    previous: _Placement | None,
) -> _Placement | None:
    if previous is not None and _keeps_previous(allocator, svc, inputs, previous.ips):
        ips = tuple(allocator.ips(inputs.svc_key))
        return _Placement(ips, _sorted_ips(ips), PREDICTED)
    possible = _possible_ips(allocator, svc, inputs)
    try:
        ips = tuple(_allocate(allocator, svc, inputs))
    except AllocationError:
        return None  # it would stay pending: in no group
    spread = tuple(sorted(set(possible) | set(ips), key=_ip_order))
    return _Placement(ips, spread, PREDICTED)


def _keeps_previous(
    allocator: Allocator, svc: Manifest, inputs: AllocationInputs, ips: tuple[str, ...]
) -> bool:
    """Whether re-assigning the IPs held before succeeds, in the requested pool if one is named."""
    try:
        allocator.assign(inputs.svc_key, svc, ips, *_key_args(inputs))
    except AllocationError:
        return False
    if inputs.requested_pool and allocator.pool(inputs.svc_key) != inputs.requested_pool:
        allocator.unassign(inputs.svc_key)
        return False
    return True


def _allocate(allocator: Allocator, svc: Manifest, inputs: AllocationInputs) -> list[str]:
    policy = inputs.family_policy
    if inputs.requested_pool:
        pool = inputs.requested_pool
        return allocator.allocate_from_pool(
            inputs.svc_key, svc, inputs.family, pool, *_key_args(inputs), ip_family_policy=policy
        )
    return allocator.allocate(
        inputs.svc_key, svc, inputs.family, *_key_args(inputs), ip_family_policy=policy
    )


def _possible_ips(allocator: Allocator, svc: Manifest, inputs: AllocationInputs) -> set[str]:
    """Every IP Allocate could pick under some Go map order (of pools: one pool, one choice).

    AllocateFromPool scans one pool in order, so its pick never varies: nothing to add.
    """
    if inputs.requested_pool or len(allocator.pools) < 2:
        return set()
    outcomes = allocator.possible_allocate_outcomes(
        AllocationRequest(
            inputs.svc_key,
            svc,
            inputs.family,
            *_key_args(inputs),
            ip_family_policy=inputs.family_policy,
        )
    )
    return {ip for outcome in outcomes if outcome.ok for ip in outcome.ips}


def _key_args(inputs: AllocationInputs) -> tuple[tuple[Port, ...], str, str]:
    return (inputs.ports, inputs.sharing_key, inputs.backend_key)


# --- groups of one state ------------------------------------------------------------------------


def _groups_of(placements: Mapping[str, _Placement]) -> list[_Group]:
    """Services on one IP, two or more; a dual-stack group sharing both IPs is one group."""
    by_ip: dict[str, list[str]] = defaultdict(list)
    for svc_key, placement in placements.items():
        if not placement.shares:
            continue
        for ip in placement.ips:
            by_ip[ip].append(svc_key)
    by_members: dict[frozenset[str], set[str]] = defaultdict(set)
    for ip, holders in by_ip.items():
        if len(holders) >= 2:
            by_members[frozenset(holders)].add(ip)
    groups = []
    for members, ips in by_members.items():
        possible = {ip for svc_key in members for ip in placements[svc_key].possible} | ips
        source = max((placements[m].source for m in members), key=_CERTAINTY.__getitem__)
        groups.append(_Group(members, _sorted_ips(tuple(possible)), source))
    return sorted(groups, key=_group_order)


# --- matching live and desired groups -----------------------------------------------------------


def _matched(
    live: Sequence[_Group], desired: Sequence[_Group]
) -> list[tuple[_Group | None, _Group | None]]:
    """Pairs (live, desired): same members first, then a shared IP, then shared members."""
    pairs: list[tuple[_Group | None, _Group | None]] = []
    free_live = list(live)
    free_desired = list(desired)
    for same in (_same_members, _shares_ip, _shares_members):
        for want in list(free_desired):
            match = next((have for have in free_live if same(have, want)), None)
            if match is not None:
                pairs.append((match, want))
                free_live.remove(match)
                free_desired.remove(want)
    pairs.extend((have, None) for have in free_live)
    pairs.extend((None, want) for want in free_desired)
    return pairs


def _same_members(live: _Group, desired: _Group) -> bool:
    return live.members == desired.members


def _shares_ip(live: _Group, desired: _Group) -> bool:
    return not set(live.ips).isdisjoint(desired.ips)


def _shares_members(live: _Group, desired: _Group) -> bool:
    return not live.members.isdisjoint(desired.members)


# --- reports ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Moves:
    """Both states' placements, to tell who joins or leaves a group that exists on one side only."""

    live: Mapping[str, _Placement]
    desired: Mapping[str, _Placement]

    def joining(self, live: _Group | None, desired: _Group | None) -> frozenset[str]:
        if desired is None:
            return frozenset()
        if live is not None:
            return desired.members - live.members
        # A new group: a member that already held one of its IPs alone does not join it.
        return frozenset(m for m in desired.members if not self._held(self.live, m, desired.ips))

    def leaving(self, live: _Group | None, desired: _Group | None) -> frozenset[str]:
        if live is None:
            return frozenset()
        if desired is not None:
            return live.members - desired.members
        # A dissolved group: a member that stays alone on one of its IPs does not leave it.
        return frozenset(m for m in live.members if not self._held(self.desired, m, live.ips))

    @staticmethod
    def _held(placements: Mapping[str, _Placement], svc_key: str, ips: tuple[str, ...]) -> bool:
        placement = placements.get(svc_key)
        return placement is not None and not set(placement.ips).isdisjoint(ips)


def _report(
    live: _Group | None,
    desired: _Group | None,
    moves: _Moves,
    key_changes: Mapping[str, tuple[str, ...]],
) -> SharingGroupReport:
    shown = desired or live
    assert shown is not None
    everyone = (live.members if live else frozenset()) | (
        desired.members if desired else frozenset()
    )
    changed = tuple(
        (svc_key, tuple(key_changes[svc_key]))
        for svc_key in sorted(everyone)
        if key_changes.get(svc_key)
    )
    joining = tuple(sorted(moves.joining(live, desired)))
    leaving = tuple(sorted(moves.leaving(live, desired)))
    return SharingGroupReport(
        id=_group_id(everyone, (live.ips if live else ()) + (desired.ips if desired else ())),
        members=tuple(sorted(shown.members)),
        ips=shown.ips,
        ips_source=shown.source,
        key_changing=bool(changed),
        touched=bool(changed or joining or leaving),
        joining=joining,
        leaving=leaving,
        key_changes=changed,
    )


def _group_id(members: Iterable[str], ips: Iterable[str]) -> str:
    """A stable id from the group's content: every member (live or desired) and every IP."""
    content = ",".join(sorted(members)) + "|" + ",".join(sorted(set(ips), key=_ip_order))
    return "g-" + sha256_hex(content.encode())[:12]


def _sorted_ips(ips: tuple[str, ...]) -> tuple[str, ...]:
    """The IPs in address order (one IP, most Services: as it is)."""
    return ips if len(ips) < 2 else tuple(sorted(ips, key=_ip_order))


@functools.lru_cache(maxsize=1 << 16)
def _ip_order(ip: str) -> tuple[int, int]:
    address = ip_address(ip)
    return (address.version, int(address))


def _group_order(group: _Group) -> tuple[tuple[tuple[int, int], ...], tuple[str, ...]]:
    return (tuple(map(_ip_order, group.ips)), tuple(sorted(group.members)))


def _report_order(
    report: SharingGroupReport,
) -> tuple[tuple[tuple[int, int], ...], tuple[str, ...], str]:
    return (tuple(map(_ip_order, report.ips)), report.members, report.id)
