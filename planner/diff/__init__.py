"""The normalised per-object diff between desired manifests and live state.

    >>> changes = diff_objects(desired_objects, live_objects)          # sorted by key
    >>> [(c.key, c.op, c.patch, c.key_changing) for c in changes if c.changed]

`op` is "create" | "update" | "delete" | "unchanged"; `patch` is RFC 6902 from the normalised
live object to the normalised desired one; `key_changing` names the allocation inputs a
Service edit changes. The rules (what is ignored, defaulted, pruned) are in docs/diff.md.
"""

from __future__ import annotations

from planner.diff.changes import OPS, Change, Op, diff_objects
from planner.diff.keys import KEY_FIELDS, key_changing_fields
from planner.diff.normalise import normalise_desired, normalise_live
from planner.diff.prune import PRUNE_MODES, PruneMode, deletions, owners
from planner.diff.secrets import REDACTED, redact_patch, redact_secret
from planner.sources.validate import check_fields

__all__ = [
    "KEY_FIELDS",
    "OPS",
    "PRUNE_MODES",
    "REDACTED",
    "Change",
    "Op",
    "PruneMode",
    "check_fields",
    "deletions",
    "diff_objects",
    "key_changing_fields",
    "normalise_desired",
    "normalise_live",
    "owners",
    "redact_patch",
    "redact_secret",
]
