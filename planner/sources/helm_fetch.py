"""Remote Helm charts fetched by `helm pull` when the user asks (`--fetch-charts`).

The planner opens no connection itself: helm (found on PATH) pulls each chart (repository,
name, version constraint) once per run into a private temporary directory, which `close()`
removes. The pulled archive is what `helm template` renders; it is also unpacked (safely) to
read the version helm resolved and, for Argo CD, value files inside the chart.

    >>> chart = RemoteChart("oci://ghcr.io/bjw-s/helm", "app-template", "3.7.3")
    >>> chart.pull_argv("helm", "/tmp/x")
    ['helm', 'pull', 'oci://ghcr.io/bjw-s/helm/app-template', '--version', '3.7.3', '--destination', '/tmp/x']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import yaml

from planner.errors import ToolFailedError
from planner.sources.helm import CHART_FILE
from planner.sources.urls import shown_url
from planner.tools import find_tool, run_tool

OCI_SCHEME = "oci://"
ASK = "pass --fetch-charts to let helm fetch it"


@dataclass(frozen=True)
class RemoteChart:
    """A chart helm can pull: its repository (an http(s) chart repository, or `oci://…` the
    chart lies under), its name, a version constraint ("": helm's newest stable) and, for OCI
    only, a digest (which wins over the version, as Flux's OCIRepository has it)."""

    repository: str
    name: str
    version: str = ""
    digest: str = ""

    @property
    def reference(self) -> str:
        """What `helm pull` is given: the chart's name (with --repo), or its OCI reference."""
        if not self.repository.startswith(OCI_SCHEME):
            return self.name
        at = f"@{self.digest}" if self.digest else ""
        return f"{self.repository.rstrip('/')}/{self.name}{at}"

    def pull_argv(self, helm: str, destination: str) -> list[str]:
        """argv of `helm pull` for this chart into `destination`."""
        argv = [helm, "pull", self.reference]
        if not self.repository.startswith(OCI_SCHEME):
            argv += ["--repo", self.repository]
        if self.version and not self.digest:
            argv += ["--version", self.version]
        return [*argv, "--destination", destination]

    @property
    def shown_repository(self) -> str:
        """The repository URL as messages show it: without the credentials it may carry."""
        return shown_url(self.repository)

    def __str__(self) -> str:
        pinned = f"@{self.digest}" if self.digest else (f" {self.version}" if self.version else "")
        return f"{self.name}{pinned} of {self.shown_repository}"


@dataclass(frozen=True)
class FetchedChart:
    """A chart helm pulled: the archive, where it was unpacked (its chart directory), and the
    name and version its Chart.yaml gives (the version helm resolved)."""

    source: RemoteChart
    archive: Path
    directory: Path
    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name} {self.version} fetched by helm from {self.source.shown_repository}"


class FetchFailed(Exception):
    """Why helm could not pull a chart (its message), or why the archive cannot be read."""


class ChartFetcher:
    """Pulls each remote chart once per run; everything pulled lies in one private temporary
    directory, removed by `close()` (or at the end of a `with` block)."""

    def __init__(self) -> None:
        self._scratch: Path | None = None
        self._pulled: dict[RemoteChart, FetchedChart | FetchFailed] = {}

    def fetch(self, chart: RemoteChart) -> FetchedChart:
        """The chart, pulled on first use; FetchFailed (the same each time) when it cannot be,
        ToolMissingError without helm."""
        if chart not in self._pulled:
            try:
                self._pulled[chart] = self._pull(chart)
            except FetchFailed as failed:
                self._pulled[chart] = failed
        pulled = self._pulled[chart]
        if isinstance(pulled, FetchFailed):
            raise pulled
        return pulled

    def _pull(self, chart: RemoteChart) -> FetchedChart:
        if chart.shown_repository != chart.repository:  # argv and helm's messages would show them
            raise FetchFailed("its repository URL carries credentials, which are not given to helm")
        helm = find_tool("helm")
        destination = self._directory() / str(len(self._pulled))
        destination.mkdir()
        try:
            run_tool(chart.pull_argv(helm, str(destination)))
        except ToolFailedError as err:
            raise FetchFailed(f"helm pull failed: {err.stderr.strip() or err}") from err
        archives = sorted(destination.glob("*.tgz"))
        if len(archives) != 1:
            raise FetchFailed(f"helm pull left {len(archives)} chart archives, not one")
        return _unpacked(chart, archives[0], destination / "unpacked")

    def _directory(self) -> Path:
        if self._scratch is None:
            import tempfile

            self._scratch = Path(tempfile.mkdtemp(prefix="planner-charts-"))  # mode 0700
        return self._scratch

    def close(self) -> None:
        """Remove everything pulled."""
        if self._scratch is not None:
            import shutil

            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        self._pulled.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def _unpacked(chart: RemoteChart, archive: Path, into: Path) -> FetchedChart:
    """The archive unpacked into `into` (members that would land outside it, links out and
    special files refused: tarfile's `data` filter), with its Chart.yaml's name and version."""
    import tarfile

    if not hasattr(tarfile, "data_filter"):  # Python before 3.11.4
        raise FetchFailed("this Python cannot unpack a chart archive safely (3.11.4 or later can)")
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError) as err:
        raise FetchFailed(f"the archive helm pulled cannot be unpacked safely: {err}") from err
    tops = [entry for entry in sorted(into.iterdir()) if (entry / CHART_FILE).is_file()]
    if len(tops) != 1:
        raise FetchFailed(f"the archive helm pulled holds no chart ({CHART_FILE} at its top)")
    try:
        meta = yaml.safe_load((tops[0] / CHART_FILE).read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise FetchFailed(f"the {CHART_FILE} of the archive helm pulled does not parse") from err
    if not isinstance(meta, dict):
        raise FetchFailed(f"the {CHART_FILE} of the archive helm pulled is not a mapping")
    name, version = str(meta.get("name") or chart.name), str(meta.get("version") or "?")
    return FetchedChart(chart, archive, tops[0], name, version)
