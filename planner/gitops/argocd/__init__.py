"""The Argo CD Config Management Plugin's generator, `planner argocd generate`.

context.py reads what Argo CD hands over (variables, parameters); waves.py places Services in
sync waves; nudge.py builds the metallb-0.14 nudge hook; generate.py renders the directory and
puts the stream together. The names below are what the command and the tests use.
"""

from __future__ import annotations

from planner.gitops.argocd.context import (
    BEHAVIORS,
    DEFAULT_IMAGE,
    DEFAULT_KUBECONFIG,
    IMAGE_ENV,
    KUBECONFIG_ENV,
    RENDER_MODES,
    ArgoContext,
    GenerateOptions,
    options_of,
    read_context,
)
from planner.gitops.argocd.generate import (
    dump_stream,
    generate,
    helm_options,
    manifests_for,
    plain_sources,
    render,
    resolved_mode,
)
from planner.gitops.argocd.nudge import Nudge, nudge_objects, nudges_needed
from planner.gitops.argocd.waves import (
    HOOK,
    SYNC_WAVE,
    LivePlan,
    check_group_waves,
    is_sync_phase,
    live_plan,
    place_waves,
    plan_levels,
    user_wave,
)
from planner.sources.safety import repository_root

__all__ = [
    "BEHAVIORS",
    "DEFAULT_IMAGE",
    "DEFAULT_KUBECONFIG",
    "HOOK",
    "IMAGE_ENV",
    "KUBECONFIG_ENV",
    "RENDER_MODES",
    "SYNC_WAVE",
    "ArgoContext",
    "GenerateOptions",
    "LivePlan",
    "Nudge",
    "check_group_waves",
    "dump_stream",
    "generate",
    "helm_options",
    "is_sync_phase",
    "live_plan",
    "manifests_for",
    "nudge_objects",
    "nudges_needed",
    "options_of",
    "place_waves",
    "plain_sources",
    "plan_levels",
    "read_context",
    "render",
    "repository_root",
    "resolved_mode",
    "user_wave",
]
