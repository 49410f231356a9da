"""A reprocess-all pass refuses runs of pending members together (SimulatedCluster.
_join_refusing): each pass is the pass handing every Service over one at a time, as the state
explorer does (begin_pass, handle_listed, end_pass), down to the statuses, the events, the
results, the allocator and the controller's remembered refusals."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.model import simcluster
from planner.model.controller import Controller
from planner.model.service import SHARING_ANNOTATION
from planner.model.simcluster import RELOAD, Process, SimulatedCluster, prepared
from tests.model.test_seed_scenario import with_group_annotations
from tests.model.test_simcluster import LAN, LAN2, svc

BEHAVIORS = ("metallb-0.14", "metallb-0.15", "fixed")


def _seen(cluster: SimulatedCluster) -> dict[str, Any]:
    """What a pass leaves that anyone reads: the cluster's state and history, the allocator,
    and which Services the controller answers from a remembered refusal, at which version."""
    controller = cluster.controller
    return {
        "store": cluster.store,
        "history": cluster.history,
        "events": list(cluster.events),
        "queue": cluster.queue,
        "initial load performed": cluster.initial_load_performed,
        "flapping": cluster.flapping,
        "allocator": controller.allocator.snapshot(),
        "walk": list(controller.allocator._allocated),
        "quiet": set(controller.quiet()),
        "refusing": {key: controller.refused_version(key) for key in controller.refusing()},
        "latest refusal": controller.latest_refusal,
    }


def _pass_one_at_a_time(cluster: SimulatedCluster, order: tuple[str, ...]) -> list[Any]:
    """The pass at the head of the queue, each Service in `order` handed over by itself."""
    cluster.begin_pass()
    results = [(key, cluster.handle_listed(key)) for key in order if key in cluster.store]
    cluster.end_pass(results)
    cluster.log_pass(results)
    return results


def _assert_pass_is_one_at_a_time(cluster: SimulatedCluster, action: Process) -> None:
    """Carry out the pass (`action`) on the cluster, checked against a copy handing each
    Service over by itself in the same order."""
    assert cluster.queue[0] == RELOAD
    _assert_refusing_are_not_quiet(cluster)
    order = action.pass_order or cluster.pass_orders()[0]
    alone = cluster.copy()
    expected = _pass_one_at_a_time(alone, order)
    handled = cluster.apply(action)
    assert handled is not None
    assert list(handled.results) == expected
    seen, seen_alone = _seen(cluster), _seen(alone)
    for name, value in seen.items():
        assert value == seen_alone[name], name


def _assert_refusing_are_not_quiet(cluster: SimulatedCluster) -> None:
    """A Service the controller answers from its remembered refusal is never quiet (each
    handling makes it one or the other, and only its own handling makes it refusing): the
    run a pass joins needs no check that its Services are due (not quiet when it began)."""
    controller = cluster.controller
    assert controller.refusing().keys().isdisjoint(controller.quiet())


# --- the story: groups changing their key, their pending members refused on every pass -------

A_IP, B_IP = "10.0.0.10", "10.0.0.11"


def _grouped(name: str, ip: str, share: str, *, live: bool = True) -> dict[str, Any]:
    """A member of a group sharing its requested IP (each on a port of its own)."""
    port = 1000 + int(name[-1])
    return svc(name, ip=ip, share=share, ports=[("TCP", port)], status=(ip,) if live else ())


def _groups_changing_keys(
    behavior: str, changing: tuple[str, ...], size: int = 3
) -> SimulatedCluster:
    """Groups a (a1-a3 on 10.0.0.10) and b (b1-b3 on 10.0.0.11) and Services of their own
    (eight quiet ones, so a pass answers them in bulk, and x0-x3 to delete): the `changing`
    members' new sharing key arrives, each handled; each is left pending, refused the IP the
    members not changed yet still hold under the old key."""
    live = [_grouped(f"a{i}", A_IP, "a") for i in range(1, size + 1)]
    live += [_grouped(f"b{i}", B_IP, "b") for i in (1, 2, 3)]
    live += [svc(f"q{i}", share=f"q{i}", status=(f"10.0.0.{20 + i}",)) for i in range(8)]
    live += [svc(f"x{i}", status=(f"10.0.0.{2 + i}",)) for i in range(4)]
    cluster = SimulatedCluster.bootstrap([LAN], live, behavior)
    for name in changing:
        ip, share = (A_IP, "a-new") if name.startswith("a") else (B_IP, "b-new")
        cluster.arrive(f"ns/{name}", _grouped(name, ip, share, live=False))
        cluster.settle()
    return cluster


def _deleted_until_pass(cluster: SimulatedCluster, name: str) -> None:
    """Delete a Service holding an IP and handle that: the next step is a reprocess-all pass."""
    cluster.arrive(f"ns/{name}", None)
    cluster.process_next()
    assert cluster.queue == [RELOAD]


def _joined_in(
    cluster: SimulatedCluster, method: str = "_join_refusing", size: Callable[[Any], int] = int
) -> list[int]:
    """Carry out the pass at the head of the queue (default order), checked against the pass
    handing each Service over by itself; how many members each join added after the one the
    pass's loop took (`size` of each answer of `method`)."""
    joined: list[int] = []
    method_itself = getattr(SimulatedCluster, method)

    def counted(self: SimulatedCluster, *args: Any) -> Any:
        answer = method_itself(self, *args)
        joined.append(size(answer))
        return answer

    with mock.patch.object(SimulatedCluster, method, counted):
        _assert_pass_is_one_at_a_time(cluster, Process())
    return joined


@pytest.mark.parametrize("behavior", BEHAVIORS)
def test_a_run_of_refused_members_stops_at_another_ip_and_at_a_member_not_refusing(
    behavior: str,
) -> None:
    """a2, a3 (refused 10.0.0.10) and b1 (refused 10.0.0.11) are next in a pass, then b2, whose
    key change was only just handled: the pass refuses a2 and a3 together naming a1, then b1
    naming b3, and hands b2 over; each Warning names the holders of its own IP."""
    cluster = _groups_changing_keys(behavior, ("a2", "a3", "b1"))
    _deleted_until_pass(cluster, "x0")
    cluster.settle()  # a pass on a new allocator version: a2, a3 and b1 are watched from now
    assert list(cluster.controller.refusing()) == ["ns/a2", "ns/a3", "ns/b1"]
    cluster.arrive("ns/b2", _grouped("b2", B_IP, "b-new", live=False))
    cluster.settle()  # b2 refused on this version only: not answered from memory yet
    _deleted_until_pass(cluster, "x1")
    assert _joined_in(cluster) == [1, 0]  # a3 after a2; none after b1
    for name, holder in (("a2", "ns/a1"), ("a3", "ns/a1"), ("b1", "ns/b3"), ("b2", "ns/b3")):
        warning = cluster.warnings(f"ns/{name}")[-1]
        assert warning.endswith(f"address also in use by {holder}"), warning


@pytest.mark.parametrize("behavior", BEHAVIORS)
def test_a_refused_members_manifest_replaced_by_hand_is_handed_over(behavior: str) -> None:
    """The store is a public dict: a3's manifest put back to the old key by hand, the pass
    does not refuse it along with a2 from what the controller remembered of the one before;
    handed over, it shares 10.0.0.10 with a1 again."""
    cluster = _groups_changing_keys(behavior, ("a2", "a3"))
    _deleted_until_pass(cluster, "x0")
    cluster.settle()
    assert list(cluster.controller.refusing()) == ["ns/a2", "ns/a3"]
    _deleted_until_pass(cluster, "x1")
    replaced = copy.deepcopy(cluster.store["ns/a3"])
    replaced["metadata"]["annotations"][SHARING_ANNOTATION] = "a"
    cluster.store["ns/a3"] = replaced
    assert _joined_in(cluster) == [0]
    assert cluster.ips("ns/a3") == (A_IP,)
    assert cluster.ips("ns/a2") == ()


@pytest.mark.parametrize("behavior", ["metallb-0.15", "fixed"])
def test_a_member_refused_on_the_passs_allocator_version_is_not_refused_again_with_the_run(
    behavior: str,
) -> None:
    """A Service of its own created while a pass waits, named between a2 and a3, takes an IP
    in that pass after a2 was refused and before a3 was (a new key: the pass runs again). The
    next pass, on the same allocator version, hands a3 over after a2's refusal: handled on the
    version its refusal was answered on, set_balancer repeats that answer and a3 is no longer
    answered from its watched refusal, as the pass taking each Service by itself leaves it.
    (The statuses, events and results are the same either way: the run joined only decides
    which way the next pass answers a3.)"""
    cluster = _groups_changing_keys(behavior, ("a2", "a3"))
    _deleted_until_pass(cluster, "x0")
    cluster.settle()
    _deleted_until_pass(cluster, "x1")
    cluster.arrive("ns/a2x", svc("a2x", share="a2x"))
    assert cluster.queue == [RELOAD, "ns/a2x"]
    assert _joined_in(cluster) == [0, 0]  # a2 then a2x, a3 then none: each refused alone
    cluster.process_next()  # a2x's own status write, handled: nothing changes
    assert cluster.queue == [RELOAD]
    controller = cluster.controller
    version = controller.allocator.version
    assert controller.refused_version("ns/a3") == version
    assert controller.refused_version("ns/a2") < version
    assert _joined_in(cluster) == [0]  # a3 is next after a2 now: not joined
    assert list(controller.refusing()) == ["ns/a2"]


def _held_in(cluster: SimulatedCluster) -> list[int]:
    """Carry out the pass at the head of the queue, checked as _joined_in does; how many
    members each join took from the run the pass before joined (SimulatedCluster._standing)."""
    return _joined_in(cluster, "_standing", lambda run: len(run.keys))


def _refusing_a2_to_a4(behavior: str, until_pass: bool = True) -> SimulatedCluster:
    """a2, a3 and a4 of a group of five refused 10.0.0.10 (a1 and a5 hold it under the old
    key), answered together by the last pass; then (`until_pass`) x2 deleted: the next pass
    finds that run again."""
    cluster = _groups_changing_keys(behavior, ("a2", "a3", "a4"), size=5)
    _deleted_until_pass(cluster, "x0")
    cluster.settle()  # watched from now
    _deleted_until_pass(cluster, "x1")
    assert _joined_in(cluster) == [2]  # a3 and a4 after a2, one by one
    assert list(cluster.controller.refusing()) == ["ns/a2", "ns/a3", "ns/a4"]
    if until_pass:
        _deleted_until_pass(cluster, "x2")
    return cluster


@pytest.mark.parametrize("behavior", BEHAVIORS)
def test_the_run_the_last_pass_joined_is_joined_again_at_once(behavior: str) -> None:
    """a3 and a4, joined after a2 by the pass before, are joined at once by the next pass (the
    run checked as a whole), each refused as the pass taking each Service by itself refuses it."""
    cluster = _refusing_a2_to_a4(behavior)
    assert _held_in(cluster) == [2]
    for name in ("a2", "a3", "a4"):
        warning = cluster.warnings(f"ns/{name}")[-1]
        assert warning.endswith("address also in use by ns/a1,ns/a5"), warning


@pytest.mark.parametrize("behavior", BEHAVIORS)
def test_a_held_run_with_a_manifest_replaced_by_hand_is_taken_one_by_one(behavior: str) -> None:
    """a4's manifest put back to the old key by hand: the run the last pass joined no longer
    stands as a whole, so the pass takes a3, then stops at a4 and hands it over (it shares
    10.0.0.10 with a1 again)."""
    cluster = _refusing_a2_to_a4(behavior)
    replaced = copy.deepcopy(cluster.store["ns/a4"])
    replaced["metadata"]["annotations"][SHARING_ANNOTATION] = "a"
    cluster.store["ns/a4"] = replaced
    assert _held_in(cluster) == [0]
    assert cluster.ips("ns/a4") == (A_IP,)
    assert cluster.ips("ns/a3") == ()


@pytest.mark.parametrize("behavior", BEHAVIORS)
def test_a_held_run_with_a_member_no_longer_refusing_is_taken_one_by_one(behavior: str) -> None:
    """a3's key changes again (its own handling: it is answered from its refusal no more):
    the pass does not join the last pass's run at once, and hands a3 over after a2."""
    cluster = _groups_changing_keys(behavior, ("a2", "a3", "a4"), size=5)
    _deleted_until_pass(cluster, "x0")
    cluster.settle()
    _deleted_until_pass(cluster, "x1")
    assert _joined_in(cluster) == [2]
    cluster.arrive("ns/a3", _grouped("a3", A_IP, "a-newer", live=False))
    cluster.settle()
    assert "ns/a3" not in cluster.controller.refusing()
    _deleted_until_pass(cluster, "x2")
    assert _held_in(cluster) == [0, 0]  # a2 alone; after a3, a4 alone (a run of one)


@pytest.mark.parametrize("behavior", BEHAVIORS)
def test_a_held_run_with_a_refusal_touched_is_taken_one_by_one(behavior: str) -> None:
    """z3 takes a3's port on 10.0.0.10 under the old key: what a3's refusal read changed, so
    a3 is answered from its refusal no more, its manifest the same: the next pass does not
    join the last pass's run at once, and hands a3 over after a2."""
    cluster = _refusing_a2_to_a4(behavior, until_pass=False)
    cluster.arrive("ns/z3", svc("z3", ip=A_IP, share="a", ports=[("TCP", 1003)]))
    cluster.process_next()
    assert cluster.ips("ns/z3") == (A_IP,)
    assert "ns/a3" not in cluster.controller.refusing()
    assert "ns/a4" in cluster.controller.refusing()
    if cluster.queue == ["ns/z3"]:  # metallb-0.14: no pass for it, its status write next
        cluster.process_next()
        _deleted_until_pass(cluster, "x2")
    assert cluster.queue[0] == RELOAD
    assert "ns/a3" not in cluster.controller.refusing()
    assert _held_in(cluster) == [0, 0]  # a2 alone; after a3, a4 alone (a run of one)


@pytest.mark.parametrize("behavior", BEHAVIORS)
def test_a_pass_with_few_quiet_services_refuses_its_pending_members_together(
    behavior: str,
) -> None:
    """A group of ten changing its key one member at a time: fewer quiet Services than
    QUIET_PASS_MIN are left as the old holders go, yet each pass refuses the pending members
    together (the pass in bulk is taken for its `refusing` members too), each pass the pass
    taking each Service by itself."""
    members = [
        svc(f"m{i}", ip=A_IP, share="old", ports=[("TCP", 1000 + i)], status=(A_IP,))
        for i in range(10)
    ]
    cluster = SimulatedCluster.bootstrap([LAN], members, behavior)
    together: list[int] = []
    refuse = Controller.refuse_together

    def counted(self: Controller, members: Any) -> Any:
        together.append(len(members))
        return refuse(self, members)

    with mock.patch.object(Controller, "refuse_together", counted):
        for i in range(9):
            cluster.arrive(
                f"ns/m{i}", svc(f"m{i}", ip=A_IP, share="new", ports=[("TCP", 1000 + i)])
            )
            while cluster.queue:
                if cluster.queue[0] == RELOAD:
                    _assert_pass_is_one_at_a_time(cluster, Process())
                else:
                    cluster.process_next()
    assert len(cluster.controller.quiet()) < simcluster.QUIET_PASS_MIN
    # Each pass refused the members watched so far together, down to one quiet holder left.
    assert together == [1, 2, 3, 4, 5, 6, 7]


# --- random small groups ---------------------------------------------------------------------


def _member(group: int, member: int, requested: bool, share: str, live: bool) -> dict[str, Any]:
    ip = f"10.0.0.{10 + group}"
    return svc(
        f"g{group}-m{member}",
        ip=ip if requested else None,
        share=share,
        ports=[("TCP", 1000 + member)],
        status=(ip,) if live else (),
    )


def _own(name: str, index: int, live: bool) -> dict[str, Any]:
    """A Service with an IP of its own (its sharing key its own: quiet once settled)."""
    return svc(
        name, share=name, ports=[("TCP", 2000)], status=(f"10.0.0.{2 + index}",) if live else ()
    )


@st.composite
def random_groups(draw: st.DrawFn) -> tuple[list[Any], list[tuple[str, Any]]]:
    """Live sharing groups of 1-4 members (requested or auto-assigned IPs) and up to three
    Services of their own named among the members (a pass takes them between two pending
    members), and the writes in any order: some members changing their key (some back again,
    or deleted), the Services of their own deleted and created again (each a reprocess-all
    pass, on a new allocator version). Every manifest carries the group-wide annotations of
    the Services as they are once it is written (behaviour fixed reads them)."""
    groups = draw(st.lists(st.tuples(st.integers(1, 4), st.booleans()), min_size=1, max_size=3))
    now: dict[str, Any] = {}
    edits: list[tuple[str, str]] = []
    for group, (size, requested) in enumerate(groups):
        for member in range(size):
            now[f"ns/g{group}-m{member}"] = _member(group, member, requested, f"g{group}", True)
            edit = draw(st.sampled_from(MEMBER_EDITS))
            edits.extend((f"ns/g{group}-m{member}", step) for step in edit.split())
    for index in range(3):
        group = draw(st.integers(0, len(groups) - 1))
        name = f"g{group}-m{draw(st.integers(0, max(groups[group][0] - 2, 0)))}x"
        if f"ns/{name}" in now:
            continue
        now[f"ns/{name}"] = _own(name, index, live=True)
        edits.extend((f"ns/{name}", step) for step in draw(st.sampled_from(EDITS_OF_OWN)))
    live = with_group_annotations(now.values())
    writes = []
    # Each Service's writes keep their order; the Services' are interleaved at random.
    for key, edit in _interleaved(draw, edits):
        name = key.removeprefix("ns/")
        if edit == "delete":
            now.pop(key, None)
            writes.append((key, None))
            continue
        if name.endswith("x"):
            now[key] = _own(name, 0, live=False)
        else:
            group, member = (int(part[1:]) for part in name.split("-"))
            share = f"g{group}-new" if edit == "rekey" else f"g{group}"
            now[key] = _member(group, member, groups[group][1], share, live=False)
        stamped = {f"ns/{m['metadata']['name']}": m for m in with_group_annotations(now.values())}
        writes.append((key, stamped[key]))
    return live, writes


# A member's writes: none (it holds the group's IP under the old key), its key changed (pending
# while another member holds the IP under the old one), then changed back or deleted.
MEMBER_EDITS = ["", "rekey", "rekey", "rekey", "rekey back", "rekey delete"]

# A Service of its own: deleted, created again, deleted again, ...
EDITS_OF_OWN = [("delete", "create") * n for n in (1, 2, 3)]


def _interleaved(draw: st.DrawFn, edits: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The edits in an order drawn at random that keeps each Service's own in order."""
    slots = draw(st.permutations([key for key, _ in edits]))
    pending: dict[str, list[str]] = {}
    for key, edit in edits:
        pending.setdefault(key, []).append(edit)
    return [(key, pending[key].pop(0)) for key in slots]


@settings(max_examples=200, deadline=None)
@given(
    services=random_groups(),
    behavior=st.sampled_from(BEHAVIORS),
    seed=st.integers(0, 2**16),
)
def test_every_pass_refusing_runs_together_is_the_pass_taking_one_at_a_time(
    services: tuple[list[Any], list[tuple[str, Any]]], behavior: str, seed: int
) -> None:
    """Along a random schedule (arrivals, handlings, passes in any order among ties), every
    reprocess-all pass is the pass handing each Service over by itself, and no Service the
    controller answers from a remembered refusal is quiet."""
    live, writes = services
    rng = random.Random(seed)
    with mock.patch.object(simcluster, "QUIET_PASS_MIN", 0):
        cluster = prepared(SimulatedCluster.bootstrap([LAN, LAN2], live, behavior), writes)
        for _ in range(300):
            _assert_refusing_are_not_quiet(cluster)
            options = cluster.options(explore_ties=True)
            if not options:
                break
            # Processing as likely as an arrival (not one option among every pending write's):
            # writes arriving between passes keep members pending over several passes.
            processing = [action for action in options if isinstance(action, Process)]
            arrivals = [action for action in options if not isinstance(action, Process)]
            action = rng.choice(
                processing if processing and (rng.random() < 0.5 or not arrivals) else arrivals
            )
            if isinstance(action, Process) and cluster.queue[0] == RELOAD:
                _assert_pass_is_one_at_a_time(cluster, action)
            else:
                cluster.apply(action)
