"""A reprocess-all pass hands over only the Services whose answer is not known (issue 17):
the quiet ones (Controller.answer_quiet) are answered in bulk, and each run is exactly the run
with every Service handed over, down to the results and the walk order."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.model import simcluster
from planner.model.allocator import Allocator, Pool, Port
from planner.model.controller import Controller, Result
from planner.model.events import Refusals
from planner.model.simcluster import (
    RELOAD,
    Handled,
    Process,
    SimulatedCluster,
    adversarial_runs,
    random_runs,
)
from tests.model.test_simcluster import (
    LAN,
    Group,
    _component,
    _everything,
    groups_strategy,
    pools_strategy,
    svc,
)

BEHAVIORS = st.sampled_from(["fixed", "metallb-0.15", "metallb-0.14"])


# Random sharing groups on random pools, each run with its seed, under every behaviour.
_on_random_groups = given(
    groups=groups_strategy(), pools=pools_strategy(), seed=st.integers(0, 2**16), behavior=BEHAVIORS
)


def _runs(pools: list[Pool], services: list[Any], writes: list[Any], behavior: str, seed: int):
    cluster = SimulatedCluster.bootstrap(pools, services, behavior)
    found = [*adversarial_runs(cluster, writes), *random_runs(cluster, writes, seed, count=4)]
    return [
        (
            *_everything(run),
            run.cluster.handled,
            run.cluster.controller.allocator.walk_changes,
            run.cluster.controller.allocator.reassigns,
            dict(run.cluster.controller.allocator._walk),
        )
        for run in found
    ]


@settings(max_examples=25, deadline=None)
@_on_random_groups
def test_a_pass_answering_quiet_services_in_bulk_is_the_pass_handing_each_over(
    groups: list[Group], pools: list[Pool], seed: int, behavior: str
) -> None:
    """Every run (schedule, histories, events, stored objects, results of every pass, allocator,
    walk order and its counters) is the same when every pass hands every Service over."""
    services, writes = _component(groups)
    with mock.patch.object(simcluster, "QUIET_PASS_MIN", 0):
        bulk = _runs(pools, services, writes, behavior, seed)
    each = mock.patch.object(SimulatedCluster, "_reprocess_all", SimulatedCluster._reprocess_each)
    with each:
        assert _runs(pools, services, writes, behavior, seed) == bulk


def _wake_every_neighbour(self: Controller, svc_key: str) -> None:
    """The wake before Allocator.moves: every Service on the IPs of the one an allocator call
    changes (before and after the call) is woken."""
    self.allocator.moves()
    self._refusals_touched(svc_key)
    self._wake_neighbours(svc_key)


@settings(max_examples=25, deadline=None)
@_on_random_groups
def test_waking_only_the_services_whose_reads_moved_is_waking_every_neighbour(
    groups: list[Group], pools: list[Pool], seed: int, behavior: str
) -> None:
    """Every run (down to the results of every pass and the walk order) is the same when an
    allocator call wakes every quiet Service on its IPs instead of those it logged as moved."""
    services, writes = _component(groups)
    with mock.patch.object(simcluster, "QUIET_PASS_MIN", 0):
        precise = _runs(pools, services, writes, behavior, seed)
        with mock.patch.object(Controller, "_wake_ips", _wake_every_neighbour):
            assert _runs(pools, services, writes, behavior, seed) == precise


def _checked_refused_answer(self: Controller, svc_key: str, svc: Any) -> Result | None:
    """refused_answer, checked against set_balancer on a copy: the same answer when it gives
    one, and the same remembered handling after."""
    real = self.copy()
    watched = svc_key in self._refused_still
    answer = REFUSED_ANSWER(self, svc_key, svc)
    if answer is not None:
        WATCHED.extend([svc_key] if watched else [])
        assert real.set_balancer(svc_key, svc) == answer, svc_key
        assert real._unchanged[svc_key][:2] == self._unchanged[svc_key][:2]
        assert real._unchanged[svc_key].result == self._unchanged[svc_key].result
        assert real.allocator.snapshot() == self.allocator.snapshot()
        assert real.quiet() == self.quiet()
        REFUSED.append(svc_key)
    return answer


REFUSED_ANSWER = Controller.refused_answer
REFUSED: list[str] = []
WATCHED: list[str] = []


def _checked_refuse_together(self: Controller, members: Any) -> Refusals:
    """refuse_together, checked against set_balancer on a copy, member after member: the same
    answers, and the same remembered handling once each is read (the Refusals hold it)."""
    real = self.copy()
    manifests = {key: entry.manifest for key, entry in members.items()}
    refusals = REFUSE_TOGETHER(self, members)
    assert list(refusals.heads) == list(manifests)
    for key, manifest in manifests.items():
        assert real.set_balancer(key, manifest) == refusals.result(key), key
    read = self.copy()
    for key in manifests:
        read._settle_refusing(key)
        assert real._unchanged[key][:2] == read._unchanged[key][:2], key
        assert real._unchanged[key].result == read._unchanged[key].result, key
    assert real.allocator.snapshot() == self.allocator.snapshot()
    assert real.quiet() == self.quiet()
    TOGETHER.append(len(manifests))
    return refusals


REFUSE_TOGETHER = Controller.refuse_together
TOGETHER: list[int] = []


@settings(max_examples=25, deadline=None)
@_on_random_groups
def test_a_pending_members_remembered_refusal_is_set_balancers_answer(
    groups: list[Group], pools: list[Pool], seed: int, behavior: str
) -> None:
    """A pass answering pending members from their remembered refusals (refused_answer) is the
    pass handing each over (every run alike, down to the walk), and each such answer is what
    set_balancer answers."""
    services, writes = _component(groups)
    with mock.patch.object(simcluster, "QUIET_PASS_MIN", 0):
        with mock.patch.object(Controller, "refused_answer", _checked_refused_answer):
            lean = _runs(pools, services, writes, behavior, seed)
        with mock.patch.object(Controller, "refused_answer", lambda *_: None):
            assert _runs(pools, services, writes, behavior, seed) == lean
        with mock.patch.object(Controller, "_watch_refusal", lambda *_: None):
            assert _runs(pools, services, writes, behavior, seed) == lean


@settings(max_examples=25, deadline=None)
@_on_random_groups
def test_pending_members_refused_together_are_each_refused(
    groups: list[Group], pools: list[Pool], seed: int, behavior: str
) -> None:
    """A pass answering runs of pending members together (refuse_together: one Refusals for
    their events, results and remembered answers) is the pass answering each (every run alike,
    events, results of every pass and walk included), and each answer is set_balancer's."""
    services, writes = _component(groups)
    with mock.patch.object(simcluster, "QUIET_PASS_MIN", 0):
        with mock.patch.object(Controller, "refuse_together", _checked_refuse_together):
            together = _runs(pools, services, writes, behavior, seed)
        with mock.patch.object(Controller, "refusing", lambda _: {}):
            assert _runs(pools, services, writes, behavior, seed) == together


def test_the_remembered_refusals_are_checked() -> None:
    """The check above does see pending members answered from their refusals, and from
    refusals whose reads were not read again (untouched since they were)."""
    groups = [Group(0, 6, True, "rekey")]
    services, writes = _component(groups)
    for behavior in ("metallb-0.15", "metallb-0.14"):
        REFUSED.clear()
        WATCHED.clear()
        TOGETHER.clear()
        with (
            mock.patch.object(simcluster, "QUIET_PASS_MIN", 0),
            mock.patch.object(Controller, "refused_answer", _checked_refused_answer),
            mock.patch.object(Controller, "refuse_together", _checked_refuse_together),
        ):
            _runs([LAN], services, writes, behavior, 7)
            assert REFUSED, behavior
            assert max(TOGETHER) > 1, behavior  # watched ones, refused together
            with mock.patch.object(Controller, "refusing", lambda _: {}):
                _runs([LAN], services, writes, behavior, 7)
        assert WATCHED, behavior  # (each answered alone when none is refused together)


@settings(max_examples=25, deadline=None)
@_on_random_groups
def test_pending_members_joined_at_once_are_the_loop_taking_each(
    groups: list[Group], pools: list[Pool], seed: int, behavior: str
) -> None:
    """A pass adding the run of pending members after one to the refusals at once
    (SimulatedCluster._join_refusing) is the pass's loop taking each of them in turn: every run
    alike, events, results of every pass and walk included."""
    services, writes = _component(groups)
    with mock.patch.object(simcluster, "QUIET_PASS_MIN", 0):
        joined = _runs(pools, services, writes, behavior, seed)
        with mock.patch.object(SimulatedCluster, "_join_refusing", lambda *_: 0):
            assert _runs(pools, services, writes, behavior, seed) == joined


@pytest.mark.parametrize("behavior", ["metallb-0.15", "metallb-0.14"])
def test_pending_members_of_two_groups_are_joined_per_ip(behavior: str) -> None:
    """Two groups changing their keys, their pending members next in a pass's order: each run
    of one IP's members is joined at once (the check above sees runs joined), and stops where
    the other IP's begin."""
    services, writes = _component([Group(0, 6, True, "rekey"), Group(1, 6, True, "rekey")])
    JOINED.clear()
    with mock.patch.object(simcluster, "QUIET_PASS_MIN", 0):
        with mock.patch.object(SimulatedCluster, "_join_refusing", _counted_join):
            joined = _runs([LAN], services, writes, behavior, 7)
        with mock.patch.object(SimulatedCluster, "_join_refusing", lambda *_: 0):
            assert _runs([LAN], services, writes, behavior, 7) == joined
    assert max(JOINED) > 1


def _counted_join(self: SimulatedCluster, *args: Any) -> int:
    joined = JOIN_REFUSING(self, *args)
    JOINED.append(joined)
    return joined


JOIN_REFUSING = SimulatedCluster._join_refusing
JOINED: list[int] = []


def _checked_answer_quiet(self: Controller, svc_keys: Sequence[str]) -> None:
    """answer_quiet, after handing the same Services over for real (nothing remembered) to a
    copy: each must answer success and leave the allocator, the walk and the keys alike."""
    quiet = self.quiet()
    real = self.copy()
    real._remembers = False
    for svc_key in svc_keys:
        assert real.set_balancer(svc_key, quiet[svc_key]) == Result("success"), svc_key
    ANSWER_QUIET(self, svc_keys)
    assert real.allocator.snapshot() == self.allocator.snapshot()
    assert list(real.allocator._allocated) == list(self.allocator._allocated)
    assert real._keys == self._keys
    CHECKED.append(len(svc_keys))


ANSWER_QUIET = Controller.answer_quiet
CHECKED: list[int] = []


@settings(max_examples=25, deadline=None)
@_on_random_groups
def test_every_service_answered_in_bulk_would_have_answered_so(
    groups: list[Group], pools: list[Pool], seed: int, behavior: str
) -> None:
    """Each Service a pass answers in bulk, handed over for real with nothing remembered,
    answers success and changes nothing but the walk, as the bulk answer did: a Service whose
    answer changed (something it reads changed and did not wake it) fails here."""
    services, writes = _component(groups)
    with (
        mock.patch.object(simcluster, "QUIET_PASS_MIN", 0),
        mock.patch.object(Controller, "answer_quiet", _checked_answer_quiet),
    ):
        _runs(pools, services, writes, behavior, seed)


def test_the_bulk_answers_are_checked() -> None:
    """The check above does see Services answered in bulk (under every behaviour)."""
    groups = [Group(0, 3, False, "rekey"), Group(1, 2, True, "local")]
    services, writes = _component(groups)
    for behavior in ("fixed", "metallb-0.15", "metallb-0.14"):
        CHECKED.clear()
        with (
            mock.patch.object(simcluster, "QUIET_PASS_MIN", 0),
            mock.patch.object(Controller, "answer_quiet", _checked_answer_quiet),
        ):
            _runs([LAN, Pool("lan2", ["10.0.1.0/29"])], services, writes, behavior, 7)
        assert sum(CHECKED) > 0, behavior


def _sharing_pair() -> SimulatedCluster:
    a = svc("a", status=("10.0.0.5",), share="g", ports=[("TCP", 53)], clusterIP="10.96.0.1")
    b = svc("b", status=("10.0.0.5",), share="g", ports=[("UDP", 53)], clusterIP="10.96.0.2")
    c = svc("c", status=("10.0.0.6",), share="h", ports=[("TCP", 80)], clusterIP="10.96.0.3")
    cluster = SimulatedCluster.bootstrap([LAN], [a, b, c], "metallb-0.15")
    cluster.queue.append(RELOAD)
    cluster.settle()
    return cluster


def _pass_handing_over(cluster: SimulatedCluster) -> tuple[Handled | None, list[str]]:
    """The next step's handling (a reprocess-all pass), and the Services it handed to the
    controller's set_balancer (the others answered from what they are known to read)."""
    handed: list[str] = []
    real = Controller.set_balancer

    def spy(self: Controller, svc_key: str, manifest: Any) -> Result:
        handed.append(svc_key)
        return real(self, svc_key, manifest)

    with (
        mock.patch.object(simcluster, "QUIET_PASS_MIN", 0),
        mock.patch.object(Controller, "set_balancer", spy),
    ):
        handled = cluster.process_next(Process())
    return handled, handed


def test_another_leaving_a_quiet_services_ip_leaves_it_quiet() -> None:
    """A quiet Service reads its IP's key and its own ports: another one leaving the IP changes
    neither, so it stays quiet and the next pass hands over nobody (a large group's members
    stay quiet while the others change their key one by one)."""
    cluster = _sharing_pair()
    assert set(cluster.controller.quiet()) == {"ns/a", "ns/b", "ns/c"}
    cluster.arrive("ns/b", None)
    cluster.process_next()  # b's deletion: it leaves 10.0.0.5, a reprocess-all is queued
    assert cluster.queue == [RELOAD]
    assert set(cluster.controller.quiet()) == {"ns/a", "ns/c"}
    handled, handed = _pass_handing_over(cluster)
    assert handled is not None
    assert [key for key, _ in handled.results] == ["ns/a", "ns/c"]
    assert handed == []
    assert set(cluster.controller.quiet()) == {"ns/a", "ns/c"}


def test_a_change_of_what_a_quiet_service_reads_wakes_it_and_the_pass_hands_it_over() -> None:
    """A quiet Service is woken when its IP's key is forgotten (the last port left it, so its
    own allocation no longer holds alone), not when a Service elsewhere changes; the next pass
    hands over exactly the woken ones."""
    cluster = _sharing_pair()
    a = cluster.store["ns/a"]
    portless = {**a, "spec": {**a["spec"], "ports": []}}
    cluster.arrive("ns/a", portless)
    cluster.settle()
    assert set(cluster.controller.quiet()) == {"ns/a", "ns/b", "ns/c"}
    cluster.arrive("ns/b", None)
    cluster.process_next()  # b leaves 10.0.0.5 with its port: the IP's key is forgotten
    assert cluster.queue == [RELOAD]
    assert set(cluster.controller.quiet()) == {"ns/c"}
    handled, handed = _pass_handing_over(cluster)
    assert handled is not None
    assert [key for key, _ in handled.results] == ["ns/a", "ns/c"]
    assert handed == ["ns/a"]
    assert set(cluster.controller.quiet()) == {"ns/a", "ns/c"}


def test_a_caller_replacing_a_stored_manifest_by_hand_wakes_it() -> None:
    """The store is a public dict: a manifest put there by hand is handed over, not answered
    from what the controller knew of the one before."""
    cluster = _sharing_pair()
    replaced = dict(cluster.store["ns/c"])
    cluster.store["ns/c"] = replaced
    cluster.queue.append(RELOAD)
    _, handed = _pass_handing_over(cluster)
    assert handed == ["ns/c"]


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_reassigned_all_is_reassigned_one_by_one(seed: int) -> None:
    """The bulk walk move is each Service's move in order: the walk, its places and counters."""
    rng = random.Random(seed)
    names = [f"ns/s{i}" for i in range(12)]

    def allocator() -> Allocator:
        made = Allocator([Pool("p", ["10.0.0.0/28"])])
        for name in names[:8]:
            made.allocate(name, None, "ipv4", [("TCP", 80)], "", "")
        return made

    keys = rng.sample(names, rng.randint(0, len(names)))
    if keys and rng.random() < 0.5:
        keys.insert(0, names[7])  # the last allocation first: it moves nowhere
        keys = list(dict.fromkeys(keys))
    bulk, each = allocator(), allocator()
    bulk.reassigned_all(keys)
    for key in keys:
        each.reassigned(key)
    assert list(bulk._allocated) == list(each._allocated)
    assert bulk._walk == each._walk
    assert (bulk.walk_changes, bulk.reassigns, bulk._walk_next) == (
        each.walk_changes,
        each.reassigns,
        each._walk_next,
    )


def test_a_pool_change_wakes_every_quiet_service() -> None:
    """Every handling reads the configuration: after a pool change the pass hands every
    Service over, and ends as the pass that hands each over does."""

    def after_pool_change() -> tuple[Any, ...]:
        cluster = _sharing_pair()
        assert cluster.controller.quiet()
        cluster.set_pools([Pool("lan", ["10.0.0.8/29"])])  # 10.0.0.5 and .6 are no more
        assert not cluster.controller.quiet()
        cluster.settle()
        return (
            cluster.store,
            cluster.history,
            cluster.events,
            cluster.controller.allocator.snapshot(),
        )

    with mock.patch.object(simcluster, "QUIET_PASS_MIN", 0):
        bulk = after_pool_change()
    with mock.patch.object(SimulatedCluster, "_reprocess_all", SimulatedCluster._reprocess_each):
        assert after_pool_change() == bulk
    assert {ip for svc in bulk[0].values() for ip in simcluster.ingress_ips(svc)} <= {
        f"10.0.0.{n}" for n in range(8, 16)
    }


def test_requested_ips_are_parsed_once_per_text_however_many_texts() -> None:
    """A repo of 100,000 Services has 45,000 distinct requested-IP texts: each is parsed once
    (a cache of 4,096 parsed them again and again beyond 10,000 Services)."""
    from planner.model import service

    texts = [f"10.{n // 65536}.{n // 256 % 256}.{n % 256}" for n in range(6000)]
    manifests = [svc(f"s{n}", ip=text) for n, text in enumerate(texts)]
    service._requested_in_annotation.cache_clear()
    for _ in range(2):
        for manifest in manifests:
            service.requested_ips(manifest)
    assert service._requested_in_annotation.cache_info().misses == len(texts)


def _tracked() -> Allocator:
    made = Allocator([Pool("p", ["10.0.0.0/28"])])
    made.track_moves()
    return made


def test_an_allocator_call_logs_what_it_touched_of_the_sharing_reads() -> None:
    """Allocator.touches names every IP whose remembered key changed or which became held or
    free, and every (IP, port) whose holder changed; moves the Services whose holding may read
    otherwise (the Service itself, holders of a port taken or freed, all on a re-keyed IP)."""
    made = _tracked()
    watch_a = made.sharing_watch(["10.0.0.5"], [Port("TCP", 80)])
    ip, (_, port_a) = watch_a[0], watch_a[1]
    made.assign("ns/a", None, ["10.0.0.5"], [("TCP", 80)], "k", "")
    assert made.touches() == [ip, (ip, port_a), ip]  # keyed, port taken, held
    assert set(made.moves()) == {"ns/a"}
    made.assign("ns/b", None, ["10.0.0.5"], [("TCP", 53)], "k", "")
    (_, port_b) = made.sharing_watch(["10.0.0.5"], [Port("TCP", 53)])[1]
    assert made.touches() == [(ip, port_b)]  # same key, already held: only b's port
    assert set(made.moves()) == {"ns/b"}
    made.unassign("ns/b")
    assert made.touches() == [(ip, port_b)]
    assert set(made.moves()) == {"ns/b"}
    made.unassign("ns/a")
    assert made.touches() == [(ip, port_a), ip, ip]  # port freed, free, key forgotten
    assert set(made.moves()) == {"ns/a"}
    assert made.touches() == [] and made.moves() == []


def test_an_untracked_allocator_logs_nothing() -> None:
    made = Allocator([Pool("p", ["10.0.0.0/28"])])
    made.assign("ns/a", None, ["10.0.0.5"], [("TCP", 80)], "k", "")
    assert made.touches() == [] and made.moves() == []
