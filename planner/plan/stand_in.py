"""Expected addresses that are only the model's prediction, and the IPs that may stand for them.

An expected address of a Service that neither requests it nor held it in its live status when
the plan was made is only the model's prediction of MetalLB's choice: a new auto-assigned
Service's, a group's that moves to a free address, and, with live state read from a git ref (no
status at all), every auto-assigned Service's; with no pool known, the stand-in pool's address
(diff/scenario.py). The cluster's allocation may differ (a Service the plan never saw took the
address, another allocator order). The plan records such an address with the pools holding it
(`PlannedWave.predicted_ips`), its table names it so, and `apply` waits for any one IP of those
pools, the same one for the Services of a sharing group predicted on it. `verify` still holds
the model to the address itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from planner.model.pools import Pool, parse_ip, pools_from_objects
from planner.model.service import ServiceInputError, allocation_inputs, ingress_ips
from planner.objects import Manifest
from planner.plan.records import ExpectedIPs, Plan, PlannedWave
from planner.plan.units import Write

# The most predicted addresses of one expected IP list (one per IP family): the ways to fill
# them are tried one by one.
_MAX_FILLED = 4


@dataclass
class Predictions:
    """Wave by wave, the expected addresses that are predictions (`predicted_ips`)."""

    pools: Sequence[Pool]
    live: Mapping[str, Manifest]
    current: dict[str, Manifest | None] = field(default_factory=dict)  # written so far

    def wave(
        self, writes: Iterable[Write], expected: Mapping[str, ExpectedIPs]
    ) -> dict[str, dict[str, tuple[str, ...]]]:
        """Per Service of `expected` (after `writes`): each predicted address and its pools."""
        self.current.update((w.service, w.manifest) for w in writes)
        predicted = {}
        for svc, options in expected.items():
            addresses = {ip for option in options for ip in option} - self._shown(svc)
            if addresses:  # most Services keep the IPs their status shows
                addresses -= self._requested(svc)
            pools = {ip: self._pools_holding(ip) for ip in sorted(addresses)}
            if any(pools.values()):
                predicted[svc] = {ip: names for ip, names in pools.items() if names}
        return predicted

    def _shown(self, svc: str) -> frozenset[str]:
        """The IPs the Service's live status showed when the plan was made."""
        return frozenset(ingress_ips(self.live[svc])) if svc in self.live else frozenset()

    def _requested(self, svc: str) -> frozenset[str]:
        """The IPs the Service requests, as the plan has written it so far."""
        return _requested(self.current[svc] if svc in self.current else self.live.get(svc))

    def _pools_holding(self, address: str) -> tuple[str, ...]:
        ip = parse_ip(address)
        return tuple(sorted(pool.name for pool in self.pools if pool.contains(ip)))


# --- at apply time -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrivals:
    """How a wave's Services stand against its expected IPs: per Service, the IPs shown in
    place of its predicted addresses (None: no expected IP list fits what it shows), and the
    sharing groups predicted on one address that show different IPs there."""

    filled: Mapping[str, Mapping[str, str] | None]
    split: tuple[tuple[str, ...], ...]

    @property
    def waiting(self) -> tuple[str, ...]:
        """The Services not yet at an expected IP list (or apart from their group), sorted."""
        apart = {svc for group in self.split for svc in group}
        return tuple(sorted(s for s, f in self.filled.items() if f is None or s in apart))


@dataclass(frozen=True)
class StandIns:
    """A plan's predicted addresses as apply reads them: the pools by name, and per wave the
    Services of one sharing group predicted on one address (which must show the same IP)."""

    pools: Mapping[str, Pool]
    groups: Mapping[int, tuple[tuple[str, ...], ...]]

    @classmethod
    def of(cls, plan: Plan) -> StandIns:
        if not any(wave.predicted_ips for wave in plan.waves):
            return cls({}, {})
        pools = {pool.name: pool for pool in pools_from_objects(plan.baseline.pools_after)}
        return cls(pools, _shared_predictions(plan))

    def arrivals(self, wave: PlannedWave, shown: Mapping[str, Sequence[str]]) -> Arrivals:
        """Who of the wave's expected Services shows one of its expected IP lists (`shown`:
        the IPs each shows), and which predicted sharing groups show different IPs."""
        filled = {
            svc: _first_fill(shown.get(svc, ()), options, wave.predicted_ips.get(svc, {}), self)
            for svc, options in wave.expected_ips.items()
        }
        split = []
        for group in self.groups.get(wave.index, ()):
            in_place = {frozenset(f.values()) for s in group if (f := filled.get(s)) is not None}
            if len(in_place) > 1:
                split.append(group)
        return Arrivals(filled, tuple(split))

    def contains(self, names: Sequence[str], address: str) -> bool:
        """Whether one of the named pools holds the address."""
        ip = parse_ip(address)
        return any(name in self.pools and self.pools[name].contains(ip) for name in names)


def _first_fill(
    shown: Sequence[str],
    options: ExpectedIPs,
    predicted: Mapping[str, tuple[str, ...]],
    stand_ins: StandIns,
) -> Mapping[str, str] | None:
    for option in options:
        filled = fill(shown, option, predicted, stand_ins)
        if filled is not None:
            return filled
    return None


def fill(
    shown: Sequence[str],
    option: Sequence[str],
    predicted: Mapping[str, tuple[str, ...]],
    stand_ins: StandIns,
) -> dict[str, str] | None:
    """How the shown IPs are the option's (order aside): each exact address shown, each
    predicted one by another IP of one of its pools; None when they are not."""
    if not predicted:  # every address exact (most plans): the same set of IPs
        return {} if set(shown) == set(option) else None
    exact = set(option) - predicted.keys()
    rest = sorted(set(shown) - exact)
    open_addresses = sorted(set(option) & predicted.keys())
    if not exact <= set(shown) or len(rest) != len(open_addresses):
        return None
    if len(rest) > _MAX_FILLED:
        return None
    for chosen in itertools.permutations(rest):
        pairs = list(zip(open_addresses, chosen, strict=True))
        if all(stand_ins.contains(predicted[address], ip) for address, ip in pairs):
            return dict(pairs)
    return None


def _shared_predictions(plan: Plan) -> dict[int, tuple[tuple[str, ...], ...]]:
    """Per wave: the Services of one sharing key the plan predicts on one address (two or more)."""
    current: dict[str, Manifest | None] = dict(plan.baseline.services)
    groups: dict[int, tuple[tuple[str, ...], ...]] = {}
    for wave in plan.waves:
        current.update((w.service, w.manifest) for w in wave.writes)
        holders: dict[tuple[str, str], list[str]] = {}
        for svc, predicted in sorted(wave.predicted_ips.items()):
            key = _sharing_key(current.get(svc))
            for address in predicted if key else ():
                holders.setdefault((key, address), []).append(svc)
        groups[wave.index] = tuple(
            tuple(members) for _, members in sorted(holders.items()) if len(members) > 1
        )
    return groups


def _sharing_key(manifest: Manifest | None) -> str:
    if manifest is None:
        return ""
    try:
        return allocation_inputs(manifest).sharing_key
    except ServiceInputError:
        return ""


def _requested(manifest: Manifest | None) -> frozenset[str]:
    if manifest is None:
        return frozenset()
    try:
        return frozenset(allocation_inputs(manifest).requested_ips)
    except ServiceInputError:
        return frozenset()
