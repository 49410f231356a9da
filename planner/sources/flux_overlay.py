"""A followed Flux Kustomization's own spec fields applied to what it builds, as kustomize-controller
applies them.

kustomize-controller extends the kustomization file of the Kustomization's `spec.path` (or
generates one listing every manifest when there is none) with `targetNamespace`, `namePrefix`,
`nameSuffix`, `patches`, `components` and `images`, builds it with kustomize, substitutes
(`postBuild`), and finally sets `commonMetadata` on every object (fluxcd/pkg
kustomize_generator.go, kustomize-controller's `build` and `apply`).

The planner does the same without writing into the repository: the kustomization file is
extended and built in a private temporary copy of the directory (kustomize_copy.py).
Extending the file, rather than building an overlay on top of the directory, keeps kustomize's
order: components before the file's own transformers, Flux's prefix replacing the file's own.

    >>> fields, why = build_fields(kustomization.body, kustomization.origin, root)  # doctest: +SKIP
    >>> text = render_with_fields(Path("apps/dns/app"), "apps/dns/app", fields, "dns")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from planner import kube_yaml
from planner.errors import InputError, Origin
from planner.sources.documents import Document
from planner.sources.flux_build import YAML_SUFFIXES
from planner.sources.flux_repository import (
    FLUX_KUSTOMIZE_GROUP,
    is_flux_kustomization,
    kustomization_name,
    mapping,
    plain,
)
from planner.sources.kustomize import (
    KUSTOMIZATION_FILES,
    is_kustomization_dir,
    read_kustomization,
)
from planner.sources.kustomize_copy import RewrittenKustomization, render_rewritten
from planner.sources.safety import (
    RemoteResourceError,
    check_kustomize_references,
    check_remote_resources,
    inside,
    is_remote,
)

# Fields of the older v1beta2 API the planner does not apply (a Kustomization setting one is
# not read, and counted as unchecked).
UNAPPLIED_FIELDS = ("patchesStrategicMerge", "patchesJson6902")
_GENERATED_API = "kustomize.config.k8s.io/v1beta1"
# kustomize's `buildMetadata: [originAnnotations]` names each object's file in this annotation
ORIGIN_METADATA = "originAnnotations"
ORIGIN_ANNOTATION = "config.kubernetes.io/origin"


@dataclass(frozen=True)
class BuildFields:
    """What a Flux Kustomization's spec adds to the build of its path, besides `postBuild` and
    `targetNamespace`; `root` is the repository it reads."""

    kustomization: str  # "Flux Kustomization NS/NAME", for messages
    root: Path
    name_prefix: str | None = None
    name_suffix: str | None = None
    patches: tuple[Mapping[str, Any], ...] = ()
    components: tuple[str, ...] = ()
    ignore_missing_components: bool = False
    images: tuple[Mapping[str, Any], ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)  # commonMetadata
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def built_fields(self) -> list[str]:
        """The fields set that change the build, by their names in the spec."""
        return [
            name
            for name, value in (
                ("namePrefix", self.name_prefix),
                ("nameSuffix", self.name_suffix),
                ("patches", self.patches),
                ("components", self.components),
                ("images", self.images),
            )
            if value
        ]

    @property
    def needs_kustomize(self) -> bool:
        """Whether a field changes the build (commonMetadata alone is set after it)."""
        return bool(self.built_fields)

    def for_a_part(self) -> BuildFields:
        """The fields as they change a part of the build: patches that target only Flux
        Kustomizations left out (home-ops parents patch their children's `postBuild` so, which
        flux_patches evaluates, as when following), so a part needs kustomize less often."""
        patches = tuple(p for p in self.patches if not _on_flux_kustomizations(p))
        return dataclasses.replace(self, patches=patches)


def build_fields(
    body: Mapping[str, Any], origin: Origin, root: Path
) -> tuple[BuildFields | None, str]:
    """The fields a Flux Kustomization (`body`, read from `origin`) sets for the repository
    `root`, or None with the reason they cannot be applied exactly ("" when it sets none);
    InputError for a field of the wrong shape."""
    spec = plain(body.get("spec"))
    name = kustomization_name(body)
    unapplied = [f for f in UNAPPLIED_FIELDS if spec.get(f)]
    if unapplied:
        return None, f"sets spec.{unapplied[0]}, which the planner does not apply"
    common = mapping(spec.get("commonMetadata"), "spec.commonMetadata", origin)
    fields = BuildFields(
        name,
        root,
        name_prefix=_string(spec.get("namePrefix"), "spec.namePrefix", origin),
        name_suffix=_string(spec.get("nameSuffix"), "spec.nameSuffix", origin),
        patches=_patches(spec.get("patches"), origin),
        components=tuple(_strings(spec.get("components"), "spec.components", origin)),
        ignore_missing_components=spec.get("ignoreMissingComponents") is True,
        images=_images(spec.get("images"), origin),
        labels=_labels(common.get("labels"), "spec.commonMetadata.labels", origin),
        annotations=_labels(common.get("annotations"), "spec.commonMetadata.annotations", origin),
    )
    if not (fields.needs_kustomize or fields.labels or fields.annotations):
        return None, ""
    return fields, ""


def with_common_metadata(documents: list[Document], fields: BuildFields | None) -> list[Document]:
    """The documents with `commonMetadata` set as kustomize-controller sets it after
    substitution: its labels and annotations override the objects' own of the same key."""
    if fields is None or not (fields.labels or fields.annotations):
        return documents
    return [_with_metadata(document, fields) for document in documents]


def render_with_fields(
    directory: Path, label: str, fields: BuildFields, namespace: str | None, origins: bool = False
) -> str:
    """The YAML kustomize builds for `directory` (labelled `label`) with the Kustomization's
    fields and `namespace` (its targetNamespace) written into its kustomization file, in a
    temporary copy (`origins`: each object annotated with the file it comes from, for
    `documents_from`); InputError for a remote component or one outside the repository."""
    components = _checked_components(directory, label, fields)
    name, body = _kustomization(directory, label, fields.root)
    body = _extended(body, fields, components, namespace, generated=name is None)
    metadata = list(body.get("buildMetadata") or [])
    if origins and ORIGIN_METADATA not in metadata:
        body["buildMetadata"] = [*metadata, ORIGIN_METADATA]
    text = yaml.safe_dump(body, sort_keys=False)
    rewritten = RewrittenKustomization(fields.root, name or KUSTOMIZATION_FILES[0], text)
    return render_rewritten(directory, label, rewritten, load_anywhere=True)


def documents_from(documents: list[Document], part: str) -> list[Document]:
    """The built documents that come from `part` (a file or directory relative to the built
    directory), without the origin annotation `render_with_fields(origins=True)` added."""
    kept = []
    for document in documents:
        metadata = plain(document.body.get("metadata"))
        annotations = dict(plain(metadata.get("annotations")))
        origin = kube_yaml.load(str(annotations.pop(ORIGIN_ANNOTATION, "")) or "{}")
        path = str(plain(origin).get("path") or "")
        if path != part and not path.startswith(part + "/"):
            continue
        updated = (
            {**metadata, "annotations": annotations}
            if annotations
            else {k: v for k, v in metadata.items() if k != "annotations"}
        )
        kept.append(Document({**document.body, "metadata": updated}, document.origin))
    return kept


def _on_flux_kustomizations(patch: Mapping[str, Any]) -> bool:
    """Whether a `spec.patches` entry can select only Flux Kustomizations (its `target`, or
    without one the kind of its own text)."""
    target = plain(patch.get("target"))
    if target:
        group = target.get("group")
        return target.get("kind") == "Kustomization" and group in (None, "", FLUX_KUSTOMIZE_GROUP)
    text = str(patch.get("patch"))
    if "&" in text and "*" in text:  # anchors and aliases: not parsed here (an alias bomb)
        return False
    try:
        own = kube_yaml.load(text)
    except yaml.YAMLError:
        return False
    return isinstance(own, Mapping) and is_flux_kustomization(own)


def _checked_components(directory: Path, label: str, fields: BuildFields) -> list[str]:
    """The components Flux adds (relative to `directory`), refused as kustomize-controller and
    safety.py refuse them: remote, absolute, or outside the repository."""
    kept = []
    for component in fields.components:
        where = f"{fields.kustomization} (`spec.components`)"
        if is_remote(component.lower()):
            raise RemoteResourceError(
                f"{where} names the remote component `{component}`; the planner does not fetch "
                "it (no network): vendor it into the repository",
                where,
                component,
            )
        if os.path.isabs(component):
            raise InputError(f"{where} names `{component}`: Flux takes only a relative path")
        path = Path(os.path.normpath(directory / component))
        if not inside(path.resolve(), fields.root.resolve()):
            raise InputError(f"{where} names `{component}`, which lies outside the repository")
        if not path.exists() and fields.ignore_missing_components:
            continue
        shown = os.path.normpath(os.path.join(label, component))
        check_remote_resources(path, shown)
        check_kustomize_references(path, fields.root.resolve())
        kept.append(component)
    return kept


def _kustomization(directory: Path, label: str, root: Path) -> tuple[str | None, dict[str, Any]]:
    """The directory's kustomization file (its name and body), or, when it has none, the one
    kustomize-controller generates: every manifest below it as a resource (name None)."""
    own = read_kustomization(directory, label)
    if own is not None:
        check_kustomize_references(directory, root.resolve())
        return own
    resources = _manifests(directory, directory, label, root)
    generated: dict[str, Any] = {"apiVersion": _GENERATED_API, "kind": "Kustomization"}
    if resources:
        generated["resources"] = resources
    else:  # what kustomize-controller writes so that kustomize does not call the file empty
        generated["namespace"] = "_placeholder"
    return None, generated


def _manifests(top: Path, directory: Path, label: str, root: Path) -> list[str]:
    """Every YAML file below `directory` in walk order, and every subdirectory holding a
    kustomization (not descended), as resources relative to `top` ("./a/b.yaml")."""
    found = []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue  # the artifact leaves out VCS and CI entries; the planner's walk all hidden
        path = Path(entry.path)
        relative = "./" + path.relative_to(top).as_posix()
        if entry.is_dir():
            if is_kustomization_dir(path):
                check_remote_resources(path, os.path.normpath(os.path.join(label, relative)))
                check_kustomize_references(path, root.resolve())
                found.append(relative)
            else:
                found.extend(_manifests(top, path, label, root))
        elif path.suffix.lower() in YAML_SUFFIXES:
            found.append(relative)
    return found


def _extended(
    body: dict[str, Any],
    fields: BuildFields,
    components: list[str],
    namespace: str | None,
    generated: bool,
) -> dict[str, Any]:
    """The kustomization with the Kustomization's fields, as kustomize-controller writes them:
    namespace and affixes replace the file's own, patches and components are appended, images
    merged by name."""
    extended = dict(body)
    if not generated and not extended.get("resources"):
        # kustomize-controller's guard against "kustomization.yaml is empty"
        extended["buildMetadata"] = ["originAnnotations"]
    for key, value in (
        ("namespace", namespace),
        ("namePrefix", fields.name_prefix),
        ("nameSuffix", fields.name_suffix),
    ):
        if value:
            extended[key] = value
    if fields.patches:
        extended["patches"] = [*(extended.get("patches") or []), *fields.patches]
    if components:
        extended["components"] = [*(extended.get("components") or []), *components]
    if fields.images:
        extended["images"] = _merged_images(extended.get("images") or [], fields.images)
    return extended


def _merged_images(
    own: Sequence[Mapping[str, Any]], added: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The file's images with the Kustomization's: an entry of the same name takes its newName,
    and its newTag and digest together (setting one clears the other); others are appended."""
    merged = [dict(image) for image in own if isinstance(image, Mapping)]
    for image in added:
        same = next((m for m in merged if m.get("name") == image.get("name")), None)
        if same is None:
            merged.append(dict(image))
            continue
        if image.get("newName"):
            same["newName"] = image["newName"]
        if image.get("newTag") or image.get("digest"):
            for key in ("newTag", "digest"):
                same.pop(key, None)
                if image.get(key):
                    same[key] = image[key]
    return merged


def _with_metadata(document: Document, fields: BuildFields) -> Document:
    metadata = document.body.get("metadata")
    if not isinstance(metadata, Mapping):
        return document  # a malformed `metadata` is reported as it is
    updated = dict(metadata)
    for key, common in (("labels", fields.labels), ("annotations", fields.annotations)):
        own = metadata.get(key)
        merged = {**(own if isinstance(own, Mapping) else {}), **common}
        if merged:
            updated[key] = merged
    return Document({**document.body, "metadata": updated}, document.origin)


def _string(value: Any, what: str, origin: Origin) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    raise InputError(f"`{what}` must be a string, not {type(value).__name__}", origin)


def _list(value: Any, what: str, origin: Origin) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"`{what}` must be a list, not {type(value).__name__}", origin)
    return value


def _strings(value: Any, what: str, origin: Origin) -> list[str]:
    items = _list(value, what, origin)
    if not all(isinstance(item, str) for item in items):
        raise InputError(f"every entry of `{what}` must be a string", origin)
    return items


def _labels(value: Any, what: str, origin: Origin) -> dict[str, str]:
    return {str(k): "" if v is None else str(v) for k, v in mapping(value, what, origin).items()}


def _patches(value: Any, origin: Origin) -> tuple[Mapping[str, Any], ...]:
    """`spec.patches` as kustomize takes them: each a `patch` text and an optional `target`."""
    patches = []
    for patch in _list(value, "spec.patches", origin):
        if not isinstance(patch, Mapping) or not isinstance(patch.get("patch"), str):
            raise InputError("every entry of `spec.patches` must have a `patch` text", origin)
        target = mapping(patch.get("target"), "spec.patches[].target", origin)
        patches.append({"patch": patch["patch"], **({"target": dict(target)} if target else {})})
    return tuple(patches)


def _images(value: Any, origin: Origin) -> tuple[Mapping[str, Any], ...]:
    images = []
    for image in _list(value, "spec.images", origin):
        if not isinstance(image, Mapping) or not isinstance(image.get("name"), str):
            raise InputError("every entry of `spec.images` must have a `name`", origin)
        images.append(
            {k: image[k] for k in ("name", "newName", "newTag", "digest") if image.get(k)}
        )
    return tuple(images)
