"""Sync waves for `planner argocd generate`: each Service's plan level, placed after the waves
the user gave (planner waves never jump over a wave another object uses).

    >>> levels = plan_levels(desired, pools)  # doctest: +SKIP
    >>> waves = place_waves(objects, levels)  # doctest: +SKIP
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from planner.diff.scenario import build_scenario
from planner.errors import InputError
from planner.gitops.argocd.context import GenerateOptions
from planner.model.controller import Behavior
from planner.model.pools import Pool
from planner.model.service import AllocationInputs, allocation_inputs
from planner.objects import KubeObject, Manifest
from planner.plan.build import build_plan
from planner.plan.graph import order_units
from planner.plan.units import APPLY, AutoCandidates, UnitInputs, Write, draft_units
from planner.sources.states import DesiredState, LiveState

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
HOOK = "argocd.argoproj.io/hook"

_WAVE = re.compile(r"^\s*[-+]?[0-9]+\s*$")


def user_wave(obj: KubeObject) -> int:
    """The object's own `argocd.argoproj.io/sync-wave` (0 when unset); InputError when not an int."""
    value = annotations_of(obj.body).get(SYNC_WAVE)
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _WAVE.match(value):
        return int(value)
    raise InputError(
        f"the {SYNC_WAVE} annotation of {obj.key} must be an integer, not {value!r}", obj.origin
    )


def is_sync_phase(obj: KubeObject) -> bool:
    """Whether the object is applied in the Sync phase (no hook, or a Sync hook)."""
    hook = annotations_of(obj.body).get(HOOK)
    return hook is None or str(hook).strip() == "Sync"


def plan_levels(desired: Mapping[str, Manifest], pools: list[Pool]) -> dict[str, int]:
    """svc_key → its 0-based plan wave from the desired Services (stamped) alone: every Service
    is planned as a creation, so the only order visible is requested IPs before auto-assignment
    (releases need the live state)."""
    data = UnitInputs(
        live={},
        desired=desired,
        writes={svc: Write(svc, APPLY, manifest) for svc, manifest in desired.items()},
        pool_of=_pool_of(pools),
        auto_candidates=_auto_candidates(desired, pools),
    )
    ordered = order_units(draft_units(data))
    return {
        svc: i for i, wave in enumerate(ordered.waves) for unit in wave for svc in unit.services
    }


@dataclass(frozen=True)
class LivePlan:
    """What the plan against live state says: each written Service's 0-based wave (the first
    wave that writes it) and the Services stock v0.14 may leave pending until nudged."""

    levels: dict[str, int]
    stuck_014: frozenset[str]


def live_plan(
    placed: list[KubeObject],
    live: LiveState,
    options: GenerateOptions,
    context_pools: Sequence[KubeObject] = (),
) -> LivePlan:
    """The full plan (planner.plan.build) of the rendered objects (Services in the namespaces
    Argo CD applies them to) against the live state, for the options' target behaviour and
    MetalLB --lb-class; `context_pools` are pools kept elsewhere (the `pools` parameter, the
    repository), as `planner diff` reads them."""
    desired = DesiredState(placed, context_pools=list(context_pools))
    scenario = build_scenario(desired, live, lb_class=options.lb_class)
    # Sync waves carry the repo's final objects only: a detour's interim write cannot be one.
    plan = build_plan(scenario, target=options.target_behavior, detours=False)
    levels: dict[str, int] = {}
    stuck: set[str] = set()
    for wave in plan.waves:
        for write in wave.writes:
            levels.setdefault(write.service, wave.index - 1)
        stuck |= set(wave.nudges.get(Behavior.METALLB_0_14, ()))
    return LivePlan(levels, frozenset(stuck))


def _pool_of(pools: list[Pool]) -> Callable[[str], str]:
    def pool_of(ip: str) -> str:
        address = ipaddress.ip_address(ip)
        return next((pool.name for pool in pools if pool.contains(address)), "")

    return pool_of


def _auto_candidates(desired: Mapping[str, Manifest], pools: list[Pool]) -> AutoCandidates:
    """IPs an auto-assigned Service could take: IPs others request in the pools it may use, and
    the first free address of each. Without pools in the app, any IP another Service requests."""
    requested = _requested_ips(desired)

    def candidates(
        _manifest: Manifest, inputs: AllocationInputs, inside: frozenset[str]
    ) -> tuple[frozenset[str], frozenset[str]]:
        taken = {ip for ip, svcs in requested.items() if svcs - inside}
        usable = [pool for pool in pools if _may_use(pool, inputs)]
        if not pools:
            return frozenset(taken), frozenset()
        ips = {ip for ip in taken if _pool_of(usable)(ip)}
        ips |= {ip for pool in usable for ip in _first_free(pool, taken)}
        return frozenset(ips), frozenset(pool.name for pool in usable)

    return candidates


def _requested_ips(desired: Mapping[str, Manifest]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for svc, manifest in desired.items():
        for ip in allocation_inputs(manifest).requested_ips:
            found.setdefault(ip, set()).add(svc)
    return found


def _may_use(pool: Pool, inputs: AllocationInputs) -> bool:
    """A superset of the pools MetalLB may pick for the Service (selectors are not evaluated)."""
    if inputs.requested_pool:
        return pool.name == inputs.requested_pool
    return pool.auto_assign


def _first_free(pool: Pool, taken: set[str]) -> list[str]:
    """The first address of the pool nobody requests or holds, as a one-element list (or [])."""
    for network in pool.networks:
        for count, address in enumerate(network):
            if count > len(taken) + 2:
                break
            if pool.owns_address(network.version, int(address)) and str(address) not in taken:
                return [str(address)]
    return []


def place_waves(objects: list[KubeObject], levels: Mapping[str, int]) -> dict[str, int]:
    """svc_key → sync wave: a Service with its own wave w and plan level p (ranked among the
    levels used at w) goes to w + rank; InputError when a wave some other object uses is in the way.
    """
    services = {o.key.svc_key: o for o in objects if o.is_service and is_sync_phase(o)}
    base = {svc: user_wave(obj) for svc, obj in services.items()}
    ranks = _ranks(base, levels)
    fixed = sorted({user_wave(o) for o in objects if is_sync_phase(o)})
    placed: dict[str, int] = {}
    for svc in sorted(services):
        rank = ranks.get(svc, 0)
        if rank:
            _check_room(base[svc], rank, fixed, services[svc], objects)
        placed[svc] = base[svc] + rank
    return placed


def _ranks(base: Mapping[str, int], levels: Mapping[str, int]) -> dict[str, int]:
    """Each Service's level ranked among the levels used by the Services of its own wave."""
    used: dict[int, set[int]] = {}
    for svc, wave in base.items():
        used.setdefault(wave, set()).add(levels.get(svc, 0))
    order = {wave: {level: i for i, level in enumerate(sorted(ls))} for wave, ls in used.items()}
    return {svc: order[wave][levels.get(svc, 0)] for svc, wave in base.items()}


def _check_room(
    wave: int, rank: int, fixed: list[int], obj: KubeObject, objects: list[KubeObject]
) -> None:
    blocking = next((w for w in fixed if wave < w <= wave + rank), None)
    if blocking is None:
        return
    holder = next(o for o in objects if is_sync_phase(o) and user_wave(o) == blocking)
    raise InputError(
        f"{obj.key} must follow other Services of sync wave {wave} (plan wave {rank + 1}), "
        f"but wave {blocking} is already used by {holder.key}; leave {rank} unused sync "
        f"wave(s) after {wave} for the planner",
        obj.origin,
    )


def check_group_waves(
    groups: Iterable[tuple[str, tuple[str, ...]]], waves: Mapping[str, int]
) -> None:
    """InputError when the members of one sharing group would land in different sync waves."""
    for group_id, members in groups:
        found = sorted({waves[m] for m in members if m in waves})
        if len(found) > 1:
            raise InputError(
                f"the members of sharing group {group_id} ({', '.join(members)}) carry different "
                f"sync waves ({', '.join(map(str, found))}); a group must move in one wave"
            )


def annotations_of(body: Manifest) -> dict[str, Any]:
    """The object's annotations ({} when missing or not a mapping)."""
    annotations = (body.get("metadata") or {}).get("annotations")
    return annotations if isinstance(annotations, dict) else {}
