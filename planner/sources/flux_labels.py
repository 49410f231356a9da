"""Labels as kustomize-controller applies them, where YAML wrote a value that is no string.

kustomize builds `labels: {enabled: true}` as written (`kubectl kustomize` prints it unquoted),
and kustomize-controller then reads the objects as unstructured maps and sets its owner labels on
each (fluxcd/pkg ssa `SetOwnerLabels`). apimachinery's `GetLabels` gives nothing for a labels
map holding a value that is neither a string nor null (and "" for a null), so the owner labels
are set on an empty map: the object reaches the cluster without any label written for it. The
API server never sees the bool, and Flux reports nothing. `kubectl apply` (and so a directory
no Flux Kustomization builds) is refused instead, which validate.py says.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from planner.sources.documents import Document


def has_unreadable_labels(document: Document) -> bool:
    """Whether the document's labels hold a value that is not a string (null included)."""
    labels = _labels(document.body)
    return labels is not None and any(not isinstance(v, str) for v in labels.values())


def labels_as_flux_applies(documents: list[Document]) -> tuple[list[Document], list[str]]:
    """The documents with their labels as kustomize-controller applies them, and one note for
    each object that loses its labels."""
    applied: list[Document] = []
    notes: list[str] = []
    for document in documents:
        if not has_unreadable_labels(document):
            applied.append(document)
            continue
        labels = _labels(document.body) or {}
        wrong = [(k, v) for k, v in labels.items() if v is not None and not isinstance(v, str)]
        metadata = dict(document.body["metadata"])
        if wrong:
            del metadata["labels"]
            key, value = wrong[0]
            shown = str(value).lower() if isinstance(value, bool) else str(value)
            notes.append(
                f"{document.origin}: label `{key}: {shown}` is a {type(value).__name__}, not a "
                f"string: Flux applies {_named(document.body)} without any of its "
                f"{len(labels)} written label(s) (kustomize-controller cannot read the map and "
                "sets only its own); quote the value to keep them"
            )
        else:  # only nulls: read as "", as JSON decoding reads them
            metadata["labels"] = {k: "" if v is None else v for k, v in labels.items()}
        applied.append(Document({**document.body, "metadata": metadata}, document.origin))
    return applied, notes


def _labels(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    metadata = body.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    return labels if isinstance(labels, Mapping) else None


def _named(body: Mapping[str, Any]) -> str:
    metadata = body["metadata"]
    namespace = metadata.get("namespace")
    where = f"{namespace}/" if isinstance(namespace, str) and namespace else ""
    return f"{body.get('kind')} {where}{metadata.get('name')}"
