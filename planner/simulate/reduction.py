"""Split writes into independent components, each with the live Services it can interact with.

Why this is sound: MetalLB's allocator keeps its state per IP (the remembered key, the ports in
use, the holders) and per pool (which addresses are taken). Handling Service S reads and writes
only the entries of the IPs S holds or is assigned, and, when S is auto-assigned, the free
addresses of the pools it may draw from. Two writes whose Services touch disjoint IPs and whose
auto-assigned allocations draw from disjoint pools (an IP counting as part of its pool when some
write draws from that pool) therefore commute: every interleaving of them
gives each Service the same result as running each component alone. A reprocess-all pass hands
every Service to the controller, but a Service outside the component re-assigns its own IPs under
its own unchanged key, which succeeds and changes nothing the component reads. So each
component is simulated alone, on a cluster holding only its Services and their neighbours: the
other holders of its IPs are simulated Services; the other holders in the pools it may draw from
are "frozen": their IPs are taken under their keys and ports, but the controller never handles
them, since handling them would only re-assign what they hold (the same argument as above).

Writes that change no allocation input (for example only the group-wide annotations on a group
whose keys stay) are left out: stock MetalLB re-assigns the same IPs, and the fixed allocator
converges the group onto the IPs it already holds; neither can make a Service pending. They are
kept when another member of their group changes, since the fixed allocator waits for them.

Components of one shape (the same up to renaming, planner.simulate.symmetry) are simulated once:
`shaped` pairs each component with its shape, `once_per_shape` renames the first one's outcome
for the others.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from planner.model._unionfind import UnionFind
from planner.model.allocator import Allocator, Pool
from planner.model.service import GROUP_ANNOTATION, allocation_inputs, annotation, ingress_ips
from planner.model.simcluster import ServiceWrite
from planner.objects import Manifest

if TYPE_CHECKING:  # a shape is computed only for components of equal size (World.shape)
    from planner.simulate.symmetry import Renaming, Shape

_Owner = Callable[[str], str]
Outcome = TypeVar("Outcome")


@dataclass(frozen=True)
class Component:
    """Writes that may interact, and every live Service their outcome depends on."""

    writes: tuple[ServiceWrite, ...]
    context: tuple[str, ...]  # live Services to put in the simulated cluster, sorted
    frozen: tuple[str, ...] = ()  # live Services whose IPs are only taken (pool neighbours)
    # The pool it was split from (planner.simulate.poolsplit): it takes that pool's keyless
    # addresses, but which ones it is given is not its own to say ("" when not split).
    pool: str = ""

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(svc for svc, _ in self.writes)


def changes_allocation(svc: str, manifest: Manifest | None, live: Mapping[str, Manifest]) -> bool:
    """True unless the write leaves every allocation input as it is (a create or delete counts)."""
    before = live.get(svc)
    if manifest is None or before is None:
        return True
    return allocation_inputs(manifest, before) != allocation_inputs(before)


def components(
    writes: Sequence[ServiceWrite],
    live: Mapping[str, Manifest],
    pools: Sequence[Pool],
    split_pools: bool = True,
) -> list[Component]:
    """The writes that change allocations, split into independent components (sorted);
    `split_pools=False` keeps each pool's auto-assigned writes in one (planner.simulate.poolsplit)."""
    relevant = _relevant_writes(writes, live)
    owner = pool_owner(pools)
    touched = {svc: _resources(svc, manifest, live, pools, owner) for svc, manifest in relevant}
    joined = _joined_resources(touched, owner)
    groups: dict[str, list[ServiceWrite]] = defaultdict(list)
    for write in relevant:
        groups[joined[f"svc:{write[0]}"]].append(write)
    holders = _holders(live)
    context, in_pools = _neighbours(joined, holders, owner)
    result = []
    for key, writes_of in groups.items():
        pieces = None
        if split_pools:
            pieces = _pool_pieces(writes_of, touched, holders, in_pools[key], live, pools)
        if pieces is None:
            result.append(_component(writes_of, context[key], in_pools[key], live))
        else:
            # Nothing frozen: of the pool, a piece reads only which addresses are keyless.
            result.extend(_component(w, c, set(), live, pool) for w, c, pool in pieces)
    return sorted(result, key=lambda c: c.services)


def _pool_pieces(
    writes_of: Sequence[ServiceWrite],
    touched: Mapping[str, set[str]],
    holders: Mapping[str, set[str]],
    in_pools: set[str],
    live: Mapping[str, Manifest],
    pools: Sequence[Pool],
) -> list[tuple[list[ServiceWrite], set[str], str]] | None:
    """The pieces (writes, context, pool) of a component joined only through one pool, when
    they may be explored apart (planner.simulate.poolsplit); else None."""
    drawn = {r for svc, _ in writes_of for r in touched[svc] if r.startswith("pool:")}
    if len(drawn) != 1:
        return None
    pool = next(p for p in pools if f"pool:{p.name}" == next(iter(drawn)))
    apart: UnionFind[str] = UnionFind()
    for svc, _ in writes_of:
        for resource in sorted(touched[svc] - drawn):
            apart.union(f"svc:{svc}", resource)
    pieces: dict[str, list[ServiceWrite]] = defaultdict(list)
    for write in writes_of:
        pieces[apart[f"svc:{write[0]}"]].append(write)
    if len(pieces) < 2:
        return None
    context, _ = _neighbours(apart, holders, lambda ip: "")
    found = [(list(w), context[key]) for key, w in pieces.items()]
    contexts = [c for _, c in found]
    from planner.simulate.poolsplit import exact_split  # a pool shared by several pieces only

    if not exact_split([w for w, _ in found], contexts, in_pools, live, pool, pools):
        return None
    return [(w, c, pool.name) for w, c in found]


def _relevant_writes(
    writes: Sequence[ServiceWrite], live: Mapping[str, Manifest]
) -> list[ServiceWrite]:
    """The writes that change allocations, and the other writes to their groups."""
    changing = {w[0] for w in writes if changes_allocation(w[0], w[1], live)}
    moving_groups = {_group(m) for svc, m in writes if svc in changing} - {""}
    return [w for w in writes if w[0] in changing or _group(w[1]) in moving_groups]


def _joined_resources(touched: Mapping[str, set[str]], owner: _Owner) -> UnionFind[str]:
    """Each write's Service joined with the resources it touches.

    Nodes are "svc:<key>", "ip:<address>", "pool:<name>" and "group:<id>"; a component is
    named by its set's root, which only keys the caller's dicts (the result is sorted).
    """
    joined: UnionFind[str] = UnionFind()
    # An auto-assigned allocation may take any free IP of its pools: an IP another write
    # holds or requests in such a pool belongs to that pool's component too.
    drawn = {r for found in touched.values() for r in found if r.startswith("pool:")}
    for svc, found in touched.items():
        for resource in sorted(found):
            joined.union(f"svc:{svc}", resource)
            kind, _, ip = resource.partition(":")
            if kind == "ip" and f"pool:{owner(ip)}" in drawn:
                joined.union(resource, f"pool:{owner(ip)}")
    return joined


def _neighbours(
    joined: UnionFind[str], holders: Mapping[str, set[str]], owner: _Owner
) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per component root: the live holders of its IPs, and the live holders in its pools."""
    pool_holders: dict[str, set[str]] = defaultdict(set)
    for ip, svcs in holders.items():
        pool_holders[owner(ip)] |= svcs
    context: dict[str, set[str]] = defaultdict(set)
    in_pools: dict[str, set[str]] = defaultdict(set)
    for node in list(joined):
        kind, _, name = node.partition(":")
        if kind == "ip":
            context[joined[node]] |= holders.get(name, set())
        elif kind == "pool":
            in_pools[joined[node]] |= pool_holders.get(name, set())
    return context, in_pools


def _component(
    writes_of: Sequence[ServiceWrite],
    context: set[str],
    in_pools: set[str],
    live: Mapping[str, Manifest],
    pool: str = "",
) -> Component:
    """One component: its writes, the live Services simulated with them, and the frozen rest."""
    simulated = context | {svc for svc, _ in writes_of if svc in live}
    return Component(
        tuple(sorted(writes_of, key=lambda w: w[0])),
        tuple(sorted(simulated)),
        tuple(sorted(in_pools - simulated)),
        pool,
    )


def _resources(
    svc: str,
    manifest: Manifest | None,
    live: Mapping[str, Manifest],
    pools: Sequence[Pool],
    owner: _Owner,
) -> set[str]:
    """The IPs and (for auto-assignment) pools a write's Service may read or write."""
    before = live.get(svc)
    found = {f"ip:{ip}" for ip in (ingress_ips(before) if before else ())}
    if manifest is None:
        return found
    if _group(manifest):
        found.add(f"group:{_group(manifest)}")
    inputs = allocation_inputs(manifest, before)
    if not inputs.is_load_balancer:
        return found
    found |= {f"ip:{ip}" for ip in inputs.requested_ips}
    if not inputs.requested_ips:
        candidates = [p.name for p in pools if p.auto_assign or p.name == inputs.requested_pool]
        if inputs.requested_pool:
            candidates = [inputs.requested_pool]
        found |= {f"pool:{name}" for name in candidates}
        found |= {f"pool:{owner(ip)}" for ip in (ingress_ips(before) if before else ())}
    return found


def _group(manifest: Manifest | None) -> str:
    """The group-wide `group` annotation of a manifest ("" when none)."""
    return annotation(manifest, GROUP_ANNOTATION)


def pool_owner(pools: Sequence[Pool]) -> _Owner:
    """IP → the name of the pool that owns it ("" for none), looked up once per IP (the
    components ask again for every holder and every write: 3,660 asks at 10,000 Services;
    planning's units 20,000 for 2,500 IPs)."""
    allocator = Allocator(pools)
    known: dict[str, str] = {}

    def owner(ip: str) -> str:
        found = known.get(ip)
        if found is None:
            found = known[ip] = allocator.pool_for_ips([ip]) or ""
        return found

    return owner


def _holders(live: Mapping[str, Manifest]) -> dict[str, set[str]]:
    holders: dict[str, set[str]] = defaultdict(set)
    for svc, manifest in live.items():
        for ip in ingress_ips(manifest):
            holders[ip].add(svc)
    return holders


ShapedComponent = tuple[Component, "Shape | None"]  # a component and its shape (None: no shortcut)


def shaped(
    parts: Sequence[Component], shape: Callable[[Component], Shape | None]
) -> list[ShapedComponent]:
    """Each component with its shape, computed only where another component has as many writes
    and Services (else no other can share it, and a large group's shape costs the square of
    its size: every member's annotation lists every member)."""
    sizes = Counter(_size(part) for part in parts)
    return [(part, shape(part) if sizes[_size(part)] > 1 else None) for part in parts]


def _size(part: Component) -> tuple[int, int, int]:
    return len(part.writes), len(part.context), len(part.frozen)


def once_per_shape(
    parts: Sequence[ShapedComponent],
    simulate: Callable[[Component], Outcome],
    renamed: Callable[[Outcome, Renaming, Component], Outcome | None],
) -> list[tuple[Component, Outcome]]:
    """Each component's outcome: renamed from an earlier one of the same shape when `renamed`
    can (it returns None when a message cannot be renamed), else simulated."""
    first: dict[str, tuple[Shape, Outcome]] = {}
    found = []
    for part, shape in parts:
        outcome = None
        if shape is not None and shape.signature in first:
            source, simulated = first[shape.signature]
            outcome = renamed(simulated, source.renaming_to(shape), part)
        if outcome is None:
            outcome = simulate(part)
            if shape is not None:
                first[shape.signature] = (shape, outcome)
        found.append((part, outcome))
    return found
