"""Options and helpers several verbs share: the desired and live sources, atomic output files."""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from planner.analysis.records import BEHAVIORS
from planner.diff import PRUNE_MODES, PruneMode
from planner.diff.scenario import Scenario
from planner.errors import InputError
from planner.pipeline import load_scenario
from planner.sources import HelmOptions
from planner.sources.live import LiveSource

F = TypeVar("F", bound=Callable[..., Any])

_SOURCE_OPTIONS = (
    click.argument("desired", nargs=-1),
    click.option(
        "--live", "live_file", metavar="FILE", help="A saved live snapshot (YAML or JSON)."
    ),
    click.option("--live-kubectl", is_flag=True, help="Read live state with kubectl (read-only)."),
    click.option("--context", metavar="NAME", help="kubeconfig context for --live-kubectl."),
    click.option("--live-git", metavar="REF", help="Live state: the DESIRED paths at a git ref."),
    click.option("--prune", type=click.Choice(PRUNE_MODES), default="tracked", show_default=True),
    click.option("--helm-values", multiple=True, metavar="FILE", help="Values file for charts."),
    click.option("--helm-release", metavar="NAME", help="Release name for charts."),
)


@dataclass(frozen=True)
class Sources:
    """What the source options name: the desired paths, one live source, pruning and helm."""

    desired: tuple[str, ...]
    live: LiveSource
    prune: PruneMode
    helm: HelmOptions

    def scenario(self) -> Scenario:
        """Read everything and diff it (the first step of every verb that plans)."""
        return load_scenario(
            list(self.desired) or ["."], self.live, prune=self.prune, helm=self.helm
        )


def source_options(command: F) -> F:
    """DESIRED... plus exactly one live source (--live, --live-kubectl, --live-git), --prune and
    the helm options, handed to the command as one `sources: Sources` argument."""

    @functools.wraps(command)
    def with_sources(
        *,
        desired: tuple[str, ...],
        live_file: str | None,
        live_kubectl: bool,
        context: str | None,
        live_git: str | None,
        prune: PruneMode,
        helm_values: tuple[str, ...],
        helm_release: str | None,
        **options: Any,
    ) -> Any:
        live = live_source(live_file, live_kubectl, context, live_git)
        helm = HelmOptions(release=helm_release, values=helm_values)
        return command(sources=Sources(desired, live, prune, helm), **options)

    for option in reversed(_SOURCE_OPTIONS):
        with_sources = option(with_sources)
    return with_sources  # type: ignore[return-value]


def target_option(command: F) -> F:
    """--target: the MetalLB the cluster runs."""
    return click.option(
        "--target", type=click.Choice(BEHAVIORS), default="metallb-0.15", show_default=True
    )(command)


def live_source(
    live_file: str | None, live_kubectl: bool, context: str | None, live_git: str | None
) -> LiveSource:
    """The one live source the options name; InputError for none, several, or a stray --context."""
    given = [
        name
        for name, value in (
            ("--live", live_file),
            ("--live-kubectl", live_kubectl),
            ("--live-git", live_git),
        )
        if value
    ]
    if len(given) != 1:
        found = f"got {' and '.join(given)}" if given else "got none"
        raise InputError(
            f"give exactly one of --live FILE, --live-kubectl, --live-git REF ({found})"
        )
    if context and not live_kubectl:
        raise InputError("--context applies only to --live-kubectl")
    if live_file:
        return LiveSource.file(live_file)
    if live_git:
        return LiveSource.git(live_git)
    return LiveSource.kubectl(context)


def emit(text: str, output_file: Path | None) -> None:
    """Print `text`, or write it to `output_file` atomically (never half-written)."""
    if output_file is None:
        click.echo(text, nl=False)
        return
    directory = path_parent(output_file)
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{output_file.name}.", dir=directory)
    except OSError as err:
        raise InputError(f"cannot write `{output_file}`: {err.strerror or err}") from err
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, output_file)
    except OSError as err:
        Path(temporary).unlink(missing_ok=True)
        raise InputError(f"cannot write `{output_file}`: {err.strerror or err}") from err


def path_parent(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")
