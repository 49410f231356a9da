"""`planner argocd generate`: the Argo CD Config Management Plugin's manifest generator.

Argo CD runs it in the Application's source directory of a fresh copy of the repository, with
its `ARGOCD_*` variables (docs/argocd.md, plugins/argocd/README.md). It renders the directory,
stamps the group-wide annotations, gives Services `argocd.argoproj.io/sync-wave` values in plan
order, adds the metallb-0.14 nudge hook, and returns one YAML stream; the same input gives the
same bytes.

    >>> context = read_context(os.environ)  # doctest: +SKIP
    >>> stream = generate(Path.cwd(), context)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from planner.errors import InputError
from planner.gitops.argocd.context import (
    KUBECONFIG_ENV,
    ArgoContext,
    GenerateOptions,
    options_of,
)
from planner.gitops.argocd.nudge import nudge_objects, nudges_needed
from planner.gitops.argocd.waves import (
    SYNC_WAVE,
    check_group_waves,
    is_sync_phase,
    live_plan,
    place_waves,
    plan_levels,
    user_wave,
)
from planner.model.controller import Behavior
from planner.model.group_annotations import desired_sharing_groups, stamp_group_annotations
from planner.model.pools import pools_from_objects
from planner.model.service import (
    ServiceInputError,
    allocation_inputs,
    handled_by_metallb,
    is_load_balancer,
)
from planner.objects import KubeObject, Manifest, ObjectKey, svc_key_of
from planner.sources.desired import Source, load_sources
from planner.sources.documents import manifest_files
from planner.sources.helm import HelmOptions, is_chart_dir
from planner.sources.kinds import is_pool_manifest
from planner.sources.known_fields import unknown_field_notes
from planner.sources.kustomize import is_kustomization_dir
from planner.sources.live import load_live_kubectl
from planner.sources.pools import FoundPools, find_pools, repository_pools, with_context_pools
from planner.sources.safety import (
    check_kustomize_references,
    check_symlinks,
    inside,
    repository_root,
)
from planner.sources.states import DesiredState, LiveState
from planner.sources.validate import check_fields

try:  # libyaml's emitter is several times faster and gives the same results
    from yaml import CSafeDumper as _BaseDumper
except ImportError:  # pragma: no cover - only without libyaml
    from yaml import SafeDumper as _BaseDumper  # type: ignore[assignment]


# --- rendering the source directory ----------------------------------------------------------


def render(source_dir: Path, context: ArgoContext, options: GenerateOptions) -> list[KubeObject]:
    """Every object the source directory declares, rendered as `render-mode` says."""
    mode = resolved_mode(source_dir, options.render_mode)
    label = context.label
    if mode == "kustomize":
        check_kustomize_references(source_dir, repository_root(source_dir, context.source_path))
        sources = [Source(source_dir, label, "kustomize")]
    elif mode == "helm":
        sources = [Source(source_dir, label, "helm")]
    else:
        sources = plain_sources(source_dir)
    helm = helm_options(source_dir, context, options)
    # what Argo CD applies is what is written: Flux's substitution and HelmReleases are Flux's
    return load_sources(sources, helm=helm, evaluate_flux=False).objects


def resolved_mode(source_dir: Path, mode: str) -> str:
    """`auto` made concrete: kustomization → kustomize, Chart.yaml → helm, else plain."""
    if mode != "auto":
        return mode
    if is_kustomization_dir(source_dir):
        return "kustomize"
    if is_chart_dir(source_dir):
        return "helm"
    return "plain"


def plain_sources(source_dir: Path) -> list[Source]:
    """Every *.yaml, *.yml and *.json below the directory, sorted by path; hidden entries skipped
    (so the marker file `.shared-ip-planner.yaml` is never read as a manifest)."""
    found = [
        Source(path, path.relative_to(source_dir).as_posix(), "file")
        for path in manifest_files(source_dir)
    ]
    return sorted(found, key=lambda source: source.label)


def helm_options(source_dir: Path, context: ArgoContext, options: GenerateOptions) -> HelmOptions:
    """How `helm template` runs for the app; InputError for a values file outside the repository."""
    root = repository_root(source_dir, context.source_path)
    for values_file in options.helm_values_files:
        if not inside((source_dir / values_file).resolve(), root):
            raise InputError(
                f"helm values file `{values_file}` lies outside the repository; refusing to read it"
            )
    return HelmOptions(
        release=options.helm_release_name or context.app_name or None,
        namespace=context.app_namespace or None,
        values=options.helm_values_files,
        kube_version=context.kube_version or None,
        api_versions=context.kube_api_versions,
    )


# --- the whole generator ---------------------------------------------------------------------


def _ignore(_note: str) -> None:
    """The default `warn`: the library prints nothing."""


def generate(
    source_dir: Path,
    context: ArgoContext,
    live: LiveState | None = None,
    *,
    kubeconfig: str | None = None,
    kube_context: str | None = None,
    lb_class: str = "",
    warn: Callable[[str], None] = _ignore,
) -> str:
    """The YAML stream for Argo CD: every rendered object, Services stamped and waved, plus the
    nudge hook for metallb-0.14. Reads the live state through kubectl only when `live-state` is
    "true" and no `live` is given (`kubeconfig` overrides the Application's, `kube_context` is
    kubectl's --context; `lb_class` is MetalLB's --lb-class unless the `lb-class` parameter is
    set). Raises PlannerError on any problem; prints nothing: warnings (fields Kubernetes does
    not know, as `planner diff` notes them) go to `warn` once the stream is made, so that a
    failing run says only its error, on one line."""
    options = options_of(context, lb_class)
    check_symlinks(repository_root(source_dir, context.source_path))
    objects = render(source_dir, context, options)
    validate_desired(objects)
    notes = list(unknown_field_notes(objects))
    if not objects:
        raise InputError(
            f"`{context.label}` renders no Kubernetes objects; refusing to print an empty "
            "stream (Argo CD would prune every resource of the Application)"
        )
    if live is None and options.live_state:
        live = _read_live(kubeconfig or options.kubeconfig, kube_context)
    elsewhere = pools_elsewhere(source_dir, context, options)
    if live is not None:
        live = with_context_pools(live, elsewhere)
    app = with_context_pools(DesiredState(objects), elsewhere)
    stream = dump_stream(manifests_for(objects, context, options, live, app.context_pools))
    for note in notes:
        warn(note)
    return stream


def pools_elsewhere(source_dir: Path, context: ArgoContext, options: GenerateOptions) -> FoundPools:
    """The pools kept outside the app: those under the `pools` parameter's paths (relative to
    the source path, inside the repository), as `planner diff --pools` reads them; without the
    parameter, every pool anywhere in the repository copy, as `planner diff --live-git` does
    (the parameter narrows it, e.g. to one cluster's directory of a multi-cluster repository)."""
    root = repository_root(source_dir, context.source_path)
    if not options.pool_paths:
        return repository_pools(root, "")
    for path in options.pool_paths:
        if not inside((source_dir / path).resolve(), root):
            raise InputError(
                f"pools path `{path}` lies outside the repository; refusing to read it"
            )
    return find_pools([str(source_dir / path) for path in options.pool_paths])


def validate_desired(objects: list[KubeObject]) -> None:
    """Refuse what `planner diff` refuses, in the same words: mistyped fields the planner reads
    (planner.sources.validate) and LoadBalancer Services MetalLB cannot read (allocation inputs)."""
    for obj in objects:
        check_fields(obj)
        if obj.is_service and is_load_balancer(obj.body):
            try:
                allocation_inputs(obj.body)
            except ServiceInputError as err:
                raise err.with_origin(obj.origin) from None


def _read_live(kubeconfig: str, kube_context: str | None = None) -> LiveState:
    if not os.access(kubeconfig, os.R_OK):
        raise InputError(
            f'live-state is "true" but the kubeconfig `{kubeconfig}` cannot be read '
            f"(set the Application env {KUBECONFIG_ENV} or install the live-state component)"
        )
    return load_live_kubectl(kube_context, kubeconfig)


def manifests_for(
    objects: list[KubeObject],
    context: ArgoContext,
    options: GenerateOptions,
    live: LiveState | None,
    context_pools: Sequence[KubeObject] = (),
) -> list[Manifest]:
    """The output documents, sorted: objects as rendered, Services stamped and waved, hooks.
    `context_pools` are pools kept outside the app (never output, only planned with)."""
    placed = [_namespaced(obj, context.app_namespace) for obj in objects]
    desired = _stamped_services(placed, options.lb_class)
    stuck: frozenset[str] | None = None
    if live is None:
        app_pools = [o for o in objects if is_pool_manifest(o.body)]
        # the objects, not their bodies: a pool the model refuses is named by its origin
        pools = pools_from_objects([*app_pools, *context_pools])
        # Only MetalLB's Services ask it for addresses: another class's cannot delay a wave.
        metallbs = {k: m for k, m in desired.items() if handled_by_metallb(m, options.lb_class)}
        levels = plan_levels(metallbs, pools)
    else:
        planned = live_plan(placed, live, options, context_pools)
        levels, stuck = planned.levels, planned.stuck_014
    waves = place_waves(placed, levels)
    groups = desired_sharing_groups(list(desired.values()), options.lb_class)
    check_group_waves(((g.group_id, g.members) for g in groups), waves)
    output = [
        _output_body(obj, where, desired, waves) for obj, where in zip(objects, placed, strict=True)
    ]
    if options.target_behavior == Behavior.METALLB_0_14:
        nudges = nudges_needed(groups, stuck, waves)
        output += nudge_objects(nudges, context.app_namespace, options.image, _ns_waves(objects))
    return sorted(output, key=_sort_key)


def _stamped_services(placed: list[KubeObject], lb_class: str) -> dict[str, Manifest]:
    """svc_key → the Service with the group annotations (namespaces as Argo CD applies them);
    `lb_class`: MetalLB's --lb-class (the Services of another class are in no group)."""
    services = [o.body for o in placed if o.is_service and is_sync_phase(o)]
    return {svc_key_of(m): m for m in stamp_group_annotations(services, lb_class)}


def _namespaced(obj: KubeObject, namespace: str) -> KubeObject:
    """A Service without a namespace as Argo CD applies it: in the destination namespace."""
    if not obj.is_service or (obj.body.get("metadata") or {}).get("namespace") or not namespace:
        return obj
    key = ObjectKey(obj.key.kind, namespace, obj.key.name)
    return KubeObject(key, _with_namespace(obj.body, namespace), obj.origin, obj.rendered_by)


def _with_namespace(body: Manifest, app_namespace: str) -> Manifest:
    metadata = body.get("metadata") or {}
    if metadata.get("namespace") or not app_namespace:
        return body
    return {**body, "metadata": {**metadata, "namespace": app_namespace}}


def _ns_waves(objects: list[KubeObject]) -> dict[str, int]:
    return {o.key.name: user_wave(o) for o in objects if o.key.kind == "Namespace"}


def _output_body(
    obj: KubeObject, placed: KubeObject, desired: Mapping[str, Manifest], waves: Mapping[str, int]
) -> Manifest:
    """A Service as stamped (its wave set when it moved; still without a namespace when it was
    written without one); any other object exactly as rendered."""
    if not (obj.is_service and is_sync_phase(obj)):
        return obj.body
    svc = placed.key.svc_key
    body = copy.deepcopy(desired[svc])
    if not (obj.body.get("metadata") or {}).get("namespace"):
        body["metadata"] = {k: v for k, v in body["metadata"].items() if k != "namespace"}
    if waves[svc] != user_wave(obj):
        body["metadata"]["annotations"] = {
            **(body["metadata"].get("annotations") or {}),
            SYNC_WAVE: str(waves[svc]),
        }
    return body


def _sort_key(body: Manifest) -> tuple[str, str, str, str]:
    metadata = body.get("metadata") or {}
    return (
        str(body.get("kind", "")),
        str(metadata.get("namespace") or ""),
        str(metadata.get("name", "")),
        str(body.get("apiVersion", "")),
    )


# --- output ----------------------------------------------------------------------------------


class _Dumper(_BaseDumper):
    """Safe YAML out, never anchors/aliases (objects may share parsed sub-trees)."""

    def ignore_aliases(self, _data: Any) -> bool:
        return True


def _represent_str(dumper: _Dumper, data: str) -> yaml.ScalarNode:
    # Multi-line text (scripts, config files) as a literal block; the emitter falls back to a
    # quoted style by itself whenever a block cannot hold the exact value.
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_stream(manifests: list[Manifest]) -> str:
    """One YAML stream, each document starting with `---`; keys in their rendered order."""
    return yaml.dump_all(
        manifests,
        Dumper=_Dumper,
        explicit_start=True,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1_000_000,
    )
