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

Bound: a component (writes that can interact, see planner.reduction) of up to
EXHAUSTIVE_MAX_WRITES writes is explored exhaustively: every arrival order, every interleaving
of arrivals with the controller's steps, every order of a reprocess-all pass among ties. A larger
component gets the named adversarial schedules plus SAMPLED_RUNS seeded random ones; the report
says which claims rest on a sample.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from planner.model.controller import BEHAVIORS
from planner.model.service import ingress_ips, is_load_balancer
from planner.model.simcluster import Run
from planner.objects import Manifest
from planner.plan import Plan, PlannedWave
from planner.predict import EXHAUSTIVE_MAX_WRITES, SAMPLED_RUNS, World, explore_writes, nudge
from planner.reduction import components
from planner.units import DELETE


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

    def lines(self) -> list[str]:
        """The report as text: one line per claim, counterexamples indented below."""
        out = []
        for claim in self.claims:
            how = "every schedule" if claim.exhaustive else "sampled schedules"
            mark = (
                "proved"
                if claim.holds and claim.exhaustive
                else "held"
                if claim.holds
                else "FAILED"
            )
            out.append(
                f"{mark:6}  {claim.behavior:12}  wave {claim.wave}: {claim.statement}"
                f"  ({claim.schedules} schedules, {how})"
            )
            if claim.counterexample:
                out.extend(f"          {line}" for line in claim.counterexample.splitlines())
        return out


@dataclass
class _WaveRuns:
    """The runs of one wave under one behaviour, after the plan's nudges."""

    runs: list[tuple[Run, list[str]]]  # each run and the written Services of its component
    exhaustive: bool


def verify_plan(plan: Plan, seed: int = 0, world: World | None = None) -> VerifyReport:
    """Replay the plan under every behaviour and check its claims (see the module docstring)."""
    world = world or World.of_baseline(plan.baseline)
    claims: list[Claim] = []
    for behavior in BEHAVIORS:
        state = dict(world.live)
        for wave in plan.waves:
            runs = _run_wave(replace(world, live=state), wave, behavior, seed)
            claims.extend(_claims(plan, wave, behavior, runs))
            state = _end_state(state, wave, runs)
    return VerifyReport(tuple(claims))


def _run_wave(world: World, wave: PlannedWave, behavior: str, seed: int) -> _WaveRuns:
    writes = [(w.service, w.manifest) for w in wave.writes]
    nudges = wave.nudges.get(behavior, ())
    found: list[tuple[Run, list[str]]] = []
    exhaustive = True
    for part in components(writes, world.live, world.pools):
        base = world.cluster(part.context, behavior, part.frozen)
        exploration = explore_writes(base, part.writes, seed)
        exhaustive = exhaustive and exploration.exhaustive
        for run in exploration.runs:
            nudge(run.cluster, [s for s in nudges if s in run.cluster.store], "verify")
            found.append((run, [svc for svc, _ in part.writes]))
    return _WaveRuns(found, exhaustive)


def _claims(plan: Plan, wave: PlannedWave, behavior: str, result: _WaveRuns) -> list[Claim]:
    count = len(result.runs)

    def claim(statement: str, failure: str) -> Claim:
        return Claim(
            behavior, wave.index, statement, not failure, count, result.exhaustive, failure
        )

    predicted = {
        w.service
        for w in plan.predictions[behavior].windows
        if w.wave == wave.index and w.until != "recreated"
    }
    claims = []
    if behavior == "fixed":
        claims.append(claim("no Service is ever pending", _pending_outside(result, set())))
    else:
        claims.append(
            claim(
                "pending exactly: " + (", ".join(sorted(predicted)) or "nobody"),
                _pending_outside(result, predicted) or _predicted_unseen(result, predicted),
            )
        )
    if behavior == "fixed":
        claims.append(
            claim("every Service of the wave ends at its expected IPs", _off_target(result, wave))
        )
    else:
        claims.append(claim("every written Service ends with an IP", _without_ip(result)))
    return claims


def _pending_outside(result: _WaveRuns, allowed: set[str]) -> str:
    """A counterexample where a Service not in `allowed` went pending, or ""."""
    for run, _ in result.runs:
        bad = sorted(
            s for s in run.cluster.history if run.cluster.went_pending(s) and s not in allowed
        )
        if bad:
            return _counterexample(run, bad)
    return ""


def _predicted_unseen(result: _WaveRuns, predicted: set[str]) -> str:
    seen = {s for run, _ in result.runs for s in run.cluster.history if run.cluster.went_pending(s)}
    missing = sorted(predicted - seen)
    if not missing:
        return ""
    return f"predicted pending but never pending in any schedule: {', '.join(missing)}"


def _without_ip(result: _WaveRuns) -> str:
    """A counterexample where a written, still existing LoadBalancer Service ends without an IP."""
    for run, written in result.runs:
        for svc in written:
            stored = run.cluster.store.get(svc)
            if stored is None or not is_load_balancer(stored) or run.cluster.ips(svc):
                continue
            return _counterexample(run, [svc], f"{svc} ends the wave without an IP")
    return ""


def _off_target(result: _WaveRuns, wave: PlannedWave) -> str:
    """A counterexample where a Service of the wave's expected IPs ends elsewhere, or ""."""
    for run, _ in result.runs:
        for svc, options in sorted(wave.expected_ips.items()):
            if svc not in run.cluster.store:
                continue  # another component's Service
            if tuple(run.cluster.ips(svc)) not in {tuple(o) for o in options}:
                return _counterexample(
                    run,
                    [svc],
                    f"{svc} ends at {list(run.cluster.ips(svc))}, expected one of "
                    f"{[list(o) for o in options]}",
                )
    return ""


def _counterexample(run: Run, services: Sequence[str], headline: str = "") -> str:
    lines = [headline] if headline else [f"went pending: {', '.join(services)}"]
    lines.append(f"schedule: {run.describe()}")
    for svc in services:
        statuses = " -> ".join(
            str(list(ips)) if ips else "<pending>" for ips in run.cluster.statuses(svc)
        )
        lines.append(f"{svc}: {statuses}")
        lines.extend(f"  {w}" for w in run.cluster.warnings(svc)[:3])
    return "\n".join(lines)


def _end_state(
    state: Mapping[str, Manifest], wave: PlannedWave, result: _WaveRuns
) -> dict[str, Manifest]:
    """The cluster after the wave: the first explored schedule, plus writes no component held."""
    end = dict(state)
    covered: set[str] = set()
    seen_components: set[tuple[str, ...]] = set()
    for run, written in result.runs:
        if tuple(written) in seen_components:
            continue
        seen_components.add(tuple(written))
        covered |= set(written)
        end.update({s: run.cluster.store[s] for s in run.cluster.store})
    for write in wave.writes:
        if write.op == DELETE:
            end.pop(write.service, None)
        elif write.service not in covered:
            merged = copy.deepcopy(write.manifest)
            old = state.get(write.service)
            if old is not None and ingress_ips(old):
                merged["status"] = copy.deepcopy(old["status"])
            end[write.service] = merged
    return end


__all__ = ["EXHAUSTIVE_MAX_WRITES", "SAMPLED_RUNS", "Claim", "VerifyReport", "verify_plan"]
