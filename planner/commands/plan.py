"""`planner plan`, `planner verify` and `planner graph` (docs/plan.md)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import click

from planner.commands._lazy import LazyChoice
from planner.commands._shared import (
    Sources,
    Terminal,
    accept_sampled_option,
    exploration_options,
    left_to_the_os,
    output_file_option,
    report_options,
    say_not_in_plan,
    source_options,
    target_option,
)
from planner.errors import PlannerError

if TYPE_CHECKING:  # the library is imported when a command runs, not when the CLI starts
    from planner.plan.verify import VerifyReport

EXIT_OK = 0
EXIT_FAILED = 3


class VerificationFailed(PlannerError):
    """A claim of the plan did not hold (the report shows the counterexample)."""

    exit_code = EXIT_FAILED


@click.command("plan")
@source_options
@target_option
@report_options
@click.option(
    "--strategy",
    type=LazyChoice("planner.plan.records:STRATEGIES"),
    default="atomic",
    show_default=True,
    help="atomic: group transitions; recreate: delete then create each key-changing group.",
)
@click.option(
    "-o",
    "--output",
    type=LazyChoice("planner.render.plan:PLAN_FORMATS"),
    default="text",
    show_default=True,
    help="text for terminals; json or yaml for a plan file (planner verify, planner apply).",
)
@output_file_option("the plan")
@click.option("--verify", "then_verify", is_flag=True, help="Prove the plan before printing it.")
@exploration_options
@accept_sampled_option
def plan(
    terminal: Terminal,
    sources: Sources,
    target: str,
    strategy: str,
    output: str,
    output_file: Path | None,
    then_verify: bool,
    seed: int,
    max_states: int,
    accept_sampled: bool,
) -> int:
    """The ordered, atomic apply plan for the commit in DESIRED (default ".").

    Exit codes: 0 a plan (or nothing to do); 2 bad input; 3 refused (a static conflict or an
    infeasible target) or, with --verify, a claim that does not hold or that only held on
    sampled schedules (without --accept-sampled).
    """
    from planner.pipeline import plan_and_proof
    from planner.plan.records import LiveOrigin
    from planner.render.plan import plan_pieces

    scenario = sources.scenario(terminal.progress)
    the_plan, report = plan_and_proof(
        scenario,
        prove=then_verify,
        strategy=strategy,
        target=target,
        progress=terminal.progress,
        max_states=max_states,
        seed=seed,  # the sample beyond the budget is the one --verify replays
    )
    # where the live state came from (a git ref: its expected IPs hold predictions, docs/plan.md)
    ref = str(sources.live.value) if sources.live.kind == "git" else ""
    origin = LiveOrigin(sources.live.kind, ref, scenario.live_commit)
    the_plan = dataclasses.replace(the_plan, live_source=origin)
    say_not_in_plan(scenario.unrendered, terminal)
    if report is not None:
        _judged(report, terminal, accept_sampled)
    # The render reads the plan only: the parsed state goes first (the remembered runs went
    # with plan_and_proof), so its text reuses their memory (bench/README.md, "Memory of
    # sampled runs"); the text is written piece by piece as it is made, never whole
    # (bench/README.md, "verifymem").
    del scenario
    terminal.emit(plan_pieces(the_plan, output), output_file)
    left_to_the_os(the_plan, report)  # freed with the process, not object by object
    return EXIT_OK


@click.command("verify")
@click.argument("plan_file", type=click.Path(dir_okay=False, path_type=Path))
@exploration_options
@accept_sampled_option
@report_options
def verify(
    terminal: Terminal, plan_file: Path, seed: int, max_states: int, accept_sampled: bool
) -> int:
    """Prove a plan file on the simulated cluster under every MetalLB behaviour.

    Exit codes: 0 every claim holds (proved, or sampled with --accept-sampled); 2 bad input;
    3 a claim does not hold (with a counterexample), or only held on sampled schedules.
    """
    from planner.apply.plan_file import read_plan_file
    from planner.plan.verify import verify_plan

    report = verify_plan(
        read_plan_file(plan_file), seed=seed, progress=terminal.progress, max_states=max_states
    )
    _judged(report, terminal, accept_sampled)
    return EXIT_OK


@click.command("graph")
@source_options
@target_option
@report_options
@click.option(
    "-o",
    "--output",
    "--format",
    "output",
    type=LazyChoice("planner.render.plan:GRAPH_FORMATS"),
    default="mermaid",
    show_default=True,
    help="mermaid (Markdown, GitHub) or dot (Graphviz); --format is the old name.",
)
@output_file_option("the picture")
def graph(
    terminal: Terminal, sources: Sources, target: str, output: str, output_file: Path | None
) -> int:
    """The plan's waves and "waits for" edges as a Mermaid or Graphviz picture."""
    from planner.pipeline import plan_scenario
    from planner.render.plan import plan_graph

    scenario = sources.scenario(terminal.progress)
    the_plan = plan_scenario(scenario, target=target, progress=terminal.progress)
    say_not_in_plan(scenario.unrendered, terminal)  # the picture has no room for them
    terminal.emit(plan_graph(the_plan, output), output_file)
    return EXIT_OK


def _judged(report: VerifyReport, terminal: Terminal, accept_sampled: bool) -> None:
    """Print the proof's claims; raise VerificationFailed when one fails, or when one only held
    on a sample and sampled verdicts are not accepted."""
    from planner.plan.verify import VerifyReport

    for line in report.lines():
        terminal.echo(line, err=True)
    if not report.ok and terminal.quiet:
        # --quiet keeps errors: the failed claims are this error's evidence.
        failed = VerifyReport(tuple(c for c in report.claims if not c.holds))
        for line in failed.lines():
            click.echo(line, err=True)
    if not report.ok:
        raise VerificationFailed("the plan does not verify: see the FAILED claims above")
    if report.sampled and not accept_sampled:
        # Fail closed: a sample is evidence, not a proof (the seed can decide it).
        raise VerificationFailed(
            f"{report.sampled_summary()}: pass --accept-sampled to accept a sampled verdict"
        )
