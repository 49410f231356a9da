"""A disjoint-set forest: the part of `networkx.utils.UnionFind` the planner uses.

Kept here because importing networkx costs about 100 ms, which `planner diff` would pay only
for this (issue 17). Same interface: `uf[x]` names x's set (adding x), `uf.union(*xs)` merges,
iteration yields every element, `to_sets()` the partition. Set names are arbitrary members.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)


class UnionFind(Generic[T]):
    """Disjoint sets with path compression and union by size."""

    def __init__(self, elements: Iterable[T] = ()) -> None:
        self.parents: dict[T, T] = {}
        self.weights: dict[T, int] = {}
        for element in elements:
            self.parents[element] = element
            self.weights[element] = 1

    def __getitem__(self, element: T) -> T:
        """The name (root) of `element`'s set; an unknown element becomes a singleton."""
        parents = self.parents
        if element not in parents:
            parents[element] = element
            self.weights[element] = 1
            return element
        root = element
        while parents[root] != root:
            root = parents[root]
        while parents[element] != root:  # compress the path walked
            parents[element], element = root, parents[element]
        return root

    def __iter__(self) -> Iterator[T]:
        return iter(self.parents)

    def union(self, *elements: T) -> None:
        """Merge the sets of all `elements` (adding unknown ones) under the heaviest root."""
        roots = list(dict.fromkeys(self[element] for element in elements))
        if not roots:
            return
        root = max(roots, key=self.weights.__getitem__)
        for other in roots:
            if other != root:
                self.weights[root] += self.weights[other]
                self.parents[other] = root

    def to_sets(self) -> Iterator[set[T]]:
        """Every set of the partition."""
        sets: dict[T, set[T]] = {}
        for element in list(self.parents):
            sets.setdefault(self[element], set()).add(element)
        yield from sets.values()
