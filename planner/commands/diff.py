"""`planner diff [DESIRED...] --live FILE | --live-kubectl | --live-git REF` (docs/cli-diff.md)."""

from __future__ import annotations

from pathlib import Path

import click

from planner.commands._lazy import LazyChoice, LazyValue
from planner.commands._shared import (
    Sources,
    Terminal,
    exploration_options,
    left_to_the_os,
    output_file_option,
    report_options,
    source_options,
    target_option,
)


@click.command("diff")
@source_options
@target_option
@report_options
@click.option(
    "-o",
    "--output",
    type=LazyChoice("planner.render:FORMATS"),
    default="text",
    show_default=True,
    help="text for terminals, markdown for PR comments (with the plan), json for machines.",
)
@click.option(
    "--fail-on",
    type=LazyChoice("planner.analysis.build:FAIL_ON_POLICIES"),
    default=LazyValue("planner.analysis.build:DEFAULT_FAIL_ON"),
    show_default=True,
    help="Exit 3 when the --target prediction has Services stuck / pending at all; "
    "unrendered: as stuck, and also when a HelmRelease or a kustomization (a remote resource) "
    "was not rendered, an Argo CD Application not followed or a Flux Kustomization not built "
    "(their Services went unchecked).",
)
@exploration_options
@output_file_option("the report")
def diff(
    terminal: Terminal,
    sources: Sources,
    target: str,
    output: str,
    fail_on: str,
    seed: int,
    max_states: int,
    output_file: Path | None,
) -> int:
    """Show what the commit in DESIRED (default ".") changes against live state, which sharing
    groups it touches, static conflicts, and what each MetalLB version will do.

    Exit codes: 0 no changes; 1 changes within policy; 2 bad input or a missing tool;
    3 a static conflict, or changes whose prediction for --target violates --fail-on.
    """
    from planner.analysis.build import exit_code
    from planner.pipeline import DiffOptions, build_report
    from planner.render import render

    options = DiffOptions(
        target=target,
        prune=sources.prune,
        seed=seed,
        max_states=max_states,
        helm=sources.helm,
        lb_class=sources.lb_class,
        pools=sources.pools,
        with_plan=output == "markdown",  # the PR comment shows the plan and its picture
    )
    report = build_report(
        list(sources.desired) or ["."], sources.live, options, progress=terminal.progress
    )
    color = terminal.color and output == "text" and output_file is None
    terminal.emit(render(report, output, color=color, fail_on=fail_on), output_file)
    left_to_the_os(report)  # freed with the process, not object by object
    return exit_code(report, fail_on)
