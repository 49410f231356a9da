"""Rendering a Helm chart directory with `helm template` (no cluster access, nothing installed).

>>> helm_template_argv("helm", "charts/dns", HelmOptions(namespace="dns"))
['helm', 'template', 'dns', 'charts/dns', '--namespace', 'dns']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from planner.tools import find_tool, run_tool

CHART_FILE = "Chart.yaml"


@dataclass(frozen=True)
class HelmOptions:
    """How charts are rendered: release name (default: the chart directory's name), namespace,
    values files (in order, later ones win), and the cluster's Kubernetes version and API
    versions for `.Capabilities` (Argo CD passes them; empty: helm's defaults)."""

    release: str | None = None
    namespace: str | None = None
    values: tuple[str, ...] = ()
    kube_version: str | None = None
    api_versions: tuple[str, ...] = ()


def is_chart_dir(directory: Path) -> bool:
    """True when `directory` is a Helm chart (holds Chart.yaml)."""
    return (directory / CHART_FILE).is_file()


def release_name(chart_dir: str) -> str:
    """A valid release name from a chart directory's name ("My_Chart" -> "my-chart")."""
    name = re.sub(r"[^a-z0-9-]+", "-", Path(chart_dir).resolve().name.lower()).strip("-")
    return name[:53].rstrip("-") or "release"


def helm_template_argv(helm: str, chart_dir: str, options: HelmOptions) -> list[str]:
    """argv of `helm template` for a chart directory with the given options."""
    argv = [helm, "template", options.release or release_name(chart_dir), chart_dir]
    if options.namespace:
        argv += ["--namespace", options.namespace]
    for values_file in options.values:
        argv += ["--values", values_file]
    if options.kube_version:
        argv += ["--kube-version", options.kube_version]
    for api_version in options.api_versions:
        argv += ["--api-versions", api_version]
    return argv


def render_chart(chart_dir: Path, options: HelmOptions) -> str:
    """The YAML stream `helm template` prints for a chart directory."""
    return run_tool(helm_template_argv(find_tool("helm"), str(chart_dir), options))
