"""The simulated world a component of writes runs in, and its exploration: every state the
writes and the controller can reach (planner.simulate.states) within a state budget, else named
adversarial and seeded random schedules.

    world = World.of(scenario, Explorations(), max_states=20_000)
    exploration = world.explore(world.cluster(part.context, "fixed", part.frozen), part.writes, 0)
    exploration.exhaustive, exploration.states, exploration.runs  # one run per end state
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import TYPE_CHECKING, overload

from planner import collector
from planner.diff.scenario import Scenario
from planner.model.allocator import Pool
from planner.model.controller import Behavior, copy_manifest
from planner.model.group_annotations import NUDGE_ANNOTATION
from planner.model.pools import pools_from_objects
from planner.model.simcluster import (
    Action,
    Run,
    ServiceWrite,
    SimulatedCluster,
    adversarial_runs,
    random_runs,
    replay,
)
from planner.objects import Manifest
from planner.simulate.reduction import Component, ShapedComponent, components, shaped
from planner.simulate.states import (
    SortedWarnings,
    StateExploration,
    explore_states,
    symmetric_classes,
)

if TYPE_CHECKING:  # imported where a shape is computed (World.shape)
    from planner.simulate.symmetry import Shape

# The default state budget of one component's exploration (`--max-states`): within it every
# reachable state is visited; beyond it, the named adversarial schedules plus SAMPLED_RUNS
# seeded random ones (the claims resting on them are "sampled", never proved).
DEFAULT_MAX_STATES = 20_000
SAMPLED_RUNS = 24
# Step caps: a random run, and a named adversarial one, longer than this is cut (did not finish).
SAMPLED_MAX_STEPS = 500
ADVERSARIAL_MAX_STEPS = 1000
# ... or than this many steps per write, when more: every write is at least three steps (its
# arrival, its handling, its status handed back), and each key change adds a reprocess-all pass.
# A fixed cap cut every run of a component of 1,000 writes (100,000 Services), so the plan was
# refused as unknown although nothing loops.
STEPS_PER_WRITE = 10

# The symmetry reduction of the state explorer is exact either way; it pays up to this many
# writes (bench/bench_states.py, one group on a requested IP changing its key: 4 members 142
# states instead of 2,757; with settled Services left out, 8 members complete in about 10,000
# states and 12 s under metallb-0.14/0.15, while without it 200,000 states are not enough) and
# costs beyond (9 members: the budget is reached either way).
SYMMETRY_MAX_WRITES = 8

# Beyond this many writes the state graph cannot fit any sensible budget (bench/bench_states.py:
# about ten times the states per member; 6 members already reach 20,000 without the symmetry
# reduction), and each state of a large component is costly: such components are sampled at once.
STATES_MAX_WRITES = 8
# Under `fixed`, with the symmetry reduction, one class of writes stays small (bench/
# bench_states.py: a key change of 12 members in 103 states, 16 in 169; a move of 16 in 305,
# of 20 in 461): up to this many writes a component is explored, the reduction on, when at
# most STATES_MAX_WRITES of its writes are distinct up to renaming (12 Services that are not
# interchangeable reach the budget after about 4 s of CPU each: sampled at once, as before),
# and beyond MIXED_STATES_MAX_WRITES only when they are one class (below).
FIXED_STATES_MAX_WRITES = 20
# Under metallb-0.14/0.15, with the warnings closure made when read (states.ClosedWarnings), a
# group's key change of 16 members is proved in 6,532 states, 17 in 7,990, 18 in 9,675 and 20
# in 13,815 (about 12 s of CPU per behaviour at 16, 19, 25 and 48 s at 17, 18, 20 on a loaded
# machine; 20 members peak at 262 MB with states._RENAMINGS_MAX, 704 MB without: bench/README.md,
# "caps20"). A proof that slow still beats a sampled claim, which fails closed (exit 3) unless
# --accept-sampled; --max-states bounds the rest. Same rule as FIXED_.
STOCK_STATES_MAX_WRITES = 20
# Beyond this many writes a component is explored only when its writes are one class of
# interchangeable Services (a key change in place, a move, new members, deletions: 20 moving,
# joining or leaving in 231 to 1,771 states under each behaviour, at most 5.6 s of CPU;
# bench/README.md, "fixedpass13"). Several classes are sampled at once, as before the caps were 20 (17 writes
# in two classes are thousands of states per class pair).
MIXED_STATES_MAX_WRITES = 16

# How many Services the remembered explorations of one run may hold (to cap memory).
CACHED_SERVICES_MAX = 100_000


@dataclass(frozen=True)
class Baseline:
    """The live state a plan's outcome depends on, so `verify` needs no cluster."""

    services: Mapping[str, Manifest]  # svc → live object: written Services and their neighbours
    pools_before: tuple[Manifest, ...] = ()
    pools_after: tuple[Manifest, ...] = ()
    namespaces: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class World:
    """The cluster a component is simulated in: pools before and after, namespaces, live objects,
    and the explorations this run remembers (None: nothing is remembered)."""

    live: Mapping[str, Manifest]
    live_pools: Sequence[Pool]
    pools: Sequence[Pool]
    namespaces: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    explorations: Explorations | None = field(default=None, compare=False, repr=False)
    max_states: int = DEFAULT_MAX_STATES  # the state budget of one component's exploration

    @classmethod
    def of(
        cls,
        scenario: Scenario,
        explorations: Explorations | None = None,
        max_states: int = DEFAULT_MAX_STATES,
    ) -> World:
        return cls(
            scenario.live_services,
            scenario.live_pools,
            scenario.pools,
            scenario.namespaces,
            explorations,
            max_states,
        )

    @classmethod
    def of_baseline(
        cls,
        baseline: Baseline,
        explorations: Explorations | None = None,
        max_states: int = DEFAULT_MAX_STATES,
    ) -> World:
        """The world a plan file carries (for `planner verify` without a cluster)."""
        return cls(
            dict(baseline.services),
            pools_from_objects(baseline.pools_before),
            pools_from_objects(baseline.pools_after),
            dict(baseline.namespaces),
            explorations,
            max_states,
        )

    def cluster(
        self, services: Iterable[str], behavior: str, frozen: Iterable[str] = ()
    ) -> SimulatedCluster:
        """A controller restarted on these live Services (and holding the frozen ones' IPs),
        then given the commit's pools."""
        cluster = SimulatedCluster.bootstrap(
            list(self.live_pools),
            {svc: self.live[svc] for svc in services},
            behavior,
            namespaces=self.namespaces,
            lb_class=None,  # the scenario kept only the Services MetalLB's --lb-class takes
        )
        for svc in frozen:
            cluster.controller.hold(svc, self.live[svc])
        if list(self.pools) != list(self.live_pools):
            cluster.set_pools(list(self.pools))
            cluster.settle()
        if self.explorations is not None:
            self.explorations.note_origin(cluster, self._inputs(services, behavior, frozen))
        return cluster

    def explore(
        self, cluster: SimulatedCluster, writes: Sequence[ServiceWrite], seed: int
    ) -> Exploration:
        """`explore_writes`, remembered across plan and verify when this world remembers."""
        return explore_writes(cluster, writes, seed, self.explorations, self.max_states)

    def parts(self, writes: Sequence[ServiceWrite]) -> list[ShapedComponent]:
        """The writes' independent components in this world, each with its shape (the run's
        first split remembered when this world remembers: Explorations.split)."""

        def split() -> list[ShapedComponent]:
            return shaped(components(writes, self.live, self.pools), self.shape)

        return (
            split() if self.explorations is None else self.explorations.split(self, writes, split)
        )

    def shape(self, part: Component) -> Shape | None:
        """The component's shape in this world (None when it must be simulated on its own)."""
        if part.frozen:
            return None
        # Only components of equal size get here (reduction.shaped): most diffs never do.
        from planner.simulate.symmetry import shape_of

        context = [(svc, self.live[svc]) for svc in part.context]
        drawn = next((p for p in self.pools if p.name == part.pool), None) if part.pool else None
        return shape_of(context, part.writes, self.live_pools, self.pools, drawn)

    def _inputs(self, services: Iterable[str], behavior: str, frozen: Iterable[str]) -> str:
        """Everything `cluster` builds from, in order, as text (repr tells lists from tuples,
        ints from floats and bools, and keeps every dict's order)."""
        return repr(
            (
                [(svc, self.live[svc]) for svc in services],
                behavior,
                [(svc, self.live[svc]) for svc in frozen],
                list(self.live_pools),
                list(self.pools),
                {name: dict(labels) for name, labels in self.namespaces.items()},
            )
        )


@dataclass(frozen=True)
class Exploration:
    """The runs explored for one component under one behaviour.

    Exhaustive: one run per terminal state the component can reach (its schedule a shortest
    real one to that state), and every fact a claim reads (who went pending, who is stuck or
    changed IP at the end) is a fact of some terminal state. Sampled: the named and random runs,
    and `sampled` says why ("budget reached after N states").
    """

    runs: Sequence[Run]  # a tuple, or RunCopies (a remembered exploration's, copied as read)
    exhaustive: bool  # every reachable state visited, every schedule ends
    states: int = 0  # the states the state explorer visited (up to the budget)
    sampled: str = ""  # why the runs are a sample: "budget reached after 20000 states"
    # svc → every warning raised on it on any edge explored (a run shows only its own path's)
    warnings: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @property
    def unfinished(self) -> int:
        """How many runs hit their step cap before the controller was idle (no claim rests on
        their end; what they showed on the way, e.g. a pending Service, did happen)."""
        return sum(not run.settled for run in self.runs)


def explore_writes(
    cluster: SimulatedCluster,
    writes: Sequence[ServiceWrite],
    seed: int,
    explorations: Explorations | None = None,
    max_states: int = DEFAULT_MAX_STATES,
) -> Exploration:
    """Every state `writes` and the controller can reach, within `max_states`; else a seeded
    sample of schedules.

    The runs are the caller's to change (nudge, settle): a remembered exploration is handed out
    as fresh copies. Without `explorations` nothing is remembered (it saves memory).
    """
    if explorations is None:
        return _explored(cluster, writes, seed, max_states)
    return explorations.explored(cluster, writes, seed, max_states)


class RunCopies(Sequence[Run]):
    """A remembered exploration's runs, each copied when it is read: the caller may change its
    copy (nudge, settle), and a caller that reads them one by one (`one_by_one`) holds one copy
    at a time, not all of them beside the remembered ones."""

    def __init__(self, runs: Sequence[Run]) -> None:
        self._runs = tuple(runs)

    def __len__(self) -> int:
        return len(self._runs)

    @overload
    def __getitem__(self, index: int) -> Run: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Run]: ...

    def __getitem__(self, index: int | slice) -> Run | Sequence[Run]:
        if isinstance(index, slice):
            return [_copied(run) for run in self._runs[index]]
        return _copied(self._runs[index])


def _copied(run: Run) -> Run:
    return Run(run.schedule, run.cluster.copy(), run.settled, run.label, dict(run.extra))


def one_by_one(runs: Sequence[Run]) -> Iterator[Run]:
    """Each run in order, none kept once the next is asked for: pass an exploration's runs and
    drop the exploration, so each run's cluster goes as soon as the caller is done with it."""
    if isinstance(runs, RunCopies):
        yield from runs  # copied as read; the remembered originals stay remembered
        return
    queue = list(reversed(runs))
    del runs
    while queue:
        yield queue.pop()


def _fresh(exploration: Exploration) -> Exploration:
    return replace(exploration, runs=RunCopies(exploration.runs))


def _remembered(exploration: Exploration) -> Exploration:
    """A copy to remember, without each run's log of handled queue items: no verdict reads it,
    and at 10,000 Services it held 19 MB of `plan --verify`'s peak (bench/README.md)."""
    kept = replace(exploration, runs=tuple(_copied(run) for run in exploration.runs))
    for run in kept.runs:
        run.cluster.handled = []
    return kept


class Explorations:
    """The explorations one run remembers: `planner plan --verify` explores the fixed behaviour's
    components twice (the plan's expected IPs, then the proof) on identical inputs.

    An exploration is remembered by everything that decides it: the inputs of the World.cluster
    that built the base (while the base is unchanged), the writes, the exploration bounds and the
    seed. Least recently used ones are dropped beyond `max_services` Services held by their runs.
    A remembered exploration's runs come back without their log of handled queue items.
    """

    def __init__(self, max_services: int = CACHED_SERVICES_MAX) -> None:
        self.max_services = max_services
        self._origins: weakref.WeakKeyDictionary[SimulatedCluster, tuple[str, int]] = (
            weakref.WeakKeyDictionary()
        )
        self._entries: OrderedDict[tuple[str, str, int], tuple[Exploration, int]] = OrderedDict()
        self._held = 0
        self._first_split: _Split | None = None

    def note_origin(self, cluster: SimulatedCluster, inputs: str) -> None:
        """Remember what a freshly built cluster was built from (at its current step)."""
        self._origins[cluster] = (inputs, cluster.step)

    def explored(
        self,
        cluster: SimulatedCluster,
        writes: Sequence[ServiceWrite],
        seed: int,
        max_states: int = DEFAULT_MAX_STATES,
    ) -> Exploration:
        """The exploration of `writes` on `cluster`, remembered when the cluster's origin is known."""
        origin = self._origins.get(cluster)
        # Every change made through the cluster counts a step, but a submitted write does not.
        if origin is None or origin[1] != cluster.step or cluster.pending_writes():
            return _explored(cluster, writes, seed, max_states)
        bounds = (max_states, SAMPLED_RUNS, _step_cap(SAMPLED_MAX_STEPS, len(writes)))
        key = (origin[0], repr((list(writes), bounds)), seed)
        remembered = self._get(key)
        if remembered is not None:
            return _fresh(remembered)
        exploration = _explored(cluster, writes, seed, max_states)
        self._put(key, _remembered(exploration))
        return exploration

    def split(
        self,
        world: World,
        writes: Sequence[ServiceWrite],
        split: Callable[[], list[ShapedComponent]],
    ) -> list[ShapedComponent]:
        """`split()`, the writes' shaped components in `world`; the run's first split is
        remembered and given again for the same inputs. `plan --verify` splits the first wave
        twice from the same live objects, in planning and in the proof (at 10,000 Services
        0.38 s of the proof's 0.59 s); later waves start from states each side makes anew."""
        key = _SplitKey.of(world, writes)
        if self._first_split is None:
            self._first_split = _Split(key, split(), (writes, tuple(world.live.values())))
        elif self._first_split.key != key:
            return split()
        return list(self._first_split.parts)

    def _get(self, key: tuple[str, str, int]) -> Exploration | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def _put(self, key: tuple[str, str, int], exploration: Exploration) -> None:
        size = sum(len(run.cluster.store) for run in exploration.runs)
        self._entries[key] = (exploration, size)
        self._held += size
        while self._held > self.max_services and len(self._entries) > 1:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._held -= dropped


@dataclass(frozen=True)
class _SplitKey:
    """Everything World.parts reads: the writes and the live objects by identity (each Service
    with its manifest, in order), the pools by value."""

    writes: tuple[tuple[str, int], ...]
    live: tuple[tuple[str, int], ...]
    live_pools: tuple[Pool, ...]
    pools: tuple[Pool, ...]

    @classmethod
    def of(cls, world: World, writes: Sequence[ServiceWrite]) -> _SplitKey:
        return cls(
            tuple((svc, id(manifest)) for svc, manifest in writes),
            tuple((svc, id(manifest)) for svc, manifest in world.live.items()),
            tuple(world.live_pools),
            tuple(world.pools),
        )


@dataclass(frozen=True)
class _Split:
    """A remembered split, with the objects its key names by identity (kept alive, so that no
    other object takes one of their ids while it is remembered)."""

    key: _SplitKey
    parts: list[ShapedComponent]
    named: tuple[object, ...]


def _explored(
    cluster: SimulatedCluster, writes: Sequence[ServiceWrite], seed: int, max_states: int
) -> Exploration:
    """The state graph within `max_states`; the seeded sample when it is not all of it."""
    fixed = cluster.controller.behavior == Behavior.FIXED
    why = _sampled_at_once(cluster, writes, fixed)
    if why:
        return Exploration(_sampled(cluster, writes, seed), False, 0, why)
    # Beyond STATES_MAX_WRITES a component is explored only for its interchangeable writes.
    symmetry = fixed or len(writes) <= SYMMETRY_MAX_WRITES or len(writes) > STATES_MAX_WRITES
    found = explore_states(cluster, writes, max_states=max_states, symmetry=symmetry)
    warnings = SortedWarnings(found.warnings)  # (each Service's sorted when read)
    why = _incomplete(found)
    if not why:
        runs = tuple(
            Run(end.schedule, end.cluster, True, label=f"end state #{index}")
            for index, end in enumerate(found.terminals)
        )
        return Exploration(runs, True, found.states, warnings=warnings)
    return Exploration(_sampled(cluster, writes, seed), False, found.states, why)


def _sampled_at_once(cluster: SimulatedCluster, writes: Sequence[ServiceWrite], fixed: bool) -> str:
    """Why the component is sampled without exploring a state ("" when it is explored): more
    writes than the explorer takes for a component of its kind, or too many distinct ones."""
    count = len(writes)
    most = FIXED_STATES_MAX_WRITES if fixed else STOCK_STATES_MAX_WRITES
    mixed = min(most, MIXED_STATES_MAX_WRITES)
    if count > most:  # (the classes are never looked for among 1,000 writes)
        return f"{count} writes, more than the state explorer takes ({most})"
    if count <= min(mixed, STATES_MAX_WRITES):
        return ""
    distinct = _distinct(cluster, writes)
    if count > mixed and distinct > 1:
        return f"{count} writes, more than the state explorer takes ({mixed})"
    if count > STATES_MAX_WRITES and distinct > STATES_MAX_WRITES:
        return (
            f"{count} writes, more than the state explorer takes ({STATES_MAX_WRITES}) "
            "apart from interchangeable Services"
        )
    return ""


def _distinct(cluster: SimulatedCluster, writes: Sequence[ServiceWrite]) -> int:
    """How many of the writes are distinct up to renaming interchangeable Services."""
    others = {m for c in symmetric_classes(cluster, writes) for m in c[1:]}
    return sum(1 for key, _ in writes if key not in others)


def _sampled(
    cluster: SimulatedCluster, writes: Sequence[ServiceWrite], seed: int
) -> tuple[Run, ...]:
    """The named adversarial schedules and SAMPLED_RUNS seeded random ones."""
    adversarial_cap = _step_cap(ADVERSARIAL_MAX_STEPS, len(writes))
    with collector.simulation_collections():
        # Chained, not unpacked: each run drops its log before the next one is made.
        runs = chain(
            adversarial_runs(cluster, writes, max_steps=adversarial_cap),
            random_runs(
                cluster,
                writes,
                seed,
                SAMPLED_RUNS,
                max_steps=_step_cap(SAMPLED_MAX_STEPS, len(writes)),
            ),
        )
        return tuple(_unlogged(runs))


def _unlogged(runs: Iterable[Run]) -> Iterator[Run]:
    """Each run as it is made, without its log of handled queue items: no verdict reads it,
    and a sampled run of 1,000 writes logs some 3,500 results, each with the manifest it wrote
    (bench/README.md, "Memory of sampled runs")."""
    for run in runs:
        run.cluster.handled = []
        yield run


def _step_cap(base: int, writes: int) -> int:
    """A run's step cap: `base`, or STEPS_PER_WRITE per write for a component that needs more."""
    return max(base, STEPS_PER_WRITE * writes)


def _incomplete(found: StateExploration) -> str:
    """Why the state graph does not prove the claims ("" when it does)."""
    if found.budget_reached:
        return f"budget reached after {found.states} states"
    if found.ties_cut:
        return f"reprocess-all tie orders cut, {found.states} states"
    if found.diverging or not found.terminals:
        # From some reachable state the controller never goes idle: a schedule never ends.
        return f"a schedule never ends, {found.states} states"
    return ""


def replayed_end(
    base: SimulatedCluster,
    writes: Sequence[ServiceWrite],
    schedule: Sequence[Action],
    nudged: Sequence[str],
    value: str,
) -> dict[str, Manifest]:
    """The cluster one schedule leaves, its nudges applied: replayed on `base` (for a component
    whose runs were renamed from a same-shaped one)."""
    run = replay(base, writes, schedule)
    nudge(run.cluster, [svc for svc in nudged if svc in run.cluster.store], value)
    return dict(run.cluster.store)


def end_state(
    before: Mapping[str, Manifest],
    writes: Sequence[ServiceWrite],
    ends: Iterable[tuple[Iterable[str], Mapping[str, Manifest]]],
    pools: Sequence[Pool] = (),
    drawn: Sequence[str] = (),
) -> dict[str, Manifest]:
    """The cluster after a wave: each component's end (its written Services, the cluster its
    first schedule left); a write no component held (it changes no allocation) stored as the
    API server would, the spec written and the status kept; deletions gone. `drawn`: per end,
    the pool its component was split from ("" for none; planner.simulate.poolsplit): such
    components take that pool's keyless addresses one after another, as one schedule of the
    whole would (`pools`: the pools the wave ran with)."""
    from planner.simulate.poolsplit import disjoint_fresh  # a plan's waves only, not a diff

    end = dict(before)
    covered: set[str] = set()
    listed = [(list(written), dict(part_end)) for written, part_end in ends]
    for written, part_end in disjoint_fresh(before, listed, pools, drawn or [""] * len(listed)):
        covered.update(written)
        end.update(part_end)
    for write in writes:
        if write.manifest is None:
            end.pop(write.service, None)
        elif write.service not in covered:
            end[write.service] = _stored_write(write.manifest, before.get(write.service))
    return end


def _stored_write(manifest: Manifest, old: Manifest | None) -> Manifest:
    merged: Manifest = copy_manifest(manifest)
    if old is not None and old.get("status"):
        merged["status"] = copy_manifest(old["status"])
    return merged


def nudge(cluster: SimulatedCluster, services: Sequence[str], value: str) -> None:
    """What `planner apply` does after a wave: change one harmless annotation on each Service
    so that MetalLB handles it again, and let the controller settle."""
    for svc in services:
        body = copy_manifest(cluster.store[svc])
        body.setdefault("metadata", {}).setdefault("annotations", {})[NUDGE_ANNOTATION] = value
        cluster.arrive(svc, body)
        cluster.settle()
