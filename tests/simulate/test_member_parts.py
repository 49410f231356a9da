"""A state's canonical form made member by member (states._MemberParts) tells states apart
exactly as the whole fingerprint renamed does (the reference the explorer used before), also
when a member's part mentions another member's key (a sharing key that names one)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from functools import partial

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from planner.model.allocator import Key, Port
from planner.model.controller import BEHAVIORS
from planner.model.simcluster import ServicePart, ServiceWrite, SimulatedCluster, prepared
from planner.simulate.states import (
    _find_symmetry,
    _Interner,
    _MemberParts,
    _mentions,
    _Renaming,
)
from tests.simulate.test_states import Spec, _cluster


def _reached(
    base: SimulatedCluster, writes: Sequence[ServiceWrite], choices: Sequence[int]
) -> list[SimulatedCluster]:
    """The states one schedule passes through (each option picked by a choice)."""
    state = prepared(base, writes)
    seen = [state.copy()]
    for choice in choices:
        options = state.options(explore_ties=True)
        if not options:
            break
        state.apply(options[choice % len(options)])
        seen.append(state.copy())
    return seen


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(2, 3),
    share=st.sampled_from(["k1", "ns/m1"]),
    same_ports=st.booleans(),
    behavior=st.sampled_from(BEHAVIORS),
    schedules=st.lists(st.lists(st.integers(0, 11), max_size=25), min_size=1, max_size=5),
)
def test_member_parts_tell_states_apart_as_the_renamed_fingerprint_does(
    size: int, share: str, same_ports: bool, behavior: str, schedules: list[list[int]]
) -> None:
    """Members on one IP changing their key: along random schedules, two states have the same
    canonical form exactly when their renamed fingerprints are equal (same renaming)."""
    live = [Spec(f"m{i}", share, 0 if same_ports else i, "10.0.0.1", False) for i in range(size)]
    moves = [(s.name, Spec(s.name, share, s.ports, "10.0.0.1", True)) for s in live]
    base, writes = _cluster(live, moves, behavior)
    interner = _Interner()

    def raw(state: SimulatedCluster, renaming: _Renaming) -> Hashable:
        named = partial(interner.renamed, renaming=renaming)
        return renaming.value(state.fingerprint(named))

    found = _find_symmetry(prepared(base, writes), partial(raw, prepared(base, writes)))
    assume(found is not None)
    assert found is not None
    members = _MemberParts(found, interner)
    by_form: dict[Hashable, Hashable] = {}
    by_fingerprint: dict[Hashable, Hashable] = {}
    for choices in schedules:
        for state in _reached(base, writes, choices):
            parts = members.parts(state)
            renaming = found.canonical(state, members.signature(state, parts, {}))
            form = members.key(state, renaming, parts)
            fingerprint = interner.compact(raw(state, renaming))
            assert by_form.setdefault(form, fingerprint) == fingerprint
            assert by_fingerprint.setdefault(fingerprint, form) == form


def test_mentions_finds_keys_and_ports_inside_a_part() -> None:
    """A key or port anywhere in a part (its allocation key, the ports it holds) is found;
    other strings and ports are not."""
    part = ServicePart("ns/a", 1, (2,), (None, ("ns/b", ""), 3), ((("10.0.0.1",), True)), False)
    assert _mentions(part, frozenset({"ns/b"}))
    assert not _mentions(part, frozenset({"ns/c", Port("TCP", 53)}))
    held = ServicePart("ns/a", 1, (), (Key("k1", ""), None, None), None, False)
    assert not _mentions(held, frozenset({"ns/b"}))
    assert _mentions(held, frozenset({"k1"}))
    assert _mentions((frozenset({Port("TCP", 53)}),), frozenset({Port("TCP", 53)}))
