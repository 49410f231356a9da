"""`planner apply PLAN_FILE`: carry a plan out through kubectl, wave by wave (docs/apply.md)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from planner.apply import StreamProgress, apply_plan, read_plan_file
from planner.cluster import Kubectl
from planner.controller import BEHAVIORS
from planner.errors import InputError, PlannerError
from planner.journal import journal_from_spec, plan_digest

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class ConfirmationNeededError(PlannerError):
    """No --yes and no terminal to ask on."""


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


@click.command("apply")
@click.argument("plan_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--context", default=None, help="kubeconfig context to use.")
@click.option("--kubeconfig", default=None, help="Path of the kubeconfig file.")
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
    "--behavior",
    type=click.Choice(BEHAVIORS),
    default=None,
    help="The MetalLB behaviour of the cluster (default: the plan's target).",
)
def apply(
    plan_file: Path,
    context: str | None,
    kubeconfig: str | None,
    timeout: str,
    dry_run: bool,
    yes: bool,
    journal_spec: str | None,
    behavior: str | None,
) -> int:
    """Apply PLAN_FILE wave by wave: dry-run, apply, wait for IPs, nudge; resume after a crash."""
    plan = read_plan_file(plan_file)
    seconds = parse_duration(timeout)
    kubectl = Kubectl(context=context, kubeconfig=kubeconfig)
    journal = journal_from_spec(journal_spec, plan_digest(plan), plan_file, kubectl)
    report = apply_plan(
        plan,
        kubectl,
        behavior=behavior,
        timeout=seconds,
        dry_run=dry_run,
        confirm=None if yes else _confirm_on_terminal,
        progress=StreamProgress(sys.stderr),
        journal=journal,
    )
    for line in report.render():
        click.echo(line)
    return report.exit_code
