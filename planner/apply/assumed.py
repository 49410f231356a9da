"""What a plan made from a git ref assumes the cluster holds before its first wave.

Read from a git ref, no live Service shows the IPs MetalLB gave it, so the planner takes a
Service that requests IPs to hold them (`planner.plan.build._held`). Where the plan expects such
a Service to keep them, apply checks before its first write that the cluster agrees: a requested
IP that another Service holds, or that MetalLB refused, leaves the Service `<pending>` or
elsewhere, and the plan's waits would never end. The preconditions cannot see it: they
fingerprint spec, labels and annotations, never statuses.
"""

from __future__ import annotations

from collections.abc import Mapping

from planner.model.service import (
    ServiceInputError,
    allocation_inputs,
    ingress_ips,
    is_load_balancer,
)
from planner.objects import Manifest
from planner.plan.records import Plan


def kept_ips(plan: Plan) -> dict[str, tuple[str, ...]]:
    """Service → the IPs a plan made from a git ref assumes it holds and expects it to keep
    (the first wave naming it expects exactly those); {} for any other plan."""
    if not plan.from_git_ref:
        return {}
    kept: dict[str, tuple[str, ...]] = {}
    named: set[str] = set()
    for wave in plan.waves:
        for svc, options in sorted(wave.expected_ips.items()):
            if svc in named:
                continue
            named.add(svc)
            assumed = _assumed(plan.baseline.services.get(svc))
            if assumed and any(set(option) == set(assumed) for option in options):
                kept[svc] = assumed
    return kept


def unheld_ips(plan: Plan, live: Mapping[str, Manifest | None]) -> list[str]:
    """One line per Service of `kept_ips` that the cluster (`live`) shows elsewhere."""
    lines = []
    for svc, ips in kept_ips(plan).items():
        current = live.get(svc)
        expects = f"{svc}: the plan expects it to keep {', '.join(ips)}"
        if current is None:
            lines.append(f"{expects}, and it does not exist")
            continue
        shown = ingress_ips(current)
        if set(shown) != set(ips):
            lines.append(f"{expects}; the cluster shows {', '.join(shown) or '<pending>'}")
    return lines


def _assumed(live: Manifest | None) -> tuple[str, ...]:
    """The IPs the plan took the live Service to hold: its status's, else those it requests."""
    if live is None or not is_load_balancer(live):
        return ()
    shown = ingress_ips(live)
    if shown:
        return shown
    try:
        return allocation_inputs(live).requested_ips
    except ServiceInputError:
        return ()
