"""The Flux objects a repository declares: sources (GitRepository, HelmRepository, OCIRepository,
HelmChart), Flux Kustomizations, and the ConfigMaps and Secrets that values and substitutions
come from. Read once per repository, and only when a desired document needs them.

    >>> index = FluxIndex.scan(Repository(Path("clusters/..")))  # doctest: +SKIP
    >>> index.find("GitRepository", "flux-system", "flux-system")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner.errors import InputError, Origin
from planner.sources.documents import (
    Document,
    decode_text,
    parse_yaml,
    read_file_bytes,
)
from planner.sources.flux_build import flux_files
from planner.sources.flux_substitute import VARIABLE_NAME, Variables

if TYPE_CHECKING:
    from planner.sources.kustomize_namespaces import KustomizeNamespaces

FLUX_KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
SOURCE_KINDS = frozenset({"GitRepository", "HelmRepository", "OCIRepository", "HelmChart"})
VALUE_KINDS = frozenset({"ConfigMap", "Secret"})
# Only files naming one of these are parsed (a plain substring test first: most files name none).
_MARKERS = ("toolkit.fluxcd.io", "ConfigMap", "Secret")


@dataclass(frozen=True)
class Repository:
    """Where a desired source's repository lies: its `root`, and how its files are named in
    messages (`prefix` + path from the root, e.g. "main:"; None: the path from the current
    directory)."""

    root: Path
    prefix: str | None = None

    def label(self, path: Path) -> str:
        """How messages name a file of the repository."""
        if self.prefix is not None:
            return self.prefix + path.relative_to(self.root).as_posix()
        return os.path.relpath(path)

    def relative(self, path: Path) -> str | None:
        """`path` from the root in POSIX form ("." for the root), or None when outside it."""
        try:
            relative = path.resolve().relative_to(self.root.resolve())
        except ValueError:
            return None
        return relative.as_posix() or "."


@dataclass
class FluxIndex:
    """The repository's Flux sources, Flux Kustomizations, ConfigMaps and Secrets."""

    repository: Repository
    documents: list[Document] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    relative_paths: dict[str, str] = field(default_factory=dict)  # file label -> path from root
    _namespaces: KustomizeNamespaces | None = None  # read when a lookup needs it

    @classmethod
    def scan(cls, repository: Repository) -> FluxIndex:
        """Read every manifest file of the repository that may hold one of the kinds above;
        chart directories (templates) and hidden entries are skipped, as are files that do
        not parse (with a note)."""
        index = cls(repository)
        for path in flux_files(repository.root):
            label = repository.label(path)
            try:
                text = decode_text(read_file_bytes(path, label), label)
                if not any(marker in text for marker in _MARKERS):
                    continue
                documents = parse_yaml(text, label).documents
            except InputError:
                index.notes.append(f"{label}: not read for Flux sources (it does not parse)")
                continue
            index.documents.extend(d for d in documents if _indexed(d.body))
            index.relative_paths[label] = repository.relative(path) or label
        return index

    def with_first(self, documents: list[Document]) -> FluxIndex:
        """This index with the Flux sources among `documents` (what one build applies, in the
        namespace it places them in) found first: an OCIRepository written without a namespace
        next to its HelmRelease lands, as the release does, in the targetNamespace."""
        first = [d for d in documents if d.body.get("kind") in SOURCE_KINDS and _indexed(d.body)]
        return dataclasses.replace(self, documents=first + self.documents) if first else self

    def find(
        self, kind: str, namespace: str, name: str, near: Document | None = None
    ) -> Document | None:
        """The document of `kind` named `namespace/name`, or None: written so, or in a file a
        kustomization places in `namespace` (its `namespace:` overrides the written one). Of
        several, the first one applied by the same Flux Kustomizations as `near` (the one that
        refers to it): a repository holding two clusters holds two `flux-system/cluster-settings`."""
        written, elsewhere = [], []
        for document in self.documents:
            metadata = plain(document.body.get("metadata"))
            if document.body.get("kind") != kind or metadata.get("name") != name:
                continue
            if (metadata.get("namespace") or "default") == namespace:
                written.append(document)
            else:
                elsewhere.append(document)
        found = written or [d for d in elsewhere if namespace in self._placed(d)]
        if len(found) < 2 or near is None:
            return found[0] if found else None
        applying = self._applied_by(near)
        return next((d for d in found if self._applied_by(d) & applying), found[0])

    def _applied_by(self, document: Document) -> set[tuple[str, int]]:
        """The Flux Kustomizations of the repository that apply the document's file, and those
        that apply theirs, up to the cluster's root (each by file and document)."""
        found: set[tuple[str, int]] = set()
        pending = [document]
        while pending:
            file = pending.pop().origin.file
            for builder in self.kustomizations_for(self.relative_paths.get(file, file)):
                if (builder.origin.file, builder.origin.document) not in found:
                    found.add((builder.origin.file, builder.origin.document))
                    pending.append(builder)
        return found

    def _placed(self, document: Document) -> frozenset[str]:
        """The namespaces the repository's kustomizations place the document's file in."""
        from planner.sources.kustomize_namespaces import KustomizeNamespaces

        if self._namespaces is None:
            self._namespaces = KustomizeNamespaces.scan(self.repository.root)
        file = document.origin.file
        return self._namespaces.of(self.relative_paths.get(file, file))

    def kustomizations_for(self, relative: str) -> list[Document]:
        """The Flux Kustomizations that build the repository path `relative`: those whose
        `spec.path` is its nearest enclosing directory (or itself), in file order."""
        best: list[Document] = []
        best_depth = -1
        for document in self.documents:
            if not is_flux_kustomization(document.body):
                continue
            path = kustomization_path(document.body)
            if not _encloses(path, relative):
                continue
            depth = 0 if path == "." else path.count("/") + 1
            if depth > best_depth:
                best, best_depth = [document], depth
            elif depth == best_depth:
                best.append(document)
        return best


def mapping(value: Any, what: str, origin: Origin) -> Mapping[str, Any]:
    """`value` as a mapping ({} when absent); InputError naming `what` when it is not one."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError(f"`{what}` must be a mapping, not {type(value).__name__}", origin)
    return value


def plain(value: Any) -> Mapping[str, Any]:
    """`value` when it is a mapping, else {} (shapes another check reports)."""
    return value if isinstance(value, Mapping) else {}


def is_flux_kustomization(body: Mapping[str, Any]) -> bool:
    """True for a Flux Kustomization (kustomize.toolkit.fluxcd.io), not a kustomize file."""
    api = str(body.get("apiVersion", ""))
    return body.get("kind") == "Kustomization" and api.startswith(f"{FLUX_KUSTOMIZE_GROUP}/")


def kustomization_name(body: Mapping[str, Any]) -> str:
    """How messages name a Flux Kustomization: "Flux Kustomization NAMESPACE/NAME"."""
    metadata = plain(body.get("metadata"))
    return f"Flux Kustomization {metadata.get('namespace') or 'default'}/{metadata.get('name')}"


def kustomization_path(body: Mapping[str, Any]) -> str:
    """A Flux Kustomization's `spec.path` from the source root, normalised ("." for the root)."""
    path = str(plain(body.get("spec")).get("path") or ".").strip()
    return posixpath.normpath(path.lstrip("/")) if path not in ("", "/") else "."


def variables_of(kustomization: Document, index: FluxIndex, strict: bool) -> Variables | None:
    """The variables a Flux Kustomization substitutes, or None when it substitutes nothing
    (no `postBuild`, or no variable at all: Flux then leaves the text alone).

    `substituteFrom` is read in order, later sources overriding earlier ones, then `substitute`
    overrides all. A source missing from the repository (optional or not: it may exist in the
    cluster) or encrypted with SOPS makes every variable not set after it unknown.
    """
    from planner.sources.flux_patches import as_applied

    applied = as_applied(kustomization, index)
    if applied.unevaluated:  # a patch the planner cannot evaluate may set any variable
        return Variables({}, frozenset(), open=True, strict=strict)
    kustomization = applied.document
    origin = kustomization.origin
    spec = mapping(kustomization.body.get("spec"), "spec", origin)
    if spec.get("postBuild") is None:
        return None
    post_build = mapping(spec.get("postBuild"), "spec.postBuild", origin)
    namespace = plain(kustomization.body.get("metadata")).get("namespace") or "default"
    known: dict[str, str] = {}
    unknown: set[str] = set()
    opened = False
    references = post_build.get("substituteFrom") or []
    if not isinstance(references, list):
        raise InputError("`spec.postBuild.substituteFrom` must be a list", origin)
    for reference in references:
        if not isinstance(reference, Mapping):
            raise InputError(
                "an entry of `spec.postBuild.substituteFrom` is not a mapping", kustomization.origin
            )
        kind, name = str(reference.get("kind")), str(reference.get("name"))
        hidden = encrypted_names(index, kind, namespace, name, kustomization)
        if hidden is not None:  # SOPS hides the values, never the names
            known = {key: value for key, value in known.items() if key not in hidden}
            unknown |= hidden
            continue
        data = value_data(index, kind, namespace, name, kustomization)
        if data is None:
            unknown |= set(known)  # the unread source may set any of them, or anything else
            known.clear()
            opened = True
            continue
        for key, value in data.items():
            known[key] = value.replace("\n", "")
            unknown.discard(key)
    for key, value in mapping(
        post_build.get("substitute"), "spec.postBuild.substitute", origin
    ).items():
        known[str(key)] = str(value).replace("\n", "")
        unknown.discard(str(key))
    for name in known:
        if not VARIABLE_NAME.match(name):
            raise InputError(
                f"the Flux Kustomization's variable name `{name}` is invalid "
                f"(it must match {VARIABLE_NAME.pattern})",
                kustomization.origin,
            )
    if not known and not unknown and not opened:
        return None
    return Variables(known, frozenset(unknown), open=opened, strict=strict)


def value_data(
    index: FluxIndex, kind: str, namespace: str, name: str, near: Document | None = None
) -> dict[str, str] | None:
    """The decoded data of a ConfigMap or Secret in the repository (the one nearest `near`,
    FluxIndex.find); None when it is not there, is of another kind, or is encrypted (SOPS).
    Secret values are decoded, never shown."""
    if kind not in VALUE_KINDS:
        return None
    document = index.find(kind, namespace, name, near)
    if document is None or "sops" in document.body:
        return None
    body = document.body
    origin = document.origin
    if kind == "ConfigMap":  # Flux reads `data` only (not `binaryData`)
        return {str(k): str(v) for k, v in mapping(body.get("data"), "data", origin).items()}
    data = _decoded(mapping(body.get("data"), "data", origin), origin)
    string_data = mapping(body.get("stringData"), "stringData", origin)
    data.update({str(k): str(v) for k, v in string_data.items()})
    return data


def encrypted_names(
    index: FluxIndex, kind: str, namespace: str, name: str, near: Document | None = None
) -> frozenset[str] | None:
    """The keys of a SOPS-encrypted ConfigMap or Secret in the repository (SOPS encrypts values
    only, so the variables it sets are known by name); None when it is not such an object."""
    if kind not in VALUE_KINDS:
        return None
    document = index.find(kind, namespace, name, near)
    if document is None or "sops" not in document.body:
        return None
    fields = ("data",) if kind == "ConfigMap" else ("data", "stringData")
    return frozenset(str(key) for f in fields for key in plain(document.body.get(f)))


def _decoded(data: Mapping[str, Any], origin: Origin) -> dict[str, str]:
    decoded = {}
    for key, value in data.items():
        try:
            decoded[str(key)] = base64.b64decode(str(value), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as err:
            # the value is not echoed: it is a secret
            raise InputError(f"the value of `{key}` is not base64 of UTF-8 text", origin) from err
    return decoded


def _indexed(body: Mapping[str, Any]) -> bool:
    if not isinstance(body.get("metadata"), Mapping):
        return False  # nothing could refer to it by name
    kind = body.get("kind")
    api = str(body.get("apiVersion", ""))
    if kind in VALUE_KINDS:
        return api == "v1"
    if kind in SOURCE_KINDS:
        return api.startswith("source.toolkit.fluxcd.io/")
    return is_flux_kustomization(body)


def _encloses(directory: str, relative: str) -> bool:
    return directory == "." or relative == directory or relative.startswith(directory + "/")
