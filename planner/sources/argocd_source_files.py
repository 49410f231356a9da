"""Argo CD's override files in a source directory: `.argocd-source.yaml`, then
`.argocd-source-<app>.yaml`, each merged into the Application's source as a JSON merge patch
(RFC 7386: maps merged key by key, `null` removes, anything else replaces) before the repo server
detects the tool and renders (argo-cd reposerver `mergeSourceParameters`). The source's
`repoURL`, `path`, `targetRevision` and `chart` are kept whatever the files say. `<app>` is the
Application's name (its instance name when it lives in Argo CD's own namespace, as the release
name and `$ARGOCD_APP_NAME` are taken here).

    >>> with_override_files({"path": "apps/dns"}, directory, repository, "dns")  # doctest: +SKIP
    {'path': 'apps/dns', 'helm': {'releaseName': 'dns-prod'}}
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from planner import kube_yaml
from planner.sources.argocd_env import NotEvaluated
from planner.sources.flux_repository import Repository
from planner.sources.safety import inside

SOURCE_FILE = ".argocd-source.yaml"
KEPT_FIELDS = ("repoURL", "path", "targetRevision", "chart")


def with_override_files(
    source: Mapping[str, Any], directory: Path, repository: Repository, app_name: str
) -> Mapping[str, Any]:
    """`source` with the directory's override files merged in, as Argo CD merges them;
    NotEvaluated when one cannot be read as Argo CD reads it."""
    merged: Any = dict(source)
    for name in (SOURCE_FILE, f".argocd-source-{app_name}.yaml"):
        path = directory / name
        if not path.is_file():
            continue  # missing (or a directory): Argo CD skips it
        label = repository.label(path)
        if not inside(path.resolve(), repository.root.resolve()):
            raise NotEvaluated(f"`{label}` links outside the repository and was not read")
        patch = _patch(path, label)
        if patch is None:  # an empty file: `null` decodes into the source as no change
            continue
        merged = merge_patch(merged, patch)
        if not isinstance(merged, Mapping):
            raise NotEvaluated(f"`{label}` is not an object (Argo CD fails to render)")
    if merged == source:
        return source
    if merged.get("plugin") and not source.get("plugin"):
        raise NotEvaluated("an override file gives its source `plugin` settings, not evaluated")
    kept = {field: source[field] for field in KEPT_FIELDS if field in source}
    without = {key: value for key, value in merged.items() if key not in KEPT_FIELDS}
    return {**without, **kept}


def _patch(path: Path, label: str) -> Any:
    try:
        return kube_yaml.load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as bad:
        raise NotEvaluated(f"`{label}` is not readable YAML (Argo CD fails to render)") from bad


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386's JSON merge patch of `patch` onto `target`."""
    if not isinstance(patch, Mapping):
        return patch
    merged = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged
