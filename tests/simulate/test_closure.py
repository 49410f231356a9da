"""The warnings closure under symmetry (planner.simulate.states.ClosedWarnings): each Service's
set, made when read from the reduced graph's warnings, is exactly what closing every warning
under the swaps of each class's members gives (the closure as it was built before, kept here as
the reference), on random classes and texts and on explorations; and nothing is made until read."""

from __future__ import annotations

from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.model.allocator import Port
from planner.simulate import states
from planner.simulate.states import ClosedWarnings, SortedWarnings, explore_states
from planner.simulate.world import explore_writes
from tests.simulate.test_states import Spec, _cluster


def _worklist_closure(
    symmetry: states._Symmetry, raw: dict[str, set[str]]
) -> dict[str, frozenset[str]]:
    """Every (Service, text) pair closed under the swaps of each class's first member with each
    other one, pair by pair (the closure _closed built eagerly before ClosedWarnings)."""
    closed = {svc: set(texts) for svc, texts in raw.items() if texts}
    swaps = [symmetry.swap(c[0], m) for c in symmetry.classes for m in c[1:]]
    work = [(svc, text) for svc, texts in closed.items() for text in texts]
    while work:
        svc, text = work.pop()
        for swap in swaps:
            target = closed.setdefault(swap.name(svc), set())
            renamed = swap.text(text)
            if renamed not in target:
                target.add(renamed)
                work.append((swap.name(svc), renamed))
    return {svc: frozenset(texts) for svc, texts in sorted(closed.items())}


@st.composite
def symmetric_texts(draw: st.DrawFn) -> tuple[states._Symmetry, dict[str, set[str]]]:
    """One or two classes (2 to 5 members; their ports all alike or each its own) beside
    Services of no class, and warnings naming members, others and ports: single keys, sorted
    comma-separated lists of keys (as the allocator prints holders), ports as PROTO/NUMBER."""
    sizes = draw(st.lists(st.integers(2, 5), min_size=1, max_size=2))
    classes: list[tuple[str, ...]] = []
    ports: dict[str, tuple[Port, ...]] = {}
    number = 50
    for index, size in enumerate(sizes):
        members = tuple(f"ns{index}/m{i}" for i in range(size))
        classes.append(members)
        # (as _find_symmetry forms classes: ports all equal, or each its own and nobody else's)
        alike = draw(st.booleans())
        number += 1
        protocol = draw(st.sampled_from(["TCP", "UDP"]))
        for member in members:
            if not alike:
                number += 1
                protocol = draw(st.sampled_from(["TCP", "UDP"]))
            ports[member] = (Port(protocol, number),)
    others = ["ns0/x", "ns9/y"]
    for other in others:
        number += 1
        ports[other] = (Port("TCP", number),)
    keys = [m for c in classes for m in c] + others
    every_port = sorted({str(p) for ps in ports.values() for p in ps})

    def text() -> str:
        named = draw(st.sampled_from(keys))
        held = sorted(draw(st.lists(st.sampled_from(keys), min_size=1, max_size=4, unique=True)))
        port = draw(st.sampled_from(every_port))
        template = draw(st.integers(0, 3))
        if template == 0:
            return f'AllocationFailed: for "{named}": address also in use by {",".join(held)}'
        if template == 1:
            return f"AllocationFailed: port {port} is already in use by {named}"
        if template == 2:
            return f"GroupTransitionInfeasible: {named}: {','.join(held)} hold {port}"
        return "deprecatedAnnotation: metallb.universe.tf/allow-shared-ip is deprecated"

    raw: dict[str, set[str]] = {}
    for svc in draw(st.lists(st.sampled_from(keys), min_size=1, max_size=4, unique=True)):
        raw[svc] = {text() for _ in range(draw(st.integers(1, 3)))}
    identities: dict[str, tuple[Any, ...]] = {k: () for k in keys}
    return states._Symmetry(classes, ports, identities), raw


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=symmetric_texts())
def test_each_services_warnings_are_the_worklist_closure(
    case: tuple[states._Symmetry, dict[str, set[str]]],
) -> None:
    symmetry, raw = case
    closed = ClosedWarnings(symmetry.fresh(), raw)
    expected = _worklist_closure(symmetry.fresh(), raw)
    assert list(closed) == list(expected)
    assert len(closed) == len(expected)
    for svc in expected:
        assert svc in closed and closed[svc] == expected[svc], svc
    assert "ns5/nobody" not in closed and closed.get("ns5/nobody") is None
    assert dict(closed) == expected
    view = SortedWarnings(closed)
    assert {svc: tuple(view[svc]) for svc in view} == {
        svc: tuple(sorted(texts)) for svc, texts in expected.items()
    }


def _group(size: int, behavior: str) -> tuple[Any, Any]:
    """A group on 10.0.0.1, each member its own port, changing Cluster -> Local (issue 16)."""
    live = [Spec(f"m{i}", "k1", i % 3, "10.0.0.1", False) for i in range(size)]
    moves: list[tuple[str, Spec | None]] = [
        (s.name, Spec(s.name, s.share, s.ports, s.ip, True)) for s in live
    ]
    return _cluster(live, moves, behavior)


def test_an_explorations_warnings_are_the_worklist_closure_of_the_reduced_graphs() -> None:
    """The reduced graph's raw warnings (before closing), closed by the worklist, are what
    ClosedWarnings gives and what the whole graph raises."""
    base, writes = _group(3, "metallb-0.14")
    raw: list[tuple[states._Symmetry, dict[str, set[str]]]] = []
    real = states._closed

    def recording(start: Any, symmetry: Any, ends: Any, paths: Any, warnings: Any) -> Any:
        raw.append((symmetry.fresh(), {k: set(v) for k, v in warnings.items()}))
        return real(start, symmetry, ends, paths, warnings)

    with mock.patch.object(states, "_closed", recording):
        reduced = explore_states(base, writes)
    whole = explore_states(base, writes, symmetry=False)
    assert reduced.symmetric == (("ns/m0", "ns/m1", "ns/m2"),) and len(raw) == 1
    assert isinstance(reduced.warnings, ClosedWarnings)
    assert dict(reduced.warnings) == _worklist_closure(*raw[0]) == dict(whole.warnings)
    # The raw warnings name fewer texts than the whole graph raises (what the closure adds).
    assert sum(map(len, raw[0][1].values())) < sum(map(len, whole.warnings.values()))


def test_warnings_are_made_only_when_read() -> None:
    """Looking up a Service's warnings (as every claim on a pending Service does) makes none;
    reading one Service's texts makes that Service's set alone."""
    base, writes = _group(3, "metallb-0.14")
    exploration = explore_writes(base, writes, seed=0)
    assert exploration.exhaustive
    lazy = exploration.warnings
    assert isinstance(lazy, SortedWarnings)
    closed = lazy._warnings
    assert isinstance(closed, ClosedWarnings)
    texts = {svc: lazy.get(svc, ()) for svc in ("ns/m0", "ns/m1", "ns/m2")}
    assert closed._made == {}
    first = next(iter(texts["ns/m1"]))
    assert list(closed._made) == ["ns/m1"]
    assert first == min(closed["ns/m1"]) and list(texts["ns/m1"]) == sorted(closed["ns/m1"])
    assert texts["ns/m1"] == tuple(sorted(closed["ns/m1"])) and len(texts["ns/m1"]) > 1
