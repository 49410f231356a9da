"""The numbers the state explorer gives renamed manifests (planner.simulate.states._Interner.
renamed): two are equal exactly when the renamed manifests' contents are (what numbering each
renamed content whole gave before), so the canonical states and their count are unchanged."""

from __future__ import annotations

import itertools
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.model.allocator import Port
from planner.model.controller import copy_manifest
from planner.simulate import states
from planner.simulate.states import _freeze, _Interner, explore_states
from tests.simulate.test_states import Spec, _cluster
from tests.simulate.test_states import _told_apart as told_apart


def _versions(index: int, port: int, ip: str | None) -> list[dict[str, Any]]:
    """Member `index`'s live manifest (uid, resourceVersion, node ports of its own) and its
    desired one (Local), as _find_symmetry sees a member's versions."""
    spec = Spec(f"m{index}", "k1", port, ip, False)
    live = told_apart(spec.manifest(), index, live=True)
    desired = told_apart(Spec(spec.name, "k1", port, ip, True).manifest(), index, live=False)
    return [live, desired]


@st.composite
def manifests_and_renamings(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[Any]]:
    """A class of 2 or 3 members (ports alike or each its own), their versions and variations
    the model makes of them (a status, a cluster IP, a bumped resourceVersion: an identity no
    version has), and every permutation of the class as a renaming."""
    size = draw(st.integers(2, 3))
    alike = draw(st.booleans())
    ip = draw(st.sampled_from([None, "10.0.0.1"]))
    versions = {f"ns/m{i}": _versions(i, 0 if alike else i, ip) for i in range(size)}
    manifests = [m for vs in versions.values() for m in vs]
    for manifest in list(manifests):
        changed = copy_manifest(manifest)
        change = draw(st.integers(0, 2))
        if change == 0:
            changed["status"] = {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}
        elif change == 1:
            changed["spec"]["clusterIP"] = draw(st.sampled_from(["10.96.0.7", "fd00::7"]))
        else:
            changed["metadata"]["resourceVersion"] = "999"
        manifests.append(changed)
    ports = {
        k: tuple(Port(p["protocol"], p["port"]) for p in vs[0]["spec"]["ports"])
        for k, vs in versions.items()
    }
    identities = {k: tuple(states._identity(m) for m in vs) for k, vs in versions.items()}
    symmetry = states._Symmetry([tuple(versions)], ports, identities)
    members = list(versions)
    renamings = [
        symmetry.renaming(dict(zip(members, image, strict=True)))
        for image in itertools.permutations(members)
    ]
    return manifests, renamings


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=manifests_and_renamings())
def test_renamed_numbers_are_equal_exactly_when_renamed_contents_are(
    case: tuple[list[dict[str, Any]], list[Any]],
) -> None:
    manifests, renamings = case
    interner = _Interner()
    pairs = [(m, r) for m in manifests for r in renamings]
    numbers = [interner.renamed(m, r) for m, r in pairs]
    contents = [_freeze(r.manifest(m)) for m, r in pairs]
    for (a, content_a), (b, content_b) in itertools.combinations(
        zip(numbers, contents, strict=True), 2
    ):
        assert (a == b) == (content_a == content_b)
    # Remembered: asked again, the same numbers.
    assert [interner.renamed(m, r) for m, r in pairs] == numbers


def test_the_canonical_states_are_counted_as_before() -> None:
    """Members told apart by unread fields, changing their key: the reduced graph has as many
    states as with every renamed manifest numbered by its whole content."""
    specs = [Spec(f"m{i}", "k1", i, "10.0.0.1", False) for i in range(3)]
    moves: list[tuple[str, Spec | None]] = [
        (s.name, Spec(s.name, s.share, s.ports, s.ip, True)) for s in specs
    ]
    base, writes = _cluster(specs, moves, "metallb-0.14")

    def whole(self: _Interner, manifest: dict[str, Any], renaming: Any) -> int:
        return self._number(("manifest", _freeze(renaming.manifest(manifest))))

    found = explore_states(base, writes)
    with mock.patch.object(_Interner, "renamed", whole):
        before = explore_states(base, writes)
    assert found.symmetric == before.symmetric == (("ns/m0", "ns/m1", "ns/m2"),)
    assert (found.states, found.edges, found.pass_states) == (
        before.states,
        before.edges,
        before.pass_states,
    )
