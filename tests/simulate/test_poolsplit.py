"""Auto-assigned groups drawing from one pool, explored apart where the split is exact
(docs/plan.md, "Auto-assigned groups in one pool"): on random small pool components, the
composite's exhaustive exploration and the split explorations give the same claims, and the
wave's end state built from the split ends is an end state of the composite."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from planner.model.controller import BEHAVIORS, Behavior
from planner.model.group_annotations import stamp_group_annotations
from planner.model.pools import pools_from_objects
from planner.model.service import ingress_ips
from planner.model.simcluster import ServiceWrite
from planner.objects import Manifest, svc_key_of
from planner.pipeline import plan_scenario
from planner.plan.verify import verify_plan
from planner.simulate import poolsplit
from planner.simulate.reduction import Component, components
from planner.simulate.states import StateExploration, explore_states
from planner.simulate.world import World, end_state
from tests.plan.test_build import ip_pool, running, scenario_of, service
from tests.simulate.test_symmetry import everything

AMPLE = ip_pool("lan", "10.0.0.0/28")  # 16 addresses: more than any draw's writes
TIGHT = ip_pool("lan", "10.0.0.0/30")  # 4 addresses: 2 or 3 held, 1 or 2 free
SLASH24 = ip_pool("lan", "10.0.0.0/24")  # test_symmetry's POOL
THREE = ip_pool("lan", "10.0.0.0-10.0.0.2")  # two groups hold two: one address free
CHANGES = ("all", "all", "some", "none")  # every member switches to Local, the first only, nobody


@dataclass(frozen=True)
class GroupSpec:
    """One auto-assigned group: its size, its sharing key and which members change their key."""

    index: int
    size: int
    share: str
    change: str

    def manifests(self, desired: bool) -> list[Manifest]:
        return [
            service(
                f"g{self.index}m{member}",
                port=80 + member,
                share=self.share,
                app=f"g{self.index}",
                local=desired and self._changes(member),
            )
            for member in range(self.size)
        ]

    def _changes(self, member: int) -> bool:
        return self.change == "all" or (self.change == "some" and member == 0)


@st.composite
def pool_components(draw: st.DrawFn) -> tuple[Manifest, list[GroupSpec], bool]:
    """A pool (ample or tight), 2-3 auto-assigned groups of 1-3 members, at most 4 in all, and
    whether the pool's first address is a hole below the groups' (its holder was deleted)."""
    count = draw(st.integers(2, 3))
    sizes = [draw(st.integers(1, 3)) for _ in range(count)]
    assume(sum(sizes) <= 4)
    equal_keys = draw(st.integers(0, 3)) == 0
    groups = []
    for index, size in enumerate(sizes):
        share = "k0" if equal_keys else f"k{index}"
        if size == 1 and draw(st.booleans()):
            share = ""  # a Service alone, sharing with nobody
        groups.append(GroupSpec(index, size, share, draw(st.sampled_from(CHANGES))))
    assume(any(g.change != "none" for g in groups))
    return draw(st.sampled_from([AMPLE, AMPLE, AMPLE, TIGHT])), groups, draw(st.integers(0, 3)) == 0


def _scenario(
    pool: Manifest, groups: list[GroupSpec], hole: bool = False
) -> tuple[dict[str, Manifest], list[ServiceWrite]]:
    """The live Services (settled in group order) and the writes of every moving group's members
    (each member written: the group-wide digest changes)."""
    before = stamp_group_annotations([m for g in groups for m in g.manifests(desired=False)])
    first = [service("hole", port=99)] if hole else []
    live = {svc_key_of(m): m for m in running(first + before, [pool])}
    live.pop("apps/hole", None)
    after = stamp_group_annotations([m for g in groups for m in g.manifests(desired=True)])
    moving = {f"g{g.index}" for g in groups if g.change != "none"}
    writes = [
        ServiceWrite(svc_key_of(m), m)
        for m in after
        if m["metadata"]["name"].split("m")[0] in moving
    ]
    return live, writes


def _facts(found: StateExploration, own: Mapping[str, set[str]], exact: bool) -> tuple[Any, ...]:
    """What verify and diff read of an exploration; an address a Service's part did not hold
    before is "fresh" unless `exact` (which keyless address a group gets depends on the other
    groups' order, and a part explored apart does not hold the others' addresses)."""

    def named(svc: str, ips: tuple[str, ...]) -> tuple[str, ...]:
        return ips if exact else tuple(ip if ip in own[svc] else "fresh" for ip in ips)

    return (
        found.pending,
        found.always_pending,
        found.stuck,
        found.changed,
        {svc: frozenset(named(svc, i) for i in ips) for svc, ips in found.final_ips.items()},
        found.warnings,
    )


def _merged(facts: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    sets = [frozenset().union(*(f[i] for f in facts)) for i in range(4)]
    dicts = [{k: v for f in facts for k, v in f[i].items()} for i in (4, 5)]
    return (*sets, *dicts)


def _own_addresses(live: Mapping[str, Manifest], parts: list[Component]) -> dict[str, set[str]]:
    """Per live Service: the addresses its part's Services held before (its own, when frozen)."""
    own = {svc: set(ingress_ips(m)) for svc, m in live.items()}
    for part in parts:
        held = {ip for svc in part.context for ip in ingress_ips(live[svc])}
        own.update(dict.fromkeys(part.context, held))
    return own


def _explored(world: World, part: Component, behavior: str) -> StateExploration:
    return explore_states(world.cluster(part.context, behavior, part.frozen), part.writes)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=pool_components(), behavior=st.sampled_from(BEHAVIORS))
def test_split_pool_components_give_the_composites_claims(
    drawn: tuple[Manifest, list[GroupSpec], bool], behavior: str
) -> None:
    pool, groups, hole = drawn
    live, writes = _scenario(pool, groups, hole)
    pools = pools_from_objects([pool])
    world = World(live, pools, pools)
    parts = components(writes, live, pools)
    joined = components(writes, live, pools, split_pools=False)
    event(f"{len(joined)} component(s) split into {len(parts)}")
    found = [_explored(world, part, behavior) for part in joined]
    assume(all(f.complete and f.diverging == 0 for f in found))
    split = [_explored(world, part, behavior) for part in parts]
    assert all(f.complete and f.diverging == 0 for f in split)
    own = _own_addresses(live, parts)
    exact = behavior == Behavior.FIXED
    assert _merged([_facts(f, own, exact) for f in split]) == _merged(
        [_facts(f, own, exact) for f in found]
    )
    # The wave's end state from each part's first end is an end state of the composite.
    ends = [
        ([svc for svc, _ in part.writes], dict(f.terminals[0].cluster.store))
        for part, f in zip(parts, split, strict=True)
    ]
    combined = end_state(live, writes, ends, pools, [part.pool for part in parts])
    for f in found:  # each composite component is independent of the others
        assert any(
            all(t.cluster.ips(svc) == ingress_ips(combined[svc]) for svc in t.cluster.store)
            for t in f.terminals
        )


def _claims_apart_and_together(
    pool: Manifest, groups: list[GroupSpec], behavior: str
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The claims of the pieces forced apart (the condition not asked), and of the composite."""
    live, writes = _scenario(pool, groups)
    pools = pools_from_objects([pool])
    world = World(live, pools, pools)
    (joined,) = components(writes, live, pools, split_pools=False)
    with mock.patch.object(poolsplit, "exact_split", lambda *_: True):
        parts = components(writes, live, pools)
    assert len(parts) == len(groups)
    own = _own_addresses(live, parts)
    apart = _merged([_facts(_explored(world, p, behavior), own, False) for p in parts])
    return apart, _merged([_facts(_explored(world, joined, behavior), own, False)])


def test_a_pool_with_too_few_keyless_addresses_is_not_split() -> None:
    """Apart, each group finds the pool's last address free; together, one of them does not,
    and its member goes pending."""
    groups = [GroupSpec(0, 2, "k0", "all"), GroupSpec(1, 2, "k1", "all")]
    live, writes = _scenario(THREE, groups)
    assert len(components(writes, live, pools_from_objects([THREE]))) == 1
    apart, together = _claims_apart_and_together(THREE, groups, "metallb-0.15")
    assert apart[0] == frozenset() != together[0]  # pending


def test_groups_with_one_sharing_key_are_not_split_they_may_share_an_address() -> None:
    """Apart, the groups' new addresses are their own; together, one sharing key lets them meet
    on one address (or be refused on it)."""
    groups = [
        GroupSpec(0, 1, "", "all"),
        GroupSpec(1, 2, "k0", "all"),
        GroupSpec(2, 1, "k0", "all"),
    ]
    live, writes = _scenario(AMPLE, groups)
    assert len(components(writes, live, pools_from_objects([AMPLE]))) == 1
    apart, together = _claims_apart_and_together(AMPLE, groups, "fixed")
    assert apart != together


def _teams(count: int) -> tuple[list[Manifest], list[Manifest]]:
    """Desired and live: three Services sharing nothing on the pool's first addresses, then
    `count` auto-assigned two-member groups, each changing its key."""
    pads = [service(f"pad{i}", port=99) for i in range(3)]
    live = pads + [
        m for g in range(count) for m in GroupSpec(g, 2, f"k{g}", "all").manifests(False)
    ]
    desired = pads + [
        m for g in range(count) for m in GroupSpec(g, 2, f"k{g}", "all").manifests(True)
    ]
    return desired, running(live, [SLASH24])


def test_pieces_of_one_pool_share_a_shape_and_their_renamed_outcomes_are_simulated_ones() -> None:
    desired, live = _teams(4)
    scenario = scenario_of(desired, live, [SLASH24])
    world = World.of(scenario)
    parts = world.parts(scenario.naive_writes(stamped=True))
    assert [part.pool for part, _ in parts] == ["lan"] * 4
    signatures = {shape.signature for _, shape in parts if shape is not None}
    assert len(signatures) == 1 and all(shape is not None for _, shape in parts)
    assert everything(desired, live, symmetric=True) == everything(desired, live, symmetric=False)


def test_a_piece_whose_address_a_piece_may_take_has_no_shape() -> None:
    """Without the pads the first group holds the pool's first address, which another piece
    takes first: which keyless addresses a piece takes then depends on its own address."""
    groups = [GroupSpec(g, 2, f"k{g}", "all") for g in range(3)]
    live = running([m for g in groups for m in g.manifests(False)], [SLASH24])
    desired = [m for g in groups for m in g.manifests(True)]
    scenario = scenario_of(desired, live, [SLASH24])
    parts = World.of(scenario).parts(scenario.naive_writes(stamped=True))
    assert [part.pool for part, _ in parts] == ["lan"] * 3
    assert [shape is None for _, shape in parts] == [True, True, False]


def test_a_plan_of_pieces_is_proved() -> None:
    desired, live = _teams(3)
    plan = plan_scenario(scenario_of(desired, live, [SLASH24]))
    report = verify_plan(plan)
    assert report.ok and all(claim.exhaustive for claim in report.claims)
    # The plan file carries the pool's other holders: they decide the split and the addresses.
    assert {f"apps/pad{i}" for i in range(3)} <= set(plan.baseline.services)
