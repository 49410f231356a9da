"""`planner diff [DESIRED...] --live FILE | --live-kubectl | --live-git REF` (docs/cli-diff.md)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from planner.diff import PRUNE_MODES, PruneMode
from planner.diffreport import (
    DEFAULT_FAIL_ON,
    DEFAULT_TARGET,
    FAIL_ON_POLICIES,
    DiffOptions,
    LiveSource,
    build_report,
    exit_code,
)
from planner.errors import InputError
from planner.render import FORMATS, render
from planner.report import BEHAVIORS
from planner.sources import HelmOptions


@click.command("diff")
@click.argument("desired", nargs=-1)
@click.option("--live", "live_file", metavar="FILE", help="A saved live snapshot (YAML or JSON).")
@click.option("--live-kubectl", is_flag=True, help="Read live state with kubectl (read-only).")
@click.option("--context", metavar="NAME", help="kubeconfig context for --live-kubectl.")
@click.option("--live-git", metavar="REF", help="Live state: the DESIRED paths at a git ref.")
@click.option("--output", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--target", type=click.Choice(BEHAVIORS), default=DEFAULT_TARGET, show_default=True)
@click.option(
    "--fail-on", type=click.Choice(FAIL_ON_POLICIES), default=DEFAULT_FAIL_ON, show_default=True
)
@click.option("--prune", type=click.Choice(PRUNE_MODES), default="tracked", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of sampled orders.")
@click.option("--helm-values", multiple=True, metavar="FILE", help="Values file for charts.")
@click.option("--helm-release", metavar="NAME", help="Release name for charts.")
@click.option("--output-file", type=click.Path(dir_okay=False, path_type=Path))
def diff(
    desired: tuple[str, ...],
    live_file: str | None,
    live_kubectl: bool,
    context: str | None,
    live_git: str | None,
    output: str,
    target: str,
    fail_on: str,
    prune: PruneMode,
    seed: int,
    helm_values: tuple[str, ...],
    helm_release: str | None,
    output_file: Path | None,
) -> int:
    """Show what the commit in DESIRED (default ".") changes against live state, which sharing
    groups it touches, static conflicts, and what each MetalLB version will do.

    Exit codes: 0 no changes; 1 changes within policy; 2 bad input or a missing tool;
    3 a static conflict, or changes whose prediction for --target violates --fail-on.
    """
    live = _live_source(live_file, live_kubectl, context, live_git)
    helm = HelmOptions(release=helm_release, values=helm_values)
    with_plan = output == "markdown"
    options = DiffOptions(target=target, prune=prune, seed=seed, helm=helm, with_plan=with_plan)
    report = build_report(list(desired) or ["."], live, options)
    color = output == "text" and output_file is None and sys.stdout.isatty()
    text = render(report, output, color=color)
    if output_file is None:
        click.echo(text, nl=False)
    else:
        _write_atomically(output_file, text)
    return exit_code(report, fail_on)


def _live_source(
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


def _write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file renamed over it: never half-written."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as err:
        raise InputError(f"cannot write --output-file `{path}`: {err.strerror or err}") from err
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it 0600; a report is not secret
        os.replace(temporary, path)
    except OSError as err:
        Path(temporary).unlink(missing_ok=True)
        raise InputError(f"cannot write --output-file `{path}`: {err.strerror or err}") from err


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
