"""Following Flux Kustomizations to the directories they build.

Home-ops repositories point a kustomization at `ks.yaml` files that hold only Flux
Kustomizations; the Services live in the directory each one's `spec.path` names, which
kustomize-controller builds on its own. Reading only the kustomization's output would check
none of them (a silent pass), so `load_sources` reads those directories too.

    >>> targets = follow_targets(objects, Path("apps/network"), context)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from planner.errors import Origin
from planner.objects import KubeObject
from planner.sources.flux_build import FluxContext
from planner.sources.flux_overlay import BuildFields, build_fields
from planner.sources.flux_repository import (
    Repository,
    is_flux_kustomization,
    kustomization_path,
    plain,
)
from planner.sources.states import Unrendered


@dataclass(frozen=True)
class Target:
    """A directory a Flux Kustomization builds: where it is, how messages name it."""

    path: Path
    label: str
    namespace: str | None = None  # spec.targetNamespace: every namespaced object lands there
    build: BuildFields | None = None  # its other fields that change what it builds


@dataclass
class Followed:
    """What following the Flux Kustomizations of one source found: the directories to read,
    notes, and those whose fields cannot be applied exactly (not read: Services unchecked)."""

    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unbuilt: list[Unrendered] = field(default_factory=list)


def follow_targets(
    objects: Iterable[KubeObject], source_path: Path, context: FluxContext
) -> Followed:
    """The directories the Flux Kustomizations among `objects` build (read from the repository
    holding `source_path`), and what keeps any of them from being read."""
    followed = Followed()
    for obj in objects:
        if not is_flux_kustomization(obj.body):
            continue
        repository = context.repository_of(source_path)
        target, note = _target_of(obj, repository)
        if target is None or repository is None:
            followed.notes.extend([note] if note else [])
            continue
        name = f"Flux Kustomization {obj.key.namespace}/{obj.key.name}"
        origin = obj.origin or Origin(name)
        build, why = build_fields(obj.body, origin, repository.root)
        if why:
            followed.unbuilt.append(
                Unrendered(name, origin, why, kind="Flux Kustomization", missed="not built")
            )
        else:
            followed.targets.append(dataclasses.replace(target, build=build))
    return followed


def _target_of(obj: KubeObject, repository: Repository | None) -> tuple[Target | None, str]:
    """Where one Flux Kustomization's `spec.path` lies in `repository`, or why it is not read."""
    spec = plain(obj.body.get("spec"))
    name = f"Flux Kustomization {obj.key.namespace}/{obj.key.name}"
    source = plain(spec.get("sourceRef"))
    source_kind = str(source.get("kind") or "GitRepository")
    path = kustomization_path(obj.body)
    unread = "what it builds was not read (its Services were not checked)"
    if source_kind != "GitRepository":
        return None, (
            f"{obj.origin}: {name} builds `{path}` of {source_kind} {source.get('name')}, "
            f"not of this repository; {unread}"
        )
    if spec.get("suspend") is True:  # Flux applies nothing of it until it is resumed
        return None, f"{obj.origin}: {name} is suspended: what it builds was not read"
    if repository is None:  # stdin outside any repository: nowhere to read the path from
        return None, f"{obj.origin}: {name}: no repository holds `{path}`; {unread}"
    directory = Path(os.path.normpath(repository.root / path))
    try:
        outside = repository.relative(directory) is None
        is_dir = not outside and directory.is_dir()
    except (OSError, RuntimeError):  # a name too long, a symlink loop (RuntimeError before 3.13)
        outside, is_dir = False, False
    if outside:
        return None, f"{obj.origin}: {name}: `{path}` lies outside the repository; {unread}"
    if not is_dir:
        return None, (
            f"{obj.origin}: {name}: `{path}` is not a directory of the repository; {unread}"
        )
    namespace = spec.get("targetNamespace")
    target_namespace = namespace if isinstance(namespace, str) and namespace else None
    return Target(directory, repository.label(directory), target_namespace), ""


def covers(read: Path, target: Path) -> bool:
    """Whether reading `target` would read `read` again: `target` is it, or holds it."""
    return read == target or target in read.parents
