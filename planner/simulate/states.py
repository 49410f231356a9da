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

The fingerprint leaves out what no later step reads: the step counter, logged events, the
controller's "changed nothing" memos, and the order set_pools walks allocations (no step of an
exploration changes the pools). That these omissions are exact is checked by a property test
against the brute-force schedule enumeration (tests/simulate/test_states.py).

    >>> found = explore_states(cluster, writes, max_states=20_000)
    >>> found.complete, found.states, found.pending, found.stuck, found.final_ips
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from planner.model.simcluster import Action, ServiceWrite, SimulatedCluster, prepared
from planner.objects import Manifest

# The default state budget: beyond it the exploration stops and says it is not complete.
DEFAULT_MAX_STATES = 50_000

# Manifests remembered by identity for fingerprints (a cache; cleared when this big).
_BY_ID_MAX = 200_000


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
    warnings: dict[str, frozenset[str]]  # svc → every warning raised on it, on any edge
    budget_reached: bool = False
    ties_cut: bool = False
    diverging: int = 0

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


def explore_states(
    cluster: SimulatedCluster,
    writes: Sequence[ServiceWrite],
    *,
    max_states: int = DEFAULT_MAX_STATES,
    explore_ties: bool = True,
) -> StateExploration:
    """Every state reachable from `cluster` with `writes` submitted, breadth-first, each once;
    stops (not complete) after `max_states` states."""
    interner = _Interner()

    def key(state: SimulatedCluster) -> Hashable:
        return interner.compact(state.fingerprint(interner.manifest))

    start = prepared(cluster, writes)
    visited: dict[Hashable, int] = {key(start): 0}
    parents: list[tuple[int, Action | None]] = [(-1, None)]
    edges: list[tuple[int, int]] = []
    frontier: deque[tuple[SimulatedCluster, int]] = deque([(start, 0)])
    terminals: list[tuple[int, SimulatedCluster]] = []
    pending_at: dict[str, int] = {}
    warnings: dict[str, set[str]] = {}
    budget_reached = ties_cut = False
    _note_pending(start, 0, pending_at)
    while frontier and not budget_reached:
        state, index = frontier.popleft()
        actions = state.options(explore_ties)
        if not actions:
            terminals.append((index, state))
            continue
        ties_cut = ties_cut or (explore_ties and state.ties_cut())
        for number, action in enumerate(actions):
            # The last branch may take the state itself: nothing reads it afterwards.
            branch = state if number == len(actions) - 1 else state.copy()
            logged = len(branch.events)
            branch.apply(action)
            for _, event in branch.events[logged:]:
                if event.type == "Warning":
                    warnings.setdefault(event.svc_key, set()).add(str(event))
            fingerprint = key(branch)
            target = visited.get(fingerprint)
            if target is None:
                if len(visited) >= max_states:
                    budget_reached = True
                    break
                target = visited[fingerprint] = len(parents)
                parents.append((index, action))
                _note_pending(branch, target, pending_at)
                frontier.append((branch, target))
            edges.append((index, target))
    diverging = 0 if budget_reached else _diverging(len(parents), edges, [i for i, _ in terminals])
    return StateExploration(
        complete=not budget_reached and not ties_cut,
        states=len(parents),
        edges=len(edges),
        terminals=tuple(Terminal(c, _path(parents, i)) for i, c in terminals),
        pending_paths={svc: _path(parents, i) for svc, i in sorted(pending_at.items())},
        warnings={svc: frozenset(w) for svc, w in sorted(warnings.items())},
        budget_reached=budget_reached,
        ties_cut=ties_cut,
        diverging=diverging,
    )


def _note_pending(state: SimulatedCluster, index: int, pending_at: dict[str, int]) -> None:
    for svc in state.history:
        if svc not in pending_at and state.went_pending(svc):
            pending_at[svc] = index


def _path(parents: Sequence[tuple[int, Action | None]], index: int) -> tuple[Action, ...]:
    """The actions from the start to state `index`, along the parent pointers."""
    path: list[Action] = []
    while index > 0:
        index, action = parents[index]
        assert action is not None
        path.append(action)
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
