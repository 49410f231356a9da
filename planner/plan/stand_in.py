"""Addresses a plan holds only because no pool is known.

With no IPAddressPool anywhere, a stand-in pool owns every address (diff/scenario.py), so an
auto-assigned Service is planned onto one of its addresses. That address stands for "an IP from
an unknown pool": the plan's table names it so, and `apply` waits for any IP in its place.
"""

from __future__ import annotations

from collections.abc import Sequence

from planner.diff.scenario import UNKNOWN_POOL
from planner.model.service import ServiceInputError, allocation_inputs
from planner.objects import Manifest
from planner.plan.records import Plan


def pools_unknown(plan: Plan) -> bool:
    """Whether no pool was known when planning: the plan's only pool is the stand-in."""
    pools = plan.baseline.pools_before + plan.baseline.pools_after
    return {(p.get("metadata") or {}).get("name") for p in pools} == {UNKNOWN_POOL}


def stand_in_ips(plan: Plan) -> dict[int, dict[str, frozenset[str]]]:
    """By wave index, per Service: its expected addresses that the stand-in pool gave (never one
    the Service requests); empty when a pool is known."""
    if not pools_unknown(plan):
        return {}
    requested = {svc: _requested(m) for svc, m in plan.baseline.services.items()}
    per_wave = {}
    for wave in plan.waves:
        requested.update((w.service, _requested(w.manifest)) for w in wave.writes if w.manifest)
        per_wave[wave.index] = {
            svc: frozenset(ip for option in options for ip in option)
            - requested.get(svc, frozenset())
            for svc, options in wave.expected_ips.items()
        }
    return per_wave


def matches(shown: Sequence[str], option: Sequence[str], stand_ins: frozenset[str]) -> bool:
    """The shown IPs are the option's, where each stand-in address may be any one IP."""
    fixed = set(option) - stand_ins
    rest = set(shown) - fixed
    return fixed <= set(shown) and len(rest) == len(set(option) & stand_ins)


def _requested(manifest: Manifest | None) -> frozenset[str]:
    if manifest is None:
        return frozenset()
    try:
        return frozenset(allocation_inputs(manifest).requested_ips)
    except ServiceInputError:
        return frozenset()
