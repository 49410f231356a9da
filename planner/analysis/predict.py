"""What each MetalLB behaviour does when the commit is applied naively, as a GitOps tool does:
every Service write of the commit reaching the controller in every order and timing the model
allows (every reachable state within the state budget, sampled with a seed beyond it; see
planner.simulate.world).

The writes carry the group-wide annotations (as `planner annotate`, the Argo CD plugin or the Flux
hook stamp them); stock MetalLB ignores them, the fixed allocator honours them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from planner.analysis.records import Prediction, ServiceFate
from planner.diff.scenario import Scenario
from planner.model.controller import BEHAVIORS
from planner.model.simcluster import Run
from planner.progress import Progress, no_progress
from planner.simulate.reduction import Component, ShapedComponent, once_per_shape
from planner.simulate.world import DEFAULT_MAX_STATES, World, explore_writes

if TYPE_CHECKING:  # imported only where a shape is computed (World.shape)
    from planner.simulate.symmetry import Renaming


def predict(
    scenario: Scenario,
    behaviors: Sequence[str] = BEHAVIORS,
    seed: int = 0,
    *,
    progress: Progress = no_progress,
    max_states: int = DEFAULT_MAX_STATES,
) -> dict[str, Prediction]:
    """Per behaviour: who goes pending, who stays stuck, who changes IP, and MetalLB's reason.
    `progress` hears ("exploring", behaviours done, behaviours); `max_states` is one
    component's state budget."""
    world = World.of(scenario, max_states=max_states)
    parts = world.parts(scenario.naive_writes(stamped=True))
    predictions = {}
    for done, behavior in enumerate(behaviors):
        progress("exploring", done, len(behaviors))
        predictions[behavior] = _predict_behavior(world, parts, behavior, seed)
    progress("exploring", len(behaviors), len(behaviors))
    return predictions


def _predict_behavior(
    world: World, parts: Sequence[ShapedComponent], behavior: str, seed: int
) -> Prediction:
    def simulate(part: Component) -> _Simulated:
        base = world.cluster(part.context, behavior, part.frozen)
        exploration = explore_writes(base, part.writes, seed, max_states=world.max_states)
        fates = fates_of(exploration.runs, exploration.warnings)
        if not exploration.exhaustive:
            fates = [replace(fate, sampled=True) for fate in fates]
        return _Simulated(
            fates,
            len(exploration.runs),
            exploration.exhaustive,
            exploration.unfinished,
            exploration.states,
            exploration.sampled,
        )

    found = [o for _, o in once_per_shape(parts, simulate, lambda o, r, _: o.renamed(r))]
    fates = sorted((f for o in found for f in o.fates), key=lambda f: f.service)
    explored = sum(o.runs for o in found)
    unfinished = sum(o.unfinished for o in found)
    sampled = [o for o in found if not o.exhaustive]
    return Prediction(
        behavior,
        tuple(fates),
        explored,
        not sampled,
        unfinished,
        sum(o.states for o in found if o.exhaustive),
        "; ".join(dict.fromkeys(o.sampled for o in sampled if o.sampled)),
        sum(o.runs for o in sampled),
        len(sampled),
    )


@dataclass(frozen=True)
class _Simulated:
    """What the runs of one component showed."""

    fates: list[ServiceFate]
    runs: int
    exhaustive: bool
    unfinished: int = 0
    states: int = 0
    sampled: str = ""

    def renamed(self, renaming: Renaming) -> _Simulated | None:
        """The same outcome for a component of the same shape (None: a message cannot be)."""
        fates = []
        for fate in self.fates:
            service, reason = renaming.text(fate.service), renaming.text(fate.reason)
            if service is None or reason is None:
                return None
            fates.append(replace(fate, service=service, reason=reason))
        return replace(self, fates=fates)


def fates_of(
    runs: Sequence[Run], warnings: Mapping[str, Sequence[str]] | None = None
) -> list[ServiceFate]:
    """Per Service that anything happened to: pending / stuck / IP changed in some run (or all).

    Pending: without an IP at some point after the commit's writes began, having lost it or
    never got it; stuck: still pending at the end of the run (so stuck implies pending), and
    what re-processes it then (`stuck_until`); never settles: MetalLB flips it for ever.

    A run that did not finish (it hit its step cap) has no end: it shows who went pending on
    the way, never who is stuck or changed IP, and never that something happens in every run.
    `warnings`: every warning the exploration saw per Service, for a reason no run shows.
    """
    services = sorted({svc for run in runs for svc in run.cluster.history})
    ended = [run for run in runs if run.settled]
    fates = []
    for svc in services:
        went = {id(run) for run in runs if run.cluster.went_pending(svc)}
        stuck = [run.cluster.stuck_at_end(svc) for run in ended]
        # Stuck is pending that lasts to the end (docs/glossary.md): a new Service that never
        # gets an IP is pending too, though it never lost one.
        pending = [id(run) in went or end for run, end in zip(ended, stuck, strict=True)]
        changed = [run.cluster.changed_ip(svc) for run in ended]
        if went and not any(pending):
            pending.append(True)  # only an unfinished run showed it: it did happen
        flips = next((c for c in (run.cluster.flapping.get(svc, "") for run in runs) if c), "")
        if not any(pending) and not any(stuck) and not any(changed) and not flips:
            continue
        # stuck_until is "" for a run where it is not stuck: ask only those (it costs a pool scan).
        asked = (run.cluster.stuck_until(svc) for run, end in zip(ended, stuck, strict=True) if end)
        until = next((w for w in asked if w), "")
        fates.append(
            ServiceFate(
                service=svc,
                pending=any(pending),
                stuck=any(stuck),
                ip_changed=any(changed),
                reason=_reason(runs, svc) or pending_reason((warnings or {}).get(svc, ())),
                always=_always(pending, changed, [svc in run.cluster.flapping for run in runs])
                and len(ended) == len(runs),
                stuck_until=until,
                never_settles=flips,
            )
        )
    return fates


def _always(pending: list[bool], changed: list[bool], flips: list[bool]) -> bool:
    """In every run: pending when it ever is, else IP changed, else never settling."""
    if any(pending):
        return all(pending)
    return all(changed) if any(changed) else all(flips)


def _reason(runs: Sequence[Run], svc: str) -> str:
    for run in runs:
        reason = pending_reason(run.cluster.warnings(svc))
        if reason:
            return reason
    return ""


# Warnings the controller raises on a Service that still gets its IP: never why it has none.
ADVISORY_WARNINGS = ("deprecatedAnnotation",)


def pending_reason(warnings: Iterable[str]) -> str:
    """Why a Service lost or did not get its IP: the first warning that says so ("" if none).

    `warnings` are "Reason: message" texts in order; advisory ones (a deprecated annotation)
    never explain a pending Service, however early they came.
    """
    return next((w for w in warnings if not w.startswith(_ADVISORY_PREFIXES)), "")


_ADVISORY_PREFIXES = tuple(f"{reason}:" for reason in ADVISORY_WARNINGS)
