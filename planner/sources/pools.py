"""MetalLB pools kept outside the desired paths: `--pools PATH...`, and with `--live-git` the
whole repository at both refs.

Pools are found in raw files (nothing is rendered): `IPAddressPool`s, the legacy MetalLB
`config` ConfigMap, and the `configInline` of MetalLB Helm values files, Flux `HelmRelease`s
(`spec.values`) and Argo CD `Application`s (`spec.source.helm.valuesObject` / `values`).
They are context: both sides of the diff hold them, nothing diffs or deletes them.

    >>> found = find_pools(["infra/metallb/"])  # doctest: +SKIP
    >>> [o.key.name for o in found.objects]  # doctest: +SKIP
    ['lan']
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from planner import kube_yaml
from planner.errors import InputError, Origin
from planner.model.pools import pools_from_objects
from planner.objects import KubeObject, Manifest, ObjectKey
from planner.sources.documents import (
    JSON_SUFFIXES,
    decode_text,
    manifest_files,
    parse_json,
    parse_yaml,
    read_file_bytes,
)
from planner.sources.flux_build import FluxContext
from planner.sources.kinds import is_pool_manifest, to_objects
from planner.sources.states import DesiredState, LiveState

# Only files mentioning one of these are parsed (a repository holds many unrelated files).
_MARKERS = ("IPAddressPool", "address-pools", "configInline")
_LEGACY_NAMESPACE = "metallb-system"

State = TypeVar("State", DesiredState, LiveState)


@dataclass(frozen=True)
class FoundPools:
    """Pool objects found outside the desired paths, and notes on what was skipped."""

    objects: list[KubeObject] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def find_pools(paths: Sequence[str]) -> FoundPools:
    """The pools under `--pools` paths (files or directories); a missing path or a file that
    does not parse is an InputError (the user named it)."""
    objects: list[KubeObject] = []
    for path in paths:
        disk = Path(path)
        if not disk.exists():
            raise InputError(f"the pools path `{path}` does not exist")
        for file, label in _files(disk, os.path.normpath(path)):
            objects.extend(_pools_in_file(file, label, strict=True))
    return FoundPools(objects)


def repository_pools(top: Path, label: str, flux: FluxContext | None = None) -> FoundPools:
    """The pools anywhere in the repository tree at `top` (hidden entries skipped); files that
    do not parse are skipped with a note. `label` prefixes the paths in origins ("REF:").
    With `flux`, a file is read as the Flux Kustomization that builds it substitutes it."""
    objects: list[KubeObject] = []
    notes: list[str] = []
    for file, file_label in _files(top, label):
        try:
            objects.extend(_pools_in_file(file, file_label, strict=False, flux=flux))
        except (InputError, yaml.YAMLError, UnicodeDecodeError, OSError):
            notes.append(f"{file_label}: not read for pools (it does not parse)")
    return FoundPools(objects, notes)


def with_context_pools(state: State, found: FoundPools) -> State:
    """The state holding `found` as context pools: those the state already defines (same
    object, or a pool of the same name or addresses) are left out with a note."""
    accepted: list[KubeObject] = [o for o in state.objects if is_pool_manifest(o.body)]
    accepted += list(state.context_pools)
    known = {o.key for o in accepted}
    added: list[KubeObject] = []
    notes: list[str] = []
    for obj in found.objects:
        if obj.key in known:
            continue
        try:
            pools_from_objects([*accepted, *added, obj])
        except InputError as clash:
            notes.append(f"{obj.origin}: pool not used: {clash.reason}")
            continue
        known.add(obj.key)
        added.append(obj)
    return dataclasses.replace(
        state,
        context_pools=[*state.context_pools, *added],
        notes=[*state.notes, *found.notes, *notes],
    )


def _files(root: Path, label: str) -> Iterator[tuple[Path, str]]:
    """Manifest files under `root` (itself when a file), with their labels."""
    if root.is_file():
        yield root, label
        return
    for file in manifest_files(root):
        yield file, _join(label, file.relative_to(root).as_posix())


def _join(label: str, relative: str) -> str:
    if label in ("", "."):
        return relative
    return f"{label}{relative}" if label.endswith(("/", ":")) else f"{label}/{relative}"


def _pools_in_file(
    file: Path, label: str, strict: bool, flux: FluxContext | None = None
) -> list[KubeObject]:
    """Pool objects of one file: pool manifests, and configInline as a legacy ConfigMap."""
    text = decode_text(read_file_bytes(file, label), label)
    if not any(marker in text for marker in _MARKERS):
        return []
    if flux is not None and "${" in text:
        from planner.sources.flux_build import substituted_text

        text = substituted_text(file, text, flux)
    parsed = (parse_json if file.suffix.lower() in JSON_SUFFIXES else parse_yaml)(text, label)
    objects, _ = to_objects(d for d in parsed.documents if is_pool_manifest(d.body))
    for index, body in enumerate(_raw_documents(text, strict)):
        inline = _config_inline(body)
        if inline is not None:
            origin = Origin(label, index)
            objects.append(_legacy_configmap(inline, _inline_name(body, label), origin))
    return objects


def _raw_documents(text: str, strict: bool) -> list[Any]:
    """Every YAML document of `text` (values files have no `kind`, so parse them raw)."""
    try:
        return kube_yaml.load_all(text)
    except yaml.YAMLError:
        if strict:
            raise
        return []


def _config_inline(body: Any) -> Any:
    """The MetalLB `configInline` of a values file, HelmRelease or Argo CD Application."""
    if not isinstance(body, dict):
        return None
    kind = body.get("kind")
    spec = body.get("spec")
    if not isinstance(spec, dict):
        spec = {}
    values: Any = None
    if kind is None:
        values = body
    elif kind == "HelmRelease":
        values = spec.get("values")
    elif kind == "Application":
        helm = (spec.get("source") or {}).get("helm") or {}
        values = helm.get("valuesObject") or _yaml_text(helm.get("values"))
    if not isinstance(values, dict):
        return None
    inline = values.get("configInline")
    return inline if isinstance(inline, (dict, str)) and inline else None


def _yaml_text(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return kube_yaml.load(text)
    except yaml.YAMLError:
        return None


def _inline_name(body: dict[str, Any], label: str) -> str:
    """A name for the ConfigMap standing for a configInline (the release's, else the file's)."""
    name = (body.get("metadata") or {}).get("name") if body.get("kind") else None
    return str(name) if name else Path(label.rsplit(":", 1)[-1]).stem


def _legacy_configmap(inline: Any, name: str, origin: Origin) -> KubeObject:
    """The legacy MetalLB ConfigMap a configInline becomes (the chart renders exactly that)."""
    config = inline if isinstance(inline, str) else yaml.safe_dump(inline, sort_keys=False)
    body: Manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-config-inline", "namespace": _LEGACY_NAMESPACE},
        "data": {"config": config},
    }
    key = ObjectKey("ConfigMap", _LEGACY_NAMESPACE, f"{name}-config-inline")
    return KubeObject(key, body, origin)
