"""What Explorations remembers of an exploration: the runs as explored, minus their logs; and
which components the state explorer takes (the write caps) and which are sampled at once."""

from __future__ import annotations

import copy
import gc
import weakref
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from planner import collector
from planner.collector import built_data_frozen
from planner.model.allocator import Pool
from planner.model.simcluster import SimulatedCluster, random_runs
from planner.simulate import world
from planner.simulate.world import Explorations
from tests.model.test_seed_scenario import with_group_annotations
from tests.model.test_simcluster import Group, _component, svc

POOL = Pool("lan", ["10.0.0.0/27"])


def _outcome(run: Any) -> tuple[Any, ...]:
    cluster = run.cluster
    return (
        run.schedule,
        run.settled,
        run.label,
        cluster.store,
        cluster.history,
        cluster.events,
        cluster.controller.allocator.snapshot(),
    )


def test_a_remembered_exploration_is_the_first_without_the_handled_log() -> None:
    """The second identical exploration is the first, run for run, except that the log of
    handled queue items (read by no verdict) was not kept."""
    base = SimulatedCluster.bootstrap([POOL], [], "metallb-0.15")
    explorations = Explorations()
    explorations.note_origin(base, "empty cluster")
    writes = [(f"ns/s{i}", svc(f"s{i}")) for i in range(2)]
    first = explorations.explored(base, writes, seed=0)
    again = explorations.explored(base, writes, seed=0)
    assert first.runs and len(again.runs) == len(first.runs)
    assert [_outcome(r) for r in again.runs] == [_outcome(r) for r in first.runs]
    assert all(r.cluster.handled for r in first.runs)
    assert not any(r.cluster.handled for r in again.runs)


def test_sampled_runs_are_drawn_with_the_collector_paused() -> None:
    """While runs are sampled the cyclic collector is off; it is on again afterwards, also when
    the block fails, and left off when it was off. Outside a caller's freeze nothing is frozen."""
    seen: list[bool] = []
    base = SimulatedCluster.bootstrap([POOL], [], "metallb-0.15")
    writes = [(f"ns/s{i}", svc(f"s{i}")) for i in range(2)]

    def noted(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return random_runs(*args, **kwargs)

    assert gc.isenabled() and not gc.get_freeze_count()
    with mock.patch.object(world, "random_runs", noted):
        assert world._sampled(base, writes, seed=0)
    assert seen == [False] and gc.isenabled() and not gc.get_freeze_count()
    with pytest.raises(RuntimeError), collector.simulation_collections():
        raise RuntimeError("a run failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector.simulation_collections():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_runs_sampled_inside_a_callers_freeze_are_frozen_with_its_data() -> None:
    """Inside a caller's freeze (built_data_frozen) the runs join the frozen data, so the
    collections that reading them triggers do not walk them; the caller's unfreeze frees all."""
    base = SimulatedCluster.bootstrap([POOL], [], "metallb-0.15")
    writes = [(f"ns/s{i}", svc(f"s{i}")) for i in range(2)]

    def sampled() -> tuple[int, int]:
        frozen = gc.get_freeze_count()
        assert world._sampled(base, writes, seed=0)
        return frozen, gc.get_freeze_count()

    frozen, after = built_data_frozen(sampled)()
    assert after > frozen > 0 and gc.get_freeze_count() == 0


@pytest.mark.parametrize("behavior", ["metallb-0.14", "metallb-0.15", "fixed"])
def test_sampled_runs_make_no_reference_cycles(behavior: str) -> None:
    """The collector is paused while runs are sampled: they must leave no cyclic garbage (a
    refusal raised by the allocator kept its frame, and the frame the refusal: 52,000 objects
    per two runs of a group of 400 changing its key), which only the collector frees."""
    services, writes = _component([Group(0, 6, True, "rekey"), Group(1, 3, False, "rekey")])
    base = SimulatedCluster.bootstrap([POOL], services, behavior)
    gc.collect()
    gc.disable()
    try:
        runs = world._sampled(base, writes, seed=3)
        assert runs
        assert gc.collect() == 0
    finally:
        gc.enable()


class Survivors:
    """Weak references to the clusters a step is handed, in order: when each came, how many of
    the earlier ones were still alive (after a collection)."""

    def __init__(self) -> None:
        self._seen: list[weakref.ref[SimulatedCluster]] = []
        self.alive: list[int] = []

    def see(self, cluster: SimulatedCluster) -> None:
        gc.collect()
        self.alive.append(sum(ref() is not None for ref in self._seen))
        self._seen.append(weakref.ref(cluster))


def test_sampled_runs_keep_no_handled_log() -> None:
    """Beyond the state budget every run is sampled: no run keeps its log of handled queue
    items (no verdict reads it; at 100,000 Services the logs held some 700 MB)."""
    base = SimulatedCluster.bootstrap([POOL], [], "metallb-0.15")
    writes = [(f"ns/s{i}", svc(f"s{i}")) for i in range(3)]
    sampled = world.explore_writes(base, writes, seed=0, max_states=1)
    assert not sampled.exhaustive and len(sampled.runs) == world.SAMPLED_RUNS + 6
    assert all(run.schedule for run in sampled.runs)
    assert not any(run.cluster.handled for run in sampled.runs)


def test_a_remembered_exploration_is_copied_one_run_at_a_time() -> None:
    """Read one by one, a remembered exploration's runs are copied as they are read: no copy is
    alive once the next is handed out (the whole sample beside the remembered one was the
    peak of `plan --verify` at 100,000 Services)."""
    base = SimulatedCluster.bootstrap([POOL], [], "metallb-0.15")
    explorations = Explorations()
    explorations.note_origin(base, "empty cluster")
    writes = [(f"ns/s{i}", svc(f"s{i}")) for i in range(3)]
    first = explorations.explored(base, writes, seed=0, max_states=1)
    again = explorations.explored(base, writes, seed=0, max_states=1)
    survivors = Survivors()
    outcomes = []
    for run in world.one_by_one(again.runs):
        survivors.see(run.cluster)
        outcomes.append(_outcome(run))
    assert outcomes == [_outcome(r) for r in first.runs]
    assert survivors.alive == [0] * len(first.runs)


def test_one_by_one_lets_each_run_of_a_tuple_go() -> None:
    """An exploration's own runs, read one by one once the exploration is dropped: each run is
    gone when the next is handed out."""
    base = SimulatedCluster.bootstrap([POOL], [], "metallb-0.15")
    writes = [(f"ns/s{i}", svc(f"s{i}")) for i in range(3)]
    exploration = world.explore_writes(base, writes, seed=0, max_states=1)
    runs = world.one_by_one(exploration.runs)
    del exploration
    survivors = Survivors()
    for run in runs:
        survivors.see(run.cluster)
    assert survivors.alive == [0] * (world.SAMPLED_RUNS + 6)


def _split_world(live: dict[str, Any], pools: list[Pool] | None = None) -> world.World:
    pools = pools or [POOL]
    return world.World(live, pools, pools, explorations=Explorations())


def _two_writes() -> tuple[dict[str, Any], list[Any]]:
    """Two live Services on their IPs, each written with a new port (two components)."""
    live = {
        f"ns/s{i}": svc(f"s{i}", ip=f"10.0.0.{i + 1}", status=(f"10.0.0.{i + 1}",))
        for i in range(2)
    }
    writes = [
        (name, svc(name.split("/")[1], ip=f"10.0.0.{i + 1}", ports=[("TCP", 8080)]))
        for i, name in enumerate(live)
    ]
    return live, writes


def test_the_first_split_is_given_again_for_the_same_objects() -> None:
    """The proof splits the first wave from the same live objects as planning: the split is
    remembered, and given again to another world over the same objects (a copy of the mapping,
    pools equal by value), without splitting again."""
    live, writes = _two_writes()
    first = _split_world(live)
    explorations = first.explorations
    parts = first.parts(writes)
    assert len(parts) == 2
    again = world.World(
        dict(live), [Pool("lan", ["10.0.0.0/27"])], [POOL], explorations=explorations
    )
    with mock.patch.object(world, "components", side_effect=AssertionError("split again")):
        assert again.parts(list(writes)) == parts


@pytest.mark.parametrize("change", ["live object", "written object", "pools"])
def test_a_split_over_other_inputs_is_made_anew(change: str) -> None:
    """Another manifest (even an equal copy), another write or other pools: split anew."""
    live, writes = _two_writes()
    first = _split_world(live)
    parts = first.parts(writes)
    live2, writes2, pools2 = dict(live), list(writes), [POOL]
    if change == "live object":
        live2["ns/s0"] = copy.deepcopy(live["ns/s0"])
    elif change == "written object":
        writes2[0] = (writes[0][0], copy.deepcopy(writes[0][1]))
    else:
        pools2 = [Pool("lan", ["10.0.0.0/26"])]
    other = world.World(live2, pools2, pools2, explorations=first.explorations)
    with mock.patch.object(world, "components", wraps=world.components) as split:
        made = other.parts(writes2)
    assert split.call_count == 1
    if change != "pools":
        assert made == parts  # equal objects: the same split, made anew


# --- which components the state explorer takes, which are sampled at once ----------------------


def group_change(
    size: int, behavior: str, *, alike: bool = True, to_ip: str = "10.0.0.1", pool: str = ""
) -> tuple[SimulatedCluster, list[tuple[str, Any]]]:
    """`size` members on 10.0.0.1, each its own port, all going Cluster -> Local: a key change
    in place; with `to_ip` another IP they move to (or with `pool` one they ask for); unless
    `alike`, each selects its own backends (no two interchangeable)."""

    def member(i: int, local: bool, ip: str, asked_pool: str) -> dict[str, Any]:
        selector = {"app": "dns" if alike else f"dns-{i}"}
        ports = [("TCP", 1000 + i)]
        return svc(
            f"m{i:02d}",
            ip=ip,
            share="dns",
            ports=ports,
            local=local,
            selector=selector,
            pool=asked_pool or None,
        )

    live = [member(i, False, "10.0.0.1", "") for i in range(size)]
    base = SimulatedCluster.bootstrap([POOL], live, behavior)
    desired = [member(i, True, to_ip, pool) for i in range(size)]
    return base, [(f"ns/{m['metadata']['name']}", m) for m in with_group_annotations(desired)]


@pytest.fixture
def small_caps() -> Iterator[None]:
    """The caps of 20 and 16 writes as 4 and 3: the rule on small groups."""
    with (
        mock.patch.object(world, "STOCK_STATES_MAX_WRITES", 4),
        mock.patch.object(world, "FIXED_STATES_MAX_WRITES", 4),
        mock.patch.object(world, "MIXED_STATES_MAX_WRITES", 3),
    ):
        yield


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({}, id="a key change in place"),
        pytest.param({"to_ip": "10.0.0.2"}, id="a move to another IP"),
        pytest.param({"pool": "lan"}, id="a pool asked for"),
    ],
)
@pytest.mark.parametrize("behavior", ["metallb-0.14", "metallb-0.15", "fixed"])
@pytest.mark.usefixtures("small_caps")
def test_one_class_of_writes_is_explored_up_to_the_cap_of_its_kind(
    behavior: str, change: dict[str, Any]
) -> None:
    """Four interchangeable members written alike: explored to the end (above the mixed cap
    of 3); five are more than the cap (4) and sampled at once."""
    explored = world.explore_writes(*group_change(4, behavior, **change), seed=0)
    assert explored.exhaustive and explored.states > 0 and not explored.sampled
    beyond = world.explore_writes(*group_change(5, behavior, **change), seed=0)
    assert not beyond.exhaustive and beyond.states == 0
    assert beyond.sampled == "5 writes, more than the state explorer takes (4)"


@pytest.mark.parametrize("behavior", ["metallb-0.15", "fixed"])
@pytest.mark.usefixtures("small_caps")
def test_writes_of_several_classes_beyond_the_mixed_cap_are_sampled_at_once(
    behavior: str,
) -> None:
    """Four writes no two of which are interchangeable: sampled without exploring a state,
    said with the mixed cap (3); three of them are explored as before."""
    sampled = world.explore_writes(*group_change(4, behavior, alike=False), seed=0)
    assert not sampled.exhaustive and sampled.states == 0
    assert sampled.sampled == "4 writes, more than the state explorer takes (3)"
    explored = world.explore_writes(*group_change(3, behavior, alike=False), seed=0)
    assert explored.states > 0 and "more than the state explorer takes" not in explored.sampled


@pytest.mark.usefixtures("small_caps")
def test_new_services_and_deletions_are_no_key_change_in_place() -> None:
    """A write creating a Service, or deleting one, is no key change in place: the four
    writes are sampled at once under the mixed cap."""
    base, writes = group_change(3, "metallb-0.15")
    created = world.explore_writes(base, [*writes, ("ns/new", svc("new", share="dns"))], seed=0)
    assert created.sampled == "4 writes, more than the state explorer takes (3)"
    base, writes = group_change(4, "metallb-0.15")
    deleted = world.explore_writes(base, [*writes[:3], (writes[3][0], None)], seed=0)
    assert deleted.sampled == "4 writes, more than the state explorer takes (3)"


def test_the_caps_of_twenty_and_sixteen_writes_under_fixed() -> None:
    """With the caps as they are: a key change and a move of 17 members under fixed are
    proved (a few hundred states each), a key change of 21 is sampled at once (the cap, 20)."""
    mixed = world.MIXED_STATES_MAX_WRITES
    most = world.FIXED_STATES_MAX_WRITES
    assert mixed < mixed + 1 <= most
    proved = world.explore_writes(*group_change(mixed + 1, "fixed"), seed=0)
    assert proved.exhaustive and 0 < proved.states < 1000
    move = world.explore_writes(*group_change(mixed + 1, "fixed", to_ip="10.0.0.2"), seed=0)
    assert move.exhaustive and 0 < move.states < 1000
    beyond = world.explore_writes(*group_change(most + 1, "fixed"), seed=0)
    assert beyond.states == 0
    assert beyond.sampled == f"{most + 1} writes, more than the state explorer takes ({most})"
