"""Resuming a plan: which waves are finished, and whether a live object is what the plan expects.

A journal records the finished waves of ONE plan (named by its digest). It lives in a file by
default, `.shared-ip-planner/journal-<digest16>.json` next to the plan file (the current directory
when the plan came from elsewhere), or in a ConfigMap (`configmap:NAMESPACE/NAME`, one data key per
plan) so that a rerun from another machine or a Job continues too.

Fingerprints say whether "someone changed the cluster": `live_fingerprint` hashes what a writer
chooses (spec, labels, annotations) and leaves out what the cluster changes by itself (status,
resourceVersion, managedFields, the pool annotation MetalLB writes, our own nudges).
After a wave of ours, a live object no longer has its planned-against fingerprint; it must then
match the plan's own write instead (`matches_write`), which is how a resume tells our earlier work
from someone else's.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from planner.model.group_annotations import GROUP_ANNOTATION_KEYS
from planner.kubectl import Kubectl
from planner.errors import InputError, PlannerError
from planner.plan.graph import canonical_json
from planner.objects import Manifest
from planner.plan.records import NUDGE_ANNOTATION, Plan, plan_to_dict
from planner.plan.units import DELETE, Write

ABSENT = "absent"
FINGERPRINT_PREFIX = "fp1:"
FINGERPRINT_PARTS = ("spec", "labels", "annotations")
JOURNAL_DIR = ".shared-ip-planner"
JOURNAL_VERSION = 1

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
    return FINGERPRINT_PREFIX + ".".join(_short_hash(part) for part in parts)


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


def _short_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:16]


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


class JournalError(PlannerError):
    """The journal cannot be read or written (the cluster may be ahead of it: rerun resumes)."""


@dataclass(frozen=True)
class JournalRecord:
    """The waves of one plan (1-based indexes) that are finished."""

    plan_digest: str
    finished_waves: tuple[int, ...] = ()

    def with_finished(self, wave: int) -> JournalRecord:
        """This record plus one more finished wave."""
        return JournalRecord(self.plan_digest, tuple(sorted({*self.finished_waves, wave})))

    def to_json(self) -> str:
        """The record as written to a file or a ConfigMap key."""
        body = {
            "version": JOURNAL_VERSION,
            "plan_digest": self.plan_digest,
            "finished_waves": list(self.finished_waves),
        }
        return json.dumps(body, indent=2, sort_keys=True) + "\n"


def record_from_json(text: str, where: str) -> JournalRecord:
    """Read a record written by `JournalRecord.to_json`; anything else is an InputError."""
    try:
        data = json.loads(text)
        if data.get("version") != JOURNAL_VERSION:
            raise ValueError(f"unsupported version {data.get('version')!r}")
        waves = tuple(sorted(int(w) for w in data["finished_waves"]))
        return JournalRecord(str(data["plan_digest"]), waves)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise InputError(f"{where}: not a planner journal ({err}); move it away to start over")


class Journal(Protocol):
    """Where the finished waves of a plan are kept."""

    location: str

    def load(self) -> JournalRecord | None:
        """The record for this journal's plan, or None when there is none yet."""

    def save(self, record: JournalRecord) -> None:
        """Store the record (atomically: a crash leaves the old or the new one)."""


class FileJournal:
    """A JSON file, replaced atomically (write a temporary file beside it, fsync, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)

    def load(self) -> JournalRecord | None:
        """The record in the file, or None when the file does not exist."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as err:
            raise JournalError(f"cannot read the journal {self.path}: {err.strerror}") from None
        return record_from_json(text, self.location)

    def save(self, record: JournalRecord) -> None:
        """Write the record atomically."""
        try:
            atomic_write(self.path, record.to_json())
        except OSError as err:
            raise JournalError(f"cannot write the journal {self.path}: {err.strerror}") from None


class ConfigMapJournal:
    """One data key per plan (`journal-<digest16>.json`) in a ConfigMap, written server-side."""

    def __init__(self, kubectl: Kubectl, namespace: str, name: str, digest: str) -> None:
        self.kubectl = kubectl
        self.namespace = namespace
        self.name = name
        self.key = journal_name(digest)
        self.location = f"configmap {namespace}/{name} key {self.key}"

    def load(self) -> JournalRecord | None:
        """The record under this plan's key, or None when the ConfigMap or the key is missing."""
        configmap = self.kubectl.get_configmap(self.namespace, self.name)
        text = ((configmap or {}).get("data") or {}).get(self.key)
        return record_from_json(text, self.location) if text else None

    def save(self, record: JournalRecord) -> None:
        """Apply the whole data map: a server-side apply drops keys our field manager omits."""
        configmap = self.kubectl.get_configmap(self.namespace, self.name)
        data = dict((configmap or {}).get("data") or {})
        data[self.key] = record.to_json()
        self.kubectl.put_configmap(self.namespace, self.name, data)


def journal_name(digest: str) -> str:
    """The file name (and ConfigMap key) of a plan's journal."""
    return f"journal-{digest[:16]}.json"


def default_journal_path(plan_file: Path | None, digest: str) -> Path:
    """`.shared-ip-planner/journal-<digest16>.json` next to the plan file, else in the cwd."""
    base = plan_file.resolve().parent if plan_file is not None else Path.cwd()
    return base / JOURNAL_DIR / journal_name(digest)


def journal_from_spec(
    spec: str | None, digest: str, plan_file: Path | None, kubectl: Kubectl | None
) -> Journal:
    """The journal `--journal` names: None (default file), `file:PATH`, `configmap:NS/NAME`."""
    if spec is None or spec == "":
        return FileJournal(default_journal_path(plan_file, digest))
    scheme, _, rest = spec.partition(":")
    if scheme == "file" and rest:
        return FileJournal(Path(rest))
    if scheme == "configmap" and rest.count("/") == 1 and all(rest.split("/")):
        if kubectl is None:
            raise InputError(f"--journal {spec}: a ConfigMap journal needs a cluster")
        namespace, name = rest.split("/")
        return ConfigMapJournal(kubectl, namespace, name, digest)
    raise InputError(f"--journal {spec!r}: expected file:PATH or configmap:NAMESPACE/NAME")


def atomic_write(path: Path, text: str) -> None:
    """Replace `path` with `text` so that readers see the old or the new content, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
