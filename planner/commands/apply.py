"""`planner apply PLAN_FILE` / `planner apply DESIRED... --live-kubectl`: carry a plan out through
kubectl, wave by wave (docs/apply.md)."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from planner.commands._lazy import LazyChoice
from planner.commands._shared import (
    TARGET_HELP,
    Cluster,
    Terminal,
    accept_sampled_option,
    cluster_options,
    report_options,
    say_not_in_plan,
)
from planner.errors import InputError, PlannerError

if TYPE_CHECKING:  # the library is imported when a command runs, not when the CLI starts
    from planner.apply.engine import StreamProgress
    from planner.kubectl import Kubectl
    from planner.plan.records import Plan

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class ConfirmationNeededError(PlannerError):
    """No --yes and no terminal to ask on."""


class PlanNotVerifiedError(PlannerError):
    """--live-kubectl: the fresh plan failed verification, so nothing is applied."""

    exit_code = 3


def parse_duration(text: str) -> float:
    """Seconds from `300`, `300s`, `5m`, `1h` or `500ms`; anything else is an InputError."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise InputError(f"--timeout {text!r}: expected a duration like 300s, 5m or 1h")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]


def _confirm_on_terminal(summary: list[str]) -> bool:
    if not sys.stdin.isatty():
        raise ConfirmationNeededError(
            "refusing to apply without confirmation: stdin is not a terminal; "
            "review the plan and pass --yes"
        )
    for line in summary:
        click.echo(line, err=True)
    return click.confirm("Apply these waves?", default=False, err=True)


def the_target(target: str | None, behavior: str | None) -> str | None:
    """--target, or its old name --behavior (hidden); both with different values is an error."""
    if target and behavior and target != behavior:
        raise InputError(
            f"--target {target} and --behavior {behavior} disagree "
            "(--behavior is the old name of --target: give one)"
        )
    return target or behavior


def _the_plan(
    paths: tuple[str, ...],
    live_kubectl: bool,
    kubectl: Kubectl,
    target: str | None,
    terminal: Terminal,
    accept_sampled: bool,
) -> tuple[Plan, Path | None]:
    """The plan to apply and its file (None when planned just now against the cluster)."""
    from planner.apply.engine import plan_and_verify
    from planner.apply.plan_file import read_plan_file
    from planner.model.controller import DEFAULT_TARGET

    if live_kubectl:
        plan, report, unrendered = plan_and_verify(
            list(paths) or ["."], kubectl, target=target or DEFAULT_TARGET
        )
        terminal.progress.finish()
        say_not_in_plan(unrendered, terminal)
        for line in report.lines():
            terminal.echo(line, err=True)
        if not report.ok:
            raise PlanNotVerifiedError(
                "the plan does not verify (FAILED claims above); nothing applied"
            )
        if report.sampled and not accept_sampled:  # fail closed, as verify and the Flux hook do
            raise PlanNotVerifiedError(
                f"{report.sampled_summary()}; nothing applied: pass --accept-sampled to apply "
                "on a sampled verdict"
            )
        return plan, None
    if len(paths) != 1:
        raise InputError("give one PLAN_FILE, or DESIRED... with --live-kubectl")
    return read_plan_file(Path(paths[0])), Path(paths[0])


@click.command("apply")
@click.argument("paths", nargs=-1, metavar="PLAN_FILE | DESIRED...")
@click.option(
    "--live-kubectl",
    is_flag=True,
    help="Plan DESIRED... (default .) against the cluster, verify the plan, then apply it.",
)
@cluster_options
@report_options
@click.option(
    "--timeout", default="300s", show_default=True, help="How long each wave may wait for IPs."
)
@click.option("--dry-run", is_flag=True, help="Print the kubectl calls; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--journal",
    "journal_spec",
    default=None,
    help="file:PATH or configmap:NAMESPACE/NAME (default: .shared-ip-planner/ next to the plan).",
)
@click.option(
    "--target",
    type=LazyChoice("planner.model.controller:BEHAVIORS"),
    default=None,
    help=f"{TARGET_HELP} Default: the plan's target.",
)
@click.option(
    "--behavior",
    type=LazyChoice("planner.model.controller:BEHAVIORS"),
    default=None,
    hidden=True,
    help="The old name of --target (kept so existing scripts work).",
)
@accept_sampled_option
def apply(
    cluster: Cluster,
    terminal: Terminal,
    paths: tuple[str, ...],
    live_kubectl: bool,
    timeout: str,
    dry_run: bool,
    yes: bool,
    journal_spec: str | None,
    target: str | None,
    behavior: str | None,
    accept_sampled: bool,
) -> int:
    """Apply a plan wave by wave: dry-run, apply, wait for IPs, nudge; resume after a crash.

    Exit codes: 0 carried out (or --dry-run); 1 stopped (refused, rolled back, timed out,
    declined); 2 bad input or a kubectl failure; 3 a --live-kubectl plan that does not verify,
    or whose claims only held on sampled schedules (without --accept-sampled).
    """
    from planner.apply.engine import apply_plan
    from planner.apply.journal import journal_from_spec
    from planner.kubectl import Kubectl
    from planner.plan.fingerprint import plan_digest

    seconds = parse_duration(timeout)
    target = the_target(target, behavior)
    kubectl = Kubectl(context=cluster.context, kubeconfig=cluster.kubeconfig)
    plan, plan_file = _the_plan(paths, live_kubectl, kubectl, target, terminal, accept_sampled)
    journal = journal_from_spec(journal_spec, plan_digest(plan), plan_file, kubectl)
    report = apply_plan(
        plan,
        kubectl,
        behavior=target,
        timeout=seconds,
        dry_run=dry_run,
        confirm=None if yes else _confirm_on_terminal,
        progress=wave_progress(terminal),
        journal=journal,
    )
    for line in report.render():
        terminal.echo(line)
    return report.exit_code


def wave_progress(terminal: Terminal) -> StreamProgress:
    """Apply's own wave-by-wave progress on stderr: rewritten lines only on a capable terminal,
    and nothing with --quiet (a stream that drops everything)."""
    from planner.apply.engine import StreamProgress

    if terminal.quiet:
        return StreamProgress(_Discard(), live=False)
    return StreamProgress(sys.stderr, live=terminal.progress.enabled and terminal.progress.rewrite)


class _Discard(io.StringIO):
    """A stream that keeps nothing (apply's progress under --quiet)."""

    def write(self, text: str) -> int:
        return len(text)
