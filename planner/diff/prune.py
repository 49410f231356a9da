"""Which live objects missing from the repo count as deletions.

A live snapshot holds every Service of the cluster; the repo holds some namespaces and apps.
Like Argo CD and Flux, the planner only prunes what the repo's own GitOps owner applied:
see docs/diff.md ("Deletions") for the rule and the `prune` modes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from planner.diff.normalise import from_api_server
from planner.objects import KubeObject, Manifest

PruneMode = Literal["tracked", "namespaces", "none"]
PRUNE_MODES: tuple[str, ...] = ("tracked", "namespaces", "none")

ARGOCD_TRACKING_ID = "argocd.argoproj.io/tracking-id"
ARGOCD_INSTANCE_LABEL = "app.kubernetes.io/instance"
ARGOCD_SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
FLUX_PRUNE = "kustomize.toolkit.fluxcd.io/prune"
# (tool, label or annotation holding the owner's name, ... holding the owner's namespace)
_OWNER_MARKS: tuple[tuple[str, str, str], ...] = (
    ("flux", "kustomize.toolkit.fluxcd.io/name", "kustomize.toolkit.fluxcd.io/namespace"),
    ("flux-helm", "helm.toolkit.fluxcd.io/name", "helm.toolkit.fluxcd.io/namespace"),
    ("helm", "meta.helm.sh/release-name", "meta.helm.sh/release-namespace"),
)

Owner = tuple[str, str]


def owners(body: Manifest) -> frozenset[Owner]:
    """The GitOps owners an object's tracking marks name, e.g. ("argocd", "my-app")."""
    metadata = body.get("metadata") or {}
    marks = {**_strings(metadata.get("labels")), **_strings(metadata.get("annotations"))}
    found: set[Owner] = set()
    application = _argocd_application(marks.get(ARGOCD_TRACKING_ID, ""), body)
    if application:
        found.add(("argocd", application))
    if marks.get(ARGOCD_INSTANCE_LABEL):
        found.add(("argocd-label", marks[ARGOCD_INSTANCE_LABEL]))
    for tool, name_mark, namespace_mark in _OWNER_MARKS:
        if marks.get(name_mark):
            found.add((tool, f"{marks.get(namespace_mark, '')}/{marks[name_mark]}"))
    return frozenset(found)


def _argocd_application(tracking_id: str, body: Manifest) -> str:
    """The application of a tracking id `<app>:<group>/<kind>:<namespace>/<name>` that names
    this very object; "" otherwise (Argo CD ignores ids copied onto other objects too).
    """
    parts = tracking_id.split(":")
    if len(parts) != 3:
        return ""
    application, group_kind, namespaced_name = parts
    metadata = body.get("metadata") or {}
    namespace = str(metadata.get("namespace") or "")
    api_group = str(body.get("apiVersion") or "").rpartition("/")[0]
    id_namespace, _, id_name = namespaced_name.rpartition("/")
    # Cluster-scoped objects carry the application's destination namespace in the id.
    same_object = (
        group_kind == f"{api_group}/{body.get('kind')}"
        and id_name == metadata.get("name")
        and (namespace in ("", id_namespace))
    )
    return application if same_object else ""


def deletions(
    desired: Iterable[KubeObject],
    live: Iterable[KubeObject],
    prune: PruneMode = "tracked",
    from_git: bool = False,
) -> list[KubeObject]:
    """Live objects the repo's GitOps tool would delete: of a kind the repo holds (any kind when
    `from_git`: live state read from a git ref is the repo's, and the commit may delete the last
    of a kind), absent from it.

    "tracked": objects of the repo's GitOps owners (found on the live twins of desired
    objects), plus objects never seen by an API server (a git ref is the repo itself);
    "namespaces": every namespaced object in a namespace the repo holds objects in;
    "none": nothing. Objects that opt out of pruning (Argo CD `Prune=false`, Flux
    `prune: disabled`) are never deleted.
    """
    if prune == "none":
        return []
    desired_list = list(desired)
    live_list = list(live)
    desired_keys = {obj.key for obj in desired_list}
    kinds = {obj.key.kind for obj in desired_list}
    namespaces = {obj.key.namespace for obj in desired_list if obj.key.namespace}
    candidates = [
        obj
        for obj in live_list
        if obj.key not in desired_keys
        and (obj.key.kind in kinds or from_git)
        and not _opts_out(obj.body)
    ]
    if not candidates:
        return []  # the owners' marks of every live twin would be read for nothing
    repo_owners = _repo_owners(desired_keys, live_list)
    return [obj for obj in candidates if _in_scope(obj, namespaces, repo_owners, prune)]


def _repo_owners(desired_keys: set[Any], live: list[KubeObject]) -> frozenset[Owner]:
    found: set[Owner] = set()
    for obj in live:
        if obj.key in desired_keys:
            found |= owners(obj.body)
    return frozenset(found)


def _in_scope(
    obj: KubeObject, namespaces: set[str], repo_owners: frozenset[Owner], prune: PruneMode
) -> bool:
    in_namespace = obj.key.namespace in namespaces
    if prune == "namespaces":
        return in_namespace
    if not from_api_server(obj.body):
        return True  # read from a git ref: the repo applied it, so the repo prunes it
    return bool(owners(obj.body) & repo_owners)


def _opts_out(body: Manifest) -> bool:
    metadata = body.get("metadata") or {}
    annotations = _strings(metadata.get("annotations"))
    sync_options = annotations.get(ARGOCD_SYNC_OPTIONS, "").replace(" ", "").split(",")
    # Flux repos write the mark as an annotation or a label, as "disabled" or "Disabled".
    flux_marks = {**_strings(metadata.get("labels")), **annotations}
    return "Prune=false" in sync_options or flux_marks.get(FLUX_PRUNE, "").lower() == "disabled"


def _strings(values: Any) -> dict[str, str]:
    if not isinstance(values, Mapping):
        return {}
    return {str(k): v for k, v in values.items() if isinstance(v, str)}
