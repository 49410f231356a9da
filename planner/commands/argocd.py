"""`planner argocd generate`: the entry point of the Argo CD Config Management Plugin."""

from __future__ import annotations

import os
from pathlib import Path

import click

from planner.commands._shared import LB_CLASS_OPTION, Cluster, cluster_options


@click.group("argocd")
def argocd() -> None:
    """Argo CD integration (Config Management Plugin; see plugins/argocd/)."""


@argocd.command("generate")
@cluster_options
@LB_CLASS_OPTION
def generate(cluster: Cluster, lb_class: str) -> int:
    """Print the current directory's manifests for Argo CD: rendered, group-annotated, waved.

    Reads only the variables Argo CD sets (ARGOCD_APP_*, ARGOCD_ENV_*, PARAM_*, KUBE_*); prints
    nothing on stdout unless everything succeeded. --kubeconfig and --context apply when the
    live-state parameter is "true" (--kubeconfig overrides SHARED_IP_PLANNER_KUBECONFIG);
    --lb-class holds for every Application that does not set the lb-class parameter.
    """
    from planner.gitops.argocd import generate as generate_stream
    from planner.gitops.argocd import read_context

    stream = generate_stream(
        Path.cwd(),
        read_context(os.environ),
        kubeconfig=cluster.kubeconfig,
        kube_context=cluster.context,
        lb_class=lb_class,
        warn=lambda note: click.echo(f"planner argocd generate: {note}", err=True),
    )
    click.echo(stream, nl=False)
    return 0
