"""Explore the states a component can reach, not its schedules (as the model checkers TLC and
SPIN do): breadth-first over the simulated cluster's states from the writes submitted, each
state reduced to a canonical fingerprint (`SimulatedCluster.fingerprint`) and visited once.

Every claim the planner makes is a property of reachable states: "went pending" holds in some
reachable state, "stuck at the end" and "changed IP" in some terminal state (nothing left to
arrive, the queue empty), "always pending" in every terminal state, since the fingerprint keeps
whether a Service went pending on the way. Warnings are collected on every edge (each edge of
the graph is taken once, so the union is every schedule's). Schedules stay available: each
state keeps its parent and the action that reached it, so a counterexample is a real (shortest)
schedule that `planner.model.simcluster.replay` carries out again.

A reprocess-all pass is explored Service by Service among its ties (every tie order, partial
passes in equal states merged; `_pass_ends`), and its partial states count against the budget.
Under the stock behaviours, settled Services (whose handling is a no-op now and in every state
reachable; `_Settled`) are handled first in each tie group in one order, their place in the
queue is left out of the fingerprint, and one at the head of the queue is handled at once.

The fingerprint leaves out what no later step reads: the step counter, logged events, the
controller's "changed nothing" memos, and the order set_pools walks allocations (no step of an
exploration changes the pools). That these omissions are exact is checked by a property test
against the brute-force schedule enumeration (tests/simulate/test_states.py).

    >>> found = explore_states(cluster, writes, max_states=20_000)
    >>> found.complete, found.states, found.pending, found.stuck, found.final_ips
"""

from __future__ import annotations

import copy
import enum
import ipaddress
import re
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from functools import partial
from typing import Any, overload

from planner import collector
from planner.model.allocator import Port
from planner.model.controller import ERROR, REPROCESS_ALL, SUCCESS, Behavior, Event, Result
from planner.model.service import (
    GROUP_MEMBERS_ANNOTATION,
    ServiceInputError,
    annotation,
    backend_key,
    ingress_ips,
    is_load_balancer,
    requested_ips,
    sharing_key,
)
from planner.model.service import ports as service_ports
from planner.model.simcluster import (
    RELOAD,
    Action,
    Arrive,
    Process,
    ServicePart,
    ServiceWrite,
    SimulatedCluster,
    prepared,
)
from planner.objects import Manifest

# The default state budget: beyond it the exploration stops and says it is not complete.
DEFAULT_MAX_STATES = 50_000

# Manifests remembered by identity for fingerprints (a cache; cleared when this big).
_BY_ID_MAX = 200_000
# Renamings remembered with what each renamed (a cache; cleared when this big): nearly every
# state has its own (15,296 for 6,532 states at 16 members), so the cache held half the
# exploration's memory (107 of 215 traced MB) for little reuse.
_RENAMINGS_MAX = 4_096


# A manifest as renamed() numbers it: itself, its key, its name, the number of the rest of it
# and of its own identity (the _IDENTITY fields).
_Parts = tuple[Manifest, str, object, int, int]


@dataclass(frozen=True)
class Terminal:
    """A terminal state (the cluster a schedule ends in) and the shortest schedule to it."""

    cluster: SimulatedCluster
    schedule: tuple[Action, ...]


@dataclass
class StateExploration:
    """The reachable outcomes of one component under one behaviour.

    `complete`: every reachable state was visited (no budget reached, no reprocess-all tie
    orders left out). `diverging`: states from which no terminal state can be reached (the
    controller never goes idle there): then no end-state claim is proved.
    """

    complete: bool
    states: int
    edges: int
    terminals: tuple[Terminal, ...]
    pending_paths: dict[str, tuple[Action, ...]]  # svc → shortest schedule until it went pending
    # svc → every warning raised on it, on any edge (under symmetry made when read: ClosedWarnings)
    warnings: Mapping[str, frozenset[str]]
    budget_reached: bool = False
    ties_cut: bool = False
    diverging: int = 0
    symmetric: tuple[tuple[str, ...], ...] = ()  # classes of interchangeable Services
    # Why the symmetry reduction was given up and the component explored again without it
    # ("" when it was not): a `fixed` group transition whose outcome follows its members' order.
    symmetry_dropped: str = ""
    pass_states: int = 0  # of `states`: partial reprocess-all passes (see _pass_ends)
    # Tie groups taken in one order (or one per last member) because they commute (_Commuting).
    commuted: int = 0
    # States merged with one whose pass is queued before the same keys in another order (_Tails).
    tails_merged: int = 0
    # Why merging those was given up and the component explored again without it ("" if not).
    tails_dropped: str = ""

    @property
    def pending(self) -> frozenset[str]:
        """Services that went pending (from some IPs to none) in some reachable state."""
        return frozenset(self.pending_paths)

    @property
    def always_pending(self) -> frozenset[str]:
        """Services that went pending in every terminal state's past (every finished schedule)."""
        if not self.terminals:
            return frozenset()
        return frozenset(
            svc for svc in self.pending if all(t.cluster.went_pending(svc) for t in self.terminals)
        )

    @property
    def stuck(self) -> frozenset[str]:
        """Services that are LoadBalancers without an IP in some terminal state."""
        return frozenset(
            svc for t in self.terminals for svc in t.cluster.store if t.cluster.stuck_at_end(svc)
        )

    @property
    def changed(self) -> frozenset[str]:
        """Services whose IPs differ from their first ones in some terminal state."""
        return frozenset(
            svc for t in self.terminals for svc in t.cluster.history if t.cluster.changed_ip(svc)
        )

    @property
    def final_ips(self) -> dict[str, frozenset[tuple[str, ...]]]:
        """Per Service in some terminal state: every IP tuple it ends with."""
        found: dict[str, set[tuple[str, ...]]] = {}
        for t in self.terminals:
            for svc in t.cluster.store:
                found.setdefault(svc, set()).add(t.cluster.ips(svc))
        return {svc: frozenset(ips) for svc, ips in sorted(found.items())}

    def witness(self, violates: str) -> Terminal | None:
        """The first terminal state (fewest steps) where `violates` holds: "stuck:<svc>"."""
        kind, _, svc = violates.partition(":")
        for t in sorted(self.terminals, key=lambda t: len(t.schedule)):
            if kind == "stuck" and t.cluster.stuck_at_end(svc):
                return t
            if kind == "changed" and t.cluster.changed_ip(svc):
                return t
        return None


class _Interner:
    """Small integers for manifests and for the frozensets of fingerprints, so a visited state
    costs a short tuple of ints (equal values share one number: no hashing collisions)."""

    def __init__(self) -> None:
        self._values: dict[Hashable, int] = {}
        self._by_id: dict[int, tuple[Manifest, int]] = {}
        self._parts: dict[int, _Parts] = {}  # id → a manifest's parts (see renamed)
        self._taken: dict[tuple[str, str, int], int] = {}  # (key, image, identity) → identity

    def manifest(self, manifest: Manifest) -> int:
        """The number of a manifest's content (stored manifests are never changed in place,
        so one seen before is recognised by identity)."""
        seen = self._by_id.get(id(manifest))
        if seen is not None and seen[0] is manifest:
            return seen[1]
        number = self._number(("manifest", _freeze(manifest)))
        if len(self._by_id) >= _BY_ID_MAX:
            self._by_id.clear()
        self._by_id[id(manifest)] = (manifest, number)
        return number

    def renamed(self, manifest: Manifest, renaming: _Renaming) -> int:
        """The number of the manifest's content as the renamed Service would carry it, made of
        what that content is: its name, the rest without the _IDENTITY fields (numbered once
        per manifest, whatever the renaming) and the identity it takes (its image's in the
        version whose identity it has, else its own; see _Renaming.manifest)."""
        parts = self._parts.get(id(manifest))
        if parts is None or parts[0] is not manifest:
            parts = self._parts_of(manifest)
        _, key, name, rest, mine = parts
        image = renaming.keys.get(key)
        if image is None:
            return self._number(("renamed", name, rest, mine))
        taken = self._taken.get((key, image, mine))
        if taken is None:
            taken = self._taken[(key, image, mine)] = self._identity_taken(renaming, key, mine)
        return self._number(("renamed", image.partition("/")[2], rest, taken))

    def owner(self, manifest: Manifest) -> str:
        """The key ("namespace/name") the manifest names (remembered with its parts)."""
        parts = self._parts.get(id(manifest))
        if parts is None or parts[0] is not manifest:
            parts = self._parts_of(manifest)
        return parts[1]

    def _parts_of(self, manifest: Manifest) -> _Parts:
        """The manifest's key, name, rest and own identity (numbered), remembered by identity."""
        meta = manifest.get("metadata") or {}
        key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        neutral = _IDENTITY_RENAMING.manifest(manifest)  # (cluster IPs as their family)
        rest = self._number(("rest", _freeze(_without_identity(neutral))))
        mine = self._identity_number(_identity(neutral))
        parts = (manifest, key, meta.get("name", _ABSENT), rest, mine)
        if len(self._parts) >= _BY_ID_MAX:
            self._parts.clear()
        self._parts[id(manifest)] = parts
        return parts

    def _identity_taken(self, renaming: _Renaming, key: str, mine: int) -> int:
        """The identity a manifest of `key` with identity `mine` takes when renamed: the image's
        in the first version whose identity is `mine` (its own when none is)."""
        for before, after in renaming.identities.get(key, ()):
            if self._identity_number(before) == mine:
                return self._identity_number(after)
        return mine

    def _identity_number(self, identity: Identity) -> int:
        return self._number(("identity", tuple(_freeze(value) for value in identity)))

    def compact(self, value: Hashable) -> Hashable:
        """The fingerprint with each frozenset replaced by its number."""
        if type(value) is tuple:
            return tuple(self.compact(item) for item in value)
        if type(value) is frozenset:
            return self._number(value)
        return value

    def _number(self, value: Hashable) -> int:
        return self._values.setdefault(value, len(self._values))


def _freeze(value: object) -> Hashable:
    """JSON-like data as a hashable value: dicts by sorted key, lists as tuples, bools tagged
    (True == 1 in Python, not in a manifest)."""
    kind = type(value)
    if kind is dict:
        items = value.items()  # type: ignore[attr-defined]
        return ("{}", tuple(sorted((str(k), _freeze(v)) for k, v in items)))
    if kind is list:
        return ("[]", tuple(_freeze(v) for v in value))  # type: ignore[attr-defined]
    if kind is bool:
        return ("bool", value)
    if isinstance(value, Hashable):
        return value
    return ("repr", repr(value))


@collector.simulation_collections()  # (a context manager made by contextmanager decorates too)
def explore_states(
    cluster: SimulatedCluster,
    writes: Sequence[ServiceWrite],
    *,
    max_states: int = DEFAULT_MAX_STATES,
    explore_ties: bool = True,
    symmetry: bool = True,
    settling: bool = True,
    commute: bool = True,
    tails: bool = True,
) -> StateExploration:
    """Every state reachable from `cluster` with `writes` submitted, breadth-first, each once;
    stops (not complete) after `max_states` states. `symmetry`: states equal up to a renaming
    of interchangeable Services are visited once (exact; see `_find_symmetry`). Every tie order
    of a reprocess-all pass is taken, pass by pass (`_pass_ends`); without `explore_ties` only
    the default one (then the exploration is not complete). `settling`: settled Services'
    handlings (no-ops for good) are neither ordered in passes nor told apart by their place in
    the queue (`_Settled`; exact under the stock behaviours, off under `fixed`). `tails`: with
    a pass at the head of the queue and nothing left to arrive, the keys queued behind it are
    not told apart when the pass settles each of them (`_Tails`; stock behaviours). Explored
    with the cyclic collector paused (it makes no reference cycle: planner.collector)."""
    try:
        return _explore_tails(
            cluster, writes, max_states, explore_ties, symmetry, settling, commute, tails
        )
    except _OrderSensitive as sensitive:
        # The reduction would not be exact from here on: explore the whole graph instead.
        found = _explore_tails(
            cluster, writes, max_states, explore_ties, False, settling, commute, tails
        )
        found.symmetry_dropped = str(sensitive)
        return found


def _explore_tails(
    cluster: SimulatedCluster,
    writes: Sequence[ServiceWrite],
    max_states: int,
    explore_ties: bool,
    symmetry: bool,
    settling: bool,
    commute: bool,
    tails: bool,
) -> StateExploration:
    """_explore, again without merging tails behind a pass when a merge it made turned out
    not to be exact (_TailsUnsound: some future of the state merged into ended otherwise)."""
    try:
        return _explore(
            cluster, writes, max_states, explore_ties, symmetry, settling, commute, tails
        )
    except _TailsUnsound as unsound:
        found = _explore(
            cluster, writes, max_states, explore_ties, symmetry, settling, commute, False
        )
        found.tails_dropped = str(unsound)
        return found


def symmetric_classes(
    cluster: SimulatedCluster, writes: Sequence[ServiceWrite]
) -> tuple[tuple[str, ...], ...]:
    """The classes of interchangeable Services `explore_states` would start from (without
    exploring: to tell how many writes are distinct up to renaming)."""
    interner = _Interner()
    start = prepared(cluster, writes)

    def raw(renaming: _Renaming) -> Hashable:
        return renaming.value(start.fingerprint(lambda m: interner.renamed(m, renaming)))

    found = _find_symmetry(start, raw)
    return tuple(found.classes) if found else ()


def _explore(
    cluster: SimulatedCluster,
    writes: Sequence[ServiceWrite],
    max_states: int,
    explore_ties: bool,
    symmetry: bool,
    settling: bool,
    commute: bool = True,
    tails: bool = True,
) -> StateExploration:
    """explore_states, with the symmetry reduction raising _OrderSensitive where it is not exact."""
    interner = _Interner()
    start = prepared(cluster, writes)
    stock = start.controller.behavior in _STOCK_BEHAVIORS
    settled = _Settled(interner) if settling and stock else None
    # Under `fixed` nothing is settled: a tie group that changes nothing is told by the state's
    # own fingerprint instead (see _pass_ends).
    unchanged = None if stock or not settling else partial(_raw_print, interner=interner)
    origin = start.copy()  # the explored states are taken over by their last branch

    def raw(state: SimulatedCluster, renaming: _Renaming) -> Hashable:
        fingerprint = state.fingerprint(lambda m: interner.renamed(m, renaming))
        return renaming.value(fingerprint)

    found = _find_symmetry(start, lambda r: raw(start, r)) if symmetry and explore_ties else None
    _forget_transitions(start)  # those before the writes (bootstrap) are not steps explored
    members = _MemberParts(found, interner) if found is not None else None

    def canonical(
        state: SimulatedCluster, left: Sequence[Sequence[str]] = ()
    ) -> tuple[Hashable, _Renaming]:
        quiet = settled.queued(state) if settled is not None else ()
        if not quiet:
            return _canonical(state, left)
        # A settled Service's place in the queue changes nothing but when a no-op happens:
        # the state is read as if its key were not queued (put back at once; see _Settled).
        queue = state.queue
        state.queue = [k for k in queue if k not in quiet]
        try:
            return _canonical(state, left)
        finally:
            state.queue = queue

    def _canonical(
        state: SimulatedCluster, left: Sequence[Sequence[str]] = ()
    ) -> tuple[Hashable, _Renaming]:
        if found is None or members is None:
            return interner.compact(state.fingerprint(interner.manifest)), _IDENTITY_RENAMING
        # Inside a pass, a member's place among the Services left is part of what it is.
        place = {k: i for i, group in enumerate(left) for k in group}
        controller = state.controller
        if controller.order_sensitive or controller.written_together:
            # The step that led here ran a group transition: exact only if its name order
            # changed nothing up to renaming (each state is checked once, then the log emptied).
            found.check_order(controller.order_sensitive)
            for written in controller.written_together:
                found.check_written(written, place, partial(raw, _masked(state, written)))
            _forget_transitions(state)
        parts = members.parts(state)
        renaming = found.canonical(state, members.signature(state, parts, place))
        return members.key(state, renaming, parts), renaming

    def key(state: SimulatedCluster) -> Hashable:
        # Explored states have no settled Service at the head of their queue (_drain_settled);
        # only the start may, and it must not merge with its own successor.
        head = bool(state.queue) and settled is not None and _settled_head(state, settled)
        return canonical(state, ())[0], head

    # Tie groups whose handlings commute, taken in one order (see _Commuting); stock only.
    classes = tuple(frozenset(c) for c in found.classes) if found is not None else ()
    commuting = _Commuting(settled, classes) if settled is not None and commute else None
    # Passes with nothing left to arrive, whatever is queued behind them (see _Tails); stock only.
    behind = None
    if settled is not None and tails and explore_ties:
        behind = _Tails(settled, canonical)

    def drained(state: SimulatedCluster, action: Action) -> tuple[Action, ...]:
        return (action, *_drain_settled(state, settled)) if settled is not None else (action,)

    visited: dict[Hashable, int] = {key(start): 0}
    start_tail = behind.key(start) if behind is not None else None
    if behind is not None:
        behind.reached(start_tail, 0)
    parents: list[tuple[int, tuple[Action, ...]]] = [(-1, ())]
    edges: list[tuple[int, int]] = []
    # Each state waits with its tail key, computed when it was reached (a state is not changed
    # while it waits, so the key holds): one canonical form less per state.
    frontier: deque[_Waiting] = deque([_Waiting(start, 0, start_tail)])
    terminals: list[tuple[int, SimulatedCluster]] = []
    pending_at: dict[str, int] = {}
    warnings: dict[str, set[str]] = {}
    budget_reached = ties_cut = False
    passes = _PassBudget(max_states)
    _note_pending(start, 0, pending_at)
    while frontier and not budget_reached:
        waiting = frontier.popleft()
        state, index, pass_key = waiting.state, waiting.index, waiting.tail_key
        ties_cut = ties_cut or (not explore_ties and _tied_pass(state))
        passes.left = max_states - len(visited)
        # Its own fingerprint, for states like it to be found if it turns out not tail-free.
        passing = pass_key is not None and state.queue[0] == RELOAD
        whole = key(state) if passing else None
        successors = [
            (drained(branch, action), branch)
            for action, branch in _successors(
                state, explore_ties, canonical, warnings, passes, settled, commuting, unchanged
            )
        ]
        if passes.reached:
            budget_reached = True
            break
        if not successors:
            terminals.append((index, state))
            continue
        if pass_key is not None and behind is not None:
            tail_free = behind.expanded(index, pass_key, [(s[0], b) for s, b in successors])
            if not tail_free and whole is not None:
                visited.setdefault(whole, index)  # (found by its tail key until now)
        for steps, branch in successors:
            fingerprint: Hashable
            tail_key = behind.key(branch) if behind is not None else None
            target = behind.merged(tail_key) if behind is not None else None
            if target is None and behind is not None and behind.first(tail_key):
                # The first state with this key: no state reached so far is the same one.
                fingerprint = ("tail", tail_key)
            elif target is None:
                fingerprint = key(branch)
                target = visited.get(fingerprint)
            if target is None:
                if len(visited) + passes.used >= max_states:
                    budget_reached = True
                    break
                target = visited[fingerprint] = len(parents)
                parents.append((index, steps))
                _note_pending(branch, target, pending_at)
                frontier.append(_Waiting(branch, target, tail_key))
            if behind is not None:
                behind.reached(tail_key, target)
                if pass_key is not None:
                    behind.leads(index, steps[0], target)
            edges.append((index, target))
    if behind is not None and not budget_reached:
        unsound = behind.unsound()
        if unsound:
            raise _TailsUnsound(unsound)
    diverging = 0 if budget_reached else _diverging(len(parents), edges, [i for i, _ in terminals])
    ends = [Terminal(c, _path(parents, i)) for i, c in terminals]
    pending_paths = {svc: _path(parents, i) for svc, i in pending_at.items()}
    closed: Mapping[str, frozenset[str]] = {
        svc: frozenset(w) for svc, w in sorted(warnings.items())
    }
    if found is not None:
        # The reduced graph holds one state per class of symmetric ones: its outcomes, renamed.
        ends, pending_paths, closed = _closed(origin, found, ends, pending_paths, warnings)
    return StateExploration(
        complete=not budget_reached and not ties_cut,
        states=len(parents) + passes.used,
        pass_states=passes.used,
        commuted=commuting.collapsed if commuting is not None else 0,
        tails_merged=behind.count if behind is not None else 0,
        edges=len(edges),
        terminals=tuple(ends),
        pending_paths=dict(sorted(pending_paths.items())),
        warnings=closed,
        budget_reached=budget_reached,
        ties_cut=ties_cut,
        diverging=diverging,
        symmetric=tuple(found.classes) if found else (),
    )


@dataclass(frozen=True)
class _Waiting:
    """A state in the frontier, with its tail key (`_Tails.key`) computed when it was reached."""

    state: SimulatedCluster
    index: int
    tail_key: Hashable | None


Canonical = Callable[[SimulatedCluster, Sequence[Sequence[str]]], tuple[Hashable, "_Renaming"]]
# A reprocess-all pass under way: the cluster, the tie groups left, the Services handled.
_Partial = tuple[SimulatedCluster, tuple[tuple[str, ...], ...], tuple[tuple[str, Result], ...]]


@dataclass
class _PassBudget:
    """What the partial passes may still take of the state budget, and what they took."""

    left: int
    used: int = 0
    reached: bool = False

    def spend(self) -> bool:
        """Take one partial state of the budget; False (and `reached`) when none is left."""
        if self.used >= self.left:
            self.reached = True
            return False
        self.used += 1
        return True


# Behaviours under which a Service's handling writes nothing but its own status (the fixed
# behaviour writes a group's members from one member's handling).
_STOCK_BEHAVIORS = (Behavior.METALLB_0_14, Behavior.METALLB_0_15)


class _Settled:
    """Settled Services: those whose handling is a no-op in a state and in every state reachable
    from it (docs/plan.md, "Settled Services"). A Service is settled when no write of its own
    is pending, it does not flap, the informer holds its stored manifest, the allocator says it
    holds its allocation alone (its IPs remember its key, which shares, and it holds its ports),
    it is not PreferDualStack (that one may ask a pool for another family), the pool order is
    not drawn anew per handling, and handling it now answers success, writes nothing, raises
    no event and leaves the allocator and its keys as they are. Its handling then reads only
    its manifest, its allocation, its IPs' keys and its ports' holders (Allocator.holding), and
    no other Service's step changes those: allocations change only by their own Service's
    handling, a Service with another key may not join an IP others hold, and a port held by
    one Service is freed only by that Service. The verdict is remembered by what it read."""

    def __init__(self, contents: _Interner | None = None) -> None:
        # (key, stored manifest's content, allocation key, holding) → verdict: by content, not
        # by the manifest object (each state's handling stores a new one: at 10 members 3,357
        # trial handlings were 29 distinct ones)
        self._verdicts: dict[Hashable, bool] = {}
        # key → (manifest, keys, holding, verdict) of its last verdict: read again as it was,
        # found by identity without numbering the manifest and hashing the holding
        self._last: dict[str, tuple[Manifest, object, Hashable, bool]] = {}
        # (the explorer's own numbers, so that each manifest's content is read once)
        self._contents = contents if contents is not None else _Interner()

    def members(self, state: SimulatedCluster) -> frozenset[str]:
        """The Services settled for the rest of a reprocess-all pass: inside one no write
        arrives, so a write of their own still pending does not count."""
        return frozenset(k for k in state.store if self.settled(state, k, in_pass=True))

    def queued(self, state: SimulatedCluster) -> frozenset[str]:
        """The settled Services whose keys are in the queue."""
        return frozenset(k for k in state.queue if k != RELOAD and self.settled(state, k))

    def settled(self, state: SimulatedCluster, key: str, *, in_pass: bool = False) -> bool:
        """Whether handling the Service is a no-op now and in every state reachable from here
        (`in_pass`: until the reprocess-all pass under way ends)."""
        svc = state.store.get(key)
        controller = state.controller
        allocator = controller.allocator
        if (
            svc is None
            or (state._pending.get(key) and not in_pass)
            or key in state.flapping
            or controller._pool_order is not None
            or controller._cache.get(key) is not svc
            or (svc.get("spec") or {}).get("ipFamilyPolicy") == "PreferDualStack"
        ):
            return False
        holding = allocator.holding(key)
        if holding is None:  # (not held alone)
            return False
        keys = controller._keys.get(key)
        last = self._last.get(key)
        if last is not None and last[0] is svc and last[1] == keys and last[2] == holding:
            return last[3]  # (the same objects as last time: the same read)
        verdict = self._verdict(state, key, svc, (key, self._contents.manifest(svc), keys, holding))
        self._last[key] = (svc, keys, holding, verdict)
        return verdict

    def _verdict(self, state: SimulatedCluster, key: str, svc: Manifest, read: Hashable) -> bool:
        """The verdict for what the Service's handling reads (`read`), tried once on a copy."""
        known = self._verdicts.get(read)
        if known is not None:
            return known
        controller = state.controller
        allocator = controller.allocator
        trial = controller.copy()
        result = trial.set_balancer(key, svc)
        verdict = (
            result == Result(SUCCESS)
            and trial.allocator.version == allocator.version
            and trial._keys.get(key) == controller._keys.get(key)
        )
        self._verdicts[read] = verdict
        return verdict


def _successors(
    state: SimulatedCluster,
    explore_ties: bool,
    canonical: Canonical,
    warnings: dict[str, set[str]],
    budget: _PassBudget,
    settled: _Settled | None = None,
    commuting: _Commuting | None = None,
    unchanged: Callable[[SimulatedCluster], Hashable] | None = None,
) -> list[tuple[Action, SimulatedCluster]]:
    """Each next step and the state it leads to (the state itself taken by the last one);
    a reprocess-all pass at the head of the queue leads to each state one of its tie orders
    ends in. The warnings raised on the way are added to `warnings`."""
    actions: list[Action] = [Arrive(k) for k in state.pending_writes()]
    passing = explore_ties and bool(state.queue) and state.queue[0] == RELOAD
    if state.queue and not passing:
        actions.append(Process())
    found: list[tuple[Action, SimulatedCluster]] = []
    for number, action in enumerate(actions):
        # The last branch may take the state itself: nothing reads it afterwards.
        branch = state if number == len(actions) - 1 and not passing else state.copy()
        logged = len(branch.events)
        branch.apply(action)
        _collect(branch.events[logged:], warnings)
        found.append((action, branch))
    if passing:
        found.extend(_pass_ends(state, canonical, warnings, budget, settled, commuting, unchanged))
    return found


def _settled_head(state: SimulatedCluster, settled: _Settled) -> bool:
    """Whether the queue's head is a settled Service (its handling a no-op)."""
    head = state.queue[0]
    return head != RELOAD and settled.settled(state, head)


def _drain_settled(state: SimulatedCluster, settled: _Settled) -> list[Process]:
    """Handle the settled Services at the head of the queue, each a no-op: the steps taken.
    Taken at once after the step that uncovered them (an ample set of one invisible step:
    it commutes with every arrival, which neither reads the queue's head nor is read by it)."""
    taken: list[Process] = []
    while state.queue and _settled_head(state, settled):
        logged = len(state.events)
        state.apply(Process())
        assert len(state.events) == logged, "a settled Service's handling raised an event"
        taken.append(Process())
    return taken


def _tied_pass(state: SimulatedCluster) -> bool:
    """A reprocess-all pass is next and its Services may take more than one order."""
    return bool(state.queue) and state.queue[0] == RELOAD and len(state.pass_orders(True)) > 1


def _collect(events: Sequence[tuple[int, Event]], warnings: dict[str, set[str]]) -> None:
    for _, event in events:
        if event.type == "Warning":
            warnings.setdefault(event.svc_key, set()).add(str(event))


def _pass_ends(
    state: SimulatedCluster,
    canonical: Canonical,
    warnings: dict[str, set[str]],
    budget: _PassBudget,
    settled: _Settled | None = None,
    commuting: _Commuting | None = None,
    unchanged: Callable[[SimulatedCluster], Hashable] | None = None,
) -> list[tuple[Process, SimulatedCluster]]:
    """Every state the reprocess-all pass at the head of the queue can end in (the state
    itself is taken), each with one tie order that reaches it.

    The pass is explored Service by Service: at each point any Service left in the current
    tie group may come next, and two partial passes in the same state with the same Services
    left are one (exact: the rest of a pass reads nothing else; docs/plan.md, "Reprocess-all
    tie orders"). So a pass of n tied Services costs the distinct partial states, at most
    2^n per distinct path, instead of n! orders; and under symmetry the partial states are
    canonical too (the Services left renamed with the state). Each partial pass counts against
    the state budget (`budget.reached` when it runs out; then the ends are not all there).
    `unchanged` (under `fixed`, where no Service is settled): the fingerprint that tells
    whether a handling left the state as it found it."""
    # Settled Services: a no-op wherever they come (see _Settled); each group's go first.
    quiet = settled.members(state) if settled is not None else None
    groups = state.begin_pass()
    stack: list[_Partial] = [(state, tuple(tuple(g) for g in groups if g), ())]
    seen: set[Hashable] = set()
    ends: list[tuple[Process, SimulatedCluster]] = []
    while stack:
        cluster, left, results = stack.pop()
        if not left:
            cluster.end_pass(results)
            cluster.log_pass(results)
            ends.append((Process(tuple(k for k, _ in results)), cluster))
            continue
        current, later = left[0], left[1:]
        if quiet and any(k in quiet for k in current):
            for member in current:
                if member in quiet:
                    result = cluster.handle_listed(member)
                    assert result == Result(SUCCESS), "a settled Service's handling did something"
                    results = (*results, (member, result))
            current = tuple(k for k in current if k not in quiet)
            stack.append((cluster, ((current,) if current else ()) + later, results))
            continue
        taken = commuting.group(cluster, current, later, warnings) if commuting else None
        if taken is not None:
            # Every order of the group ends in one of these states (see _Commuting).
            for after, handled in taken:
                now = (*results, *handled)
                if not later:
                    stack.append((after, later, now))
                    continue
                merged = _partial_key(canonical, after, later, now)
                if merged not in seen:
                    if not budget.spend():
                        return ends
                    seen.add(merged)
                    stack.append((after, later, now))
            continue
        # What a handling that changes nothing leaves as it found (see _changes_nothing).
        controller = cluster.controller
        before = (
            controller.allocator.version,
            {k: (controller._keys.get(k), controller._cache.get(k)) for k in current},
        )
        found_as = unchanged(cluster) if unchanged is not None else None
        branches: list[tuple[int, str, SimulatedCluster, Result]] = []
        for number, member in enumerate(current):
            branch = cluster if number == len(current) - 1 else cluster.copy()
            logged = len(branch.events)
            result = branch.handle_listed(member)
            _collect(branch.events[logged:], warnings)
            branches.append((number, member, branch, result))
        if quiet is not None:
            still = all(_changes_nothing(b, m, r, before) for _, m, b, r in branches)
        else:
            still = unchanged is not None and all(
                _left_as_found(b, r, unchanged, found_as) for _, _, b, r in branches
            )
        if still:
            # Each Service of the group changes nothing here, so the state stays as it is
            # whatever the order: all orders are one (and raise the warnings raised above).
            cluster = branches[-1][2]
            now = (*results, (branches[-1][1], branches[-1][3]))
            for _, member, _, _ in branches[:-1]:
                now = (*now, (member, cluster.handle_listed(member)))
            stack.append((cluster, later, now))
            continue
        for number, member, branch, result in branches:
            rest = current[:number] + current[number + 1 :]
            now = (*results, (member, result))
            remaining = ((rest,) if rest else ()) + later
            merged = _partial_key(canonical, branch, remaining, now)
            if merged not in seen:
                # (a whole pass is a state the explorer counts itself)
                if remaining and not budget.spend():
                    return ends
                seen.add(merged)
                stack.append((branch, remaining, now))
    return ends


def _partial_key(
    canonical: Canonical,
    cluster: SimulatedCluster,
    left: tuple[tuple[str, ...], ...],
    results: tuple[tuple[str, Result], ...],
) -> Hashable:
    """What makes two partial passes one: the canonical state, the tie groups left (renamed
    with it), and whether a handling so far asked for a retry (the pass's end reads that)."""
    fingerprint, renaming = canonical(cluster, left)
    retry = any(r.state in (REPROCESS_ALL, ERROR) for _, r in results)
    return (
        fingerprint,
        tuple(frozenset(renaming.name(k) for k in group) for group in left),
        retry,
    )


def _raw_print(state: SimulatedCluster, interner: _Interner) -> Hashable:
    """The state's fingerprint, not renamed (manifests numbered by content)."""
    return state.fingerprint(interner.manifest)


def _left_as_found(
    after: SimulatedCluster,
    result: Result,
    fingerprint: Callable[[SimulatedCluster], Hashable],
    before: Hashable,
) -> bool:
    """Whether a handling inside a pass left the state as it found it, whatever the behaviour:
    its fingerprint (everything a later step reads) as it was, no retry asked, and no group
    transition run (the symmetry reduction checks those on the states it keys)."""
    controller = after.controller
    return (
        result.state not in (REPROCESS_ALL, ERROR)
        and not controller.order_sensitive
        and not controller.written_together
        and fingerprint(after) == before
    )


def _changes_nothing(
    after: SimulatedCluster,
    member: str,
    result: Result,
    before: tuple[int, Mapping[str, tuple[object, object]]],
) -> bool:
    """Whether a handling inside a pass left the state as it found it: no write (so nothing
    stored, recorded or queued), no retry asked, the allocator's version (bumped by every
    change to it), the Service's keys and its informer entry as they were."""
    version, mine = before
    controller = after.controller
    return (
        result.service is None
        and not result.group_writes
        and result.state not in (REPROCESS_ALL, ERROR)
        and controller.allocator.version == version
        and (controller._keys.get(member), controller._cache.get(member)) == mine[member]
    )


# What a collapsed tie group did: the state after it, and each member's result in order.
_Handled = tuple[SimulatedCluster, tuple[tuple[str, Result], ...]]


@dataclass(frozen=True)
class _Move:
    """What a handling inside a pass reads of its own Service (docs/plan.md, "Handlings that
    commute in a pass"): its allocation key, the IPs its status shows, the IPs it requests
    (never empty: it draws nothing from a pool) and its ports."""

    svc: str
    key: tuple[str, str]
    status: tuple[str, ...]
    requested: tuple[str, ...]
    ports: tuple[Port, ...]


def _move(cluster: SimulatedCluster, svc: str) -> _Move | None:
    """The Service's _Move, or None when its handling may read more than its own Service and
    the entries of the IPs it shows and requests: it requests no IP (a pool draw reads the
    pool's free addresses), it is PreferDualStack (it may ask a pool for another family), it
    is no LoadBalancer, or an input is one the model refuses."""
    manifest = cluster.store[svc]
    if not is_load_balancer(manifest):
        return None
    if (manifest.get("spec") or {}).get("ipFamilyPolicy") == "PreferDualStack":
        return None
    try:
        requested = requested_ips(manifest)
        own = service_ports(manifest)
    except ServiceInputError:
        return None
    if not requested:
        return None
    key = (sharing_key(manifest), backend_key(manifest))
    return _Move(svc, key, ingress_ips(manifest), requested, own)


def _shares(remembered: tuple[str, str], key: tuple[str, str]) -> bool:
    """MetalLB's sharingOK: both keys share, and they are equal."""
    return bool(remembered[0]) and bool(key[0]) and remembered == key


class _Commuting:
    """Tie groups of a reprocess-all pass whose handlings commute, taken in one order instead
    of every one (stock behaviours; the argument is in docs/plan.md, "Handlings that commute
    in a pass"). Each kind is checked on the state before the group (what each member reads)
    and on the state after it, run in name order; when a check fails the group is explored
    Service by Service as before:

    - joiners: every member shows no IP, holds none and requests IPs that remember no key or
      its own one, members on one IP have one key that shares and ports of their own; the
      group is the last of the pass, and each member either was queued already or is settled
      after it (its place in the queue is then left out of the fingerprint);
    - leavers: every member shows and holds the same IPs, requests the same ones, was queued
      already, is a member of one class of interchangeable Services, and its key conflicts
      with the key each of those IPs remembers, which still holds, with some holder left,
      after the group: each member fails alike in every order, and the warnings of the other
      orders (which list other holders) are renamings of the ones raised in this order;
    - all but one leave: as leavers, but the last member of each order finds its IPs free of
      other holders; each member is last once (the rest leave before it in name order).
    """

    def __init__(self, settled: _Settled, classes: Sequence[frozenset[str]]) -> None:
        self._settled = settled
        self._classes = classes
        self.collapsed = 0  # groups taken in one order (or one per last member)

    def group(
        self,
        cluster: SimulatedCluster,
        current: tuple[str, ...],
        later: tuple[tuple[str, ...], ...],
        warnings: dict[str, set[str]],
    ) -> list[_Handled] | None:
        """The states every order of the tie group `current` ends in, each with its members'
        results in one order that reaches it; None when no kind applies."""
        if len(current) < 2 or cluster.controller._pool_order is not None:
            return None
        moves = [_move(cluster, svc) for svc in current]
        if any(m is None for m in moves):
            return None
        known = [m for m in moves if m is not None]
        taken: list[_Handled] | None = None
        if not later and self._may_join(cluster, known):
            joined = self._joined(cluster, known, warnings)
            taken = None if joined is None else [joined]
        elif self._interchangeable(known) and self._may_leave(cluster, known):
            left = self._left(cluster, known, (), warnings)
            taken = [left] if left is not None else self._all_but_one(cluster, known, warnings)
        if taken is not None:
            self.collapsed += 1
        return taken

    # --- joiners ---

    def _may_join(self, cluster: SimulatedCluster, moves: Sequence[_Move]) -> bool:
        return _may_join(cluster, moves)

    def _joined(
        self, cluster: SimulatedCluster, moves: Sequence[_Move], warnings: dict[str, set[str]]
    ) -> _Handled | None:
        after, handled = _in_order(cluster, [m.svc for m in moves], warnings)
        allocator = after.controller.allocator
        for move in moves:
            wanted = set(move.requested)
            if set(allocator.ips(move.svc)) != wanted or set(after.ips(move.svc)) != wanted:
                return None
            # Queued by its own write in handling order: only a settled member's place is not
            # told apart (the fingerprint leaves it out), so the orders end in one state.
            if move.svc not in cluster.queue and not self._settled.settled(after, move.svc):
                return None
        return after, handled

    # --- leavers ---

    def _interchangeable(self, moves: Sequence[_Move]) -> bool:
        """All members are in one class of interchangeable Services: the warnings the other
        orders raise (naming other holders) are renamings of this order's, which the
        exploration's closure under the class adds (_closed)."""
        return any(all(m.svc in c for m in moves) for c in self._classes)

    def _may_leave(self, cluster: SimulatedCluster, moves: Sequence[_Move]) -> bool:
        """Each member fails alike in every order while the IPs keep their key and a holder."""
        first = moves[0]
        allocator = cluster.controller.allocator
        for move in moves:
            if (move.status, move.requested) != (first.status, first.requested):
                return False
            if not move.status or tuple(allocator.ips(move.svc)) != move.status:
                return False
            if move.svc not in cluster.queue:
                return False
            for ip in (*move.status, *move.requested):
                remembered = allocator.remembered_key(ip)
                if remembered is None or _shares(remembered, move.key):
                    return False
        return True

    def _left(
        self,
        cluster: SimulatedCluster,
        moves: Sequence[_Move],
        last: Sequence[_Move],
        warnings: dict[str, set[str]],
    ) -> _Handled | None:
        """The group run in name order, `last` after the others; None unless every member but
        `last` left and the IPs kept their keys and some holder."""
        leaving = [m.svc for m in moves if m not in last]
        raised: dict[str, set[str]] = {}
        after, handled = _in_order(cluster, leaving, raised)
        if not _all_left(cluster, after, moves[0], leaving):
            return None
        if last:
            after, more = _in_order(after, [m.svc for m in last], raised, copied=False)
            handled = (*handled, *more)
        for svc, texts in raised.items():
            warnings.setdefault(svc, set()).update(texts)
        return after, handled

    def _all_but_one(
        self, cluster: SimulatedCluster, moves: Sequence[_Move], warnings: dict[str, set[str]]
    ) -> list[_Handled] | None:
        ends = []
        for move in moves:
            end = self._left(cluster, moves, (move,), warnings)
            if end is None:
                return None
            ends.append(end)
        return ends


class _TailsUnsound(Exception):
    """A state was merged with one behind whose pass the keys' order turned out to matter."""


class _Tails:
    """States with a reprocess-all pass queued, told apart only by the order of the keys
    queued behind it (docs/plan.md, "Keys queued behind a pass"). Such states are merged with
    the first one reached (same canonical state up to the pass, same keys behind it), on
    trust; the trust is checked when the exploration is over: the state merged into must be
    *tail-free*: with the pass at the head, each end of the pass queues before the next pass
    only keys that end alike in any order (_any_order) and each write that may arrive first
    leads to a tail-free state; with keys before the pass, each step leads to one. Otherwise
    the exploration is run again without the merging."""

    def __init__(self, settled: _Settled, canonical: Canonical) -> None:
        self._settled = settled
        self._canonical = canonical
        # (state, keys queued behind) → the explored state standing for it (-1: none may)
        self._known: dict[Hashable, int] = {}
        self._ends: dict[int, bool] = {}  # explored state → its pass ends alike (_any_order)
        self._next: dict[int, list[int]] = {}  # explored state → the states it must lead to
        self._trusted: set[int] = set()  # states merged into
        self.count = 0  # states merged

    def key(self, state: SimulatedCluster) -> Hashable | None:
        """The canonical state with the keys behind the first pass queued as a set (None when
        no pass is queued, or nothing but settled keys is behind it)."""
        queue = state.queue
        if RELOAD not in queue:
            return None
        at = queue.index(RELOAD) + 1
        # (settled keys' places are left out of the state anyway, presence included)
        quiet = self._settled.queued(state)
        behind = tuple(k for k in queue[at:] if k not in quiet)
        if not behind:
            return None
        state.queue = queue[:at]
        try:
            fingerprint, renaming = self._canonical(state, (behind,))
        finally:
            state.queue = queue
        return fingerprint, frozenset(renaming.name(k) for k in behind)

    def merged(self, key: Hashable | None) -> int | None:
        """The explored state a state with this key is one with, if any (trusted)."""
        known = self._known.get(key) if key is not None else None
        if known is not None and known >= 0:
            self.count += 1
            self._trusted.add(known)
            return known
        return None

    def first(self, key: Hashable | None) -> bool:
        """Whether no state with this key was reached yet (so this one is no other)."""
        return key is not None and key not in self._known

    def reached(self, key: Hashable | None, index: int) -> None:
        """State `index` was reached; the first with its key stands for the others."""
        if key is not None:
            self._known.setdefault(key, index)

    def expanded(
        self, index: int, key: Hashable, steps: Sequence[tuple[Action, SimulatedCluster]]
    ) -> bool:
        """Explored state `index` (keyed) took these steps. With its pass at the head of the
        queue, each end of the pass must end alike behind it (_any_order): when one does not,
        no state is merged with it from now on, and a merge made already was not exact.
        False in that case."""
        self._next[index] = []
        self._ends[index] = all(
            self._any_order(end)
            for action, end in steps
            if isinstance(action, Process) and action.pass_order is not None
        )
        if not self._ends[index]:
            if index in self._trusted:
                raise _TailsUnsound("a state was merged with one whose pass ends otherwise")
            if self._known.get(key, index) == index:
                self._known[key] = -1
        return self._ends[index]

    def leads(self, index: int, action: Action, target: int) -> None:
        """Explored state `index` (keyed) leads by `action` to state `target`, which must be
        tail-free too unless it ends the pass (checked by `expanded`)."""
        if not (isinstance(action, Process) and action.pass_order is not None):
            self._next[index].append(target)

    def unsound(self) -> str:
        """Why a merge was not exact ("" when every state merged into is tail-free)."""
        free: dict[int, bool] = {}
        bad = sum(1 for index in self._trusted if not self._tail_free(index, free))
        return f"{bad} state(s) merged whose keys behind a pass end otherwise" if bad else ""

    def _tail_free(self, index: int, free: dict[int, bool]) -> bool:
        """Whether state `index` is tail-free (`free`: the answers so far). A method, not a
        closure calling itself: that would be a reference cycle holding the exploration."""
        if index not in free:
            free[index] = self._ends.get(index, False) and all(
                self._tail_free(after, free) for after in self._next.get(index, ())
            )
        return free[index]

    def _any_order(self, end: SimulatedCluster) -> bool:
        """Whether the keys this end of a pass queued before the next pass (or at all) end in
        one state in any order, whatever arrives between them: each is settled, and the
        others either all change nothing where they stand (no write of their own to arrive;
        checked on a copy each) or all join their IPs as commuting joiners do (checked: on a
        copy, in name order, each then holds and shows them and is settled)."""
        if end.controller._pool_order is not None:
            return False
        run = end.queue[: end.queue.index(RELOAD)] if RELOAD in end.queue else end.queue
        moving = [k for k in run if not self._settled.settled(end, k)]
        if not moving:
            return True
        if all(_no_op(end, k) for k in moving):
            return True
        if any(k not in end.store or end._pending.get(k) for k in moving):
            return False  # (a write of its own arriving between them would tell orders apart)
        moves = [_move(end, k) for k in moving]
        known = [m for m in moves if m is not None]
        if len(known) < len(moves) or not _may_join(end, known):
            return False
        trial = end.copy()
        for svc in sorted(moving):
            trial.queue.remove(svc)
            trial.queue.insert(0, svc)
            trial.apply(Process())
        allocator = trial.controller.allocator
        for move in known:
            wanted = set(move.requested)
            if set(allocator.ips(move.svc)) != wanted or set(trial.ips(move.svc)) != wanted:
                return False
            if not self._settled.settled(trial, move.svc):
                return False
        return True


def _no_op(state: SimulatedCluster, key: str) -> bool:
    """Whether handling the queued Service now changes nothing but the queue, and will while
    nothing but arrivals of other Services' writes happens: no write of its own is left to
    arrive, and on a copy its handling writes nothing, asks for no retry, leaves the
    allocator (its version), its keys and its informer entry as they were. (What it reads,
    its manifest, the configuration and the allocator, an arrival does not change.)"""
    svc = state.store.get(key)
    if svc is None or state._pending.get(key):
        return False
    controller = state.controller
    trial = controller.copy()
    result = trial.set_balancer(key, svc)
    return (
        result.service is None
        and not result.group_writes
        and result.state not in (REPROCESS_ALL, ERROR)
        and trial.allocator.version == controller.allocator.version
        and trial._keys.get(key) == controller._keys.get(key)
        and trial._cache.get(key) is controller._cache.get(key)
    )


def _may_join(cluster: SimulatedCluster, moves: Sequence[_Move]) -> bool:
    """Each member joins its requested IPs in every order if it does in one (see above)."""
    allocator = cluster.controller.allocator
    on_ip: dict[str, list[_Move]] = {}
    for move in moves:
        if move.status or allocator.pool(move.svc) is not None:
            return False
        for ip in move.requested:
            if allocator.remembered_key(ip) not in (None, move.key):
                return False
            on_ip.setdefault(ip, []).append(move)
    for together in on_ip.values():
        if len(together) < 2:
            continue
        if len({m.key for m in together}) > 1 or not together[0].key[0]:
            return False
        owned = [p for m in together for p in m.ports]
        if len(owned) != len(set(owned)):
            return False
    return True


def _all_left(
    before: SimulatedCluster, after: SimulatedCluster, move: _Move, leaving: Sequence[str]
) -> bool:
    """Whether every leaving member let go of its IPs and shows none, while each IP the
    members show or request keeps the key it remembered and some holder: then in every order
    each member met that key and another holder, and failed alike (docs/plan.md)."""
    was, now = before.controller.allocator, after.controller.allocator
    for ip in {*move.status, *move.requested}:
        if now.remembered_key(ip) != was.remembered_key(ip) or not now.holders(ip):
            return False
    return not any(now.pool(svc) is not None or after.ips(svc) for svc in leaving)


def _in_order(
    cluster: SimulatedCluster,
    members: Sequence[str],
    warnings: dict[str, set[str]],
    *,
    copied: bool = True,
) -> _Handled:
    """The members handled in this order (on a copy unless `copied` is False), warnings added."""
    after = cluster.copy() if copied else cluster
    handled = []
    for svc in members:
        logged = len(after.events)
        handled.append((svc, after.handle_listed(svc)))
        _collect(after.events[logged:], warnings)
    return after, tuple(handled)


def _closed(
    start: SimulatedCluster,
    symmetry: _Symmetry,
    ends: list[Terminal],
    pending_paths: dict[str, tuple[Action, ...]],
    warnings: Mapping[str, set[str]],
) -> tuple[list[Terminal], dict[str, tuple[Action, ...]], ClosedWarnings]:
    """The outcomes of the whole graph from the reduced one: each terminal also under every
    rotation of each class (real schedules, replayed), so every per-Service fact is there;
    pending paths renamed to members without one; warnings closed under the renamings (each
    Service's made when read: see ClosedWarnings)."""
    closed = list(ends)
    for members in symmetry.classes:
        for images in _rotations(members):
            renaming = symmetry.renaming(images)
            for end in ends:
                closed.append(
                    _replayed(start, tuple(_rename_action(a, renaming) for a in end.schedule))
                )
    paths = dict(pending_paths)
    for members in symmetry.classes:
        for images in _rotations(members):
            renaming = symmetry.renaming(images)
            for member in members:
                if member in pending_paths and renaming.name(member) not in paths:
                    path = tuple(_rename_action(a, renaming) for a in pending_paths[member])
                    paths[renaming.name(member)] = path
    return closed, paths, ClosedWarnings(symmetry.fresh(), warnings)


class ClosedWarnings(Mapping[str, frozenset[str]]):
    """Service → every warning raised on it in the whole graph, from the reduced graph's
    warnings (`raw`) renamed by every permutation of each class's members. A Service's set is
    made when it is first read: a text listing other holders has an orbit of every subset of
    them (32,767 texts per member of a group of 16), and claims read a warning only when no
    run shows why a Service went pending (planner.analysis.predict.pending_reason)."""

    def __init__(self, symmetry: _Symmetry, raw: Mapping[str, set[str]]) -> None:
        self._symmetry = symmetry
        self._raw = {svc: frozenset(texts) for svc, texts in raw.items() if texts}
        self._class = {m: c for c in symmetry.classes for m in c}
        # A member's warnings renamed reach every member of its class.
        self._known = frozenset(m for svc in self._raw for m in self._class.get(svc, (svc,)))
        self._made: dict[str, frozenset[str]] = {}

    def __getitem__(self, svc: str) -> frozenset[str]:
        made = self._made.get(svc)
        if made is None:
            if svc not in self._known:
                raise KeyError(svc)
            made = self._made[svc] = frozenset(self._orbit(svc))
        return made

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._known))

    def __len__(self) -> int:
        return len(self._known)

    def __contains__(self, svc: object) -> bool:
        return svc in self._known

    def _orbit(self, svc: str) -> set[str]:
        """Every renaming of a raw text that lands on `svc`: a raw text of member `m` moved to
        `svc` by swapping the two, then renamed by every permutation fixing `svc` (generated by
        _fixing: the orbit is walked once, each text renamed by two generators per class)."""
        seeds: set[str] = set()
        for member in self._class.get(svc, (svc,)):
            texts = self._raw.get(member, frozenset())
            if member == svc:
                seeds |= texts
            elif texts:
                swap = self._symmetry.swap(member, svc)
                seeds |= {swap.text(t) for t in texts}
        generators = _fixing(self._symmetry, svc)
        found = set(seeds)
        work = list(seeds)
        while work:
            text = work.pop()
            for generator in generators:
                renamed = generator.text(text)
                if renamed not in found:
                    found.add(renamed)
                    work.append(renamed)
        return found


class SortedWarnings(Mapping[str, Sequence[str]]):
    """Service → its warnings in sorted order, each Service's sorted (and made: ClosedWarnings)
    only when its texts are read, not when it is looked up (a claim looks up every pending
    Service's, and reads them only when no run shows why it went pending)."""

    def __init__(self, warnings: Mapping[str, frozenset[str]]) -> None:
        self._warnings = warnings
        self._views: dict[str, _SortedTexts] = {}

    def __getitem__(self, svc: str) -> Sequence[str]:
        view = self._views.get(svc)
        if view is None:
            if svc not in self._warnings:
                raise KeyError(svc)
            view = self._views[svc] = _SortedTexts(self._warnings, svc)
        return view

    def __iter__(self) -> Iterator[str]:
        return iter(self._warnings)

    def __len__(self) -> int:
        return len(self._warnings)

    def __contains__(self, svc: object) -> bool:
        return svc in self._warnings


class _SortedTexts(Sequence[str]):
    """One Service's warnings in sorted order, sorted when first read."""

    def __init__(self, warnings: Mapping[str, frozenset[str]], svc: str) -> None:
        self._warnings = warnings
        self._svc = svc
        self._sorted: tuple[str, ...] | None = None

    def _texts(self) -> tuple[str, ...]:
        if self._sorted is None:
            self._sorted = tuple(sorted(self._warnings[self._svc]))
        return self._sorted

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._texts()[index]

    def __len__(self) -> int:
        return len(self._texts())

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _SortedTexts | tuple):
            return self._texts() == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._texts())


def _fixing(symmetry: _Symmetry, fixed: str) -> list[_Renaming]:
    """Renamings generating every permutation of the classes' members that leaves `fixed` in
    place: per class, the others' first two swapped and all of them rotated (a transposition
    and a full cycle generate the symmetric group)."""
    found = []
    for members in symmetry.classes:
        free = [m for m in members if m != fixed]
        if len(free) >= 2:
            found.append(symmetry.swap(free[0], free[1]))
        if len(free) >= 3:
            found.append(symmetry.renaming(dict(zip(free, free[1:] + free[:1], strict=True))))
    return found


def _replayed(start: SimulatedCluster, schedule: tuple[Action, ...]) -> Terminal:
    state = start.copy()
    for action in schedule:
        state.apply(action)
    return Terminal(state, schedule)


def _note_pending(state: SimulatedCluster, index: int, pending_at: dict[str, int]) -> None:
    for svc in state.history:
        if svc not in pending_at and state.went_pending(svc):
            pending_at[svc] = index


def _path(parents: Sequence[tuple[int, tuple[Action, ...]]], index: int) -> tuple[Action, ...]:
    """The actions from the start to state `index`, along the parent pointers."""
    path: list[Action] = []
    while index > 0:
        index, steps = parents[index]
        path.extend(reversed(steps))
    return tuple(reversed(path))


def _diverging(count: int, edges: Sequence[tuple[int, int]], terminals: Sequence[int]) -> int:
    """How many states cannot reach a terminal state (a schedule from them never ends)."""
    incoming: dict[int, list[int]] = {}
    for source, target in edges:
        incoming.setdefault(target, []).append(source)
    reaches = set(terminals)
    stack = list(terminals)
    while stack:
        for source in incoming.get(stack.pop(), ()):
            if source not in reaches:
                reaches.add(source)
                stack.append(source)
    return count - len(reaches)


# --- symmetry: interchangeable Services ------------------------------------------------------
#
# Exact under these conditions (docs/plan.md, "Symmetry"): no step's outcome depends on how
# names order the members of a class (metallb-0.14 and 0.15 break no tie by name; "fixed" takes
# a group transition's members in name order, which changes nothing unless the controller logs
# the transition as order-sensitive, and queues the keys of its writes in name order, which is
# exact when they are alike members of one class: otherwise the exploration starts again
# without the reduction),
# every reprocess-all tie order is explored (explore_ties), the members of a class are equal up
# to the renaming in the start state (checked on its full fingerprint), and under "fixed" every
# group-members list names all of a class or none of it (a renamed manifest keeps its list).


class _OrderSensitive(Exception):
    """A step whose outcome may follow the name order of a class's members was taken."""


@dataclass(frozen=True)
class _Renaming:
    """A permutation of Service keys and, with it, of the (protocol, port) pairs they own."""

    keys: Mapping[str, str]
    ports: Mapping[Port, Port]
    # key → (its identity in a version, its image's identity in the same version), per version:
    # see _IDENTITY (fields the model never reads, but the stored manifests do carry)
    identities: Mapping[str, Sequence[tuple[Identity, Identity]]] = field(default_factory=dict)
    _memo: dict[Hashable, Hashable] = field(default_factory=dict, compare=False, repr=False)

    def name(self, key: str) -> str:
        return self.keys.get(key, key)

    def manifest(self, manifest: Manifest) -> Manifest:
        """The manifest as the renamed Service would carry it; cluster IPs as their family only
        (the model reads them for the family alone, and they are numbered in arrival order)."""
        renamed = dict(manifest)
        meta = dict(renamed.get("metadata") or {})
        key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        if key in self.keys:
            meta["name"] = self.keys[key].partition("/")[2]
        renamed["metadata"] = meta
        spec = dict(renamed.get("spec") or {})
        for field_name in ("clusterIP", "clusterIPs"):
            if field_name in spec:
                spec[field_name] = _families(spec[field_name])
        renamed["spec"] = spec
        mine = _identity(renamed)
        for before, after in self.identities.get(key, ()):
            if before == mine:
                return _with_identity(renamed, after)
        return renamed

    def value(self, value: Hashable) -> Hashable:
        """A fingerprint (before compaction) with every key and port renamed."""
        if not self.keys and not self.ports:
            return value
        renamed: Hashable = self._renamed(value)
        return renamed

    def _renamed(self, value: Any) -> Any:
        # Exact types first (the fingerprint is made of tuples, frozensets and strings), then
        # each other type's shape, looked up once (is_dataclass and fields() cost a call each).
        kind = type(value)
        if kind is str:
            return self.keys.get(value, value)
        if kind is tuple:
            return tuple(self._items(value))
        if kind is frozenset:
            # Remembered: the same sets (a frozenset keeps its hash) recur from state to state.
            seen = self._memo.get(value)
            if seen is None:
                seen = self._memo[value] = frozenset(self._items(value))
            return seen
        shape, names = _shape(kind)
        if shape is _Shape.ATOM:
            return value
        if shape is _Shape.STR:
            return self.keys.get(value, value)
        if shape is _Shape.PORT:
            return self.ports.get(value, value)
        if shape is _Shape.NAMED:  # a NamedTuple (Key)
            return kind(*self._items(value))
        return kind(*self._items([getattr(value, name) for name in names]))

    def _items(self, values: Iterable[Any]) -> list[Any]:
        """Each item renamed; keys and plain ints without a call (most items of a fingerprint)."""
        keys = self.keys
        out = []
        for item in values:
            kind = type(item)
            if kind is str:
                out.append(keys.get(item, item))
            elif kind in _PLAIN:
                out.append(item)
            else:
                out.append(self._renamed(item))
        return out

    def text(self, message: str) -> str:
        """A warning's text as the renamed Service would get it (keys and ports swapped,
        comma-separated key lists sorted again as the allocator sorts them)."""
        if not self.keys:
            return message
        tokens, pattern = self._text_pattern()
        swapped = pattern.sub(lambda m: tokens[m.group(1)], message)
        return _KEY_LIST.sub(lambda m: ",".join(sorted(m.group(0).split(","))), swapped)

    def _text_pattern(self) -> tuple[dict[str, str], re.Pattern[str]]:
        """The tokens a text renaming swaps and the compiled pattern finding them (once)."""
        known = self._memo.get(("pattern",))
        if known is None:
            tokens = {**self.keys, **{str(a): str(b) for a, b in self.ports.items()}}
            alternatives = "|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True))
            pattern = re.compile(rf"(?<![\w./-])({alternatives})(?![\w./-])")
            known = self._memo[("pattern",)] = (tokens, pattern)
        return known  # type: ignore[return-value]


# A comma-separated list of Service keys in a message (the allocator sorts such lists).
_KEY_LIST = re.compile(r"[\w.-]+/[\w.-]+(?:,[\w.-]+/[\w.-]+)+")
_IDENTITY_RENAMING = _Renaming({}, {})
# Values a renaming leaves as they are (not keys, ports or containers of them).
_ATOMS = frozenset({int, bool, float, type(None), ipaddress.IPv4Address, ipaddress.IPv6Address})
_PLAIN = frozenset({int, bool, type(None)})  # (the atoms a fingerprint holds most)


class _Shape(enum.Enum):
    """How a renaming takes a value of one type apart (see _shape)."""

    ATOM = "left as it is"
    STR = "a key, maybe"
    PORT = "a port"
    NAMED = "a NamedTuple: its items"
    FIELDS = "a dataclass: its fields, by name"


_SHAPES: dict[type, tuple[_Shape, tuple[str, ...]]] = {}


def _shape(kind: type) -> tuple[_Shape, tuple[str, ...]]:
    """The shape of values of this type, and a dataclass's field names (found once per type)."""
    found = _SHAPES.get(kind)
    if found is None:
        found = _SHAPES[kind] = _find_shape(kind)
    return found


def _find_shape(kind: type) -> tuple[_Shape, tuple[str, ...]]:
    if issubclass(kind, str):
        return _Shape.STR, ()
    if kind in _ATOMS:
        return _Shape.ATOM, ()
    if issubclass(kind, Port):
        return _Shape.PORT, ()
    if issubclass(kind, tuple):
        return _Shape.NAMED, ()
    if is_dataclass(kind):
        return _Shape.FIELDS, tuple(f.name for f in fields(kind))
    return _Shape.ATOM, ()


def _families(value: object) -> object:
    if isinstance(value, list):
        return [_families(v) for v in value]
    if isinstance(value, str) and value not in ("", "None"):
        return "v6" if ":" in value else "v4"
    return value


class _Symmetry:
    """Classes of interchangeable Services, and the canonical renaming of a state: within each
    class, members sorted by a renaming-invariant signature take the class's names in order."""

    def __init__(
        self,
        classes: Sequence[tuple[str, ...]],
        ports: Mapping[str, tuple[Port, ...]],
        identities: Mapping[str, Sequence[Identity]],
    ):
        self.classes = [tuple(sorted(c)) for c in classes]
        self._ports = ports
        self._identities = identities  # key → its identity in each version (start, writes)
        self._renamings: dict[tuple[tuple[str, str], ...], _Renaming] = {}

    def check_order(self, members: frozenset[str]) -> None:
        """Raise _OrderSensitive when an order-sensitive group transition took a class member
        (one without any is equivariant: every renaming fixes its members and their order)."""
        taken = sorted(m for c in self.classes for m in c if m in members)
        if taken:
            raise _OrderSensitive(
                f"a group transition of {', '.join(taken)} may depend on its members' order"
            )

    def check_written(
        self,
        written: frozenset[str],
        place: Mapping[str, int],
        fingerprint: Callable[[_Renaming], Hashable],
    ) -> None:
        """Raise _OrderSensitive unless the keys a transition's writes queued (in name order)
        could have been queued in any order a renaming gives, up to renaming: none is a class
        member, or all are members of one class, alike but for their places in the queue
        (`fingerprint`: of the state with those masked) and in a pass under way (`place`)."""
        classes = [c for c in self.classes if written & set(c)]
        if not classes:
            return
        members = sorted(written)
        first = members[0]
        alike = (
            len(classes) == 1
            and written <= set(classes[0])
            and len({place.get(m, -1) for m in members}) == 1
            and all(
                fingerprint(self.swap(first, other)) == fingerprint(_IDENTITY_RENAMING)
                for other in members[1:]
            )
        )
        if not alike:
            raise _OrderSensitive(
                f"a group transition wrote {', '.join(members)}, not alike, in name order"
            )

    def renaming(self, images: Mapping[str, str]) -> _Renaming:
        """The renaming sending each key to its image (members' ports follow their owners);
        one object per permutation, so that what it renamed is remembered."""
        moved = {k: v for k, v in images.items() if k != v}
        memo_key = tuple(sorted(moved.items()))
        known = self._renamings.get(memo_key)
        if known is None:
            if len(self._renamings) >= _RENAMINGS_MAX:
                self._renamings.clear()
            known = self._renamings[memo_key] = self._renaming(moved)
        return known

    def _renaming(self, images: Mapping[str, str]) -> _Renaming:
        ports: dict[Port, Port] = {}
        for key, image in images.items():
            for mine, theirs in zip(self._ports[key], self._ports[image], strict=True):
                if mine != theirs:
                    ports[mine] = theirs
        moved = {k: v for k, v in images.items() if k != v}
        identities = {
            k: tuple(zip(self._identities[k], self._identities[v], strict=True))
            for k, v in moved.items()
        }
        return _Renaming(moved, ports, identities)

    def ports(self, key: str) -> tuple[Port, ...]:
        """A class member's ports (a renaming sends them to its image's, position by position)."""
        return self._ports[key]

    def swap(self, a: str, b: str) -> _Renaming:
        return self.renaming({a: b, b: a})

    def fresh(self) -> _Symmetry:
        """The same classes without the renamings made so far (each remembers what it renamed:
        the exploration's fingerprints, not to be kept alive with its outcome)."""
        return _Symmetry(self.classes, self._ports, self._identities)

    def canonical(self, state: SimulatedCluster, signature: Callable[[str], int]) -> _Renaming:
        """The renaming to this state's canonical representative."""
        images: dict[str, str] = {}
        for members in self.classes:
            ordered = sorted(members, key=lambda m: (signature(m), m))
            images.update(zip(ordered, members, strict=True))
        return self.renaming(images)


class _MemberParts:
    """A state's canonical form made Service by Service: the fingerprint of the state renamed
    (`raw`), laid out as the renamed part no one Service owns, the renamed parts of the
    Services in no class, and per class the number of each name's part in the class's order.
    Each part is a whole Service's (SimulatedCluster.service_fingerprint), so this is the
    renamed fingerprint rearranged, one to one: two states have the same canonical form
    exactly when their renamed fingerprints are equal.

    Why it is cheaper: a member's renamed part depends only on its own part and the name it
    takes, unless its part mentions another member's key or port (then it is renamed with the
    whole renaming, each time). So it is renamed once per (image, part) and remembered, where
    renaming the whole fingerprint cost a walk of every part per state (nearly every state
    has its own renaming: 4,497 renamings for 8,760 canonical forms at 12 members)."""

    def __init__(self, symmetry: _Symmetry, interner: _Interner) -> None:
        self._symmetry = symmetry
        self._interner = interner
        self._names = [name for members in symmetry.classes for name in members]
        ports = {name: set(symmetry.ports(name)) for name in self._names}
        # Per member, what a renaming might change besides its own name and ports.
        self._foreign = {
            name: frozenset(
                {k for k in self._names if k != name}
                | {p for k in self._names if k != name for p in ports[k]} - ports[name]
            )
            for name in self._names
        }
        self._numbers: dict[tuple[str, Hashable], int] = {}  # (image, part) → renamed part

    def parts(self, state: SimulatedCluster) -> dict[str, ServicePart]:
        """Each member's part of the state's fingerprint, manifests numbered by content."""
        manifest = self._interner.manifest
        return {k: state.service_fingerprint(k, manifest) for k in self._names}

    def signature(
        self, state: SimulatedCluster, parts: Mapping[str, ServicePart], place: Mapping[str, int]
    ) -> Callable[[str], int]:
        """Each member's signature for sorting (_local, with its place among the Services left
        in a pass under way, `place`), numbered: renaming-invariant."""
        queued: dict[str, list[int]] = {}
        for index, item in enumerate(state.queue):
            queued.setdefault(item, []).append(index)
        allocator = state.controller.allocator

        def signature(key: str) -> int:
            alloc = allocator.allocation(key)  # (its ports are not the same from one to another)
            held = None if alloc is None else (alloc.pool, alloc.ips, alloc.key)
            local = _local(parts[key], tuple(queued.get(key, ())), held)
            return self._interner._number((local, place.get(key, -1)))

        return signature

    def key(
        self, state: SimulatedCluster, renaming: _Renaming, parts: Mapping[str, ServicePart]
    ) -> Hashable:
        """The state's canonical form under `renaming` (the canonical one; see the class), from
        its members' `parts`."""
        interner = self._interner
        at = {renaming.name(k): self._number(state, k, parts[k], renaming) for k in self._names}
        others = state.fingerprint_keys().difference(self._names)
        renamed = partial(interner.renamed, renaming=renaming)
        rest = frozenset(renaming.value(state.service_fingerprint(k, renamed)) for k in others)
        return (
            interner.compact(renaming.value(state.shared_fingerprint())),
            interner._number(rest),
            tuple(at[name] for name in self._names),
        )

    def _number(
        self, state: SimulatedCluster, key: str, mine: ServicePart, renaming: _Renaming
    ) -> int:
        """The number of the member's part (`mine`) renamed (its image's part in the renamed
        state)."""
        interner = self._interner
        image = renaming.name(key)
        known = self._numbers.get((image, mine))
        if known is not None:
            return known
        if _mentions(mine, self._foreign[key]) or not self._owns(state, key):
            # Not its own business alone: renamed with the whole renaming, not remembered.
            return interner._number(self._renamed(state, key, renaming))
        own = self._symmetry.renaming({key: image})
        known = self._numbers[(image, mine)] = interner._number(self._renamed(state, key, own))
        return known

    def _renamed(self, state: SimulatedCluster, key: str, renaming: _Renaming) -> Hashable:
        """The member's part with its manifests numbered as renamed, then renamed."""
        renamed = partial(self._interner.renamed, renaming=renaming)
        return ("member", renaming.value(state.service_fingerprint(key, renamed)))

    def _owns(self, state: SimulatedCluster, key: str) -> bool:
        """Every manifest of the Service's part names it (a renaming renames a manifest by the
        key it names)."""
        controller = state.controller
        manifests = [state.store.get(key), controller._cache.get(key)]
        manifests += state._pending.get(key) or []
        return all(self._interner.owner(m) == key for m in manifests if m is not None)


def _mentions(value: object, tokens: frozenset[Hashable]) -> bool:
    """Whether a fingerprint's value holds one of these keys or ports (anywhere inside it)."""
    kind = type(value)
    if kind is str:
        return value in tokens
    if kind is tuple or kind is frozenset:
        return any(_mentions(item, tokens) for item in value)  # type: ignore[attr-defined]
    shape, names = _shape(kind)
    if shape is _Shape.ATOM:
        return False
    if shape is _Shape.STR or shape is _Shape.PORT:
        return value in tokens
    if shape is _Shape.NAMED:
        return any(_mentions(item, tokens) for item in value)  # type: ignore[attr-defined]
    return any(_mentions(getattr(value, name), tokens) for name in names)


def _forget_transitions(state: SimulatedCluster) -> None:
    """Empty the controller's logs of group transitions (read once, by the state after them)."""
    state.controller.order_sensitive = frozenset()
    state.controller.written_together = ()


def _masked(state: SimulatedCluster, keys: frozenset[str]) -> SimulatedCluster:
    """The state with these keys' places in the queue hidden (a shallow copy, for fingerprints)."""
    masked = copy.copy(state)
    masked.queue = ["*" if item in keys else item for item in state.queue]
    return masked


def _local(part: ServicePart, queued: tuple[int, ...], held: Hashable) -> Hashable:
    """What a state says about one Service, without its name (for sorting members): from its
    part of the fingerprint, its places in the queue and what it holds (pool, IPs, key)."""
    first, went_pending = part.summary or ((), False)
    return (
        part.stored is not None,
        queued,
        len(part.writes),
        held,
        part.controller[1],
        first,
        went_pending,
    )


def _find_symmetry(
    state: SimulatedCluster, fingerprint: Callable[[_Renaming], Hashable]
) -> _Symmetry | None:
    """Classes of Services interchangeable in the start state (same namespace, manifests and
    writes equal up to name and ports, ports either all equal or disjoint and nobody else's)."""
    if RELOAD in state.queue:
        return None
    keys = sorted(set(state.store) | {k for k, w in state._pending.items() if w})
    versions = {k: [state.store.get(k), *state._pending.get(k, [])] for k in keys}
    owned = {k: _ports_of(versions[k]) for k in keys}
    identities = {k: tuple(_identity(m) for m in versions[k] if m is not None) for k in keys}
    shapes: dict[Hashable, list[str]] = {}
    for key in keys:
        if owned[key] is None:
            continue
        neutral = _Renaming({}, {})
        shape = tuple(
            None if m is None else _freeze(_without_identity(neutral.manifest(m)))
            for m in versions[key]
        )
        namespace = key.partition("/")[0]
        alike = (namespace, len(owned[key] or ()), _repeats(identities[key]), shape)
        shapes.setdefault(alike, []).append(key)
    ports = {k: p for k, p in owned.items() if p is not None}
    # every port of every version: a Service whose ports change (so in no class) still uses them
    used = {k: {p for m in versions[k] if m is not None for p in service_ports(m)} for k in keys}
    symmetry = _Symmetry([], ports, identities)
    start = fingerprint(_Renaming({}, {}))
    listed = _member_lists(versions) if state.controller.behavior == Behavior.FIXED else []
    for members in shapes.values():
        if len(members) < 2 or not _ports_separate(members, ports, used):
            continue
        if any(0 < len(names & set(members)) < len(members) for names in listed):
            continue  # a list naming some members only tells them apart (the fixed allocator reads it)
        # Verified on the whole state: the swap must leave the start's fingerprint as it is.
        kept = [members[0]] + [
            m for m in members[1:] if fingerprint(symmetry.swap(members[0], m)) == start
        ]
        if len(kept) >= 2:
            symmetry.classes.append(tuple(kept))
    return symmetry if symmetry.classes else None


def _member_lists(versions: Mapping[str, Sequence[Manifest | None]]) -> list[set[str]]:
    """Every group-members list any version of any Service carries (the fixed allocator's)."""
    found = []
    for manifests in versions.values():
        for manifest in manifests:
            text = annotation(manifest, GROUP_MEMBERS_ANNOTATION) if manifest else ""
            if text:
                found.append({m.strip() for m in text.split(",") if m.strip()})
    return found


def _ports_of(versions: Sequence[Manifest | None]) -> tuple[Port, ...] | None:
    """The Service's (protocol, port) pairs, the same in every version; None when they differ."""
    found = {service_ports(m) for m in versions if m is not None}
    return next(iter(found)) if len(found) == 1 else None


# The fields that tell one Service from another and that the model never reads (it reads a
# port's protocol and number only, checked apart in _ports_separate): a renamed Service carries
# its image's values of them, version for version (the live one, then each write's).
_IDENTITY = (
    ("metadata", "uid"),
    ("metadata", "resourceVersion"),
    ("metadata", "creationTimestamp"),
    ("metadata", "generation"),
    ("spec", "ports"),
    ("spec", "healthCheckNodePort"),
)
_ABSENT = ("absent",)  # a field the manifest does not have
Identity = tuple[object, ...]


def _identity(manifest: Manifest) -> Identity:
    """The manifest's values of the _IDENTITY fields (_ABSENT where it has none)."""
    found = []
    for section, name in _IDENTITY:
        part = manifest.get(section)
        found.append(part.get(name, _ABSENT) if isinstance(part, dict) else _ABSENT)
    return tuple(found)


def _with_identity(manifest: Manifest, identity: Identity) -> Manifest:
    """The manifest carrying these _IDENTITY values (the dicts changed are new ones)."""
    changed = dict(manifest)
    for section in {s for s, _ in _IDENTITY}:
        if isinstance(changed.get(section), dict):
            changed[section] = dict(changed[section])
    for (section, name), value in zip(_IDENTITY, identity, strict=True):
        part = changed.get(section)
        if not isinstance(part, dict):
            continue
        if value is _ABSENT:
            part.pop(name, None)
        else:
            part[name] = value
    return changed


def _repeats(identities: Sequence[Identity]) -> tuple[int, ...]:
    """Per version, the first version with the same identity: members of a class must repeat
    alike, so that a manifest's identity names the version whose image it takes."""
    return tuple(identities.index(i) for i in identities)


def _without_identity(manifest: Manifest) -> Manifest:
    """The manifest without its name and _IDENTITY fields (what renaming changes)."""
    trimmed = _with_identity(manifest, tuple(_ABSENT for _ in _IDENTITY))
    trimmed["metadata"] = {k: v for k, v in (trimmed.get("metadata") or {}).items() if k != "name"}
    return trimmed


def _ports_separate(
    members: Sequence[str],
    owned: Mapping[str, tuple[Port, ...]],
    used: Mapping[str, set[Port]],
) -> bool:
    """All members own the same ports, or each its own ones that no other Service uses in any
    of its versions (`used`)."""
    mine = [owned[m] for m in members]
    if all(p == mine[0] for p in mine):
        return True
    flat = [p for ps in mine for p in ps]
    others = {p for k, ps in used.items() if k not in members for p in ps}
    return len(flat) == len(set(flat)) and not set(flat) & others


def _rename_action(action: Action, renaming: _Renaming) -> Action:
    if isinstance(action, Arrive):
        return Arrive(renaming.name(action.svc_key))
    if action.pass_order is None:
        return action
    return Process(tuple(renaming.name(k) for k in action.pass_order))


def _rotations(members: Sequence[str]) -> list[dict[str, str]]:
    """Each rotation of the class but the identity (together they send any member to any)."""
    n = len(members)
    return [{members[i]: members[(i + shift) % n] for i in range(n)} for shift in range(1, n)]
