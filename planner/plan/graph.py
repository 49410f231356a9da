"""Ordering of units: which unit "waits for" which, merged cycles, and waves.

Pure: knows nothing of clusters or files. A unit says what it releases and what it claims
(IPs, ports on an IP, slots in a pool); the ordering rules below turn that into edges, cycles
(two units each waiting for the other, e.g. an IP swap) are merged into one group transition,
and the waves are the topological generations of what is left.
"""

from __future__ import annotations

import functools
import graphlib
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from planner.json_text import canonical_text

if TYPE_CHECKING:  # networkx costs ~100 ms to import: only a plan with a cycle pays it (issue 17)
    import networkx as nx

SERVICE = "service"
GROUP_TRANSITION = "group-transition"
DETOUR = "detour"  # a cycle member first written with a free address (planner.plan.detour)


@dataclass(frozen=True, order=True)
class Resource:
    """Something a unit releases or claims: an IP, a (protocol, port) on an IP, a pool slot."""

    kind: str  # "ip" | "port" | "pool-slot"
    where: str  # the IP, or the pool name for a slot
    what: str = ""  # "TCP/53" for a port

    def __str__(self) -> str:
        if self.kind == "port":
            return f"{self.what} on {self.where}"
        if self.kind == "pool-slot":
            return f"a slot in pool {self.where}"
        return self.where


@dataclass(frozen=True)
class Unit:
    """One Service's change or one group transition, with what it frees and takes."""

    kind: str  # SERVICE | GROUP_TRANSITION
    services: tuple[str, ...]  # the Services this unit writes or deletes, sorted
    content: str  # canonical text of every write of the unit (for the content-hash id)
    releases: frozenset[Resource] = frozenset()
    claims: frozenset[Resource] = frozenset()
    could_take: frozenset[str] = frozenset()  # IPs an auto-assigned creation might pick
    requested_claims: frozenset[str] = frozenset()  # IPs claimed by request (not auto-assigned)
    release_only: bool = False  # deletions and type changes away from LoadBalancer
    pools_touched: frozenset[str] = frozenset()  # pools it releases or claims in
    members: tuple[str, ...] = ()  # every Service of the group(s) it moves, written or not

    @functools.cached_property
    def id(self) -> str:
        """A content hash: the same writes give the same id on every run. Kept once made: a
        plan reads each unit's id about ten times (26,000 hashes for 2,500 units at 10,000
        Services); `replace` makes a new unit, with its own."""
        return unit_id(self.kind, self.content)


def unit_id(label: str, content: str) -> str:
    """The content-hash id of a unit: `label` (its kind or step) and its writes' canonical text."""
    return "u-" + hashlib.sha256(f"{label}\n{content}".encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Edge:
    """`before` must land before `after`, for the reasons listed (what is released and claimed)."""

    before: str
    after: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class OrderedUnits:
    """Units in waves (each wave sorted by unit id) and the edges between them."""

    waves: tuple[tuple[Unit, ...], ...]
    edges: tuple[Edge, ...]
    merged_cycles: tuple[tuple[str, ...], ...] = field(default=())  # services of each merged cycle

    def waits_for(self, unit_id: str) -> tuple[str, ...]:
        return tuple(sorted(e.before for e in self.edges if e.after == unit_id))


# The ordering rules, as data: each names the reason and finds, for a claiming unit, the
# releasing units it must wait for. Index-based so that 10,000 Services stay linear.
Rule = Callable[["_Index", Unit], Iterable[tuple[Unit, str]]]


def _released_ip_claimed(index: _Index, unit: Unit) -> Iterable[tuple[Unit, str]]:
    for res in unit.claims:
        if res.kind == "ip":
            for other in index.releasers[res]:
                yield other, f"releases IP {res.where}, which it claims"


def _released_port_claimed(index: _Index, unit: Unit) -> Iterable[tuple[Unit, str]]:
    for res in unit.claims:
        if res.kind == "port":
            for other in index.releasers[res]:
                yield other, f"releases {res}, which it claims"


def _freed_slot_used(index: _Index, unit: Unit) -> Iterable[tuple[Unit, str]]:
    for res in unit.claims:
        if res.kind == "pool-slot":
            for other in index.releasers[res]:
                yield other, f"frees {res}, which it needs (the pool is full)"


def _requested_before_auto(index: _Index, unit: Unit) -> Iterable[tuple[Unit, str]]:
    for ip in unit.could_take:
        for other in index.requesters[ip]:
            yield other, f"claims requested IP {ip} before an auto-assigned Service could take it"


def _releases_first(index: _Index, unit: Unit) -> Iterable[tuple[Unit, str]]:
    if unit.release_only or not unit.claims and not unit.could_take:
        return
    for pool in unit.pools_touched:
        for other in index.release_only_in_pool[pool]:
            yield other, f"deletes or leaves LoadBalancer, freeing room in pool {pool}"


ORDERING_RULES: tuple[Rule, ...] = (
    _released_ip_claimed,  # an IP released before it is claimed
    _released_port_claimed,  # a (protocol, port) on a shared IP released before it is claimed
    _freed_slot_used,  # a slot in a full pool freed before it is used
    _requested_before_auto,  # requested-IP claims before auto-assigned creations
    _releases_first,  # deletions and type changes away from LoadBalancer first
)


@dataclass
class _Index:
    releasers: defaultdict[Resource, list[Unit]]
    requesters: defaultdict[str, list[Unit]]
    release_only_in_pool: defaultdict[str, list[Unit]]

    @classmethod
    def of(cls, units: Iterable[Unit]) -> _Index:
        index = cls(defaultdict(list), defaultdict(list), defaultdict(list))
        for unit in units:
            for res in unit.releases:
                index.releasers[res].append(unit)
            for ip in unit.requested_claims:
                index.requesters[ip].append(unit)
            if unit.release_only:
                for pool in unit.pools_touched:
                    index.release_only_in_pool[pool].append(unit)
        return index


# Edges of the "must land before" relation: (unit id before, unit id after) -> the reasons.
WaitsFor = dict[tuple[str, str], set[str]]


def waits_for_edges(units: Iterable[Unit]) -> WaitsFor:
    """The "must land before" relation between units (by id), each edge with its reasons."""
    units = list(units)
    index = _Index.of(units)
    edges: WaitsFor = {}
    for unit in units:
        for rule in ORDERING_RULES:
            for before, reason in rule(index, unit):
                if before.id != unit.id:
                    edges.setdefault((before.id, unit.id), set()).add(reason)
    return edges


def merge_units(units: Iterable[Unit]) -> Unit:
    """One group transition made of several units (a cycle that must land atomically)."""
    units = sorted(units, key=lambda u: u.services)

    def union(attr: str) -> frozenset[Any]:
        return frozenset[Any]().union(*(getattr(u, attr) for u in units))

    return Unit(
        kind=GROUP_TRANSITION,
        services=tuple(sorted({s for u in units for s in u.services})),
        content="\n".join(u.content for u in units),
        releases=union("releases"),
        claims=union("claims"),
        could_take=union("could_take"),
        requested_claims=union("requested_claims"),
        release_only=all(u.release_only for u in units),
        pools_touched=union("pools_touched"),
        members=tuple(sorted({s for u in units for s in (u.members or u.services)})),
    )


def order_units(units: Iterable[Unit]) -> OrderedUnits:
    """Merge cycles into group transitions and split the rest into waves (topological generations)."""
    units = list(units)
    merged, cycles = _cycles_merged(units, waits_for_edges(units))
    final = waits_for_edges(merged)
    by_id = {u.id: u for u in merged}
    waves = tuple(
        tuple(sorted((by_id[i] for i in generation), key=lambda u: u.id))
        for generation in _generations(by_id, final)
    )
    edges = tuple(
        sorted(
            (Edge(a, b, tuple(sorted(reasons))) for (a, b), reasons in final.items()),
            key=lambda e: (e.before, e.after),
        )
    )
    return OrderedUnits(waves=waves, edges=edges, merged_cycles=tuple(sorted(cycles)))


def _cycles_merged(units: list[Unit], edges: WaitsFor) -> tuple[list[Unit], list[tuple[str, ...]]]:
    """The units with each strongly connected component merged into one, and the Services of
    each merged one. networkx finds the components, imported only when there is a cycle: its
    import was some 0.15 s of every `planner plan`, most of which have none."""
    try:
        _sorter({u.id for u in units}, edges).prepare()
    except graphlib.CycleError:
        pass
    else:
        return units, []
    import networkx as nx

    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(u.id for u in units)
    graph.add_edges_from(edges)
    by_id = {u.id: u for u in units}
    merged: list[Unit] = []
    cycles: list[tuple[str, ...]] = []
    for component in nx.strongly_connected_components(graph):
        members = [by_id[i] for i in component]
        if len(members) == 1:
            merged.append(members[0])
            continue
        unit = merge_units(members)
        merged.append(unit)
        cycles.append(unit.services)
    return merged, cycles


def _generations(ids: Iterable[str], edges: WaitsFor) -> Iterator[tuple[str, ...]]:
    """The topological generations of an acyclic relation: the units that wait for none,
    then those that wait only for the first, and so on (networkx's topological_generations)."""
    sorter = _sorter(ids, edges)
    sorter.prepare()
    while sorter.is_active():
        ready = sorter.get_ready()
        yield ready
        sorter.done(*ready)


def _sorter(ids: Iterable[str], edges: WaitsFor) -> graphlib.TopologicalSorter[str]:
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for unit_id in ids:
        sorter.add(unit_id)
    for before, after in edges:
        sorter.add(after, before)
    return sorter


# canonical_json's encoder, made once: json.dumps with these arguments builds a new one per call
# (a third of fingerprinting the 10,000 live Services of a plan, three parts each).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def canonical_json(value: object) -> str:
    """The one canonical serialisation used for content hashes (json's compact sorted text;
    written by orjson where its text is the same: planner.json_text)."""
    text = canonical_text(value)
    return _CANONICAL.encode(value) if text is None else text
