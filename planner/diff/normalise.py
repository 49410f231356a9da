"""Normalisation: what a clean repo and its own live cluster must agree on.

The live object loses what the API server and controllers fill in, the defaults the desired
manifest leaves unset, and the GitOps tools' tracking marks; then it is projected onto the
fields somebody applied (see `normalise_live`). The rules are data, each with its reason.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from planner.diff.project import WHOLE, applied_template, identities, project_either
from planner.objects import Manifest, is_mapping

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"  # client-side apply's record

Path = tuple[str, ...]

# Written by the API server on every object; never part of what anybody applies.
SERVER_METADATA: tuple[str, ...] = (
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)

# Annotations written by tools and controllers, ignored when the desired manifest lacks them.
IGNORED_ANNOTATIONS: frozenset[str] = frozenset(
    {
        "metallb.io/ip-allocated-from-pool",  # MetalLB's controller
        "metallb.universe.tf/ip-allocated-from-pool",
        "argocd.argoproj.io/tracking-id",  # Argo CD annotation tracking
        "argocd.argoproj.io/installation-id",
        "meta.helm.sh/release-name",  # Helm (and Flux helm-controller) ownership
        "meta.helm.sh/release-namespace",
    }
)
# Argo CD label tracking writes the Application's name into this label.
IGNORED_LABELS: frozenset[str] = frozenset({"app.kubernetes.io/instance"})
# Flux's kustomize-controller and helm-controller label (and annotate) what they apply.
IGNORED_PREFIXES: tuple[str, ...] = ("kustomize.toolkit.fluxcd.io/", "helm.toolkit.fluxcd.io/")
# Labels the API server sets itself.
SERVER_LABELS: dict[str, tuple[str, ...]] = {"Namespace": ("kubernetes.io/metadata.name",)}

# Fields allocated by the API server, dropped unless the desired manifest sets them.
# ipFamilies: picked by the API server on create and kept by it when an update omits them.
SERVER_FIELDS: dict[str, tuple[Path, ...]] = {
    "Service": (
        ("spec", "clusterIP"),
        ("spec", "clusterIPs"),
        ("spec", "healthCheckNodePort"),
        ("spec", "ipFamilies"),
    ),
}

# Defaults the API server (or the CRD's schema) fills in, dropped when live holds exactly
# the default and the desired manifest leaves the field unset.
DEFAULTS: dict[str, tuple[tuple[Path, Any], ...]] = {
    "Service": (
        (("spec", "type"), "ClusterIP"),
        (("spec", "sessionAffinity"), "None"),
        (("spec", "sessionAffinityConfig"), {"clientIP": {"timeoutSeconds": 10800}}),
        (("spec", "internalTrafficPolicy"), "Cluster"),
        (("spec", "externalTrafficPolicy"), "Cluster"),
        (("spec", "allocateLoadBalancerNodePorts"), True),
        (("spec", "ipFamilyPolicy"), "SingleStack"),
        (("spec", "publishNotReadyAddresses"), False),
    ),
    "IPAddressPool": ((("spec", "autoAssign"), True), (("spec", "avoidBuggyIPs"), False)),
    "Namespace": ((("spec", "finalizers"), ["kubernetes"]),),
    "Secret": ((("type",), "Opaque"),),
}

# When nothing records who applied what, these Service fields are compared even when the
# desired manifest drops them: a GitOps apply removes them, and they decide the allocation.
_ALLOCATION_ANNOTATIONS = {
    f"{prefix}{name}": WHOLE
    for prefix in ("metallb.io/", "metallb.universe.tf/")
    for name in ("allow-shared-ip", "loadBalancerIPs", "address-pool")
}
ALLOCATION_TEMPLATES: dict[str, Manifest] = {
    "Service": {
        "metadata": {"annotations": _ALLOCATION_ANNOTATIONS},
        "spec": {
            field: WHOLE
            for field in (
                "type",
                "externalTrafficPolicy",
                "selector",
                "ports",
                "loadBalancerIP",
                "loadBalancerClass",
                "ipFamilies",
                "ipFamilyPolicy",
            )
        },
    },
}

_MISSING = object()
_SERVER = object()  # in _UNSET_RULES: a server field, dropped whatever its value


def _unset_rules(kind: str) -> tuple[tuple[Path, tuple[tuple[str, Any], ...]], ...]:
    """SERVER_FIELDS and DEFAULTS of a kind by parent path, so that each parent is looked up
    once per object (12 rules per Service were a quarter of normalising it); the order of the
    rules does not matter, as no rule's path is another's or lies under it (checked here)."""
    rules = [(path, _SERVER) for path in SERVER_FIELDS.get(kind, ())] + list(DEFAULTS.get(kind, ()))
    paths = [path for path, _ in rules]
    for path in paths:
        assert not any(other[: len(path)] == path for other in paths if other is not path), path
    grouped: dict[Path, list[tuple[str, Any]]] = {}
    for path, default in rules:
        grouped.setdefault(path[:-1], []).append((path[-1], default))
    return tuple((parent, tuple(fields)) for parent, fields in grouped.items())


_UNSET_RULES = {kind: _unset_rules(kind) for kind in {*SERVER_FIELDS, *DEFAULTS}}


def _by_parent(rules: tuple[tuple[Path, Any], ...]) -> tuple[tuple[Path, tuple[Any, ...]], ...]:
    """Rules (path, value) grouped by the path's parent: each parent is looked up once."""
    grouped: dict[Path, list[tuple[str, Any]]] = {}
    for path, value in rules:
        grouped.setdefault(path[:-1], []).append((path[-1], value))
    return tuple((parent, tuple(fields)) for parent, fields in grouped.items())


_DEFAULT_RULES = {kind: _by_parent(rules) for kind, rules in DEFAULTS.items()}


def from_api_server(body: Manifest) -> bool:
    """Whether the object was read from a cluster (the API server stamps uid/resourceVersion)."""
    metadata = body.get("metadata") or {}
    # Not any() over a generator: a call per object of the diff, and the generator was most of it.
    return bool(
        metadata.get("uid") or metadata.get("resourceVersion") or metadata.get("creationTimestamp")
    )


def normalise_desired(desired: Manifest) -> Manifest:
    """The desired manifest as compared: no status or server metadata, stringData folded in.

    A new value that shares the subtrees no rule changes with `desired` (which is never
    changed); callers treat it as read-only, except `drop_explicit_defaults`.
    """
    body: Manifest = _own_copy(desired)
    if body.get("kind") == "Secret":
        _fold_string_data(body)
    _drop_empty_maps(body)
    return body


def normalise_live(live: Manifest, desired: Manifest, target: Manifest | None = None) -> Manifest:
    """The live object as compared with `normalise_desired(desired)`.

    Fields somebody else owns are left out: the live object is projected onto what desired
    sets plus what its appliers recorded (last-applied-configuration, Apply field sets); with
    no such record, plus the allocation fields. Objects never seen by an API server (a git
    ref) are compared whole. `target`: `normalise_desired(desired)` when the caller has it.
    Like `normalise_desired`, the result shares unchanged subtrees with `live`.
    """
    kind = str(live.get("kind") or "")
    body = _own_copy(live)
    if kind == "Secret":  # a git ref's Secret as the API server holds it (a cluster's has none)
        _fold_string_data(body)
    _drop_marks(body, desired, kind)
    _drop_unset(body, desired, kind)
    if kind == "Service":
        _normalise_service(body, desired)
    if from_api_server(live):
        applied = applied_template(live)
        owned = applied if applied is not None else ALLOCATION_TEMPLATES.get(kind, {})
        wanted = target if target is not None else normalise_desired(desired)
        body = project_either(body, wanted, owned)
    _drop_empty_maps(body)
    return body


def _drop_unset(body: Manifest, desired: Manifest, kind: str) -> None:
    """Drop the server fields, and the defaults `body` holds exactly, that desired leaves unset."""
    for parent, rules in _UNSET_RULES.get(kind, ()):
        own = _get(body, parent)
        if not isinstance(own, dict):
            continue  # nothing to drop from
        wanted = _get(desired, parent)
        stated = wanted if is_mapping(wanted) else {}
        for field, default in rules:
            if field not in stated and (default is _SERVER or own.get(field, _MISSING) == default):
                own.pop(field, None)


def drop_explicit_defaults(target: Manifest, current: Manifest) -> None:
    """Drop from `target` the defaults it spells out where `current` leaves them unset.

    A repo that starts writing `externalTrafficPolicy: Cluster` changes nothing; this matters
    for live objects from a git ref, which hold only what the repo wrote.
    """
    for parent, rules in _DEFAULT_RULES.get(str(target.get("kind") or ""), ()):
        own = _get(target, parent)
        if not isinstance(own, dict):
            continue  # nothing to drop from (as _delete finds no dict to pop from)
        theirs = _get(current, parent)
        held = theirs if is_mapping(theirs) else {}
        for field, default in rules:
            if field not in held and field in own and own[field] == default:
                del own[field]


def plain_copy(value: Any) -> Any:
    """A deep copy of a YAML/JSON tree (mappings and lists; scalars are immutable)."""
    kind = type(value)  # YAML and JSON give exact dicts and lists: one type check each
    if kind is dict or (kind is not list and isinstance(value, dict)):
        return {key: plain_copy(item) for key, item in value.items()}
    if kind is list or isinstance(value, list):
        return [plain_copy(item) for item in value]
    return value


# The containers the rules change (pop, delete, replace an item in): `_own_copy` copies these
# and only these, so a normalised body can share every other subtree with its input. A rule
# that changes anything deeper must add its container here (tests/diff/test_normalise.py
# checks that normalising never changes its inputs).
_OWNED_METADATA: tuple[str, ...] = ("annotations", "labels")
_OWNED_TOP: tuple[str, ...] = ("spec", "data")


def _own_copy(body: Manifest) -> Manifest:
    """A copy of the containers the rules change, without what neither side is compared by
    (status, server metadata, the namespace, last-applied-configuration); deeper values are
    shared (copying whole live objects was most of the diff's time)."""
    # Copied whole and the few dropped keys deleted: a C-speed copy, where a comprehension
    # tested every key in Python.
    copied = dict(body)
    copied.pop("status", None)
    metadata = copied.get("metadata")
    if isinstance(metadata, dict):
        metadata = dict(metadata)
        for dropped in _DROPPED_METADATA & metadata.keys():
            del metadata[dropped]
        for section in _OWNED_METADATA:
            if isinstance(metadata.get(section), dict):
                metadata[section] = dict(metadata[section])
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict):  # a copy by now
            annotations.pop(LAST_APPLIED, None)
        copied["metadata"] = metadata
    for field in _OWNED_TOP:
        if isinstance(copied.get(field), dict):
            copied[field] = dict(copied[field])
    return copied


# The object key carries the namespace; a manifest may leave it to the default.
_DROPPED_METADATA = frozenset({*SERVER_METADATA, "namespace"})


def _drop_marks(body: Manifest, desired: Manifest, kind: str) -> None:
    """Drop tool-written labels and annotations that the desired manifest does not set."""
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        return
    desired_meta = desired.get("metadata") or {}
    ignored_labels = _IGNORED_LABELS_OF.get(kind, IGNORED_LABELS)
    for section, ignored in (("annotations", IGNORED_ANNOTATIONS), ("labels", ignored_labels)):
        values = metadata.get(section)
        if not isinstance(values, dict):
            continue
        wanted = desired_meta.get(section) or {}
        for key in [k for k in values if k not in wanted]:
            if key in ignored or key.startswith(IGNORED_PREFIXES):
                del values[key]


# IGNORED_LABELS with the kind's SERVER_LABELS, made once (not once per object).
_IGNORED_LABELS_OF: dict[str, frozenset[str]] = {
    kind: IGNORED_LABELS | frozenset(labels) for kind, labels in SERVER_LABELS.items()
}


def _normalise_service(body: Manifest, desired: Manifest) -> None:
    spec = body.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("ports"), list):
        return
    desired_ports = (desired.get("spec") or {}).get("ports")
    wanted = (
        [p for p in desired_ports if isinstance(p, Mapping)]
        if isinstance(desired_ports, list)
        else []
    )
    # Each live port is matched once: its match decides both what it keeps and where it goes.
    wanted_ids = [identities(port) for port in wanted]
    ranked: list[tuple[int, int, Any]] = []
    for position, port in enumerate(spec["ports"]):
        index = _first_match(identities(port), wanted_ids)
        match = wanted[index] if index < len(wanted) else {}
        ranked.append((index, position, _normalise_port(port, match)))
    # Live ports in the order of the desired ports they match; others after, as they were
    # (no two entries share a position, so the ports themselves are never compared).
    ranked.sort()
    spec["ports"] = [port for _, _, port in ranked]


def _first_match(ids: set[tuple[Any, ...]], wanted_ids: list[set[tuple[Any, ...]]]) -> int:
    """The index of the first desired element sharing an identity; len(wanted_ids) if none."""
    for index, wanted in enumerate(wanted_ids):
        if not ids.isdisjoint(wanted):
            return index
    return len(wanted_ids)


def _normalise_port(port: Any, match: Mapping[str, Any]) -> Any:
    if not isinstance(port, dict):
        return port
    port = dict(port)  # the live object's own port is never changed
    if "nodePort" not in match:
        port.pop("nodePort", None)
    if "targetPort" not in match and _same_int(port.get("targetPort"), port.get("port")):
        del port["targetPort"]  # the API server copies `port` into an unset targetPort
    if "protocol" not in match and port.get("protocol") == "TCP":
        del port["protocol"]
    return port


def _same_int(first: Any, second: Any) -> bool:
    # targetPort "80" is a port *name* to Kubernetes (and an invalid one), never the number 80.
    return type(first) is int and type(second) is int and first == second


def _fold_string_data(body: Manifest) -> None:
    """stringData is write-only: the API server merges it into data, base64-encoded."""
    string_data = body.pop("stringData", None)
    if not isinstance(string_data, Mapping):
        return
    existing = body.get("data")
    data: dict[str, Any] = existing if isinstance(existing, dict) else {}
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    body["data"] = data


def _drop_empty_maps(body: Manifest) -> None:
    # An empty label or annotation map means the same to Kubernetes as none at all.
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        for section in ("labels", "annotations"):
            if metadata.get(section) in ({}, None) and section in metadata:
                del metadata[section]


def _get(body: Any, path: Path) -> Any:
    for part in path:
        # `type is dict` first: YAML gives plain dicts, and the ABC check costs ten times more.
        if not is_mapping(body) or part not in body:
            return _MISSING
        body = body[part]
    return body
