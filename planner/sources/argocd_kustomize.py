"""An Argo CD source's `kustomize` settings, as its repo server applies them before building.

Argo CD (util/kustomize/kustomize.go `Build`, v3.5) copies nothing: in the source directory of
its checkout it runs `kustomize edit set nameprefix`, `set namesuffix`, `set image` (each image
expanded against the build environment), `set replicas`, `add label` (values expanded;
`--force`, `--without-selector`, `--include-templates`), `add annotation` (values expanded only
with `commonAnnotationsEnvsubst`; `--force`) and `set namespace`, in that order; appends
`patches` to the file's own; runs `add component`; then `kustomize build`. `kubectl kustomize`
has no `edit`, so the planner writes into the kustomization what those commands write (read as
kustomize's `edit` reads it) and builds that in a private copy (kustomize_copy.py).

What cannot be evaluated here is said, and the Application is then not followed: `version` (a
kustomize binary of Argo CD's configuration), a component that is remote, a glob or outside the
repository, a revision variable, and whatever makes Argo CD's own edit fail (a label already in
the file without `forceCommonLabels`, an image or replica `kustomize edit` refuses).

    >>> rewritten = kustomize_rewrite(settings, KustomizeSource(directory, repo, env))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from planner.sources.argocd_env import NotEvaluated, expand
from planner.sources.flux_repository import Repository
from planner.sources.kustomize import read_kustomization
from planner.sources.kustomize_copy import RewrittenKustomization
from planner.sources.safety import RemoteResourceError, check_remote_resources, inside, is_remote

# The settings whose presence makes Argo CD build with kustomize (`ApplicationSourceKustomize`
# `IsZero`): with none set, it normalises `kustomize` away and detects the tool as usual.
SETTINGS = (
    "namePrefix",
    "nameSuffix",
    "version",
    "namespace",
    "images",
    "replicas",
    "commonLabels",
    "commonAnnotations",
    "patches",
    "components",
    "kubeVersion",
    "apiVersions",
    "ignoreMissingComponents",
)
# What `edit set image` and `set replicas` write, by field, and what Argo CD's typed patches keep.
_IMAGE_FIELDS = ("newName", "newTag", "digest")
_PATCH_TARGET_FIELDS = (
    "group",
    "version",
    "kind",
    "name",
    "namespace",
    "annotationSelector",
    "labelSelector",
)
_PRESERVE = "*"  # `set image` keeps the file's own value for a field given as `*`
_GO_GLOB = re.compile(r"[*?\[\\]")
_GO_INTEGER = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class KustomizeSource:
    """Where a kustomize source lies and the build environment it is expanded against."""

    directory: Path
    repository: Repository
    environment: Mapping[str, str]  # ARGOCD_APP_*
    by: str  # "the kustomize settings of Application NS/NAME", for a failure's message

    @property
    def label(self) -> str:
        return self.repository.label(self.directory)


def is_set(settings: Mapping[str, Any]) -> bool:
    """Whether Argo CD builds a source with these `kustomize` settings (not normalised away)."""
    return any(settings.get(name) for name in SETTINGS)


def kustomize_rewrite(
    settings: Mapping[str, Any], source: KustomizeSource
) -> RewrittenKustomization:
    """The source's kustomization file as Argo CD's edits leave it; NotEvaluated when a setting
    cannot be evaluated here or Argo CD's edit would fail."""
    if settings.get("version"):
        raise NotEvaluated(
            f"its `kustomize.version` ({settings['version']}) selects a kustomize binary of "
            "Argo CD's configuration, not known here"
        )
    found = read_kustomization(source.directory, source.label)
    if found is None:
        raise NotEvaluated(
            f"its source has `kustomize` settings, but `{source.label}` holds no kustomization "
            "(Argo CD's kustomize fails)"
        )
    name, body = found
    body = _as_edit_reads(body)
    for field in ("namePrefix", "nameSuffix"):
        if settings.get(field):
            body[field] = _string(settings[field], field)
    images = _strings(settings.get("images"), "images")
    if images:
        body["images"] = _set_images(
            body.get("images"), [expand(i, source.environment) for i in images]
        )
    if settings.get("replicas"):
        body["replicas"] = _set_replicas(body.get("replicas"), settings["replicas"])
    _add_labels(body, settings, source.environment)
    _add_annotations(body, settings, source.environment)
    if settings.get("namespace"):
        body["namespace"] = _string(settings["namespace"], "namespace")
    if settings.get("patches"):
        body["patches"] = _with_patches(body.get("patches"), settings["patches"])
    components = _components(settings, source, name)
    if components:
        own = [c for c in body.get("components") or [] if isinstance(c, str)]
        body["components"] = [
            *(body.get("components") or []),
            *(c for c in components if c not in own),
        ]
    text = yaml.safe_dump(body, sort_keys=False)
    return RewrittenKustomization(source.repository.root, name, text, source.by)


def _as_edit_reads(body: dict[str, Any]) -> dict[str, Any]:
    """The kustomization as `kustomize edit` reads it: the deprecated `imageTags` after `images`
    (as the build reads them too), so that `set image` replaces an entry of either."""
    fixed = dict(body)
    if "imageTags" in fixed:
        fixed["images"] = [*(fixed.get("images") or []), *(fixed.pop("imageTags") or [])]
    return fixed


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str):  # the API server refuses it: Argo CD never sees it
        raise NotEvaluated(f"its `kustomize.{field}` is not a string")
    return value


def _strings(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise NotEvaluated(f"its `kustomize.{field}` is not a list of strings")
    return value


def _mapping(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise NotEvaluated(f"its `kustomize.{field}` is not a map of strings")
    return {str(key): text for key, text in value.items()}


def _set_images(own: Any, arguments: list[str]) -> list[dict[str, Any]]:
    """`kustomize edit set image ARG...`: each argument replaces the file's entry of its name
    (`*` keeps that entry's field), the file's others stay; sorted by name."""
    wanted: dict[Any, dict[str, Any]] = {i["name"]: i for i in map(_parsed_image, arguments)}
    for entry in own if isinstance(own, list) else []:
        if not isinstance(entry, Mapping):
            continue
        name = entry.get("name")
        if name not in wanted:
            wanted[name] = dict(entry)
            continue
        for field in _IMAGE_FIELDS:
            if wanted[name].get(field) == _PRESERVE:
                wanted[name][field] = entry.get(field, "")
    images = [
        {k: v for k, v in image.items() if v not in ("", None, _PRESERVE)}
        for image in wanted.values()
    ]
    return sorted(images, key=lambda image: str(image.get("name", "")))


def _parsed_image(argument: str) -> dict[str, str]:
    """One `set image` argument (`[NAME=]NEWNAME[:TAG][@DIGEST]`) as a kustomization entry."""
    key, separator, value = argument.partition("=")
    if not separator:
        key, value = "", argument
    name, tag, digest = _split_image(value)
    if name == argument:
        raise NotEvaluated(
            f"its image `{argument}` gives no new name, tag or digest "
            "(Argo CD's `kustomize edit set image` refuses it)"
        )
    image = {"name": key or name, "newName": name if key else "", "newTag": tag, "digest": digest}
    return {field: text for field, text in image.items() if text or field == "name"}


def _split_image(image: str) -> tuple[str, str, str]:
    """kustomize's split of an image into name, tag and digest: a `:` or `@` before the first
    `/` belongs to the registry (`host:5000/app`)."""
    slash = image.find("/")
    start = max(0, slash)
    at, colon = image.find("@", start), image.find(":", start)
    if colon < 0 and at < 0:
        return image, "", ""
    if at >= 0 and (colon < 0 or at < colon):
        return image[:at], "", image[at + 1 :]
    if at >= 0:
        return image[:colon], image[colon + 1 : at], image[at + 1 :]
    return image[:colon], image[colon + 1 :], ""


def _set_replicas(own: Any, replicas: Any) -> list[dict[str, Any]]:
    """`kustomize edit set replicas NAME=COUNT...` as Argo CD calls it: an argument replaces the
    file's entry of its name, the file's others stay; sorted by name."""
    if not isinstance(replicas, list):
        raise NotEvaluated("its `kustomize.replicas` is not a list")
    wanted: dict[Any, dict[str, Any]] = {}
    for replica in replicas:
        if not isinstance(replica, Mapping):
            raise NotEvaluated("an entry of its `kustomize.replicas` is not a mapping")
        name, count = str(replica.get("name") or ""), replica.get("count")
        text = str(count) if isinstance(count, int | str) and not isinstance(count, bool) else ""
        if not _GO_INTEGER.fullmatch(text):
            raise NotEvaluated(f"its replica count `{count}` for `{name}` is not an integer")
        if "=" in name:  # Argo CD passes `NAME=COUNT`, which `set replicas` splits on `=`
            raise NotEvaluated(f"its replica name `{name}` holds `=` (`set replicas` refuses it)")
        wanted[name] = {"name": name, "count": int(text)} if name else {"count": int(text)}
    for entry in own if isinstance(own, list) else []:
        if isinstance(entry, Mapping) and entry.get("name") not in wanted:
            wanted[entry.get("name")] = dict(entry)
    return sorted(wanted.values(), key=lambda replica: str(replica.get("name", "")))


def _edit_pairs(values: Mapping[str, str], kind: str) -> dict[str, str]:
    """The `KEY:VALUE` arguments Argo CD passes, as `kustomize edit add` splits them: at the
    first `:`, a value in double quotes unquoted."""
    pairs = {}
    for argument in (f"{key}:{value}" for key, value in values.items()):
        key, _, value = argument.partition(":")
        if not key:
            raise NotEvaluated(f"its common {kind} `{argument}` has an empty key")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        pairs[key] = value
    return pairs


def _add_labels(body: dict[str, Any], settings: Mapping[str, Any], env: Mapping[str, str]) -> None:
    """`kustomize edit add label` as Argo CD runs it for `commonLabels`: into the file's
    `commonLabels`, or with `labelWithoutSelector` into its first `labels` entry of the same
    selector and template settings (a new one when none)."""
    labels = _mapping(settings.get("commonLabels"), "commonLabels")
    if not labels:
        return
    pairs = _edit_pairs({key: expand(value, env) for key, value in labels.items()}, "label")
    force = settings.get("forceCommonLabels") is True
    templates = settings.get("labelIncludeTemplates") is True
    if settings.get("labelWithoutSelector") is not True:
        if templates:
            raise NotEvaluated(
                "its `kustomize.labelIncludeTemplates` needs `labelWithoutSelector` "
                "(Argo CD's `kustomize edit add label` refuses it)"
            )
        body["commonLabels"] = _written(body.get("commonLabels"), pairs, force, "label")
        return
    entries = [dict(e) for e in body.get("labels") or [] if isinstance(e, Mapping)]
    for entry in entries:
        if (
            entry.get("includeSelectors") is not True
            and (entry.get("includeTemplates") is True) == templates
        ):
            entry["pairs"] = _written(entry.get("pairs"), pairs, force, "label")
            break
    else:
        entries.append({"pairs": pairs, **({"includeTemplates": True} if templates else {})})
    body["labels"] = entries


def _add_annotations(
    body: dict[str, Any], settings: Mapping[str, Any], env: Mapping[str, str]
) -> None:
    """`kustomize edit add annotation` as Argo CD runs it for `commonAnnotations`."""
    annotations = _mapping(settings.get("commonAnnotations"), "commonAnnotations")
    if not annotations:
        return
    if settings.get("commonAnnotationsEnvsubst") is True:
        annotations = {key: expand(value, env) for key, value in annotations.items()}
    pairs = _edit_pairs(annotations, "annotation")
    force = settings.get("forceCommonAnnotations") is True
    body["commonAnnotations"] = _written(body.get("commonAnnotations"), pairs, force, "annotation")


def _written(own: Any, pairs: Mapping[str, str], force: bool, kind: str) -> dict[str, Any]:
    """The file's map with `pairs` added; NotEvaluated for a key it holds already, unless
    forced (Argo CD's edit fails: `already in kustomization file`)."""
    merged = dict(own) if isinstance(own, Mapping) else {}
    clash = sorted(key for key in pairs if key in merged)
    if clash and not force:
        flag = "forceCommonLabels" if kind == "label" else "forceCommonAnnotations"
        raise NotEvaluated(
            f"its common {kind} `{clash[0]}` is already in the kustomization and `{flag}` is not "
            f"set (Argo CD's `kustomize edit add {kind}` fails)"
        )
    return {**merged, **pairs}


def _with_patches(own: Any, patches: Any) -> list[Any]:
    """The file's `patches` with the source's appended, as Argo CD's typed patches write them."""
    if own is not None and not isinstance(own, list):
        raise NotEvaluated("its kustomization's `patches` is not a list (Argo CD cannot add to it)")
    if not isinstance(patches, list):
        raise NotEvaluated("its `kustomize.patches` is not a list")
    return [*(own or []), *(_typed_patch(patch) for patch in patches)]


def _typed_patch(patch: Any) -> dict[str, Any]:
    """A `patches` entry with the fields Argo CD's `KustomizePatch` keeps, empty ones left out."""
    if not isinstance(patch, Mapping):
        raise NotEvaluated("an entry of its `kustomize.patches` is not a mapping")
    typed: dict[str, Any] = {
        k: _string(patch[k], "patches") for k in ("path", "patch") if patch.get(k)
    }
    target = patch.get("target")
    if isinstance(target, Mapping):
        typed["target"] = {
            k: _string(target[k], "patches") for k in _PATCH_TARGET_FIELDS if target.get(k)
        }
    options = patch.get("options")
    if isinstance(options, Mapping) and options:
        typed["options"] = {str(k): v is True for k, v in options.items()}
    return typed


def _components(settings: Mapping[str, Any], source: KustomizeSource, own_file: str) -> list[str]:
    """The components `kustomize edit add component` adds as Argo CD runs it: each as written,
    one that does not exist (or lies outside the repository) skipped with
    `ignoreMissingComponents`; NotEvaluated for a remote one, a glob, or one outside."""
    ignore_missing = settings.get("ignoreMissingComponents") is True
    root = source.repository.root.resolve()
    added = []
    for component in _strings(settings.get("components"), "components"):
        if is_remote(component.lower()):
            raise NotEvaluated(f"its component `{component}` is remote and not fetched")
        if _GO_GLOB.search(component):
            raise NotEvaluated(f"its component `{component}` is a glob, not evaluated")
        path = Path(os.path.normpath(source.directory / component))
        place = _place(path, root)
        if place and ignore_missing:
            continue  # Argo CD looks for it below the repository root only
        if place == "outside":
            raise NotEvaluated(f"its component `{component}` lies outside the repository")
        if place:
            raise NotEvaluated(
                f"its component `{component}` does not exist (Argo CD cannot render it)"
            )
        if component != own_file and component not in added:
            shown = os.path.normpath(os.path.join(source.label, component))
            try:
                check_remote_resources(path, shown)
            except RemoteResourceError as err:  # as a remote component itself: not fetched
                raise NotEvaluated(
                    f"{err.where} names the remote `{err.entry}`, not fetched"
                ) from err
            added.append(component)
    return added


def _place(path: Path, root: Path) -> str:
    """ "" for a path that exists in the repository `root`, else "missing" or "outside"."""
    try:  # resolved: a symlink out of the repository is outside too
        if not inside(path.resolve(), root):
            return "outside"
    except (OSError, RuntimeError):  # a name too long, a symlink loop (RuntimeError < 3.13)
        return "missing"
    return "" if os.path.lexists(path) else "missing"
