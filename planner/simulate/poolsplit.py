"""Auto-assigned groups drawing from one pool, explored apart where that is exact (issues 16, 17).

`planner.simulate.reduction` joins every auto-assigned write that draws from one pool into one
component. `exact_split` says when its pieces (the writes joined by IPs and groups alone) may be
explored apart instead, each with its own Services only (nothing frozen); docs/plan.md,
"Auto-assigned groups in one pool", gives the argument. In short, under the condition:

- every write changes the allocation key of a live, single-stack, auto-assigned LoadBalancer
  holding one address of the pool, and nothing else the allocator reads (ports, requested IPs,
  pool, family); every holder of a piece's addresses is written in it;
- no two pieces, and no frozen holder of the pool, use one sharing key (so none can share an
  address of another: first-fit reads of the others only which addresses are keyless);
- each piece's Services hold one address between them;
- the pool has at least as many keyless addresses as the component has writes (each written
  Service takes at most one, so nobody waits for an address);

a piece's Services only ever take the lowest keyless address, and no address becomes keyless
again, so a piece does in the composite what it does alone, but for *which* keyless addresses
it takes: the next ones in the pool's order, instead of the first ones. No claim reads which
(who goes pending, is stuck or changes IP; a warning never quotes such an address), and the
wave's end state is made a real one of the composite by `disjoint_fresh`. Pieces of one pool
may share a shape (planner.simulate.symmetry.shape_of, `drawn`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from planner.model.allocator import Pool
from planner.model.controller import copy_manifest
from planner.model.pools import IPAddress, is_buggy_ip, parse_ip
from planner.model.service import (
    ServiceInputError,
    allocation_inputs,
    backend_key,
    ingress_ips,
    is_load_balancer,
    ports,
    sharing_key,
)
from planner.model.simcluster import ServiceWrite
from planner.objects import Manifest

_Ends = list[tuple[list[str], dict[str, Manifest]]]


def exact_split(
    pieces: Sequence[Sequence[ServiceWrite]],
    contexts: Sequence[set[str]],
    pool_holders: set[str],
    live: Mapping[str, Manifest],
    pool: Pool,
    pools: Sequence[Pool],
) -> bool:
    """Whether the pieces of one pool's component may be explored apart (see the module)."""
    if len(pieces) < 2 or any(p.has_service_allocation for p in pools):
        return False
    try:
        return _exact(pieces, contexts, pool_holders, live, pool)
    except (ServiceInputError, ValueError):
        return False  # a field the API server would refuse, an address that is none


def _exact(
    pieces: Sequence[Sequence[ServiceWrite]],
    contexts: Sequence[set[str]],
    pool_holders: set[str],
    live: Mapping[str, Manifest],
    pool: Pool,
) -> bool:
    """exact_split's checks, each of the module's conditions in turn."""
    writes = [w for piece in pieces for w in piece]
    if not all(_key_change(svc, m, live, pool) for svc, m in writes):
        return False
    if not all(_landable(piece) for piece in pieces):
        return False
    if not all(ports(live[svc]) for svc in pool_holders):
        return False  # an address held without ports is keyless: first-fit may take it
    written = [{svc for svc, _ in piece} for piece in pieces]
    if any(not context <= mine for context, mine in zip(contexts, written, strict=True)):
        return False
    if not _keys_apart(pieces, pool_holders - set().union(*written), live):
        return False
    return _one_address_each(pieces, live) and _ample(writes, pool_holders, live, pool)


def _key_change(
    svc: str, manifest: Manifest | None, live: Mapping[str, Manifest], pool: Pool
) -> bool:
    """A live single-stack auto-assigned LoadBalancer on one address of the pool whose write
    changes no allocation input but its keys."""
    before = live.get(svc)
    if manifest is None or before is None:
        return False
    if not (is_load_balancer(before) and is_load_balancer(manifest)):
        return False
    old, new = allocation_inputs(before), allocation_inputs(manifest, before)
    held = ingress_ips(before)
    return (
        not old.requested_ips
        and not new.requested_ips
        and old.requested_pool == new.requested_pool
        and old.family_policy == new.family_policy == "SingleStack"
        and old.family == new.family
        and bool(old.ports)
        and old.ports == new.ports
        and len(held) == 1
        and _owned(pool, parse_ip(held[0]))
    )


def _landable(piece: Sequence[ServiceWrite]) -> bool:
    """Its writes all ask for one (sharing, backend) key: under `fixed` the piece's group then
    lands on the address it holds and never runs first-fit (a transition that fails runs it, and
    its warning quotes the address a member would get, which depends on the other pieces)."""
    keys = {(sharing_key(m), backend_key(m)) for _, m in piece if m is not None}
    return len(keys) == 1


def _keys_apart(
    pieces: Sequence[Sequence[ServiceWrite]], frozen: set[str], live: Mapping[str, Manifest]
) -> bool:
    """No sharing key is used by two pieces, or by a piece and a frozen holder of the pool."""
    seen: set[str] = {sharing_key(live[svc]) for svc in frozen} - {""}
    for piece in pieces:
        mine = {sharing_key(live[svc]) for svc, _ in piece}
        mine |= {sharing_key(m) for _, m in piece if m is not None}
        mine -= {""}
        if mine & seen:
            return False
        seen |= mine
    return True


def _one_address_each(
    pieces: Sequence[Sequence[ServiceWrite]], live: Mapping[str, Manifest]
) -> bool:
    """Each piece's Services hold one address between them (so no other address of the piece
    can remember the key of a member that fails on it and runs first-fit)."""
    return all(len({ingress_ips(live[svc])[0] for svc, _ in piece}) == 1 for piece in pieces)


def _ample(
    writes: Sequence[ServiceWrite], holders: set[str], live: Mapping[str, Manifest], pool: Pool
) -> bool:
    """At least one keyless address of the pool per write (each written Service takes at most
    one), of the family every written Service holds."""
    held = {parse_ip(ip) for svc in holders for ip in ingress_ips(live[svc])}
    versions = {parse_ip(ingress_ips(live[svc])[0]).version for svc, _ in writes}
    if len(versions) != 1:
        return False
    (version,) = versions
    free = _usable(pool, version) - sum(1 for ip in held if _counts(pool, ip, version))
    return free >= len(writes)


def keyless(pool: Pool, version: int, held: set[IPAddress]) -> Iterator[IPAddress]:
    """The pool's addresses of one family that nobody holds, in first-fit order (CIDRs in
    order, addresses in order, .0 and .255 skipped when the pool avoids them)."""
    for network in pool.networks:
        if network.version != version:
            continue
        low, high = int(network.network_address), int(network.broadcast_address)
        kind = network.network_address.__class__
        for value in range(low, high + 1):
            ip = kind(value)
            if ip in held or (pool.avoid_buggy_ips and is_buggy_ip(ip)):
                continue
            yield ip


def _usable(pool: Pool, version: int) -> int:
    """How many addresses of the family first-fit may hand out (buggy ones left out)."""
    total = 0
    for network in pool.networks:
        if network.version != version:
            continue
        low, high = int(network.network_address), int(network.broadcast_address)
        total += high - low + 1
        if pool.avoid_buggy_ips and version == 4:
            total -= sum(_congruent(low, high, r) for r in (0, 255))
    return total


def _congruent(low: int, high: int, rest: int) -> int:
    """How many x in [low, high] have x % 256 == rest."""
    return (high - rest) // 256 - (low - 1 - rest) // 256


def _counts(pool: Pool, ip: IPAddress, version: int) -> bool:
    """Whether a held address is one `_usable` counted."""
    return (
        ip.version == version
        and _owned(pool, ip)
        and not (pool.avoid_buggy_ips and is_buggy_ip(ip))
    )


def _owned(pool: Pool, ip: IPAddress) -> bool:
    return any(ip.version == n.version and ip in n for n in pool.networks)


def _place(pool: Pool, ip: IPAddress) -> tuple[int, int]:
    """The address's place in first-fit order: its CIDR's index, then the address."""
    for index, network in enumerate(pool.networks):
        if ip.version == network.version and ip in network:
            return index, int(ip)
    return len(pool.networks), int(ip)


def disjoint_fresh(
    before: Mapping[str, Manifest], ends: _Ends, pools: Sequence[Pool], drawn: Sequence[str]
) -> _Ends:
    """The components' ends, the keyless addresses that those split from a pool took (`drawn`:
    the pool of each, "" when not split) made those of one schedule of the whole: the split
    components one after another, each taking the pool's next keyless addresses in first-fit
    order. Apart, each took the lowest addresses its own Services did not hold."""
    if not any(drawn):
        return ends
    held = {parse_ip(ip) for m in before.values() for ip in ingress_ips(m)}
    by_name = {pool.name: pool for pool in pools}
    next_free: dict[tuple[str, int], Iterator[IPAddress]] = {}
    result: _Ends = []
    for (written, end), name in zip(ends, drawn, strict=True):
        if not name:
            result.append((written, end))
            continue
        pool = by_name[name]
        own = {ip for svc in end for ip in ingress_ips(before.get(svc) or {})}
        taken = {ip for m in end.values() for ip in ingress_ips(m)} - own
        mapping = {}
        for ip in sorted(taken, key=lambda text: _place(pool, parse_ip(text))):
            version = parse_ip(ip).version
            free = next_free.setdefault((name, version), keyless(pool, version, held))
            mapping[ip] = str(next(free))
        result.append((written, {svc: _renamed(m, mapping) for svc, m in end.items()}))
    return result


def _renamed(manifest: Manifest, mapping: Mapping[str, str]) -> Manifest:
    """The manifest with its status addresses renamed (a copy when any is)."""
    if not any(ip in mapping for ip in ingress_ips(manifest)):
        return manifest
    renamed: Manifest = copy_manifest(manifest)
    for entry in renamed["status"]["loadBalancer"]["ingress"]:
        if entry.get("ip") in mapping:
            entry["ip"] = mapping[entry["ip"]]
    return renamed
