"""The per-object diff: create / update / delete / unchanged, each with an RFC 6902 patch."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import jsonpatch

from planner.diff.keys import changed_inputs
from planner.diff.normalise import drop_explicit_defaults, normalise_desired, normalise_live
from planner.diff.prune import PruneMode, deletions
from planner.diff.secrets import redact_patch, redact_secret
from planner.errors import InputError, Origin
from planner.model.service import AllocationInputs, ServiceInputError, allocation_inputs
from planner.objects import KubeObject, Manifest, ObjectKey
from planner.sources.validate import check_fields

Op = Literal["create", "update", "delete", "unchanged"]
OPS: tuple[str, ...] = ("create", "update", "delete", "unchanged")


@dataclass(frozen=True)
class Change:
    """One object's change. `patch` turns the normalised live object into the normalised
    desired one (create: one `add` of the whole object at ""; delete: empty). `desired` and
    `live` are the objects as read (Secret values redacted); `key_changing` names the
    allocation inputs a Service edit changes (planner.diff.keys).
    """

    key: ObjectKey
    op: Op
    patch: list[dict[str, Any]] = field(default_factory=list, hash=False)
    desired: Manifest | None = field(default=None, hash=False)
    live: Manifest | None = field(default=None, hash=False)
    origin: Origin | None = field(default=None, compare=False, hash=False)
    key_changing: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.op != "unchanged"


def diff_objects(
    desired: list[KubeObject],
    live: list[KubeObject],
    prune: PruneMode = "tracked",
    from_git: bool = False,
) -> list[Change]:
    """Diff desired against live, one Change per desired object and per pruned live object,
    sorted by key. Raises InputError for mistyped fields and duplicate objects.
    """
    desired_by_key = _index(desired)
    live_by_key = _index(live)
    changes = [_change(obj, live_by_key.get(obj.key)) for obj in desired_by_key.values()]
    changes += [
        _deletion(obj)
        for obj in deletions(desired_by_key.values(), live_by_key.values(), prune, from_git)
    ]
    return sorted(changes, key=lambda change: change.key)


def _index(objects: Iterable[KubeObject]) -> dict[ObjectKey, KubeObject]:
    by_key: dict[ObjectKey, KubeObject] = {}
    for obj in objects:
        check_fields(obj)
        if obj.key in by_key:
            first = by_key[obj.key].origin
            where = f" (first at {first})" if first else ""
            raise InputError(f"{obj.key} is defined twice{where}", obj.origin)
        by_key[obj.key] = obj
    return by_key


def _change(desired: KubeObject, live: KubeObject | None) -> Change:
    is_secret = desired.key.kind == "Secret"
    target = normalise_desired(desired.body)
    if live is None:
        op: Op = "create"
        patch = [{"op": "add", "path": "", "value": target}]
    else:
        current = normalise_live(live.body, desired.body, target)
        drop_explicit_defaults(target, current)
        # Most objects are unchanged: an equality test is far cheaper than a patch search.
        patch = [] if current == target else _patch(current, target)
        op = "update" if patch else "unchanged"
    return Change(
        key=desired.key,
        op=op,
        patch=redact_patch(patch) if is_secret else patch,
        desired=redact_secret(desired.body),
        live=redact_secret(live.body) if live is not None else None,
        origin=desired.origin,
        key_changing=_key_changing(desired, live) if op == "update" else (),
    )


def _patch(current: Manifest, target: Manifest) -> list[dict[str, Any]]:
    """jsonpatch's patch from `current` to `target`, made over the members that differ: a
    member both mappings hold alike gives no operation, and jsonpatch's walk of it (a JSON
    dump per scalar) was most of a patch's cost."""
    src, dst = _differing_members(current, target)
    return jsonpatch.make_patch(src, dst).patch


def _differing_members(
    src: dict[str, Any], dst: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both mappings without the members they hold alike (as JSON), in their own orders;
    mappings both hold under one name are pruned so too, lists are kept whole (their items'
    positions are part of the patch's paths)."""
    pruned: dict[str, tuple[Any, Any]] = {}
    alike: set[str] = set()
    for name, value in src.items():
        if name not in dst:
            continue
        other = dst[name]
        if type(value) is dict and type(other) is dict:
            mine, theirs = _differing_members(value, other)
            if mine or theirs:
                pruned[name] = (mine, theirs)
            else:
                alike.add(name)
        elif _same_json(value, other):
            alike.add(name)
    return (
        {k: pruned[k][0] if k in pruned else v for k, v in src.items() if k not in alike},
        {k: pruned[k][1] if k in pruned else v for k, v in dst.items() if k not in alike},
    )


def _same_json(first: Any, second: Any) -> bool:
    """Whether two values are the same JSON (as jsonpatch tells them apart: `1`, `1.0` and
    `true` differ, as do `0.0` and `-0.0`; a mapping's order does not count)."""
    kind = type(first)
    if kind is not type(second):
        return False
    if kind is dict:
        return first.keys() == second.keys() and all(
            _same_json(value, second[name]) for name, value in first.items()
        )
    if kind is list:
        return len(first) == len(second) and all(map(_same_json, first, second))
    if kind is float:
        return repr(first) == repr(second)
    return bool(first == second) if kind in _JSON_SCALARS else False


_JSON_SCALARS = frozenset({str, int, bool, type(None)})


def _deletion(live: KubeObject) -> Change:
    return Change(key=live.key, op="delete", live=redact_secret(live.body), origin=live.origin)


def _key_changing(desired: KubeObject, live: KubeObject | None) -> tuple[str, ...]:
    if live is None or desired.key.kind != "Service":
        return ()
    # Each side is read once, live first, and a field MetalLB cannot read names its object.
    # Read with the live object as context, a side fails exactly when it fails alone: the
    # context only lends a family or policy the side leaves unset, and the live side passed.
    old = _inputs(live, live.body)
    new = _inputs(desired, live.body)
    return changed_inputs(old, new, live.body, desired.body)


def _inputs(obj: KubeObject, live: Manifest) -> AllocationInputs:
    try:
        return allocation_inputs(obj.body, live=live)
    except ServiceInputError as err:
        raise err.with_origin(obj.origin) from None
