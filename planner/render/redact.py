"""Secret-safe views of a change's patch, for every renderer.

`planner.diff` already redacts Secret bodies and patches; the renderers run every Secret value
they print through `planner.diff.redact_secret` again, so a missed path upstream still cannot
leak a value into a report. Usage::

    for op in safe_patch(change):
        print(op["op"], op["path"], op.get("value"))
"""

from __future__ import annotations

import copy
from typing import Any

from planner.diff import Change, redact_secret

MASK = "<redacted>"
_SECRET_FIELDS = ("data", "stringData")
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

PatchOp = dict[str, Any]


def safe_patch(change: Change) -> list[PatchOp]:
    """The change's RFC 6902 patch as plain dicts, with any Secret value redacted."""
    ops = [dict(op) for op in change.patch]
    if change.key.kind != "Secret":
        return ops
    return [_redact_op(op) for op in ops]


def safe_value(change: Change, path: str, value: Any) -> Any:
    """A value found at `path` of the change's object, redacted when the object is a Secret."""
    if change.key.kind != "Secret":
        return value
    return _redact_op({"op": "add", "path": path, "value": value})["value"]


def safe_secret_body(body: dict[str, Any]) -> dict[str, Any]:
    """A Secret body passed through `redact_secret`, with any value it left in place masked."""
    redacted = redact_secret(copy.deepcopy(body))
    # Belt and braces: whatever redact_secret left equal to the original is masked here.
    for field in _SECRET_FIELDS:
        original, kept = body.get(field), redacted.get(field)
        if isinstance(original, dict) and isinstance(kept, dict):
            for name, value in kept.items():
                if name in original and original[name] == value and value != MASK:
                    kept[name] = MASK
        elif original is not None and kept == original:
            redacted[field] = MASK
    annotations = (redacted.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict) and _LAST_APPLIED in annotations:
        annotations[_LAST_APPLIED] = MASK
    return redacted


def _redact_op(op: PatchOp) -> PatchOp:
    """Redact one patch operation of a Secret by placing its value in a Secret body."""
    if "value" not in op:
        return op
    parts = _pointer_parts(str(op.get("path", "")))
    if not parts and not isinstance(op["value"], dict):
        return {**op, "value": MASK}
    body = _body_holding(parts, copy.deepcopy(op["value"]))
    safe = safe_secret_body(body)
    return {**op, "value": _value_at(safe, parts)}


def _pointer_parts(pointer: str) -> list[str]:
    """The reference tokens of a JSON pointer ("/a/b~1c" → ["a", "b/c"])."""
    if pointer in ("", "/"):
        return [] if pointer == "" else [""]
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]


def _body_holding(parts: list[str], value: Any) -> dict[str, Any]:
    """A Secret-shaped body with `value` at the path `parts` (the whole body when `parts` is [])."""
    if not parts:
        whole: dict[str, Any] = value
        return whole
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret"}
    node = body
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return body


def _value_at(body: dict[str, Any], parts: list[str]) -> Any:
    """The value at `parts` in `body`; the mask when redaction removed it."""
    if not parts:
        return body
    node: Any = body
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return MASK
        node = node[part]
    return node
