"""Kustomizations with `helmCharts`, built as Argo CD builds them with `--enable-helm`.

kustomize's HelmChartInflationGenerator (v5.5 to v5.8) looks for each chart in
`helmGlobals.chartHome` (default `charts`, below the kustomization's directory), in
`CHARTHOME/NAME-VERSION/NAME` when the entry has both `repo` and `version`, else
`CHARTHOME/NAME`; a chart found there is rendered with `helm template`, one that is not is
pulled there first (`helm pull --untar`). The planner lets kustomize render a local chart in
place, with the helm on PATH. A remote one is pulled only with `--fetch-charts`, by helm_fetch's
ChartFetcher (once per run, into a private directory), and laid out where kustomize looks for
it in a private copy of the repository (kustomize_copy), so kustomize pulls nothing and the
repository is never written.

    >>> uses = chart_uses(kustomizations(Path("apps/web"), "apps/web"), Path("."))  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner.errors import InputError, ToolMissingError
from planner.sources.kustomize import (
    kustomization_file,
    read_kustomization,
    render_kustomization,
)
from planner.sources.safety import (
    BrokenKustomization,
    UnbuiltKustomization,
    inside,
    is_remote,
    listed,
)
from planner.tools import INSTALL_HINTS, find_tool

if TYPE_CHECKING:  # imported where a chart is pulled or laid out: tempfile, shutil, urllib
    from planner.sources.helm_fetch import ChartFetcher, FetchedChart, RemoteChart
    from planner.sources.kustomize_copy import RewrittenKustomization

DEFAULT_CHART_HOME = "charts"


@dataclass(frozen=True)
class ChartUse:
    """One `helmCharts` entry: where it is written (`shown`: the file of the kustomization in
    `directory`), the chart's name, `repo` and `version`, and `home`, the directory kustomize
    looks for it in (`home/NAME`)."""

    shown: str
    directory: Path
    name: str
    repo: str
    version: str
    home: Path

    @property
    def place(self) -> Path:
        """Where kustomize looks for the chart's directory."""
        return self.home / self.name

    @property
    def is_local(self) -> bool:
        """Whether kustomize finds the chart in the repository (and so pulls nothing)."""
        return self.place.is_dir()

    @property
    def remote(self) -> RemoteChart:
        """The chart as helm pulls it (the same `helm pull` kustomize would run)."""
        from planner.sources.helm_fetch import RemoteChart

        return RemoteChart(self.repo, self.name, self.version)


Kustomization = tuple[Path, str, Mapping[str, Any]]  # its directory, file as shown, body


def kustomizations(
    directory: Path, label: str, own: Mapping[str, Any] | None = None
) -> list[Kustomization]:
    """The kustomization in `directory` (labelled `label`; its body `own` when it is
    rewritten) and each it includes (`resources`, `bases`, `components`), once each. Run after
    safety.check_remote_resources (nothing remote, nothing missing among them)."""
    top = directory.resolve()
    pending: list[tuple[Path, Mapping[str, Any] | None]] = [(top, own)]
    seen: set[Path] = set()
    found: list[Kustomization] = []
    while pending:
        here, body = pending.pop()
        if here in seen:
            continue
        seen.add(here)
        shown_dir = os.path.normpath(os.path.join(label, os.path.relpath(here, top)))
        if body is None:
            read = read_kustomization(here, shown_dir)
            if read is None:
                continue
            name, body = read
        else:
            name = (kustomization_file(here) or here / "kustomization.yaml").name
        found.append((here, f"{shown_dir}/{name}", body))
        for field_name in ("resources", "bases", "components"):
            for entry in listed(body, field_name):
                if isinstance(entry, str) and (here / entry).is_dir():
                    pending.append(((here / entry).resolve(), None))
    return found


def inflates(found: list[Kustomization]) -> bool:
    """Whether any of these kustomizations has `helmCharts`."""
    return any(body.get("helmCharts") for _, _, body in found)


def chart_uses(found: list[Kustomization], root: Path) -> list[ChartUse]:
    """The `helmCharts` entries of these kustomizations, each checked: every path an entry
    reads (`chartHome`, `valuesFile`, `additionalValuesFiles`) lies in the repository `root`
    (InputError), a remote value file is UnbuiltKustomization."""
    return [
        use for here, shown, body in found for use in _entries(body, here, shown, root.resolve())
    ]


def _entries(body: Mapping[str, Any], here: Path, shown: str, root: Path) -> list[ChartUse]:
    """The checked `helmCharts` entries of one kustomization (`body`, in directory `here`)."""
    globals_ = body.get("helmGlobals")
    chart_home = globals_.get("chartHome") if isinstance(globals_, Mapping) else None
    home = _read_path(str(chart_home or DEFAULT_CHART_HOME), here, root, f"{shown} (`chartHome`)")
    uses = []
    for entry in listed(body, "helmCharts"):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            continue  # kustomize refuses it with its own message
        name = entry["name"]
        where = f"{shown} (`helmCharts` {name})"
        files = [entry.get("valuesFile"), *listed(entry, "additionalValuesFiles")]
        for values_file in files:
            if isinstance(values_file, str) and values_file:
                _read_path(values_file, here, root, where)
        repo, version = str(entry.get("repo") or ""), str(entry.get("version") or "")
        versioned = home / f"{name}-{version}" if repo and version else home
        use = ChartUse(where, here, name, repo, version, versioned)
        if not repo and not use.is_local:
            raise BrokenKustomization(
                f"{where} names no `repo`, and the chart is not at "
                f"`{os.path.relpath(use.place, here)}`; kustomize cannot build it (nor can Argo CD)"
            )
        uses.append(use)
    return uses


def _read_path(entry: str, here: Path, root: Path, where: str) -> Path:
    """A path a `helmCharts` entry reads, resolved; UnbuiltKustomization when remote (kustomize
    would fetch it), InputError when it lies outside the repository."""
    if is_remote(entry):
        raise UnbuiltKustomization(
            f"{where} reads the remote `{entry}`, which the planner does not fetch",
            f"{where} reads the remote `{entry}`, which the planner does not fetch",
        )
    path = (here / entry).resolve()
    if not inside(path, root):
        raise InputError(f"{where} names `{entry}`, which lies outside the repository")
    return path


def render_inflating(
    directory: Path,
    label: str,
    root: Path,
    uses: list[ChartUse],
    charts: ChartFetcher | None,
    rewritten: RewrittenKustomization | None = None,
    load_anywhere: bool = False,
    helm_flags: Sequence[str] = (),
) -> tuple[str, list[str]]:
    """kustomize's build of `directory` with `--enable-helm` and the helm on PATH (`helm_flags`
    and `load_anywhere` as `kustomize_argv` says), and a note for each chart helm pulled. Local
    charts are rendered in place (or in the rewritten copy); remote ones only with `charts`
    (`--fetch-charts`), laid out in a private copy, else UnbuiltKustomization ending with how
    to ask."""
    from planner.sources.kustomize_copy import PlacedChart, render_in_copy

    check_fetchable(uses, charts)
    remote = [use for use in uses if not use.is_local]
    try:
        helm = find_tool("helm")
    except ToolMissingError as err:
        hint = f"{INSTALL_HINTS['helm']}, to inflate the Helm charts (`helmCharts`) of `{label}`"
        raise ToolMissingError(err.tool, hint) from err
    fetched = [(use, _fetched(use, charts)) for use in remote] if charts is not None else []
    if not fetched and rewritten is None:
        rendered = render_kustomization(
            directory, load_anywhere=load_anywhere, helm=helm, helm_flags=helm_flags
        )
        return rendered, []
    placed = [PlacedChart(chart.directory, use.place, use.directory) for use, chart in fetched]
    notes = sorted({f"{use.shown}: rendered from {chart}" for use, chart in fetched})
    rendered = render_in_copy(
        directory, label, root, rewritten, load_anywhere, helm, placed, helm_flags
    )
    return rendered, notes


def check_fetchable(uses: list[ChartUse], charts: ChartFetcher | None) -> None:
    """UnbuiltKustomization ending with how to ask when a chart is not in the repository and
    `charts` is None (`--fetch-charts` not given)."""
    remote = [use for use in uses if not use.is_local]
    if remote and charts is None:
        from planner.sources.helm_fetch import ASK

        raise _unbuilt(remote[0], f", which is not in the repository; {ASK}")


def _fetched(use: ChartUse, charts: ChartFetcher) -> FetchedChart:
    """The chart helm pulled for `use`; UnbuiltKustomization when it cannot be pulled."""
    from planner.sources.helm_fetch import OCI_SCHEME, FetchFailed

    if not use.repo.startswith((OCI_SCHEME, "https://")):
        raise _unbuilt(use, ", whose repository is neither `oci://` nor `https://`: not fetched")
    try:
        return charts.fetch(use.remote)
    except FetchFailed as failed:
        raise _unbuilt(use, f": {failed}") from failed


def _unbuilt(use: ChartUse, why: str) -> UnbuiltKustomization:
    reason = f"{use.shown} names the Helm chart {use.remote}{why}"
    return UnbuiltKustomization(reason, reason)
