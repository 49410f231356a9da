"""`planner flux pre-sync`: the Flux pre-sync hook's command (docs/flux.md, plugins/flux/)."""

from __future__ import annotations

from pathlib import Path

import click

from planner.commands._lazy import LazyValue
from planner.commands._shared import (
    LB_CLASS_OPTION,
    Cluster,
    Terminal,
    accept_sampled_option,
    cluster_options,
    report_options,
    target_option,
)
from planner.commands.apply import parse_duration, wave_progress


@click.group("flux")
def flux() -> None:
    """Flux integration: the pre-sync hook (plugins/flux/)."""


@flux.command("pre-sync")
@click.option(
    "--source",
    required=True,
    metavar="KIND/NAME",
    help="The app's Flux source: gitrepository/NAME or ocirepository/NAME.",
)
@click.option(
    "--source-namespace",
    default=LazyValue("planner.gitops.flux:DEFAULT_SOURCE_NAMESPACE"),
    show_default=True,
    metavar="NS",
    help="The namespace of the Flux source object.",
)
@click.option(
    "--path", "app_path", required=True, help="The app Kustomization's spec.path in the source."
)
@click.option(
    "--kustomization",
    default=None,
    metavar="[NS/]NAME",
    help="The app Kustomization: checked against --source and --path; suspended means no-op.",
)
@cluster_options
@report_options
@click.option(
    "--timeout", default="300s", show_default=True, help="How long each wave may wait for IPs."
)
@target_option
@LB_CLASS_OPTION
@click.option(
    "--journal",
    "journal_spec",
    default=None,
    help="file:PATH or configmap:NAMESPACE/NAME to record finished waves (default: none).",
)
@accept_sampled_option
def pre_sync_command(
    cluster: Cluster,
    terminal: Terminal,
    source: str,
    source_namespace: str,
    app_path: str,
    kustomization: str | None,
    timeout: str,
    target: str,
    lb_class: str,
    journal_spec: str | None,
    accept_sampled: bool,
) -> int:
    """Plan the source's commit against the cluster and apply the units that need ordering.

    Exit codes: 0 Flux may apply the app (done, or nothing to do); 1 the hook's apply stopped
    (refused, rolled back, timed out); 2 bad input, artifact or kubectl failure; 3 a static
    conflict or a plan that does not verify (nothing written).
    """
    from planner.gitops.flux import PreSyncOptions, parse_source_ref, pre_sync
    from planner.kubectl import Kubectl

    options = PreSyncOptions(
        source=parse_source_ref(source, source_namespace),
        path=app_path,
        kustomization=kustomization,
        target=target,
        timeout=parse_duration(timeout),
        journal=journal_spec,
        accept_sampled=accept_sampled,
        lb_class=lb_class,
    )
    kubectl = Kubectl(context=cluster.context, kubeconfig=cluster.kubeconfig)
    report = pre_sync(options, kubectl, progress=wave_progress(terminal))
    for line in report.render():
        terminal.echo(line)
    return report.exit_code


@flux.command("trigger")
@click.argument(
    "hooks", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The source artifact's root, which the Job's --path is relative to "
    "(default: the Git repository holding each HOOK).",
)
@click.option("--check", is_flag=True, help="Change nothing; exit 1 when a digest is stale.")
def trigger_command(hooks: tuple[Path, ...], root: Path | None, check: bool) -> int:
    """Write the digest of the app's path into each pre-sync HOOK directory (app.sha256).

    The hook's Job mounts it, so Flux re-runs the Job after any change under the app's path.
    """
    from planner.gitops.flux_trigger import update_triggers

    triggers = update_triggers(list(hooks), root, check=check)
    stale = [trigger for trigger in triggers if trigger.stale]
    for trigger in stale:
        click.echo(f"{'would update' if check else 'updated'} {trigger.digest_file}")
    if check and stale:
        click.echo("run `planner flux trigger` on the same hooks and commit the result", err=True)
        return 1
    return 0
