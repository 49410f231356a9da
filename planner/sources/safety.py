"""Reading a repository copy and nothing outside it: its root, symlinks, kustomize references.

The Argo CD plugin (planner.gitops.argocd) and the Flux pre-sync hook (planner.gitops.flux) both
render a directory of a repository they were handed; these checks keep rendering inside it and
off the network.

    >>> root = repository_root(Path("/tmp/repo/apps/dns"), "apps/dns")  # doctest: +SKIP
    >>> check_symlinks(root)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.errors import InputError
from planner.objects import Manifest
from planner.sources.documents import read_yaml_file
from planner.sources.flux_build import git_root
from planner.sources.kustomize import kustomization_file

# How kustomize spells remote bases without a scheme (github.com/org/repo//path?ref=v1, git@...),
# and kustomize-controller its remote components (`gh:`, `github.com:`).
REMOTE_PREFIXES = (
    "github.com/",
    "gitlab.com/",
    "bitbucket.org/",
    "git@",
    "git::",
    "ssh:",
    "gh:",
    "github.com:",
)


class UnbuiltKustomization(InputError):
    """A valid kustomization the planner does not build as the GitOps tool would (`reason`
    says why, for the unrendered note). Reading desired state leaves that build unrendered; the
    plugin and the hook, which must render everything, stop on it."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason_unbuilt = reason


class RemoteResourceError(UnbuiltKustomization):
    """A kustomization names something kustomize would fetch (`where` names the file and
    field, `entry` the remote)."""

    def __init__(self, message: str, where: str, entry: str) -> None:
        super().__init__(
            message, f"{where} names the remote `{entry}`, which the planner does not fetch"
        )
        self.where = where
        self.entry = entry


class BrokenKustomization(InputError):
    """A kustomization kustomize cannot build (an entry that does not exist): an error in the
    work tree; at a git ref (`--live-git`), that build is unrendered instead."""


def repository_root(source_dir: Path, source_path: str) -> Path:
    """The copy's root: `source_dir` without the trailing ARGOCD_APP_SOURCE_PATH components.

    When the path does not end the directory (or is unset), the root is found the way git finds
    it: the nearest directory, `source_dir` or above, holding a `.git` (a directory, or the file
    of a worktree or submodule); without one, the source directory itself.
    """
    parts = [p for p in Path(source_path).parts if p not in (".", "")]
    resolved = source_dir.resolve()
    if parts and len(resolved.parts) > len(parts) and list(resolved.parts[-len(parts) :]) == parts:
        return Path(*resolved.parts[: -len(parts)])
    return git_root(resolved) or resolved


def inside(path: Path, root: Path) -> bool:
    """Whether the (resolved) `path` is `root` or lies below it."""
    return path == root or root in path.parents


def check_symlinks(root: Path) -> None:
    """InputError naming the first symlink (by sorted path) under `root` that points outside it."""
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted([*dirnames, *filenames]):
            path = Path(directory, name)
            if path.is_symlink():
                _check_symlink(path, root)


def _check_symlink(path: Path, root: Path) -> None:
    shown = path.relative_to(root).as_posix()
    try:
        # strict: a loop raises on every Python (3.13's non-strict resolve no longer does)
        target = path.resolve(strict=True)
    except (OSError, RuntimeError) as err:  # RuntimeError: a loop, before Python 3.13
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        raise InputError(f"`{shown}` is a symlink that cannot be resolved ({reason})") from err
    if not inside(target, root):
        raise InputError(
            f"`{shown}` is a symlink that points outside the repository "
            f"(to {os.readlink(path)}); refusing to read it"
        )


def check_kustomize_references(app_dir: Path, root: Path) -> None:
    """InputError for a kustomization (the app's, or one it includes) that names a remote
    resource (rendering must not use the network), a path outside the repository copy, or a
    resource that does not exist.

    `resources`, `bases` and `components` are followed. The files a kustomization loads itself
    (patches, generator files, configurations, ...) are checked too: kustomize's default load
    restrictor keeps them below its own directory, but Flux builds without it."""
    for directory, entries in _kustomizations(app_dir.resolve(), root, _from_root, False):
        for entry, shown in entries.built:
            if is_remote(entry):
                raise RemoteResourceError(
                    f"{shown} names the remote resource `{entry}`; the plugin renders without "
                    "network access, so vendor it into the repository",
                    shown,
                    entry,
                )
            target = (directory / entry).resolve()
            _check_inside(target, root, entry, shown)
            _check_exists(target, entry, shown)
        for entry, shown in entries.loaded:
            _check_inside((directory / entry).resolve(), root, entry, shown)


def check_remote_resources(app_dir: Path, label: str) -> None:
    """InputError for a kustomization (the one in `app_dir`, labelled `label` in messages, or
    one it includes) that names a remote resource (RemoteResourceError: kustomize would fetch
    it, and the planner never uses the network) or a local path that does not exist (kustomize
    fails on both, and its own error names the entry only among absolute paths, or not at all)."""
    top = app_dir.resolve()

    def shown_under_label(directory: Path) -> str:
        return os.path.normpath(os.path.join(label, os.path.relpath(directory, top)))

    for directory, entries in _kustomizations(top, None, shown_under_label, True):
        for entry, shown in entries.built:
            if is_remote(entry):
                raise RemoteResourceError(
                    f"{shown} names the remote resource `{entry}`; the planner does not fetch "
                    "it (no network): vendor it into the repository, or name a directory "
                    "that does not include it",
                    shown,
                    entry,
                )
            _check_exists((directory / entry).resolve(), entry, shown)


def _from_root(_directory: Path) -> str:
    return ""  # files are shown from the repository's root, as they are


@dataclass(frozen=True)
class _Entries:
    """What one kustomization file names, each with where it is written: what the build
    includes or generates from (`built`: resources, bases, components, generator files) and
    the other files kustomize loads for it (`loaded`: patches, configurations, ...)."""

    built: list[tuple[str, str]]
    loaded: list[tuple[str, str]]


def _kustomizations(
    top: Path, root: Path | None, shown_in: Callable[[Path], str], inflating: bool
) -> Iterator[tuple[Path, _Entries]]:
    """Each kustomization the build of `top` includes, once, with its entries (each file read
    once); files are shown from `root` (None: from their own directory) under `shown_in(its
    directory)`. The local entries are followed after the caller has looked at them, so a
    check that raises stops the walk there."""
    pending, seen = [top], set()
    while pending:
        directory = pending.pop()
        kustomization = kustomization_file(directory)
        if directory in seen or kustomization is None:
            continue
        seen.add(directory)
        entries = _kustomize_entries(
            kustomization, root or directory, shown_in(directory), inflating
        )
        yield directory, entries
        pending.extend((directory / e).resolve() for e, _ in entries.built if not is_remote(e))


def _check_inside(target: Path, root: Path, entry: str, shown: str) -> None:
    if not inside(target, root):
        raise InputError(f"{shown} names `{entry}`, which lies outside the repository")


def _check_exists(target: Path, entry: str, shown: str) -> None:
    """InputError when a kustomization's local entry does not exist: kustomize fails to build
    it, and so would Flux's kustomize-controller or Argo CD's repo server."""
    if not target.exists():
        raise BrokenKustomization(
            f"{shown} names `{entry}`, which does not exist; kustomize cannot build it "
            "(nor can Flux or Argo CD)"
        )


def _kustomize_entries(
    path: Path, root: Path, shown_root: str = "", inflating: bool = True
) -> _Entries:
    """The entries of the kustomization file `path` (read once), each with where it is
    written; the file is shown from `root`, under `shown_root` when given. Without
    `inflating` (a build as Flux's, the plugin's or the hook's), `helmCharts` is refused."""
    shown = path.relative_to(root).as_posix()
    if shown_root:
        shown = f"{shown_root.rstrip('/')}/{shown}" if shown_root != "." else shown
    body = _kustomization_body(path, shown)
    if body.get("helmCharts") and not inflating:
        # kustomize-controller builds with kustomize's plugins disabled (no --enable-helm); the
        # plugin and the hook hand on documents as written, and cannot leave these out
        raise UnbuiltKustomization(
            f"{shown} inflates Helm charts (`helmCharts`, kustomize --enable-helm), which the "
            "planner does not build here",
            f"{shown} (`helmCharts`) inflates Helm charts, which Flux's kustomize-controller "
            "does not (it builds without --enable-helm)",
        )
    built = []
    for field_name in ("resources", "bases", "components"):
        for entry in body.get(field_name) or []:
            if isinstance(entry, str):
                built.append((entry, f"{shown} (`{field_name}`)"))
    return _Entries(built + _generator_files(body, shown), _loaded_files(body, shown))


def _generator_files(body: Manifest, shown: str) -> list[tuple[str, str]]:
    """The file sources of a kustomization's ConfigMap and Secret generators (`[KEY=]PATH`,
    `envs`): kustomize fetches a URL there too (a Grafana dashboard, in many repositories)."""
    entries = []
    for field_name in ("configMapGenerator", "secretGenerator"):
        for generator in body.get(field_name) or []:
            if not isinstance(generator, dict):
                continue
            for source in ("files", "envs"):
                for entry in generator.get(source) or []:
                    if isinstance(entry, str):
                        path = (
                            entry.split("=", 1)[1] if source == "files" and "=" in entry else entry
                        )
                        entries.append((path, f"{shown} (`{field_name}` {source})"))
    return entries


def _loaded_files(body: Manifest, shown: str) -> list[tuple[str, str]]:
    """(path, "where it is written") of the other files a kustomization (`body`, shown as
    `shown`) loads: patches, replacements, CRDs, configurations, OpenAPI schema, and the string
    entries of `patchesStrategicMerge`, `generators`, `transformers` and `validators` that are
    not inline YAML (kustomize reads those as paths)."""
    found: list[tuple[str, str]] = []
    for field_name in ("patches", "patchesJson6902", "replacements"):
        for entry in listed(body, field_name):
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                found.append((entry["path"], f"{shown} (`{field_name}`)"))
    for field_name in ("crds", "configurations"):
        found += [
            (e, f"{shown} (`{field_name}`)") for e in listed(body, field_name) if isinstance(e, str)
        ]
    for field_name in ("patchesStrategicMerge", "generators", "transformers", "validators"):
        found += [
            (e, f"{shown} (`{field_name}`)")
            for e in listed(body, field_name)
            if isinstance(e, str) and "\n" not in e.strip()
        ]
    openapi = body.get("openapi")
    if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
        found.append((openapi["path"], f"{shown} (`openapi`)"))
    return found


def listed(body: Mapping[str, Any], field_name: str) -> list[Any]:
    """A kustomization field's entries when it is a list, else none (shapes kustomize reports)."""
    value = body.get(field_name)
    return value if isinstance(value, list) else []


def _kustomization_body(path: Path, shown: str) -> Manifest:
    """A kustomization file as a mapping (it need not carry apiVersion and kind)."""
    body = read_yaml_file(path, shown)
    return body if isinstance(body, dict) else {}


def is_remote(entry: str) -> bool:
    """Whether a kustomization entry names something kustomize would fetch."""
    return "://" in entry or "?ref=" in entry or entry.startswith(REMOTE_PREFIXES)
