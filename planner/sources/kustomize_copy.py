"""Building a kustomization with its file rewritten, without writing into the repository.

A Flux Kustomization's fields (flux_overlay) and an Argo CD source's `kustomize` settings
(argocd_kustomize) change the kustomization file before kustomize builds it. The directory is
copied into a private temporary tree laid out as the repository (every other entry along its
path a link to the repository's own), so relative paths such as `../../components/common`
resolve as in place; the copy's kustomization file is replaced and built with the kustomize the
planner already runs.

    >>> rewritten = RewrittenKustomization(root, "kustomization.yaml", text)  # doctest: +SKIP
    >>> stream = render_rewritten(Path("apps/dns"), "apps/dns", rewritten)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from planner import kube_yaml
from planner.errors import InputError
from planner.sources.kustomize import (
    is_kustomization_dir,
    kustomization_file,
    render_kustomization,
)


@dataclass(frozen=True)
class RewrittenKustomization:
    """A kustomization file to build in place of a directory's own: its name and text, the
    repository `root` the directory lies in, and what rewrote it (for a failure's message)."""

    root: Path
    name: str
    text: str
    by: str = ""


def read_kustomization(directory: Path, label: str) -> tuple[str, dict[str, Any]] | None:
    """The directory's kustomization file: its name and body (a mapping), None without one;
    InputError when it is not YAML."""
    path = kustomization_file(directory)
    if path is None:
        return None
    try:
        own = kube_yaml.load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise InputError(f"{label}/{path.name} cannot be read as YAML") from err
    return path.name, dict(own) if isinstance(own, Mapping) else {}


def render_rewritten(
    directory: Path, label: str, rewritten: RewrittenKustomization, load_anywhere: bool = False
) -> str:
    """The YAML kustomize builds for `directory` (labelled `label`) with its kustomization file
    replaced by `rewritten`, in a private temporary copy (`load_anywhere`: as Flux builds, see
    `kustomize_argv`); InputError when it cannot be copied."""
    root = rewritten.root
    with tempfile.TemporaryDirectory(prefix="shared-ip-planner-kustomize-") as scratch:
        try:
            copy = _mirror(root.resolve(), directory.resolve(), Path(scratch) / "repo")
        except OSError as err:  # an unreadable entry: one line, not a traceback
            raise InputError(
                f"`{label}` cannot be read to build it: {err.strerror or err}"
            ) from err
        written = copy / rewritten.name
        written.unlink(missing_ok=True)  # a link would write through into the repository
        written.write_text(rewritten.text, encoding="utf-8")
        # a failure names the directory by its label, other files by their repository paths
        shown = f"{label} (as {rewritten.by} build it)" if rewritten.by else label
        renamed = {str(copy): shown, str(Path(scratch) / "repo"): str(root)}
        return render_kustomization(copy, renamed, load_anywhere)


def _mirror(root: Path, directory: Path, scratch: Path) -> Path:
    """`directory`'s place in a tree under `scratch` laid out as the repository `root`: along
    its path every other entry links to the repository's own; the directory itself is copied."""
    source, copy = root, scratch
    copy.mkdir()
    for part in directory.relative_to(root).parts:
        for entry in sorted(os.listdir(source)):
            if entry != part:
                (copy / entry).symlink_to(source / entry)
        source, copy = source / part, copy / part
        copy.mkdir()
    _copy(source, copy)
    return copy


def _copy(source: Path, copy: Path) -> None:
    """The files below `source` copied into `copy`: kustomize loads a file only from below the
    kustomization's own directory, links resolved. Directories it builds on their own (with a
    kustomization) and hidden ones are linked; a link is copied as the link it is."""
    with os.scandir(source) as entries:
        for entry in entries:
            target = copy / entry.name
            if entry.is_symlink():
                target.symlink_to(os.readlink(entry.path))
            elif entry.is_dir():
                if entry.name.startswith(".") or is_kustomization_dir(Path(entry.path)):
                    target.symlink_to(entry.path)
                else:
                    target.mkdir()
                    _copy(Path(entry.path), target)
            else:
                shutil.copyfile(entry.path, target)
