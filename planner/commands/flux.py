"""`planner flux pre-sync`: the Flux pre-sync hook's command (docs/flux.md, plugins/flux/)."""

from __future__ import annotations

import click

from planner.commands._shared import (
    Cluster,
    Terminal,
    cluster_options,
    report_options,
    target_option,
)
from planner.commands.apply import parse_duration, wave_progress
from planner.gitops.flux import DEFAULT_SOURCE_NAMESPACE, PreSyncOptions, parse_source_ref, pre_sync
from planner.kubectl import Kubectl


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
    default=DEFAULT_SOURCE_NAMESPACE,
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
@click.option(
    "--journal",
    "journal_spec",
    default=None,
    help="file:PATH or configmap:NAMESPACE/NAME to record finished waves (default: none).",
)
def pre_sync_command(
    cluster: Cluster,
    terminal: Terminal,
    source: str,
    source_namespace: str,
    app_path: str,
    kustomization: str | None,
    timeout: str,
    target: str,
    journal_spec: str | None,
) -> int:
    """Plan the source's commit against the cluster and apply the units that need ordering.

    Exit codes: 0 Flux may apply the app (done, or nothing to do); 1 the hook's apply stopped
    (refused, rolled back, timed out); 2 bad input, artifact or kubectl failure; 3 a static
    conflict or a plan that does not verify (nothing written).
    """
    options = PreSyncOptions(
        source=parse_source_ref(source, source_namespace),
        path=app_path,
        kustomization=kustomization,
        target=target,
        timeout=parse_duration(timeout),
        journal=journal_spec,
    )
    kubectl = Kubectl(context=cluster.context, kubeconfig=cluster.kubeconfig)
    report = pre_sync(options, kubectl, progress=wave_progress(terminal))
    for line in report.render():
        terminal.echo(line)
    return report.exit_code
