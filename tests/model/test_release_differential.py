"""metallb-0.14 (v0.14.9) and metallb-0.15 (v0.15.3) side by side on random single-stack scenarios.

Where the two releases' code is the same the two models must answer alike: the same writes, the
same events, the same allocator state after every Service event. The differences are pinned:
each one the property meets must be one of `ALLOWED`, and each allowed one has an example
below that shows it happens.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from planner.model.allocator import Pool
from planner.model.controller import REPROCESS_ALL, Behavior, Controller, Result
from planner.model.service import ingress_ips

# v0.15.0 (PR #2692): a change of the allocation key, compared as the joined string
# backend + sharing, answers reprocess-all; v0.14.9 answers as it would without it. Only the
# sync state differs: the writes, events and allocator state stay the same.
KEY_CHANGE = "reprocess-all on an allocation-key change"
# v0.15.0 (config.go): a serviceAllocation with no namespaces and no selectors (a priority only,
# or empty) matches every Service, so its pool is tried first; v0.14.9 never auto-assigns from it.
PRIORITY_ONLY = "a priority-only serviceAllocation is pinned for every Service"
# v0.15.0 (PR #2726): AllocateFromPool on a pool with no free address of the Service's family
# hands Assign a nil IP, so the AllocationFailed message of a Service whose `address-pool` is
# exhausted is `["<nil>"] is not allowed in config`; v0.14.9 says `no available IPs in pool ...`.
# Only the message differs.
EXHAUSTED_POOL = "the message for an exhausted requested pool"
ALLOWED = {KEY_CHANGE, PRIORITY_ONLY, EXHAUSTED_POOL}

# Small pools (p1 holds one address), so that Services run out of addresses often.
CIDRS = ("10.0.0.0/31", "10.0.1.0/32", "10.0.2.0/31")
# Each pool may also hold IPv6 addresses (then it is dual-family; every Service stays single-stack).
CIDRS_V6 = ("fd00::/127", "fd00:1::/128", "fd00:2::/127")
REQUESTABLE = ("10.0.0.1", "10.0.1.0", "10.0.2.1", "10.9.9.9", "fd00::1")  # 10.9.9.9: no pool
NAMES = ("s0", "s1", "s2", "s3")


@dataclass(frozen=True)
class Edit:
    """One version of a Service as its manifest sets it (None in a step: the Service is deleted)."""

    namespace: str
    share: str | None
    local: bool
    port: int
    requested: str | None
    web: bool  # labelled tier=web (a service selector matches it)
    pool: str | None = None  # the metallb.io/address-pool annotation
    ipv6: bool = False  # an IPv6 single-stack Service (IPv4 otherwise)


def manifest(name: str, edit: Edit, status: tuple[str, ...]) -> dict[str, Any]:
    """The Service the controller is handed: the edit, with the status the cluster holds."""
    annotations = {}
    if edit.share is not None:
        annotations["metallb.io/allow-shared-ip"] = edit.share
    if edit.requested is not None:
        annotations["metallb.io/loadBalancerIPs"] = edit.requested
    if edit.pool is not None:
        annotations["metallb.io/address-pool"] = edit.pool
    svc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": edit.namespace,
            "annotations": annotations,
            "labels": {"tier": "web"} if edit.web else {},
        },
        "spec": {
            "type": "LoadBalancer",
            "clusterIPs": ["fd00:96::10" if edit.ipv6 else "10.96.0.10"],
            "ipFamilies": ["IPv6" if edit.ipv6 else "IPv4"],
            "ports": [{"port": edit.port, "protocol": "TCP"}],
            "selector": {"app": name},
            "externalTrafficPolicy": "Local" if edit.local else "Cluster",
        },
    }
    if status:
        svc["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in status]}}
    return svc


@st.composite
def pools(draw: st.DrawFn) -> list[Pool]:
    """One to three IPv4 pools, each plain, manual, namespace- or selector-pinned, or
    pinned by a priority only."""
    found = []
    for index in range(draw(st.integers(1, 3))):
        name, cidr = f"p{index}", (CIDRS[index],)
        if draw(st.booleans()):
            cidr = (*cidr, CIDRS_V6[index])
        kind = draw(st.sampled_from(["plain", "manual", "namespace", "selector", "priority"]))
        priority = draw(st.integers(0, 2))
        if kind == "plain":
            found.append(Pool(name, cidr))
        elif kind == "manual":
            found.append(Pool(name, cidr, auto_assign=False))
        elif kind == "namespace":
            found.append(Pool(name, cidr, namespaces=("a",), priority=priority))
        elif kind == "selector":
            found.append(Pool(name, cidr, service_selectors=("tier=web",), priority=priority))
        else:
            found.append(Pool(name, cidr, priority=priority, has_service_allocation=True))
    return found


edits = st.builds(
    Edit,
    namespace=st.sampled_from(["a", "b"]),
    share=st.sampled_from([None, "k1", "k2"]),
    local=st.booleans(),
    port=st.sampled_from([53, 80, 443]),
    requested=st.sampled_from([None, None, *REQUESTABLE]),
    web=st.booleans(),
    pool=st.sampled_from([None, None, None, "p0", "p1", "p9"]),  # p9: no such pool
    ipv6=st.booleans(),
)
steps = st.lists(
    st.tuples(st.sampled_from(NAMES), st.one_of(st.none(), edits, edits, edits)),
    min_size=1,
    max_size=14,
)


def priority_only(pools_: list[Pool]) -> set[str]:
    """The pools v0.15 pins for every Service (serviceAllocation without namespaces and selectors)."""
    return {
        p.name
        for p in pools_
        if p.has_service_allocation
        and not (p.namespaces or p.namespace_selectors or p.service_selectors)
    }


def joined(key: tuple[str, str]) -> str:
    """AllocationKey as Go compares it: backend key + sharing key, one string."""
    sharing, backend = key
    return backend + sharing


def run_side_by_side(pools_: list[Pool], events: list[tuple[str, Edit | None]]) -> set[str]:
    """Hand both models the same events; the differences met (assertion error on any other)."""
    old = Controller(pools_, behavior=Behavior.METALLB_0_14)
    new = Controller(pools_, behavior=Behavior.METALLB_0_15)
    live: dict[str, tuple[str, ...]] = {}  # each Service's status in the cluster
    met: set[str] = set()
    for name, edit in events:
        key = f"{'a' if edit is None else edit.namespace}/{name}"
        svc = None if edit is None else manifest(name, edit, live.get(name, ()))
        key_before = new.allocation_key(key)
        got_old = old.set_balancer(key, copy.deepcopy(svc))
        got_new = new.set_balancer(key, copy.deepcopy(svc))
        if got_old.service == got_new.service and _only_exhausted_messages_differ(got_old, got_new):
            met.add(EXHAUSTED_POOL)
        elif (got_old.service, got_old.events) != (got_new.service, got_new.events):
            # Only an allocation from a pool v0.15 pins for everyone may differ; from then on
            # the two clusters hold different IPs, so the comparison stops.
            assert new.allocator.pool(key) in priority_only(pools_), (name, edit)
            met.add(PRIORITY_ONLY)
            return met
        assert old.allocator.snapshot() == new.allocator.snapshot()
        if got_old.state != got_new.state:
            assert got_new.state == REPROCESS_ALL
            assert joined(key_before) != joined(new.allocation_key(key))
            met.add(KEY_CHANGE)
        _remember(live, name, edit, got_new)
    return met


def _only_exhausted_messages_differ(old: Result, new: Result) -> bool:
    """Whether the events differ, and only in the message of an exhausted requested pool."""
    if old.events == new.events or len(old.events) != len(new.events):
        return False
    for before, after in zip(old.events, new.events, strict=True):
        if before == after:
            continue
        if (before.reason, after.reason) != ("AllocationFailed", "AllocationFailed"):
            return False
        if not (
            "no available IPs in pool" in before.message
            and after.message.endswith('["<nil>"] is not allowed in config')
        ):
            return False
    return True


def _remember(
    live: dict[str, tuple[str, ...]], name: str, edit: Edit | None, result: Result
) -> None:
    if edit is None:
        live.pop(name, None)
    elif result.service is not None:
        live[name] = ingress_ips(result.service)


@settings(max_examples=300, deadline=None)
@given(pools(), steps)
def test_the_releases_differ_only_where_their_code_does(
    pools_: list[Pool], events: list[tuple[str, Edit | None]]
) -> None:
    assert run_side_by_side(pools_, events) <= ALLOWED


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(["plain", "manual"]), min_size=1, max_size=3).map(
        lambda kinds: [
            Pool(f"p{i}", (CIDRS[i],), auto_assign=kind == "plain") for i, kind in enumerate(kinds)
        ]
    ),
    steps.map(lambda evs: [(n, e if e is None else _unshared(e)) for n, e in evs]),
)
def test_without_sharing_keys_or_priority_pools_the_releases_agree_fully(
    pools_: list[Pool], events: list[tuple[str, Edit | None]]
) -> None:
    # No sharing key and no Local policy: every allocation key joins to "", so nothing may
    # differ, not even the sync state.
    assert run_side_by_side(pools_, events) == set()


def _unshared(edit: Edit) -> Edit:
    return Edit(edit.namespace, None, False, edit.port, edit.requested, edit.web, None, edit.ipv6)


# --- each allowed difference happens ----------------------------------------------------------


def test_a_key_change_is_a_difference_in_the_sync_state_only() -> None:
    first = Edit("a", "k1", False, 80, None, False)
    changed = Edit("a", "k2", False, 80, None, False)
    assert run_side_by_side([Pool("p0", (CIDRS[0],))], [("s0", first), ("s0", changed)]) == {
        KEY_CHANGE
    }


def test_a_priority_only_pool_is_taken_by_015_only() -> None:
    pools_ = [
        Pool("p0", (CIDRS[0],)),
        Pool("p1", (CIDRS[1],), priority=1, has_service_allocation=True),
    ]
    edit = Edit("a", None, False, 80, None, False)
    assert run_side_by_side(pools_, [("s0", edit)]) == {PRIORITY_ONLY}


def test_an_exhausted_requested_pool_differs_in_the_message_only() -> None:
    pools_ = [Pool("p1", (CIDRS[1],))]
    events = [(name, Edit("a", None, False, 80, None, False, "p1")) for name in ("s0", "s1")]
    assert run_side_by_side(pools_, events) == {EXHAUSTED_POOL}


def test_a_requested_ip_from_a_priority_only_pool_is_no_difference() -> None:
    # Assign reads no serviceAllocation match-everything rule: both releases give it.
    pools_ = [Pool("p1", (CIDRS[1],), priority=1, has_service_allocation=True)]
    edit = Edit("a", "k1", False, 80, "10.0.1.0", False)
    again = Edit("a", "k1", False, 443, "10.0.1.0", False)
    assert run_side_by_side(pools_, [("s0", edit), ("s0", again)]) <= {KEY_CHANGE}


def test_moving_a_word_between_the_keys_is_no_key_change_in_either() -> None:
    # v0.15 compares backend + sharing as one string: "app=s0" + "k1" both times.
    before = Edit("a", "k1", True, 80, "10.0.0.1", False)
    old = Controller([Pool("p0", (CIDRS[0],))], behavior=Behavior.METALLB_0_15)
    first = old.set_balancer("a/s0", manifest("s0", before, ()))
    assert first.service is not None
    moved = manifest("s0", before, ingress_ips(first.service))
    moved["metadata"]["annotations"]["metallb.io/allow-shared-ip"] = "1"
    moved["spec"]["selector"] = {"app": "s0k"}
    assert old.set_balancer("a/s0", moved).state != REPROCESS_ALL
