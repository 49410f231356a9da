"""A Flux Kustomization as the cluster holds it: with the `spec.patches` of the Flux Kustomization
that builds its file applied.

Home-ops repositories give every app's Kustomization its post-build variables this way: the
parent (`cluster-apps`) patches each child Kustomization it builds, selected by a label selector,
with `postBuild.substituteFrom: [cluster-settings, cluster-secrets]`; the child's own file has no
`postBuild`. Strategic-merge patches are evaluated (for a custom resource they merge mappings key
by key and replace lists); a JSON 6902 patch that targets the child cannot be, and opens its
variables (any may be set).

    >>> applied = as_applied(kustomization, index)  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from planner import kube_yaml
from planner.model.selectors import LabelSelector
from planner.sources.documents import Document
from planner.sources.flux_repository import (
    FLUX_KUSTOMIZE_GROUP,
    FluxIndex,
    is_flux_kustomization,
    plain,
)

_IDENTITY = ("name", "namespace")


@dataclass(frozen=True)
class Applied:
    """The Kustomization as applied, and whether a patch on it could not be evaluated."""

    document: Document
    unevaluated: bool = False


def as_applied(kustomization: Document, index: FluxIndex) -> Applied:
    """`kustomization` with the patches of the Flux Kustomizations that build its file."""
    relative = index.relative_paths.get(kustomization.origin.file)
    if relative is None:
        return Applied(kustomization)
    body: Any = kustomization.body
    unevaluated = False
    for builder in index.kustomizations_for(relative):
        if builder is kustomization:
            continue
        for patch in plain(builder.body.get("spec")).get("patches") or []:
            body, failed = _patched(body, patch)
            unevaluated = unevaluated or failed
    return Applied(Document(body, kustomization.origin), unevaluated)


def _patched(body: Mapping[str, Any], patch: Any) -> tuple[Mapping[str, Any], bool]:
    """`body` with one `spec.patches` entry applied when it targets it; True when it targets it
    but cannot be evaluated."""
    if not isinstance(patch, Mapping) or not isinstance(patch.get("patch"), str):
        return body, False
    text = patch["patch"]
    try:
        if "&" in text and "*" in text:  # anchors and aliases: not worth an alias bomb's cost
            raise yaml.YAMLError("aliases are not evaluated in a patch")
        parsed = kube_yaml.load(text)
    except yaml.YAMLError:
        return body, _targets(body, plain(patch.get("target")), None)
    smp = parsed if isinstance(parsed, Mapping) else None
    if not _targets(body, plain(patch.get("target")), smp):
        return body, False
    if smp is None:  # a JSON 6902 patch (a list of operations)
        return body, True
    # the patch's own name and namespace only select (a `not-used` placeholder, often)
    metadata = {k: v for k, v in plain(smp.get("metadata")).items() if k not in _IDENTITY}
    fields = {k: v for k, v in smp.items() if k not in ("apiVersion", "kind", "metadata")}
    return merge(body, {**fields, "metadata": metadata} if metadata else fields), False


def _targets(
    body: Mapping[str, Any], target: Mapping[str, Any], smp: Mapping[str, Any] | None
) -> bool:
    """Whether a patch with `target` (or, without one, the patch's own kind and name) selects
    the Flux Kustomization `body`."""
    if not is_flux_kustomization(body):
        return False
    metadata = plain(body.get("metadata"))
    if not target:
        named = plain(smp.get("metadata")).get("name") if smp is not None else None
        return (
            smp is not None and smp.get("kind") == "Kustomization" and named == metadata.get("name")
        )
    group = target.get("group")
    if group not in (None, "", FLUX_KUSTOMIZE_GROUP) or target.get("kind") not in (
        None,
        "",
        "Kustomization",
    ):
        return False
    for field_name, value in (("name", "name"), ("namespace", "namespace")):
        wanted = target.get(field_name)
        if wanted and not _full_match(str(wanted), str(metadata.get(value) or "")):
            return False
    labels = _strings(metadata.get("labels"))
    annotations = _strings(metadata.get("annotations"))
    return selects(str(target.get("labelSelector") or ""), labels) and selects(
        str(target.get("annotationSelector") or ""), annotations
    )


def selects(selector: str, labels: Mapping[str, str]) -> bool:
    """Whether a Kubernetes label selector (`a=b,c notin (x,y),!d`) selects `labels`."""
    return LabelSelector.of(selector).matches(labels)


def merge(base: Any, patch: Any) -> Any:
    """A merge patch: mappings merged key by key (`null` deletes), anything else replaced."""
    if not isinstance(base, Mapping) or not isinstance(patch, Mapping):
        return patch
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge(base.get(key), value)
    return merged


def _full_match(pattern: str, value: str) -> bool:
    """kustomize matches target names and namespaces as anchored regular expressions."""
    try:
        return re.fullmatch(pattern, value) is not None
    except re.error:
        return pattern == value


def _strings(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}
