"""Secret values never reach any output: the one redaction every renderer relies on."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from planner.objects import Manifest

REDACTED = "<redacted>"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_SECRET_FIELDS = ("data", "stringData")


def redact_secret(manifest: Manifest) -> Manifest:
    """A copy with every Secret value replaced by "<redacted>" (also inside List items and
    inside a last-applied-configuration that records a Secret). Other objects come back as is.
    """
    if not isinstance(manifest, Mapping):
        return manifest
    if manifest.get("kind") == "List" and isinstance(manifest.get("items"), list):
        redacted = copy.copy(manifest)
        redacted["items"] = [redact_secret(item) for item in manifest["items"]]
        return redacted
    if not _holds_secret(manifest):
        return manifest
    redacted = copy.deepcopy(manifest)
    _redact_values(redacted)
    _redact_last_applied(redacted)
    return redacted


def redact_patch(patch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A Secret's RFC 6902 patch with every value under /data or /stringData redacted."""
    return [_redact_operation(operation) for operation in patch]


def _holds_secret(manifest: Mapping[str, Any]) -> bool:
    if manifest.get("kind") == "Secret":
        return True
    annotations = (manifest.get("metadata") or {}).get("annotations")
    if not isinstance(annotations, Mapping) or not isinstance(annotations.get(LAST_APPLIED), str):
        return False
    return '"Secret"' in annotations[LAST_APPLIED]


def _redact_values(body: dict[str, Any]) -> None:
    for field in _SECRET_FIELDS:
        values = body.get(field)
        if isinstance(values, dict):
            body[field] = {key: REDACTED for key in values}
        elif values is not None:
            body[field] = REDACTED


def _redact_last_applied(body: dict[str, Any]) -> None:
    annotations = (body.get("metadata") or {}).get("annotations")
    if not isinstance(annotations, dict) or LAST_APPLIED not in annotations:
        return
    try:
        recorded = json.loads(annotations[LAST_APPLIED])
    except (TypeError, ValueError):
        recorded = None
    if not isinstance(recorded, dict):
        # Unreadable: it may still hold the values, so none of it is shown.
        annotations[LAST_APPLIED] = REDACTED
        return
    if recorded.get("kind") == "Secret" or body.get("kind") == "Secret":
        _redact_values(recorded)
    annotations[LAST_APPLIED] = json.dumps(recorded, sort_keys=True, separators=(",", ":"))


def _redact_operation(operation: dict[str, Any]) -> dict[str, Any]:
    if "value" not in operation:
        return operation
    path = str(operation.get("path", ""))
    top = path.split("/")[1] if path.count("/") >= 1 else ""
    redacted = dict(operation)
    if path == "":
        redacted["value"] = redact_secret(operation["value"])
    elif top in _SECRET_FIELDS:
        redacted["value"] = (
            {key: REDACTED for key in operation["value"]}
            if path == f"/{top}" and isinstance(operation["value"], Mapping)
            else REDACTED
        )
    return redacted
