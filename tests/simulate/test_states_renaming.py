"""_Renaming.value: every key and port renamed wherever a fingerprint holds it (tuples,
frozensets, NamedTuples, dataclasses), everything else kept, as a plain recursive walk does;
and the renamings a _Symmetry remembers, a bounded cache that changes no exploration."""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, NamedTuple
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.model.allocator import Key, Port
from planner.simulate import states
from planner.simulate.states import _Renaming
from tests.simulate.test_world import group_change

KEYS = ["ns/a", "ns/b", "ns/c"]
PORTS = [Port("TCP", 53), Port("UDP", 53), Port("TCP", 54)]


@dataclass(frozen=True)
class _Record:
    """A dataclass like the allocator's _Alloc: a key and ports inside."""

    owner: str
    ports: tuple[Port, ...]
    key: Key


class _Pair(NamedTuple):
    first: str
    second: int


class _Name(str):
    """A str subclass: renamed as a key."""


def _reference(renaming: _Renaming, value: Any) -> Any:
    """The plain recursive walk the fast one must agree with."""
    if isinstance(value, str):
        return renaming.keys.get(value, value)
    if isinstance(value, Port):
        return renaming.ports.get(value, value)
    if type(value) is tuple:
        return tuple(_reference(renaming, v) for v in value)
    if type(value) is frozenset:
        return frozenset(_reference(renaming, v) for v in value)
    if isinstance(value, tuple):
        return type(value)(*(_reference(renaming, v) for v in value))
    if is_dataclass(value) and not isinstance(value, type):
        return type(value)(*(_reference(renaming, getattr(value, f.name)) for f in fields(value)))
    return value


_atoms = st.one_of(
    st.sampled_from(KEYS + ["lan", "", "dns"]),
    st.sampled_from(PORTS),
    st.integers(-3, 40),
    st.booleans(),
    st.none(),
    st.just(ipaddress.IPv4Address("10.0.0.1")),
    st.builds(_Name, st.sampled_from(KEYS)),
)
_values = st.recursive(
    _atoms,
    lambda inner: st.one_of(
        st.tuples(inner, inner),
        st.lists(inner, max_size=4).map(tuple),
        st.frozensets(inner, max_size=4),
        st.builds(Key, st.sampled_from(KEYS + ["dns"]), st.sampled_from(KEYS + [""])),
        st.builds(_Pair, st.sampled_from(KEYS), st.integers(0, 3)),
        st.builds(
            _Record,
            st.sampled_from(KEYS),
            st.lists(st.sampled_from(PORTS), max_size=2).map(tuple),
            st.builds(Key, st.just("dns"), st.sampled_from(KEYS + [""])),
        ),
    ),
    max_leaves=12,
)
_renamings = st.permutations(KEYS).map(
    lambda image: _Renaming(
        dict(zip(KEYS, image, strict=True)),
        dict(zip(PORTS, [PORTS[1], PORTS[0], PORTS[2]], strict=True)),
    )
)


@given(_renamings, _values)
def test_value_agrees_with_a_plain_walk(renaming: _Renaming, value: Any) -> None:
    renamed, expected = renaming.value(value), _reference(renaming, value)
    assert renamed == expected
    assert type(renamed) is type(expected)


def test_value_renames_inside_dataclasses_and_named_tuples() -> None:
    renaming = _Renaming({"ns/a": "ns/b", "ns/b": "ns/a"}, {PORTS[0]: PORTS[1]})
    record = _Record("ns/a", (PORTS[0], PORTS[2]), Key("dns", "ns/b"))
    fingerprint = (frozenset({("ns/a", record), ("ns/c", 3)}), _Pair("ns/b", 1), None)
    assert renaming.value(fingerprint) == (
        frozenset(
            {("ns/b", _Record("ns/b", (PORTS[1], PORTS[2]), Key("dns", "ns/a"))), ("ns/c", 3)}
        ),
        _Pair("ns/a", 1),
        None,
    )


# --- the renamings a _Symmetry remembers: a bounded cache ---------------------------------------


def test_the_remembered_renamings_are_bounded_and_the_same_after_a_clear() -> None:
    """With room for two, every permutation of a class of three is still its renaming (equal
    to the one made with room for all), and no more than two are held."""
    ports = {k: (p,) for k, p in zip(KEYS, PORTS, strict=True)}
    identities: dict[str, tuple[Any, ...]] = {k: () for k in KEYS}
    images = [dict(zip(KEYS, image, strict=True)) for image in itertools.permutations(KEYS)]
    unbounded = states._Symmetry([tuple(KEYS)], ports, identities)
    expected = [unbounded.renaming(image) for image in images]
    with mock.patch.object(states, "_RENAMINGS_MAX", 2):
        bounded = states._Symmetry([tuple(KEYS)], ports, identities)
        for _ in range(2):
            assert [bounded.renaming(image) for image in images] == expected
            assert len(bounded._renamings) <= 2
    assert len(unbounded._renamings) == len(images)


@pytest.mark.parametrize("behavior", ["metallb-0.15", "fixed"])
def test_an_exploration_with_one_renaming_remembered_reaches_the_same_states(
    behavior: str,
) -> None:
    """Four interchangeable members changing their key: the same states, edges and end states
    whether every renaming is remembered or the cache is cleared at each new one."""
    whole = states.explore_states(*group_change(4, behavior))
    with mock.patch.object(states, "_RENAMINGS_MAX", 1):
        cleared = states.explore_states(*group_change(4, behavior))
    assert whole.complete and cleared.complete
    assert (cleared.states, cleared.edges) == (whole.states, whole.edges)
    assert [t.cluster.store for t in cleared.terminals] == [
        t.cluster.store for t in whole.terminals
    ]
