"""planner.model._unionfind: the same partitions as networkx's UnionFind (which it replaces)."""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import given
from hypothesis import strategies as st
from networkx.utils import UnionFind as NetworkxUnionFind

from planner.model._unionfind import UnionFind

_unions = st.lists(st.lists(st.integers(0, 30), max_size=4), max_size=40)


def _partition(sets: Iterable[Iterable[int]]) -> list[list[int]]:
    return sorted(sorted(s) for s in sets)


@given(start=st.lists(st.integers(0, 30), max_size=10), unions=_unions)
def test_same_partition_as_networkx(start: list[int], unions: list[list[int]]) -> None:
    ours, theirs = UnionFind(start), NetworkxUnionFind(start)
    for members in unions:
        ours.union(*members)
        theirs.union(*members)
    assert _partition(ours.to_sets()) == _partition(theirs.to_sets())
    assert set(ours) == set(theirs)
    for a in set(ours):
        for b in set(ours):
            assert (ours[a] == ours[b]) == (theirs[a] == theirs[b])


def test_lookup_adds_a_singleton_and_names_sets_by_a_member() -> None:
    uf: UnionFind[str] = UnionFind()
    assert uf["x"] == "x"
    uf.union("a", "b", "c")
    uf.union("c", "d")
    assert uf["a"] == uf["d"] in {"a", "b", "c", "d"}
    assert uf["x"] != uf["a"]
    assert _partition_str(uf) == [["a", "b", "c", "d"], ["x"]]


def _partition_str(uf: UnionFind[str]) -> list[list[str]]:
    return sorted(sorted(s) for s in uf.to_sets())
