"""Detours: a swap cycle of requested IPs turned into a chain through a free address.

Landed at once, a cycle leaves a member without an IP under stock MetalLB: whoever is handled
first asks for an address its holder still keeps, and the address it frees is taken straight
away by the next, which neither v0.14 nor v0.15 counts as a reason to handle the first again
(it waits for the plan's nudge). A detour first writes the holders of one address of the cycle
(one Service, or a sharing group moving together) asking for a free address of their pool
instead: their address is then free, the rest of the cycle is a chain (each write claims an
address its holders have already left), and they take their real address last. No Service is
ever without an IP; the detoured Services change their IP twice instead of once.
Under the fixed allocator a cycle lands atomically (`planner.plan.build`), so no detour is
needed there. Whether the detoured plan really leaves nobody pending is not assumed here: the
plan simulates it as any other (planner.plan.build). Pure: reads the scenario, never the cluster.
"""

from __future__ import annotations

import copy
import ipaddress
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from planner.diff.scenario import Scenario
from planner.model.group_annotations import stamp_group_annotations
from planner.model.pools import IPAddress, Pool, is_buggy_ip, parse_ip
from planner.model.service import (
    DEPRECATED_LB_IPS_ANNOTATION,
    LB_IPS_ANNOTATION,
    ServiceInputError,
    ingress_ips,
    requested_ips,
)
from planner.objects import Manifest
from planner.plan.units import APPLY, Write

# Addresses tried per pool, from its top down, before saying none is free: first-fit hands out
# the lowest free address, so the top of a pool is where a temporary address is least in the way.
SCAN_LIMIT = 1024


@dataclass(frozen=True)
class Detour:
    """The holders of one address of a cycle, written first with a free address, so the cycle
    becomes a chain."""

    services: tuple[str, ...]  # every live holder of `freed`, sorted
    freed: str  # their live address, which the detour frees for the next link of the cycle
    address: str  # the free address they hold until their real writes
    wanted: str  # the address their real writes ask for
    pool: str
    writes: tuple[Write, ...]  # their desired objects asking for `address` (group-stamped)
    cycle: tuple[str, ...]

    @property
    def held(self) -> dict[str, Manifest]:
        """svc → the Service as the detour leaves it (what ordering the rest of the cycle reads)."""
        status = {"loadBalancer": {"ingress": [{"ip": self.address}]}}
        return {w.service: {**(w.manifest or {}), "status": status} for w in self.writes}

    def note(self, target: str) -> str:
        """What the plan says about the detour."""
        one = len(self.services) == 1
        holds, takes = ("holds", "it takes") if one else ("hold", "they take")
        return (
            f"detour: {', '.join(self.services)} {holds} {self.address} (free in pool "
            f"{self.pool}) from wave 1 until {takes} {self.wanted}, so the swap cycle "
            f"{', '.join(self.cycle)} lands as a chain and no Service waits without an IP under "
            f"{target}; --target fixed lands the cycle at once instead"
        )


@dataclass(frozen=True)
class Detours:
    """The detours taken, and for each cycle without one, why."""

    taken: tuple[Detour, ...] = ()
    refused: Mapping[tuple[str, ...], str] = field(default_factory=dict)

    def given_up(self, why: str) -> Detours:
        """No detour taken after all: each cycle that had one lands at once, for `why`."""
        return Detours(refused={**self.refused, **{d.cycle: why for d in self.taken}})

    def notes(self, target: str) -> tuple[str, ...]:
        """One line per cycle: its detour, or why it lands at once and waits for the nudge."""
        refused = (
            f"the swap cycle {', '.join(cycle)} lands at once: under {target} its members may "
            f"wait without an IP until the plan's nudge; no detour, because {why}"
            for cycle, why in sorted(self.refused.items())
        )
        return (*(d.note(target) for d in self.taken), *refused)


def choose_detours(cycles: Sequence[tuple[str, ...]], scenario: Scenario) -> Detours:
    """A detour for each merged cycle that can take one (else why not), addresses all distinct."""
    if not cycles:
        return Detours()
    if not scenario.statuses_known:
        why = "the live state has no statuses (no live IP is known)"
        return Detours(refused=dict.fromkeys(cycles, why))
    if not scenario.pools_known:
        why = "no IPAddressPool is known, so no free address is"
        return Detours(refused=dict.fromkeys(cycles, why))
    taken_addresses = _claimed_addresses(scenario)
    holders = _holders(scenario.live_services)
    taken: list[Detour] = []
    refused: dict[tuple[str, ...], str] = {}
    for cycle in cycles:
        found = _detour(cycle, scenario, taken_addresses, holders)
        if isinstance(found, str):
            refused[cycle] = found
            continue
        taken.append(found)
        taken_addresses.add(parse_ip(found.address))
    return Detours(tuple(taken), refused)


def _detour(
    cycle: tuple[str, ...],
    scenario: Scenario,
    claimed: set[IPAddress],
    holders: Mapping[str, list[str]],
) -> Detour | str:
    """The holders of the first address (by holder name) that can all move to one free
    address, or why none can."""
    why = "no address of it is held only by members that each ask for the same one other IP"
    members = set(cycle)
    addresses = {ip for svc in cycle for ip in _held(scenario, svc)}
    for freed in sorted(addresses, key=lambda ip: (min(holders[ip]), ip)):
        services = sorted(holders[freed])
        wanted = _wanted(services, scenario) if members.issuperset(services) else None
        if wanted is None or any(_held(scenario, svc) != (freed,) for svc in services):
            continue
        pool = _pool_of(wanted, scenario.pools)
        if pool is None:
            why = f"{wanted} is in no pool"
            continue
        address = _free_address(pool, parse_ip(wanted).version, claimed)
        if address is None:
            why = f"pool {pool.name} has no free address {', '.join(services)} may take"
            continue
        asking = stamp_group_annotations(
            [_asking_for(scenario.stamped_services[svc], address) for svc in services],
            lb_class=None,  # the scenario's Services are MetalLB's, whatever their class
        )
        writes = tuple(Write(svc, APPLY, m) for svc, m in zip(services, asking, strict=True))
        return Detour(tuple(services), freed, address, wanted, pool.name, writes, cycle)
    return why


def _held(scenario: Scenario, svc: str) -> tuple[str, ...]:
    live = scenario.live_services.get(svc)
    return ingress_ips(live) if live is not None else ()


def _wanted(services: Sequence[str], scenario: Scenario) -> str | None:
    """The one IP every one of the Services asks for (None when they differ or ask for none)."""
    wanted: set[tuple[str, ...]] = set()
    for svc in services:
        desired = scenario.stamped_services.get(svc)
        if desired is None:
            return None
        try:
            wanted.add(requested_ips(desired))
        except ServiceInputError:
            return None
    if len(wanted) != 1:
        return None
    (ips,) = wanted
    return ips[0] if len(ips) == 1 else None


def _claimed_addresses(scenario: Scenario) -> set[IPAddress]:
    """Every address a live Service holds or any Service (live or desired) asks for."""
    claimed = set()
    for services in (scenario.live_services, scenario.stamped_services):
        for manifest in services.values():
            try:
                texts = (*ingress_ips(manifest), *requested_ips(manifest))
            except ServiceInputError:
                texts = ingress_ips(manifest)
            for text in texts:
                try:
                    claimed.add(parse_ip(text))
                except ValueError:
                    continue
    return claimed


def _holders(live: Mapping[str, Manifest]) -> dict[str, list[str]]:
    holders: dict[str, list[str]] = {}
    for svc, manifest in live.items():
        for ip in ingress_ips(manifest):
            holders.setdefault(ip, []).append(svc)
    return holders


def _pool_of(ip: str, pools: Sequence[Pool]) -> Pool | None:
    address = parse_ip(ip)
    return next((pool for pool in pools if pool.contains(address)), None)


def _free_address(pool: Pool, version: int, claimed: set[IPAddress]) -> str | None:
    """The highest address of the pool that nobody holds or asks for. The pool admits the
    member (it holds its wanted address), and nobody on a free address has a key to clash
    with. .0 and .255 are skipped even where the pool allows them: some clients mishandle them."""
    for address in itertools.islice(_from_the_top(pool, version), SCAN_LIMIT):
        if address not in claimed and not is_buggy_ip(address) and pool.contains(address):
            return str(address)
    return None


def _from_the_top(pool: Pool, version: int) -> Iterator[IPAddress]:
    """The pool's addresses of one IP version, highest first."""
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    for network in reversed(pool.networks):
        if network.version == version:
            low, high = int(network.network_address), int(network.broadcast_address)
            yield from (make(value) for value in range(high, low - 1, -1))


def _asking_for(desired: Manifest, address: str) -> Manifest:
    """The desired object asking for `address` where it asks for its own (annotation or spec)."""
    body = copy.deepcopy(desired)
    annotations = body.get("metadata", {}).get("annotations") or {}
    for name in (LB_IPS_ANNOTATION, DEPRECATED_LB_IPS_ANNOTATION):
        if name in annotations:
            annotations[name] = address
            return body
    body["spec"]["loadBalancerIP"] = address
    return body
