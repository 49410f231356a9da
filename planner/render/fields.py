"""Each field an update changes as old → new, shown beside its RFC 6902 patch.

    for field in field_changes(change):
        print(field_name(field.path), show_value(field.old), "→", show_value(field.new))

The patch says only the new value; the old one is read by replaying the patch, operation by
operation, over the live object normalised exactly as the diff compared it (so list indices
and paths mean what they meant to the diff). Secret values go through the same redaction as
the patch. When the replay fails (an object built by hand, say), the fields are left out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

import jsonpatch
import jsonpointer

from planner.diff import Change, normalise_desired, normalise_live
from planner.diff.normalise import plain_copy
from planner.render.redact import safe_value


class Absent(Enum):
    """The value of a field that is not there (before an `add`, after a `remove`)."""

    ABSENT = "absent"


ABSENT = Absent.ABSENT
MAX_VALUE_CHARS = 80
_BARE_STRING = re.compile(r"^[\w.\-/:@]+$")
_BARE_TOKEN = re.compile(r"^[A-Za-z_][\w\-]*$")


@dataclass(frozen=True)
class FieldChange:
    """One patch operation of an update, with the value before it and after it."""

    path: str  # the JSON pointer, as in the patch
    old: Any  # ABSENT when the field did not exist
    new: Any  # ABSENT when the operation removes it


def field_changes(change: Change) -> tuple[FieldChange, ...]:
    """The fields an update changes, in patch order; () for creates, deletes and unknown bases."""
    base = _normalised_live(change)
    if base is None:
        return ()
    fields = []
    for op in change.patch:
        kind, path = op.get("op"), str(op.get("path", ""))
        if kind in ("add", "replace", "remove") and path:
            old = _old_value(base, path, kind)
            new = op["value"] if kind != "remove" and "value" in op else ABSENT
            fields.append(
                FieldChange(path, _redacted(change, path, old), _redacted(change, path, new))
            )
        try:
            base = jsonpatch.apply_patch(base, [op], in_place=True)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
            return ()  # the patch does not fit this base: better no old values than wrong ones
    return tuple(fields)


def field_name(path: str) -> str:
    """A JSON pointer as a readable field path: spec.ports[0].port,
    metadata.annotations["metallb.io/allow-shared-ip"]."""
    parts = []
    for token in jsonpointer.JsonPointer(path).parts:
        if token.isdigit():
            parts.append(f"[{token}]")
        elif _BARE_TOKEN.match(token):
            parts.append(f".{token}" if parts else token)
        else:
            parts.append(f"[{json.dumps(token, ensure_ascii=False)}]")
    return "".join(parts) or "(whole object)"


def show_value(value: Any) -> str:
    """A value for one line: plain words bare, anything else as compact JSON, long ones cut."""
    if value is ABSENT:
        return "(absent)"
    if isinstance(value, str) and _BARE_STRING.match(value) and not _parses_as_json(value):
        text = value
    else:
        text = json.dumps(value, sort_keys=True, separators=(", ", ": "), ensure_ascii=False)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def field_line(field: FieldChange) -> str:
    """`spec.externalTrafficPolicy: Cluster → Local`."""
    return f"{field_name(field.path)}: {show_value(field.old)} → {show_value(field.new)}"


def _normalised_live(change: Change) -> Any:
    """The live object as the diff compared it, or None when there is none to replay over."""
    if change.op != "update" or change.live is None or change.desired is None:
        return None
    normalised = normalise_live(change.live, change.desired, normalise_desired(change.desired))
    # Normalising never changes its inputs but shares their subtrees; the patch is replayed in
    # place, so only the (smaller) normalised object is copied.
    return plain_copy(normalised)


def _old_value(base: Any, path: str, kind: object) -> Any:
    """The value at `path` before the operation; an `add` into a list inserts, so none."""
    pointer = jsonpointer.JsonPointer(path)
    try:
        parent, _ = pointer.to_last(base)
        if kind == "add" and isinstance(parent, list):
            return ABSENT
        return pointer.resolve(base)
    except (jsonpointer.JsonPointerException, KeyError, IndexError, TypeError):
        return ABSENT


def _redacted(change: Change, path: str, value: Any) -> Any:
    return value if value is ABSENT else safe_value(change, path, value)


def _parses_as_json(text: str) -> bool:
    """Whether a bare string would read as a number, boolean or null ("80", "true")."""
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
