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
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.errors import Origin
from planner.objects import KubeObject
from planner.sources.documents import Document
from planner.sources.flux_build import FluxContext
from planner.sources.flux_overlay import UNAPPLIED_FIELDS, BuildFields, build_fields
from planner.sources.flux_repository import (
    Repository,
    is_flux_kustomization,
    kustomization_name,
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
        name = kustomization_name(obj.body)
        origin = obj.origin or Origin(name)
        target, why = _target_of(obj.body, repository)
        if target is not None and repository is not None:
            why = of_another_repository(obj.body, context, repository)
            target = None if why else target
        if target is None or repository is None:
            if plain(obj.body.get("spec")).get("suspend") is True:  # Flux applies nothing of it
                followed.notes.append(f"{origin}: {name} {why}: what it builds was not read")
            else:
                followed.unbuilt.append(_unbuilt(name, origin, why, missed="not followed"))
            continue
        build, why = build_fields(obj.body, origin, repository.root)
        if why:
            followed.unbuilt.append(_unbuilt(name, origin, why))
        else:
            followed.targets.append(dataclasses.replace(target, build=build))
    return followed


def _unbuilt(name: str, origin: Origin, why: str, missed: str = "not built") -> Unrendered:
    return Unrendered(name, origin, why, kind="Flux Kustomization", missed=missed)


def _target_of(body: Mapping[str, Any], repository: Repository | None) -> tuple[Target | None, str]:
    """Where one Flux Kustomization's `spec.path` lies in `repository`, or why it is not read."""
    path = kustomization_path(body)
    refused = refusal(body)
    if refused:
        return None, refused
    if repository is None:  # stdin outside any repository: nowhere to read the path from
        return None, f"no repository holds `{path}`"
    directory = Path(os.path.normpath(repository.root / path))
    try:
        outside = repository.relative(directory) is None
        is_dir = not outside and directory.is_dir()
    except (OSError, RuntimeError):  # a name too long, a symlink loop (RuntimeError before 3.13)
        outside, is_dir = False, False
    if outside:
        return None, f"`{path}` lies outside the repository"
    if not is_dir:
        return None, f"`{path}` is not a directory of the repository"
    return Target(directory, repository.label(directory), _target_namespace(body)), ""


def of_another_repository(
    body: Mapping[str, Any], context: FluxContext, repository: Repository
) -> str:
    """Why the GitRepository a Kustomization builds from is another repository than this one:
    found in the repository, its URL is none of the work tree's git remotes ("" when it is one,
    or when that cannot be told: no GitRepository written here (the Flux operator makes its
    own), or no remote to compare with)."""
    from planner.sources.urls import normalised_url, shown_url

    source = plain(plain(body.get("spec")).get("sourceRef"))
    namespace = str(
        source.get("namespace") or plain(body.get("metadata")).get("namespace") or "default"
    )
    name = str(source.get("name"))
    found = context.index_of(repository).find("GitRepository", namespace, name)
    url = plain(found.body.get("spec")).get("url") if found is not None else None
    remotes = context.remotes_of(repository)
    if not isinstance(url, str) or not remotes or normalised_url(url) in remotes:
        return ""
    return (
        f"builds `{kustomization_path(body)}` of GitRepository {namespace}/{name} "
        f"({shown_url(url)}), "
        "which is not a remote of this repository"
    )


def _target_namespace(body: Mapping[str, Any]) -> str | None:
    namespace = plain(body.get("spec")).get("targetNamespace")
    return namespace if isinstance(namespace, str) and namespace else None


@dataclass(frozen=True)
class NamedBuild:
    """How Flux builds a path named on the command line: the Flux Kustomization's `target`
    (its spec.path, targetNamespace and fields), `part` the named path within it ("" when it is
    the spec.path itself); notes saying so; or, when its fields cannot be applied, why
    (`unbuilt`: then it is not read, as a followed one would not be). No target: read as written."""

    target: Target | None = None
    part: str = ""
    notes: tuple[str, ...] = ()
    unbuilt: Unrendered | None = None


# The spec fields that decide what a Flux Kustomization builds of its path (postBuild aside:
# substitution chooses among several Kustomizations of one path itself).
_BUILD_SPEC = (
    "sourceRef",
    "suspend",
    "targetNamespace",
    "namePrefix",
    "nameSuffix",
    "patches",
    "components",
    "ignoreMissingComponents",
    "images",
    "commonMetadata",
    *UNAPPLIED_FIELDS,
)


def named_build(path: Path, label: str, context: FluxContext) -> NamedBuild | None:
    """How the Flux Kustomization whose `spec.path` is the named `path` (labelled `label`), or
    the nearest directory enclosing it (the one substitution uses), builds it; None when none
    does, or it changes nothing."""
    directory = path if path.is_dir() else path.parent
    repository = context.repository_of(directory)
    relative = repository.relative(directory) if repository is not None else None
    if repository is None or relative is None:
        return None
    builders = context.index_of(repository).kustomizations_for(relative)
    builders = [b for b in builders if not of_another_repository(b.body, context, repository)]
    if not builders:
        return None
    first = builders[0]
    named = relative if directory == path else posixpath.join(relative, path.name)
    part = posixpath.relpath(named, kustomization_path(first.body))
    part = "" if part == "." else part
    who = f"{kustomization_name(first.body)} ({first.origin.file})"
    refused = refusal(first.body)
    target, _ = _target_of(first.body, repository)
    if refused or target is None:  # read as written (no other reason: it encloses `path`)
        note = f"{label}: {who} {refused}: its fields were not applied"
        return NamedBuild(part=part, notes=(note,)) if refused else None
    others = [b for b in builders[1:] if _build_spec(b.body) != _build_spec(first.body)]
    notes = [_others_note(label, target.label, first, others)] if others else []
    build, why = build_fields(first.body, first.origin, repository.root)
    if why:
        unbuilt = _unbuilt(kustomization_name(first.body), first.origin, why)
        return NamedBuild(part=part, notes=tuple(notes), unbuilt=unbuilt)
    build = build.for_a_part() if part and build is not None else build
    applied = [
        *(["targetNamespace"] if target.namespace else []),
        *(build.built_fields if build is not None else []),
        *(["commonMetadata"] if build is not None and (build.labels or build.annotations) else []),
    ]
    if applied:
        how = f"part of `{target.label}`, as {who} builds it" if part else f"{who} builds it"
        notes.insert(0, f"{label}: read as {how} ({', '.join(applied)})")
    if not notes:
        return None
    return NamedBuild(dataclasses.replace(target, build=build), part, tuple(notes))


def _build_spec(body: Mapping[str, Any]) -> dict[str, Any]:
    spec = plain(body.get("spec"))
    return {key: spec.get(key) for key in _BUILD_SPEC}


def _others_note(label: str, built: str, first: Document, others: list[Document]) -> str:
    names = ", ".join(f"{kustomization_name(o.body)} ({o.origin.file})" for o in others)
    return (
        f"{label}: `{built}` is built by several Flux Kustomizations with different fields; "
        f"read as the first, {kustomization_name(first.body)} ({first.origin.file}), builds "
        f"it, not as {names}"
    )


def refusal(body: Mapping[str, Any]) -> str:
    """Why Flux does not build a Kustomization's path from this repository now ("" when it
    does): its source is another kind than a GitRepository, or it is suspended."""
    spec = plain(body.get("spec"))
    source = plain(spec.get("sourceRef"))
    source_kind = str(source.get("kind") or "GitRepository")
    if source_kind != "GitRepository":
        return (
            f"builds `{kustomization_path(body)}` of {source_kind} {source.get('name')}, "
            "not of this repository"
        )
    if spec.get("suspend") is True:  # Flux applies nothing of it until it is resumed
        return "is suspended"
    return ""


def covers(read: Path, target: Path) -> bool:
    """Whether reading `target` would read `read` again: `target` is it, or holds it."""
    return read == target or target in read.parents
