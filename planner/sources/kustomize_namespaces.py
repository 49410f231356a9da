"""The namespaces a repository's kustomizations place a file's objects in.

A ConfigMap written without a namespace lands where the kustomization including it says
(`namespace:`), through any chain of `resources`, `bases` and `components`: home-ops
repositories keep `cluster-settings` once, in a component every namespace's kustomization
includes, and each namespace's Flux Kustomizations substitute from their own copy. Read from
the kustomization files alone (no build), once per repository.

    >>> KustomizeNamespaces.scan(root).of("components/common/vars/settings.yaml")  # doctest: +SKIP
    frozenset({'database', 'media'})
"""

from __future__ import annotations

import os
import posixpath
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.errors import InputError
from planner.sources.documents import manifest_files
from planner.sources.kustomize import KUSTOMIZATION_FILES, read_kustomization

_INCLUDING_FIELDS = ("resources", "bases", "components")


@dataclass
class KustomizeNamespaces:
    """Which kustomization directory includes which path, and the namespace each sets
    (paths from the repository root, POSIX)."""

    includers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    namespaces: dict[str, str] = field(default_factory=dict)

    @classmethod
    def scan(cls, root: Path) -> KustomizeNamespaces:
        """Every kustomization file below `root` (one that does not parse is skipped: the
        build that reads it says what is wrong)."""
        found = cls()
        directories = {
            path.parent for path in manifest_files(root) if path.name in KUSTOMIZATION_FILES
        }
        for directory in directories:
            here = Path(os.path.relpath(directory, root)).as_posix()
            try:
                read = read_kustomization(directory, here)
            except InputError:
                continue
            if read is None:
                continue
            body = read[1]
            namespace = body.get("namespace")
            if isinstance(namespace, str) and namespace:
                found.namespaces[here] = namespace
            for entry in _included(body):
                found.includers[posixpath.normpath(posixpath.join(here, entry))].add(here)
        return found

    def of(self, file: str) -> frozenset[str]:
        """The namespaces the kustomizations including `file` place its objects in: along each
        chain of inclusions up to a kustomization nobody includes, the outermost `namespace:`
        (kustomize sets the inner one first, then the outer over it)."""
        placed: set[str] = set()
        pending: list[tuple[str, str | None]] = [(file, None)]
        seen: set[tuple[str, str | None]] = set()
        while pending:
            path, namespace = pending.pop()
            if (path, namespace) in seen:
                continue
            seen.add((path, namespace))
            namespace = self.namespaces.get(path, namespace)
            above = self.includers.get(path)
            if not above:
                if namespace is not None:
                    placed.add(namespace)
                continue
            pending.extend((directory, namespace) for directory in sorted(above))
        return frozenset(placed)


def _included(body: Mapping[str, Any]) -> list[str]:
    """The local entries a kustomization includes (a URL is none of the repository's paths)."""
    entries = []
    for name in _INCLUDING_FIELDS:
        listed = body.get(name)
        if isinstance(listed, list):
            entries += [e for e in listed if isinstance(e, str) and "://" not in e]
    return entries
