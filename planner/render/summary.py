"""Facts every renderer shows the same way: counts, behaviour order, patch lines, extras.

These only read a `DiffReport`; they compute no planning result.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from planner.analysis.records import Conflict, DiffReport, Prediction, SharingGroupReport
from planner.diff import Change
from planner.diff.scenario import NO_POOLS_NOTE
from planner.model.controller import BEHAVIORS

# How an address from the stand-in pool is shown when no pool is known (never the stand-in's IP).
UNKNOWN_POOL_IP = "an IP from an unknown pool"

OPS: tuple[str, ...] = ("create", "update", "delete", "unchanged")


@dataclass(frozen=True)
class Counts:
    """The headline numbers of a report."""

    ops: dict[str, int]
    groups: int
    groups_touched: int
    groups_key_changing: int
    errors: int
    warnings: int


def counts(report: DiffReport) -> Counts:
    """Count the changes per op, the groups touched, the errors and the warnings of a report."""
    ops = {op: 0 for op in OPS}
    for change in report.changes:
        ops[change.op] = ops.get(change.op, 0) + 1
    return Counts(
        ops=ops,
        groups=len(report.groups),
        groups_touched=sum(1 for g in report.groups if g.touched),
        groups_key_changing=sum(1 for g in report.groups if g.key_changing),
        errors=len(report.errors),
        warnings=len(report.warnings),
    )


def changed(report: DiffReport) -> tuple[Change, ...]:
    """The changes that do something (unchanged objects are only counted)."""
    return tuple(c for c in report.changes if c.op != "unchanged")


def ordered_predictions(report: DiffReport) -> list[Prediction]:
    """The predictions in the canonical behaviour order, unknown behaviours after, by name."""
    known = [report.predictions[b] for b in BEHAVIORS if b in report.predictions]
    others = [report.predictions[b] for b in sorted(report.predictions) if b not in BEHAVIORS]
    return known + others


def located_objects(conflict: Conflict) -> list[tuple[str, str]]:
    """Each object of a conflict with its origin ("" when unknown)."""
    if len(conflict.origins) == len(conflict.objects):
        return list(zip(conflict.objects, conflict.origins, strict=True))
    # Older producers give only the first object's origin.
    return [(obj, conflict.origin if i == 0 else "") for i, obj in enumerate(conflict.objects)]


def patch_line(op: dict[str, Any]) -> str:
    """One RFC 6902 operation as a single readable line ("replace /spec/x: \"Local\"")."""
    kind = str(op.get("op", "?"))
    path = str(op.get("path", ""))
    if kind in ("move", "copy"):
        return f"{kind} {op.get('from', '')} -> {path}"
    where = path or "(whole object)"
    if "value" in op:
        return f"{kind} {where}: {compact_json(op['value'])}"
    return f"{kind} {where}"


def compact_json(value: Any) -> str:
    """A value as compact, key-sorted JSON (stable bytes)."""
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), ensure_ascii=False)


def extra_text(value: object) -> str:
    """A free-form extra (the plan summary) as text: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value.rstrip("\n")
    return json.dumps(to_jsonable(value), sort_keys=True, indent=2, ensure_ascii=False)


def to_jsonable(value: object) -> Any:
    """Turn dataclasses, tuples and sets into JSON-ready values; anything unknown into its str()."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((to_jsonable(v) for v in value), key=compact_json)
    fields = getattr(value, "__dataclass_fields__", None)
    if fields is not None:
        return {name: to_jsonable(getattr(value, name)) for name in fields}
    return str(value)


def live_source_line(report: DiffReport) -> str:
    """Where live state came from, and whether its statuses (IPs) are real."""
    source = report.live_source or "unknown"
    if report.statuses_known:
        return f"live state: {source}"
    return f"live state: {source} (statuses unknown: IPs are requested or predicted)"


def shown_groups(report: DiffReport) -> tuple[SharingGroupReport, ...]:
    """The report's groups as shown to people: when no pool is known, an IP the model predicted
    is the stand-in pool's, so it is named "an IP from an unknown pool", never the address."""
    if NO_POOLS_NOTE not in report.notes:
        return report.groups
    return tuple(
        dataclasses.replace(group, ips=(UNKNOWN_POOL_IP,))
        if group.ips_source == "predicted"
        else group
        for group in report.groups
    )


def names(items: Iterable[str]) -> str:
    """A comma-separated list, or "none"."""
    listed = ", ".join(items)
    return listed or "none"
