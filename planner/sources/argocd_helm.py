"""An Argo CD source's `helm` settings, as its repo server passes them to `helm template`.

Argo CD (reposerver/repository/repository.go `helmTemplate`, util/helm/cmd.go `template`)
renders a chart directory with the Application's name as the release (`releaseName` over it),
the destination namespace (`helm.namespace` over it), the `valueFiles` in order (relative to the
chart, `/…` from the repository root, `$ref/…` from a `ref` source's root; missing ones skipped
only with `ignoreMissingValueFiles`), then `valuesObject` (or `values`) written to a file, and
`parameters` / `fileParameters` as `--set`, `--set-string` and `--set-file`. Value file paths
and parameter values are expanded against the Application's build environment first
(`$ARGOCD_APP_NAME`, ...; argocd_env.py).

What cannot be evaluated here is said, and the Application is then not followed: a remote value
file (nothing is fetched), a glob, a `$ref` to another repository, a file outside the repository
or missing, and a variable naming the revision Argo CD syncs (not known before it syncs).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from planner.sources.argocd_env import NotEvaluated, expand
from planner.sources.flux_repository import Repository
from planner.sources.helm import HelmOptions
from planner.sources.safety import inside

_GLOB = re.compile(r"[*?\[]")
# helm's list syntax `{a,b}` keeps its commas; elsewhere an unescaped comma is escaped.
_UNESCAPED_COMMA = re.compile(r"(?<!\\),")


@dataclass(frozen=True)
class Chart:
    """Where a chart source lies and what its Application gives helm by default."""

    directory: Path
    repository: Repository
    release: str  # the Application's name
    namespace: str | None  # its destination namespace
    environment: Mapping[str, str]  # the build environment (ARGOCD_APP_*)
    refs: Mapping[str, Path | None]  # `ref` sources: their root here, or None elsewhere


def helm_options(settings: Mapping[str, Any], chart: Chart) -> HelmOptions:
    """How Argo CD runs `helm template` for a chart with these `helm` settings; NotEvaluated
    when one cannot be evaluated here."""
    set_values, set_strings = _parameters(settings.get("parameters"), chart)
    versions = settings.get("apiVersions")
    return HelmOptions(
        release=str(settings.get("releaseName") or chart.release),
        namespace=str(settings.get("namespace") or "") or chart.namespace,
        values=_value_files(settings, chart),
        kube_version=str(settings.get("kubeVersion") or "") or None,
        api_versions=tuple(str(v) for v in versions) if isinstance(versions, list) else (),
        inline_values=_inline_values(settings),
        set_values=tuple(set_values.items()),
        set_strings=tuple(set_strings.items()),
        set_files=_file_parameters(settings.get("fileParameters"), chart),
        skip_tests=settings.get("skipTests") is True,
        skip_schema_validation=settings.get("skipSchemaValidation") is True,
    )


def _entries(value: Any) -> list[Mapping[str, Any]]:
    return (
        [entry for entry in value if isinstance(entry, Mapping)] if isinstance(value, list) else []
    )


def _parameters(value: Any, chart: Chart) -> tuple[dict[str, str], dict[str, str]]:
    """`parameters` as `--set` and `--set-string` pairs (`forceString`), by name: a later one
    wins within each, as in Argo CD's two maps."""
    set_values: dict[str, str] = {}
    set_strings: dict[str, str] = {}
    for parameter in _entries(value):
        if not parameter.get("name"):
            raise NotEvaluated("a parameter has no name (helm refuses `--set =value`)")
        value = parameter.get("value", "")
        if not isinstance(value, str):  # the API server refuses it: Argo CD never sees it
            raise NotEvaluated(
                f"its parameter `{parameter['name']}` has a value that is not a string"
            )
        text = expand(value, chart.environment)
        if not (text.startswith("{") and text.endswith("}")):
            text = _UNESCAPED_COMMA.sub(r"\\,", text)
        into = set_strings if parameter.get("forceString") is True else set_values
        into[str(parameter["name"])] = text
    return set_values, set_strings


def _inline_values(settings: Mapping[str, Any]) -> str:
    """`valuesObject` as YAML when set (it wins, as in Argo CD), else the `values` text."""
    values_object, values = settings.get("valuesObject"), settings.get("values")
    if isinstance(values_object, Mapping) and values_object:
        return yaml.safe_dump(dict(values_object), sort_keys=False)
    if values is None or isinstance(values, str):
        return values or ""
    raise NotEvaluated("its `helm.values` is not a YAML text (Argo CD takes a string)")


def _file_parameters(value: Any, chart: Chart) -> tuple[tuple[str, str], ...]:
    """`fileParameters` as `--set-file` pairs, each path resolved as a value file is."""
    pairs = []
    for parameter in _entries(value):
        path = _resolved(str(parameter.get("path") or ""), chart, "file parameter")
        if not path.is_file():
            raise NotEvaluated(f"its file parameter `{parameter.get('path')}` does not exist")
        pairs.append((str(parameter.get("name") or ""), str(path)))
    return tuple(pairs)


def _value_files(settings: Mapping[str, Any], chart: Chart) -> tuple[str, ...]:
    """The value files helm gets, in order: each resolved; a missing one skipped only with
    `ignoreMissingValueFiles`."""
    files = settings.get("valueFiles")
    ignore_missing = settings.get("ignoreMissingValueFiles") is True
    resolved = []
    for raw in files if isinstance(files, list) else []:
        path = _resolved(str(raw), chart, "value file")
        if path.is_file():
            resolved.append(str(path))
        elif not ignore_missing:
            raise NotEvaluated(f"its value file `{raw}` does not exist (Argo CD cannot render it)")
    return tuple(dict.fromkeys(resolved))  # a file named twice is passed once, where first named


def _resolved(raw: str, chart: Chart, what: str) -> Path:
    """Where a value file (or `--set-file` path) lies, as Argo CD resolves it; NotEvaluated when
    it is remote, a glob, in another repository or outside this one."""
    ref, _, rest = raw.partition("/")
    root = chart.repository.root
    if raw.startswith("$") and ref[1:] in chart.refs:
        ref_root = chart.refs[ref[1:]]
        if ref_root is None:
            raise NotEvaluated(f"its {what} `{raw}` is in a `ref` source not read here")
        anchor, root, path = ref_root, ref_root, expand("/" + rest, chart.environment)
    else:
        path = expand(raw, chart.environment)
        anchor = root if path.startswith("/") else chart.directory
    if urllib.parse.urlsplit(path).scheme:
        raise NotEvaluated(f"its {what} `{raw}` is remote and not fetched")
    if _GLOB.search(path):
        raise NotEvaluated(f"its {what} `{raw}` is a glob, not evaluated")
    resolved = anchor / path.lstrip("/")
    try:  # resolved: a symlink out of the repository is outside too
        within = inside(resolved.resolve(), root.resolve())
    except (OSError, RuntimeError):  # a name too long, a symlink loop (RuntimeError before 3.13)
        within = False
    if not within:
        raise NotEvaluated(f"its {what} `{raw}` lies outside the repository")
    return resolved
