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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from planner.errors import InputError
from planner.sources.kustomize import (
    is_kustomization_dir,
    kustomize_argv,
    render_kustomization,
)
from planner.sources.kustomize_cache import cached, inputs_key


@dataclass(frozen=True)
class RewrittenKustomization:
    """A kustomization file to build in place of a directory's own: its name and text, the
    repository `root` the directory lies in, and what rewrote it (for a failure's message)."""

    root: Path
    name: str
    text: str
    by: str = ""


def render_rewritten(
    directory: Path, label: str, rewritten: RewrittenKustomization, load_anywhere: bool = False
) -> str:
    """The YAML kustomize builds for `directory` (labelled `label`) with its kustomization file
    replaced by `rewritten`, in a private temporary copy (`load_anywhere`: as Flux builds, see
    `kustomize_argv`); InputError when it cannot be copied."""
    return render_in_copy(directory, label, rewritten.root, rewritten, load_anywhere)


@dataclass(frozen=True)
class PlacedChart:
    """A chart directory helm pulled (`chart`), to be copied to `place` (a path of the
    repository: where kustomize looks for it) in the private copy; `kustomization` is the
    directory of the kustomization naming it, which kustomize must find in the copy too (a
    link to the repository's would have it look for the chart, and pull it, there)."""

    chart: Path
    place: Path
    kustomization: Path


def render_in_copy(
    directory: Path,
    label: str,
    root: Path,
    rewritten: RewrittenKustomization | None = None,
    load_anywhere: bool = False,
    helm: str = "",
    charts: Sequence[PlacedChart] = (),
) -> str:
    """The YAML kustomize builds for `directory` (labelled `label`) of the repository `root` in
    a private temporary copy: its kustomization file replaced by `rewritten` when given, `charts`
    laid out where kustomize looks for them (so it pulls nothing), `helm` and `load_anywhere` as
    `kustomize_argv` says; InputError when it cannot be copied. A build with the same inputs
    earlier in the run is reused (kustomize_cache)."""
    own = (rewritten.name, rewritten.text) if rewritten is not None else None
    options = kustomize_argv("", load_anywhere, helm)
    key = None if charts else inputs_key(directory, root, options, own)
    return cached(
        key,
        lambda: _render_in_copy(directory, label, root, rewritten, load_anywhere, helm, charts),
    )


def _render_in_copy(
    directory: Path,
    label: str,
    root: Path,
    rewritten: RewrittenKustomization | None,
    load_anywhere: bool,
    helm: str,
    charts: Sequence[PlacedChart],
) -> str:
    with tempfile.TemporaryDirectory(prefix="shared-ip-planner-kustomize-") as scratch:
        mirrored = Path(scratch) / "repo"
        try:
            copy = _mirror(root.resolve(), directory.resolve(), mirrored)
            for placed in charts:
                _opened(mirrored, root.resolve(), placed.kustomization)
                where = _opened(mirrored, root.resolve(), placed.place.parent)
                shutil.copytree(placed.chart, where / placed.place.name, symlinks=True)
        except OSError as err:  # an unreadable entry: one line, not a traceback
            raise InputError(
                f"`{label}` cannot be read to build it: {err.strerror or err}"
            ) from err
        shown = label
        if rewritten is not None:
            written = copy / rewritten.name
            written.unlink(missing_ok=True)  # a link would write through into the repository
            written.write_text(rewritten.text, encoding="utf-8")
            # a failure names the directory by its label, other files by their repository paths
            shown = f"{label} (as {rewritten.by} build it)" if rewritten.by else label
        renamed = {str(copy): shown, str(mirrored): str(root)}
        return render_kustomization(copy, renamed, load_anywhere, helm)


def _opened(mirrored: Path, root: Path, path: Path) -> Path:
    """`path`'s place in the copy `mirrored` of `root`, a real directory all the way down (what
    is missing made), so kustomize resolving links never leaves the copy: each link to the
    repository along it is replaced by a copy of a kustomization directory (its files load from
    below it), or else by a directory of links to the entries of the one it pointed to."""
    place, source = mirrored, root
    for part in path.resolve().relative_to(root).parts:
        place, source = place / part, source / part
        if place.is_symlink():
            place.unlink()
            place.mkdir()
            if is_kustomization_dir(source):
                _copy(source, place)
            else:
                for entry in sorted(os.listdir(source)):
                    (place / entry).symlink_to(source / entry)
        elif not place.exists():
            place.mkdir()
    return place


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
