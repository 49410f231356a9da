"""What a plan assumes the cluster holds before its first wave.

A Service the plan expects to keep its IPs must still show them when apply starts. The
preconditions cannot see it: they fingerprint spec, labels and annotations, never statuses.
- Made against live statuses (kubectl, a snapshot file): the IPs its status showed then. A plan
  applied later may find MetalLB moved a Service or left it `<pending>` meanwhile (a pool
  changed, another Service took the IP), and its waves were ordered for a cluster that is gone.
- Made from a git ref: no live Service shows the IPs MetalLB gave it, so the planner takes a
  Service that requests IPs to hold them (`planner.plan.build._held`): a requested IP that
  another Service holds, or that MetalLB refused, leaves the Service elsewhere, and the plan's
  waits would never end.
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
    """Service → the IPs the plan assumes it holds and expects it to keep (the first wave naming
    it expects exactly those)."""
    kept: dict[str, tuple[str, ...]] = {}
    named: set[str] = set()
    for wave in plan.waves:
        for svc, options in sorted(wave.expected_ips.items()):
            if svc in named:
                continue
            named.add(svc)
            assumed = _assumed(plan.baseline.services.get(svc), plan.from_git_ref)
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


def _assumed(live: Manifest | None, from_git_ref: bool) -> tuple[str, ...]:
    """The IPs the plan took the live Service to hold: its status's, else (from a git ref, where
    there is no status) those it requests."""
    if live is None or not is_load_balancer(live):
        return ()
    shown = ingress_ips(live)
    if shown or not from_git_ref:
        return shown
    try:
        return allocation_inputs(live).requested_ips
    except ServiceInputError:
        return ()
