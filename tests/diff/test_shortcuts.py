"""The diff's shortcuts against the plain algorithms they replace (hypothesis properties).

Normalising copies only the containers its rules change and shares the rest with its inputs;
the live object is projected onto two templates without building their union; live ports are
matched to desired ports once. Each property fails if a shortcut changes an input, or gives
another result than the straightforward way.
"""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace
from typing import Any

import jsonpatch
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from planner.diff import diff_objects
from planner.diff.changes import _key_changing, _patch
from planner.diff.keys import key_changing_fields
from planner.diff.normalise import (
    DEFAULTS,
    LAST_APPLIED,
    SERVER_FIELDS,
    drop_explicit_defaults,
    normalise_desired,
    normalise_live,
)
from planner.diff.project import WHOLE, identities, project, project_either, union
from planner.diff.scenario import _annotations_differ
from planner.errors import InputError
from planner.model.group_annotations import GROUP_ANNOTATION_KEYS, stamp_group_annotations
from planner.model.service import ServiceInputError, allocation_inputs
from planner.objects import KubeObject
from tests.diff.builders import fields_v1, obj

_names = st.sampled_from(["http", "dns", "metrics", ""])
_port = st.one_of(
    st.fixed_dictionaries(
        {"port": st.sampled_from([53, 80, 443])},
        optional={
            "name": _names,
            "protocol": st.sampled_from(["TCP", "UDP", None]),
            "targetPort": st.one_of(st.sampled_from([53, 80, 8080]), st.just("http")),
            "nodePort": st.integers(30000, 30003),
        },
    ),
    st.just("not-a-port"),
)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2, 3), st.sampled_from(["a", "b"]))
_trees = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("xyz"), inner, max_size=3)
    ),
    max_leaves=6,
)
_annotations = st.fixed_dictionaries(
    {},
    optional={
        "metallb.io/allow-shared-ip": st.sampled_from(["dns", ""]),
        "metallb.io/loadBalancerIPs": st.sampled_from(["10.0.0.1", "10.0.0.2"]),
        "metallb.io/ip-allocated-from-pool": st.just("lan"),
        "argocd.argoproj.io/tracking-id": st.just("app:/Service:dns/a"),
        "kustomize.toolkit.fluxcd.io/checksum": st.just("abc"),
        "shared-ip-planner.dev/group": st.just("dns@10.0.0.1"),
        "team": st.sampled_from(["net", ""]),
    },
)
_labels = st.dictionaries(
    st.sampled_from(["app", "app.kubernetes.io/instance", "kubernetes.io/metadata.name"]),
    st.sampled_from(["a", "b"]),
    max_size=3,
)
_spec = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["LoadBalancer", "ClusterIP"]),
        "ports": st.one_of(st.lists(_port, max_size=4), st.just("ports")),
        "selector": st.dictionaries(st.sampled_from(["app", "tier"]), st.just("x"), max_size=2),
        "externalTrafficPolicy": st.sampled_from(["Cluster", "Local"]),
        "sessionAffinity": st.just("None"),
        "sessionAffinityConfig": st.just({"clientIP": {"timeoutSeconds": 10800}}),
        "clusterIP": st.just("10.96.0.9"),
        "clusterIPs": st.just(["10.96.0.9"]),
        "ipFamilies": st.just(["IPv4"]),
        "allocateLoadBalancerNodePorts": st.booleans(),
        "finalizers": st.just(["kubernetes"]),
        "autoAssign": st.booleans(),
        "extra": _trees,
    },
)


@st.composite
def _manifests(draw: st.DrawFn, served: bool) -> dict[str, Any]:
    """A Service, Secret, Namespace or pool with the fields the rules touch (and others)."""
    kind = draw(st.sampled_from(["Service", "Service", "Secret", "Namespace", "IPAddressPool"]))
    metadata: dict[str, Any] = {"name": "a", "namespace": "dns"}
    metadata.update(draw(st.fixed_dictionaries({}, optional={"annotations": _annotations})))
    metadata.update(draw(st.fixed_dictionaries({}, optional={"labels": _labels})))
    body: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": metadata}
    if draw(st.booleans()):
        body["spec"] = draw(_spec)
    if kind == "Secret":
        body.update(
            draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "data": st.dictionaries(st.sampled_from("kv"), st.just("c2VjcmV0")),
                        "stringData": st.dictionaries(st.sampled_from("kw"), st.just("secret")),
                        "type": st.just("Opaque"),
                    },
                )
            )
        )
    if served:
        metadata.update(uid="u-1", resourceVersion="7", creationTimestamp="2026-01-01T00:00:00Z")
        body["status"] = {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}
        record = draw(st.sampled_from(["none", "kubectl", "ssa"]))
        applied = copy.deepcopy({k: v for k, v in body.items() if k in ("kind", "spec")})
        ports = (applied.get("spec") or {}).get("ports")
        if isinstance(ports, list):  # server-side apply keys list entries: mappings only
            applied["spec"]["ports"] = [p for p in ports if isinstance(p, dict)]
        elif ports is not None:
            del applied["spec"]["ports"]
        if record == "kubectl":
            metadata.setdefault("annotations", {})[LAST_APPLIED] = json.dumps(applied)
        elif record == "ssa":
            entry = {"operation": "Apply", "fieldsV1": fields_v1(applied)}
            metadata["managedFields"] = [entry]
    return body


@settings(max_examples=150, deadline=None)
@given(_manifests(served=False), _manifests(served=True))
def test_normalising_never_changes_its_inputs_and_copying_first_changes_nothing(
    desired: dict[str, Any], live: dict[str, Any]
) -> None:
    live["kind"] = desired["kind"]
    pristine = copy.deepcopy((desired, live))
    target = normalise_desired(desired)
    current = normalise_live(live, desired, target)
    drop_explicit_defaults(target, current)
    assert (desired, live) == pristine
    # The same on private deep copies: what sharing subtrees would have changed, if anything.
    own_desired, own_live = copy.deepcopy(pristine)
    own_target = normalise_desired(own_desired)
    assert normalise_live(own_live, own_desired, own_target) == current
    drop_explicit_defaults(own_target, current)
    assert own_target == target


def test_the_rules_change_nothing_deeper_than_the_containers_normalising_copies() -> None:
    # normalise._own_copy copies the top level, metadata, its labels and annotations, spec and
    # data; a rule for a deeper path must make it copy that container too.
    paths = [path for paths in SERVER_FIELDS.values() for path in paths]
    paths += [path for defaults in DEFAULTS.values() for path, _ in defaults]
    assert all(len(path) == 1 or (len(path) == 2 and path[0] == "spec") for path in paths)


_templates = st.recursive(
    st.one_of(st.none(), st.just(WHOLE), st.just(1)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=2),
        st.lists(
            st.fixed_dictionaries({"port": st.sampled_from([53, 80])}, optional={"x": inner}),
            max_size=2,
        ),
        st.dictionaries(st.sampled_from("xyz"), inner, max_size=3),
    ),
    max_leaves=6,
)
_live_trees = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(
            st.fixed_dictionaries({"port": st.sampled_from([53, 80])}, optional={"x": inner}),
            max_size=3,
        ),
        st.dictionaries(st.sampled_from("xyz"), inner, max_size=3),
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(_live_trees, _templates, _templates)
def test_projecting_onto_either_template_is_projecting_onto_their_union(
    live: Any, first: Any, second: Any
) -> None:
    assert project_either(live, first, second) == project(live, union(first, second))


def _ports_the_plain_way(live_ports: list[Any], desired_ports: list[Any]) -> list[Any]:
    """Each live port normalised against its first matching desired port, then the live ports
    sorted by (index of the desired port they match, position): the rule in docs/diff.md."""
    wanted = [p for p in desired_ports if isinstance(p, dict)]

    def first_match(port: Any) -> int:
        ids = identities(port)
        return next((i for i, d in enumerate(wanted) if identities(d) & ids), len(wanted))

    ranked = []
    for position, port in enumerate(live_ports):
        index = first_match(port)
        if isinstance(port, dict):
            match = wanted[index] if index < len(wanted) else {}
            port = dict(port)
            if "nodePort" not in match:
                port.pop("nodePort", None)
            same = type(port.get("targetPort")) is int and port.get("targetPort") == port["port"]
            if "targetPort" not in match and same:
                del port["targetPort"]
            if "protocol" not in match and port.get("protocol") == "TCP":
                del port["protocol"]
        ranked.append((index, position, port))
    return [port for _, _, port in sorted(ranked, key=lambda entry: entry[:2])]


@settings(max_examples=150, deadline=None)
@given(st.lists(_port, max_size=5), st.lists(_port, max_size=5))
def test_live_ports_are_matched_and_ordered_as_the_plain_way_does(
    live_ports: list[Any], desired_ports: list[Any]
) -> None:
    desired = {"kind": "Service", "metadata": {"name": "a"}, "spec": {"ports": desired_ports}}
    live = {"kind": "Service", "metadata": {"name": "a"}, "spec": {"ports": live_ports}}
    normalised = normalise_live(live, desired)  # from a git ref: compared whole, not projected
    assert normalised["spec"]["ports"] == _ports_the_plain_way(live_ports, desired_ports)


@settings(max_examples=120, deadline=None)
@given(_manifests(served=False), _manifests(served=True))
def test_the_unchanged_shortcut_agrees_with_the_full_patch(
    desired: dict[str, Any], live: dict[str, Any]
) -> None:
    live["kind"] = desired["kind"]
    try:
        change = diff_objects([obj(desired)], [obj(live)], prune="none")[0]
    except InputError:
        reject()  # a field the planner refuses: no diff to compare

    target = normalise_desired(desired)
    current = normalise_live(live, desired, target)
    drop_explicit_defaults(target, current)
    # The full patch search, which the equality test saves for unchanged objects.
    assert (change.op == "unchanged") == (jsonpatch.make_patch(current, target).patch == [])


# JSON values that Python's == confuses and jsonpatch tells apart (1, 1.0, true; 0.0, -0.0).
_json_scalars = st.one_of(
    _scalars, st.sampled_from([1.0, 0.0, -0.0, 1.5]), st.sampled_from([1, True, "1"])
)
_json_trees = st.recursive(
    _json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("xyz"), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def _documents_alike_in_part(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two mappings that share some members (equal, or JSON-different but ==) and differ in others."""
    first = draw(st.dictionaries(st.sampled_from("abcd"), _json_trees, max_size=4))
    second = copy.deepcopy(first)
    for name, value in draw(
        st.dictionaries(st.sampled_from("abcde"), _json_trees, max_size=3)
    ).items():
        second[name] = value
    for name in draw(st.lists(st.sampled_from("abcd"), max_size=2)):
        second.pop(name, None)
    return first, second


@settings(max_examples=300, deadline=None)
@given(_documents_alike_in_part())
def test_a_patch_over_the_differing_members_is_jsonpatchs_patch(
    documents: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    current, target = documents
    before = json.dumps(documents)
    pruned = _patch(current, target)
    assert json.dumps(documents) == before  # neither side is changed
    # As JSON text: Python's == takes the value 1 for true, the patch may not.
    assert json.dumps(pruned) == json.dumps(jsonpatch.make_patch(current, target).patch)


@settings(max_examples=60, deadline=None)
@given(st.lists(_manifests(served=False), min_size=1, max_size=3))
def test_stamped_copies_leave_their_inputs_alone(manifests: list[dict[str, Any]]) -> None:
    for index, manifest in enumerate(manifests):
        manifest["metadata"]["name"] = f"svc-{index}"
        manifest["kind"] = "Service"
        manifest.setdefault("spec", {})["ports"] = [{"port": 53}]
    pristine = copy.deepcopy(manifests)
    stamped = stamp_group_annotations(manifests)
    assert manifests == pristine
    again = stamp_group_annotations(copy.deepcopy(pristine))
    assert stamped == again


_service_fields = st.fixed_dictionaries(
    {"type": st.sampled_from(["LoadBalancer", "ClusterIP"])},
    optional={
        "ports": st.sampled_from([[{"port": 53}], [{"port": "53"}], [{"port": 80}], ["x"]]),
        "ipFamilyPolicy": st.sampled_from(["SingleStack", "RequireDualStack", "Sometimes"]),
        "ipFamilies": st.sampled_from([["IPv4"], ["IPv6"], ["IPv5"], ["IPv4", "IPv6"]]),
        "clusterIPs": st.sampled_from([["10.96.0.1"], ["fd00::1"], ["not-an-ip"]]),
        "loadBalancerIP": st.sampled_from(["10.0.0.1", "nope"]),
        "externalTrafficPolicy": st.sampled_from(["Cluster", "Local"]),
    },
)
_service_annotations = st.fixed_dictionaries(
    {},
    optional={
        "metallb.io/allow-shared-ip": st.sampled_from(["dns", "web"]),
        "metallb.io/loadBalancerIPs": st.sampled_from(["10.0.0.1", "fd00::9", "bad"]),
        "metallb.io/address-pool": st.just("lan"),
    },
)


def _key_changing_the_plain_way(desired: KubeObject, live: KubeObject) -> tuple[str, ...]:
    """Each side read alone (naming its origin when it fails), then both read again."""
    for side in (live, desired):
        try:
            allocation_inputs(side.body)
        except ServiceInputError as err:
            raise err.with_origin(side.origin) from None
    return key_changing_fields(live.body, desired.body)


@settings(max_examples=150, deadline=None)
@given(_service_fields, _service_annotations, _service_fields, _service_annotations)
def test_key_changes_read_each_side_once_with_the_same_outcome(
    desired_spec: dict[str, Any],
    desired_annotations: dict[str, str],
    live_spec: dict[str, Any],
    live_annotations: dict[str, str],
) -> None:
    def side(spec: dict[str, Any], annotations: dict[str, str], file: str) -> KubeObject:
        metadata = {"name": "a", "namespace": "dns", "annotations": annotations}
        body = {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}
        return obj(body, file=file)

    desired = side(desired_spec, desired_annotations, "repo/desired.yaml")
    live = side(live_spec, live_annotations, "live.yaml")
    try:
        expected: object = _key_changing_the_plain_way(desired, live)
    except ServiceInputError as err:
        expected = str(err)
    try:
        got: object = _key_changing(desired, live)
    except ServiceInputError as err:
        got = str(err)
    assert got == expected


_group_values = st.sampled_from([None, "None", 1, "1", "dns@10.0.0.1"])
_group_annotation_sets = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from([GROUP_ANNOTATION_KEYS[0], GROUP_ANNOTATION_KEYS[2], "team"]),
        _group_values,
        max_size=3,
    ),
)


@given(_group_annotation_sets, _group_annotation_sets)
def test_a_write_restamps_exactly_when_the_three_annotations_differ_as_text(
    stamped: dict[str, Any] | None, live: dict[str, Any] | None
) -> None:
    """`_annotations_differ` looks up the three keys instead of building both sides' dicts of
    them: the same answer as comparing those dicts (values as text, `1` and "1" alike)."""
    scenario = SimpleNamespace(
        stamped_services={"dns/a": {"metadata": {"annotations": stamped}}},
        live_services={"dns/a": {"metadata": {"annotations": live}}},
    )

    def three(annotations: dict[str, Any] | None) -> dict[str, str]:
        return {k: str(v) for k, v in (annotations or {}).items() if k in GROUP_ANNOTATION_KEYS}

    expected = three(stamped) != three(live)
    assert _annotations_differ("dns/a", scenario) is expected  # type: ignore[arg-type]
