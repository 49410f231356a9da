"""Prove a plan on the simulated cluster: replay it wave by wave, delivering each wave's writes
to the MetalLB controller model in every order and every interleaving with its own processing.

Claims checked, per behaviour and wave:
- `fixed`: no Service ever goes pending, and the wave ends with every written Service at one of
  its expected IPs;
- `metallb-0.15` / `metallb-0.14`: the Services that go pending are exactly those the plan
  predicts for that wave, and after the plan's nudges every written Service holds an IP (the
  plan converges). Not "its expected IPs": the expected IPs are the fixed allocator's, and stock
  MetalLB may legitimately split an auto-assigned group whose key changes (the member handled
  first moves to a free address instead of waiting), which no order of writes can prevent.

Bound: a component (writes that can interact, see planner.simulate.reduction) is explored as a
state graph (planner.simulate.states): every state reachable by any arrival order, any
interleaving of arrivals with the controller's steps and any order of a reprocess-all pass among
ties, each visited once, up to `max_states` states. Its claims are then proved, and a
counterexample is the shortest real schedule to a violating end state. Beyond the budget the
component gets the named adversarial schedules plus SAMPLED_RUNS seeded random ones; the report
says which claims rest on a sample, and why.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from planner.collector import built_data_frozen
from planner.model.controller import BEHAVIORS, Behavior
from planner.model.service import is_load_balancer
from planner.model.simcluster import Action, Run, ServiceWrite, SimulatedCluster
from planner.objects import Manifest
from planner.plan.records import Plan, PlannedWave
from planner.progress import Progress, no_progress
from planner.simulate.reduction import Component, ShapedComponent, once_per_shape
from planner.simulate.symmetry import Renaming
from planner.simulate.world import (
    DEFAULT_MAX_STATES,
    SAMPLED_RUNS,
    Explorations,
    World,
    end_state,
    nudge,
    one_by_one,
    replayed_end,
)

_NUDGE_VALUE = "verify"  # the value of the nudge annotation verify writes


@dataclass(frozen=True)
class Claim:
    """One checked statement: what was claimed, whether it held, and a counterexample if not."""

    behavior: str
    wave: int
    statement: str
    holds: bool
    schedules: int
    exhaustive: bool
    counterexample: str = ""
    unfinished: int = 0  # schedules that hit their step cap: counted, never support the claim
    states: int = 0  # states of the state graph visited for it (components explored in full)
    sampled: str = ""  # why it rests on a sample: "budget reached after 20000 states"
    # Of `schedules`, those sampled in components beyond the explorer, and those components'
    # written Services: for every other component the claim is proved.
    sampled_schedules: int = 0
    sampled_services: tuple[str, ...] = ()

    @property
    def scope(self) -> str:
        """What the claim covered: "1234 states, every state", or the sample and why (and for
        which Services, when the other components were explored in full)."""
        if self.exhaustive:
            return f"{self.states} states, every state"
        why = f", {self.sampled}" if self.sampled else ""
        sampled = f"{self.sampled_schedules or self.schedules} schedules, sampled{why}"
        if 0 < self.sampled_schedules < self.schedules:
            names = ", ".join(self.sampled_services)
            return f"{self.states} states, every state, but for {names}: {sampled}"
        return sampled


@dataclass(frozen=True)
class VerifyReport:
    """Every claim checked for a plan."""

    claims: tuple[Claim, ...]

    @property
    def ok(self) -> bool:
        return all(c.holds for c in self.claims)

    @property
    def schedules(self) -> int:
        return sum(c.schedules for c in self.claims)

    @property
    def sampled(self) -> tuple[Claim, ...]:
        """The claims that held on a sample only (not proved): they exit 0 only when accepted."""
        return tuple(c for c in self.claims if c.holds and not c.exhaustive)

    def sampled_summary(self) -> str:
        """How many claims and schedules only held on a sample, in one phrase."""
        sampled = self.sampled
        schedules = sum(c.sampled_schedules or c.schedules for c in sampled)
        return (
            f"{len(sampled)} claim(s) only held on sampled schedules "
            f"({schedules} schedules, not every state)"
        )

    def lines(self) -> list[str]:
        """The report as text: one line per claim, counterexamples indented below."""
        out = []
        for claim in self.claims:
            how = claim.scope
            if claim.unfinished:
                how = f"{claim.unfinished} did not finish, {how}"
            mark = (
                "proved"
                if claim.holds and claim.exhaustive
                else "held"
                if claim.holds
                else "FAILED"
            )
            out.append(
                f"{mark:6}  {claim.behavior:12}  wave {claim.wave}: {claim.statement}  ({how})"
            )
            if claim.counterexample:
                out.extend(f"          {line}" for line in claim.counterexample.splitlines())
        return out


@dataclass(frozen=True)
class _Suspects:
    """What a wave's claims allow under one behaviour: the Services a schedule may see go
    pending, and the IPs each Service may end at (fixed). A schedule that shows anything else
    keeps its counterexample's lines (`_Witness`); no other keeps anything of its run."""

    behavior: str
    predicted: frozenset[str]  # may go pending (stock behaviours)
    expected: Mapping[str, frozenset[tuple[str, ...]]]  # svc → its possible IPs (fixed)

    @classmethod
    def of(cls, plan: Plan, wave: PlannedWave, behavior: str) -> _Suspects:
        predicted = frozenset(
            w.service
            for w in plan.predictions[behavior].windows
            if w.wave == wave.index and w.until != "recreated"
        )
        # Only the fixed behaviour's claims read the expected IPs (10,000 Services a wave).
        expected = (
            {svc: frozenset(tuple(o) for o in opts) for svc, opts in wave.expected_ips.items()}
            if behavior == Behavior.FIXED
            else {}
        )
        return cls(behavior, predicted, expected)

    def flagged(
        self,
        went_pending: Sequence[str],
        ips: Mapping[str, tuple[str, ...]],
        without_ip: Sequence[str],
        finished: bool,
    ) -> list[str]:
        """The Services a counterexample from this schedule could name (see `_claims`)."""
        fixed = self.behavior == Behavior.FIXED
        allowed = frozenset() if fixed else self.predicted
        found = [s for s in went_pending if s not in allowed]
        if finished and fixed:
            found += [
                s
                for s in ips.keys() & self.expected.keys()
                if tuple(ips[s]) not in self.expected[s]
            ]
        elif finished:
            found += without_ip
        return found


@dataclass(frozen=True)
class _Witness:
    """A schedule's counterexample lines: the schedule, and per Service it could name its
    statuses and first warnings (what `_counterexample` prints), so no run outlives its
    observation (a sampled run of 1,000 writes holds a whole simulated cluster)."""

    schedule: str  # "schedule: arrive a; process; ..." (and the cut, when it did not finish)
    services: Mapping[str, tuple[str, ...]]  # svc → its lines

    @classmethod
    def of(cls, run: Run, services: Sequence[str]) -> _Witness:
        cut = "" if run.settled else " (did not finish: cut at the step cap)"
        lines = {}
        for svc in services:
            statuses = " -> ".join(
                str(list(ips)) if ips else "<pending>" for ips in run.cluster.statuses(svc)
            )
            warnings = (f"  {w}" for w in run.cluster.warnings(svc)[:3])
            lines[svc] = (f"{svc}: {statuses}", *warnings)
        return cls(f"schedule: {run.describe()}{cut}", lines)


_KeyRenamed = Callable[[str], str]  # a Service key as the target component's
_IPsRenamed = Callable[[tuple[str, ...]], tuple[str, ...] | None]  # IPs as the target's


@dataclass(frozen=True)
class _Observed:
    """What one schedule showed, after the plan's nudges: facts per Service, never the run."""

    written: tuple[str, ...]  # the written Services of its component
    went_pending: tuple[str, ...]
    ips: dict[str, tuple[str, ...]]  # every Service of the simulated cluster → its IPs at the end
    without_ip: tuple[str, ...]  # written, still a LoadBalancer, and without an IP at the end
    finished: bool = True  # False: it hit its step cap; it has no end (ips, without_ip)
    simulated: bool = True  # False: renamed from a same-shaped component's schedule
    witness: _Witness | None = None  # a counterexample's lines, when it shows one

    @classmethod
    def of(cls, run: Run, written: tuple[str, ...], suspects: _Suspects) -> _Observed:
        cluster = run.cluster
        went_pending = tuple(s for s in cluster.history if cluster.went_pending(s))
        ips = {svc: cluster.ips(svc) for svc in cluster.store}
        without_ip = tuple(
            s
            for s in written
            if s in cluster.store and is_load_balancer(cluster.store[s]) and not cluster.ips(s)
        )
        flagged = suspects.flagged(went_pending, ips, without_ip, run.settled)
        witness = _Witness.of(run, sorted(set(flagged))) if flagged else None
        return cls(written, went_pending, ips, without_ip, run.settled, witness=witness)

    def renamed(self, key: _KeyRenamed, ips_of: _IPsRenamed) -> _Observed | None:
        """The same schedule in a component of the same shape, by its renaming's `key` and
        `ips_of` (None: an IP is not renameable)."""
        ips = {key(s): ips_of(t) for s, t in self.ips.items()}
        if any(t is None for t in ips.values()):
            return None
        return _Observed(
            tuple(key(s) for s in self.written),
            tuple(key(s) for s in self.went_pending),
            ips,  # type: ignore[arg-type]  # no None left
            tuple(key(s) for s in self.without_ip),
            finished=self.finished,
            simulated=False,
        )


@dataclass
class _PartRuns:
    """The schedules of one component, and the cluster its first schedule left."""

    observed: list[_Observed]
    exhaustive: bool
    end: dict[str, Manifest]
    first: tuple[Action, ...]
    states: int = 0
    sampled: str = ""

    def renamed(
        self,
        renaming: Renaming,
        base: SimulatedCluster | None,
        writes: Sequence[ServiceWrite],
        nudges: Sequence[str],
    ) -> _PartRuns | None:
        """The runs of a component of the same shape; its end state replayed on `base` (none
        without a base: nothing follows the wave)."""
        # Its runs name the same Services and IP tuples again and again (3,860 runs of 738
        # renamed components at 10,000 Services): each is renamed once.
        key, ips_of = functools.cache(renaming.key), functools.cache(renaming.ips_of)
        observed = [o.renamed(key, ips_of) for o in self.observed]
        if any(o is None for o in observed):
            return None
        first = renaming.schedule(self.first)
        end = {} if base is None else replayed_end(base, writes, first, nudges, _NUDGE_VALUE)
        return _PartRuns(
            observed,  # type: ignore[arg-type]  # no None left
            self.exhaustive,
            end,
            first,
            self.states,
            self.sampled,
        )


@dataclass
class _WaveRuns:
    """The runs of one wave under one behaviour, after the plan's nudges."""

    parts: list[_PartRuns]

    @property
    def renamed(self) -> bool:
        """Whether some component was renamed from a same-shaped one, not simulated."""
        return any(not observed.simulated for observed in self.observed)

    @property
    def observed(self) -> list[_Observed]:
        return [o for part in self.parts for o in part.observed]

    @property
    def exhaustive(self) -> bool:
        return all(part.exhaustive for part in self.parts)

    @property
    def states(self) -> int:
        """The states visited by the components explored in full."""
        return sum(part.states for part in self.parts if part.exhaustive)

    @property
    def sampled_parts(self) -> list[_PartRuns]:
        return [part for part in self.parts if not part.exhaustive]

    @property
    def sampled(self) -> str:
        """Why some component rests on a sample (each reason once)."""
        return "; ".join(dict.fromkeys(part.sampled for part in self.parts if part.sampled))

    @property
    def ended(self) -> list[_Observed]:
        """The schedules that finished: only they have an end to check."""
        return [o for o in self.observed if o.finished]

    @property
    def unfinished(self) -> int:
        return sum(not o.finished for o in self.observed)


@built_data_frozen
def verify_plan(
    plan: Plan,
    seed: int = 0,
    world: World | None = None,
    explorations: Explorations | None = None,
    progress: Progress = no_progress,
    max_states: int = DEFAULT_MAX_STATES,
) -> VerifyReport:
    """Replay the plan under every behaviour and check its claims (see the module docstring).
    `world`: the plan's baseline unless given (its own budget then); `explorations`: those
    remembered while planning; `progress` hears ("verifying", waves replayed, waves ×
    behaviours); `max_states`: one component's state budget."""
    world = world or World.of_baseline(plan.baseline, explorations, max_states)
    claims: list[Claim] = []
    steps, done = len(BEHAVIORS) * len(plan.waves), 0
    # Every behaviour starts the first wave from the same state: split its components once.
    first = _components(plan.waves[0], world) if plan.waves else []
    for behavior in BEHAVIORS:
        state: Mapping[str, Manifest] = world.live
        for wave in plan.waves:
            progress("verifying", done, steps)
            done += 1
            wave_world = replace(world, live=state)
            last = wave is plan.waves[-1]
            parts = first if wave is plan.waves[0] else _components(wave, wave_world)
            suspects = _Suspects.of(plan, wave, behavior)
            runs = _run_wave(wave_world, wave, behavior, seed, parts, suspects, keep_end=not last)
            found = _claims(wave, behavior, runs, suspects)
            if runs.renamed and not all(c.holds for c in found):
                # Counterexamples quote a real schedule: simulate every component.
                alone = [(part, None) for part, _ in parts]
                del runs  # the renamed wave's records go before the real ones are made
                runs = _run_wave(wave_world, wave, behavior, seed, alone, suspects, not last)
                found = _claims(wave, behavior, runs, suspects)
            claims.extend(found)
            if not last:
                ends = [(part.observed[0].written, part.end) for part in runs.parts]
                drawn = [part.pool for part, _ in parts]
                state = end_state(state, _service_writes(wave), ends, world.pools, drawn)
    progress("verifying", steps, steps)
    return VerifyReport(tuple(claims))


def _components(wave: PlannedWave, world: World) -> list[ShapedComponent]:
    return world.parts(_service_writes(wave))


def _service_writes(wave: PlannedWave) -> list[ServiceWrite]:
    """The wave's writes as the simulated cluster takes them."""
    return [ServiceWrite(w.service, w.manifest) for w in wave.writes]


def _run_wave(
    world: World,
    wave: PlannedWave,
    behavior: str,
    seed: int,
    parts: Sequence[ShapedComponent],
    suspects: _Suspects,
    keep_end: bool = True,
) -> _WaveRuns:
    nudges = wave.nudges.get(behavior, ())

    def simulate(part: Component) -> _PartRuns:
        base = world.cluster(part.context, behavior, part.frozen)
        return _simulated(world, base, part.writes, nudges, seed, suspects)

    def renamed(known: _PartRuns, renaming: Renaming, part: Component) -> _PartRuns | None:
        base = world.cluster(part.context, behavior, part.frozen) if keep_end else None
        return known.renamed(renaming, base, part.writes, nudges)

    return _WaveRuns([runs for _, runs in once_per_shape(parts, simulate, renamed)])


def _simulated(
    world: World,
    base: SimulatedCluster,
    writes: Sequence[ServiceWrite],
    nudges: Sequence[str],
    seed: int,
    suspects: _Suspects,
) -> _PartRuns:
    """The component's schedules, each nudged (when it finished) and observed, then let go: at
    most one run's cluster is alive beside the records (a sampled component of 1,000 writes
    holds 30 whole clusters otherwise)."""
    exploration = world.explore(base, writes, seed)
    exhaustive, states, sampled = exploration.exhaustive, exploration.states, exploration.sampled
    runs = one_by_one(exploration.runs)
    del exploration
    written = tuple(svc for svc, _ in writes)
    observed: list[_Observed] = []
    # The end state the next wave starts from: the first schedule that finished, else the first.
    end: dict[str, Manifest] | None = None
    first: tuple[Action, ...] = ()
    for run in runs:
        if run.settled:
            _nudge(run, nudges)
        if not observed or (run.settled and not any(o.finished for o in observed)):
            end, first = dict(run.cluster.store), run.schedule
        observed.append(_Observed.of(run, written, suspects))
    return _PartRuns(observed, exhaustive, end or {}, first, states, sampled)


def _nudge(run: Run, nudges: Sequence[str]) -> None:
    nudge(run.cluster, [s for s in nudges if s in run.cluster.store], _NUDGE_VALUE)


def _claims(
    wave: PlannedWave, behavior: str, result: _WaveRuns, suspects: _Suspects
) -> list[Claim]:
    count = len(result.observed)
    unfinished = result.unfinished
    sampled = result.sampled_parts
    sampled_services = sorted({s for part in sampled for o in part.observed[:1] for s in o.written})

    def claim(statement: str, failure: str) -> Claim:
        if not failure and count and unfinished == count:
            failure = "no schedule finished within the simulation's step cap: nothing is shown"
        return Claim(
            behavior,
            wave.index,
            statement,
            not failure,
            count,
            result.exhaustive,
            failure,
            unfinished,
            result.states,
            result.sampled,
            sum(len(part.observed) for part in sampled),
            tuple(sampled_services),
        )

    predicted = set(suspects.predicted)
    claims = []
    if behavior == Behavior.FIXED:
        claims.append(claim("no Service is ever pending", _pending_outside(result, set())))
    else:
        claims.append(
            claim(
                "pending exactly: " + (", ".join(sorted(predicted)) or "nobody"),
                _pending_outside(result, predicted) or _predicted_unseen(result, predicted),
            )
        )
    if behavior == Behavior.FIXED:
        claims.append(
            claim(
                "every Service of the wave ends at its expected IPs" + _predicted_note(wave),
                _off_target(result, wave, suspects.expected),
            )
        )
    else:
        claims.append(claim("every written Service ends with an IP", _without_ip(result)))
    return claims


def _pending_outside(result: _WaveRuns, allowed: set[str]) -> str:
    """A counterexample where a Service not in `allowed` went pending, or ""."""
    for observed in result.observed:
        bad = sorted(s for s in observed.went_pending if s not in allowed)
        if bad:
            return _counterexample(observed, bad)
    return ""


def _predicted_unseen(result: _WaveRuns, predicted: set[str]) -> str:
    seen = {s for observed in result.observed for s in observed.went_pending}
    missing = sorted(predicted - seen)
    if not missing:
        return ""
    return f"predicted pending but never pending in any schedule: {', '.join(missing)}"


# Services named in a claim whose expected IPs are predictions; the rest are counted.
_NAMED_PREDICTIONS = 5


def _predicted_note(wave: PlannedWave) -> str:
    """Which of the wave's expected IPs are only the model's predictions (apply takes any IP of
    their pools there): what the claim proves of them is the model's, not the cluster's."""
    if not wave.predicted_ips:
        return ""
    named = sorted(wave.predicted_ips)
    shown = ", ".join(named[:_NAMED_PREDICTIONS])
    more = f" and {len(named) - _NAMED_PREDICTIONS} more" if len(named) > _NAMED_PREDICTIONS else ""
    return f" (predicted, not known, for {shown}{more})"


def _without_ip(result: _WaveRuns) -> str:
    """A counterexample where a written, still existing LoadBalancer Service ends without an IP."""
    for observed in result.ended:
        for svc in observed.without_ip:
            return _counterexample(observed, [svc], f"{svc} ends the wave without an IP")
    return ""


def _off_target(
    result: _WaveRuns, wave: PlannedWave, expected: Mapping[str, frozenset[tuple[str, ...]]]
) -> str:
    """A counterexample where a Service of the wave's `expected` IPs ends elsewhere, or ""."""
    for observed in result.ended:
        # Only the Services of the run's own component: the others are not in its cluster.
        for svc in sorted(observed.ips.keys() & expected.keys()):
            if tuple(observed.ips[svc]) not in expected[svc]:
                return _counterexample(
                    observed,
                    [svc],
                    f"{svc} ends at {list(observed.ips[svc])}, expected one of "
                    f"{[list(o) for o in wave.expected_ips[svc]]}",
                )
    return ""


def _counterexample(observed: _Observed, services: Sequence[str], headline: str = "") -> str:
    lines = [headline] if headline else [f"went pending: {', '.join(services)}"]
    witness = observed.witness
    if not observed.simulated or witness is None:
        return "\n".join([*lines, "schedule: (a component renamed from a same-shaped one)"])
    lines.append(witness.schedule)
    for svc in services:
        lines.extend(witness.services[svc])
    return "\n".join(lines)


__all__ = ["SAMPLED_RUNS", "Claim", "VerifyReport", "verify_plan"]
