"""Build the apply plan: units, their order, the IPs after each wave, and per-behaviour outcomes.

    >>> plan = build_plan(build_scenario(desired, live))
    >>> [len(wave.units) for wave in plan.waves]

The chain: the commit's Service writes (group-wide annotations stamped) → units (planner.plan.units)
→ waves (planner.plan.graph) → a simulation of each wave on the MetalLB model: under `fixed` it gives
the expected IPs; under stock behaviours the pending windows and the nudges v0.14 needs.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from planner.analysis.predict import pending_reason
from planner.analysis.records import Conflict
from planner.collector import collector_paused, join_the_callers_freeze
from planner.diff.scenario import Scenario
from planner.errors import PlannerError
from planner.model.allocator import AllocationRequest, Allocator
from planner.model.controller import BEHAVIORS, DEFAULT_TARGET, Behavior
from planner.model.group_annotations import GROUP_ANNOTATION_KEYS, group_digest
from planner.model.pools import parse_ip
from planner.model.service import (
    GROUP_ANNOTATION,
    GROUP_DIGEST_ANNOTATION,
    GROUP_MEMBERS_ANNOTATION,
    AllocationInputs,
    ServiceInputError,
    allocation_inputs,
    ingress_ips,
    inputs_remembered,
    requested_ips,
    requested_pool,
)
from planner.model.simcluster import Action, Run, ServiceWrite, SimulatedCluster
from planner.objects import Manifest
from planner.plan.detour import Detour, Detours, choose_detours
from planner.plan.fingerprint import live_fingerprint
from planner.plan.graph import (
    DETOUR,
    GROUP_TRANSITION,
    OrderedUnits,
    Resource,
    Unit,
    order_units,
    unit_id,
)
from planner.plan.records import (
    STRATEGIES,
    ExpectedIPs,
    PendingWindow,
    Plan,
    PlannedUnit,
    PlannedWave,
    PlanPrediction,
)
from planner.plan.stand_in import Predictions
from planner.plan.units import APPLY, DELETE, UnitInputs, Write, draft_units, writes_content
from planner.progress import Progress, no_progress
from planner.simulate.reduction import (
    Component,
    ShapedComponent,
    components,
    once_per_shape,
    pool_owner,
)
from planner.simulate.symmetry import Renaming
from planner.simulate.world import (
    DEFAULT_MAX_STATES,
    Baseline,
    Explorations,
    World,
    end_state,
    nudge,
    one_by_one,
    replayed_end,
)

TRANSITION_GROUP_PREFIX = "transition-"
# Warnings under the fixed allocator that mean a Service cannot reach its target.
TARGET_FAILURES = ("GroupTransitionInfeasible", "AllocationFailed")
IP_ALLOCATED = "IPAllocated"  # the controller's event when a Service gets its IPs
RECREATE_OUTAGE = (
    "deleted and created anew (--strategy recreate): no IP from its deletion until MetalLB "
    "handles the new object, one wave later"
)


class PlanRefused(PlannerError):
    """The target can never be reached (a static conflict, an infeasible cycle, a full pool)."""

    exit_code = 3


@dataclass(frozen=True)
class SimulatedWave:
    """What one behaviour did in one wave on the simulated cluster, over the schedules explored."""

    pending: dict[str, str]  # svc → MetalLB's reason, for Services that went pending
    stuck: tuple[str, ...]  # still pending at the end of the wave in some schedule
    unrecovered: tuple[str, ...]  # still pending after the nudges
    end: dict[str, Manifest] | None  # the cluster after the wave (its nudges, first schedule)
    runs: int
    ips: dict[str, set[tuple[str, ...]]]  # svc → every IP tuple it ended the wave with
    failures: dict[str, str]  # svc → a warning that says the wave could not reach its target


@inputs_remembered
def build_plan(
    scenario: Scenario,
    *,
    conflicts: Sequence[Conflict] = (),
    strategy: str = "atomic",
    target: str = DEFAULT_TARGET,
    explorations: Explorations | None = None,
    progress: Progress = no_progress,
    max_states: int = DEFAULT_MAX_STATES,
    seed: int = 0,
    detours: bool = True,
) -> Plan:
    """The ordered, atomic plan for the commit; refuses infeasible targets with the reason.
    `explorations`: remembered for a later `verify_plan` of the same run; `progress` hears
    ("planning", waves simulated, waves); `max_states`: one component's state budget; `seed`:
    of the sampled schedules beyond it (the seed `verify` will use); `detours`: whether a stock
    target may break a swap cycle through a free address (not where only the repo's final
    objects can be written, as in Argo CD's sync waves)."""
    join_the_callers_freeze()  # what the caller made since (its static conflicts' inputs)
    if strategy not in STRATEGIES:
        raise PlannerError(
            f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}"
        )
    errors = [c for c in conflicts if c.severity == "error"]
    if errors:
        raise PlanRefused("cannot plan: " + "; ".join(c.message for c in errors))
    writes = _writes(scenario)
    ordered = _ordered_units(scenario, writes)
    join_the_callers_freeze()  # the writes and units: the simulation's collections skip them
    world = World.of(scenario, explorations, max_states)
    planning = _Planning(scenario, writes, strategy, target, world, progress, seed)
    if not detours or strategy != "atomic" or target == Behavior.FIXED:
        return planning.plan(ordered)
    chosen = choose_detours(ordered.merged_cycles, scenario)
    if chosen.taken:
        detoured = _detoured_plan(planning, chosen)
        if isinstance(detoured, Plan):
            return detoured
        chosen = chosen.given_up(detoured)
    return planning.plan(ordered, notes=chosen.notes(target))


@dataclass(frozen=True)
class _Planning:
    """One commit's planning inputs: a plan is made from an order of its units."""

    scenario: Scenario
    writes: Mapping[str, Write]
    strategy: str
    target: str
    world: World
    progress: Progress
    seed: int

    def plan(
        self,
        ordered: OrderedUnits,
        detours: Sequence[Detour] = (),
        notes: tuple[str, ...] = (),
    ) -> Plan:
        """The plan of these ordered units, after a first wave of `detours` when given."""
        units, unit_writes, cleanup = _atomic_cycles(ordered, self.scenario, self.writes)
        waves = _planned_waves(units, unit_writes, ordered, cleanup)
        if detours:
            first = [_detour_unit(d) for d in detours]
            waves = [first, *_waiting_for(waves, ordered, detours, first)]
        if self.strategy == "recreate":
            waves = _recreate(waves, self.scenario)
        plan = _simulated(
            waves,
            self.scenario,
            self.strategy,
            self.target,
            self.world,
            self.progress,
            self.seed,
        )
        return replace(plan, notes=notes) if notes else plan


def _detoured_plan(planning: _Planning, detours: Detours) -> Plan | str:
    """The plan whose first wave takes the detours (planner.plan.detour), or why it fails:
    it must break every detoured cycle and leave none of its members without an IP."""
    scenario, target = planning.scenario, planning.target
    live = dict(scenario.live_services)
    for detour in detours.taken:
        live.update(detour.held)
    detoured = replace(scenario, live_services=live)
    ordered = _ordered_units(detoured, planning.writes)
    moved = {svc for d in detours.taken for svc in d.services}
    if any(moved & set(cycle) for cycle in ordered.merged_cycles):
        return "a detour does not break it: its members still wait for each other"
    try:
        plan = planning.plan(ordered, detours.taken, detours.notes(target))
    except PlanRefused as refusal:
        return f"the plan through a detour was refused ({refusal})"
    members = {svc for d in detours.taken for svc in d.cycle}
    waiting = sorted({w.service for w in plan.predictions[target].windows} & members)
    if waiting:
        return f"through a detour, {', '.join(waiting)} would still wait without an IP"
    return plan


def _detour_unit(detour: Detour) -> PlannedUnit:
    return PlannedUnit(
        id=unit_id(DETOUR, writes_content(detour.writes)),
        kind=DETOUR,
        services=detour.services,
        members=detour.services,
        writes=detour.writes,
        reasons=(
            f"detour: to {detour.address}, free in pool {detour.pool}, until the cycle moved",
        ),
    )


def _waiting_for(
    waves: list[list[PlannedUnit]],
    ordered: OrderedUnits,
    detours: Sequence[Detour],
    first: Sequence[PlannedUnit],
) -> list[list[PlannedUnit]]:
    """The waves, each unit that claims an address a detour frees waiting for that detour."""
    freed = {
        Resource("ip", str(parse_ip(d.freed))): unit.id
        for d, unit in zip(detours, first, strict=True)
    }
    claims = {unit.id: unit.claims for wave in ordered.waves for unit in wave}
    return [[_after_detours(u, claims.get(u.id, frozenset()), freed) for u in w] for w in waves]


def _after_detours(
    unit: PlannedUnit, claims: frozenset[Resource], freed: Mapping[Resource, str]
) -> PlannedUnit:
    waited = sorted(r for r in claims if r in freed)
    if not waited:
        return unit
    return replace(
        unit,
        waits_for=(*unit.waits_for, *(freed[r] for r in waited)),
        reasons=(*unit.reasons, *(f"releases IP {r.where}, which it claims" for r in waited)),
    )


# --- writes and units ----------------------------------------------------------------------


@collector_paused
def _ordered_units(scenario: Scenario, writes: Mapping[str, Write]) -> OrderedUnits:
    """The writes' units in waves. Drafting them makes long-lived objects (206,000 at 10,000
    Services) and no reference cycle: each collection walked them all to find nothing."""
    return order_units(draft_units(_unit_inputs(scenario, writes)))


@collector_paused
def _writes(scenario: Scenario) -> dict[str, Write]:
    return {
        svc: Write(svc, APPLY if manifest is not None else DELETE, manifest)
        for svc, manifest in scenario.naive_writes(stamped=True)
    }


def _service_writes(writes: Iterable[Write]) -> list[ServiceWrite]:
    """The plan's writes as the simulated cluster takes them (a deletion's manifest is None)."""
    return [ServiceWrite(w.service, w.manifest) for w in writes]


def _unit_inputs(scenario: Scenario, writes: Mapping[str, Write]) -> UnitInputs:
    # Which pool owns an address reads the pools alone, not who holds what.
    pool_of = pool_owner(scenario.pools)

    @functools.cache
    def live_allocator() -> Allocator:
        # Made for the first auto-assigned target only: at 10,000 Services, where every target
        # requests or keeps its IPs, holding the live IPs was 0.09 s for nothing.
        return _live_allocator(scenario, writes)

    def auto_candidates(
        manifest: Manifest, inputs: AllocationInputs, moving: frozenset[str]
    ) -> tuple[frozenset[str], frozenset[str]]:
        trial = live_allocator().clone()
        # Any written Service may free its IPs before this one lands (a deletion, a move):
        # counting them free makes requested-IP claims of those IPs go first.
        for svc in moving | set(writes):
            trial.unassign(svc)
        outcomes = trial.possible_allocations(
            AllocationRequest(
                inputs.svc_key,
                manifest,
                inputs.family,
                inputs.ports,
                inputs.sharing_key,
                inputs.backend_key,
                ip_family_policy=inputs.family_policy,
            )
        )
        ips = frozenset(ip for outcome in outcomes for ip in outcome)
        pools = {pool_of(ip) for ip in ips} | ({inputs.requested_pool} - {""})
        if not ips and not inputs.requested_pool:
            # Every pool it may draw from is full: it waits for a slot in any of them.
            pools |= {pool.name for pool in scenario.pools if pool.auto_assign}
        return ips, frozenset(pools - {""})

    desired = {svc: w.manifest for svc, w in writes.items() if w.manifest is not None}
    return UnitInputs(
        live=scenario.live_services,
        desired={**scenario.stamped_services, **desired},
        writes=writes,
        pool_of=pool_of,
        auto_candidates=auto_candidates,
    )


def _live_allocator(scenario: Scenario, writes: Mapping[str, Write]) -> Allocator:
    """The allocator as the controller holds it now (pools after the commit, live IPs), for
    the pools a write may draw an address from: auto-assign, pinned and requested pools.

    A Service holding no IP of such a pool cannot change where such a write lands: it is left
    out (at 10,000 Services, most of them)."""
    requested = {requested_pool(w.manifest) for w in writes.values() if w.manifest is not None}
    drawn = [
        pool
        for pool in scenario.pools
        if pool.auto_assign or pool.has_service_allocation or pool.name in requested
    ]

    def in_drawn(ip: str) -> bool:
        try:
            address = parse_ip(ip)
        except ValueError:
            return True  # not an address: keep its holder, the controller decides
        return any(address in network for pool in drawn for network in pool.networks)

    holders = [
        svc
        for svc, manifest in scenario.live_services.items()
        if any(in_drawn(ip) for ip in ingress_ips(manifest))
    ]
    cluster = World.of(scenario).cluster((), Behavior.METALLB_0_15, frozen=holders)
    return cluster.controller.allocator


def _atomic_cycles(
    ordered: OrderedUnits, scenario: Scenario, writes: Mapping[str, Write]
) -> tuple[dict[str, Unit], dict[str, tuple[Write, ...]], dict[str, Write]]:
    """Give each merged cycle a transition group, so the fixed allocator lands it at once.

    Returns, keyed by the ordered unit's id, the unit (a cycle's with its new content) and its
    writes, and the `cleanup` writes: the transition annotations cover every Service of the cycle,
    and a last wave writes the Services back with the annotations the repo wants.
    """
    units: dict[str, Unit] = {}
    unit_writes: dict[str, tuple[Write, ...]] = {}
    cleanup: dict[str, Write] = {}
    cycles = set(ordered.merged_cycles)
    for wave in ordered.waves:
        for unit in wave:
            if unit.services not in cycles:
                units[unit.id] = unit
                unit_writes[unit.id] = tuple(writes[svc] for svc in unit.services)
                continue
            transition = _transition_writes(unit, scenario)
            units[unit.id] = replace(unit, content=writes_content(transition))
            unit_writes[unit.id] = tuple(transition)
            for write in transition:
                cleanup[write.service] = Write(
                    write.service, APPLY, scenario.stamped_services[write.service]
                )
    return units, unit_writes, cleanup


def _transition_writes(unit: Unit, scenario: Scenario) -> list[Write]:
    services = [s for s in unit.services if s in scenario.stamped_services]
    inputs = [
        allocation_inputs(scenario.stamped_services[s], scenario.live_services.get(s))
        for s in services
    ]
    digest = group_digest(inputs)
    annotations = {
        GROUP_ANNOTATION: TRANSITION_GROUP_PREFIX + digest[:12],
        GROUP_MEMBERS_ANNOTATION: ",".join(services),
        GROUP_DIGEST_ANNOTATION: digest,
    }
    writes = []
    for svc in unit.services:
        manifest = scenario.stamped_services.get(svc)
        if manifest is None:
            writes.append(Write(svc, DELETE, None))
            continue
        body = copy.deepcopy(manifest)
        current = {
            k: v
            for k, v in (body.get("metadata", {}).get("annotations") or {}).items()
            if k not in GROUP_ANNOTATION_KEYS
        }
        body.setdefault("metadata", {})["annotations"] = {**current, **annotations}
        writes.append(Write(svc, APPLY, body))
    return writes


def _planned_waves(
    units: Mapping[str, Unit],
    unit_writes: Mapping[str, tuple[Write, ...]],
    ordered: OrderedUnits,
    cleanup: Mapping[str, Write],
) -> list[list[PlannedUnit]]:
    waves: list[list[PlannedUnit]] = []
    reasons = {(e.before, e.after): e.reasons for e in ordered.edges}
    for wave in ordered.waves:
        planned = []
        for original in wave:
            unit = units[original.id]
            waits = ordered.waits_for(original.id)
            planned.append(
                PlannedUnit(
                    id=unit.id,
                    kind=unit.kind,
                    services=unit.services,
                    members=unit.members or unit.services,
                    writes=unit_writes[original.id],
                    waits_for=tuple(units[w].id for w in waits),
                    reasons=tuple(r for w in waits for r in reasons[(w, original.id)]),
                )
            )
        waves.append(sorted(planned, key=lambda u: u.id))
    if cleanup:
        waves.append([_cleanup_unit(cleanup)])
    return waves


def _cleanup_unit(cleanup: Mapping[str, Write]) -> PlannedUnit:
    writes = tuple(cleanup[s] for s in sorted(cleanup))
    return PlannedUnit(
        id=unit_id("cleanup", writes_content(writes)),
        kind="service",
        services=tuple(sorted(cleanup)),
        members=tuple(sorted(cleanup)),
        writes=writes,
        reasons=("writes back the repo's own annotations after the transition",),
    )


def _recreate(waves: list[list[PlannedUnit]], scenario: Scenario) -> list[list[PlannedUnit]]:
    """The v0.14 workaround: delete every member of a key-changing group, then create it anew."""
    result: list[list[PlannedUnit]] = []
    for wave in waves:
        deletions, keep = [], []
        for unit in wave:
            if unit.kind == GROUP_TRANSITION and _key_changing(unit, scenario):
                live_members = [w for w in unit.writes if w.service in scenario.live_services]
                deletions.append(
                    _derived(unit, "delete", [Write(w.service, DELETE, None) for w in live_members])
                )
                keep.append(_derived(unit, "create", list(unit.writes)))
            else:
                keep.append(unit)
        if deletions:
            result.append(deletions)
        result.append(keep)
    return result


def _key_changing(unit: PlannedUnit, scenario: Scenario) -> bool:
    return any(scenario.key_changes.get(svc) for svc in unit.services)


def _derived(unit: PlannedUnit, step: str, writes: list[Write]) -> PlannedUnit:
    return replace(
        unit,
        id=unit_id(step, writes_content(writes)),
        writes=tuple(writes),
        waits_for=(),
        reasons=(f"recreate: {step}",),
    )


# --- simulation ----------------------------------------------------------------------------


def _simulated(
    waves: list[list[PlannedUnit]],
    scenario: Scenario,
    strategy: str,
    target: str,
    world: World,
    progress: Progress = no_progress,
    seed: int = 0,
) -> Plan:
    planned: list[PlannedWave] = []
    windows: dict[str, list[PendingWindow]] = {b: [] for b in BEHAVIORS}
    runs: dict[str, int] = dict.fromkeys(BEHAVIORS, 0)
    # One state object while the behaviours agree (the first wave): its components are split once.
    # Never changed in place: each wave's end state is a new dict.
    initial = dict(scenario.live_services)
    state = {b: initial for b in BEHAVIORS}
    predicted = Predictions(scenario.pools, scenario.live_services)
    for index, units in enumerate(waves, start=1):
        progress("planning", index - 1, len(waves))
        writes = [w for unit in units for w in unit.writes]
        before = state[Behavior.FIXED]
        recreated = {
            w.service for w in writes if w.op == DELETE and w.service in scenario.desired_services
        }
        last = index == len(waves)
        pairs = _service_writes(writes)
        parts: dict[int, list[ShapedComponent]] = {}
        for live in state.values():
            if id(live) not in parts:
                parts[id(live)] = replace(world, live=live).parts(pairs)
        outcomes = {
            b: wave_outcome(
                replace(world, live=state[b]),
                writes,
                b,
                keep_end=not last,
                parts=parts[id(state[b])],
                seed=seed,
            )
            for b in BEHAVIORS
        }
        for behavior, outcome in outcomes.items():
            windows[behavior].extend(_windows(outcome, index, recreated))
            runs[behavior] += outcome.runs
            state[behavior] = outcome.end or {}
        _check_fixed(outcomes[Behavior.FIXED], index, strategy)
        _check_target(outcomes[target], index, target)
        expected = _expected(writes, _members(units), outcomes[Behavior.FIXED], before, scenario)
        planned.append(
            PlannedWave(
                index=index,
                units=tuple(units),
                expected_ips=expected,
                nudges={b: o.stuck for b, o in outcomes.items() if o.stuck and b != Behavior.FIXED},
                predicted_ips=predicted.wave(writes, expected),
            )
        )
    progress("planning", len(waves), len(waves))
    predictions = {
        b: PlanPrediction(
            b, tuple(sorted(windows[b], key=lambda w: (w.wave, w.service))), runs[b], False
        )
        for b in BEHAVIORS
    }
    preconditions = {
        w.service: live_fingerprint(scenario.live_services.get(w.service))
        for wave in planned
        for w in wave.writes
    }
    return Plan(
        strategy,
        tuple(planned),
        predictions,
        dict(sorted(preconditions.items())),
        target,
        baseline=_baseline(scenario, planned),
    )


def _baseline(scenario: Scenario, waves: Sequence[PlannedWave]) -> Baseline:
    """The live Services the plan touches or depends on, and the pools before and after."""
    writes = _service_writes(w for wave in waves for w in wave.writes)
    live = scenario.live_services
    needed = {svc for svc, _ in writes if svc in live}
    # A component's context and frozen neighbours are live Services: when the plan writes every
    # one of them, none is left to add (at 10,000 Services this pass was 0.10-0.16 s).
    if len(needed) < len(live):
        # Unsplit: a pool's other holders decide whether its pieces may be explored apart, and
        # which keyless addresses they take one after another (planner.simulate.poolsplit).
        for part in components(writes, live, scenario.pools, split_pools=False):
            needed |= set(part.context) | set(part.frozen)
    return Baseline(
        services={svc: live[svc] for svc in sorted(needed)},
        pools_before=scenario.live_pool_objects,
        pools_after=scenario.pool_objects,
        namespaces=dict(sorted(scenario.namespaces.items())),
    )


def _check_fixed(fixed: SimulatedWave, wave: int, strategy: str) -> None:
    """Refuse a plan the fixed allocator cannot carry out without pending or failed transitions."""
    if fixed.failures:
        svc, warning = min(fixed.failures.items())
        raise PlanRefused(f"infeasible target in wave {wave}: {svc}: {warning}")
    if fixed.pending and strategy == "atomic":
        services = ", ".join(sorted(fixed.pending))
        reasons = "; ".join(sorted(set(fixed.pending.values())))
        raise PlanRefused(
            f"the fixed allocator would leave {services} pending in wave {wave}: {reasons}"
        )


def _check_target(outcome: SimulatedWave, wave: int, target: str) -> None:
    """Refuse a plan that leaves a Service without an IP under the MetalLB the cluster runs,
    even after the nudges (e.g. a requested IP its holder keeps under stock rules)."""
    if target != Behavior.FIXED and outcome.unrecovered:
        services = ", ".join(outcome.unrecovered)
        raise PlanRefused(
            f"under {target}, {services} would have no IP after wave {wave}, even after the "
            f"plan's nudge; plan with --target fixed only for a MetalLB with group transitions"
        )


def wave_outcome(
    world: World,
    writes: Sequence[Write],
    behavior: str,
    keep_end: bool = True,
    parts: Sequence[ShapedComponent] | None = None,
    seed: int = 0,
) -> SimulatedWave:
    """Run one wave's writes under one behaviour over its schedules; `keep_end=False` when
    nothing follows the wave (no end state is built); `parts`: its components, if known;
    `seed`: of the sampled schedules (as `verify_plan`'s)."""
    if parts is None:
        parts = world.parts(_service_writes(writes))

    def simulate(part: Component) -> _PartOutcome:
        base = world.cluster(part.context, behavior, part.frozen)
        return _part_outcome(world, base, part.writes, behavior, seed)

    def renamed(known: _PartOutcome, renaming: Renaming, part: Component) -> _PartOutcome | None:
        base = world.cluster(part.context, behavior, part.frozen) if keep_end else None
        return known.renamed(renaming, base, part.writes)

    outcomes = once_per_shape(parts, simulate, renamed)
    total = _PartOutcome()
    for _, outcome in outcomes:
        total.add(outcome)
    end = None
    if keep_end:
        ends = [([svc for svc, _ in part.writes], outcome.end) for part, outcome in outcomes]
        drawn = [part.pool for part, _ in outcomes]
        end = end_state(world.live, _service_writes(writes), ends, world.pools, drawn)
    return SimulatedWave(
        total.pending,
        tuple(sorted(total.stuck)),
        tuple(sorted(total.unrecovered)),
        end,
        total.runs,
        total.ips,
        total.failures,
    )


@dataclass
class _PartOutcome:
    """What one component (or, added up, a wave) did over its schedules."""

    pending: dict[str, str] = field(default_factory=dict)
    stuck: set[str] = field(default_factory=set)
    unrecovered: set[str] = field(default_factory=set)
    ips: dict[str, set[tuple[str, ...]]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    runs: int = 0
    end: dict[str, Manifest] = field(default_factory=dict)  # after the first schedule
    first: tuple[Action, ...] = ()  # the first schedule
    nudged: tuple[str, ...] = ()  # the Services nudged after it

    def add(self, other: _PartOutcome) -> None:
        for svc, reason in other.pending.items():
            self.pending.setdefault(svc, reason)
        self.stuck |= other.stuck
        self.unrecovered |= other.unrecovered
        for svc, ips in other.ips.items():
            self.ips.setdefault(svc, set()).update(ips)
        for svc, warning in other.failures.items():
            self.failures.setdefault(svc, warning)
        self.runs += other.runs

    def renamed(
        self,
        renaming: Renaming,
        base: SimulatedCluster | None = None,
        writes: Sequence[ServiceWrite] = (),
    ) -> _PartOutcome | None:
        """The outcome of a component of the same shape (None when a message cannot be renamed);
        its end state is replayed on `base` along the first schedule (omitted without a base)."""
        texts = [*self.pending.values(), *self.failures.values()]
        renamed_texts = {text: renaming.text(text) for text in texts}
        ips = {
            renaming.key(svc): {renaming.ips_of(t) for t in tuples}
            for svc, tuples in self.ips.items()
        }
        if None in renamed_texts.values() or any(None in t for t in ips.values()):
            return None
        outcome = _PartOutcome(
            {renaming.key(s): renamed_texts[r] or "" for s, r in self.pending.items()},
            {renaming.key(s) for s in self.stuck},
            {renaming.key(s) for s in self.unrecovered},
            ips,  # type: ignore[arg-type]  # no None left
            {renaming.key(s): renamed_texts[w] or "" for s, w in self.failures.items()},
            self.runs,
            first=renaming.schedule(self.first),
            nudged=tuple(renaming.key(s) for s in self.nudged),
        )
        if base is not None:
            outcome.end = replayed_end(base, writes, outcome.first, outcome.nudged, "1")
        return outcome


def _part_outcome(
    world: World,
    base: SimulatedCluster,
    writes: Sequence[ServiceWrite],
    behavior: str,
    seed: int = 0,
) -> _PartOutcome:
    """What one component does under one behaviour over the schedules `planner verify` explores.

    The nudges are every Service stuck at the end of ANY explored schedule; then, as `verify`
    does, every finished schedule gets all of them (in the plan's order) before its end is read.
    """
    outcome = _PartOutcome()
    runs, warnings, exhaustive = _schedules(world, base, writes, seed)
    finished = [run for run in runs if run.settled]
    for run in runs:
        outcome.runs += 1
        cluster = run.cluster
        for svc in cluster.history:
            if cluster.went_pending(svc):
                seen = warnings.get(svc, ())
                outcome.pending.setdefault(svc, _reason(cluster, svc) or pending_reason(seen))
    del runs  # what is left to read is the finished runs' ends
    # A run that hit its step cap: who went pending on the way is real, its end is none.
    if outcome.runs and not finished:
        services = ", ".join(sorted(svc for svc, _ in writes))
        raise PlanRefused(
            f"under {behavior}, no schedule of the writes to {services} finished within the "
            "simulation's step cap: the plan's outcome is unknown"
        )
    outcome.stuck = {
        svc for run in finished for svc in run.cluster.store if run.cluster.stuck_at_end(svc)
    }
    if not exhaustive:
        # A sample shows some of the end states only: any written Service it saw go pending
        # may end stuck in one it missed (in a swap cycle, each member in turn), so each gets
        # the (harmless) nudge.
        written = {svc for svc, _ in writes}
        outcome.stuck |= written & outcome.pending.keys()
    nudged = tuple(sorted(outcome.stuck))
    # Each finished run is let go once its end is read: one nudged cluster at a time.
    ended = one_by_one(finished)
    del finished
    for index, run in enumerate(ended):
        cluster = run.cluster
        nudge(cluster, [svc for svc in nudged if svc in cluster.store], "1")
        outcome.unrecovered |= {svc for svc in outcome.stuck if cluster.stuck_at_end(svc)}
        for svc in cluster.store:
            outcome.ips.setdefault(svc, set()).add(cluster.ips(svc))
            failed = unresolved_failure(cluster, svc)
            if failed:
                outcome.failures.setdefault(svc, failed)
        if index == 0:
            # The first schedule that finished: the end state the next wave starts from.
            outcome.end = dict(cluster.store)
            outcome.first = run.schedule
            outcome.nudged = tuple(svc for svc in nudged if svc in cluster.store)
    return outcome


def _schedules(
    world: World,
    base: SimulatedCluster,
    writes: Sequence[ServiceWrite],
    seed: int,
) -> tuple[list[Run], Mapping[str, Sequence[str]], bool]:
    """The runs an outcome is read from, every warning seen per Service, and whether the runs
    cover every reachable state: the
    very exploration `planner verify` runs (every reachable state within the budget, the seeded
    sample beyond it), under every behaviour, so no claim of the plan rests on fewer schedules
    than its proof meets."""
    exploration = world.explore(base, writes, seed)
    return list(exploration.runs), exploration.warnings, exploration.exhaustive


def _reason(cluster: SimulatedCluster, svc: str) -> str:
    return pending_reason(cluster.warnings(svc))


def unresolved_failure(cluster: SimulatedCluster, svc: str) -> str:
    """The target failure a Service ends the run with ("" when none): a failure that a later
    allocation of the Service answered was a step on the way, not an end.

    E.g. a pending Service joining its holder's new sharing key fails while the holder still
    has the old key, then gets the IP once the holder's write lands: the target is reached.
    """
    failure = None  # the event, printed once at the end (its text may name many holders)
    for _, event in cluster.events:
        if event.svc_key != svc:
            continue
        if event.type == "Warning" and event.reason.startswith(TARGET_FAILURES):
            failure = event
        elif event.type == "Normal" and event.reason == IP_ALLOCATED:
            failure = None
    return "" if failure is None else str(failure)


def _windows(outcome: SimulatedWave, wave: int, deleted_here: set[str]) -> list[PendingWindow]:
    found = [PendingWindow(svc, wave, "recreated", RECREATE_OUTAGE) for svc in sorted(deleted_here)]
    for svc, reason in sorted(outcome.pending.items()):
        until = (
            "never"
            if svc in outcome.unrecovered
            else "nudge"
            if svc in outcome.stuck
            else "group-complete"
        )
        found.append(PendingWindow(svc, wave, until, reason))
    return found


def _expected(
    writes: Sequence[Write],
    members: Sequence[str],
    fixed: SimulatedWave,
    before: Mapping[str, Manifest],
    scenario: Scenario,
) -> dict[str, ExpectedIPs]:
    """The possible IPs after the wave under the fixed allocator of every written Service and of
    every other member of the groups the wave moves (a member that stays is stated too)."""
    deleted = {w.service for w in writes if w.op == DELETE}
    expected: dict[str, ExpectedIPs] = {}
    for svc in sorted({w.service for w in writes} | set(members)):
        if svc in deleted:
            continue
        # Simulated Services end at what the runs showed; the others keep their IPs.
        options = fixed.ips.get(svc) or (
            {_held(before[svc], scenario.statuses_known)} if svc in before else None
        )
        if options is not None:
            expected[svc] = tuple(sorted(options))
    return expected


def _held(live: Manifest, statuses_known: bool) -> tuple[str, ...]:
    """The IPs a Service nobody moves keeps: its status's; read from a git ref (no status), the
    ones it requests, which MetalLB gave it (a group stamped, not moved, is not `<no IP>`)."""
    shown = ingress_ips(live)
    if shown or statuses_known:
        return tuple(shown)
    try:
        return requested_ips(live)
    except ServiceInputError:  # both request fields: MetalLB gives it none
        return ()


def _members(units: Sequence[PlannedUnit]) -> list[str]:
    return [svc for unit in units for svc in unit.members]
