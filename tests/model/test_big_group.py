"""One sharing group of many Services: warnings printed when read (planner.model.events) are the
texts a message built at once would have been, naming the holders of their own moment however
the IP changed since; the group's bookkeeping reads the group once per change, not per member;
the allocator's remembered addresses behave as plain ones."""

from __future__ import annotations

import ipaddress
import pickle
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.model.allocator import Allocator, ErrorKind, Pool, Port, _ip
from planner.model.controller import Controller, Event, Result
from planner.model.events import HolderNames
from planner.model.simcluster import RELOAD, SimulatedCluster, adversarial_runs, random_runs
from tests.model.test_seed_scenario import with_group_annotations
from tests.model.test_simcluster import svc

NAMES = tuple(f"ns/m{i:02d}" for i in range(12))
POOL = Pool("one", ["10.0.0.1/32"])


@settings(max_examples=100, deadline=None)
@given(steps=st.lists(st.tuples(st.sampled_from(NAMES), st.booleans()), max_size=200))
def test_every_snapshot_prints_the_names_of_its_moment(steps: list[tuple[str, bool]]) -> None:
    """Snapshots taken along any sequence of holders coming and going (links, rebuilt whole
    lists, one name left out) each print their own moment's sorted names, also unpickled."""
    held: set[str] = set(NAMES[:3])
    snapshot = HolderNames.of(held)
    taken: list[tuple[HolderNames, str]] = [(snapshot, ",".join(sorted(held)))]
    for name, comes in steps:
        now = held | {name} if comes else held - {name}
        snapshot = snapshot.then(frozenset(now), now - held, held - now)
        held = now
        taken.append((snapshot, ",".join(sorted(held))))
        if name in held:
            taken.append((snapshot.without(name), ",".join(sorted(held - {name}))))
    for snapshot, text in taken:
        assert str(snapshot) == text
        assert len(snapshot) == len(text.split(",")) if text else len(snapshot) == 0
        assert str(pickle.loads(pickle.dumps(snapshot))) == text


def test_a_refusal_kept_from_before_still_names_the_holders_of_then() -> None:
    """Refusals of a pending Service taken while the holders leave one by one: each message is
    the one built at once at its moment (sorted holders), not the holders of later."""
    allocator = Allocator([POOL])
    holders = list(NAMES[:6])
    for index, name in enumerate(holders):
        allocator.assign(name, None, ["10.0.0.1"], [Port("TCP", 100 + index)], "a", "")
    kept = []
    for leaving in [None, *holders[:-1]]:
        if leaving is not None:
            allocator.unassign(leaving)
        refusal = allocator.refusal("ns/new", None, ["10.0.0.1"], [Port("UDP", 1)], "b", "")
        assert refusal is not None and refusal.kind == ErrorKind.SHARING_KEY_MISMATCH
        others = ",".join(allocator.holders("10.0.0.1"))
        kept.append(
            (refusal, f'can\'t change sharing key for "ns/new", address also in use by {others}')
        )
    for refusal, text in kept:
        assert (refusal.message, str(refusal)) == (text, text)


def _group(count: int, local: bool) -> list[dict[str, Any]]:
    """`count` Services on one requested IP, one sharing key, each its own port."""
    return [
        svc(
            name.split("/")[1],
            ip="10.0.0.1",
            share="g",
            ports=[("TCP", 100 + index)],
            local=local,
            status=() if local else ("10.0.0.1",),
            clusterIP=f"10.96.0.{index + 1}",
        )
        for index, name in enumerate(NAMES[:count])
    ]


@pytest.mark.parametrize("behavior", ["metallb-0.15", "metallb-0.14"])
def test_logged_warnings_print_as_built_at_once(behavior: str) -> None:
    """A group of 6 changing its key, in the named and random schedules: every event logged
    prints, at the end of the run, the text it had when logged, and a pending member's refusal
    names exactly the IP's other holders at that step (as the straightforward sort would)."""
    cluster = SimulatedCluster.bootstrap([POOL], _group(6, False), behavior)
    writes = [(key, manifest) for key, manifest in zip(NAMES, _group(6, True), strict=False)]
    at_log: list[str] = []
    log = SimulatedCluster._log

    def logged(self: SimulatedCluster, events: Any) -> None:
        for event in events:
            at_log.append(str(event))
            if event.reason == "AllocationFailed" and "address also in use by " in event.head:
                holders = self.controller.allocator.holders("10.0.0.1")
                others = ",".join(h for h in holders if h != event.svc_key)
                assert str(event).endswith(f"address also in use by {others}")
        log(self, events)

    with mock.patch.object(SimulatedCluster, "_log", logged):
        runs = [*adversarial_runs(cluster, writes), *random_runs(cluster, writes, 7, count=3)]
    printed = [str(event) for run in runs for _, event in run.cluster.events]
    named = sum("address also in use by ns/" in text for text in printed)
    assert printed == at_log and named > 6
    for run in runs:
        for name in NAMES[:6]:
            expected = [
                str(e) for _, e in run.cluster.events if e.svc_key == name and e.type == "Warning"
            ]
            texts = run.cluster.warnings(name)
            assert texts == expected and list(texts) == expected and list(texts[:2]) == expected[:2]


def test_events_and_results_compare_hash_and_pickle_by_their_text() -> None:
    """An event naming holders equals, hashes and pickles as the same event with the text
    written out; a result keeping warnings as events reads them as the list of texts."""
    names = HolderNames.of(["ns/b", "ns/a"])
    lazy = Event("ns/c", "Warning", "AllocationFailed", "in use by ", names)
    eager = Event("ns/c", "Warning", "AllocationFailed", "in use by ns/a,ns/b")
    assert lazy == eager and hash(lazy) == hash(eager) and lazy.message == eager.message
    assert pickle.loads(pickle.dumps(lazy)) == eager
    assert lazy != Event("ns/c", "Warning", "AllocationFailed", "in use by ns/a")
    with pytest.raises(AttributeError):
        lazy.reason = "other"  # type: ignore[misc]
    result = Result.of("error_no_retry", None, (lazy,))
    assert result.warnings == ["AllocationFailed: in use by ns/a,ns/b"]
    assert result == Result("error_no_retry", None, [str(eager)], {}, (eager,))
    copy = result.copied()
    assert copy == result and copy.warnings is not result.warnings
    assert pickle.loads(pickle.dumps(result)) == result


def test_a_settled_group_pass_reads_the_group_once_per_change() -> None:
    """fixed: the pass after another Service took an IP elsewhere (the allocator's version
    moved) compares the settled group's holdings once, not once per member, finds the group's
    facts by the cache stamp without looking at every member, and ends as a cluster whose
    controller runs every handling."""
    members = with_group_annotations(_group(8, False))
    pools = [POOL, Pool("two", ["10.0.1.0/30"])]
    cluster = SimulatedCluster.bootstrap(pools, members, "fixed")
    afresh = cluster.copy()
    afresh.controller._remembers = False
    calls: list[str] = []
    logged = len(cluster.handled)
    with (
        mock.patch.object(Controller, "_group_holding", _counted(calls, "holding")),
        mock.patch.object(Controller, "_group_ready", _counted(calls, "ready")),
    ):
        cluster.arrive("ns/x", svc("x", ip="10.0.1.1", share="x"))
        assert cluster.settle()
    passes = [h for h in cluster.handled[logged:] if h.item == RELOAD]
    assert [len(p.results) for p in passes] == [9]
    # Not even once: x took an IP none of the members is on, so they stayed quiet and the pass
    # answered them without a handling (tests/model/test_quiet_pass.py).
    assert calls == []
    afresh.arrive("ns/x", svc("x", ip="10.0.1.1", share="x"))
    assert afresh.settle()
    assert cluster.store == afresh.store and cluster.events == afresh.events
    assert cluster.controller.allocator.snapshot() == afresh.controller.allocator.snapshot()


def test_a_settled_group_handed_over_reads_the_group_once_per_change() -> None:
    """fixed, every Service handed over (no bulk answer for quiet ones): the pass after another
    Service took an IP elsewhere compares the settled group's holdings once, not per member."""
    members = with_group_annotations(_group(8, False))
    pools = [POOL, Pool("two", ["10.0.1.0/30"])]
    cluster = SimulatedCluster.bootstrap(pools, members, "fixed")
    calls: list[str] = []
    with (
        mock.patch.object(SimulatedCluster, "_reprocess_all", SimulatedCluster._reprocess_each),
        mock.patch.object(Controller, "_group_holding", _counted(calls, "holding")),
        mock.patch.object(Controller, "_group_ready", _counted(calls, "ready")),
    ):
        cluster.arrive("ns/x", svc("x", ip="10.0.1.1", share="x"))
        assert cluster.settle()
    assert calls == ["holding"]


def _counted(calls: list[str], name: str) -> Any:
    """Controller's method `name` (as _group_<name>), logging each call in `calls`."""
    method = getattr(Controller, f"_group_{name}")

    def counted(self: Controller, *args: Any) -> Any:
        calls.append(name)
        return method(self, *args)

    return counted


def test_copies_share_a_services_warnings_until_either_logs_more() -> None:
    """Warnings logged by a cluster and by copies of it, in turns: each reads exactly its own,
    in order, and a long history reads and compares without deep recursion."""
    base = SimulatedCluster.bootstrap([POOL], [])
    warn = [Event("ns/a", "Warning", "W", f"#{index}") for index in range(3000)]
    base._log(warn[:2])
    first, second = base.copy(), base.copy()
    first._log(warn[2:4])
    second._log([warn[9]])
    base._log([warn[8]])
    first._log(warn[4:3000])
    assert list(base.warnings("ns/a")) == [str(e) for e in (*warn[:2], warn[8])]
    assert list(second.warnings("ns/a")) == [str(e) for e in (*warn[:2], warn[9])]
    assert first.warnings("ns/a") == [str(e) for e in warn]
    assert first.copy().warnings("ns/a") == first.warnings("ns/a")


@pytest.mark.parametrize("text", ["10.0.0.1", "::ffff:10.0.0.1", "fd00::1"])
def test_a_remembered_address_is_the_plain_one(text: str) -> None:
    """The allocator's parsed addresses (hash kept) equal, hash, order, print and pickle as
    the plain ones, so tables keyed by either find both."""
    plain = ipaddress.ip_address("10.0.0.1" if "ffff" in text else text)
    kept = _ip(text)
    assert (kept == plain, hash(kept) == hash(plain), {plain: 1}[kept], {kept: 2}[plain]) == (
        True,
        True,
        1,
        2,
    )
    assert (str(kept), repr(kept), kept.version) == (str(plain), repr(plain), plain.version)
    assert not kept < plain and not plain < kept
    assert pickle.loads(pickle.dumps(kept)) == plain and _ip(text) is kept
