"""kustomize's output reused, within one run, for a build whose every input is the same bytes.

`--live-git` builds each followed Flux Kustomization twice, at the work tree and at the ref, and
most commits change few of them: on a repository of 71 such apps, `diff kubernetes/apps` ran
142 kustomize builds (0.2 s each, kubectl's start-up mostly). A build is keyed by its options,
the kustomization text it builds (the rewritten one, when Flux's fields rewrite it) and every
file the walk of its kustomizations names (`resources`, `components`, patches, generator files,
...), each by its path from the repository's root and its bytes: what kustomize reads. A build
naming anything the walk cannot hash (a URL, a path outside the repository) is not reused.

    >>> with build_cache():  # doctest: +SKIP
    ...     text = cached(inputs_key(directory, root, options), lambda: build(directory))
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

# hashlib, safety and the YAML reader are imported where a key is made: a diff of plain files
# never makes one, and start-up pays for every import (tests/test_startup.py)

_built: dict[str, str] | None = None  # None: no run holds a cache (a library call builds anew)


@contextlib.contextmanager
def build_cache() -> Iterator[None]:
    """Reuse builds with the same inputs until the block ends (one run's desired and live)."""
    global _built
    outer, _built = _built, ({} if _built is None else _built)
    try:
        yield
    finally:
        _built = outer


def cached(key: str | None, build: Callable[[], str]) -> str:
    """`build()`'s output, or the one kept for `key` (None: never kept); a failure is not kept."""
    if key is None or _built is None:
        return build()
    if key not in _built:
        _built[key] = build()
    return _built[key]


def inputs_key(
    directory: Path, root: Path, options: Sequence[str], own: tuple[str, str] | None = None
) -> str | None:
    """The key of building `directory` of the repository `root` with `options`, its
    kustomization file read as `own` (name, text) when given; None when no run keeps builds or
    the walk meets what it cannot hash."""
    if _built is None:
        return None
    try:
        return _walked(directory.resolve(), root.resolve(), options, own)
    except OSError:  # unreadable: the build says what is wrong
        return None


def _walked(
    top: Path, root: Path, options: Sequence[str], own: tuple[str, str] | None
) -> str | None:
    import hashlib

    from planner.sources.safety import inside, is_remote, named_paths

    digest = hashlib.sha256("\0".join(options).encode())
    pending, seen = [top], set[Path]()
    while pending:
        here = pending.pop()
        if here in seen:
            continue
        seen.add(here)
        read = _kustomization(here, own if here == top else None)
        if read is None or not inside(here, root):
            return None
        name, data, body = read
        digest.update(f"\0{here.relative_to(root).as_posix()}/{name}\0".encode() + data)
        for entry in named_paths(body):
            target = (here / entry).resolve()
            if is_remote(entry) or not inside(target, root):
                return None
            if target.is_dir():
                pending.append(target)
            elif target.is_file():
                digest.update(f"\0{target.relative_to(root).as_posix()}\0".encode())
                digest.update(target.read_bytes())
            else:
                return None
    return digest.hexdigest()


def _kustomization(
    directory: Path, own: tuple[str, str] | None
) -> tuple[str, bytes, dict[str, object]] | None:
    """The directory's kustomization: its name, bytes and body (`own` in place of the file)."""
    import yaml

    from planner import kube_yaml
    from planner.sources.kustomize import kustomization_file

    if own is not None:
        name, data = own[0], own[1].encode()
    else:
        path = kustomization_file(directory)
        if path is None:
            return None
        name, data = path.name, path.read_bytes()
    try:
        body = kube_yaml.load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        return None
    return name, data, dict(body) if isinstance(body, dict) else {}
