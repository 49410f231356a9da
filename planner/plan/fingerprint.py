"""Fingerprints of live objects and plans: what a plan was made against, and whether the cluster
still matches it.

Fingerprints say whether "someone changed the cluster": `live_fingerprint` hashes what a writer
chooses (spec, labels, annotations) and leaves out what the cluster changes by itself (status,
resourceVersion, managedFields, the pool annotation MetalLB writes, our own nudges).
After a wave of ours, a live object no longer has its planned-against fingerprint; it must then
match the plan's own write instead (`matches_write`), which is how a resume tells our earlier work
from someone else's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from planner.json_text import canonical_bytes_each
from planner.model.group_annotations import GROUP_ANNOTATION_KEYS, NUDGE_ANNOTATION
from planner.objects import Manifest
from planner.plan.graph import canonical_json
from planner.plan.records import Plan, plan_to_dict
from planner.plan.units import DELETE, Write

ABSENT = "absent"
FINGERPRINT_PREFIX = "fp1:"
FINGERPRINT_PARTS = ("spec", "labels", "annotations")

# Annotations the cluster or our nudges change without anyone changing the Service's intent.
VOLATILE_ANNOTATIONS = frozenset(
    {
        "metallb.io/ip-allocated-from-pool",
        "metallb.universe.tf/ip-allocated-from-pool",
        "kubectl.kubernetes.io/last-applied-configuration",
        NUDGE_ANNOTATION,
    }
)


def live_fingerprint(manifest: Manifest | None) -> str:
    """What writers chose in a live object, hashed per part ("absent" for None).

    `fp1:<spec>.<labels>.<annotations>`, 16 hex digits of sha256 each, so that a refusal can
    say which part changed. Status, server bookkeeping and VOLATILE_ANNOTATIONS are left out.
    """
    if manifest is None:
        return ABSENT
    meta = manifest.get("metadata") or {}
    parts = [manifest.get("spec") or {}, meta.get("labels") or {}, _chosen_annotations(meta)]
    texts = canonical_bytes_each(parts)
    if texts is None:
        texts = [canonical_json(part).encode() for part in parts]
    return FINGERPRINT_PREFIX + ".".join(_short_hash(text) for text in texts)


def changed_parts(fingerprint: str, expected: str) -> list[str]:
    """Which of spec, labels, annotations differ between two fingerprints ([] if they match)."""
    if fingerprint == expected:
        return []
    ours, theirs = _parts_of(fingerprint), _parts_of(expected)
    if ours is None or theirs is None:
        return ["spec, labels or annotations"]
    return [name for name, a, b in zip(FINGERPRINT_PARTS, ours, theirs, strict=True) if a != b]


def _parts_of(fingerprint: str) -> list[str] | None:
    if not fingerprint.startswith(FINGERPRINT_PREFIX):
        return None
    parts = fingerprint.removeprefix(FINGERPRINT_PREFIX).split(".")
    return parts if len(parts) == len(FINGERPRINT_PARTS) else None


def _short_hash(text: bytes) -> str:
    """16 hex digits of the sha256 of a part's canonical JSON text (canonical_json's)."""
    return hashlib.sha256(text).hexdigest()[:16]


def matches_write(live: Manifest | None, write: Write) -> bool:
    """The live object already shows this write: deleted, or every field the write sets is live.

    A subset check, because the API server adds defaults (clusterIP, nodePorts, ...) that the
    plan's manifest does not carry; except for the group-wide annotations, which are ours: a
    write that leaves one out removes it (server-side apply), so a live one it lacks is not shown.
    """
    if write.op == DELETE or write.manifest is None:
        return live is None
    if live is None:
        return False
    meta, live_meta = write.manifest.get("metadata") or {}, live.get("metadata") or {}
    return (
        _contained(meta.get("labels") or {}, live_meta.get("labels") or {})
        and _contained(_chosen_annotations(meta), _chosen_annotations(live_meta))
        and _contained(write.manifest.get("spec") or {}, live.get("spec") or {})
        and _group_annotations(meta) == _group_annotations(live_meta)
    )


def differing_fields(wanted: Manifest, live: Manifest | None, prefix: str = "") -> list[str]:
    """Dotted paths of the fields `wanted` sets that `live` lacks or holds differently."""
    if not isinstance(live, dict):
        return [prefix or "(object)"]
    paths: list[str] = []
    for key in sorted(wanted):
        path = f"{prefix}.{key}" if prefix else str(key)
        if key in VOLATILE_ANNOTATIONS or key == "status":
            continue
        if isinstance(wanted[key], dict):
            paths += differing_fields(wanted[key], live.get(key), path)
        elif not _contained(wanted[key], live.get(key)):
            paths.append(path)
    return paths


def _group_annotations(meta: Mapping[str, Any]) -> dict[str, Any]:
    annotations = meta.get("annotations") or {}
    return {k: v for k, v in annotations.items() if k in GROUP_ANNOTATION_KEYS}


def _chosen_annotations(meta: Mapping[str, Any]) -> dict[str, Any]:
    annotations = meta.get("annotations") or {}
    return {k: v for k, v in annotations.items() if k not in VOLATILE_ANNOTATIONS}


def _contained(wanted: Any, live: Any) -> bool:
    if isinstance(wanted, dict):
        return isinstance(live, dict) and all(
            k in live and _contained(v, live[k]) for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(live, list)
            and len(wanted) == len(live)
            and all(_contained(w, x) for w, x in zip(wanted, live, strict=True))
        )
    return bool(wanted == live)


def plan_digest(plan: Plan) -> str:
    """The sha256 of the plan's canonical JSON: the same plan always has the same journal."""
    return hashlib.sha256(canonical_json(plan_to_dict(plan)).encode()).hexdigest()
