"""What each MetalLB behaviour does when the commit is applied naively, as a GitOps tool does:
every Service write of the commit reaching the controller in every order and timing the model
allows (exhaustively for small components, sampled with a seed beyond that).

The writes carry the group-wide annotations (as `planner annotate`, the Argo CD plugin or the Flux
hook stamp them); stock MetalLB ignores them, the fixed allocator honours them.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from planner.model.allocator import Pool
from planner.model.controller import BEHAVIORS, copy_manifest
from planner.model.pools import pools_from_objects
from planner.model.simcluster import (
    Action,
    Run,
    SimulatedCluster,
    adversarial_runs,
    explore,
    random_runs,
    replay,
)
from planner.objects import Manifest
from planner.plan.records import NUDGE_ANNOTATION, Baseline
from planner.simulate.reduction import Component, Write, components
from planner.analysis.records import Prediction, ServiceFate
from planner.diff.scenario import Scenario
from planner.simulate.symmetry import Renaming, Shape, ShapedComponent, once_per_shape, shape_of
from planner.plan.units import Write as PlannedWrite

# Up to this many writes in one component, every interleaving is explored; beyond it, the named
# adversarial schedules plus SAMPLED_RUNS seeded random ones.
EXHAUSTIVE_MAX_WRITES = 3
SAMPLED_RUNS = 24

# `planner plan --verify` explores the fixed behaviour's components twice (the plan's expected
# IPs, then the proof) on identical inputs. Explorations are remembered by everything that decides
# them: the inputs of the World.cluster that built the base (while the base is unchanged), the
# writes, the exploration bounds and the seed. Bounded by the Services the remembered runs hold, to cap memory.
CACHED_SERVICES_MAX = 100_000
_ORIGINS: weakref.WeakKeyDictionary[SimulatedCluster, tuple[str, int]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class World:
    """The cluster a component is simulated in: pools before and after, namespaces, live objects."""

    live: Mapping[str, Manifest]
    live_pools: Sequence[Pool]
    pools: Sequence[Pool]
    namespaces: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, scenario: Scenario) -> World:
        return cls(scenario.live_services, scenario.live_pools, scenario.pools, scenario.namespaces)

    @classmethod
    def of_baseline(cls, baseline: Baseline) -> World:
        """The world a plan file carries (for `planner verify` without a cluster)."""
        return cls(
            dict(baseline.services),
            pools_from_objects(baseline.pools_before),
            pools_from_objects(baseline.pools_after),
            dict(baseline.namespaces),
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
        )
        for svc in frozen:
            cluster.controller.hold(svc, self.live[svc])
        if list(self.pools) != list(self.live_pools):
            cluster.set_pools(list(self.pools))
            cluster.settle()
        _ORIGINS[cluster] = (self._inputs(services, behavior, frozen), cluster.step)
        return cluster

    def parts(self, writes: Sequence[Write]) -> list[ShapedComponent]:
        """The writes' independent components in this world, each with its shape."""
        return [(part, self.shape(part)) for part in components(writes, self.live, self.pools)]

    def shape(self, part: Component) -> Shape | None:
        """The component's shape in this world (None when it must be simulated on its own)."""
        if part.frozen:
            return None
        context = [(svc, self.live[svc]) for svc in part.context]
        return shape_of(context, part.writes, self.live_pools, self.pools)

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
    """The runs explored for one component under one behaviour."""

    runs: tuple[Run, ...]
    exhaustive: bool


def explore_writes(
    cluster: SimulatedCluster, writes: Sequence[Write], seed: int, remember: bool = True
) -> Exploration:
    """Every interleaving of `writes` with the controller when few, else a seeded sample.

    The runs are the caller's to change (nudge, settle): a remembered exploration is handed out
    as fresh copies. `remember=False` for an exploration nobody asks for twice (it saves memory).
    """
    if not remember:
        return _explored(cluster, writes, seed)
    origin = _ORIGINS.get(cluster)
    # Every change made through the cluster counts a step, but a submitted write does not.
    if origin is None or origin[1] != cluster.step or cluster.pending_writes():
        return _explored(cluster, writes, seed)
    key = (origin[0], repr((list(writes), EXHAUSTIVE_MAX_WRITES, SAMPLED_RUNS)), seed)
    remembered = _EXPLORED.get(key)
    if remembered is not None:
        return _fresh(remembered)
    exploration = _explored(cluster, writes, seed)
    _EXPLORED.put(key, _fresh(exploration))
    return exploration


def _fresh(exploration: Exploration) -> Exploration:
    runs = tuple(
        Run(run.schedule, run.cluster.copy(), run.settled, run.label, dict(run.extra))
        for run in exploration.runs
    )
    return Exploration(runs, exploration.exhaustive)


class _Remembered:
    """Least recently used explorations, bounded by the Services their runs hold."""

    def __init__(self, max_services: int) -> None:
        self.max_services = max_services
        self._entries: OrderedDict[tuple[str, str, int], tuple[Exploration, int]] = OrderedDict()
        self._held = 0

    def get(self, key: tuple[str, str, int]) -> Exploration | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: tuple[str, str, int], exploration: Exploration) -> None:
        size = sum(len(run.cluster.store) for run in exploration.runs)
        self._entries[key] = (exploration, size)
        self._held += size
        while self._held > self.max_services and len(self._entries) > 1:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._held -= dropped


_EXPLORED = _Remembered(CACHED_SERVICES_MAX)


def forget_explorations() -> None:
    """Drop every remembered exploration (a benchmark's runs start as a fresh process would)."""
    global _EXPLORED
    _EXPLORED = _Remembered(CACHED_SERVICES_MAX)


def _explored(cluster: SimulatedCluster, writes: Sequence[Write], seed: int) -> Exploration:
    if len(writes) <= EXHAUSTIVE_MAX_WRITES:
        return Exploration(tuple(explore(cluster, writes, explore_ties=True)), True)
    sampled = [
        *adversarial_runs(cluster, writes),
        *random_runs(cluster, writes, seed, SAMPLED_RUNS),
    ]
    return Exploration(tuple(sampled), False)


def replayed_end(
    base: SimulatedCluster,
    writes: Sequence[Write],
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
    writes: Sequence[PlannedWrite],
    ends: Iterable[tuple[Iterable[str], Mapping[str, Manifest]]],
) -> dict[str, Manifest]:
    """The cluster after a wave: each component's end (its written Services, the cluster its
    first schedule left); a write no component held (it changes no allocation) stored as the
    API server would, the spec written and the status kept; deletions gone."""
    end = dict(before)
    covered: set[str] = set()
    for written, part_end in ends:
        covered.update(written)
        end.update(part_end)
    for write in writes:
        if write.manifest is None:
            end.pop(write.service, None)
        elif write.service not in covered:
            end[write.service] = _stored_write(write.manifest, before.get(write.service))
    return end


def _stored_write(manifest: Manifest, old: Manifest | None) -> Manifest:
    merged = copy_manifest(manifest)
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


def predict(
    scenario: Scenario, behaviors: Sequence[str] = BEHAVIORS, seed: int = 0
) -> dict[str, Prediction]:
    """Per behaviour: who goes pending, who stays stuck, who changes IP, and MetalLB's reason."""
    world = World.of(scenario)
    parts = world.parts(scenario.naive_writes(stamped=True))
    return {b: _predict_behavior(world, parts, b, seed) for b in behaviors}


def _predict_behavior(
    world: World, parts: Sequence[ShapedComponent], behavior: str, seed: int
) -> Prediction:
    def simulate(part: Component) -> _Simulated:
        base = world.cluster(part.context, behavior, part.frozen)
        exploration = explore_writes(base, part.writes, seed, remember=False)
        return _Simulated(fates_of(exploration.runs), len(exploration.runs), exploration.exhaustive)

    found = [o for _, o in once_per_shape(parts, simulate, lambda o, r, _: o.renamed(r))]
    fates = sorted((f for o in found for f in o.fates), key=lambda f: f.service)
    explored = sum(o.runs for o in found)
    return Prediction(behavior, tuple(fates), explored, all(o.exhaustive for o in found))


@dataclass(frozen=True)
class _Simulated:
    """What the runs of one component showed."""

    fates: list[ServiceFate]
    runs: int
    exhaustive: bool

    def renamed(self, renaming: Renaming) -> _Simulated | None:
        """The same outcome for a component of the same shape (None: a message cannot be)."""
        fates = []
        for fate in self.fates:
            service, reason = renaming.text(fate.service), renaming.text(fate.reason)
            if service is None or reason is None:
                return None
            fates.append(replace(fate, service=service, reason=reason))
        return _Simulated(fates, self.runs, self.exhaustive)


def fates_of(runs: Sequence[Run]) -> list[ServiceFate]:
    """Per Service that anything happened to: pending / stuck / IP changed in some run (or all)."""
    services = sorted({svc for run in runs for svc in run.cluster.history})
    fates = []
    for svc in services:
        pending = [run.cluster.went_pending(svc) for run in runs]
        stuck = [run.cluster.stuck_at_end(svc) for run in runs]
        changed = [run.cluster.changed_ip(svc) for run in runs]
        if not any(pending) and not any(stuck) and not any(changed):
            continue
        fates.append(
            ServiceFate(
                service=svc,
                pending=any(pending),
                stuck=any(stuck),
                ip_changed=any(changed),
                reason=_reason(runs, svc),
                always=all(pending) if any(pending) else all(changed),
            )
        )
    return fates


def _reason(runs: Sequence[Run], svc: str) -> str:
    for run in runs:
        warnings = run.cluster.warnings(svc)
        if warnings:
            return warnings[0]
    return ""
