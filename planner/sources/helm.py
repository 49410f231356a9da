"""Rendering a Helm chart directory with `helm template` (no cluster access, nothing installed).

>>> helm_template_argv("helm", "charts/dns", HelmOptions(namespace="dns"))
['helm', 'template', 'dns', 'charts/dns', '--namespace', 'dns']
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from planner.tools import find_tool, run_tool

if TYPE_CHECKING:
    from planner.sources.argocd_build_options import BuildOptions
    from planner.sources.helm_fetch import ChartFetcher

CHART_FILE = "Chart.yaml"


@dataclass(frozen=True)
class HelmOptions:
    """How charts are rendered: release name (default: the chart directory's name), namespace,
    values files (in order, later ones win), and the cluster's Kubernetes version and API
    versions for `.Capabilities` (Argo CD passes them; empty: helm's defaults). An Argo CD
    source's `helm` settings add the rest: values written inline (a YAML text, over the files),
    `--set`, `--set-string` and `--set-file` pairs, and the tests and schema check skipped.
    `charts`: where remote charts are pulled (`--fetch-charts`); None: they are not fetched.
    `kustomize_build`: Argo CD's kustomize build options as given (`--argocd-build-options`);
    None: as the repository declares them."""

    release: str | None = None
    namespace: str | None = None
    values: tuple[str, ...] = ()
    kube_version: str | None = None
    api_versions: tuple[str, ...] = ()
    inline_values: str = ""
    set_values: tuple[tuple[str, str], ...] = ()
    set_strings: tuple[tuple[str, str], ...] = ()
    set_files: tuple[tuple[str, str], ...] = ()
    skip_tests: bool = False
    skip_schema_validation: bool = False
    charts: ChartFetcher | None = None
    kustomize_build: BuildOptions | None = None


def is_chart_dir(directory: Path) -> bool:
    """True when `directory` is a Helm chart (holds Chart.yaml)."""
    return (directory / CHART_FILE).is_file()


def release_name(chart_dir: str) -> str:
    """A valid release name from a chart directory's name ("My_Chart" -> "my-chart")."""
    name = re.sub(r"[^a-z0-9-]+", "-", Path(chart_dir).resolve().name.lower()).strip("-")
    return name[:53].rstrip("-") or "release"


def helm_template_argv(helm: str, chart_dir: str, options: HelmOptions) -> list[str]:
    """argv of `helm template` for a chart directory with the given options (inline values are
    render_chart's to write; here they are not passed)."""
    argv = [helm, "template", options.release or release_name(chart_dir), chart_dir]
    if options.namespace:
        argv += ["--namespace", options.namespace]
    for flag, pairs in (
        ("--set", options.set_values),
        ("--set-string", options.set_strings),
        ("--set-file", options.set_files),
    ):
        for name, value in pairs:
            argv += [flag, f"{name}={value}"]
    for values_file in options.values:
        argv += ["--values", values_file]
    if options.kube_version:
        argv += ["--kube-version", options.kube_version]
    for api_version in options.api_versions:
        argv += ["--api-versions", api_version]
    if options.skip_schema_validation:
        argv.append("--skip-schema-validation")
    if options.skip_tests:
        argv.append("--skip-tests")
    return argv


def render_chart(chart_dir: Path, options: HelmOptions) -> str:
    """The YAML stream `helm template` prints for a chart directory; inline values go in a
    private temporary file, passed after the values files (so they win, as in Argo CD)."""
    helm = find_tool("helm")
    if not options.inline_values:
        return run_tool(helm_template_argv(helm, str(chart_dir), options))
    import tempfile  # with shutil, bz2 and lzma some 4 ms at start-up; only inline values need it

    with tempfile.TemporaryDirectory(prefix="planner-helm-") as scratch:
        values_file = Path(scratch) / "values.yaml"
        descriptor = os.open(values_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(options.inline_values)
        written = replace(options, values=(*options.values, str(values_file)), inline_values="")
        return run_tool(helm_template_argv(helm, str(chart_dir), written))
