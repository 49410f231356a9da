"""Ordering of units: the "waits for" rules, merged cycles, waves, content-hash ids."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from unittest import mock

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.plan.graph import (
    GROUP_TRANSITION,
    SERVICE,
    Resource,
    Unit,
    canonical_json,
    merge_units,
    order_units,
    unit_id,
    waits_for_edges,
)

IP_A, IP_B = "10.0.0.1", "10.0.0.2"


def unit(name: str, **fields: object) -> Unit:
    """A one-Service unit whose content is its name (so its id is stable per name)."""
    return Unit(kind=SERVICE, services=(f"apps/{name}",), content=name, **fields)  # type: ignore[arg-type]


def waves_of(units: list[Unit]) -> list[list[tuple[str, ...]]]:
    return [[u.services for u in wave] for wave in order_units(units).waves]


def wave_sets(units: list[Unit]) -> list[set[tuple[str, ...]]]:
    return [set(wave) for wave in waves_of(units)]


def test_an_ip_is_released_before_it_is_claimed() -> None:
    freeing = unit("old", releases=frozenset({Resource("ip", IP_A)}), release_only=True)
    taking = unit("new", claims=frozenset({Resource("ip", IP_A)}))
    ordered = order_units([taking, freeing])
    assert [[u.services for u in w] for w in ordered.waves] == [[("apps/old",)], [("apps/new",)]]
    (edge,) = ordered.edges
    assert (edge.before, edge.after) == (freeing.id, taking.id)
    assert edge.reasons == (f"releases IP {IP_A}, which it claims",)
    assert ordered.waits_for(taking.id) == (freeing.id,)


def test_a_port_on_a_shared_ip_is_released_before_it_is_claimed() -> None:
    port = Resource("port", IP_A, "TCP/443")
    first = unit("a", releases=frozenset({port}), claims=frozenset({Resource("ip", IP_B)}))
    second = unit("b", claims=frozenset({port}))
    ordered = order_units([first, second])
    assert ordered.edges[0].reasons == (f"releases TCP/443 on {IP_A}, which it claims",)
    assert waves_of([first, second]) == [[("apps/a",)], [("apps/b",)]]


def test_a_slot_in_a_full_pool_is_freed_before_it_is_used() -> None:
    slot = Resource("pool-slot", "lan")
    freeing = unit("a", releases=frozenset({slot}), claims=frozenset({Resource("ip", IP_B)}))
    using = unit("b", claims=frozenset({slot}))
    assert order_units([using, freeing]).edges[0].reasons == (
        "frees a slot in pool lan, which it needs (the pool is full)",
    )


def test_a_requested_ip_is_claimed_before_an_auto_assigned_creation_could_take_it() -> None:
    pinned = unit("pinned", claims=frozenset({Resource("ip", IP_A)}), requested_claims={IP_A})
    auto = unit("auto", could_take=frozenset({IP_A, IP_B}))
    assert waves_of([auto, pinned]) == [[("apps/pinned",)], [("apps/auto",)]]


def test_deletions_and_type_changes_away_from_load_balancer_go_first_in_their_pool() -> None:
    leaving = unit("leaving", release_only=True, pools_touched=frozenset({"lan"}))
    other_pool = unit("far", release_only=True, pools_touched=frozenset({"dmz"}))
    creating = unit("new", could_take=frozenset({IP_B}), pools_touched=frozenset({"lan"}))
    assert wave_sets([creating, leaving, other_pool]) == [
        {("apps/far",), ("apps/leaving",)},
        {("apps/new",)},
    ]
    ordered = order_units([creating, leaving, other_pool])
    assert ordered.waits_for(creating.id) == (leaving.id,)


def test_units_without_order_between_them_share_a_wave_sorted_by_id() -> None:
    units = [
        unit(name, claims=frozenset({Resource("ip", f"10.0.1.{i}")}))
        for i, name in enumerate(["c", "a", "b"])
    ]
    (wave,) = order_units(units).waves
    assert [u.id for u in wave] == sorted(u.id for u in units)


def test_a_cycle_is_merged_into_one_group_transition() -> None:
    blue = unit(
        "blue",
        releases=frozenset({Resource("ip", IP_A)}),
        claims=frozenset({Resource("ip", IP_B)}),
        requested_claims=frozenset({IP_B}),
    )
    green = unit(
        "green",
        releases=frozenset({Resource("ip", IP_B)}),
        claims=frozenset({Resource("ip", IP_A)}),
        requested_claims=frozenset({IP_A}),
    )
    ordered = order_units([blue, green])
    ((merged,),) = ordered.waves
    assert merged.kind == GROUP_TRANSITION
    assert merged.services == ("apps/blue", "apps/green")
    assert merged.members == ("apps/blue", "apps/green")
    assert merged.claims == {Resource("ip", IP_A), Resource("ip", IP_B)}
    assert ordered.merged_cycles == (("apps/blue", "apps/green"),)
    assert ordered.edges == ()


def test_a_merged_cycle_keeps_its_order_against_other_units() -> None:
    a = unit(
        "a", releases=frozenset({Resource("ip", IP_A)}), claims=frozenset({Resource("ip", IP_B)})
    )
    b = unit(
        "b", releases=frozenset({Resource("ip", IP_B)}), claims=frozenset({Resource("ip", IP_A)})
    )
    freeing = unit("z", releases=frozenset({Resource("pool-slot", "lan")}), release_only=True)
    later = unit("late", claims=frozenset({Resource("pool-slot", "lan")}))
    assert wave_sets([a, b, freeing, later]) == [
        {("apps/a", "apps/b"), ("apps/z",)},
        {("apps/late",)},
    ]


def test_merge_units_unions_what_the_units_free_and_take() -> None:
    a = unit("a", releases=frozenset({Resource("ip", IP_A)}), pools_touched=frozenset({"lan"}))
    b = unit("b", could_take=frozenset({IP_B}), release_only=False)
    merged = merge_units([b, a])
    assert merged.services == ("apps/a", "apps/b")
    assert merged.content == "a\nb"
    assert merged.releases == {Resource("ip", IP_A)}
    assert merged.could_take == {IP_B}
    assert merged.pools_touched == {"lan"}
    assert not merged.release_only


def test_unit_ids_are_content_hashes() -> None:
    first = unit("a")
    assert re.fullmatch(r"u-[0-9a-f]{12}", first.id)
    assert first.id == unit("a", claims=frozenset({Resource("ip", IP_A)})).id
    assert first.id != unit("b").id
    assert first.id != Unit(GROUP_TRANSITION, ("apps/a",), "a").id


def test_a_unit_id_is_hashed_once_and_a_replaced_unit_has_its_own() -> None:
    """The id is kept once made (a plan reads it about ten times per unit); `replace` makes a
    new unit whose id is its own content's, and equal units stay equal whether read or not."""
    first = unit("a")
    with mock.patch("planner.plan.graph.unit_id", wraps=unit_id) as hashed:
        assert first.id == first.id
    assert hashed.call_count == 1
    assert first.id == unit_id(SERVICE, "a")
    changed = replace(first, content="b")
    assert changed.id == unit("b").id != first.id
    assert first == unit("a") and hash(first) == hash(unit("a"))


def test_the_order_of_the_input_changes_nothing() -> None:
    units = [
        unit("old", releases=frozenset({Resource("ip", IP_A)}), release_only=True),
        unit("new", claims=frozenset({Resource("ip", IP_A)})),
        unit("x", claims=frozenset({Resource("ip", "10.0.2.1")})),
        unit("y", claims=frozenset({Resource("ip", "10.0.2.2")})),
    ]
    expected = order_units(units)
    for seed in range(5):
        shuffled = list(units)
        random.Random(seed).shuffle(shuffled)
        assert order_units(shuffled) == expected


def test_the_graph_carries_every_reason_of_an_edge() -> None:
    freeing = unit(
        "old",
        releases=frozenset({Resource("ip", IP_A), Resource("port", IP_A, "TCP/80")}),
    )
    taking = unit("new", claims=frozenset({Resource("ip", IP_A), Resource("port", IP_A, "TCP/80")}))
    edges = waits_for_edges([freeing, taking])
    assert edges[freeing.id, taking.id] == {
        f"releases IP {IP_A}, which it claims",
        f"releases TCP/80 on {IP_A}, which it claims",
    }


def test_a_unit_never_waits_for_itself() -> None:
    both = unit(
        "self", releases=frozenset({Resource("ip", IP_A)}), claims=frozenset({Resource("ip", IP_A)})
    )
    assert list(waits_for_edges([both])) == []


def test_canonical_json_sorts_keys_and_drops_spaces() -> None:
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"\\u00e9"],"b":1}'


def test_resources_read_as_what_they_are() -> None:
    assert str(Resource("ip", IP_A)) == IP_A
    assert str(Resource("port", IP_A, "UDP/53")) == f"UDP/53 on {IP_A}"
    assert str(Resource("pool-slot", "lan")) == "a slot in pool lan"


def _units_waiting(size: int, edges: set[tuple[int, int]]) -> list[Unit]:
    """`size` units, unit b waiting for unit a for each (a, b) in `edges`: a releases an IP of
    its own, which b claims."""
    ips = {edge: f"10.1.{edge[0]}.{edge[1]}" for edge in edges if edge[0] != edge[1]}
    return [
        unit(
            f"s{i}",
            releases=frozenset(Resource("ip", ip) for (a, _), ip in ips.items() if a == i),
            claims=frozenset(Resource("ip", ip) for (_, b), ip in ips.items() if b == i),
        )
        for i in range(size)
    ]


def _networkx_order(units: list[Unit]) -> tuple[list[set[str]], list[tuple[str, ...]]]:
    """The reference: networkx's condensation of the waits-for relation (each strongly
    connected component one node), then its topological generations, as sets of Services."""
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(u.id for u in units)
    graph.add_edges_from(waits_for_edges(units))
    condensed = nx.condensation(graph)
    services = {u.id: u.services for u in units}

    def of(node: int) -> str:
        members = condensed.nodes[node]["members"]
        return ",".join(sorted(s for m in members for s in services[m]))

    waves = [{of(n) for n in generation} for generation in nx.topological_generations(condensed)]
    cycles = [
        tuple(sorted(s for m in condensed.nodes[n]["members"] for s in services[m]))
        for n in condensed.nodes
        if len(condensed.nodes[n]["members"]) > 1
    ]
    return waves, sorted(cycles)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 7).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=12),
        )
    )
)
def test_waves_and_merged_cycles_are_networkx_condensation_generations(
    case: tuple[int, set[tuple[int, int]]],
) -> None:
    """graphlib's generations (and networkx's components, where there is a cycle) give the
    waves networkx's condensation and topological generations give."""
    units = _units_waiting(*case)
    ordered = order_units(units)
    waves = [{",".join(u.services) for u in wave} for wave in ordered.waves]
    assert (waves, list(ordered.merged_cycles)) == _networkx_order(units)
