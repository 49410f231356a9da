"""`planner flux pre-sync`: the Flux pre-sync hook's command (docs/flux.md, plugins/flux/)."""

from __future__ import annotations

import sys

import click

from planner.apply.engine import StreamProgress
from planner.commands.apply import parse_duration
from planner.controller import BEHAVIORS
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
    "--source-namespace", default=DEFAULT_SOURCE_NAMESPACE, show_default=True, metavar="NS"
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
@click.option("--context", default=None, help="kubeconfig context to use.")
@click.option("--kubeconfig", default=None, help="Path of the kubeconfig file.")
@click.option(
    "--timeout", default="300s", show_default=True, help="How long each wave may wait for IPs."
)
@click.option(
    "--target",
    type=click.Choice(BEHAVIORS),
    default="metallb-0.15",
    show_default=True,
    help="The MetalLB the cluster runs (metallb-0.14 gets the plan's nudges).",
)
@click.option(
    "--journal",
    "journal_spec",
    default=None,
    help="file:PATH or configmap:NAMESPACE/NAME to record finished waves (default: none).",
)
def pre_sync_command(
    source: str,
    source_namespace: str,
    app_path: str,
    kustomization: str | None,
    context: str | None,
    kubeconfig: str | None,
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
    kubectl = Kubectl(context=context, kubeconfig=kubeconfig)
    report = pre_sync(options, kubectl, progress=StreamProgress(sys.stderr))
    for line in report.render():
        click.echo(line)
    return report.exit_code
